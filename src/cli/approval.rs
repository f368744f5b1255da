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
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=super::bounds::MAX_WAIT_SECS))]
    pub timeout: u64,
    /// Print the request id at once instead of waiting for the decision.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds between status polls (tests shorten it).
    #[arg(long, value_name = "SECS", default_value_t = 2.0, hide = true, value_parser = super::bounds::seconds(super::bounds::MIN_PAUSE_SECS, 3600.0))]
    pub poll_interval: f64,
}

#[derive(Debug, Clone, Args)]
pub struct ApprovalStatusArgs {
    /// The request id (`approval request --no-wait` prints it).
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    use super::ApprovalCommand;

    #[test]
    fn approval_request_polls_every_2_seconds_and_waits_300_by_default() {
        let cli = Cli::try_parse_from(["clawdtalk", "approval", "request", "Deploy"]).unwrap();
        let Command::Approval(ApprovalCommand::Request(a)) = cli.command else { panic!("{:?}", cli.command) };
        assert_eq!(a.poll_interval, 2.0);
        assert_eq!(a.timeout, 300);
        assert!(!a.no_wait && !a.biometric && a.details.is_none());
    }
}
