//! `clawdtalk agent …` (assistants linked to a run)

use clap::{Args, Subcommand};

use super::run::RunRef;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Link an assistant to a run.
    Link(AgentLinkArgs),
    /// List the assistants linked to a run.
    List(RunRef),
    /// Unlink an assistant from a run.
    Unlink(AgentLinkArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AgentLinkArgs {
    /// Mission id.
    pub mission_id: String,
    /// Run id.
    pub run_id: String,
    /// Assistant id.
    pub assistant_id: String,
}
