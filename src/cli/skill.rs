//! `clawdtalk skill`: the OpenClaw skill file.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Print SKILL.md, the instructions that teach an agent to use clawdtalk.
    Print,
    /// Install SKILL.md and skill-config.example.json where OpenClaw looks; warns when the old clawdtalk-client skill is installed.
    Install(SkillInstallArgs),
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  clawdtalk skill install\n  clawdtalk skill install --dir ~/.openclaw/workspace/skills/clawdtalk"
)]
pub struct SkillInstallArgs {
    /// The skill folder to write (default: ~/.openclaw/skills/clawdtalk, seen by every agent on the machine).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
