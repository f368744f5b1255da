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
mod pause;
mod resume;
mod retry;
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
        MissionCommand::Pause(a) => pause::run(ctx, a).await,
        MissionCommand::Resume(a) => resume::run(ctx, a).await,
        MissionCommand::Retry(a) => retry::run(ctx, a).await,
    }
}

/// The pacing of `mission resume` and `mission retry`, on the service's clock.
async fn pacing(ctx: &Context, a: &crate::cli::mission::PacingArgs) -> Result<crate::campaign::control::Pacing> {
    use crate::error::Error;
    let now = ctx.service_now().await;
    Ok(crate::campaign::control::Pacing {
        start: crate::validate::when_time(&a.start, now)?,
        concurrency: a.concurrency,
        stagger: chrono::Duration::from_std(a.stagger).map_err(|e| Error::usage(format!("--stagger: {e}")))?,
        max_calls: a.max_calls,
        daily_cap: ctx.daily_cap()?,
        gate: ctx.gate().await?,
        lock_wait: crate::campaign::control::LOCK_WAIT,
    })
}

/// The mission subcommand `clawdtalk mission WORDS…` parses to.
#[cfg(test)]
fn parse_mission(words: &[&str]) -> MissionCommand {
    match crate::testing::parse(&[&["mission"], words].concat()) {
        crate::cli::Command::Mission(c) => c,
        other => panic!("not a mission command: {other:?}"),
    }
}

/// Test fixture: mission `roof` on run r1 with one pending call (e1, to
/// +15551234567 at 12:30) in step `calls`.
#[cfg(test)]
fn seed_roof(h: &crate::testing::Harness) {
    let event = serde_json::json!({"event_id": "e1", "assistant_id": "a1", "channel": "call", "to": "+15551234567",
        "scheduled_at": "2026-01-01T12:30:00Z", "step_id": "calls", "status": "pending"});
    h.seed("roof", serde_json::json!({"mission_id": "m1", "run_id": "r1", "memory": {"scheduled_events": [event]}}));
}
