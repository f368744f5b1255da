//! Mission runs: `/missions/{mid}/runs[/{rid}]`.

use serde_json::{json, Map, Value};

use super::envelope::{self, truthy};
use super::models::Run;
use super::{ApiPath, Client};
use crate::error::Result;

const ENVELOPE: &[&str] = &["data", "run"];
const ID_ALIASES: &[&str] = &["run_id"];

fn runs_path(mission_id: &str) -> Result<ApiPath> {
    Ok(ApiPath::new("/missions").id("MISSION_ID", mission_id)?.lit("runs"))
}

/// The path of one run, shared by the plan, events and agents resources.
pub(crate) fn run_path(mission_id: &str, run_id: &str) -> Result<ApiPath> {
    Ok(runs_path(mission_id)?.id("RUN_ID", run_id)?)
}

/// Create a run whose input is `input` (any JSON): `{"input": input}`.
pub async fn create(c: &Client, mission_id: &str, input: &Value) -> Result<Run> {
    let reply = c.post(&runs_path(mission_id)?, &json!({ "input": input })).await?;
    envelope::object(reply, ENVELOPE, ID_ALIASES, "run")
}

/// Fetch one run.
pub async fn get(c: &Client, mission_id: &str, run_id: &str) -> Result<Run> {
    let reply = c.get(&run_path(mission_id, run_id)?, &[]).await?;
    envelope::object(reply, ENVELOPE, ID_ALIASES, "run")
}

/// The fields a run update may change; absent or empty ones are left out.
#[derive(Debug, Clone, Default)]
pub struct RunUpdate {
    pub status: Option<String>,
    pub result_summary: Option<String>,
    pub result_payload: Option<Value>,
}

impl RunUpdate {
    /// The body `{"status", "result_summary", "result_payload"}` in that
    /// order, each only when non-empty (as telnyx_api.py built it).
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("status", self.status.clone().map(Value::String)),
            ("result_summary", self.result_summary.clone().map(Value::String)),
            ("result_payload", self.result_payload.clone()),
        ] {
            if let Some(v) = v.filter(truthy) {
                m.insert(k.to_string(), v);
            }
        }
        Value::Object(m)
    }
}

/// Update a run; returns the unwrapped reply (`.data`, may be `null`).
pub async fn update(c: &Client, mission_id: &str, run_id: &str, u: &RunUpdate) -> Result<Value> {
    let body = u.body();
    let body = truthy(&body).then_some(&body);
    let reply = c.send(reqwest::Method::PATCH, &run_path(mission_id, run_id)?, &[], body).await?;
    Ok(envelope::data(reply))
}

/// List the runs of a mission.
pub async fn list(c: &Client, mission_id: &str) -> Result<Vec<Run>> {
    let reply = c.get(&runs_path(mission_id)?, &[]).await?;
    envelope::objects(&reply, &["data", "runs"], ID_ALIASES, "run")
}
