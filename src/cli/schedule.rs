//! `clawdtalk schedule …` (scheduled calls and SMS of an assistant)

use clap::{Args, Subcommand};

const AT_HELP: &str =
    "When: RFC 3339 UTC (2030-01-01T15:00:00Z) or relative (+90s, +5m, +2h, +1d); at least 60 s ahead";

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Schedule a call by an assistant.
    #[command(
        after_help = "With --mission-id, --run-id and --step the service marks the step completed when the call ends.\n\nExamples:\n  clawdtalk schedule call --assistant ast_xyz --to +15551234567 --from +15559876543 --at +5m \\\n      --mission-id mis_abc --run-id run_def --step call_1\n  clawdtalk schedule call --assistant ast_xyz --to +15551234567 --from +15559876543 \\\n      --at 2030-01-01T15:00:00Z"
    )]
    Call(ScheduleCallArgs),
    /// Schedule an SMS by an assistant.
    #[command(
        after_help = "Example:\n  clawdtalk schedule sms --assistant ast_xyz --to +15551234567 --from +15559876543 --at +2m --text 'Running late'"
    )]
    Sms(ScheduleSmsArgs),
    /// Show a scheduled event (status, call_status, conversation_id, retry_count).
    Get(ScheduledEventRef),
    /// Cancel a scheduled event.
    Cancel(ScheduledEventRef),
    /// List an assistant's scheduled events.
    List(ScheduleListArgs),
}

/// Who calls whom, and when.
#[derive(Debug, Clone, Args)]
pub struct ScheduleTarget {
    /// Assistant that makes the call or sends the SMS (default with --mission: the mission's assistant).
    #[arg(long, value_name = "ASSISTANT_ID")]
    pub assistant: Option<String>,
    /// Number to reach (E.164, e.g. +15551234567).
    #[arg(long, value_name = "E164")]
    pub to: String,
    /// Caller id: the agent's number (E.164; default with --mission: the mission's agent_phone).
    #[arg(long, value_name = "E164")]
    pub from: Option<String>,
    #[arg(long, value_name = "TIME", help = AT_HELP)]
    pub at: String,
    /// Mission id (lets the service sync the plan and run).
    #[arg(long, value_name = "MID")]
    pub mission_id: Option<String>,
    /// Run id.
    #[arg(long, value_name = "RID")]
    pub run_id: Option<String>,
    /// Plan step completed by this call or SMS.
    #[arg(long, value_name = "STEP_ID")]
    pub step: Option<String>,
    /// Mission slug (or mission id) in the state file: fills --assistant, --from, --mission-id and
    /// --run-id when not given. The event is recorded in the mission's memory (scheduled_events)
    /// and logged to its run, also when the mission is given by --mission-id/--run-id.
    #[arg(long, value_name = "SLUG")]
    pub mission: Option<String>,
    #[command(flatten)]
    pub track: TrackArg,
}

/// `--no-track` (the noun-verb and the legacy schedule words).
#[derive(Debug, Clone, Copy, Args)]
pub struct TrackArg {
    /// Do not record the event in the state file nor log it to the run.
    #[arg(long)]
    pub no_track: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ScheduleCallArgs {
    #[command(flatten)]
    pub target: ScheduleTarget,
}

#[derive(Debug, Clone, Args)]
pub struct ScheduleSmsArgs {
    #[command(flatten)]
    pub target: ScheduleTarget,
    /// Message text.
    #[arg(long, allow_hyphen_values = true)]
    pub text: String,
}

#[derive(Debug, Clone, Args)]
pub struct ScheduledEventRef {
    /// Assistant id.
    pub assistant_id: String,
    /// Scheduled event id.
    pub event_id: String,
}

#[derive(Debug, Clone, Args)]
pub struct ScheduleListArgs {
    /// Assistant id.
    pub assistant_id: String,
}
