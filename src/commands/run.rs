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
    let mut o = Outcome::data(data).line(format!("Updated run {}: {status}", a.run_id));
    // The mission's entry follows its run (`list-state` shows it); a state
    // file that cannot be written is a note: the run is updated either way.
    if let Ok(store) = ctx.state() {
        if let Err(e) =
            crate::ledger::mission::record_run_status(&store, &a.mission_id, &a.run_id, status, ctx.now()).await
        {
            o = o.note(format!("warning: the run is updated but the state file was not: {e}"));
        }
    }
    Ok(o)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{parse, text, Harness, Reply};

    fn cmd(args: &[&str]) -> RunCommand {
        match parse(&[&["run"], args].concat()) {
            crate::cli::Command::Run(c) => c,
            other => panic!("not a run command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_posts_the_input_and_names_the_new_run() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/missions/m1/runs", vec![Reply::ok(json!({"data": {"run_id": "r9"}}))]);
        let o = run(&h.ctx(), cmd(&["create", "m1", r#"{"city": "Köln"}"#])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/missions/m1/runs");
        assert_eq!(r.json(), json!({"input": {"city": "Köln"}}));
        assert_eq!(text(&o), "Created run: r9\n");
    }

    #[tokio::test]
    async fn update_patches_status_summary_and_payload() {
        let h = Harness::start().await;
        let o =
            run(&h.ctx(), cmd(&["update", "m1", "r1", "succeeded", "--summary", "done", "--payload", "{\"n\": 3}"]))
                .await
                .unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "PATCH /v1/missions/m1/runs/r1");
        assert_eq!(r.json(), json!({"status": "succeeded", "result_summary": "done", "result_payload": {"n": 3}}));
        assert_eq!(text(&o), "Updated run r1: succeeded\n");
        assert_eq!(o.data, json!({"run_id": "r1", "status": "succeeded"}));
    }

    #[tokio::test]
    async fn list_is_a_table_with_a_count_note() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/missions/m1/runs",
            vec![Reply::ok(json!({"data": [{"run_id": "r1", "status": "running"}, {"run_id": "r2"}]}))],
        );
        let o = run(&h.ctx(), cmd(&["list", "m1"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/missions/m1/runs");
        let t = text(&o);
        assert!(t.contains("r1") && t.contains("running") && t.contains("r2"), "{t}");
        assert_eq!(o.notes, vec!["2 runs"]);
    }

    #[tokio::test]
    async fn an_unknown_status_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), cmd(&["update", "m1", "r1", "finished"])).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn a_get_that_keeps_failing_is_retried_then_reported() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions/m1/runs/r1", vec![Reply::error(503, "down")]);
        let e = run(&h.ctx(), cmd(&["get", "m1", "r1"])).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 503, .. }), "{e:?}");
        assert_eq!(h.service.lines(), vec!["GET /v1/missions/m1/runs/r1"; 3]);
    }
}
