//! Direct calls, SMS and approvals (docs/protocol.md#direct-calls-sms-and-approvals: `{server}/v1/calls`,
//! `/v1/messages…`, `/v1/approvals…`), answered at the top level as the
//! service does.
//!
//! Approvals are decided through `POST /_sandbox/approvals/{id}/decide`, or
//! automatically when the action text contains `[approve]` or `[deny]`.
//! Device counts come from `POST /_sandbox/approvals/devices` (default 1
//! notified, 0 failed), or from the action text: `[no_devices]` (0, 0) and
//! `[no_devices_reached]` (0, 1).

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::Router;
use chrono::Duration;
use serde_json::{json, Value};

use super::api::call_ended_fields;
use super::model::{rfc3339, Approval, DirectCall, Due, Fate, Sms, OWNER_NUMBER};
use super::{body_object, created, e164, ok, opt_str, req_str, ApiError, ApiResult, Shared};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/calls", post(create_call))
        .route("/calls/{id}", get(get_call))
        .route("/calls/{id}/end", post(end_call))
        .route("/messages/send", post(send_sms))
        .route("/messages", get(list_sms))
        .route("/messages/conversations", get(sms_threads))
        .route("/approvals", post(create_approval))
        .route("/approvals/{id}", get(get_approval))
}

/// The number the sandbox sends SMS and places calls from.
pub fn agent_number(d: &super::Data) -> String {
    d.phones
        .iter()
        .find_map(|p| p.get("phone_number").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "+15550100001".into())
}

async fn create_call(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = if body.iter().all(u8::is_ascii_whitespace) { Default::default() } else { body_object(&body)? };
    let to = match opt_str(&b, "to")? {
        Some(t) => e164("to", &t)?,
        None => OWNER_NUMBER.to_string(),
    };
    let greeting = opt_str(&b, "greeting")?;
    let purpose = match b.get("context") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => opt_str(c, "purpose")?,
        Some(v) => {
            return Err(ApiError::unprocessable(format!(
                "context must be an object like {{\"purpose\": \"…\"}}, got {v}"
            )))
        }
    };
    let now = s.clock.now();
    let mut d = s.write();
    let id = d.new_id("call");
    // Attempts are counted per number, as for scheduled calls: +15005550005
    // is busy the first time only.
    let attempt = d.next_direct_attempt(&to);
    let fate = Fate::of_call(&to, attempt);
    let call = DirectCall {
        id: id.clone(),
        from: agent_number(&d),
        to,
        greeting,
        purpose,
        created_at: now,
        fate,
        ended: None,
    };
    let out = call.to_json(now);
    d.schedule(call.natural_end(), Due::CallEnd { call_id: id.clone() });
    d.calls.insert(id, call);
    s.rearm(&d);
    created(out)
}

async fn get_call(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let now = s.clock.now();
    let d = s.read();
    let c = d.calls.get(&id).ok_or_else(|| ApiError::not_found("call", &id))?;
    ok(c.to_json(now))
}

async fn end_call(State(s): State<Shared>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let b = if body.iter().all(u8::is_ascii_whitespace) { Default::default() } else { body_object(&body)? };
    let reason = opt_str(&b, "reason")?.unwrap_or_else(|| "user_ended".into());
    let now = s.clock.now();
    let (out, push) = {
        let mut d = s.write();
        let c = d.calls.get_mut(&id).ok_or_else(|| ApiError::not_found("call", &id))?;
        if now >= c.end_time() {
            return Err(ApiError(
                axum::http::StatusCode::CONFLICT,
                format!("call {id} already ended ({})", c.status(now)),
            ));
        }
        c.ended = Some((now, reason));
        (c.to_json(now), call_ended_fields(c))
    };
    s.push_event("call.ended", push);
    ok(out)
}

