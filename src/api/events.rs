//! Events logged on a run: `/missions/{mid}/runs/{rid}/events`.

use serde_json::{Map, Value};

use super::envelope::{self, truthy};
use super::models::RunEvent;
use super::runs::run_path;
use super::Client;
use crate::error::Result;

/// The agent id telnyx_api.py put on every event it logged.
pub const DEFAULT_AGENT_ID: &str = "claude-code";

/// An event to log.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: String,
    pub summary: String,
    pub agent_id: Option<String>,
    pub step_id: Option<String>,
    pub payload: Option<Value>,
}

impl NewEvent {
    /// The body `{"type","summary","agent_id","step_id","payload"}` in that
    /// order; `agent_id`, `step_id` and `payload` only when non-empty.
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.kind.clone()));
        m.insert("summary".into(), Value::String(self.summary.clone()));
        for (k, v) in [
            ("agent_id", self.agent_id.clone().map(Value::String)),
            ("step_id", self.step_id.clone().map(Value::String)),
            ("payload", self.payload.clone()),
        ] {
            if let Some(v) = v.filter(truthy) {
                m.insert(k.to_string(), v);
            }
        }
        Value::Object(m)
    }
}

/// Log an event; returns the unwrapped reply (`.data`, may be `null`).
pub async fn log(c: &Client, mission_id: &str, run_id: &str, e: &NewEvent) -> Result<Value> {
    let reply = c.post(&run_path(mission_id, run_id)?.lit("events"), &e.body()).await?;
    Ok(envelope::data(reply))
}

/// List a run's events.
pub async fn list(c: &Client, mission_id: &str, run_id: &str) -> Result<Vec<RunEvent>> {
    let reply = c.get(&run_path(mission_id, run_id)?.lit("events"), &[]).await?;
    envelope::objects(&reply, &["data", "events"], &[], "run event")
}
