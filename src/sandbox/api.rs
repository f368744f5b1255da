//! The mission API of docs/protocol.md#http-api: missions, runs, plans, run events, linked
//! agents, assistants, phone numbers, scheduled events and insights.
//!
//! Envelopes deliberately vary where the contract allows several (a mission
//! under `.mission` when created, under `.data` when fetched; an assistant at
//! the top level when created, under `.assistant` otherwise; an event at the
//! top level when created, under `.event` when fetched), so the client is
//! exercised on all of them.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, patch, post};
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

use super::model::{self, rfc3339, Assistant, Channel, Data, DirectCall, Due, Fate, Mission, Run, ScheduledEvent};
use super::{
    body_object, created, e164, no_content, ok, opt_str, req_str, ApiError, ApiResult, SandboxOptions, Shared,
};
use crate::validate::{EVENT_TYPES, RUN_STATUSES, STEP_STATUSES};

type Q = Query<HashMap<String, String>>;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/missions", post(create_mission).get(list_missions))
        .route("/missions/{mid}", get(get_mission))
        .route("/missions/{mid}/runs", post(create_run).get(list_runs))
        .route("/missions/{mid}/runs/{rid}", get(get_run).patch(update_run))
        .route("/missions/{mid}/runs/{rid}/plan", post(create_plan).get(get_plan))
        .route("/missions/{mid}/runs/{rid}/plan/steps/{step}", patch(update_step))
        .route("/missions/{mid}/runs/{rid}/events", post(log_event).get(list_run_events))
        .route("/missions/{mid}/runs/{rid}/agents", post(link_agent).get(list_agents))
        .route("/missions/{mid}/runs/{rid}/agents/{aid}", axum::routing::delete(unlink_agent))
        .route("/missions/conversations/{conv}/insights", get(insights))
        .route("/assistants", post(create_assistant).get(list_assistants))
        .route("/assistants/{aid}", get(get_assistant).patch(update_assistant))
        .route("/assistants/{aid}/connection-id", get(connection_id))
        .route("/assistants/{aid}/events", post(schedule_event).get(list_assistant_events))
        .route("/assistants/{aid}/events/{eid}", get(get_event).delete(cancel_event))
        .route("/numbers/account-phones", get(list_phones))
        .route("/numbers/account-phones/available", get(available_phone))
        .route("/numbers/account-phones/{pid}", patch(assign_phone))
}

fn now_str(s: &Shared) -> String {
    rfc3339(s.clock.now())
}

fn mission_json(m: &Mission) -> Value {
    Value::Object(m.obj.clone())
}

fn run_json(r: &Run) -> Value {
    Value::Object(r.obj.clone())
}

fn run_of<'a>(d: &'a Data, mid: &str, rid: &str) -> Result<&'a Run, ApiError> {
    let m = d.missions.get(mid).ok_or_else(|| ApiError::not_found("mission", mid))?;
    m.runs.get(rid).ok_or_else(|| ApiError::not_found("run", rid))
}

fn run_of_mut<'a>(d: &'a mut Data, mid: &str, rid: &str) -> Result<&'a mut Run, ApiError> {
    let m = d.missions.get_mut(mid).ok_or_else(|| ApiError::not_found("mission", mid))?;
    m.runs.get_mut(rid).ok_or_else(|| ApiError::not_found("run", rid))
}

// ---------------------------------------------------------------- missions

async fn create_mission(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let name = req_str(&b, "name")?;
    let instructions = req_str(&b, "instructions")?;
    let now = now_str(&s);
    let mut d = s.write();
    let id = d.new_id("mission");
    let mut obj = Map::new();
    obj.insert("id".into(), json!(id));
    obj.insert("name".into(), json!(name));
    obj.insert("instructions".into(), json!(instructions));
    obj.insert("created_at".into(), json!(now));
    obj.insert("updated_at".into(), json!(now));
    let m = Mission { obj, runs: Default::default() };
    let out = mission_json(&m);
    d.missions.insert(id, m);
    created(json!({ "mission": out }))
}

async fn get_mission(State(s): State<Shared>, Path(mid): Path<String>) -> ApiResult {
    let d = s.read();
    let m = d.missions.get(&mid).ok_or_else(|| ApiError::not_found("mission", &mid))?;
    ok(json!({ "data": mission_json(m) }))
}

