//! `clawdtalk mcp`: an MCP server over stdio (docs/mcp.md) on the official
//! Rust SDK, `rmcp`. Its tools call the same library functions as the
//! commands (`ledger`, `api`, `lifecycle`, `state`), so a bot may mix MCP
//! and CLI calls on one mission: the state lock and the bookkeeping are the
//! same.
//!
//! - `server.rs`: the rmcp `ServerHandler`, tool selection, results and errors;
//! - `mission.rs`, `campaign.rs`, `memory.rs`, `direct.rs`, `agentphone.rs`: one file per tool group;
//! - `guard.rs`: the owner's approval before anything dials or texts someone
//!   else, and the pending operations it keeps (exactly once).
//!
//! The library never prints: stdout is the protocol, logs go to stderr.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::agentphone::AgentPhone;
use crate::api::Client;
use crate::error::Result;
use crate::journal::Entry;
use crate::ledger::Claim;
use crate::state::StateStore;

pub mod agentphone;
pub mod campaign;
pub mod direct;
pub mod guard;
pub mod memory;
pub mod mission;
pub mod server;

pub use server::{select_tools, serve, Options, ALL_TOOLS, DEFAULT_TOOLS};

/// Longest a tool call takes (docs/mcp.md#long-operations): anything slower
/// answers `pending` with a handle.
pub const TOOL_CALL_LIMIT_SECS: u64 = 25;

/// What the tools need from their surroundings, resolved the way the
/// commands resolve it (configuration, clients, state file, clocks,
/// journal). The binary hands in the command layer's `Context`; tests may
/// hand in anything else.
pub trait Surroundings: Send + Sync + 'static {
    /// The ClawdTalk client (a configuration error without a key).
    fn client(&self) -> Result<Client>;
    /// Poll's view of the service (mission status and cancel).
    fn api_service(&self) -> Result<crate::lifecycle::api_service::ApiService>;
    /// The AgentPhone client (a configuration error without its key).
    fn agentphone(&self) -> Result<AgentPhone>;
    /// The mission state file.
    fn state(&self) -> Result<StateStore>;
    /// Now, on the service's clock as far as it is known.
    fn now(&self) -> DateTime<Utc>;
    /// Now on the service's clock, sampled first when no recent sample exists.
    fn service_now(&self) -> BoxFuture<'_, DateTime<Utc>>;
    /// Append to the event journal (never fails).
    fn record(&self, entries: Vec<Entry>) -> BoxFuture<'_, ()>;
    /// A fresh claim on owed run events for this process.
    fn claim(&self) -> Claim;
    /// The owner's own number, when configured.
    fn owner_phone(&self) -> Option<String>;
    /// `text` with every configured secret and key shape removed.
    fn redact(&self, text: &str) -> String;
    /// The one outbound gate (docs/optout.md): the opt-out list, read now.
    fn gate(&self) -> BoxFuture<'_, Result<crate::outbound::Gate>>;
    /// `daily_call_cap` and the owner's zone it counts days in, when configured.
    fn daily_cap(&self) -> Result<Option<(u32, crate::campaign::plan::OwnerZone)>>;
}
