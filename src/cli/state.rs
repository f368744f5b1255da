//! `clawdtalk state …`: the local mission state file.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the missions in the state file (with --all, the completed ones too).
    List(StateListArgs),
    /// Show one mission's state (active or completed) as JSON.
    Get(MissionKeyArg),
    /// Remove a mission from the state file (its memory is deleted).
    Remove(MissionKeyArg),
    /// Print the state file's path (and, on stderr, which rule chose it).
    Path,
}

#[derive(Debug, Clone, Args)]
pub struct StateListArgs {
    /// Also list completed (archived) missions.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MissionKeyArg {
    /// Mission slug (as printed by `init`) or mission id.
    pub mission: String,
}
