//! `clawdtalk event log|list` (events logged on a run).

use serde_json::json;

use crate::api::events::{self, NewEvent};
use crate::cli::event::{EventCommand, EventLogArgs};
use crate::cli::run::RunRef;
use crate::error::Result;
use crate::output::{Outcome, Table};
use crate::validate;

use super::support::{check_ids, reply_or, step_looks_like_json};
use super::Context;

pub async fn run(ctx: &Context, cmd: EventCommand) -> Result<Outcome> {
    match cmd {
        EventCommand::Log(a) => log(ctx, a).await,
        EventCommand::List(a) => list(ctx, a).await,
    }
}

/// `event log MID RID TYPE SUMMARY [--step] [--payload] [--agent-id]` → `Logged event: <summary>`.
pub async fn log(ctx: &Context, a: EventLogArgs) -> Result<Outcome> {
    if let Some(step) = &a.step {
        if step.trim_start().starts_with(['{', '[']) {
            return Err(step_looks_like_json(step));
        }
        check_ids(&[("--step", step)])?;
    }
    check_ids(&[("MISSION_ID", &a.run.mission_id), ("RUN_ID", &a.run.run_id)])?;
    let kind = validate::word("TYPE", &a.what.kind, validate::EVENT_TYPES)?;
    let payload = a.payload.as_deref().map(|p| validate::json_arg("PAYLOAD_JSON", p)).transpose()?;
    let e = NewEvent {
        kind: kind.to_string(),
        summary: a.what.summary.clone(),
        agent_id: Some(a.agent_id),
        step_id: a.step,
        payload,
    };
    let reply = events::log(&ctx.client()?, &a.run.mission_id, &a.run.run_id, &e).await?;
    Ok(Outcome::data(reply_or(reply, e.body())).line(format!("Logged event: {}", a.what.summary)))
}

/// `event list MID RID` → a table of the run's events.
pub async fn list(ctx: &Context, a: RunRef) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id), ("RUN_ID", &a.run_id)])?;
    let es = events::list(&ctx.client()?, &a.mission_id, &a.run_id).await?;
    let mut t = Table::new(["TYPE", "STEP", "SUMMARY"]);
    for e in &es {
        t.row([
            e.kind.clone().unwrap_or_default(),
            e.step_id.clone().unwrap_or_else(|| "-".into()),
            e.summary.clone().unwrap_or_default(),
        ]);
    }
    let n = es.len();
    let data = serde_json::to_value(&es).unwrap_or_else(|_| json!([]));
    Ok(Outcome::data(data).table(t).note(format!("{n} events")))
}