async fn list_missions(State(s): State<Shared>, Query(q): Q) -> ApiResult {
    let size = page_param(&q, "page[size]", 20)?;
    let page = page_param(&q, "page[number]", 1)?;
    let d = s.read();
    let all: Vec<Value> = d.missions.values().rev().map(mission_json).collect();
    let total = all.len();
    let items: Vec<Value> = all.into_iter().skip((page - 1) * size).take(size).collect();
    ok(json!({ "missions": items, "meta": {"total_results": total, "page_size": size, "page_number": page} }))
}

fn page_param(q: &HashMap<String, String>, key: &str, default: usize) -> Result<usize, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=250).contains(&n) => Ok(n),
            _ => Err(ApiError::unprocessable(format!("{key} must be a whole number from 1 to 250, got {v:?}"))),
        },
    }
}

// ---------------------------------------------------------------- runs

async fn create_run(State(s): State<Shared>, Path(mid): Path<String>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let input = b.get("input").cloned().ok_or_else(|| ApiError::unprocessable("input is required"))?;
    let now = now_str(&s);
    let mut d = s.write();
    if !d.missions.contains_key(&mid) {
        return Err(ApiError::not_found("mission", &mid));
    }
    let rid = d.new_id("run");
    let mut obj = Map::new();
    obj.insert("run_id".into(), json!(rid));
    obj.insert("mission_id".into(), json!(mid));
    obj.insert("status".into(), json!("pending"));
    obj.insert("input".into(), input);
    obj.insert("created_at".into(), json!(now));
    obj.insert("updated_at".into(), json!(now));
    let run = Run { obj, ..Default::default() };
    let out = run_json(&run);
    if let Some(m) = d.missions.get_mut(&mid) {
        m.runs.insert(rid, run);
    }
    created(json!({ "data": out }))
}

async fn get_run(State(s): State<Shared>, Path((mid, rid)): Path<(String, String)>) -> ApiResult {
    let d = s.read();
    ok(json!({ "data": run_json(run_of(&d, &mid, &rid)?) }))
}

async fn list_runs(State(s): State<Shared>, Path(mid): Path<String>) -> ApiResult {
    let d = s.read();
    let m = d.missions.get(&mid).ok_or_else(|| ApiError::not_found("mission", &mid))?;
    let runs: Vec<Value> = m.runs.values().map(run_json).collect();
    ok(json!({ "data": runs }))
}

async fn update_run(State(s): State<Shared>, Path((mid, rid)): Path<(String, String)>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let status = opt_str(&b, "status")?;
    if let Some(st) = &status {
        check_word("status", st, RUN_STATUSES)?;
    }
    let summary = opt_str(&b, "result_summary")?;
    if status.is_none() && summary.is_none() && !b.contains_key("result_payload") {
        return Err(ApiError::unprocessable("nothing to update: give status, result_summary or result_payload"));
    }
    let now = now_str(&s);
    let mut d = s.write();
    let run = run_of_mut(&mut d, &mid, &rid)?;
    if let Some(st) = status {
        run.obj.insert("status".into(), json!(st));
        if ["succeeded", "failed", "cancelled"].contains(&st.as_str()) {
            run.obj.insert("finished_at".into(), json!(now));
        }
    }
    if let Some(sm) = summary {
        run.obj.insert("result_summary".into(), json!(sm));
    }
    if let Some(p) = b.get("result_payload") {
        run.obj.insert("result_payload".into(), p.clone());
    }
    run.obj.insert("updated_at".into(), json!(now));
    ok(json!({ "data": run_json(run) }))
}

fn check_word(field: &str, v: &str, valid: &[&str]) -> Result<(), ApiError> {
    if valid.contains(&v) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!("{field} {v:?} is not one of: {}", valid.join(", "))))
    }
}

// ---------------------------------------------------------------- plan

