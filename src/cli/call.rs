//! `clawdtalk call [GREETING] [--to N] [--purpose P] [--wait]`, `call status ID`, `call end ID`.

use clap::{Args, Subcommand};

/// Place a call now, or look at / end one.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CallArgs {
    #[command(subcommand)]
    pub action: Option<CallAction>,
    #[command(flatten)]
    pub start: CallStartArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CallAction {
    /// Show a call's current state (GET /v1/calls/ID).
    Status(CallIdArgs),
    /// Hang up a call (POST /v1/calls/ID/end).
    End(CallEndArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CallStartArgs {
    /// What the agent says first. A phone number here (and no --to) is taken as --to.
    pub greeting: Option<String>,
    /// Call this E.164 number instead of your own phone (paid accounts with a dedicated number).
    #[arg(long, value_name = "NUMBER")]
    pub to: Option<String>,
    /// Tell the agent why it is calling (sent as context.purpose; essential for external calls).
    #[arg(long, visible_alias = "context", value_name = "TEXT")]
    pub purpose: Option<String>,
    /// Follow the call until it ends and print the outcome.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up following after this many seconds (the call goes on).
    #[arg(long, value_name = "SECS", default_value_t = 3600, requires = "wait", value_parser = clap::value_parser!(u64).range(1..=super::bounds::MAX_WAIT_SECS))]
    pub timeout: u64,
    /// Seconds between status polls while waiting (tests shorten it).
    #[arg(long, value_name = "SECS", default_value_t = 2.0, hide = true, value_parser = super::bounds::seconds(super::bounds::MIN_PAUSE_SECS, 3600.0))]
    pub poll_interval: f64,
}

#[derive(Debug, Clone, Args)]
pub struct CallIdArgs {
    /// The call id printed when the call started.
    pub call_id: String,
}

#[derive(Debug, Clone, Args)]
pub struct CallEndArgs {
    /// The call id printed when the call started.
    pub call_id: String,
    /// Why the call is ended.
    #[arg(long, default_value = "user_ended")]
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn start(args: &[&str]) -> super::CallStartArgs {
        let cli = Cli::try_parse_from(args).unwrap();
        match cli.command {
            Command::Call(c) => {
                assert!(c.action.is_none());
                c.start
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn call_wait_polls_every_2_seconds_for_an_hour_by_default() {
        let a = start(&["clawdtalk", "call", "--wait"]);
        assert!(a.wait);
        assert_eq!(a.poll_interval, 2.0);
        assert_eq!(a.timeout, 3600);
        // The hidden flag is what tests use to shorten it.
        assert_eq!(start(&["clawdtalk", "call", "--wait", "--poll-interval", "0.05"]).poll_interval, 0.05);
    }
}
