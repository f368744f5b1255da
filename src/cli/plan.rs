//! `clawdtalk plan …`

use clap::{Args, Subcommand};

use super::run::RunRef;

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Create a run's plan from a JSON list of steps.
    #[command(
        after_help = "Example:\n  clawdtalk plan create mis_abc run_def '[{\"step_id\": \"call_1\", \"description\": \"Call Acme\", \"sequence\": 1}]'"
    )]
    Create(PlanCreateArgs),
    /// Show a run's plan.
    Get(RunRef),
    /// Set one step's status.
    #[command(
        after_help = "Statuses: pending, in_progress, completed, skipped, failed\n\nExample:\n  clawdtalk plan update-step mis_abc run_def call_1 completed"
    )]
    UpdateStep(PlanUpdateStepArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PlanCreateArgs {
    /// Mission id.
    pub mission_id: String,
    /// Run id.
    pub run_id: String,
    /// JSON list of steps: [{"step_id", "description", "sequence"}, …].
    pub steps_json: String,
}

#[derive(Debug, Clone, Args)]
pub struct PlanUpdateStepArgs {
    /// Mission id.
    pub mission_id: String,
    /// Run id.
    pub run_id: String,
    /// Step id (as in the plan).
    pub step_id: String,
    /// New status: pending, in_progress, completed, skipped, failed.
    pub status: String,
}
