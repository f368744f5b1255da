//! Serde models of the service's objects. Each keeps the fields the client
//! relies on and carries every other field along in `extra`, so `--json`
//! shows the whole object and nothing the service adds is lost.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A mission (`POST/GET /missions`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mission {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
