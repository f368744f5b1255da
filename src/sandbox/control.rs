//! The control API under `/_sandbox/` (no auth, never rate-limited or
//! failed on purpose): for tests, demos and `clawdtalk sandbox call-in`.
//!
//! | route | what |
//! |---|---|
//! | `GET clock` | `{now, speed, advanced_seconds}` |
//! | `POST clock/advance {"seconds"}` | move the sandbox clock forward |
//! | `GET requests` / `DELETE requests` | every API request received (method, path, query, body, status) / clear |
//! | `GET state` | everything in memory, events with their current state |
//! | `GET events/summary` | scheduled events counted by status and call_status |
//! | `POST ws/inject {"event":{…}}` | push an event to authenticated /ws clients |
//! | `GET ws/received` | messages /ws clients sent (`?since=N` skips the first N) |
//! | `POST ws/drop {"code"?}` | close every /ws socket (default code 1000) |
//! | `POST call-in {"question","timeout_seconds"?}` | play an inbound call, wait for the `deep_tool_result` |
//! | `POST sms/inject {"from","body"}` | an inbound SMS: stored and pushed as `sms.received` |
//! | `POST approvals/{id}/decide {"decision"}` | approve or deny; pushes `approval.responded` |
//! | `POST approvals/devices {"notified","failed"}` | device counts for new approvals |
//! | `GET messages/sent` | SMS sent through the API |
//! | `GET agent/transcripts` | the stand-in agent's sessions: every message, its time come or not |
//! | `POST agent/reply {"text","session"?}` | the stand-in agent replies now in a session (default `agent:main:main`) |
//! | `PUT phones {"phones":[…]}` | replace the account's phone numbers |

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

use super::model::{rfc3339, Sms, OWNER_NUMBER};
use super::{body_object, e164, ok, opt_str, req_str, ApiError, ApiResult, Shared, WsCmd};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/state", get(state))
        .route("/events/summary", get(events_summary))
        .route("/ws/inject", post(ws_inject))
        .route("/ws/received", get(ws_received))
        .route("/ws/drop", post(ws_drop))
        .route("/call-in", post(call_in))
        .route("/agent/transcripts", get(transcripts))
        .route("/agent/reply", post(agent_reply))
        .route("/sms/inject", post(sms_inject))
        .route("/approvals/devices", post(approval_devices))
        .route("/approvals/{id}/decide", post(decide))
        .route("/messages/sent", get(messages_sent))
        .route("/phones", axum::routing::put(put_phones))
}

fn clock_json(s: &Shared) -> Value {
    json!({
        "now": rfc3339(s.clock.now()),
        "now_ms": s.clock.now().timestamp_millis(),
        "speed": s.clock.speed(),
        "advanced_seconds": s.clock.advanced_seconds(),
    })
}

async fn clock(State(s): State<Shared>) -> ApiResult {
    ok(clock_json(&s))
}

async fn advance(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let secs = b
        .get("seconds")
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| ApiError::unprocessable("seconds is required: a number ≥ 0"))?;
    s.clock.advance(secs);
    s.settle();
    ok(clock_json(&s))
}

async fn requests(State(s): State<Shared>) -> ApiResult {
    let log = s.log.lock().unwrap_or_else(|e| e.into_inner());
    ok(json!({"requests": log.entries, "dropped": log.dropped}))
}

async fn clear_requests(State(s): State<Shared>) -> ApiResult {
    let mut log = s.log.lock().unwrap_or_else(|e| e.into_inner());
    log.entries.clear();
    log.dropped = 0;
    ok(json!({"cleared": true}))
}

async fn state(State(s): State<Shared>) -> ApiResult {
    s.settle();
    let now = s.clock.now();
    let d = s.read();
    let missions: Vec<Value> = d
        .missions
        .values()
        .map(|m| {
            let mut o = m.obj.clone();
            let runs: Vec<Value> = m
                .runs
                .values()
                .map(|r| {
                    let mut ro = r.obj.clone();
                    ro.insert("plan".into(), json!(r.plan));
                    ro.insert("events".into(), json!(r.events));
                    ro.insert("agents".into(), json!(r.agents));
                    Value::Object(ro)
                })
                .collect();
            o.insert("runs".into(), json!(runs));
            Value::Object(o)
        })
        .collect();
    let assistants: Vec<Value> = d
        .assistants
        .values()
        .map(|a| {
            let mut o = a.obj.clone();
            let evs: Vec<Value> = a.events.values().map(|e| e.to_json(now)).collect();
            o.insert("events".into(), json!(evs));
            Value::Object(o)
        })
        .collect();
    ok(json!({
        "clock": clock_json(&s),
        "missions": missions,
        "assistants": assistants,
        "phones": d.phones,
        "calls": d.calls.values().map(|c| c.to_json(now)).collect::<Vec<_>>(),
        "messages": d.messages.iter().map(Sms::to_json).collect::<Vec<_>>(),
        "approvals": d.approvals.values().map(|a| a.to_json(now)).collect::<Vec<_>>(),
        "ws_clients": s.ws_clients.load(Ordering::Relaxed),
    }))
}

