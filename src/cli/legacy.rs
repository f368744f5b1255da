//! The telnyx_api.py command words, with the same positional arguments.
//! Hidden from `--help`'s main list (documented in docs/legacy-words.md); each maps onto
//! its noun-verb command (`commands::legacy`). The arguments are the
//! noun-verb files' own argument structs, flattened in telnyx_api.py's
//! order: nothing is declared twice.

use clap::{Args, Subcommand};

use super::agent::AgentLinkArgs;
use super::assistant::{AssistantListArgs, AssistantRef, AssistantSpec, AssistantUpdateArgs, ConnectionIdArgs};
use super::event::EventWhat;
use super::insights::InsightsGetArgs;
use super::memory::{MemoryGetArgs, MemorySaveArgs};
use super::mission::{CompletionArgs, MissionCreateArgs, MissionGetArgs, MissionInitArgs, MissionSetupAgentArgs};
use super::phone::{PhoneAssignArgs, PhoneListArgs};
use super::plan::{PlanCreateArgs, PlanUpdateStepArgs};
use super::run::{RunCreateArgs, RunListArgs, RunRef, RunUpdateArgs};
use super::schedule::{ScheduleListArgs, ScheduledEventRef, TrackArg};
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
    CreateAssistant(AssistantSpec),
    #[command(hide = true)]
    ListAssistants(AssistantListArgs),
    #[command(hide = true)]
    GetAssistant(AssistantRef),
    #[command(hide = true)]
    UpdateAssistant(AssistantUpdateArgs),
    #[command(hide = true)]
    GetConnectionId(ConnectionIdArgs),

    #[command(hide = true)]
    ListPhones(PhoneListArgs),
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
    #[command(flatten)]
    pub run: RunRef,
    #[command(flatten)]
    pub what: EventWhat,
    /// Plan step id, or `-` when the event belongs to no step.
    #[arg(allow_hyphen_values = true)]
    pub step_id: String,
    pub payload_json: Option<String>,
}

/// `AID TO FROM AT`: who calls or texts whom, and when (positional, unlike
/// `schedule call|sms`).
#[derive(Debug, Clone, Args)]
pub struct LegacyScheduleTarget {
    pub assistant_id: String,
    pub to: String,
    pub from: String,
    pub scheduled_at: String,
}

/// `schedule-call AID TO FROM AT MID RID [STEP]`.
#[derive(Debug, Clone, Args)]
pub struct LegacyScheduleCallArgs {
    #[command(flatten)]
    pub target: LegacyScheduleTarget,
    #[command(flatten)]
    pub run: RunRef,
    pub step_id: Option<String>,
    #[command(flatten)]
    pub track: TrackArg,
}

/// `schedule-sms AID TO FROM AT TEXT [MID] [RID] [STEP]`.
#[derive(Debug, Clone, Args)]
pub struct LegacyScheduleSmsArgs {
    #[command(flatten)]
    pub target: LegacyScheduleTarget,
    #[arg(allow_hyphen_values = true)]
    pub text: String,
    pub mission_id: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    #[command(flatten)]
    pub track: TrackArg,
}

/// `complete SLUG MID RID SUMMARY [PAYLOAD_JSON]`.
#[derive(Debug, Clone, Args)]
pub struct LegacyCompleteArgs {
    #[command(flatten)]
    pub mission: MissionKeyArg,
    #[command(flatten)]
    pub run: RunRef,
    #[command(flatten)]
    pub result: CompletionArgs,
}
