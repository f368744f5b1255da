//! AgentPhone calls booked to a mission (docs/protocol.md#agentphone): each
//! call is a record in the mission's memory, and owes the run a "placed" and
//! a result event, claimed like the scheduled events' ([`super::claim`]).

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::agentphone::{Call, CallRequest};
use crate::api::events::{self, NewEvent};
use crate::api::Client;
use crate::error::{Error, Result};
use crate::journal::{Entry, Kind};
use crate::state::{RecordKind, RunLog, StateStore};

use super::claim::{send_claimed, Claim, OwedEvent};
use super::ClientSource;

/// Check an AgentPhone call's arguments before anything is sent (the CLI's
/// `agentphone call` and the MCP tool `agentphone_call`).
pub fn checked_request(
    to: &str,
    objective: &str,
    business_name: Option<&str>,
    website: Option<&str>,
) -> Result<CallRequest> {
    let to_phone_number = crate::validate::phone("--to", to)?;
    let objective = objective.trim();
    if objective.is_empty() {
        return Err(Error::usage("--objective must say what the call should achieve; it is empty"));
    }
    let business_name = match business_name.map(str::trim) {
        Some("") => return Err(Error::usage("--business-name is empty; leave it out or give the name")),
        other => other.map(str::to_string),
    };
    let website = match website.map(str::trim) {
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

/// The journal's entry for a placed call (docs/journal.md).
pub fn placed_entry(call: &Call, to: &str, mission: Option<&str>) -> Entry {
    let e = Entry::new(Kind::Agentphone, "agentphone.placed").call_id(&call.call_id).to(to).status(&call.stage());
    match mission {
        Some(m) => e.mission(m),
        None => e,
    }
}

/// The journal's entry for a finished call: its stage, and the outcome or
/// summary. None while it is still going.
pub fn result_entry(call: &Call, mission: Option<&str>) -> Option<Entry> {
    if !call.is_terminal() {
        return None;
    }
    let mut e = Entry::new(Kind::Agentphone, "agentphone.result").call_id(&call.call_id).status(&call.stage());
    if let Some(m) = mission {
        e = e.mission(m);
    }
    if let Some(t) = call.outcome.as_deref().or(call.summary.as_deref()).filter(|t| !t.trim().is_empty()) {
        e = e.text(t);
    }
    Some(e)
}

/// Memory key under which a mission keeps its AgentPhone calls.
pub const MEMORY_KEY: &str = "agentphone_calls";

/// The record flag of the "placed" run event.
const PLACED: &str = "placed_logged";
/// The record flag of the result run event.
const RESULT: &str = "result_logged";

/// AgentPhone call records and their two run events, each with its own
/// claim (`placed_log_claim`, `result_log_claim`) so concurrent commands
/// for one mission log each once (the mechanism of the scheduled events).
pub const CALL_LOGS: RecordKind = RecordKind {
    memory_key: MEMORY_KEY,
    id_field: "call_id",
    logs: &[
        RunLog { flag: PLACED, claim: "placed_log_claim", owed: placed_owed },
        RunLog { flag: RESULT, claim: "result_log_claim", owed: result_owed },
    ],
};

/// The "placed" event is owed by a record that `call --mission` created
/// and did not log yet (`placed_logged: false`).
fn placed_owed(rec: &Map<String, Value>) -> bool {
    rec.get(PLACED).and_then(Value::as_bool) == Some(false)
}

/// The result is owed once the call ended, until logged. A call first
/// booked by `get --mission` was never announced as placed, but its result
/// is still owed: only an explicit `true` means logged.
fn result_owed(rec: &Map<String, Value>) -> bool {
    rec.get(RESULT).and_then(Value::as_bool) != Some(true)
        && matches!(rec.get("status").and_then(Value::as_str), Some("completed" | "failed" | "canceled" | "cancelled"))
}

/// Who retries an AgentPhone run event that is still owed.
const RETRIED_BY: &str = "the next agentphone command with --mission, or complete, for this mission";

/// The mission a call is booked to (`--mission SLUG`): its calls are kept in
/// memory under [`MEMORY_KEY`], one record per `call_id`, and each is logged
/// to the run as a `custom` event when placed and a `custom` (completed) or
/// `error` (failed, canceled) event when it ends, like the scheduled events
/// of ClawdTalk. A record remembers which of its run events were logged
/// (`placed_logged`, `result_logged`); one that could not be logged is
/// retried by the next `--mission` command for that mission. Every owed run
/// event is claimed under the state lock before it is sent ([`CALL_LOGS`]).
pub struct Booking {
    store: StateStore,
    slug: String,
    run: Option<(String, String)>,
}

impl Booking {
    /// Find the active mission by slug or mission id (an unknown key lists
    /// the known slugs). When it has a run, the ClawdTalk key is needed to
    /// log events: its absence is a configuration error now, not later.
    pub async fn open(client: &impl ClientSource, store: StateStore, key: &str) -> Result<Booking> {
        let state = store.read_async().await?;
        let slug = state.active_slug(key)?;
        let m = state.mission(&slug).ok_or_else(|| state.unknown(key))?;
        let run = m.mission_id().zip(m.run_id());
        if run.is_some() {
            client.client()?;
        }
        Ok(Booking { store, slug, run })
    }

    /// Save what is known of `call` in the mission's memory and, in the same
    /// update, claim every run event the mission's AgentPhone records owe
    /// and no live command is sending; then send them and settle the claims
    /// ([`send_claimed`]). Returns notes for stderr (`warning:` ones for
    /// failures: the call itself went through).
    pub async fn record(
        &self,
        client: &impl ClientSource,
        claim: &Claim,
        now: DateTime<Utc>,
        call: &Call,
        req: Option<&CallRequest>,
    ) -> Vec<String> {
        let fields = record_fields(call, req, now);
        // Without a client nothing can be sent: claim nothing (the owed
        // events stay free for the next command).
        let client = match &self.run {
            None => Ok(None),
            Some(_) => client.client().map(Some),
        };
        let (slug, c, claiming) = (self.slug.clone(), claim.clone(), matches!(client, Ok(Some(_))));
        let saved = self
            .store
            .update_async(move |s| {
                let m = s
                    .mission_mut(&slug)
                    .ok_or_else(|| Error::state(format!("mission '{slug}' is no longer active in the state file")))?;
                let owed_before = m.owed_logs(&CALL_LOGS);
                upsert(m.memory_mut()?, fields);
                m.touch(now);
                let Some(run) = m.mission_id().zip(m.run_id()).filter(|_| claiming) else { return Ok(None) };
                let n = m.claimable_logs(&CALL_LOGS, now);
                if n == 0 {
                    return Ok(Some(Vec::new()));
                }
                let claimed = m.claim_logs(&CALL_LOGS, &c.owner, now, c.until(now, n));
                // A run event that was not owed before this update was never
                // sent: nothing to look for on the run first.
                let owed = claimed
                    .into_iter()
                    .map(|cl| {
                        let fresh = !owed_before.iter().any(|(id, f)| *id == cl.id && *f == cl.flag);
                        OwedEvent {
                            event: run_event(&cl.record, cl.flag),
                            id: cl.id,
                            flag: cl.flag,
                            run: run.clone(),
                            fresh,
                        }
                    })
                    .collect::<Vec<_>>();
                Ok(Some(owed))
            })
            .await;
        let what = if req.is_some() { "Recorded" } else { "Updated" };
        let claimed = match saved {
            Ok(claimed) => claimed,
            Err(e) => {
                return vec![format!(
                    "warning: could not record AgentPhone call {} in mission '{}': {e}",
                    call.call_id, self.slug
                )]
            }
        };
        let mut notes = vec![format!(
            "{what} AgentPhone call {} ({}) in mission '{}' memory ({MEMORY_KEY})",
            call.call_id,
            call.stage(),
            self.slug
        )];
        match (claimed, client) {
            (_, Err(e)) => notes.push(format!("warning: no run event logged: {e}")),
            (Some(owed), Ok(Some(client))) if !owed.is_empty() => notes
                .extend(send_claimed(&client, &self.store, &self.slug, &CALL_LOGS, claim, owed, RETRIED_BY, now).await),
            (Some(_), _) => {}
            (None, _) => {
                notes.push(format!("mission '{}' has no run id in the state file: no run event was logged", self.slug))
            }
        }
        notes
    }
}

/// Log the run events the mission's AgentPhone records still owe (their
/// logging failed before) and that no live command is sending: `complete`
/// calls this before the run ends, so nothing owed is stranded in the
/// archive. Returns notes for stderr.
pub async fn retry_owed(
    client: &Client,
    store: &StateStore,
    claim: &Claim,
    slug: &str,
    now: DateTime<Utc>,
) -> Vec<String> {
    // Most of the time nothing is owed: look before taking the lock.
    let Ok(state) = store.read_async().await else { return Vec::new() };
    if state.mission(slug).is_none_or(|m| m.claimable_logs(&CALL_LOGS, now) == 0) {
        return Vec::new();
    }
    let (s, c) = (slug.to_string(), claim.clone());
    let claimed = store
        .update_async(move |st| {
            let Some(m) = st.mission_mut(&s) else { return Ok(Vec::new()) };
            let Some(run) = m.mission_id().zip(m.run_id()) else { return Ok(Vec::new()) };
            let n = m.claimable_logs(&CALL_LOGS, now);
            let claimed = m.claim_logs(&CALL_LOGS, &c.owner, now, c.until(now, n));
            // Owed from an earlier command: it may have landed before that
            // command could mark it, so the run is checked first.
            Ok(claimed
                .into_iter()
                .map(|cl| OwedEvent {
                    event: run_event(&cl.record, cl.flag),
                    id: cl.id,
                    flag: cl.flag,
                    run: run.clone(),
                    fresh: false,
                })
                .collect::<Vec<_>>())
        })
        .await;
    match claimed {
        Ok(owed) if owed.is_empty() => Vec::new(),
        Ok(owed) => send_claimed(client, store, slug, &CALL_LOGS, claim, owed, RETRIED_BY, now).await,
        Err(e) => vec![format!("warning: could not retry the AgentPhone run events owed by mission '{slug}': {e}")],
    }
}

/// The memory record of a call: what was asked (when known) and what
/// AgentPhone reports now. Absent values are left out so a later read never
/// erases an earlier one.
fn record_fields(call: &Call, req: Option<&CallRequest>, now: DateTime<Utc>) -> Map<String, Value> {
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

/// The run event `flag` ([`PLACED`] or [`RESULT`]) of a call record.
fn run_event(rec: &Map<String, Value>, flag: &str) -> NewEvent {
    let s = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let id = s("call_id");
    let event = |kind: &str, summary: String, payload: Value| NewEvent {
        kind: kind.into(),
        summary,
        agent_id: Some(events::DEFAULT_AGENT_ID.into()),
        step_id: None,
        payload: Some(payload),
    };
    if flag == PLACED {
        return event(
            "custom",
            format!("AgentPhone call placed call_id={id}"),
            json!({"provider": "agentphone", "call_id": id, "to": s("to"), "objective": s("objective")}),
        );
    }
    let mut payload = Map::new();
    for k in
        ["provider", "call_id", "status", "outcome", "summary", "duration_seconds", "recording_url", "failure_reason"]
    {
        if let Some(v) = rec.get(k) {
            payload.insert(k.into(), v.clone());
        }
    }
    let status = s("status");
    if status == "completed" {
        let outcome = rec.get("outcome").and_then(Value::as_str).unwrap_or("no outcome");
        event("custom", format!("AgentPhone call call_id={id} completed: {outcome}"), Value::Object(payload))
    } else {
        let why = rec.get("failure_reason").and_then(Value::as_str).map(|r| format!(" ({r})")).unwrap_or_default();
        event("error", format!("AgentPhone call call_id={id} {status}{why}"), Value::Object(payload))
    }
}

/// Why a call failed, when the service says (`failure_reason`, `reason`, `error`).
pub fn reason(call: &Call) -> Option<String> {
    ["failure_reason", "reason", "error"].iter().find_map(|k| match call.extra.get(*k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Object(o)) => o.get("message").and_then(Value::as_str).map(str::to_string),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MissionState;

    /// A mission whose memory holds these AgentPhone call records.
    fn mission(records: Value) -> MissionState {
        let mut m = MissionState::default();
        m.memory_save(MEMORY_KEY, records, now()).unwrap();
        m
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&chrono::Utc)
    }

    fn owed_summaries(records: Value) -> Vec<String> {
        let m = mission(records);
        let recs = m.memory_get(MEMORY_KEY).unwrap().as_array().unwrap().clone();
        m.owed_logs(&CALL_LOGS)
            .into_iter()
            .map(|(id, flag)| {
                let rec = recs.iter().find(|r| r["call_id"] == id.as_str()).unwrap().as_object().unwrap();
                run_event(rec, flag).summary
            })
            .collect()
    }

    #[test]
    fn run_events_owed_follow_the_record_flags() {
        let placed = json!([{"call_id": "c1", "status": "queued", "placed_logged": false, "result_logged": false}]);
        assert_eq!(owed_summaries(placed), vec!["AgentPhone call placed call_id=c1"]);
        // Booked by `get --mission` after the end: only the result is owed.
        let seen = json!({"call_id": "c1", "status": "failed", "failure_reason": "busy"});
        let ev = run_event(seen.as_object().unwrap(), RESULT);
        assert_eq!((ev.kind.as_str(), ev.summary.as_str()), ("error", "AgentPhone call call_id=c1 failed (busy)"));
        assert_eq!(owed_summaries(json!([seen])), vec!["AgentPhone call call_id=c1 failed (busy)"]);
        let logged = json!([{"call_id": "c1", "status": "completed", "placed_logged": true, "result_logged": true}]);
        assert!(owed_summaries(logged).is_empty());
    }

    #[test]
    fn an_expired_claim_is_taken_over_and_a_live_one_is_left_alone() {
        let later = now() + chrono::Duration::minutes(30);
        let mut m = mission(json!([
            // p1 claimed c1's placed event and died: its claim expired.
            {"call_id": "c1", "status": "completed", "outcome": "achieved", "placed_logged": false,
             "placed_log_claim": {"owner": "p1", "until": "2026-01-02T03:00:00.000000Z"}},
            // p3 is sending c2's placed event right now.
            {"call_id": "c2", "status": "queued", "placed_logged": false, "result_logged": false,
             "placed_log_claim": {"owner": "p3", "until": crate::state::timestamp(later)}},
        ]));
        assert_eq!(m.claimable_logs(&CALL_LOGS, now()), 2);
        let claimed = m.claim_logs(&CALL_LOGS, "p2", now(), later);
        let got: Vec<(&str, &str)> = claimed.iter().map(|c| (c.id.as_str(), c.flag)).collect();
        assert_eq!(got, [("c1", PLACED), ("c1", RESULT)], "c1's expired claim and unclaimed result are taken");
        assert_eq!(claimed[0].record["placed_log_claim"]["owner"], "p2");
        // Nothing is left for another claimer while p2's and p3's claims live.
        assert_eq!(m.claimable_logs(&CALL_LOGS, now()), 0);
        assert!(m.claim_logs(&CALL_LOGS, "p4", now(), later).is_empty());
        // The dead p1 cannot release p2's claim; p2 settles its two events.
        assert!(m.settle_log(&CALL_LOGS, "c1", PLACED, "p1", false, now()));
        assert_eq!(m.claimable_logs(&CALL_LOGS, now()), 0);
        assert!(m.settle_log(&CALL_LOGS, "c1", PLACED, "p2", true, now()));
        assert!(m.settle_log(&CALL_LOGS, "c1", RESULT, "p2", false, now()));
        let c1 = m.memory_get(MEMORY_KEY).unwrap()[0].clone();
        assert_eq!(c1["placed_logged"], true);
        assert!(c1.get("placed_log_claim").is_none() && c1.get("result_log_claim").is_none(), "{c1}");
        // The released result is free at once; the rest is logged or p3's.
        assert_eq!(m.owed_logs(&CALL_LOGS), [("c1".to_string(), RESULT), ("c2".to_string(), PLACED)]);
        assert_eq!(m.claimable_logs(&CALL_LOGS, now()), 1);
        // Once p3's claim expires too, everything owed is claimable again.
        assert_eq!(m.claimable_logs(&CALL_LOGS, later + chrono::Duration::seconds(1)), 2);
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
}
