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
    /// Schedule a paced batch of calls or SMS from a file of targets, each inside the callee's
    /// calling window, each target once (docs/campaigns.md).
    #[command(
        after_help = "Targets: CSV with a header row (or JSON Lines): phone (required), name, timezone, kind, any other \
                      column.\n\nExamples:\n  clawdtalk schedule batch --mission roof --file targets.csv --dry-run\n  \
                      clawdtalk schedule batch --mission roof --file targets.csv --step quotes --window 09:00-17:00 \\\n      \
                      --days mon-fri --default-tz America/Chicago --concurrency 5 --stagger 2m --start +5m"
    )]
    Batch(ScheduleBatchArgs),
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

/// `schedule batch` (docs/campaigns.md).
#[derive(Debug, Clone, Args)]
pub struct ScheduleBatchArgs {
    /// Mission slug in the state file: its assistant, agent number, mission and run.
    #[arg(long, value_name = "SLUG")]
    pub mission: String,
    /// Targets: CSV with a header row, or JSON Lines (.jsonl).
    #[arg(long, value_name = "PATH")]
    pub file: std::path::PathBuf,
    /// Call or text each target.
    #[arg(long, value_enum, default_value_t = BatchChannel::Call)]
    pub channel: BatchChannel,
    /// The SMS text (--channel sms).
    #[arg(long, allow_hyphen_values = true)]
    pub text: Option<String>,
    /// Plan step each event completes.
    #[arg(long, value_name = "STEP_ID")]
    pub step: Option<String>,
    /// Daily calling window in the callee's local time (start included, end excluded).
    #[arg(long, value_name = "HH:MM-HH:MM", default_value = "09:00-17:00")]
    pub window: String,
    /// Days the window applies: mon-fri, mon,wed,sat, sat-mon or all.
    #[arg(long, value_name = "DAYS", default_value = "mon-fri")]
    pub days: String,
    /// The column holding each target's IANA time zone.
    #[arg(long, value_name = "NAME", default_value = "timezone")]
    pub tz_column: String,
    /// Zone of targets whose zone is not known otherwise (IANA name, e.g. America/Chicago);
    /// without it they are skipped.
    #[arg(long, value_name = "ZONE")]
    pub default_tz: Option<String>,
    /// At most this many calls start in one --stagger slot.
    #[arg(long, value_name = "N", default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(super::bounds::MAX_CONCURRENCY)))]
    pub concurrency: u32,
    /// Time between slots: 90s, 2m, 1h.
    #[arg(long, value_name = "SPAN", default_value = "2m", value_parser = super::bounds::span)]
    pub stagger: std::time::Duration,
    /// First slot: relative (+2m) or RFC 3339 UTC; at least 60 s ahead.
    #[arg(long, value_name = "TIME", default_value = "+2m", allow_hyphen_values = true)]
    pub start: String,
    /// At most this many targets of this batch get an event (counting earlier runs').
    #[arg(long, value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=i64::from(super::bounds::MAX_BATCH_CALLS)))]
    pub max_calls: Option<u32>,
    /// Print the plan (slot in UTC and local time, or why skipped) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Retry profile of targets without a kind column: automated, service or professional.
    #[arg(long, value_name = "PROFILE")]
    pub retry_profile: Option<String>,
}

/// `--channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BatchChannel {
    Call,
    Sms,
}