async fn create_plan(State(s): State<Shared>, Path((mid, rid)): Path<(String, String)>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let steps = match b.get("steps") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(ApiError::unprocessable(
                "steps is required: a non-empty list of {step_id, description, sequence}",
            ))
        }
    };
    let now = now_str(&s);
    let mut plan = Vec::new();
    for (i, st) in steps.iter().enumerate() {
        let o = st.as_object().ok_or_else(|| ApiError::unprocessable(format!("steps[{i}] must be an object")))?;
        let step_id = req_str(o, "step_id").map_err(|e| ApiError::unprocessable(format!("steps[{i}]: {}", e.1)))?;
        if plan.iter().any(|p: &Map<String, Value>| p.get("step_id") == Some(&json!(step_id))) {
            return Err(ApiError::unprocessable(format!("steps[{i}]: step_id {step_id:?} is used twice")));
        }
        let mut m = o.clone();
        m.entry("sequence").or_insert(json!(i + 1));
        m.entry("description").or_insert(json!(""));
        m.insert("status".into(), json!("pending"));
        m.insert("updated_at".into(), json!(now));
        plan.push(m);
    }
    let mut d = s.write();
    let run = run_of_mut(&mut d, &mid, &rid)?;
    run.plan = plan;
    let out: Vec<Value> = run.plan.iter().cloned().map(Value::Object).collect();
    created(json!({ "data": out }))
}

async fn get_plan(State(s): State<Shared>, Path((mid, rid)): Path<(String, String)>) -> ApiResult {
    let d = s.read();
    let run = run_of(&d, &mid, &rid)?;
    let out: Vec<Value> = run.plan.iter().cloned().map(Value::Object).collect();
    ok(json!({ "data": out }))
}

