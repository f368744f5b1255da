//! `clawdtalk agentphone …`

use std::time::Duration;

use super::bounds;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum AgentPhoneCommand {
    /// Place one AgentPhone call with one objective (POST /calls); --wait follows it to the end.
    Call(AgentPhoneCallArgs),
    /// Show one AgentPhone call: status, outcome, summary, duration, recording, transcript.
    Get(AgentPhoneGetArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AgentPhoneCallArgs {
    /// Number to call, E.164 (+15551234567). Emergency and short numbers are refused.
    #[arg(long, value_name = "NUMBER")]
    pub to: String,
    /// What the call must achieve, in plain words.
    #[arg(long, value_name = "TEXT")]
    pub objective: String,
    /// Name of the business being called (helps the agent introduce the call).
    #[arg(long, value_name = "NAME")]
    pub business_name: Option<String>,
    /// The business's website (http or https URL).
    #[arg(long, value_name = "URL")]
    pub website: Option<String>,
    /// Follow the call until it ends, then print outcome, summary and transcript.
    #[arg(long)]
    pub wait: bool,
    /// Record the call (and, with --wait, its result) in this mission's memory and log events to its run.
    #[arg(long, value_name = "SLUG")]
    pub mission: Option<String>,
    /// With --wait: give up waiting after this many seconds (the call goes on).
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = bounds::duration(1.0, bounds::MAX_WAIT_SECS as f64))]
    pub timeout: Duration,
    #[command(flatten)]
    pub tuning: AgentPhoneTuning,
}

#[derive(Debug, Clone, Args)]
pub struct AgentPhoneGetArgs {
    /// The call id printed by `agentphone call`.
    pub call_id: String,
    /// Update the call's record in this mission's memory (and log its result to the run once it ended).
    #[arg(long, value_name = "SLUG")]
    pub mission: Option<String>,
    #[command(flatten)]
    pub tuning: AgentPhoneTuning,
}

/// Timings fixed by AgentPhone (docs/protocol.md#agentphone). Hidden: they
/// exist so tests (and the sandbox at high speed) need not wait in real time.
#[derive(Debug, Clone, Args)]
pub struct AgentPhoneTuning {
    /// Seconds between polls while waiting.
    #[arg(long, hide = true, value_name = "SECS", env = "CLAWDTALK_AGENTPHONE_POLL_INTERVAL", default_value = "10", value_parser = bounds::duration(bounds::MIN_PAUSE_SECS, 3600.0))]
    pub poll_interval: Duration,
    /// Seconds between the two extra polls for a missing transcript or summary.
    #[arg(long, hide = true, value_name = "SECS", env = "CLAWDTALK_AGENTPHONE_ENRICH_INTERVAL", default_value = "2", value_parser = bounds::duration(bounds::MIN_PAUSE_SECS, 3600.0))]
    pub enrich_interval: Duration,
    /// Seconds to wait after a 429 before the single retry.
    #[arg(long, hide = true, value_name = "SECS", env = "CLAWDTALK_AGENTPHONE_RATE_LIMIT_WAIT", default_value = "60", value_parser = bounds::duration(bounds::MIN_PAUSE_SECS, 3600.0))]
    pub rate_limit_wait: Duration,
}
