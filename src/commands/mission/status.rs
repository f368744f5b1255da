//! `clawdtalk mission status SLUG`.

use crate::campaign::status::{campaign_of, CampaignStatus, STATES};
use crate::cli::mission::MissionStatusArgs;
use crate::error::Result;
use crate::ledger::report::mission_status;
use crate::output::Outcome;

use super::Context;

/// A mission at a glance: see [`mission_status`]; a campaign's targets are
/// counted by effective state (docs/campaigns.md#status).
pub async fn run(ctx: &Context, a: MissionStatusArgs) -> Result<Outcome> {
    let store = ctx.state()?;
    let mut o = mission_status(&store, || ctx.api_service(), &a.slug).await?;
    let st = store.read_async().await?;
    let Some(c) = campaign_of(&st, &a.slug) else { return Ok(o) };
    if o.data.is_object() {
        o.data["campaign"] = serde_json::to_value(&c).unwrap_or_default();
    }
    Ok(o.line(campaign_line(&c)))
}

/// `Campaign: 45 targets: 30 scheduled, 10 paused, 5 done; next slot …`.
fn campaign_line(c: &CampaignStatus) -> String {
    let parts: Vec<String> =
        STATES.iter().filter_map(|s| c.counts.get(*s).filter(|n| **n > 0).map(|n| format!("{n} {s}"))).collect();
    let next = c.next_slot.as_deref().map(|t| format!("; next slot {t}")).unwrap_or_default();
    format!("Campaign: {} target{}: {}{next}", c.total, if c.total == 1 { "" } else { "s" }, parts.join(", "))
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
    async fn a_campaign_is_counted_by_state_with_its_next_slot() {
        let h = Harness::start().await;
        let ev = json!({"event_id": "e1", "assistant_id": "a1", "channel": "call", "to": "+15005550006",
            "scheduled_at": "2026-01-01T12:30:00Z", "step_id": "calls", "status": "pending"});
        let t = |i: u32, s: &str| {
            json!({"key": format!("calls|call|+1500555000{i}"), "phone": format!("+1500555000{i}"),
            "channel": "call", "step_id": "calls", "status": s, "event_id": "e1", "scheduled_at": "2026-01-01T12:30:00Z"})
        };
        h.seed("roof", json!({"memory": {"scheduled_events": [ev], "targets": [t(1, "scheduled"), t(2, "paused"), t(3, "skipped")]}}));
        let o = run(&h.ctx(), args(&["roof"])).await.unwrap();
        let c = &o.data["campaign"];
        assert_eq!((c["total"].as_u64(), c["next_slot"].as_str()), (Some(3), Some("2026-01-01T12:30:00Z")), "{c}");
        assert_eq!((c["counts"]["scheduled"].as_u64(), c["counts"]["paused"].as_u64()), (Some(1), Some(1)));
        assert_eq!((c["counts"]["skipped"].as_u64(), c["counts"]["failed"].as_u64()), (Some(1), Some(0)));
        assert!(
            text(&o).contains("Campaign: 3 targets: 1 scheduled, 1 paused, 1 skipped; next slot 2026-01-01T12:30:00Z"),
            "{}",
            text(&o)
        );
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