async fn send_sms(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let to = e164("to", &req_str(&b, "to")?)?;
    let message = req_str(&b, "message")?;
    if message.chars().count() > 1600 {
        return Err(ApiError::unprocessable("message is longer than 1600 characters"));
    }
    let media_urls = match b.get("media_urls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|u| u.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::unprocessable("media_urls must be a list of URL strings"))?,
        Some(v) => return Err(ApiError::unprocessable(format!("media_urls must be a list, got {v}"))),
    };
    let now = s.clock.now();
    let mut d = s.write();
    let id = d.new_id("msg");
    let sms = Sms {
        id,
        direction: "outbound",
        from: agent_number(&d),
        to: to.clone(),
        body: message,
        media_urls,
        created_at: now,
        status: if Fate::of_sms(&to) == Fate::Failed { "failed" } else { "delivered" },
    };
    let out = json!({"id": sms.id, "from": sms.from, "to": sms.to, "status": "queued"});
    d.messages.push(sms);
    ok(out)
}

async fn list_sms(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    let limit =
        match q.get("limit") {
            None => 20,
            Some(v) => v.parse::<usize>().ok().filter(|n| (1..=200).contains(n)).ok_or_else(|| {
                ApiError::unprocessable(format!("limit must be a whole number from 1 to 200, got {v:?}"))
            })?,
        };
    if let Some(dir) = q.get("direction") {
        if dir != "inbound" && dir != "outbound" {
            return Err(ApiError::unprocessable(format!("direction {dir:?} is not one of inbound, outbound")));
        }
    }
    let d = s.read();
    let matching: Vec<&Sms> = d
        .messages
        .iter()
        .rev()
        .filter(|m| q.get("contact").is_none_or(|c| m.contact() == c))
        .filter(|m| q.get("direction").is_none_or(|dir| m.direction == dir))
        .collect();
    let total = matching.len();
    let list: Vec<Value> = matching.into_iter().take(limit).map(Sms::to_json).collect();
    ok(json!({"messages": list, "pagination": {"total": total, "limit": limit}}))
}

async fn sms_threads(State(s): State<Shared>) -> ApiResult {
    let d = s.read();
    let mut last: BTreeMap<&str, &Sms> = BTreeMap::new();
    for m in &d.messages {
        last.insert(m.contact(), m);
    }
    let mut threads: Vec<&&Sms> = last.values().collect();
    threads.sort_by_key(|m| std::cmp::Reverse(m.created_at));
    let list: Vec<Value> = threads
        .into_iter()
        .map(|m| {
            json!({
                "contact": m.contact(),
                "last_message": m.body,
                "last_message_at": rfc3339(m.created_at),
                "direction": m.direction,
            })
        })
        .collect();
    ok(json!({ "conversations": list }))
}

async fn create_approval(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let action = req_str(&b, "action")?;
    let require_biometric = match b.get("require_biometric") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(x)) => *x,
        Some(v) => return Err(ApiError::unprocessable(format!("require_biometric must be true or false, got {v}"))),
    };
    let expires_in = match b.get("expires_in") {
        None | Some(Value::Null) => 300,
        Some(v) => v
            .as_i64()
            .filter(|n| (1..=86_400).contains(n))
            .ok_or_else(|| ApiError::unprocessable(format!("expires_in must be seconds from 1 to 86400, got {v}")))?,
    };
    let now = s.clock.now();
    let mut d = s.write();
    let id = d.new_id("apr");
    let lower = action.to_ascii_lowercase();
    let (notified, failed) = if lower.contains("[no_devices_reached]") {
        (0, 1)
    } else if lower.contains("[no_devices]") {
        (0, 0)
    } else {
        d.devices
    };
    let a = Approval {
        id: id.clone(),
        action,
        details: b.get("details").cloned(),
        require_biometric,
        created_at: now,
        expires_at: now + Duration::seconds(expires_in),
        decision: None,
        devices_notified: notified,
        devices_failed: failed,
    };
    if a.auto_decision().is_some() {
        d.schedule(
            now + Duration::seconds(super::model::AUTO_DECISION_SECONDS),
            Due::ApprovalDecision { id: id.clone() },
        );
    }
    d.approvals.insert(id.clone(), a);
    s.rearm(&d);
    created(json!({"request_id": id, "devices_notified": notified, "devices_failed": failed}))
}

async fn get_approval(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let now = s.clock.now();
    let d = s.read();
    let a = d.approvals.get(&id).ok_or_else(|| ApiError::not_found("approval", &id))?;
    ok(a.to_json(now))
}
