//! `clawdtalk sandbox …`.

use clap::{Args, Subcommand};

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub action: Option<SandboxAction>,
    #[command(flatten)]
    pub serve: SandboxServeArgs,
}

/// Options of the local emulator. (`--api-key KEY`, the global option,
/// makes the sandbox accept KEY as well as every cc_test_… key.)
#[derive(Debug, Clone, Args)]
pub struct SandboxServeArgs {
    /// Port on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Run the sandbox clock this many times faster than real time.
    #[arg(long, default_value_t = 1.0, value_name = "X", value_parser = super::bounds::speed)]
    pub speed: f64,
    /// A finished scheduled event with a step_id marks that plan step completed or failed.
    #[arg(long)]
    pub auto_sync: bool,
    /// Answer 429 (with Retry-After) to more than N API requests a minute.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: Option<u32>,
    /// Answer 503 to this fraction of API requests (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "P", value_parser = super::bounds::fraction)]
    pub fail_rate: f64,
    /// Seed for --fail-rate, so the same requests fail on every run.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Also serve a stand-in agent gateway (POST /agent/tools/invoke), so
    /// `connect` and `call-in` work with no OpenClaw gateway. MODE: echo
    /// (answers "You said: …"), pending (accepted; the reply comes later in
    /// sessions_history), slow (times out; the reply comes later), no_reply,
    /// error (HTTP 500).
    #[arg(long, value_name = "MODE")]
    pub agent: Option<crate::sandbox::agent::AgentMode>,
    /// Start the sandbox clock at this time (RFC 3339, e.g. 2026-01-05T15:00:00Z) instead of now.
    #[arg(long, value_name = "TIME", value_parser = super::bounds::instant)]
    pub start: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SandboxAction {
    /// Play an inbound call through a connected `clawdtalk connect start`: ask QUESTION, print the answer.
    CallIn(CallInArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CallInArgs {
    /// What the caller asks (sent as a deep_tool_request).
    pub question: String,
    /// The sandbox's root URL (default: the configured server, e.g. from CLAWDTALK_API_URL).
    #[arg(long, value_name = "ROOT")]
    pub url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=super::bounds::MAX_WAIT_SECS))]
    pub timeout: u64,
}
