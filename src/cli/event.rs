//! `clawdtalk event …` (events logged on a run)

use clap::{Args, Subcommand};

use super::run::RunRef;

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Log an event on a run.
    #[command(
        after_help = "Types: tool_call, custom, message, error, step_started, step_completed\n\nExamples:\n  clawdtalk event log mis_abc run_def step_started 'Calling Acme' --step call_1\n  clawdtalk event log mis_abc run_def custom 'Got a quote' --payload '{\"price\": 120}'"
    )]
    Log(EventLogArgs),
    /// List a run's events.
    List(RunRef),
}

/// What happened, `TYPE SUMMARY` (`event log` and the legacy `log-event`).
#[derive(Debug, Clone, Args)]
pub struct EventWhat {
    /// Event type: tool_call, custom, message, error, step_started, step_completed.
    #[arg(value_name = "TYPE")]
    pub kind: String,
    /// One-line summary.
    #[arg(allow_hyphen_values = true)]
    pub summary: String,
}

#[derive(Debug, Clone, Args)]
pub struct EventLogArgs {
    #[command(flatten)]
    pub run: RunRef,
    #[command(flatten)]
    pub what: EventWhat,
    /// The plan step this event belongs to.
    #[arg(long, value_name = "STEP_ID")]
    pub step: Option<String>,
    /// Extra data as JSON.
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,
    /// Agent id recorded with the event.
    #[arg(long, value_name = "ID", default_value = "claude-code")]
    pub agent_id: String,
}
