//! The record of one scheduled call or SMS in a mission's memory (the list
//! under [`SCHEDULED_EVENTS_KEY`]), the one type every reader and writer of
//! those records uses: `schedule call|sms` writes it (`event_id,
//! assistant_id, channel, to, scheduled_at, step_id, text?, status`, the run
//! it belongs to and whether its run event was logged), and poll adds its
//! own bookkeeping to the same record (call status, attempt, retry intent,
//! outcome, insights, settled). Unknown fields ride along in `extra`, so
//! nothing another version (or telnyx_api.py) wrote is lost.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::claims::{lenient_claim, LogClaim, RecordKind, RunLog};
use super::mission::MissionState;
use crate::error::Result;

/// Memory key under which scheduled calls and SMS are recorded.
pub const SCHEDULED_EVENTS_KEY: &str = "scheduled_events";

/// The flag of a scheduled event whose run event was logged.
pub(super) const SCHEDULED_LOGGED: &str = "logged";

/// Scheduled calls and SMS ([`ScheduledEvent`]): one run event each,
/// "Scheduled … event_id=…", owed while `logged` is false.
pub const SCHEDULED_EVENT_LOGS: RecordKind = RecordKind {
    memory_key: SCHEDULED_EVENTS_KEY,
    id_field: "event_id",
    logs: &[RunLog { flag: SCHEDULED_LOGGED, claim: "log_claim", owed: scheduled_owed }],
};

/// Owed: an event record (one that reads as a [`ScheduledEvent`]; notes
/// written by hand are left alone) with `logged: false`.
fn scheduled_owed(r: &Map<String, Value>) -> bool {
    r.get(SCHEDULED_LOGGED).and_then(Value::as_bool) == Some(false) && parse_record(&Value::Object(r.clone())).is_some()
}

/// Scheduled-event `status` values that end an event.
pub const TERMINAL_STATUSES: &[&str] = &["completed", "failed", "cancelled", "canceled"];
/// `call_status` values that end a call.
pub const TERMINAL_CALL_STATUSES: &[&str] = &["completed", "no-answer", "busy", "canceled", "failed"];
/// `call_status` values worth another attempt (docs/protocol.md#http-api).
pub const RETRYABLE_CALL_STATUSES: &[&str] = &["busy", "no-answer", "failed"];

/// How one attempt ended, from the mission's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The call was answered (or the SMS delivered).
    Succeeded,
    /// A retryable failure; another attempt was decided (see `retry`).
    Retrying,
    /// The attempt failed and no further attempt follows: the target failed.
    Failed,
    /// Cancelled (by `mission cancel`, by a failed mission, or on the service).
    Cancelled,
}

/// A retry decided for an attempt. Written to the state BEFORE the schedule
/// request is sent, so a crash between the two is recovered by adopting the
/// already-scheduled event (matched by `to`, `scheduled_at` and step) instead
/// of scheduling a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryIntent {
    /// The attempt number the retry will be (2 for the first retry).
    pub attempt: u32,
    /// When the retry is scheduled (RFC 3339 UTC), fixed when decided.
    pub scheduled_at: String,
    /// The retry's event id, once the service accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// A call or SMS scheduled for a mission (one attempt at one target).
