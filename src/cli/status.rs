//! `clawdtalk status`.

use clap::Args;

/// Check the whole installation.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Skip the checks that use the network (key accepted, gateway reachable).
    #[arg(long)]
    pub offline: bool,
}
