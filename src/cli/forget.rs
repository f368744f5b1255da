//! `clawdtalk forget NUMBER`: erase a number from local records (docs/optout.md#forgetting-a-number).

use clap::Args;

#[derive(Debug, Clone, Args)]
#[command(after_help = "Example:\n  clawdtalk forget +15005550006")]
pub struct ForgetArgs {
    /// The number, E.164 (e.g. +15551234567).
    pub number: String,
}
