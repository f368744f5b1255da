//! `clawdtalk approval request|status`.

use clap::{Args, Subcommand};

#[derive(Debug, Clone, Subcommand)]
pub enum ApprovalCommand {
    /// Ask the owner to approve an action on their phone and print the outcome word:
    /// approved, denied, timeout, expired, no_devices, no_devices_reached (or the id with --no-wait).
    Request(ApprovalRequestArgs),
    /// Print an approval's status word: pending, approved, denied, expired.
    Status(ApprovalStatusArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ApprovalRequestArgs {
    /// What you want to do, as the owner will read it (e.g. "Send the contract to Bob").
    pub action: String,
    /// More detail shown with the request.
    #[arg(long, value_name = "TEXT")]
    pub details: Option<String>,
    /// Require fingerprint/face to approve.
    #[arg(long)]
    pub biometric: bool,
    /// Seconds to wait for the decision (also the request's expiry).
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub timeout: u64,
    /// Print the request id at once instead of waiting for the decision.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds between status polls (tests shorten it).
    #[arg(long, value_name = "SECS", default_value_t = 2.0, hide = true)]
    pub poll_interval: f64,
}

#[derive(Debug, Clone, Args)]
pub struct ApprovalStatusArgs {
    /// The request id (`approval request --no-wait` prints it).
    pub request_id: String,
}
