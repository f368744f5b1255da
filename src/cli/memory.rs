//! `clawdtalk memory …`: mission memory in the state file.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Save a value under KEY (JSON when it starts with { or [, else a string).
    Save(MemorySaveArgs),
    /// Print one memory value, or the whole memory without KEY.
    Get(MemoryGetArgs),
    /// Append an item to the list under KEY (a single value becomes a list first).
    Append(MemorySaveArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MemorySaveArgs {
    /// Create the mission entry when the slug is not in the state file
    /// (without it, an unknown slug is an error, so a typo never starts a second entry).
    #[arg(long)]
    pub create: bool,
    /// Mission slug or mission id.
    pub mission: String,
    /// Memory key.
    pub key: String,
    /// Value: parsed as JSON when it starts with `{` or `[`, kept as a string otherwise.
    #[arg(allow_hyphen_values = true)]
    pub value: String,
}

#[derive(Debug, Clone, Args)]
pub struct MemoryGetArgs {
    /// Mission slug or mission id (completed missions too).
    pub mission: String,
    /// Memory key; without it, the whole memory.
    pub key: Option<String>,
}
