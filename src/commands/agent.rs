//! `clawdtalk agent link|list|unlink` (assistants linked to a run).

use serde_json::json;

use crate::api::agents;
use crate::cli::agent::{AgentCommand, AgentLinkArgs};
use crate::cli::run::RunRef;
use crate::error::Result;
use crate::output::Outcome;

use super::support::{check_ids, reply_or};
use super::Context;

pub async fn run(ctx: &Context, cmd: AgentCommand) -> Result<Outcome> {
    match cmd {
        AgentCommand::Link(a) => link(ctx, a).await,
        AgentCommand::List(a) => list(ctx, a).await,
        AgentCommand::Unlink(a) => unlink(ctx, a).await,
    }
}

fn check(a: &AgentLinkArgs) -> Result<()> {
    check_ids(&[("MISSION_ID", &a.mission_id), ("RUN_ID", &a.run_id), ("ASSISTANT_ID", &a.assistant_id)])
}

/// `agent link MID RID AID` → `Linked agent <aid> to run <rid>`.
pub async fn link(ctx: &Context, a: AgentLinkArgs) -> Result<Outcome> {
    check(&a)?;
    let reply = agents::link(&ctx.client()?, &a.mission_id, &a.run_id, &a.assistant_id).await?;
    let data = reply_or(reply, json!({"telnyx_agent_id": a.assistant_id, "run_id": a.run_id}));
    Ok(Outcome::data(data).line(format!("Linked agent {} to run {}", a.assistant_id, a.run_id)))
}

/// `agent list MID RID` → `Agent: <id>` lines.
pub async fn list(ctx: &Context, a: RunRef) -> Result<Outcome> {
    check_ids(&[("MISSION_ID", &a.mission_id), ("RUN_ID", &a.run_id)])?;
    let linked = agents::list(&ctx.client()?, &a.mission_id, &a.run_id).await?;
    let mut o = Outcome::data(&linked);
    for l in &linked {
        o = o.line(format!("Agent: {}", l.telnyx_agent_id.as_deref().unwrap_or("None")));
    }
    Ok(o)
}

/// `agent unlink MID RID AID` → `Unlinked agent <aid> from run <rid>`.
pub async fn unlink(ctx: &Context, a: AgentLinkArgs) -> Result<Outcome> {
    check(&a)?;
    agents::unlink(&ctx.client()?, &a.mission_id, &a.run_id, &a.assistant_id).await?;
    Ok(Outcome::data(json!({"telnyx_agent_id": a.assistant_id, "run_id": a.run_id, "unlinked": true}))
        .line(format!("Unlinked agent {} from run {}", a.assistant_id, a.run_id)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{text, Harness, Reply};

    fn args(aid: &str) -> AgentLinkArgs {
        AgentLinkArgs { mission_id: "m1".into(), run_id: "r1".into(), assistant_id: aid.into() }
    }

    #[tokio::test]
    async fn link_posts_the_assistant_to_the_runs_agents() {
        let h = Harness::start().await;
        let o = link(&h.ctx(), args("a1")).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/missions/m1/runs/r1/agents");
        assert_eq!(r.json(), json!({"telnyx_agent_id": "a1"}));
        assert_eq!(r.header("authorization"), Some("Bearer cc_test_0123456789abcdef"));
        assert_eq!(text(&o), "Linked agent a1 to run r1\n");
        // An empty reply still gives `--json` one meaningful document.
        assert_eq!(o.data, json!({"telnyx_agent_id": "a1", "run_id": "r1"}));
    }

    #[tokio::test]
    async fn list_shows_one_line_per_linked_agent() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/missions/m1/runs/r1/agents",
            vec![Reply::ok(json!({"data": [{"telnyx_agent_id": "a1"}, {"telnyx_agent_id": "a2"}]}))],
        );
        let o = list(&h.ctx(), RunRef { mission_id: "m1".into(), run_id: "r1".into() }).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/missions/m1/runs/r1/agents");
        assert_eq!(text(&o), "Agent: a1\nAgent: a2\n");
        assert_eq!(o.data[1]["telnyx_agent_id"], "a2");
    }

    #[tokio::test]
    async fn unlink_deletes_the_encoded_assistant_path() {
        let h = Harness::start().await;
        let o = unlink(&h.ctx(), args("a 1")).await.unwrap();
        assert_eq!(h.service.single().line(), "DELETE /v1/missions/m1/runs/r1/agents/a%201");
        assert_eq!(o.data["unlinked"], true);
    }

    #[tokio::test]
    async fn a_json_id_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = link(&h.ctx(), args("{\"id\": 1}")).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert_eq!(e.exit_code(), 2);
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn a_service_refusal_is_an_api_error() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/missions/m1/runs/r1/agents", vec![Reply::error(404, "no such run")]);
        let e = link(&h.ctx(), args("a1")).await.unwrap_err();
        assert!(matches!(&e, Error::Api { status: 404, message, .. } if message.contains("no such run")), "{e:?}");
        assert_eq!(e.exit_code(), 1);
    }
}
