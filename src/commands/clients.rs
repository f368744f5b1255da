//! How commands get their HTTP clients. The [`Context`](super::Context)
//! holds one [`ClientFactory`]: the binary's builds clients from the
//! configuration; tests hand in one that points at an in-process fake
//! service with short retry delays, so a command can be run beside its
//! code against recorded requests (as gh injects its HTTP client).

use std::fmt;
use std::time::Duration;

use crate::agentphone::AgentPhone;
use crate::api::Client;
use crate::config::Config;
use crate::error::Result;

/// Builds the clients a command talks through.
pub trait ClientFactory: Send + Sync + fmt::Debug {
    /// The ClawdTalk API client for `config` (a configuration error when no
    /// key is set).
    fn clawdtalk(&self, config: &Config) -> Result<Client>;

    /// The AgentPhone client for `config` (a configuration error when no
    /// AgentPhone key is set). `rate_limit_wait`: how long after a 429
    /// before the single retry.
    fn agentphone(&self, config: &Config, rate_limit_wait: Duration) -> Result<AgentPhone>;
}

/// The clients the configuration describes (what the binary uses).
#[derive(Debug, Default, Clone, Copy)]
pub struct FromConfig;

impl ClientFactory for FromConfig {
    fn clawdtalk(&self, config: &Config) -> Result<Client> {
        Client::from_config(config)
    }

    fn agentphone(&self, config: &Config, rate_limit_wait: Duration) -> Result<AgentPhone> {
        AgentPhone::from_config(config, rate_limit_wait)
    }
}