/// Fields are written in this order; absent optional ones are not written,
/// so a record rewritten by poll keeps what `schedule` wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    #[serde(alias = "id")]
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_id: Option<String>,
    /// `call` or `sms`.
    #[serde(default = "default_channel")]
    pub channel: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub scheduled_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// The SMS text (SMS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Scheduled event status: `pending, in_progress, completed, failed, cancelled`.
    #[serde(default = "default_status")]
    pub status: String,
    /// The caller id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `Some(false)` while the run event "Scheduled … event_id=…" still has
    /// to be logged to the service (a failed log is retried by later
    /// commands). Records without the field were logged; the field is kept
    /// exactly as found. See [`ScheduledEvent::is_logged`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged: Option<bool>,
    /// Who is logging the owed run event right now, and until when
    /// (`logged: false` only). A record claimed by a live claimer is left
    /// to it; an expired claim (its process died or hung) is taken over.
    #[serde(default, deserialize_with = "lenient_claim", skip_serializing_if = "Option::is_none")]
    pub log_claim: Option<LogClaim>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// 1 for the first attempt at a target, 2 for its first retry, …
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub attempt: u32,
    /// The attempt this one retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryIntent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AttemptOutcome>,
    /// Status of the saved insights (`completed` once final).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_status: Option<String>,
    /// How many times insights were asked for (gives up after a bound).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub insights_polls: u32,
    /// Everything about this attempt has been applied (status, insights,
    /// retry, step): poll has nothing more to do for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settled: bool,
    /// Cancelled on the service by `mission pause` before it started
    /// (docs/campaigns.md#pause-and-resume): settled for poll, but not an
    /// outcome. The step is not done and the run does not end while a
    /// record is paused; `mission resume` clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_channel() -> String {
    "call".into()
}
fn default_status() -> String {
    "pending".into()
}
fn one() -> u32 {
    1
}
fn is_one(v: &u32) -> bool {
    *v == 1
}
fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl Default for ScheduledEvent {
    /// An empty first attempt: a pending call with no id yet.
    fn default() -> Self {
        ScheduledEvent::new("", "", "", None)
    }
}

impl ScheduledEvent {
    /// A minimal record (used by poll for retries and by tests).
    pub fn new(event_id: &str, to: &str, scheduled_at: &str, step_id: Option<&str>) -> ScheduledEvent {
        ScheduledEvent {
            event_id: event_id.into(),
            assistant_id: None,
            channel: default_channel(),
            to: to.into(),
            scheduled_at: scheduled_at.into(),
            step_id: step_id.map(Into::into),
            text: None,
            status: default_status(),
            from: None,
            mission_id: None,
            run_id: None,
            logged: None,
            log_claim: None,
            call_status: None,
            conversation_id: None,
            attempt: 1,
            retry_of: None,
            retry: None,
            outcome: None,
            insights_status: None,
            insights_polls: 0,
            settled: false,
            paused: false,
            extra: Map::new(),
        }
    }

    /// The run event of this record was logged (or never owed).
    pub fn is_logged(&self) -> bool {
        self.logged != Some(false)
    }

    /// The run event is owed and nobody (alive) is sending it.
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        !self.is_logged() && !self.log_claim.as_ref().is_some_and(|c| c.live(now))
    }

    /// The event has ended on the service (by status or call status).
    pub fn is_terminal(&self) -> bool {
        TERMINAL_STATUSES.contains(&self.status.as_str())
            || self.call_status.as_deref().is_some_and(|c| TERMINAL_CALL_STATUSES.contains(&c))
    }

    /// The attempt's end is known well enough to decide its outcome: a
    /// terminal status and, for a call that was not cancelled, a terminal
    /// `call_status` (busy or answered decides retry or success). A status
    /// alone is not enough: a create reply can already say `failed` for a
    /// busy number, and deciding on it would skip the retry.
    pub fn has_decisive_facts(&self) -> bool {
        if !TERMINAL_STATUSES.contains(&self.status.as_str()) {
            return false;
        }
        if !self.is_call() || matches!(self.status.as_str(), "cancelled" | "canceled") {
            return true;
        }
        self.call_status.as_deref().is_some_and(|c| TERMINAL_CALL_STATUSES.contains(&c))
    }

    /// Poll holds every fact it needs about this attempt, so it may stop
    /// asking the service for the event (docs/protocol.md#state-file): the
    /// [decisive facts](Self::has_decisive_facts) and, for an answered
    /// call, the `conversation_id` its insights are fetched by.
    pub fn has_final_facts(&self) -> bool {
        self.has_decisive_facts()
            && (!self.is_call() || self.call_status.as_deref() != Some("completed") || self.conversation_id.is_some())
    }

    /// The event has started (or ended): it is no longer merely scheduled.
    pub fn has_started(&self) -> bool {
        self.status != "pending" || self.call_status.is_some()
    }

    pub fn is_call(&self) -> bool {
        self.channel != "sms"
    }

    /// A retryable call status, when this attempt ended with one.
    pub fn retryable_status(&self) -> Option<&str> {
        if !self.is_call() {
            return None;
        }
        self.call_status.as_deref().filter(|c| RETRYABLE_CALL_STATUSES.contains(c))
    }

    /// This attempt is finished for the step: decided, and when it is being
    /// retried, the retry exists (the retry is then a record of its own).
    pub fn is_resolved(&self) -> bool {
        match self.outcome {
            None => false,
            Some(AttemptOutcome::Retrying) => self.retry.as_ref().is_some_and(|r| r.event_id.is_some()),
            Some(_) => true,
        }
    }
}