async fn events_summary(State(s): State<Shared>) -> ApiResult {
    let now = s.clock.now();
    let d = s.read();
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_call_status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut total = 0u64;
    for a in d.assistants.values() {
        for e in a.events.values() {
            let v = e.view(now);
            total += 1;
            *by_status.entry(v.status).or_default() += 1;
            if let Some(c) = v.call_status {
                *by_call_status.entry(c).or_default() += 1;
            }
        }
    }
    ok(json!({"total": total, "by_status": by_status, "by_call_status": by_call_status}))
}

/// The body's `event` is sent flat, as the service sends events: an object
/// naming its event in `event` (or `type`/`name`) becomes
/// `{"type":"event","event":NAME,…its other fields}`; a string `event` takes
/// the body's other fields. `{"message":{…}}` is sent exactly as given.
async fn ws_inject(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    if let Some(m) = b.get("message") {
        s.push_raw(m);
        return ok(json!({"sent_to": s.ws_clients.load(Ordering::Relaxed), "message": m}));
    }
    let (name, fields) = match b.get("event") {
        Some(Value::Object(e)) => {
            let name = ["event", "type", "name"]
                .iter()
                .find_map(|k| e.get(*k).and_then(Value::as_str).filter(|n| *n != "event"))
                .ok_or_else(|| ApiError::unprocessable("event needs its name in event.event (e.g. \"sms.received\")"))?
                .to_string();
            let mut f = e.clone();
            f.remove("name");
            (name, f)
        }
        Some(Value::String(n)) => {
            let mut f = b.clone();
            f.remove("event");
            (n.clone(), f)
        }
        _ => return Err(ApiError::unprocessable("event is required: {\"event\": {\"event\": NAME, …fields}}")),
    };
    s.push_event(&name, Value::Object(fields.clone()));
    let mut sent = fields;
    sent.insert("type".into(), json!("event"));
    sent.insert("event".into(), json!(name));
    ok(json!({"sent_to": s.ws_clients.load(Ordering::Relaxed), "message": sent}))
}

async fn ws_received(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    let since = q.get("since").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let r = s.ws_received.lock().unwrap_or_else(|e| e.into_inner());
    let msgs: Vec<&Value> = r.iter().skip(since).collect();
    ok(json!({"messages": msgs, "total": r.len(), "clients": s.ws_clients.load(Ordering::Relaxed)}))
}

async fn ws_drop(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let code = if body.iter().all(u8::is_ascii_whitespace) {
        1000
    } else {
        match body_object(&body)?.get("code") {
            None | Some(Value::Null) => 1000,
            Some(v) => v.as_u64().filter(|c| (1000..=4999).contains(c)).ok_or_else(|| {
                ApiError::unprocessable(format!("code must be a close code from 1000 to 4999, got {v}"))
            })? as u16,
        }
    };
    let clients = s.ws_clients.load(Ordering::Relaxed);
    let _ = s.ws_tx.send(WsCmd::Drop(code));
    ok(json!({"code": code, "clients": clients}))
}

/// Play an inbound call to a connected `clawdtalk connect`: `context_request`,
/// `call.started` (inbound), then a `deep_tool_request` with the question;
/// wait for the client's `deep_tool_result` and answer with its text.
async fn call_in(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let question = req_str(&b, "question")?;
    let timeout = b.get("timeout_seconds").and_then(Value::as_f64).filter(|t| *t > 0.0).unwrap_or(120.0);
    if s.ws_clients.load(Ordering::Relaxed) == 0 {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "no authenticated /ws client: start `clawdtalk connect` against this sandbox first".into(),
        ));
    }
    let (call_id, request_id) = {
        let mut d = s.write();
        (d.new_id("call_in"), d.new_id("req"))
    };
    let since = s.ws_received.lock().unwrap_or_else(|e| e.into_inner()).len();
    let started = std::time::Instant::now();
    s.push_event("context_request", json!({"call_id": call_id}));
    s.push_event("call.started", json!({"call_id": call_id, "direction": "inbound", "from": OWNER_NUMBER}));
    s.push_event(
        "deep_tool_request",
        json!({"call_id": call_id, "request_id": request_id, "query": question, "context": {"source": "sandbox call-in"}}),
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs_f64(timeout);
    let result = loop {
        let notified = s.ws_notify.notified();
        let found = {
            let r = s.ws_received.lock().unwrap_or_else(|e| e.into_inner());
            let mine: Vec<Value> = r
                .iter()
                .skip(since)
                .filter(|m| {
                    m.get("call_id") == Some(&json!(call_id)) || m.get("request_id") == Some(&json!(request_id))
                })
                .cloned()
                .collect();
            mine.iter().any(|m| m["type"] == "deep_tool_result").then_some(mine)
        };
        if let Some(mine) = found {
            break Some(mine);
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            break None;
        }
    };
    let duration = started.elapsed().as_secs();
    s.push_event(
        "call.ended",
        json!({"call_id": call_id, "direction": "inbound", "duration_seconds": duration, "reason": "caller_hung_up"}),
    );
    let Some(mine) = result else {
        return Err(ApiError(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no deep_tool_result for request {request_id} within {timeout} s"),
        ));
    };
    let texts = |ty: &str| -> Vec<Value> {
        mine.iter().filter(|m| m["type"] == ty).map(|m| m.get("text").cloned().unwrap_or(Value::Null)).collect()
    };
    let answer = texts("deep_tool_result").into_iter().next().unwrap_or(Value::Null);
    ok(json!({
        "call_id": call_id,
        "request_id": request_id,
        "answer": answer,
        "greeting": texts("response").into_iter().next(),
        "progress": texts("deep_tool_progress"),
        "context_response": mine.iter().any(|m| m["type"] == "context_response"),
    }))
}

