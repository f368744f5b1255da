//! `clawdtalk completions` and `clawdtalk man`.

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

/// The shells clap_complete writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    /// Spelled as people type it (the derived name would be `power-shell`).
    #[value(name = "powershell")]
    PowerShell,
    Elvish,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  clawdtalk man | man -l -\n  clawdtalk man schedule call > clawdtalk-schedule-call.1"
)]
pub struct ManArgs {
    /// The command to show the page of, as typed (e.g. `call`, `schedule call`); default: the main page.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}
