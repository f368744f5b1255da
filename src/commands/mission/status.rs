//! `clawdtalk mission status SLUG`.

use crate::cli::mission::MissionStatusArgs;
use crate::error::Result;
use crate::ledger::report::mission_status;
use crate::output::Outcome;

use super::Context;

/// A mission at a glance: see [`mission_status`].
pub async fn run(ctx: &Context, a: MissionStatusArgs) -> Result<Outcome> {
    mission_status(&ctx.state()?, || ctx.api_service(), &a.slug).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::mission::MissionCommand;
    use crate::testing::{text, Harness, Reply};

    fn args(words: &[&str]) -> MissionStatusArgs {
        match super::super::parse_mission(&[&["status"], words].concat()) {
            MissionCommand::Status(a) => a,
            other => panic!("not mission status: {other:?}"),
        }
    }

    use super::super::seed_roof;

    #[tokio::test]
    async fn status_shows_the_services_run_and_plan_beside_the_local_targets() {
        let h = Harness::start().await;
        seed_roof(&h);
        h.service.on(
            "GET",
            "/v1/missions/m1/runs/r1",
            vec![Reply::ok(json!({"data": {"id": "r1", "status": "running"}}))],
        );
        h.service.on(
            "GET",
            "/v1/missions/m1/runs/r1/plan",
            vec![Reply::ok(json!({"data": [{"step_id": "calls", "status": "in_progress"}]}))],
        );
        let o = run(&h.ctx(), args(&["roof"])).await.unwrap();
        let mut lines = h.service.lines();
        lines.sort();
        assert_eq!(lines, ["GET /v1/missions/m1/runs/r1", "GET /v1/missions/m1/runs/r1/plan"]);
        assert_eq!(o.data["run_status"], "running");
        assert_eq!(o.data["steps"], json!([{"step_id": "calls", "status": "in_progress", "events": 1}]));
        assert_eq!(o.data["pending_events"], 1);
        let t = text(&o);
        assert!(t.contains("running") && t.contains("in_progress") && t.contains("+15551234567"), "{t}");
        assert!(o.notes.is_empty(), "{:?}", o.notes);
    }

    #[tokio::test]
    async fn a_refusing_service_falls_back_to_the_local_state_with_a_note() {
        let h = Harness::start().await;
        seed_roof(&h);
        h.service.on("GET", "/v1/missions/m1/runs/r1", vec![Reply::error(403, "forbidden")]);
        let o = run(&h.ctx(), args(&["roof"])).await.unwrap();
        assert_eq!(o.exit_code, 0);
        assert!(o.notes.iter().any(|n| n.contains("could not be asked")), "{:?}", o.notes);
        assert_eq!(o.data["steps"], json!([{"step_id": "calls", "status": "unknown", "events": 0}]));
    }

    #[tokio::test]
    async fn an_unknown_mission_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), args(&["nope"])).await.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e:?}");
        assert!(h.service.requests().is_empty());
    }
}

#[cfg(test)]
mod agentphone_tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{parse, text, Harness};

    fn args(slug: &str) -> MissionStatusArgs {
        match parse(&["mission", "status", slug]) {
            crate::cli::Command::Mission(crate::cli::mission::MissionCommand::Status(a)) => a,
            other => panic!("not a mission status command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn agentphone_calls_made_with_mission_are_shown() {
        let h = Harness::start().await;
        let now = h.ctx().now();
        h.ctx()
            .state()
            .unwrap()
            .update(move |st| {
                let calls = json!([
                    {"call_id": "ap_1", "provider": "agentphone", "to": "+15005550006", "status": "completed",
                     "outcome": "achieved", "summary": "Booked Tuesday 10am"},
                    {"call_id": "ap_2", "provider": "agentphone", "to": "+15005550001", "status": "failed",
                     "failure_reason": "busy"},
                ]);
                st.mission_or_create("dentist").memory_save(crate::ledger::agentphone::MEMORY_KEY, calls, now)
            })
            .unwrap();
        let o = run(&h.ctx(), args("dentist")).await.unwrap();
        assert!(h.service.requests().is_empty());
        let t = text(&o);
        assert!(t.contains("AGENTPHONE CALL  TO            STATUS     OUTCOME   SUMMARY"), "{t}");
        assert!(t.contains("ap_1             +15005550006  completed  achieved  Booked Tuesday 10am"), "{t}");
        assert!(t.contains("ap_2             +15005550001  failed     busy      -"), "{t}");
        assert!(!t.contains("no scheduled calls or SMS tracked"), "{t}");
        assert_eq!(o.data["agentphone_calls"][0]["call_id"], "ap_1");
        assert_eq!(o.data["agentphone_calls"][1]["failure_reason"], "busy");
    }
}
