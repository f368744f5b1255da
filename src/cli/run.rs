//! `clawdtalk run …`

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Start a run of a mission (POST /missions/{mid}/runs).
    #[command(
        after_help = "Example:\n  clawdtalk run create mis_abc '{\"original_request\": \"Find window washers\"}'"
    )]
    Create(RunCreateArgs),
    /// Show one run.
    Get(RunRef),
    /// Set a run's status (and, when finishing, its result).
    #[command(
        after_help = "Statuses: pending, running, succeeded, failed, cancelled\n\nExample:\n  clawdtalk run update mis_abc run_def succeeded --summary 'Booked for Friday' --payload '{\"price\": 120}'"
    )]
    Update(RunUpdateArgs),
    /// List the runs of a mission.
    List(RunListArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunCreateArgs {
    /// Mission id.
    pub mission_id: String,
    /// The run's input, as JSON (anything; usually an object).
    #[arg(default_value = "{}")]
    pub input_json: String,
}

/// A mission id and a run id.
#[derive(Debug, Clone, Args)]
pub struct RunRef {
    /// Mission id.
    pub mission_id: String,
    /// Run id.
    pub run_id: String,
}

#[derive(Debug, Clone, Args)]
pub struct RunUpdateArgs {
    /// Mission id.
    pub mission_id: String,
    /// Run id.
    pub run_id: String,
    /// New status: pending, running, succeeded, failed, cancelled.
    pub status: String,
    /// Result summary (sent as result_summary).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub summary: Option<String>,
    /// Result payload as JSON (sent as result_payload).
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunListArgs {
    /// Mission id.
    pub mission_id: String,
}