/// An entry the bot appended by hand, in the skill documentation's shape
/// (`{"event_id","type":"call"|"sms","to","scheduled_at","step_id"}`, the
/// MANDATORY `append-memory SLUG scheduled_events` step). clawdtalk always
/// writes `channel`; an entry with `type` and no `channel` is the bot's.
/// It is kept as written and never polled: its facts are folded into
/// clawdtalk's own record with the same id ([`parse_records`]), and one
/// with an id clawdtalk did not schedule is only a note.
pub fn is_bot_entry(v: &Value) -> bool {
    v.get("channel").is_none() && v.get("type").is_some()
}

/// One entry of the list reads as an event record of clawdtalk's (has an
/// id, not a bot's entry). Notes written by hand, the bot's entries and
/// malformed entries do not; they stay in the file.
pub(super) fn parse_record(v: &Value) -> Option<ScheduledEvent> {
    if is_bot_entry(v) {
        return None;
    }
    serde_json::from_value::<ScheduledEvent>(v.clone()).ok().filter(|r| !r.event_id.is_empty())
}

/// The fields clawdtalk owns in a record: a bot's entry never sets them
/// (its `step_id` or `status` written by hand must not steer poll).
const RECORD_FIELDS: &[&str] = &[
    "event_id",
    "id",
    "assistant_id",
    "channel",
    "to",
    "scheduled_at",
    "step_id",
    "text",
    "status",
    "from",
    "mission_id",
    "run_id",
    "logged",
    "log_claim",
    "call_status",
    "conversation_id",
    "attempt",
    "retry_of",
    "retry",
    "outcome",
    "insights_status",
    "insights_polls",
    "settled",
    "paused",
];

fn entry_id(v: &Value) -> Option<&str> {
    v.get("event_id").or_else(|| v.get("id")).and_then(Value::as_str)
}

/// Parse `memory.scheduled_events`; entries that are not event records are
/// skipped (and returned as their index) rather than failing the mission.
/// A bot's entry ([`is_bot_entry`]) with the id of one of clawdtalk's
/// records is merged into it: its fields ride along in `extra` where the
/// record has none of that name (clawdtalk's own facts win).
pub fn parse_records(v: Option<&Value>) -> (Vec<ScheduledEvent>, Vec<usize>) {
    let mut out: Vec<ScheduledEvent> = Vec::new();
    let mut bad = Vec::new();
    let mut bots: Vec<&Map<String, Value>> = Vec::new();
    if let Some(Value::Array(items)) = v {
        for (i, item) in items.iter().enumerate() {
            match (parse_record(item), item) {
                (Some(r), _) => out.push(r),
                (None, Value::Object(m)) if is_bot_entry(item) => {
                    bots.push(m);
                    bad.push(i);
                }
                (None, _) => bad.push(i),
            }
        }
    }
    for bot in bots {
        let Some(id) = bot.get("event_id").or_else(|| bot.get("id")).and_then(Value::as_str) else { continue };
        let Some(rec) = out.iter_mut().find(|r| r.event_id == id) else { continue };
        for (k, val) in bot {
            if !RECORD_FIELDS.contains(&k.as_str()) && !rec.extra.contains_key(k) {
                rec.extra.insert(k.clone(), val.clone());
            }
        }
    }
    (out, bad)
}

