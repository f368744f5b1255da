//! `clawdtalk plan create|get|update-step`.

use serde_json::json;

use crate::api::plan;
use crate::cli::plan::{PlanCommand, PlanCreateArgs, PlanUpdateStepArgs};
use crate::cli::run::RunRef;
use crate::error::Result;
use crate::output::Outcome;
use crate::validate;

use super::support::{check_ids, reply_or};
use super::Context;

pub async fn run(ctx: &Context, cmd: PlanCommand) -> Result<Outcome> {
    match cmd {
        PlanCommand::Create(a) => create(ctx, a).await,
        PlanCommand::Get(a) => get(ctx, a).await,
        PlanCommand::UpdateStep(a) => update_step(ctx, a).await,
    }
}

/// `plan create MID RID STEPS_JSON` → `Created plan with N steps`.
pub async fn create(ctx: &Context, a: PlanCreateArgs) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id), ("RUN_ID", &a.run_id)])?;
    let steps = validate::steps_arg("STEPS_JSON", &a.steps_json)?;
    let n = steps.as_array().map_or(0, Vec::len);
    let reply = plan::create(&ctx.client()?, &a.mission_id, &a.run_id, &steps).await?;
    Ok(Outcome::data(reply_or(reply, json!({ "steps": steps }))).line(format!("Created plan with {n} steps")))
}

/// `plan get MID RID` → the plan (`.data`: the list of steps, or whatever
/// object the service sends) as pretty JSON; an empty plan is `[]`.
pub async fn get(ctx: &Context, a: RunRef) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id), ("RUN_ID", &a.run_id)])?;
    let p = plan::get(&ctx.client()?, &a.mission_id, &a.run_id).await?;
    let p = if p.is_array() || p.is_object() { p } else { json!([]) };
    Ok(Outcome::json(p))
}

/// `plan update-step MID RID STEP STATUS` → `Updated step '<step>': <status>`.
pub async fn update_step(ctx: &Context, a: PlanUpdateStepArgs) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id), ("RUN_ID", &a.run_id), ("STEP_ID", &a.step_id)])?;
    let status = validate::word("STATUS", &a.status, validate::STEP_STATUSES)?;
    let reply = plan::update_step(&ctx.client()?, &a.mission_id, &a.run_id, &a.step_id, status).await?;
    let data = reply_or(reply, json!({"step_id": a.step_id, "status": status}));
    Ok(Outcome::data(data).line(format!("Updated step '{}': {status}", a.step_id)))
}
