//! `clawdtalk mission …`: one file per verb. The workflows (`init`,
//! `setup-agent`, `complete`) and the status report live in
//! [`crate::ledger`]; these files turn arguments into its requests.

use crate::cli::mission::MissionCommand;
use crate::error::Result;
use crate::output::Outcome;

use super::Context;

mod cancel;
mod complete;
mod create;
mod get;
mod init;
mod list;
mod setup_agent;
mod status;

pub async fn run(ctx: &Context, cmd: MissionCommand) -> Result<Outcome> {
    match cmd {
        MissionCommand::Create(a) => create::run(ctx, a).await,
        MissionCommand::Get(a) => get::run(ctx, a).await,
        MissionCommand::List => list::run(ctx).await,
        MissionCommand::Init(a) => init::run(ctx, a).await,
        MissionCommand::SetupAgent(a) => setup_agent::run(ctx, a).await,
        MissionCommand::Complete(a) => complete::run(ctx, a).await,
        MissionCommand::Status(a) => status::run(ctx, a).await,
        MissionCommand::Cancel(a) => cancel::run(ctx, a).await,
    }
}

/// The mission subcommand `clawdtalk mission WORDS…` parses to.
#[cfg(test)]
fn parse_mission(words: &[&str]) -> MissionCommand {
    match crate::testing::parse(&[&["mission"], words].concat()) {
        crate::cli::Command::Mission(c) => c,
        other => panic!("not a mission command: {other:?}"),
    }
}