/// Replace (by event id) or append `changed` records in a `scheduled_events`
/// value, keeping records and fields the writer does not know about. A
/// single value there becomes the first item of a list.
pub fn merge_records(current: Option<Value>, changed: &[ScheduledEvent]) -> Value {
    let mut items = match current {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    };
    for rec in changed {
        let Ok(new) = serde_json::to_value(rec) else { continue };
        let same = |it: &Value| entry_id(it) == Some(rec.event_id.as_str());
        // clawdtalk's own entry first; a bot's entry with the id only when
        // there is none (the record written now carries its fields).
        let pos = items.iter().position(|it| same(it) && !is_bot_entry(it)).or_else(|| items.iter().position(same));
        match pos {
            Some(p) => items[p] = new,
            None => items.push(new),
        }
        // The bot's duplicates of this id are merged into the record now
        // written (see `parse_records`): drop them so the list holds one.
        items.retain(|it| !(same(it) && is_bot_entry(it)));
    }
    Value::Array(items)
}

impl MissionState {
    /// The scheduled calls and SMS recorded for this mission. Entries that
    /// are not event records (hand-written notes) are skipped here but kept
    /// in the file.
    pub fn scheduled_events(&self) -> Vec<ScheduledEvent> {
        parse_records(self.memory_get(SCHEDULED_EVENTS_KEY)).0
    }

    /// Record changed or new scheduled events ([`merge_records`]) and stamp
    /// `last_updated`.
    pub fn put_scheduled_events(&mut self, changed: &[ScheduledEvent], now: DateTime<Utc>) -> Result<()> {
        let cur = self.memory_get(SCHEDULED_EVENTS_KEY).cloned();
        self.memory_save(SCHEDULED_EVENTS_KEY, merge_records(cur, changed), now)
    }

    /// Record a scheduled event: replaces the record with the same
    /// `event_id`, or appends it. Stamps `last_updated`.
    pub fn upsert_scheduled_event(&mut self, ev: &ScheduledEvent, now: DateTime<Utc>) -> Result<()> {
        self.put_scheduled_events(std::slice::from_ref(ev), now)
    }

