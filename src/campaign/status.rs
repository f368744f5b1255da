//! A campaign's standing (docs/campaigns.md#status): each target's
//! effective state, from its record and the attempts poll recorded, counted
//! for `mission status`; and the rule hook [`may_call_again`]. Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::record::{targets, TargetRecord, TargetStatus};
use crate::state::{AttemptOutcome, MissionState, ScheduledEvent};

/// Every effective state, in the order they are shown.
pub const STATES: &[&str] =
    &["planned", "scheduled", "in_progress", "retrying", "paused", "done", "failed", "cancelled", "skipped"];

/// A campaign's counts by effective state and its next slot.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CampaignStatus {
    pub total: usize,
    /// Every state of [`STATES`], zero included (a stable document).
    pub counts: BTreeMap<String, usize>,
    /// The earliest slot still to ring (RFC 3339 UTC).
    pub next_slot: Option<String>,
}

/// The target's latest attempt: its recorded event, then each attempt
/// that follows it (`retry_of`: poll's retries, resume, retry).
pub fn latest_attempt<'a>(t: &TargetRecord, events: &'a [ScheduledEvent]) -> Option<&'a ScheduledEvent> {
    attempts(t, events).last().copied()
}

/// Every attempt of the target from its recorded event on, latest last.
pub fn attempts<'a>(t: &TargetRecord, events: &'a [ScheduledEvent]) -> Vec<&'a ScheduledEvent> {
    let Some(mut cur) = events.iter().find(|e| Some(e.event_id.as_str()) == t.event_id.as_deref()) else {
        return Vec::new();
    };
    let mut out = vec![cur];
    // Bounded: a hand-edited file could hold a cycle.
    for _ in 0..events.len() {
        match events.iter().rev().find(|e| e.retry_of.as_deref() == Some(cur.event_id.as_str())) {
            Some(next) => {
                cur = next;
                out.push(cur);
            }
            None => break,
        }
    }
    out
}

/// Where a target stands, all things considered.
pub fn effective(t: &TargetRecord, events: &[ScheduledEvent]) -> &'static str {
    match t.status {
        TargetStatus::Planned => return "planned",
        TargetStatus::Skipped => return "skipped",
        TargetStatus::Paused => return "paused",
        TargetStatus::Failed => return "failed",
        TargetStatus::Done => return "done",
        TargetStatus::Scheduled => {}
    }
    let Some(e) = latest_attempt(t, events) else { return "scheduled" };
    if e.paused {
        return "paused";
    }
    match e.outcome {
        Some(AttemptOutcome::Succeeded) => "done",
        Some(AttemptOutcome::Failed) => "failed",
        Some(AttemptOutcome::Cancelled) => "cancelled",
        Some(AttemptOutcome::Retrying) => "retrying",
        None if e.has_started() => "in_progress",
        None => "scheduled",
    }
}

/// Whether a target may be called again (by `mission retry`): not once it
/// was reached, nor when its record says so (`"call_again": false`). The
/// hook where retry-profile rules (a professional gets at most one
/// voicemail) decide.
pub fn may_call_again(t: &TargetRecord, last: Option<&ScheduledEvent>) -> bool {
    if t.extra.get("call_again").and_then(serde_json::Value::as_bool) == Some(false) {
        return false;
    }
    !last.is_some_and(|e| e.outcome == Some(AttemptOutcome::Succeeded))
}

/// The campaign of a mission, or None when it has no targets.
pub fn campaign_status(m: &MissionState) -> Option<CampaignStatus> {
    let all = targets(m);
    if all.is_empty() {
        return None;
    }
    Some(count(&all, &m.scheduled_events()))
}

/// The campaign of the mission `key` (slug or mission id, active or
/// archived), or None when there is no such mission or it has no targets.
pub fn campaign_of(st: &crate::state::State, key: &str) -> Option<CampaignStatus> {
    st.lookup(key).ok().and_then(|(_, m)| campaign_status(m))
}

