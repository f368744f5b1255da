//! `clawdtalk phone …`

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum PhoneCommand {
    /// List the account's phone numbers (available or assigned).
    List,
    /// Show the first available number (the caller id for outbound calls).
    Available,
    /// Assign a number to a connection.
    #[command(after_help = "Example:\n  clawdtalk phone assign pn_123 conn_456 voice")]
    Assign(PhoneAssignArgs),
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