    /// Change the recorded event `event_id` in place (the poll engine uses
    /// this to store `status`, `call_status`, …). Returns false when the
    /// mission has no such event.
    pub fn update_scheduled_event(
        &mut self,
        event_id: &str,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut ScheduledEvent),
    ) -> Result<bool> {
        let Some(mut ev) = self.scheduled_events().into_iter().find(|e| e.event_id == event_id) else {
            return Ok(false);
        };
        f(&mut ev);
        self.upsert_scheduled_event(&ev, now)?;
        Ok(true)
    }

    /// Claim every scheduled event whose run event is owed and not claimed
    /// by a live claimer: [`MissionState::claim_logs`] over
    /// [`SCHEDULED_EVENT_LOGS`]. Returns the claimed records.
    pub fn claim_unlogged(
        &mut self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ScheduledEvent>> {
        Ok(self
            .claim_logs(&SCHEDULED_EVENT_LOGS, owner, now, until)
            .into_iter()
            .filter_map(|c| parse_record(&Value::Object(c.record)))
            .collect())
    }

    /// Settle `owner`'s claim on the run event of the scheduled event
    /// `event_id` ([`MissionState::settle_log`]). Returns false when there is
    /// no such record.
    pub fn settle_log_claim(&mut self, event_id: &str, owner: &str, logged: bool, now: DateTime<Utc>) -> Result<bool> {
        Ok(self.settle_log(&SCHEDULED_EVENT_LOGS, event_id, SCHEDULED_LOGGED, owner, logged, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z").unwrap().with_timezone(&Utc)
    }

    fn own(id: &str, step: &str) -> Value {
        json!({"event_id": id, "assistant_id": "a", "channel": "call", "to": "+15551234567",
               "scheduled_at": "2026-01-01T00:00:00Z", "step_id": step, "status": "pending"})
    }

    #[test]
    fn a_bots_entry_merges_into_clawdtalks_record_and_a_foreign_one_is_never_a_record() {
        let bot_same = json!({"event_id": "e1", "type": "sms", "to": "+15550000000",
                              "scheduled_at": "2030-01-01T00:00:00Z", "step_id": "bogus", "note": "hi"});
        let bot_foreign = json!({"event_id": "x9", "type": "call", "to": "+15551112222", "step_id": "s9"});
        let list = json!([own("e1", "s1"), bot_same, bot_foreign]);
        let (recs, skipped) = parse_records(Some(&list));
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert_eq!(skipped, [1, 2]);
        let r = &recs[0];
        assert_eq!((r.channel.as_str(), r.step_id.as_deref(), r.to.as_str()), ("call", Some("s1"), "+15551234567"));
        assert_eq!(r.extra["note"], "hi", "the bot's own fields ride along");
        assert_eq!(r.extra["type"], "sms");
        // Writing the record back leaves one entry for e1 and the foreign one as written.
        let merged = merge_records(Some(list), &recs);
        let items = merged.as_array().unwrap();
        assert_eq!(items.len(), 2, "{merged:#}");
        assert_eq!(items[0]["channel"], "call");
        assert_eq!(items[1], json!({"event_id": "x9", "type": "call", "to": "+15551112222", "step_id": "s9"}));
        let (again, _) = parse_records(Some(&merged));
        assert_eq!(again, recs);
    }

    #[test]
    fn a_terminal_status_alone_is_not_final_for_a_call() {
        let mut r: ScheduledEvent = serde_json::from_value(own("e1", "s1")).unwrap();
        r.status = "failed".into();
        assert!(!r.has_final_facts(), "no call_status yet");
        r.call_status = Some("busy".into());
        assert!(r.has_final_facts());
        r.status = "completed".into();
        r.call_status = Some("completed".into());
        assert!(!r.has_final_facts(), "answered without a conversation id");
        r.conversation_id = Some("c1".into());
        assert!(r.has_final_facts());
        r.channel = "sms".into();
        r.call_status = None;
        assert!(r.has_final_facts(), "an SMS ends with its status");
    }

    #[test]
    fn owed_records_are_claimed_once_until_the_claim_expires() {
        let mut m = MissionState::default();
        for (id, logged) in [("ev1", false), ("ev2", true), ("ev3", false)] {
            let ev: ScheduledEvent = serde_json::from_value(json!({
                "event_id": id, "assistant_id": "a", "channel": "call", "to": "+15551234567",
                "scheduled_at": "2026-01-01T00:00:00Z", "status": "pending", "logged": logged
            }))
            .unwrap();
            m.upsert_scheduled_event(&ev, now()).unwrap();
        }
        let until = now() + chrono::Duration::minutes(10);
        let ids = |v: Vec<ScheduledEvent>| v.into_iter().map(|e| e.event_id).collect::<Vec<_>>();
        assert_eq!(ids(m.claim_unlogged("p1", now(), until).unwrap()), ["ev1", "ev3"]);
        // A second claimer gets nothing while the claims are live...
        assert!(m.claim_unlogged("p2", now(), until).unwrap().is_empty());
        // ...and everything owed once they expire (the first claimer died).
        let later = until + chrono::Duration::seconds(1);
        assert_eq!(ids(m.claim_unlogged("p2", later, later + chrono::Duration::minutes(10)).unwrap()), ["ev1", "ev3"]);
        // p1 cannot release p2's claim; p2 can; a sent event is logged whoever holds it.
        m.settle_log_claim("ev1", "p1", false, later).unwrap();
        assert!(!m.scheduled_events()[0].claimable(later));
        m.settle_log_claim("ev1", "p2", false, later).unwrap();
        assert!(m.scheduled_events()[0].claimable(later));
        m.settle_log_claim("ev3", "p1", true, later).unwrap();
        let ev3 = &m.scheduled_events()[2];
        assert!(ev3.is_logged() && ev3.log_claim.is_none());
    }

    #[test]
    fn a_claim_that_does_not_parse_is_no_claim() {
        let ev: ScheduledEvent = serde_json::from_value(json!({
            "event_id": "ev1", "assistant_id": "a", "channel": "call", "to": "+15551234567",
            "scheduled_at": "2026-01-01T00:00:00Z", "status": "pending", "logged": false, "log_claim": "junk"
        }))
        .unwrap();
        assert!(ev.claimable(now()));
    }

    #[test]
    fn scheduled_events_upsert_and_keep_unknown_fields() {
        let mut m = MissionState::default();
        let ev: ScheduledEvent = serde_json::from_value(json!({
            "event_id": "ev1", "assistant_id": "a", "channel": "call", "to": "+15551234567",
            "scheduled_at": "2026-01-01T00:00:00Z", "status": "pending", "call_status": "ringing", "retry_count": 2
        }))
        .unwrap();
        assert!(ev.is_logged());
        m.upsert_scheduled_event(&ev, now()).unwrap();
        assert!(m.update_scheduled_event("ev1", now(), |e| e.status = "completed".into()).unwrap());
        assert!(!m.update_scheduled_event("nope", now(), |_| ()).unwrap());
        let evs = m.scheduled_events();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].status, "completed");
        assert_eq!(evs[0].call_status.as_deref(), Some("ringing"));
        assert_eq!(evs[0].extra["retry_count"], 2);
    }

    #[test]
    fn state_issue_records_parse_and_keep_unknown_fields() {
        let v = json!([{"event_id":"e1","assistant_id":"a1","channel":"call","to":"+15005550006",
            "scheduled_at":"2026-01-01T00:05:00Z","step_id":"calls","status":"pending","note":"mine"}]);
        let (recs, bad) = parse_records(Some(&v));
        assert!(bad.is_empty());
        assert_eq!(recs[0].attempt, 1);
        assert_eq!(recs[0].extra["note"], "mine");
        let back = serde_json::to_value(&recs[0]).unwrap();
        assert_eq!(back["note"], "mine");
        assert!(back.get("attempt").is_none() && back.get("settled").is_none() && back.get("logged").is_none());
    }

    #[test]
    fn a_record_written_by_schedule_keeps_its_fields_in_order_through_poll() {
        let written = json!({"event_id":"e1","assistant_id":"a1","channel":"call","to":"+15005550006",
            "scheduled_at":"2026-01-01T00:05:00Z","step_id":"calls","status":"pending","from":"+15550001111",
            "mission_id":"m1","run_id":"r1","logged":true});
        let mut r: ScheduledEvent = serde_json::from_value(written.clone()).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&serde_json::to_value(&r).unwrap()), keys(&written));
        r.call_status = Some("completed".into());
        r.settled = true;
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["logged"], true, "a logged flag that was written stays written");
        assert_eq!(keys(&back)[..keys(&written).len()], keys(&written)[..]);
    }

    #[test]
    fn malformed_records_are_skipped_not_fatal() {
        let v = json!([{"to":"x"}, "junk", {"id":"e2"}]);
        let (recs, bad) = parse_records(Some(&v));
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].event_id, "e2");
        assert_eq!(bad, vec![0, 1]);
    }

    #[test]
    fn merge_replaces_by_id_and_appends_new() {
        let cur = json!([{"event_id":"e1","status":"pending","x":1}, {"event_id":"other"}]);
        let mut r = ScheduledEvent::new("e1", "+1", "t", None);
        r.status = "completed".into();
        let n = ScheduledEvent::new("e3", "+1", "t", None);
        let v = merge_records(Some(cur), &[r, n]);
        let a = v.as_array().unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0]["status"], "completed");
        assert_eq!(a[1]["event_id"], "other");
        assert_eq!(a[2]["event_id"], "e3");
    }

    #[test]
    fn terminal_and_retryable_rules() {
        let mut r = ScheduledEvent::new("e", "+1", "t", None);
        assert!(!r.is_terminal() && !r.has_started());
        r.status = "in_progress".into();
        r.call_status = Some("ringing".into());
        assert!(!r.is_terminal() && r.has_started());
        r.call_status = Some("busy".into());
        assert!(r.is_terminal());
        assert_eq!(r.retryable_status(), Some("busy"));
        r.channel = "sms".into();
        assert_eq!(r.retryable_status(), None);
    }
}
