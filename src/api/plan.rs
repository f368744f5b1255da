//! A run's plan: `/missions/{mid}/runs/{rid}/plan[/steps/{step}]`.
//! Plans are passed through as JSON: the steps' shape belongs to the caller.

use serde_json::{json, Value};

use super::runs::run_path;
use super::{envelope, Client};
use crate::error::Result;

/// Create the plan: `{"steps": [{"step_id","description","sequence"}, …]}`.
pub async fn create(c: &Client, mission_id: &str, run_id: &str, steps: &Value) -> Result<Value> {
    let reply = c.post(&run_path(mission_id, run_id)?.lit("plan"), &json!({ "steps": steps })).await?;
    Ok(envelope::data(reply))
}

/// Fetch the plan (`.data`).
pub async fn get(c: &Client, mission_id: &str, run_id: &str) -> Result<Value> {
    let reply = c.get(&run_path(mission_id, run_id)?.lit("plan"), &[]).await?;
    Ok(envelope::data(reply))
}

/// Set one step's status: `{"status": status}`.
pub async fn update_step(c: &Client, mission_id: &str, run_id: &str, step_id: &str, status: &str) -> Result<Value> {
    let path = run_path(mission_id, run_id)?.lit("plan/steps").id("STEP_ID", step_id)?;
    let reply = c.patch(&path, &json!({ "status": status })).await?;
    Ok(envelope::data(reply))
}
