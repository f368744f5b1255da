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
