//! `clawdtalk optout …`: the opt-out list (docs/optout.md).

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum OptoutCommand {
    /// Put a number on the opt-out list: nothing calls or texts it again, from any mission.
    #[command(after_help = "Example:\n  clawdtalk optout add +15005550006 --reason 'asked on the call'")]
    Add(OptoutAddArgs),
    /// Take a number off the opt-out list (only when the person asked to be contacted again).
    #[command(after_help = "Example:\n  clawdtalk optout remove +15005550006")]
    Remove(OptoutNumberArg),
    /// List the opted-out numbers: number, source (cli, sms-stop), when, reason.
    List,
}

#[derive(Debug, Clone, Args)]
pub struct OptoutAddArgs {
    /// The number, E.164 (e.g. +15551234567).
    pub number: String,
    /// Why (kept with the entry, at most 200 bytes).
    #[arg(long, value_name = "R")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct OptoutNumberArg {
    /// The number, E.164 (e.g. +15551234567).
    pub number: String,
}
