//! `clawdtalk status`.

use clap::{Args, ValueEnum};

/// Check the whole installation: the missions API, voice routing and the
/// gateway. Voice routing that was never set up is reported, not failed.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Skip the checks that use the network (key accepted, gateway reachable).
    #[arg(long)]
    pub offline: bool,
    /// Fail unless this part is set up and working (repeatable).
    #[arg(long, value_name = "PART", value_enum)]
    pub require: Vec<Part>,
}

/// A part `status --require` can insist on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// Voice routing: `clawdtalk connect` running and the gateway answering.
    Connect,
}
