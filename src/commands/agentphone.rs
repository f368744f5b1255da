//! `clawdtalk agentphone call|get`: AgentPhone as a second provider (contract §5).
//!
//! Exit codes (README "AgentPhone"): 0 the call was placed, or ended
//! `completed` (whatever its outcome); 1 the call ended `failed` or
//! `canceled`, `--wait` timed out while the call was still going (as
//! `clawdtalk call --wait` does), or AgentPhone refused (400, 401, 402
//! credits exhausted, 429 twice); 2 bad input, nothing sent; 3 no AgentPhone
//! key; 4 network.

use serde_json::{json, Map, Value};

use crate::agentphone::{self, fmt_secs, AgentPhone, Call, CallRequest, WaitOptions};
use crate::api::events::{self, NewEvent};
use crate::cli::agentphone::{AgentPhoneCallArgs, AgentPhoneCommand, AgentPhoneGetArgs};
use crate::error::{Error, Result};
use crate::output::{Block, Outcome};
use crate::state::StateStore;
use crate::validate;

use super::Context;

pub async fn run(ctx: &Context, cmd: AgentPhoneCommand) -> Result<Outcome> {
    match cmd {
        AgentPhoneCommand::Call(a) => call(ctx, a).await,
        AgentPhoneCommand::Get(a) => get(ctx, a).await,
    }
}

/// Check every argument before anything is sent.
fn call_request(a: &AgentPhoneCallArgs) -> Result<CallRequest> {
    let to_phone_number = validate::phone("--to", &a.to)?;
    let objective = a.objective.trim();
    if objective.is_empty() {
        return Err(Error::usage("--objective must say what the call should achieve; it is empty"));
    }
    let business_name = match a.business_name.as_deref().map(str::trim) {
        Some("") => return Err(Error::usage("--business-name is empty; leave it out or give the name")),
        other => other.map(str::to_string),
    };
    let website = match a.website.as_deref().map(str::trim) {
        None => None,
        Some(w) => match url::Url::parse(w) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(w.to_string()),
            _ => {
                return Err(Error::usage(format!(
                    "--website {w:?} is not an http(s) URL; write it like https://example.com"
                )))
            }
        },
    };
    Ok(CallRequest { to_phone_number, objective: objective.to_string(), business_name, website })
}

/// `agentphone call --to N --objective T [--wait]`.
pub async fn call(ctx: &Context, a: AgentPhoneCallArgs) -> Result<Outcome> {
    let req = call_request(&a)?;
    let ap = AgentPhone::from_config(&ctx.config, a.tuning.rate_limit_wait)?;
    // The mission is checked before the call is placed: a typo in the slug
    // must not leave a paid call that nothing records.
    let booking = match &a.mission {
        Some(key) => Some(Booking::open(ctx, key).await?),
        None => None,
    };
    tracing::debug!(to = %crate::config::mask_phone(&req.to_phone_number), "placing an AgentPhone call");
    let placed = ap.create_call(&req).await?;
    let credits = placed.credits_remaining.clone();
    let id = placed.call.call_id.clone();
    let mut notes = Vec::new();
    if let Some(b) = &booking {
        notes.extend(b.record(ctx, &placed.call, Some(&req)).await);
    }
    if !a.wait {
        let mut data = serde_json::to_value(&placed.call).unwrap_or(Value::Null);
        add_credits(&mut data, &credits);
        let mut o = Outcome::data(data).line(format!("Call placed: {id} ({})", placed.call.stage()));
        o = credits_note(o, &credits);
        o = o.note(format!("Follow it with: clawdtalk agentphone get {id}"));
        return Ok(with_notes(o, notes));
    }
    let opts = WaitOptions {
        interval: a.tuning.poll_interval,
        timeout: a.timeout,
        enrich_interval: a.tuning.enrich_interval,
        ..WaitOptions::default()
    };
    let progress = ctx.progress();
    let waited = agentphone::wait(&ap, &placed.call, &opts, &progress).await.map_err(|e| placed_hint(e, &id))?;
    drop(progress);
    if let Some(b) = &booking {
        notes.extend(b.record(ctx, &waited.call, None).await);
    }
    let mut o = report(&waited.call, &credits);
    if waited.timed_out {
        o = o.with_exit_code(1).note(format!(
            "AgentPhone call {id} is still {} after {} s; it goes on: check it later with \
             `clawdtalk agentphone get {id}`",
            waited.call.stage(),
            fmt_secs(a.timeout)
        ));
    }
    Ok(with_notes(credits_note(o, &credits), notes))
}

