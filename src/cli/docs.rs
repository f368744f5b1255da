//! `clawdtalk completions` and `clawdtalk man`.

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// A command to show the page of (e.g. `call`, `sms`); default: the main page.
    pub command: Option<String>,
}