async fn update_step(
    State(s): State<Shared>,
    Path((mid, rid, step)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let b = body_object(&body)?;
    let status = req_str(&b, "status")?;
    check_word("status", &status, STEP_STATUSES)?;
    let now = now_str(&s);
    let mut d = s.write();
    let run = run_of_mut(&mut d, &mid, &rid)?;
    let st = set_step(run, &step, &status, &now).ok_or_else(|| ApiError::not_found("plan step", &step))?;
    ok(json!({ "data": st }))
}

fn set_step(run: &mut Run, step: &str, status: &str, now: &str) -> Option<Value> {
    let st = run.plan.iter_mut().find(|p| p.get("step_id").and_then(Value::as_str) == Some(step))?;
    st.insert("status".into(), json!(status));
    st.insert("updated_at".into(), json!(now));
    Some(Value::Object(st.clone()))
}

// ---------------------------------------------------------------- run events

async fn log_event(State(s): State<Shared>, Path((mid, rid)): Path<(String, String)>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let ty = req_str(&b, "type")?;
    check_word("type", &ty, EVENT_TYPES)?;
    let summary = req_str(&b, "summary")?;
    let now = now_str(&s);
    let mut d = s.write();
    run_of(&d, &mid, &rid)?;
    let id = d.new_id("runevt");
    let mut ev = b.clone();
    ev.insert("id".into(), json!(id));
    ev.insert("event_id".into(), json!(id));
    ev.insert("type".into(), json!(ty));
    ev.insert("summary".into(), json!(summary));
    ev.insert("run_id".into(), json!(rid));
    ev.insert("created_at".into(), json!(now));
    let ev = Value::Object(ev);
    run_of_mut(&mut d, &mid, &rid)?.events.push(ev.clone());
    created(json!({ "data": ev }))
}

async fn list_run_events(State(s): State<Shared>, Path((mid, rid)): Path<(String, String)>) -> ApiResult {
    let d = s.read();
    ok(json!({ "data": run_of(&d, &mid, &rid)?.events }))
}

// ---------------------------------------------------------------- linked agents

async fn link_agent(State(s): State<Shared>, Path((mid, rid)): Path<(String, String)>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let aid = req_str(&b, "telnyx_agent_id")?;
    let now = now_str(&s);
    let mut d = s.write();
    let run = run_of_mut(&mut d, &mid, &rid)?;
    if let Some(existing) = run.agents.iter().find(|a| a["telnyx_agent_id"] == json!(aid)) {
        return ok(json!({ "data": existing }));
    }
    let link = json!({"telnyx_agent_id": aid, "run_id": rid, "created_at": now});
    run.agents.push(link.clone());
    created(json!({ "data": link }))
}

async fn list_agents(State(s): State<Shared>, Path((mid, rid)): Path<(String, String)>) -> ApiResult {
    let d = s.read();
    ok(json!({ "data": run_of(&d, &mid, &rid)?.agents }))
}

async fn unlink_agent(State(s): State<Shared>, Path((mid, rid, aid)): Path<(String, String, String)>) -> ApiResult {
    let mut d = s.write();
    let run = run_of_mut(&mut d, &mid, &rid)?;
    let before = run.agents.len();
    run.agents.retain(|a| a["telnyx_agent_id"] != json!(aid));
    if run.agents.len() == before {
        return Err(ApiError::not_found("linked agent", &aid));
    }
    no_content()
}

// ---------------------------------------------------------------- assistants

const TOOL_TYPES: &[&str] =
    &["hangup", "webhook", "transfer", "handoff", "retrieval", "refer", "send_dtmf", "send_message"];
const FEATURES: &[&str] = &["telephony", "messaging"];

fn check_assistant_fields(b: &Map<String, Value>) -> Result<(), ApiError> {
    for f in ["name", "instructions", "model", "greeting", "voice", "description"] {
        opt_str(b, f)?;
    }
    if let Some(tools) = b.get("tools") {
        let arr = tools.as_array().ok_or_else(|| ApiError::unprocessable("tools must be a list"))?;
        for (i, t) in arr.iter().enumerate() {
            let ty = t.get("type").and_then(Value::as_str).unwrap_or_default();
            if !TOOL_TYPES.contains(&ty) {
                return Err(ApiError::unprocessable(format!(
                    "tools[{i}].type {ty:?} is not one of: {}",
                    TOOL_TYPES.join(", ")
                )));
            }
        }
    }
    if let Some(fs) = b.get("enabled_features") {
        let arr = fs.as_array().ok_or_else(|| ApiError::unprocessable("enabled_features must be a list"))?;
        for f in arr {
            if !f.as_str().is_some_and(|f| FEATURES.contains(&f)) {
                return Err(ApiError::unprocessable(format!(
                    "enabled_features: {f} is not one of telephony, messaging"
                )));
            }
        }
    }
    Ok(())
}

async fn create_assistant(State(s): State<Shared>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    req_str(&b, "name")?;
    req_str(&b, "instructions")?;
    check_assistant_fields(&b)?;
    let now = now_str(&s);
    let mut d = s.write();
    let id = d.new_id("assistant");
    let mut obj = Map::new();
    obj.insert("id".into(), json!(id));
    obj.insert("model".into(), json!("openai/gpt-4o"));
    obj.insert("greeting".into(), json!(""));
    obj.insert("voice".into(), json!("Rime.ArcanaV3.astra"));
    obj.insert("enabled_features".into(), json!(FEATURES));
    obj.insert("tools".into(), json!([]));
    for (k, v) in b {
        if k != "id" {
            obj.insert(k, v);
        }
    }
    obj.insert("created_at".into(), json!(now));
    let out = Value::Object(obj.clone());
    d.assistants.insert(id, Assistant { obj, events: Default::default() });
    created(out)
}

async fn get_assistant(State(s): State<Shared>, Path(aid): Path<String>) -> ApiResult {
    let d = s.read();
    let a = d.assistants.get(&aid).ok_or_else(|| ApiError::not_found("assistant", &aid))?;
    ok(json!({ "assistant": a.obj }))
}

async fn update_assistant(State(s): State<Shared>, Path(aid): Path<String>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    check_assistant_fields(&b)?;
    let now = now_str(&s);
    let mut d = s.write();
    let a = d.assistants.get_mut(&aid).ok_or_else(|| ApiError::not_found("assistant", &aid))?;
    for (k, v) in b {
        if k != "id" {
            a.obj.insert(k, v);
        }
    }
    a.obj.insert("updated_at".into(), json!(now));
    ok(json!({ "assistant": a.obj }))
}

async fn list_assistants(State(s): State<Shared>, Query(q): Q) -> ApiResult {
    let size = page_param(&q, "pageSize", 25)?;
    let page = page_param(&q, "page", 1)?;
    let name = q.get("name").map(|n| n.to_lowercase());
    let d = s.read();
    let all: Vec<&Map<String, Value>> = d
        .assistants
        .values()
        .map(|a| &a.obj)
        .filter(|o| match &name {
            Some(n) => o.get("name").and_then(Value::as_str).is_some_and(|v| v.to_lowercase().contains(n)),
            None => true,
        })
        .collect();
    let total = all.len();
    let items: Vec<&Map<String, Value>> = all.into_iter().skip((page - 1) * size).take(size).collect();
    ok(json!({
        "data": items,
        "meta": {"total_results": total, "total_pages": total.div_ceil(size), "page_number": page, "page_size": size}
    }))
}

async fn connection_id(State(s): State<Shared>, Path(aid): Path<String>, Query(q): Q) -> ApiResult {
    let feature = q.get("feature").map(String::as_str).unwrap_or("telephony");
    if !FEATURES.contains(&feature) {
        return Err(ApiError::unprocessable(format!("feature {feature:?} is not one of telephony, messaging")));
    }
    let d = s.read();
    let a = d.assistants.get(&aid).ok_or_else(|| ApiError::not_found("assistant", &aid))?;
    let enabled = a.obj.get("enabled_features").or_else(|| a.obj.get("features"));
    if let Some(Value::Array(fs)) = enabled {
        if !fs.iter().any(|f| f == feature) {
            return Err(ApiError::unprocessable(format!("feature {feature} is not enabled on assistant {aid}")));
        }
    }
    let short = if feature == "telephony" { "tel" } else { "msg" };
    ok(json!({ "connection_id": format!("conn_{short}_{aid}"), "feature": feature }))
}

// ---------------------------------------------------------------- phones

async fn list_phones(State(s): State<Shared>) -> ApiResult {
    let d = s.read();
    ok(json!({ "data": d.phones }))
}

async fn available_phone(State(s): State<Shared>) -> ApiResult {
    let d = s.read();
    match d.phones.iter().find(|p| p.get("connection_id").is_none_or(Value::is_null)) {
        Some(p) => ok(json!({ "phone": {"id": p["id"], "phone_number": p["phone_number"]} })),
        None => ok(json!({ "message": "no available phone number: buy a dedicated number" })),
    }
}

async fn assign_phone(State(s): State<Shared>, Path(pid): Path<String>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let conn = req_str(&b, "connection_id")?;
    let ty = opt_str(&b, "type")?.unwrap_or_else(|| "voice".into());
    check_word("type", &ty, &["voice", "sms"])?;
    let mut d = s.write();
    let p = d
        .phones
        .iter_mut()
        .find(|p| p.get("id").and_then(Value::as_str) == Some(&pid))
        .ok_or_else(|| ApiError::not_found("phone number", &pid))?;
    p.insert("connection_id".into(), json!(conn));
    p.insert("type".into(), json!(ty));
    ok(json!({ "data": p }))
}

// ---------------------------------------------------------------- scheduled events

/// `scheduled_at` must be at least this far ahead, as on the service.
const MIN_AHEAD_SECONDS: i64 = 60;
/// Slack for the time a request takes to arrive (clients check "≥ 60 s
/// ahead" on their own clock just before sending).
const AHEAD_TOLERANCE_SECONDS: i64 = 5;

async fn schedule_event(State(s): State<Shared>, Path(aid): Path<String>, body: Bytes) -> ApiResult {
    let b = body_object(&body)?;
    let channel = match req_str(&b, "channel")?.as_str() {
        "call" => Channel::Call,
        "sms" => Channel::Sms,
        other => return Err(ApiError::unprocessable(format!("channel {other:?} is not one of call, sms"))),
    };
    let to = e164("to", &req_str(&b, "to")?)?;
    let from = e164("from", &req_str(&b, "from")?)?;
    let at_text = req_str(&b, "scheduled_at")?;
    let at = DateTime::parse_from_rfc3339(at_text.trim())
        .map_err(|e| ApiError::unprocessable(format!("scheduled_at {at_text:?} is not an RFC 3339 time: {e}")))?
        .with_timezone(&Utc);
    // "At least a minute ahead" is judged on the real wall clock (moved to
    // `--start` when given), since that is what clients check against; the
    // event then plays out on the sandbox clock (at once when a fast sandbox
    // clock is already past it).
    check_ahead(&at_text, at, s.clock.wall_now())?;
    let text_body = opt_str(&b, "text_body")?;
    if channel == Channel::Sms && text_body.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Err(ApiError::unprocessable("text_body is required for an sms event"));
    }
    let mission_id = opt_str(&b, "mission_id")?;
    let run_id = opt_str(&b, "run_id")?;
    let step_id = opt_str(&b, "step_id")?;
    let now = s.clock.now();
    let mut d = s.write();
    if !d.assistants.contains_key(&aid) {
        return Err(ApiError::not_found("assistant", &aid));
    }
    let (fate, attempt) = match channel {
        Channel::Call => {
            let n = d.next_attempt(&aid, &to);
            (Fate::of_call(&to, n), n)
        }
        Channel::Sms => (Fate::of_sms(&to), 1),
    };
    let id = d.new_id("event");
    let conversation_id = format!("conv_{id}");
    let ev = ScheduledEvent {
        id: id.clone(),
        assistant_id: aid.clone(),
        channel,
        to,
        from,
        scheduled_at: at,
        text_body,
        mission_id,
        run_id,
        step_id,
        created_at: now,
        fate,
        attempt,
        conversation_id: conversation_id.clone(),
    };
    let out = ev.to_json(now);
    d.schedule(ev.ends_at(), Due::EventEnd { assistant_id: aid.clone(), event_id: id.clone() });
    d.conversations.insert(conversation_id, (aid.clone(), id.clone()));
    if let Some(a) = d.assistants.get_mut(&aid) {
        a.events.insert(id, ev);
    }
    s.rearm(&d);
    created(out)
}

