//! `clawdtalk mcp`: build the MCP server (`crate::mcp`) around this
//! context's configuration, clients, state file, clocks and journal, and
//! serve it on stdio until the client disconnects.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::agentphone::AgentPhone;
use crate::api::Client;
use crate::cli::mcp::McpArgs;
use crate::error::Result;
use crate::journal::Entry;
use crate::ledger::Claim;
use crate::mcp::{self, Options, Surroundings};
use crate::output::Outcome;
use crate::redact::{redact_shapes, Redactor};
use crate::state::StateStore;

use super::support::claim;
use super::Context;

/// How long after a 429 AgentPhone is retried once from a tool (a tool
/// call lasts at most 25 s).
const AGENTPHONE_RATE_LIMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The tools' surroundings: this command's context. The clients are built
/// once and reused by every tool call (one connection pool, and the TLS
/// set-up is not paid per call).
struct FromContext {
    ctx: Context,
    redactor: Redactor,
    clawdtalk: OnceLock<Client>,
    agentphone: OnceLock<AgentPhone>,
}

/// `slot`'s client, built by `build` on first success.
fn reused<T: Clone>(slot: &OnceLock<T>, build: impl FnOnce() -> Result<T>) -> Result<T> {
    if let Some(c) = slot.get() {
        return Ok(c.clone());
    }
    let c = build()?;
    Ok(slot.get_or_init(|| c).clone())
}

impl Surroundings for FromContext {
    fn client(&self) -> Result<Client> {
        reused(&self.clawdtalk, || self.ctx.client())
    }
    fn api_service(&self) -> Result<crate::lifecycle::api_service::ApiService> {
        Ok(crate::lifecycle::api_service::ApiService::new(
            self.client()?,
            self.ctx.clock.clone(),
            self.ctx.service_clock.clone(),
        ))
    }
    fn agentphone(&self) -> Result<AgentPhone> {
        reused(&self.agentphone, || self.ctx.agentphone(AGENTPHONE_RATE_LIMIT_WAIT))
    }
    fn state(&self) -> Result<StateStore> {
        self.ctx.state()
    }
    fn now(&self) -> DateTime<Utc> {
        self.ctx.now()
    }
    fn service_now(&self) -> BoxFuture<'_, DateTime<Utc>> {
        Box::pin(self.ctx.service_now())
    }
    fn record(&self, entries: Vec<Entry>) -> BoxFuture<'_, ()> {
        Box::pin(self.ctx.record_all(entries))
    }
    fn claim(&self) -> Claim {
        claim(&self.ctx)
    }
    fn owner_phone(&self) -> Option<String> {
        self.ctx.config.owner_phone.clone()
    }
    fn redact(&self, text: &str) -> String {
        redact_shapes(&self.redactor.redact(text))
    }
    fn gate(&self) -> BoxFuture<'_, Result<crate::outbound::Gate>> {
        Box::pin(self.ctx.gate())
    }
    fn daily_cap(&self) -> Result<Option<(u32, crate::campaign::plan::OwnerZone)>> {
        self.ctx.daily_cap()
    }
}

/// `clawdtalk mcp [--tools a,b] [--all-tools] [--no-approval]`.
pub async fn run(ctx: &Context, a: McpArgs) -> Result<Outcome> {
    let tools = mcp::select_tools(&a.tools, a.all_tools)?;
    let opts = Options { tools, approval: !a.no_approval, approval_wait: a.approval_wait };
    let env = FromContext {
        ctx: ctx.clone(),
        redactor: Redactor::from_config(&ctx.config),
        clawdtalk: OnceLock::new(),
        agentphone: OnceLock::new(),
    };
    mcp::serve(Arc::new(env), opts).await?;
    // Everything went over the protocol: nothing more for stdout.
    Ok(Outcome::streamed())
}
