//! `clawdtalk phone …`

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum PhoneCommand {
    /// List the account's phone numbers (available or assigned).
    List(PhoneListArgs),
    /// Show the first available number (the caller id for outbound calls).
    Available,
    /// Assign a number to a connection.
    #[command(after_help = "Example:\n  clawdtalk phone assign pn_123 conn_456 voice")]
    Assign(PhoneAssignArgs),
}

/// `phone list [--available]` (also `list-phones [--available]`).
#[derive(Debug, Clone, Default, Args)]
pub struct PhoneListArgs {
    /// Only the free numbers (no connection yet). The skill documentation
    /// writes `list-phones --available`; telnyx_api.py ignored the flag,
    /// clawdtalk honours it.
    #[arg(long)]
    pub available: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PhoneAssignArgs {
    /// Phone number id (from `phone list`).
    pub phone_id: String,
    /// Connection id (from `assistant connection-id`).
    pub connection_id: String,
    /// voice or sms.
    #[arg(default_value = "voice")]
    pub kind: String,
}