/// Count `targets` by effective state; the next slot of those still to ring.
pub fn count(targets: &[TargetRecord], events: &[ScheduledEvent]) -> CampaignStatus {
    let mut counts: BTreeMap<String, usize> = STATES.iter().map(|s| (s.to_string(), 0)).collect();
    let mut next: Option<DateTime<Utc>> = None;
    for t in targets {
        let state = effective(t, events);
        *counts.entry(state.to_string()).or_default() += 1;
        let slot = match state {
            "planned" => t.scheduled_at.clone(),
            "scheduled" => latest_attempt(t, events).map(|e| e.scheduled_at.clone()).or_else(|| t.scheduled_at.clone()),
            _ => None,
        };
        if let Some(at) = slot.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()) {
            let at = at.with_timezone(&Utc);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    CampaignStatus { total: targets.len(), counts, next_slot: next.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn target(phone: &str, status: TargetStatus, event: Option<&str>, at: &str) -> TargetRecord {
        TargetRecord {
            key: format!("calls|call|{phone}"),
            phone: phone.into(),
            name: None,
            zones: vec!["America/Chicago".into()],
            zone_source: None,
            kind: None,
            columns: Map::new(),
            window: None,
            days: None,
            channel: "call".into(),
            step_id: Some("calls".into()),
            status,
            event_id: event.map(Into::into),
            scheduled_at: Some(at.into()),
            claim: None,
            reason: None,
            extra: Map::new(),
        }
    }

    fn ev(id: &str, at: &str, outcome: Option<AttemptOutcome>) -> ScheduledEvent {
        let mut e = ScheduledEvent::new(id, "+15005550006", at, Some("calls"));
        e.outcome = outcome;
        e
    }

    #[test]
    fn targets_are_counted_by_their_latest_attempt_and_the_next_slot_is_the_earliest_to_ring() {
        let mut retried = ev("e3", "2026-01-05T15:00:00Z", Some(AttemptOutcome::Retrying));
        retried.retry = None;
        let mut retry = ev("e3b", "2026-01-05T16:30:00Z", None);
        retry.retry_of = Some("e3".into());
        let mut paused = ev("e4", "2026-01-05T15:00:00Z", None);
        paused.paused = true;
        let events = vec![
            ev("e1", "2026-01-05T15:00:00Z", Some(AttemptOutcome::Succeeded)),
            ev("e2", "2026-01-05T15:00:00Z", Some(AttemptOutcome::Failed)),
            retried,
            retry,
            paused,
            ev("e5", "2026-01-05T17:00:00Z", None),
        ];
        let ts = vec![
            target("+15005550001", TargetStatus::Scheduled, Some("e1"), "2026-01-05T15:00:00Z"),
            target("+15005550002", TargetStatus::Scheduled, Some("e2"), "2026-01-05T15:00:00Z"),
            target("+15005550003", TargetStatus::Scheduled, Some("e3"), "2026-01-05T15:00:00Z"),
            target("+15005550004", TargetStatus::Paused, Some("e4"), "2026-01-05T15:00:00Z"),
            target("+15005550005", TargetStatus::Scheduled, Some("e5"), "2026-01-05T17:00:00Z"),
            target("+15005550006", TargetStatus::Skipped, None, "2026-01-05T14:00:00Z"),
            target("+15005550007", TargetStatus::Planned, None, "2026-01-05T18:00:00Z"),
        ];
        let s = count(&ts, &events);
        let n = |k: &str| s.counts[k];
        assert_eq!((n("done"), n("failed"), n("scheduled"), n("paused")), (1, 1, 2, 1), "{s:?}");
        assert_eq!((n("skipped"), n("planned"), n("in_progress"), n("cancelled")), (1, 1, 0, 0));
        assert_eq!(s.total, 7);
        assert_eq!(s.counts.len(), STATES.len(), "every state is in the document");
        // e3's retry at 16:30 is the earliest still to ring.
        assert_eq!(s.next_slot.as_deref(), Some("2026-01-05T16:30:00Z"));
    }

    #[test]
    fn a_reached_target_or_one_marked_so_is_not_called_again() {
        let t = target("+15005550001", TargetStatus::Scheduled, Some("e1"), "2026-01-05T15:00:00Z");
        let failed = ev("e1", "x", Some(AttemptOutcome::Failed));
        let reached = ev("e1", "x", Some(AttemptOutcome::Succeeded));
        assert!(may_call_again(&t, Some(&failed)));
        assert!(!may_call_again(&t, Some(&reached)));
        let mut no = t.clone();
        no.extra.insert("call_again".into(), false.into());
        assert!(!may_call_again(&no, Some(&failed)));
    }
}
