//! The records poll reads and writes in a mission's memory.
//!
//! `scheduled_events` records are written by `schedule call|sms` (the state
//! issue's automatic bookkeeping: `event_id, assistant_id, channel, to,
//! scheduled_at, step_id, text?, status`); poll adds its own bookkeeping
//! fields to the same records (call_status, attempt, retry intent, outcome,
//! settled). Unknown fields ride along in `extra`, so nothing another
//! version wrote is lost.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Memory key of the tracked scheduled events (a list of [`TrackedEvent`]).
pub const SCHEDULED_EVENTS: &str = "scheduled_events";
/// Memory key of the saved insights (an object keyed by event id).
pub const INSIGHTS: &str = "insights";
/// Memory key of the targets that failed every attempt (a list).
pub const FAILED_TARGETS: &str = "failed_targets";
/// Memory key of the mission's final result.
pub const RESULT: &str = "result";

/// Scheduled-event `status` values that end an event.
pub const TERMINAL_STATUSES: &[&str] = &["completed", "failed", "cancelled", "canceled"];
/// `call_status` values that end a call.
pub const TERMINAL_CALL_STATUSES: &[&str] = &["completed", "no-answer", "busy", "canceled", "failed"];
/// `call_status` values worth another attempt (contract §2).
pub const RETRYABLE_CALL_STATUSES: &[&str] = &["busy", "no-answer", "failed"];
/// Plan step statuses poll never changes again.
pub const TERMINAL_STEP_STATUSES: &[&str] = &["completed", "skipped", "failed"];
/// Run statuses poll never changes again.
pub const TERMINAL_RUN_STATUSES: &[&str] = &["succeeded", "failed", "cancelled"];

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

/// One tracked scheduled event (one attempt at one target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedEvent {
    #[serde(alias = "id")]
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_id: Option<String>,
    #[serde(default = "default_channel")]
    pub channel: String,
    #[serde(default)]
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default)]
    pub scheduled_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default = "default_status")]
    pub status: String,
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

impl TrackedEvent {
    /// A minimal record (used by poll for retries and by tests).
    pub fn new(event_id: &str, to: &str, scheduled_at: &str, step_id: Option<&str>) -> TrackedEvent {
        TrackedEvent {
            event_id: event_id.into(),
            assistant_id: None,
            channel: default_channel(),
            to: to.into(),
            from: None,
            scheduled_at: scheduled_at.into(),
            step_id: step_id.map(Into::into),
            text: None,
            status: default_status(),
            call_status: None,
            conversation_id: None,
            attempt: 1,
            retry_of: None,
            retry: None,
            outcome: None,
            insights_status: None,
            insights_polls: 0,
            settled: false,
            extra: Map::new(),
        }
    }

    /// The event has ended on the service (by status or call status).
    pub fn is_terminal(&self) -> bool {
        TERMINAL_STATUSES.contains(&self.status.as_str())
            || self.call_status.as_deref().is_some_and(|c| TERMINAL_CALL_STATUSES.contains(&c))
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

/// Parse `memory.scheduled_events`; malformed entries are skipped (and
/// returned as their index) rather than failing the whole mission.
pub fn parse_records(v: Option<&Value>) -> (Vec<TrackedEvent>, Vec<usize>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    if let Some(Value::Array(items)) = v {
        for (i, item) in items.iter().enumerate() {
            match serde_json::from_value::<TrackedEvent>(item.clone()) {
                Ok(r) if !r.event_id.is_empty() => out.push(r),
                _ => bad.push(i),
            }
        }
    }
    (out, bad)
}

/// Replace (by event id) or append `changed` records in a `scheduled_events`
/// value, keeping records and fields poll does not know about.
pub fn merge_records(current: Option<Value>, changed: &[TrackedEvent]) -> Value {
    let mut items = match current {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    };
    for rec in changed {
        let Ok(new) = serde_json::to_value(rec) else { continue };
        let pos = items.iter().position(|it| {
            let id = it.get("event_id").or_else(|| it.get("id")).and_then(Value::as_str);
            id == Some(rec.event_id.as_str())
        });
        match pos {
            Some(p) => items[p] = new,
            None => items.push(new),
        }
    }
    Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert!(back.get("attempt").is_none() && back.get("settled").is_none());
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
        let mut r = TrackedEvent::new("e1", "+1", "t", None);
        r.status = "completed".into();
        let n = TrackedEvent::new("e3", "+1", "t", None);
        let v = merge_records(Some(cur), &[r, n]);
        let a = v.as_array().unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0]["status"], "completed");
        assert_eq!(a[1]["event_id"], "other");
        assert_eq!(a[2]["event_id"], "e3");
    }

    #[test]
    fn terminal_and_retryable_rules() {
        let mut r = TrackedEvent::new("e", "+1", "t", None);
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
