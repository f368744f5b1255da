//! The telnyx_api.py command words, with the same positional arguments.
//! Hidden from `--help`'s main list (documented in README); each maps onto
//! the same handler as its noun-verb form, in `commands::legacy`.

use clap::{Args, Subcommand};

use super::agent::AgentLinkArgs;
use super::assistant::{AssistantListArgs, AssistantRef, AssistantUpdateArgs, ConnectionIdArgs};
use super::insights::InsightsGetArgs;
use super::memory::{MemoryGetArgs, MemorySaveArgs};
use super::mission::{MissionCreateArgs, MissionGetArgs, MissionInitArgs, MissionSetupAgentArgs};
use super::phone::PhoneAssignArgs;
use super::plan::{PlanCreateArgs, PlanUpdateStepArgs};
use super::run::{RunCreateArgs, RunListArgs, RunRef, RunUpdateArgs};
use super::schedule::{ScheduleListArgs, ScheduledEventRef};
use super::state::MissionKeyArg;

#[derive(Debug, Subcommand)]
pub enum LegacyCommand {
    #[command(hide = true)]
    CreateMission(MissionCreateArgs),
    #[command(hide = true)]
    GetMission(MissionGetArgs),
    #[command(hide = true)]
    ListMissions,
    #[command(hide = true)]
    ListState,
    #[command(hide = true)]
    GetState(MissionKeyArg),
    #[command(hide = true)]
    RemoveState(MissionKeyArg),
    #[command(hide = true)]
    SaveMemory(MemorySaveArgs),
    #[command(hide = true)]
    GetMemory(MemoryGetArgs),
    #[command(hide = true)]
    AppendMemory(MemorySaveArgs),

    #[command(hide = true)]
    CreateRun(RunCreateArgs),
    #[command(hide = true)]
    GetRun(RunRef),
    #[command(hide = true)]
    UpdateRun(RunUpdateArgs),
    #[command(hide = true)]
    ListRuns(RunListArgs),

    #[command(hide = true)]
    CreatePlan(PlanCreateArgs),
    #[command(hide = true)]
    GetPlan(RunRef),
    #[command(hide = true)]
    UpdateStep(PlanUpdateStepArgs),

    #[command(hide = true)]
    LogEvent(LegacyLogEventArgs),
    #[command(hide = true)]
    ListEvents(RunRef),

    #[command(hide = true)]
    CreateAssistant(LegacyCreateAssistantArgs),
    #[command(hide = true)]
    ListAssistants(AssistantListArgs),
    #[command(hide = true)]
    GetAssistant(AssistantRef),
    #[command(hide = true)]
    UpdateAssistant(AssistantUpdateArgs),
    #[command(hide = true)]
    GetConnectionId(ConnectionIdArgs),

    #[command(hide = true)]
    ListPhones,
    #[command(hide = true)]
    GetAvailablePhone,
    #[command(hide = true)]
    AssignPhone(PhoneAssignArgs),

    #[command(hide = true)]
    ScheduleCall(LegacyScheduleCallArgs),
    #[command(hide = true)]
    ScheduleSms(LegacyScheduleSmsArgs),
    #[command(hide = true)]
    GetEvent(ScheduledEventRef),
    #[command(hide = true)]
    CancelScheduledEvent(ScheduledEventRef),
    #[command(hide = true)]
    ListEventsAssistant(ScheduleListArgs),

    #[command(hide = true)]
    GetInsights(InsightsGetArgs),

    #[command(hide = true)]
    LinkAgent(AgentLinkArgs),
    #[command(hide = true)]
    ListLinkedAgents(RunRef),
    #[command(hide = true)]
    UnlinkAgent(AgentLinkArgs),
    #[command(hide = true)]
    Init(MissionInitArgs),
    #[command(hide = true)]
    SetupAgent(MissionSetupAgentArgs),
    #[command(hide = true)]
    Complete(LegacyCompleteArgs),
}

/// `log-event MID RID TYPE SUMMARY STEP [PAYLOAD_JSON]` (STEP `-` = none).
#[derive(Debug, Clone, Args)]
pub struct LegacyLogEventArgs {
    pub mission_id: String,
    pub run_id: String,
    #[arg(value_name = "TYPE")]
    pub kind: String,
    #[arg(allow_hyphen_values = true)]
    pub summary: String,
    /// Plan step id, or `-` when the event belongs to no step.
    #[arg(allow_hyphen_values = true)]
    pub step_id: String,
    pub payload_json: Option<String>,
}

/// `create-assistant NAME INSTR [GREETING] [OPTIONS_JSON]`.
#[derive(Debug, Clone, Args)]
pub struct LegacyCreateAssistantArgs {
    #[arg(allow_hyphen_values = true)]
    pub name: String,
    #[arg(allow_hyphen_values = true)]
    pub instructions: String,
    #[arg(allow_hyphen_values = true)]
    pub greeting: Option<String>,
    pub options_json: Option<String>,
}

/// `schedule-call AID TO FROM AT MID RID [STEP]`.
#[derive(Debug, Clone, Args)]
pub struct LegacyScheduleCallArgs {
    pub assistant_id: String,
    pub to: String,
    pub from: String,
    pub scheduled_at: String,
    pub mission_id: String,
    pub run_id: String,
    pub step_id: Option<String>,
    /// Do not record the event in the mission's memory nor log it to the run.
    #[arg(long)]
    pub no_track: bool,
}

/// `schedule-sms AID TO FROM AT TEXT [MID] [RID] [STEP]`.
#[derive(Debug, Clone, Args)]
pub struct LegacyScheduleSmsArgs {
    pub assistant_id: String,
    pub to: String,
    pub from: String,
    pub scheduled_at: String,
    #[arg(allow_hyphen_values = true)]
    pub text: String,
    pub mission_id: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    /// Do not record the event in the mission's memory nor log it to the run.
    #[arg(long)]
    pub no_track: bool,
}

/// `complete SLUG MID RID SUMMARY [PAYLOAD_JSON]`.
#[derive(Debug, Clone, Args)]
pub struct LegacyCompleteArgs {
    /// Mission slug or mission id.
    pub mission: String,
    pub mission_id: String,
    pub run_id: String,
    #[arg(allow_hyphen_values = true)]
    pub summary: String,
    pub payload_json: Option<String>,
}