async fn get_event(State(s): State<Shared>, Path((aid, eid)): Path<(String, String)>) -> ApiResult {
    let now = s.clock.now();
    let d = s.read();
    let a = d.assistants.get(&aid).ok_or_else(|| ApiError::not_found("assistant", &aid))?;
    let e = a.events.get(&eid).ok_or_else(|| ApiError::not_found("scheduled event", &eid))?;
    ok(json!({ "event": e.to_json(now) }))
}

async fn list_assistant_events(State(s): State<Shared>, Path(aid): Path<String>) -> ApiResult {
    let now = s.clock.now();
    let d = s.read();
    let a = d.assistants.get(&aid).ok_or_else(|| ApiError::not_found("assistant", &aid))?;
    let list: Vec<Value> = a.events.values().map(|e| e.to_json(now)).collect();
    ok(json!({ "events": list }))
}

async fn cancel_event(State(s): State<Shared>, Path((aid, eid)): Path<(String, String)>) -> ApiResult {
    let mut d = s.write();
    let a = d.assistants.get_mut(&aid).ok_or_else(|| ApiError::not_found("assistant", &aid))?;
    let e = a.events.remove(&eid).ok_or_else(|| ApiError::not_found("scheduled event", &eid))?;
    d.conversations.remove(&e.conversation_id);
    no_content()
}