/// An error while following a call that was placed: say so, with the id,
/// so nobody places it again.
fn placed_hint(e: Error, id: &str) -> Error {
    let hint = format!("; AgentPhone call {id} was placed: check it with `clawdtalk agentphone get {id}`");
    match e {
        Error::Network(m) => Error::Network(m + &hint),
        Error::Failed(m) => Error::Failed(m + &hint),
        Error::Api { status, message, body } => Error::Api { status, message: message + &hint, body },
        other => other,
    }
}

/// Add bookkeeping notes; a bookkeeping failure (prefixed `warning:`)
/// makes the command exit 1, though the call itself is printed.
fn with_notes(mut o: Outcome, notes: Vec<String>) -> Outcome {
    if notes.iter().any(|n| n.starts_with("warning:")) {
        o.exit_code = o.exit_code.max(1);
    }
    o.notes.extend(notes);
    o
}

/// `agentphone get CALL_ID`.
pub async fn get(ctx: &Context, a: AgentPhoneGetArgs) -> Result<Outcome> {
    let id = validate::plain_id("CALL_ID", &a.call_id)?;
    let ap = AgentPhone::from_config(&ctx.config, a.tuning.rate_limit_wait)?;
    let booking = match &a.mission {
        Some(key) => Some(Booking::open(ctx, key).await?),
        None => None,
    };
    let call = ap.get_call(&id).await?;
    let mut notes = Vec::new();
    if let Some(b) = &booking {
        notes.extend(b.record(ctx, &call, None).await);
    }
    Ok(with_notes(report(&call, &None), notes))
}

/// The call for people (fields, then the transcript) and for `--json` (the
/// call object). A failed or canceled call exits 1 with a note saying so.
fn report(call: &Call, credits: &Option<Value>) -> Outcome {
    let mut data = serde_json::to_value(call).unwrap_or(Value::Null);
    add_credits(&mut data, credits);
    let mut fields = vec![("Call".to_string(), call.call_id.clone()), ("Status".to_string(), call.stage())];
    let mut field = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            fields.push((k.to_string(), v));
        }
    };
    field("Outcome", call.outcome.clone());
    field("Reason", reason(call));
    field("Summary", call.summary.clone());
    field("Duration", call.duration_seconds.as_ref().map(|d| format!("{d} s")));
    field("Recording", call.recording_url.clone());
    let mut o = Outcome::data(data).block(Block::Fields(fields));
    if call.is_terminal() {
        match call.transcript_text() {
            Some(t) => o = o.line("Transcript:").line(t),
            None => o = o.line("Transcript: (none)"),
        }
    }
    if call.is_unsuccessful() {
        let stage = call.stage();
        let why = reason(call).filter(|r| *r != stage).map(|r| format!(" ({r})")).unwrap_or_default();
        o = o.with_exit_code(1).note(format!("AgentPhone call {} {stage}{why}", call.call_id));
    }
    o
}

/// Memory key under which a mission keeps its AgentPhone calls.
pub const MEMORY_KEY: &str = "agentphone_calls";

/// The mission a call is booked to (`--mission SLUG`): its calls are kept in
/// memory under [`MEMORY_KEY`], one record per `call_id`, and each is logged
/// to the run as a `custom` event when placed and a `custom` (completed) or
/// `error` (failed, canceled) event when it ends, like the scheduled events
/// of ClawdTalk. A record remembers which of its run events were logged
/// (`placed_logged`, `result_logged`); one that could not be logged is
/// retried by the next `--mission` command for that mission.
struct Booking {
    store: StateStore,
    slug: String,
    run: Option<(String, String)>,
}

