//! `clawdtalk connect …`

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ConnectCommand {
    /// Run the voice-routing client in the foreground (for systemd, supervisors, containers).
    Run(ConnectRunArgs),
    /// Start the client in the background (detached; logs to a file rotated at 1 MiB).
    Start,
    /// Stop the background client (SIGTERM, then SIGKILL after 5 s).
    Stop,
    /// Stop, then start the background client.
    Restart,
    /// Show whether the client runs, is connected, its last log lines and the gateway check.
    Status(ConnectStatusArgs),
    /// Start the client if it is not running, silently (for cron).
    Watchdog,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ConnectRunArgs {
    /// Write logs to this file (rotated at 1 MiB) instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ConnectStatusArgs {
    /// How many log lines to show.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=10_000))]
    pub lines: usize,
}
