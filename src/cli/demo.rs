//! `clawdtalk demo`.

use clap::Args;

/// `clawdtalk demo`: runs init, setup-agent, schedule call --mission and poll
/// against an in-process sandbox, with a temporary state file (the global
/// `--state FILE` keeps it instead).
#[derive(Debug, Clone, Args)]
#[command(after_help = "Runs init (with a plan), setup-agent, three `schedule call --mission`, poll until the \
mission ends and `mission status`, showing each command and what it printed.\n\
The state file is temporary and removed at the end ($CLAWDTALK_STATE_FILE and your own state file are \
never touched); --state FILE keeps it.")]
pub struct DemoArgs {
    /// Sandbox clock speed for the demo.
    #[arg(long, default_value_t = 200.0, value_name = "X", value_parser = super::bounds::speed)]
    pub speed: f64,
}
