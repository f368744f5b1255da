//! Assistants linked to a run: `/missions/{mid}/runs/{rid}/agents[/{aid}]`.

use serde_json::{json, Value};

use super::models::LinkedAgent;
use super::runs::run_path;
use super::{envelope, Client};
use crate::error::Result;

/// Link an assistant to a run: `{"telnyx_agent_id": aid}`.
pub async fn link(c: &Client, mission_id: &str, run_id: &str, assistant_id: &str) -> Result<Value> {
    let body = json!({ "telnyx_agent_id": assistant_id });
    let reply = c.post(&run_path(mission_id, run_id)?.lit("agents"), &body).await?;
    Ok(envelope::data(reply))
}

/// The assistants linked to a run.
pub async fn list(c: &Client, mission_id: &str, run_id: &str) -> Result<Vec<LinkedAgent>> {
    let reply = c.get(&run_path(mission_id, run_id)?.lit("agents"), &[]).await?;
    envelope::objects(&reply, &["data", "agents"], &[], "linked agent")
}

/// Unlink an assistant from a run.
pub async fn unlink(c: &Client, mission_id: &str, run_id: &str, assistant_id: &str) -> Result<()> {
    c.delete(&run_path(mission_id, run_id)?.lit("agents").id("ASSISTANT_ID", assistant_id)?).await?;
    Ok(())
}
