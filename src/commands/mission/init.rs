//! `clawdtalk mission init NAME INSTRUCTIONS REQUEST [STEPS_JSON]` (and the
//! legacy word `init`).

use crate::cli::mission::MissionInitArgs;
use crate::error::Result;
use crate::ledger::{self, InitRequest};
use crate::output::Outcome;

use super::Context;

impl From<MissionInitArgs> for InitRequest {
    fn from(a: MissionInitArgs) -> Self {
        InitRequest { name: a.name, instructions: a.instructions, request: a.request, steps_json: a.steps_json }
    }
}

/// Start (or resume) the mission: see [`ledger::init`].
pub async fn run(ctx: &Context, a: MissionInitArgs) -> Result<Outcome> {
    ledger::init(&|| ctx.client(), &ctx.state()?, ctx.now(), a.into()).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::mission::MissionCommand;
    use crate::error::Error;
    use crate::testing::{text, Harness, Reply};

    fn args(words: &[&str]) -> MissionInitArgs {
        match super::super::parse_mission(&[&["init"], words].concat()) {
            MissionCommand::Init(a) => a,
            other => panic!("not mission init: {other:?}"),
        }
    }

    const STEPS: &str = r#"[{"step_id": "calls", "description": "Call roofers", "sequence": 1}]"#;

    fn script_the_service(h: &Harness) {
        h.service.on("POST", "/v1/missions", vec![Reply::ok(json!({"data": {"id": "m1"}}))]);
        h.service.on("POST", "/v1/missions/m1/runs", vec![Reply::ok(json!({"data": {"run_id": "r1"}}))]);
    }

    #[tokio::test]
    async fn init_creates_mission_run_and_plan_then_sets_the_run_running() {
        let h = Harness::start().await;
        script_the_service(&h);
        let o = run(&h.ctx(), args(&["Find a roofer", "Call three roofers", "fix my roof", STEPS])).await.unwrap();
        let reqs = h.service.requests();
        assert_eq!(
            h.service.lines(),
            [
                "POST /v1/missions",
                "POST /v1/missions/m1/runs",
                "POST /v1/missions/m1/runs/r1/plan",
                "PATCH /v1/missions/m1/runs/r1"
            ]
        );
        assert_eq!(reqs[0].json(), json!({"name": "Find a roofer", "instructions": "Call three roofers"}));
        assert_eq!(reqs[1].json(), json!({"input": {"original_request": "fix my roof"}}));
        assert_eq!(reqs[2].json()["steps"][0]["step_id"], "calls");
        assert_eq!(reqs[3].json(), json!({"status": "running"}));
        assert_eq!(
            text(&o),
            "Created mission: m1\nCreated run: r1\nCreated plan with 1 steps\nUpdated run r1: running\n\
             Mission slug: find-a-roofer\n"
        );
        assert_eq!(o.data, json!({"slug": "find-a-roofer", "mission_id": "m1", "run_id": "r1", "resumed": false}));
        let st = h.state();
        let m = st.mission("find-a-roofer").expect("the mission is in the state file");
        assert_eq!((m.mission_id().as_deref(), m.run_id().as_deref()), (Some("m1"), Some("r1")));
        assert_eq!(m.status().as_deref(), Some("running"));
        assert!(m.fields().get("init_pending").is_none(), "{:?}", m.fields());
        // The fixed clock stamps the entry.
        assert_eq!(m.get_str("created_at").as_deref(), Some("2026-01-01T12:00:00.000000Z"));
    }

    #[tokio::test]
    async fn a_mission_already_started_is_resumed_without_sending_anything() {
        let h = Harness::start().await;
        h.seed("find-a-roofer", json!({"mission_id": "m1", "run_id": "r1", "status": "running"}));
        let o = run(&h.ctx(), args(&["Find a roofer", "x", "y"])).await.unwrap();
        assert!(h.service.requests().is_empty());
        assert_eq!(text(&o), "Resuming existing mission: find-a-roofer\nMission slug: find-a-roofer\n");
        assert_eq!(o.data["resumed"], true);
    }

    #[tokio::test]
    async fn a_failed_run_create_keeps_the_mission_and_a_rerun_does_not_create_it_again() {
        let h = Harness::start().await;
        script_the_service(&h);
        h.service.on(
            "POST",
            "/v1/missions/m1/runs",
            vec![Reply::error(500, "boom"), Reply::ok(json!({"data": {"run_id": "r1"}}))],
        );
        let e = run(&h.ctx(), args(&["Find a roofer", "x", "y"])).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 500, .. }), "{e:?}");
        assert_eq!(h.state().mission("find-a-roofer").and_then(|m| m.mission_id()).as_deref(), Some("m1"));

        run(&h.ctx(), args(&["Find a roofer", "x", "y"])).await.unwrap();
        let posts = h.service.lines().iter().filter(|l| *l == "POST /v1/missions").count();
        assert_eq!(posts, 1, "{:?}", h.service.lines());
    }

    #[tokio::test]
    async fn steps_that_are_not_a_list_are_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), args(&["Roof", "x", "y", r#"{"step_id": "a"}"#])).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert_eq!(e.exit_code(), 2);
        assert!(h.service.requests().is_empty());
        assert!(h.state().mission("roof").is_none());
    }

    #[tokio::test]
    async fn a_name_without_letters_or_digits_is_refused() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), args(&["!!!", "x", "y"])).await.unwrap_err();
        assert!(matches!(&e, Error::Usage(m) if m.contains("no letters or digits")), "{e:?}");
        assert!(h.service.requests().is_empty());
    }
}
