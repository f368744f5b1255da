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
