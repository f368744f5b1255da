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

// ─── Direct calls, SMS and approvals (contract §2.3) ─────────────────────────
// The service answers these at the top level (no `.data` envelope); the
// modules still accept `.call`/`.data` wrappers, which cost nothing.

/// A direct call (`POST /calls` reply, `GET /calls/{id}`). The service names
/// the id `call_id`; `api::calls` copies a bare `id` into it when needed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Call {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// `initiating`, `ringing`, `in-progress`, then an ending status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What to ask for with `POST /calls`. All empty: the service calls the owner.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallRequest {
    /// E.164 number to call instead of the owner's phone.
    pub to: Option<String>,
    /// First sentence the agent says.
    pub greeting: Option<String>,
    /// Why the call is made, sent as `context.purpose` (the agent reads it).
    pub purpose: Option<String>,
}

/// The reply to `POST /messages/send`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SentMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The number the message was sent from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One SMS of `GET /messages`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Message {
    /// `inbound` or `outbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A page of `GET /messages`: the messages and `.pagination.total`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// Total messages matching the query (all pages), when the service says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Filters for `GET /messages`.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageQuery {
    pub limit: u32,
    pub contact: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
}

impl Default for MessageQuery {
    /// 20 messages, as the original `sms.sh list`.
    fn default() -> Self {
        MessageQuery { limit: 20, contact: None, direction: None }
    }
}

/// One SMS thread of `GET /messages/conversations`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Conversation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Text of the thread's latest message (a string on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /approvals`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApprovalRequest {
    /// What the agent wants to do, shown to the owner.
    pub action: String,
    pub require_biometric: bool,
    /// Seconds the owner has to decide.
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Reply to `POST /approvals`: the request id and how many of the owner's
/// devices got the push notification.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ApprovalCreated {
    pub request_id: String,
    #[serde(default)]
    pub devices_notified: u64,
    #[serde(default)]
    pub devices_failed: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /approvals/{id}`: `status` is `pending`, `approved`, `denied` or `expired`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Approval {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
// ─── end of direct calls, SMS and approvals ──────────────────────────────────