impl Booking {
    /// Find the active mission by slug or mission id (an unknown key lists
    /// the known slugs). When it has a run, the ClawdTalk key is needed to
    /// log events: its absence is a configuration error now, not later.
    async fn open(ctx: &Context, key: &str) -> Result<Booking> {
        let store = ctx.state()?;
        let state = store.read_async().await?;
        let slug = state.active_slug(key)?;
        let m = state.mission(&slug).ok_or_else(|| state.unknown(key))?;
        let run = m.mission_id().zip(m.run_id());
        if run.is_some() {
            ctx.client()?;
        }
        Ok(Booking { store, slug, run })
    }

    /// Save what is known of `call` in the mission's memory, then log the run
    /// events still missing. Returns notes for stderr (`warning:` ones for
    /// failures: the call itself went through).
    async fn record(&self, ctx: &Context, call: &Call, req: Option<&CallRequest>) -> Vec<String> {
        let now = ctx.now();
        let fields = record_fields(call, req, now);
        let slug = self.slug.clone();
        let saved = self
            .store
            .update_async(move |s| {
                let m = s
                    .mission_mut(&slug)
                    .ok_or_else(|| Error::state(format!("mission '{slug}' is no longer active in the state file")))?;
                upsert(m.memory_mut()?, fields);
                m.touch(now);
                Ok(())
            })
            .await;
        let what = if req.is_some() { "Recorded" } else { "Updated" };
        let mut notes = match saved {
            Ok(()) => vec![format!(
                "{what} AgentPhone call {} ({}) in mission '{}' memory ({MEMORY_KEY})",
                call.call_id,
                call.stage(),
                self.slug
            )],
            Err(e) => {
                return vec![format!(
                    "warning: could not record AgentPhone call {} in mission '{}': {e}",
                    call.call_id, self.slug
                )]
            }
        };
        match &self.run {
            Some(run) => notes.extend(self.log_pending(ctx, run).await),
            None => {
                notes.push(format!("mission '{}' has no run id in the state file: no run event was logged", self.slug))
            }
        }
        notes
    }

    /// Log every run event this mission's AgentPhone records still owe, and
    /// mark each one logged.
    async fn log_pending(&self, ctx: &Context, (mission_id, run_id): &(String, String)) -> Vec<String> {
        let records = match self.store.read_async().await {
            Ok(s) => s
                .mission(&self.slug)
                .and_then(|m| m.memory_get(MEMORY_KEY))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Err(e) => return vec![format!("warning: could not read the state file to log run events: {e}")],
        };
        let client = match ctx.client() {
            Ok(c) => c,
            Err(e) => return vec![format!("warning: no run event logged: {e}")],
        };
        let mut notes = Vec::new();
        for rec in records {
            for (flag, event) in pending_events(&rec) {
                let Some(call_id) = rec.get("call_id").and_then(Value::as_str) else { continue };
                if let Err(e) = events::log(&client, mission_id, run_id, &event).await {
                    notes.push(format!(
                        "warning: could not log the run event for AgentPhone call {call_id} ({e}); \
                         it is kept and retried by the next --mission command"
                    ));
                    continue;
                }
                let (slug, id, now) = (self.slug.clone(), call_id.to_string(), ctx.now());
                let marked = self
                    .store
                    .update_async(move |s| {
                        if let Some(m) = s.mission_mut(&slug) {
                            upsert(
                                m.memory_mut()?,
                                Map::from_iter([("call_id".into(), json!(id)), (flag.into(), json!(true))]),
                            );
                            m.touch(now);
                        }
                        Ok(())
                    })
                    .await;
                match marked {
                    Ok(()) => notes.push(format!("Logged run event: {}", event.summary)),
                    Err(e) => notes
                        .push(format!("warning: logged the run event but could not mark it in the state file: {e}")),
                }
            }
        }
        notes
    }
}

