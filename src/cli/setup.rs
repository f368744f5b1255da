//! `clawdtalk setup`.

use std::path::PathBuf;

use clap::Args;

/// Configure the skill: API key, server, names, gateway details.
#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// ClawdTalk site root to save as `server` (default: the current one, else https://clawdtalk.com).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Answer yes to reconfiguring and to editing the gateway config, and never prompt
    /// (a key the service rejects is still not saved: that needs --force).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Never change the gateway config (only report whether it allows sessions_send).
    #[arg(long)]
    pub no_gateway_edit: bool,
    /// Save the key even when the service rejects it (401/403).
    #[arg(long)]
    pub force: bool,
    /// Workspace holding USER.md and IDENTITY.md (default: the gateway's default agent workspace).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Owner's name (default: from USER.md).
    #[arg(long, value_name = "NAME")]
    pub owner_name: Option<String>,
    /// Agent's name (default: from IDENTITY.md).
    #[arg(long, value_name = "NAME")]
    pub agent_name: Option<String>,
    /// Your own phone number (E.164, saved as `owner_phone`): SMS and calls
    /// from it are yours; every other number is a stranger's.
    #[arg(long, value_name = "E164")]
    pub owner_phone: Option<String>,
}
