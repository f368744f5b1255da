//! `clawdtalk mission complete SLUG SUMMARY [PAYLOAD_JSON]` (and the legacy
//! word `complete`).

use crate::cli::mission::MissionCompleteArgs;
use crate::error::Result;
use crate::ledger::{self, CompleteRequest};
use crate::output::Outcome;

use super::super::support::claim;
use super::Context;

impl From<MissionCompleteArgs> for CompleteRequest {
    fn from(a: MissionCompleteArgs) -> Self {
        CompleteRequest {
            mission: a.mission.mission,
            mission_id: a.mission_id,
            run_id: a.run_id,
            summary: a.result.summary,
            payload_json: a.result.payload_json,
        }
    }
}

/// End the mission's run and archive it: see [`ledger::complete`].
pub async fn run(ctx: &Context, a: MissionCompleteArgs) -> Result<Outcome> {
    ledger::complete(&|| ctx.client(), &ctx.state()?, &claim(ctx), ctx.now(), a.into()).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::mission::MissionCommand;
    use crate::error::Error;
    use crate::testing::{text, Harness, Reply};

    fn args(words: &[&str]) -> MissionCompleteArgs {
        match super::super::parse_mission(&[&["complete"], words].concat()) {
            MissionCommand::Complete(a) => a,
            other => panic!("not mission complete: {other:?}"),
        }
    }

    #[tokio::test]
    async fn complete_sets_the_run_succeeded_and_archives_the_mission() {
        let h = Harness::start().await;
        h.seed("roof", json!({"mission_id": "m1", "run_id": "r1"}));
        let o = run(&h.ctx(), args(&["roof", "Booked Bob", r#"{"price": 120}"#])).await.unwrap();
        // The plan is read first (the bot's own open steps are completed); it has none here.
        assert_eq!(h.service.lines(), ["GET /v1/missions/m1/runs/r1/plan", "PATCH /v1/missions/m1/runs/r1"]);
        let r = h.service.requests()[1].clone();
        assert_eq!(
            r.json(),
            json!({"status": "succeeded", "result_summary": "Booked Bob", "result_payload": {"price": 120}})
        );
        assert_eq!(text(&o), "Updated run r1: succeeded\nMission 'roof' completed successfully\n");
        assert_eq!(o.data["archived"], true);
        let st = h.state();
        assert!(st.mission("roof").is_none());
        let archived = st.archived_mission("m1").expect("archived under its mission id");
        assert_eq!(archived.get_str("completed_at").as_deref(), Some("2026-01-01T12:00:00.000000Z"));
    }

    #[tokio::test]
    async fn a_refused_update_leaves_the_mission_active() {
        let h = Harness::start().await;
        h.seed("roof", json!({"mission_id": "m1", "run_id": "r1"}));
        h.service.on("PATCH", "/v1/missions/m1/runs/r1", vec![Reply::error(409, "run already ended")]);
        let e = run(&h.ctx(), args(&["roof", "Booked Bob"])).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 409, .. }), "{e:?}");
        assert!(h.state().mission("roof").is_some());
    }

    #[tokio::test]
    async fn a_payload_that_is_not_json_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        h.seed("roof", json!({"mission_id": "m1", "run_id": "r1"}));
        let e = run(&h.ctx(), args(&["roof", "Booked", "{price"])).await.unwrap_err();
        assert!(matches!(&e, Error::Usage(m) if m.contains("PAYLOAD_JSON")), "{e:?}");
        assert!(h.service.requests().is_empty());
        assert!(h.state().mission("roof").is_some());
    }

    #[tokio::test]
    async fn explicit_ids_complete_a_run_the_state_file_does_not_know_with_a_warning() {
        let h = Harness::start().await;
        let o = run(&h.ctx(), args(&["lost", "Done", "--mission-id", "m9", "--run-id", "r9"])).await.unwrap();
        assert_eq!(h.service.single().line(), "PATCH /v1/missions/m9/runs/r9");
        assert!(o.notes[0].starts_with("warning: mission 'lost' is not in the state file"), "{:?}", o.notes);
        assert_eq!(o.data["archived"], false);
    }
}
