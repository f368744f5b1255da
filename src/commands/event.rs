//! `clawdtalk event log|list` (events logged on a run).

use serde_json::json;

use crate::api::events::{self, NewEvent};
use crate::cli::event::{EventCommand, EventLogArgs};
use crate::cli::run::RunRef;
use crate::error::Result;
use crate::output::{counted, Outcome, Table};
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
    Ok(Outcome::data(data).table(t).note(counted(n, "event", "events")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{parse, text, Harness, Reply};

    fn cmd(args: &[&str]) -> EventCommand {
        match parse(&[&["event"], args].concat()) {
            crate::cli::Command::Event(c) => c,
            other => panic!("not an event command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn log_posts_the_event_the_way_python_wrote_it() {
        let h = Harness::start().await;
        let o =
            run(&h.ctx(), cmd(&["log", "m1", "r1", "custom", "Called Bob", "--step", "s1", "--payload", "{\"n\": 1}"]))
                .await
                .unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/missions/m1/runs/r1/events");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            r#"{"type": "custom", "summary": "Called Bob", "agent_id": "claude-code", "step_id": "s1", "payload": {"n": 1}}"#
        );
        assert_eq!(text(&o), "Logged event: Called Bob\n");
        // An empty reply: `--json` shows what was logged.
        assert_eq!(o.data["summary"], "Called Bob");
    }

    #[tokio::test]
    async fn a_step_that_looks_like_json_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), cmd(&["log", "m1", "r1", "custom", "Called", "--step", "{\"a\": 1}"])).await.unwrap_err();
        assert!(matches!(&e, Error::Usage(m) if m.contains("forgot the step id")), "{e:?}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn list_is_a_table_with_a_dash_for_no_step() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/missions/m1/runs/r1/events",
            vec![Reply::ok(json!({"data": [{"type": "custom", "summary": "hi"}]}))],
        );
        let o = run(&h.ctx(), cmd(&["list", "m1", "r1"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/missions/m1/runs/r1/events");
        let t = text(&o);
        assert!(t.lines().any(|l| l.starts_with("custom") && l.contains(" - ") && l.ends_with("hi")), "{t}");
        assert_eq!(o.notes, vec!["1 event"]);
    }

    #[tokio::test]
    async fn a_server_error_on_a_write_is_not_retried() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/missions/m1/runs/r1/events", vec![Reply::error(500, "boom")]);
        let e = run(&h.ctx(), cmd(&["log", "m1", "r1", "custom", "x"])).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 500, .. }), "{e:?}");
        assert_eq!(h.service.requests().len(), 1);
    }
}
