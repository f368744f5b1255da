//! Serde models of the service's objects. Each keeps the fields the client
//! relies on and carries every other field along in `extra`, so `--json`
//! shows the whole object and nothing the service adds is lost.
//!
//! Fields the service may send as `null`, or ids it may send as numbers, are
//! read leniently ([`lenient_string`], [`null_default`]): a surprising but
//! harmless reply must not turn a successful request into a failure.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A string field that may arrive as a string, a number, or `null`.
pub fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A required id that may arrive as a string or a number.
fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    lenient_string(d)?.ok_or_else(|| serde::de::Error::custom("id is missing or not a string"))
}

/// `null` (or a value of the wrong type) reads as the type's default.
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + serde::de::DeserializeOwned,
{
    Ok(serde_json::from_value(Value::deserialize(d)?).unwrap_or_default())
}

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

// ─── Direct calls, SMS and approvals (docs/protocol.md#direct-calls-sms-and-approvals)
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

/// A mission run. The service calls its id `run_id` (sometimes `id`); the
/// client copies it into `id` so both are present.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Run {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An event logged on a run (`POST/GET …/runs/{rid}/events`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RunEvent {
    #[serde(default, rename = "type", deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A voice/SMS assistant (`/assistants`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Assistant {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub enabled_features: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One page of `GET /assistants`, with the paging the service reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssistantPage {
    pub assistants: Vec<Assistant>,
    pub page: u32,
    pub total_pages: u64,
    pub total: u64,
}

/// A phone number on the account (`/numbers/account-phones`). A number
/// without `connection_id` is available.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Phone {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub phone_number: String,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Phone {
    /// Whether the number is free to use (not assigned to a connection).
    pub fn is_available(&self) -> bool {
        self.connection_id.as_deref().is_none_or(str::is_empty)
    }
}

/// A scheduled call or SMS (`/assistants/{aid}/events`). The poll engine
/// reads `status` (`pending, in_progress, completed, failed`), `call_status`
/// (`ringing, in-progress, completed, no-answer, busy, canceled, failed`),
/// `conversation_id` (for insights) and `retry_count`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScheduledEvent {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub call_status: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub retry_count: u32,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub mission_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Scheduled event statuses after which nothing more will happen.
pub const EVENT_TERMINAL_STATUSES: &[&str] = &["completed", "failed"];
/// Call outcomes worth another attempt.
pub const RETRYABLE_CALL_STATUSES: &[&str] = &["no-answer", "busy", "failed"];

impl ScheduledEvent {
    /// The event reached `completed` or `failed`.
    pub fn is_terminal(&self) -> bool {
        self.status.as_deref().is_some_and(|s| EVENT_TERMINAL_STATUSES.contains(&s))
    }
    /// The call ended in an outcome worth retrying (`no-answer`, `busy`, `failed`).
    pub fn call_retryable(&self) -> bool {
        self.call_status.as_deref().is_some_and(|s| RETRYABLE_CALL_STATUSES.contains(&s))
    }
}

/// One insight record of a conversation. Only records whose `status` is
/// `completed` carry results worth reading.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Insight {
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub conversation_insights: Vec<InsightResult>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Insight {
    pub fn is_completed(&self) -> bool {
        self.status.as_deref() == Some("completed")
    }
}

/// One result inside an insight record (text, or structured JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct InsightResult {
    #[serde(default)]
    pub result: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An assistant linked to a run (`…/runs/{rid}/agents`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LinkedAgent {
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub telnyx_agent_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scheduled_event_reads_poll_fields_and_keeps_the_rest() {
        let e: ScheduledEvent = serde_json::from_value(json!({
            "id": 42, "status": "completed", "call_status": "no-answer", "conversation_id": "conv_1",
            "retry_count": null, "custom": {"x": 1}
        }))
        .unwrap();
        assert_eq!(e.id, "42");
        assert_eq!(e.retry_count, 0);
        assert!(e.is_terminal() && e.call_retryable());
        assert_eq!(e.extra["custom"], json!({"x": 1}));
        let back = serde_json::to_value(&e).unwrap();
        assert_eq!(back["conversation_id"], "conv_1");
        assert_eq!(back["custom"]["x"], 1);
    }

    #[test]
    fn phone_without_connection_is_available() {
        let p: Phone = serde_json::from_value(json!({"id": "p1", "phone_number": "+15550001111"})).unwrap();
        assert!(p.is_available());
        let p: Phone =
            serde_json::from_value(json!({"id": "p2", "phone_number": "+15550001112", "connection_id": "c"})).unwrap();
        assert!(!p.is_available());
    }
}