async fn sms_inject(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let from = e164("from", &req_str(&b, "from")?)?;
    let text = req_str(&b, "body")?;
    let now = s.clock.now();
    let sms = {
        let mut d = s.write();
        let to = match opt_str(&b, "to")? {
            Some(t) => t,
            None => super::direct::agent_number(&d),
        };
        let id = d.new_id("msg");
        let sms = Sms {
            id,
            direction: "inbound",
            from,
            to,
            body: text,
            media_urls: Vec::new(),
            created_at: now,
            status: "received",
        };
        d.messages.push(sms.clone());
        sms
    };
    s.push_event("sms.received", json!({"from": sms.from, "to": sms.to, "body": sms.body, "message_id": sms.id}));
    ok(json!({"message": sms.to_json(), "sent_to": s.ws_clients.load(Ordering::Relaxed)}))
}

async fn decide(State(s): State<Shared>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let decision = match req_str(&b, "decision")?.as_str() {
        "approved" | "approve" => "approved",
        "denied" | "deny" => "denied",
        other => return Err(ApiError::unprocessable(format!("decision {other:?} is not one of approved, denied"))),
    };
    let out = {
        let mut d = s.write();
        let a = d.approvals.get_mut(&id).ok_or_else(|| ApiError::not_found("approval", &id))?;
        a.decision = Some(decision.to_string());
        a.to_json(s.clock.now())
    };
    s.push_event("approval.responded", json!({"request_id": id, "decision": decision}));
    ok(out)
}

async fn approval_devices(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let count = |k: &str| -> Result<u32, ApiError> {
        match b.get(k) {
            None => Ok(0),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ApiError::unprocessable(format!("{k} must be a whole number ≥ 0"))),
        }
    };
    let devices = (count("notified")?, count("failed")?);
    s.write().devices = devices;
    ok(json!({"notified": devices.0, "failed": devices.1}))
}

async fn transcripts(State(s): State<Shared>) -> ApiResult {
    ok(json!({ "sessions": s.transcripts().to_json() }))
}

/// The stand-in agent says `text` now in `session`: a late reply on demand.
async fn agent_reply(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let text = req_str(&b, "text")?;
    let session = opt_str(&b, "session")?.unwrap_or_else(|| "agent:main:main".to_string());
    let at_ms = s.clock.now().timestamp_millis();
    s.transcripts().say(&session, &text, at_ms);
    ok(json!({"session": session, "text": text, "timestamp": at_ms}))
}

async fn messages_sent(State(s): State<Shared>) -> ApiResult {
    let d = s.read();
    let sent: Vec<Value> = d.messages.iter().filter(|m| m.direction == "outbound").map(Sms::to_json).collect();
    ok(json!({ "messages": sent }))
}

async fn put_phones(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let list = b
        .get("phones")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::unprocessable("phones is required: a list of {phone_number, connection_id?}"))?;
    let mut d = s.write();
    let mut phones: Vec<Map<String, Value>> = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let o = p.as_object().ok_or_else(|| ApiError::unprocessable(format!("phones[{i}] must be an object")))?;
        let n = e164("phone_number", &req_str(o, "phone_number")?)?;
        let mut m = o.clone();
        m.insert("phone_number".into(), json!(n));
        if !m.contains_key("id") {
            let id = d.new_id("phone");
            m.insert("id".into(), json!(id));
        }
        phones.push(m);
    }
    d.phones = phones;
    ok(json!({ "data": d.phones }))
}