async fn insights(State(s): State<Shared>, Path(conv): Path<String>) -> ApiResult {
    let now = s.clock.now();
    let d = s.read();
    let (aid, eid) = d.conversations.get(&conv).ok_or_else(|| ApiError::not_found("conversation", &conv))?;
    let a = d.assistants.get(aid).ok_or_else(|| ApiError::not_found("conversation", &conv))?;
    let e = a.events.get(eid).ok_or_else(|| ApiError::not_found("conversation", &conv))?;
    let instructions = a.obj.get("instructions").and_then(Value::as_str).unwrap_or_default();
    match e.insights(now, instructions) {
        Some(v) => ok(v),
        None => Err(ApiError::not_found("conversation", &conv)),
    }
}

/// 422 unless `at` is at least a minute after `real_now` (a few seconds of
/// tolerance for the request's own travel time).
fn check_ahead(text: &str, at: DateTime<Utc>, real_now: DateTime<Utc>) -> std::result::Result<(), ApiError> {
    if at < real_now {
        return Err(ApiError::unprocessable(format!(
            "scheduled_at {text} is in the past (now is {}); schedule at least one minute ahead",
            rfc3339(real_now)
        )));
    }
    if at < real_now + Duration::seconds(MIN_AHEAD_SECONDS - AHEAD_TOLERANCE_SECONDS) {
        return Err(ApiError::unprocessable(format!(
            "scheduled_at {text} is less than one minute ahead (now is {}); schedule at least one minute ahead",
            rfc3339(real_now)
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- due side effects

/// Apply one due item; `pushes` collects /ws events to send once the lock is released.
pub fn on_due(d: &mut Data, opts: &SandboxOptions, due: Due, pushes: &mut Vec<(&'static str, Value)>) {
    match due {
        Due::EventEnd { assistant_id, event_id } => {
            let Some(e) = d.event(&assistant_id, &event_id).cloned() else { return };
            if e.channel == Channel::Call {
                let length = if e.succeeded() { e.fate.call_length() - model::RING_SECONDS } else { 0 };
                let mut f = json!({
                    "call_id": e.id,
                    "direction": "outbound",
                    "duration_seconds": length,
                    "reason": e.fate.final_call_status(),
                    "to_number": e.to,
                    "mission_id": e.mission_id,
                    "run_id": e.run_id,
                });
                match e.fate {
                    Fate::Voicemail => {
                        f["outcome"] = json!("voicemail");
                        f["voicemail_message"] = json!("Hello, this is a message from your assistant.");
                    }
                    Fate::NoAnswer => f["outcome"] = json!("no_answer"),
                    _ => {}
                }
                pushes.push(("call.ended", f));
            }
            if opts.auto_sync {
                if let (Some(mid), Some(rid), Some(step)) = (&e.mission_id, &e.run_id, &e.step_id) {
                    let status = if e.succeeded() { "completed" } else { "failed" };
                    let now = rfc3339(e.ends_at());
                    if let Some(run) = d.run_mut(mid, rid) {
                        set_step(run, step, status, &now);
                    }
                }
            }
        }
        Due::CallEnd { call_id } => {
            let Some(c) = d.calls.get(&call_id) else { return };
            if c.ended.as_ref().is_some_and(|(t, _)| *t < c.natural_end()) {
                return; // ended early through the API: call.ended was sent then
            }
            pushes.push(("call.ended", call_ended_fields(c)));
        }
        Due::ApprovalDecision { id } => {
            let Some(a) = d.approvals.get_mut(&id) else { return };
            if a.decision.is_some() {
                return;
            }
            if let Some(dec) = a.auto_decision() {
                a.decision = Some(dec.to_string());
                pushes.push(("approval.responded", json!({"request_id": id, "decision": dec})));
            }
        }
    }
}

/// The fields of `call.ended` for a direct call.
pub fn call_ended_fields(c: &DirectCall) -> Value {
    let mut f = json!({
        "call_id": c.id,
        "direction": "outbound",
        "duration_seconds": c.duration_seconds(),
        "reason": c.reason(),
        "to_number": c.to,
    });
    if let Some(p) = &c.purpose {
        f["purpose"] = json!(p);
    }
    if let Some(g) = &c.greeting {
        f["greeting"] = json!(g);
    }
    if let Some(o) = c.outcome() {
        f["outcome"] = json!(o);
        if o == "voicemail" {
            f["voicemail_message"] = json!(c.greeting.clone().unwrap_or_else(|| "Please call me back.".into()));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_at_must_be_a_minute_ahead_of_the_real_clock() {
        let now = DateTime::parse_from_rfc3339("2030-01-01T12:00:00Z").unwrap().with_timezone(&Utc);
        let at = |s: i64| now + Duration::seconds(s);
        let past = check_ahead("t", at(-1), now).unwrap_err();
        assert!(past.0 == 422 && past.1.contains("in the past"), "{past:?}");
        let soon = check_ahead("t", at(30), now).unwrap_err();
        assert!(soon.0 == 422 && soon.1.contains("less than one minute ahead"), "{soon:?}");
        assert!(check_ahead("t", at(54), now).is_err());
        // A client that checked "≥ 60 s" just before sending is accepted.
        assert!(check_ahead("t", at(MIN_AHEAD_SECONDS - AHEAD_TOLERANCE_SECONDS), now).is_ok());
        assert!(check_ahead("t", at(60), now).is_ok());
        assert!(check_ahead("t", at(86_400), now).is_ok());
    }
}
