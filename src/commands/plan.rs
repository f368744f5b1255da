//! `clawdtalk plan create|get|update-step`.

use serde_json::json;

use crate::api::plan;
use crate::cli::plan::{PlanCommand, PlanCreateArgs, PlanUpdateStepArgs};
use crate::cli::run::RunRef;
use crate::error::Result;
use crate::output::{counted, Outcome};
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

/// `plan create MID RID STEPS_JSON` → `Created plan with N steps` (`1 step`;
/// the legacy `create-plan` keeps telnyx_api.py's `1 steps`).
pub async fn create(ctx: &Context, a: PlanCreateArgs) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id), ("RUN_ID", &a.run_id)])?;
    let steps = validate::steps_arg("STEPS_JSON", &a.steps_json)?;
    let n = steps.as_array().map_or(0, Vec::len);
    let reply = plan::create(&ctx.client()?, &a.mission_id, &a.run_id, &steps).await?;
    Ok(Outcome::data(reply_or(reply, json!({ "steps": steps })))
        .line(format!("Created plan with {}", counted(n, "step", "steps"))))
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{parse, text, Harness, Reply};

    fn cmd(args: &[&str]) -> PlanCommand {
        match parse(&[&["plan"], args].concat()) {
            crate::cli::Command::Plan(c) => c,
            other => panic!("not a plan command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_posts_the_steps_and_counts_them() {
        let h = Harness::start().await;
        let steps = r#"[{"step_id": "a", "description": "A", "sequence": 1}, {"step_id": "b", "description": "B", "sequence": 2}]"#;
        let o = run(&h.ctx(), cmd(&["create", "m1", "r1", steps])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/missions/m1/runs/r1/plan");
        assert_eq!(r.json()["steps"][1]["step_id"], "b");
        assert_eq!(text(&o), "Created plan with 2 steps\n");
    }

    #[tokio::test]
    async fn update_step_patches_the_encoded_step() {
        let h = Harness::start().await;
        let o = run(&h.ctx(), cmd(&["update-step", "m1", "r1", "call/1", "completed"])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "PATCH /v1/missions/m1/runs/r1/plan/steps/call%2F1");
        assert_eq!(r.json(), json!({"status": "completed"}));
        assert_eq!(text(&o), "Updated step 'call/1': completed\n");
    }

    #[tokio::test]
    async fn an_empty_plan_is_an_empty_list() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions/m1/runs/r1/plan", vec![Reply::ok(json!(null))]);
        let o = run(&h.ctx(), cmd(&["get", "m1", "r1"])).await.unwrap();
        assert_eq!(o.data, json!([]));
    }

    #[tokio::test]
    async fn steps_that_are_not_json_are_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), cmd(&["create", "m1", "r1", "call them"])).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(h.service.requests().is_empty());
    }
}
