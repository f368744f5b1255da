//! `clawdtalk mission …`

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum MissionCommand {
    /// Create a mission (POST /missions).
    Create(MissionCreateArgs),
    /// Show one mission.
    Get(MissionGetArgs),
    /// List missions (first 20).
    List,
    /// A mission at a glance: run, plan steps, each target's calls and insights.
    Status(MissionStatusArgs),
    /// Cancel the remaining scheduled events, and (without --pending-only) the run.
    Cancel(MissionCancelArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MissionStatusArgs {
    /// Mission slug (or mission id).
    pub slug: String,
}

#[derive(Debug, Clone, Args)]
pub struct MissionCancelArgs {
    /// Mission slug (or mission id).
    pub slug: String,
    /// Only cancel the events not yet run; the run stays open and the next
    /// poll finishes its steps from what was reached (goal met early).
    #[arg(long)]
    pub pending_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MissionCreateArgs {
    /// Short descriptive name.
    pub name: String,
    /// Full description of the task.
    pub instructions: String,
}

#[derive(Debug, Clone, Args)]
pub struct MissionGetArgs {
    /// Mission id.
    pub mission_id: String,
}
