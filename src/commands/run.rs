//! `clawdtalk run create|get|update|list`.

use serde_json::json;

use crate::api::runs::{self, RunUpdate};
use crate::cli::run::{RunCommand, RunCreateArgs, RunListArgs, RunRef, RunUpdateArgs};
use crate::error::Result;
use crate::output::{Outcome, Table};
use crate::validate;

use super::support::{check_ids, reply_or};
use super::Context;

pub async fn run(ctx: &Context, cmd: RunCommand) -> Result<Outcome> {
    match cmd {
        RunCommand::Create(a) => create(ctx, a).await,
        RunCommand::Get(a) => get(ctx, a).await,
        RunCommand::Update(a) => update(ctx, a).await,
        RunCommand::List(a) => list(ctx, a).await,
    }
}

/// `run create MID [INPUT_JSON]` → `Created run: <id>`.
pub async fn create(ctx: &Context, a: RunCreateArgs) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id)])?;
    let input = validate::json_arg("INPUT_JSON", &a.input_json)?;
    let run = runs::create(&ctx.client()?, &a.mission_id, &input).await?;
    let line = format!("Created run: {}", run.id);
    Ok(Outcome::data(&run).line(line))
}

/// `run get MID RID` → the run as pretty JSON.
pub async fn get(ctx: &Context, a: RunRef) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id), ("RUN_ID", &a.run_id)])?;
    Ok(Outcome::json(runs::get(&ctx.client()?, &a.mission_id, &a.run_id).await?))
}

/// `run update MID RID STATUS [--summary] [--payload]` → `Updated run <rid>: <status>`.
pub async fn update(ctx: &Context, a: RunUpdateArgs) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id), ("RUN_ID", &a.run_id)])?;
    let status = validate::word("STATUS", &a.status, validate::RUN_STATUSES)?;
    let payload = a.payload.as_deref().map(|p| validate::json_arg("--payload", p)).transpose()?;
    let u = RunUpdate { status: Some(status.to_string()), result_summary: a.summary, result_payload: payload };
    let reply = runs::update(&ctx.client()?, &a.mission_id, &a.run_id, &u).await?;
    let data = reply_or(reply, json!({"run_id": a.run_id, "status": status}));
    Ok(Outcome::data(data).line(format!("Updated run {}: {status}", a.run_id)))
}

/// `run list MID` → a table of runs.
pub async fn list(ctx: &Context, a: RunListArgs) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id)])?;
    let rs = runs::list(&ctx.client()?, &a.mission_id).await?;
    let mut t = Table::new(["RUN_ID", "STATUS"]);
    for r in &rs {
        t.row([r.id.clone(), r.status.clone().unwrap_or_default()]);
    }
    let n = rs.len();
    Ok(Outcome::data(&rs).table(t).note(format!("{n} runs")))
}
