//! Direct calls (docs/protocol.md#direct-calls-sms-and-approvals): `POST /calls`, `GET /calls/{id}`,
//! `POST /calls/{id}/end`. Unlike missions, these place one call right now,
//! to the owner's verified phone or (paid accounts) to another number.

use serde_json::{json, Map, Value};

use super::client::error_message;
use super::envelope::{self, decode};
use super::models::{Call, CallRequest};
use super::{ApiPath, Client};
use crate::error::{Error, Result};

const ENVELOPE: &[&str] = &["call", "data"];

/// Why a call is ended when the caller gives no reason.
pub const DEFAULT_END_REASON: &str = "user_ended";

/// Statuses after which a call will not change any more.
pub const ENDED_STATUSES: &[&str] = &[
    "completed",
    "ended",
    "failed",
    "busy",
    "no-answer",
    "no_answer",
    "canceled",
    "cancelled",
    "rejected",
    "voicemail",
    "hangup",
];

/// True when `status` is one of [`ENDED_STATUSES`].
pub fn is_ended(status: &str) -> bool {
    ENDED_STATUSES.contains(&status)
}

/// The JSON body for `POST /calls`: `{}` calls the owner; `to`, `greeting`
/// and `context.purpose` only when given.
pub fn create_body(req: &CallRequest) -> Value {
    let mut body = Map::new();
    if let Some(to) = &req.to {
        body.insert("to".into(), json!(to));
    }
    if let Some(g) = &req.greeting {
        body.insert("greeting".into(), json!(g));
    }
    if let Some(p) = &req.purpose {
        body.insert("context".into(), json!({ "purpose": p }));
    }
    Value::Object(body)
}

/// Decode a call object; a bare `id` becomes `call_id`.
pub fn to_call(reply: Value) -> Result<Call> {
    let mut obj = envelope::one(reply, ENVELOPE);
    if obj.get("call_id").is_none_or(Value::is_null) {
        if let (Some(id), Value::Object(map)) = (envelope::id(&obj, &["id"]), &mut obj) {
            map.insert("call_id".into(), Value::String(id));
        }
    }
    decode(obj, "call")
}

/// Interpret the reply to `POST /calls`. The service can answer 2xx with an
/// error document instead of a call (`.error.message` or `.message`); a reply
/// without a `call_id` is a failure too, since nothing can be followed.
pub fn started(reply: Value) -> Result<Call> {
    let failed = |reply: &Value| {
        let why = error_message(reply).unwrap_or_else(|| "the service did not return a call_id".to_string());
        Error::failed(format!("the call was not started: {why}"))
    };
    if reply.get("error").is_some_and(|e| !e.is_null()) {
        return Err(failed(&reply));
    }
    let call = to_call(reply.clone())?;
    if call.call_id.is_none() {
        return Err(failed(&reply));
    }
    Ok(call)
}

/// Place a call now.
pub async fn create(c: &Client, req: &CallRequest) -> Result<Call> {
    started(c.post(&ApiPath::new("/calls"), &create_body(req)).await?)
}

/// Fetch a call's current state.
pub async fn get(c: &Client, call_id: &str) -> Result<Call> {
    to_call(c.get(&ApiPath::new("/calls").id("CALL_ID", call_id)?, &[]).await?)
}

/// Hang up a call. Returns the service's reply as is (it may be empty).
pub async fn end(c: &Client, call_id: &str, reason: &str) -> Result<Value> {
    c.post(&ApiPath::new("/calls").id("CALL_ID", call_id)?.lit("end"), &json!({ "reason": reason })).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_request_calls_the_owner_with_an_empty_body() {
        assert_eq!(create_body(&CallRequest::default()), json!({}));
    }

    #[test]
    fn body_carries_to_greeting_and_purpose_as_context() {
        let req = CallRequest {
            to: Some("+15551234567".into()),
            greeting: Some("Hi".into()),
            purpose: Some("Book a table".into()),
        };
        assert_eq!(
            create_body(&req),
            json!({"to": "+15551234567", "greeting": "Hi", "context": {"purpose": "Book a table"}})
        );
    }

    #[test]
    fn started_accepts_a_call_id_and_keeps_other_fields() {
        let c = started(json!({"status": "initiating", "call_id": "c1", "to": "+1555"})).unwrap();
        assert_eq!(c.call_id.as_deref(), Some("c1"));
        assert_eq!(c.status.as_deref(), Some("initiating"));
        assert_eq!(c.extra["to"], "+1555");
    }

    #[test]
    fn started_refuses_an_error_document_with_its_message() {
        let e = started(json!({"error": {"code": "no_phone", "message": "Verify your phone first"}})).unwrap_err();
        assert!(e.to_string().contains("Verify your phone first"), "{e}");
        let e = started(json!({"message": "Paid plan required"})).unwrap_err();
        assert!(e.to_string().contains("Paid plan required"), "{e}");
    }

    #[test]
    fn a_bare_id_becomes_the_call_id() {
        let c = to_call(json!({"data": {"id": "c9", "status": "completed"}})).unwrap();
        assert_eq!(c.call_id.as_deref(), Some("c9"));
        assert!(is_ended("completed") && is_ended("no-answer") && !is_ended("ringing"));
    }
}
