//! Mission bookkeeping: what a mission's entry in the state file records
//! about the work done for it on the service, and the run events that work
//! owes. Scheduling a call, placing an AgentPhone call, starting, equipping
//! and completing a mission all write the same records and owe the same
//! kind of run events; this module is their one home, so every command (and
//! `demo`) keeps the books the same way instead of borrowing another
//! command's code.
//!
//! It takes what it needs as values: a ClawdTalk client (built on first
//! need, see [`ClientSource`]), the [`crate::state::StateStore`], and the
//! time. It never sees a command's context, never prints and never exits.
//! Network requests are never made while the state file is locked.

use crate::api::Client;
use crate::error::Result;

pub mod agentphone;
pub mod assistant;
pub mod claim;
pub mod memory;
pub mod mission;
pub mod report;
pub mod schedule;

pub use agentphone::{retry_owed, Booking};
pub use assistant::AssistantRequest;
pub use claim::{send_claimed, Claim, OwedEvent};
pub use mission::{complete, init, setup_agent, CompleteRequest, InitRequest, SetupAgentRequest};
pub use schedule::{record_cancelled, resolve_schedule, schedule, scheduled_outcome, track_scheduled, ScheduleRequest};

/// Where a ledger operation gets its ClawdTalk client. Built only when a
/// step actually talks to the service: a workflow that resumes from the
/// state file needs no API key, and bad input is reported as such before a
/// missing key is.
pub trait ClientSource {
    fn client(&self) -> Result<Client>;
}

impl<F: Fn() -> Result<Client>> ClientSource for F {
    fn client(&self) -> Result<Client> {
        self()
    }
}