/// The memory record of a call: what was asked (when known) and what
/// AgentPhone reports now. Absent values are left out so a later read never
/// erases an earlier one.
fn record_fields(call: &Call, req: Option<&CallRequest>, now: chrono::DateTime<chrono::Utc>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("call_id".into(), json!(call.call_id));
    m.insert("provider".into(), json!("agentphone"));
    if let Some(r) = req {
        m.insert("to".into(), json!(r.to_phone_number));
        m.insert("objective".into(), json!(r.objective));
        if let Some(b) = &r.business_name {
            m.insert("business_name".into(), json!(b));
        }
        if let Some(w) = &r.website {
            m.insert("website".into(), json!(w));
        }
        m.insert("placed_logged".into(), json!(false));
        m.insert("result_logged".into(), json!(false));
    }
    m.insert("status".into(), json!(call.status));
    let opt = |v: Option<Value>| v.filter(|v| !v.is_null() && v.as_str() != Some(""));
    for (k, v) in [
        ("outcome", opt(call.outcome.clone().map(Value::from))),
        ("summary", opt(call.summary.clone().map(Value::from))),
        ("transcript", opt(call.transcript_text().map(Value::from))),
        ("duration_seconds", opt(call.duration_seconds.clone().map(Value::Number))),
        ("recording_url", opt(call.recording_url.clone().map(Value::from))),
        ("failure_reason", opt(reason(call).map(Value::from))),
        ("created_at", opt(call.created_at.clone().map(Value::from))),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    }
    m.insert("updated_at".into(), json!(crate::state::timestamp(now)));
    m
}

/// Merge `fields` into the record with the same `call_id` in the memory
/// list, or append a new record. A single non-list value already under the
/// key becomes the list's first item (as `append-memory` does).
fn upsert(memory: &mut Map<String, Value>, fields: Map<String, Value>) {
    let slot = memory.entry(MEMORY_KEY).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        let single = std::mem::take(slot);
        *slot = Value::Array(vec![single]);
    }
    let Value::Array(list) = slot else { return };
    let id = fields.get("call_id").cloned();
    match list.iter_mut().find(|r| r.get("call_id") == id.as_ref()).and_then(Value::as_object_mut) {
        Some(existing) => existing.extend(fields),
        None => list.push(Value::Object(fields)),
    }
}

/// The run events a record still owes, each with the flag that marks it logged.
fn pending_events(rec: &Value) -> Vec<(&'static str, NewEvent)> {
    let s = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let unlogged = |k: &str| rec.get(k).and_then(Value::as_bool) == Some(false);
    let id = s("call_id");
    let event = |kind: &str, summary: String, payload: Value| NewEvent {
        kind: kind.into(),
        summary,
        agent_id: Some(events::DEFAULT_AGENT_ID.into()),
        step_id: None,
        payload: Some(payload),
    };
    let mut out = Vec::new();
    if unlogged("placed_logged") {
        out.push((
            "placed_logged",
            event(
                "custom",
                format!("AgentPhone call placed call_id={id}"),
                json!({"provider": "agentphone", "call_id": id, "to": s("to"), "objective": s("objective")}),
            ),
        ));
    }
    // A call first booked by `get --mission` was never announced as placed,
    // but its result is still owed: only an explicit `true` means logged.
    let status = s("status");
    if rec.get("result_logged").and_then(Value::as_bool) != Some(true)
        && matches!(status.as_str(), "completed" | "failed" | "canceled" | "cancelled")
    {
        let mut payload = Map::new();
        for k in [
            "provider",
            "call_id",
            "status",
            "outcome",
            "summary",
            "duration_seconds",
            "recording_url",
            "failure_reason",
        ] {
            if let Some(v) = rec.get(k) {
                payload.insert(k.into(), v.clone());
            }
        }
        let (kind, summary) = if status == "completed" {
            let outcome = rec.get("outcome").and_then(Value::as_str).unwrap_or("no outcome");
            ("custom", format!("AgentPhone call call_id={id} completed: {outcome}"))
        } else {
            let why = rec.get("failure_reason").and_then(Value::as_str).map(|r| format!(" ({r})")).unwrap_or_default();
            ("error", format!("AgentPhone call call_id={id} {status}{why}"))
        };
        out.push(("result_logged", event(kind, summary, Value::Object(payload))));
    }
    out
}

