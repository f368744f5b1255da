//! `clawdtalk mission setup-agent SLUG NAME INSTRUCTIONS [GREETING]
//! [OPTIONS_JSON]` (and the legacy word `setup-agent`).

use crate::cli::mission::MissionSetupAgentArgs;
use crate::error::Result;
use crate::ledger::{self, AssistantRequest, SetupAgentRequest};
use crate::output::Outcome;

use super::Context;

impl From<MissionSetupAgentArgs> for SetupAgentRequest {
    fn from(a: MissionSetupAgentArgs) -> Self {
        SetupAgentRequest { mission: a.mission, create: a.create, assistant: AssistantRequest::from(a.assistant) }
    }
}

/// Equip the mission with an assistant and a caller id: see [`ledger::setup_agent`].
pub async fn run(ctx: &Context, a: MissionSetupAgentArgs) -> Result<Outcome> {
    ledger::setup_agent(&|| ctx.client(), &ctx.state()?, ctx.now(), a.into()).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::mission::MissionCommand;
    use crate::error::Error;
    use crate::testing::{text, Harness, Reply};

    fn args(words: &[&str]) -> MissionSetupAgentArgs {
        match super::super::parse_mission(&[&["setup-agent"], words].concat()) {
            MissionCommand::SetupAgent(a) => a,
            other => panic!("not mission setup-agent: {other:?}"),
        }
    }

    fn script_the_service(h: &Harness) {
        h.service.on("POST", "/v1/assistants", vec![Reply::ok(json!({"data": {"id": "a1"}}))]);
        h.service.on(
            "GET",
            "/v1/numbers/account-phones/available",
            vec![Reply::ok(json!({"phone": {"id": "p1", "phone_number": "+15550001111"}}))],
        );
    }

    #[tokio::test]
    async fn setup_agent_creates_links_and_takes_an_available_number() {
        let h = Harness::start().await;
        h.seed("roof", json!({"mission_id": "m1", "run_id": "r1"}));
        script_the_service(&h);
        let o = run(&h.ctx(), args(&["roof", "Roofer bot", "Ask for a quote"])).await.unwrap();
        assert_eq!(
            h.service.lines(),
            ["POST /v1/assistants", "POST /v1/missions/m1/runs/r1/agents", "GET /v1/numbers/account-phones/available"]
        );
        let reqs = h.service.requests();
        let body = reqs[0].json();
        assert_eq!(
            (body["name"].as_str(), body["instructions"].as_str()),
            (Some("Roofer bot"), Some("Ask for a quote"))
        );
        assert_eq!(reqs[1].json(), json!({"telnyx_agent_id": "a1"}));
        assert_eq!(text(&o), "Created assistant: a1\nLinked agent a1 to run r1\nFound available: +15550001111\n");
        assert_eq!(o.data["reused"], false);
        let st = h.state();
        let m = st.mission("roof").unwrap();
        assert_eq!((m.assistant_id().as_deref(), m.agent_phone().as_deref()), (Some("a1"), Some("+15550001111")));
    }

    #[tokio::test]
    async fn an_equipped_mission_reuses_its_assistant_without_sending_anything() {
        let h = Harness::start().await;
        h.seed("roof", json!({"assistant_id": "a1", "agent_phone": "+15550001111"}));
        let o = run(&h.ctx(), args(&["roof", "Roofer bot", "Ask"])).await.unwrap();
        assert!(h.service.requests().is_empty());
        assert_eq!(text(&o), "Using existing assistant: a1\n");
        assert_eq!(o.data["reused"], true);
    }

    #[tokio::test]
    async fn no_available_number_fails_but_keeps_the_assistant_for_a_rerun() {
        let h = Harness::start().await;
        h.seed("roof", json!({"mission_id": "m1", "run_id": "r1"}));
        script_the_service(&h);
        h.service.on("GET", "/v1/numbers/account-phones/available", vec![Reply::ok(json!({"phone": null}))]);
        let e = run(&h.ctx(), args(&["roof", "Roofer bot", "Ask"])).await.unwrap_err();
        assert!(matches!(&e, Error::Failed(m) if m.contains("no available phone number")), "{e:?}");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(h.state().mission("roof").and_then(|m| m.assistant_id()).as_deref(), Some("a1"));

        // The re-run neither creates nor links the assistant again.
        let before = h.service.requests().len();
        let _ = run(&h.ctx(), args(&["roof", "Roofer bot", "Ask"])).await;
        assert_eq!(h.service.lines()[before..], ["GET /v1/numbers/account-phones/available"]);
    }

    #[tokio::test]
    async fn an_unknown_slug_without_create_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), args(&["nope", "Roofer bot", "Ask"])).await.unwrap_err();
        assert!(matches!(&e, Error::Usage(m) if m.contains("--create")), "{e:?}");
        assert_eq!(e.exit_code(), 2);
        assert!(h.service.requests().is_empty());
    }
}
