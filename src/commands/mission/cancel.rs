//! `clawdtalk mission cancel SLUG [--pending-only]`.

use crate::cli::mission::MissionCancelArgs;
use crate::error::Result;
use crate::lifecycle::cancel::cancel_mission;
use crate::output::Outcome;

use super::Context;

/// `mission cancel SLUG [--pending-only]`.
pub async fn run(ctx: &Context, a: MissionCancelArgs) -> Result<Outcome> {
    let store = ctx.state()?;
    // Unknown or archived slugs fail here, before any client is built.
    store.read_async().await?.active_slug(&a.slug)?;
    let svc = ctx.api_service()?;
    let r = cancel_mission(&svc, &store, &a.slug, a.pending_only).await?;
    let mut o = Outcome::data(&r).line(format!(
        "Cancelled {} scheduled event{} for mission '{}'",
        r.cancelled.len(),
        if r.cancelled.len() == 1 { "" } else { "s" },
        r.slug
    ));
    for id in &r.cancelled {
        o = o.line(format!("  {id}"));
    }
    if r.run_cancelled && r.archived {
        o = o.line("Run set to cancelled; the mission is archived (`clawdtalk mission status` still shows it)");
    } else if r.run_cancelled {
        o = o.line(format!(
            "Run set to cancelled; {} event{} already under way {} still tracked: the next `clawdtalk poll` \
             records how {} ended, then archives the mission",
            r.still_tracked.len(),
            if r.still_tracked.len() == 1 { "" } else { "s" },
            if r.still_tracked.len() == 1 { "is" } else { "are" },
            if r.still_tracked.len() == 1 { "it" } else { "they" },
        ));
        for id in &r.still_tracked {
            o = o.line(format!("  {id}"));
        }
    } else if a.pending_only {
        o = o.line("The run stays open: the next `clawdtalk poll` finishes its steps from the calls that were made");
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::mission::MissionCommand;
    use crate::error::Error;
    use crate::testing::{text, Harness, Reply};

    fn args(words: &[&str]) -> MissionCancelArgs {
        match super::super::parse_mission(&[&["cancel"], words].concat()) {
            MissionCommand::Cancel(a) => a,
            other => panic!("not mission cancel: {other:?}"),
        }
    }

    use super::super::seed_roof;

    fn the_event_is(h: &Harness, status: serde_json::Value) {
        h.service.on("GET", "/v1/assistants/a1/events/e1", vec![Reply::ok(json!({"data": status}))]);
    }

    #[tokio::test]
    async fn cancel_stops_what_has_not_started_ends_the_run_and_archives() {
        let h = Harness::start().await;
        seed_roof(&h);
        the_event_is(&h, json!({"id": "e1", "status": "pending"}));
        let o = run(&h.ctx(), args(&["roof"])).await.unwrap();
        assert_eq!(
            h.service.lines(),
            ["GET /v1/assistants/a1/events/e1", "DELETE /v1/assistants/a1/events/e1", "PATCH /v1/missions/m1/runs/r1"]
        );
        let body = h.service.requests()[2].json();
        assert_eq!(body["status"], "cancelled");
        assert_eq!(body["result_summary"], "cancelled by the owner; 1 scheduled events cancelled");
        assert_eq!(
            text(&o),
            "Cancelled 1 scheduled event for mission 'roof'\n  e1\nRun set to cancelled; the mission is archived \
             (`clawdtalk mission status` still shows it)\n"
        );
        assert!(h.state().mission("roof").is_none());
    }

    #[tokio::test]
    async fn a_call_under_way_is_left_to_poll_and_stays_tracked() {
        let h = Harness::start().await;
        seed_roof(&h);
        the_event_is(&h, json!({"id": "e1", "status": "in_progress", "call_status": "ringing"}));
        let o = run(&h.ctx(), args(&["roof"])).await.unwrap();
        assert!(!h.service.lines().iter().any(|l| l.starts_with("DELETE")), "{:?}", h.service.lines());
        assert_eq!(o.data["still_tracked"], json!(["e1"]));
        assert!(text(&o).contains("1 event already under way is still tracked"), "{}", text(&o));
        assert!(h.state().mission("roof").is_some());
    }

    #[tokio::test]
    async fn pending_only_leaves_the_run_open() {
        let h = Harness::start().await;
        seed_roof(&h);
        the_event_is(&h, json!({"id": "e1", "status": "pending"}));
        let o = run(&h.ctx(), args(&["roof", "--pending-only"])).await.unwrap();
        assert!(!h.service.lines().iter().any(|l| l.starts_with("PATCH")), "{:?}", h.service.lines());
        assert_eq!(o.data["run_cancelled"], false);
        assert!(text(&o).contains("The run stays open"), "{}", text(&o));
    }

    #[tokio::test]
    async fn a_refused_delete_fails_before_the_run_is_touched() {
        let h = Harness::start().await;
        seed_roof(&h);
        the_event_is(&h, json!({"id": "e1", "status": "pending"}));
        h.service.on("DELETE", "/v1/assistants/a1/events/e1", vec![Reply::error(403, "not yours")]);
        let e = run(&h.ctx(), args(&["roof"])).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 403, .. }), "{e:?}");
        assert!(!h.service.lines().iter().any(|l| l.starts_with("PATCH")));
        assert!(h.state().mission("roof").is_some());
    }

    #[tokio::test]
    async fn an_unknown_mission_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), args(&["nope"])).await.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e:?}");
        assert!(h.service.requests().is_empty());
    }
}
