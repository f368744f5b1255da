//! `clawdtalk`: phone calls, SMS and multi-step calling missions for AI
//! agents through the ClawdTalk service (and AgentPhone).
//!
//! Data flows one way: `cli` (clap definitions) → `commands` (one module per
//! noun) → `api` | `state` | `ledger` | `lifecycle` → `output`. The library never prints
//! (except through `output::Printer`, which the binary drives) and never exits.

pub mod agentphone;
pub mod api;
pub mod campaign;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connect;
pub mod error;
pub mod journal;
pub mod ledger;
pub mod lifecycle;
pub mod mcp;
pub mod openclaw;
pub mod outbound;
pub mod output;
pub mod redact;
pub mod sandbox;
pub mod skill;
pub mod state;
pub mod task;
#[cfg(test)]
pub mod testing;
pub mod validate;

pub use error::{Error, Result};