/// Why a call failed, when the service says (`failure_reason`, `reason`, `error`).
fn reason(call: &Call) -> Option<String> {
    ["failure_reason", "reason", "error"].iter().find_map(|k| match call.extra.get(*k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Object(o)) => o.get("message").and_then(Value::as_str).map(str::to_string),
        _ => None,
    })
}

fn add_credits(data: &mut Value, credits: &Option<Value>) {
    if let (Some(c), Value::Object(m)) = (credits, data) {
        m.insert("credits_remaining".into(), c.clone());
    }
}

fn credits_note(o: Outcome, credits: &Option<Value>) -> Outcome {
    match credits {
        Some(Value::String(s)) => o.note(format!("AgentPhone credits remaining: {s}")),
        Some(c) => o.note(format!("AgentPhone credits remaining: {c}")),
        None => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::render_blocks;

    fn call(v: Value) -> Call {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn completed_call_shows_every_field_and_the_transcript() {
        let c = call(json!({"call_id": "c1", "status": "completed", "outcome": "achieved", "summary": "Booked",
            "duration_seconds": 42, "recording_url": "https://r/1.mp3", "transcript": "Agent: hi"}));
        let o = report(&c, &None);
        let text = render_blocks(&o.blocks);
        for want in ["c1", "achieved", "Booked", "42 s", "https://r/1.mp3", "Transcript:\nAgent: hi"] {
            assert!(text.contains(want), "{want} missing in {text}");
        }
        assert_eq!(o.exit_code, 0);
    }

    #[test]
    fn run_events_owed_follow_the_record_flags() {
        let summaries =
            |rec: Value| -> Vec<String> { pending_events(&rec).into_iter().map(|(_, e)| e.summary).collect() };
        let placed = json!({"call_id": "c1", "status": "queued", "placed_logged": false, "result_logged": false});
        assert_eq!(summaries(placed), vec!["AgentPhone call placed call_id=c1"]);
        // Booked by `get --mission` after the end: only the result is owed.
        let seen = json!({"call_id": "c1", "status": "failed", "failure_reason": "busy"});
        let ev = pending_events(&seen);
        assert_eq!(ev.len(), 1);
        assert_eq!(
            (ev[0].1.kind.as_str(), ev[0].1.summary.as_str()),
            ("error", "AgentPhone call call_id=c1 failed (busy)")
        );
        let logged = json!({"call_id": "c1", "status": "completed", "placed_logged": true, "result_logged": true});
        assert!(summaries(logged).is_empty());
    }

    #[test]
    fn upsert_merges_by_call_id_and_keeps_other_records() {
        let mut mem = Map::new();
        let rec = |v: Value| v.as_object().unwrap().clone();
        upsert(&mut mem, rec(json!({"call_id": "c1", "to": "+15005550006", "status": "queued"})));
        upsert(&mut mem, rec(json!({"call_id": "c2", "status": "queued"})));
        upsert(&mut mem, rec(json!({"call_id": "c1", "status": "completed"})));
        assert_eq!(
            mem[MEMORY_KEY],
            json!([{"call_id": "c1", "to": "+15005550006", "status": "completed"}, {"call_id": "c2", "status": "queued"}])
        );
    }

    #[test]
    fn failed_call_exits_1_and_says_why() {
        let o = report(&call(json!({"call_id": "c1", "status": "failed", "failure_reason": "busy"})), &None);
        assert_eq!(o.exit_code, 1);
        assert_eq!(o.notes, vec!["AgentPhone call c1 failed (busy)".to_string()]);
    }
}
