//! Memory tools: `memory_get`, `memory_save`, `memory_append`, the same
//! reads and writes as `clawdtalk memory …` ([`crate::ledger::memory`]).

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::server::Server;
use crate::error::Result;
use crate::ledger::memory::{self, MemoryTarget};
use crate::state::MemoryWrite;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    /// Mission slug or mission id (completed missions too).
    pub mission: String,
    /// The key; without it, the whole memory.
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    /// Mission slug or mission id.
    pub mission: String,
    pub key: String,
    /// Any JSON value.
    pub value: Value,
    /// Start a new mission entry when the slug is unknown (otherwise an unknown slug is an error).
    #[serde(default)]
    pub create: bool,
}

impl WriteArgs {
    fn target(&self) -> MemoryTarget {
        MemoryTarget {
            mission: self.mission.clone(),
            key: self.key.clone(),
            create: self.create,
            value_text: self.value.to_string(),
        }
    }
}

#[tool_router(router = memory_router, vis = "pub(crate)")]
impl Server {
    /// Read a mission's memory: one key (null when missing) or everything.
    #[tool(annotations(
        title = "Read mission memory",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn memory_get(&self, Parameters(a): Parameters<GetArgs>) -> CallToolResult {
        self.finish(self.memory_read(a).await)
    }

    /// Save a value under a key of a mission's memory, replacing what was there.
    #[tool(annotations(
        title = "Save to mission memory",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn memory_save(&self, Parameters(a): Parameters<WriteArgs>) -> CallToolResult {
        self.finish(self.memory_write(a, false).await)
    }

    /// Append a value to the list under a key of a mission's memory (a new list when missing).
    #[tool(annotations(
        title = "Append to mission memory",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn memory_append(&self, Parameters(a): Parameters<WriteArgs>) -> CallToolResult {
        self.finish(self.memory_write(a, true).await)
    }
}

impl Server {
    async fn memory_read(&self, a: GetArgs) -> Result<Value> {
        let value = memory::read(&self.env.state()?, &a.mission, a.key.as_deref()).await?;
        Ok(json!({"mission": a.mission, "key": a.key, "value": value}))
    }

    async fn memory_write(&self, a: WriteArgs, append: bool) -> Result<Value> {
        let (w, words) = if append {
            (MemoryWrite::Append(a.value.clone()), "memory append")
        } else {
            (MemoryWrite::Save(a.value.clone()), "memory save")
        };
        let (slug, n) = memory::write(&self.env.state()?, a.target(), w, self.env.now(), words).await?;
        Ok(if append {
            json!({"mission": slug, "key": a.key, "count": n})
        } else {
            json!({"mission": slug, "key": a.key, "value": a.value})
        })
    }
}
