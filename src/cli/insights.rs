//! `clawdtalk insights …`

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum InsightsCommand {
    /// Show what a finished conversation produced (completed insights only).
    #[command(after_help = "The conversation id comes from `schedule get` (conversation_id).")]
    Get(InsightsGetArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InsightsGetArgs {
    /// Conversation id.
    pub conversation_id: String,
}
