//! `clawdtalk check-key`.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct CheckKeyArgs {
    /// Also make one request to prove the service accepts the key.
    #[arg(long)]
    pub live: bool,
}
