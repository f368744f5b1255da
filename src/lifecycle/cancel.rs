//! `mission cancel`: stop a mission's remaining scheduled events (early
//! termination when the goal is met) and, unless only the pending events are
//! cancelled, the run itself.
//!
//! Nothing is lost: an event already under way (ringing, in a call) or ended
//! but not yet recorded by poll is never cancelled or dropped. It stays
//! tracked, and poll records how it ends (status, insights) before it closes
//! the mission; with nothing under way the mission is archived at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::executor::{PollLock, AWAITING};
use super::record::RESULT;
use super::service::{RunRef, Service};
use crate::error::{Error, Result};
use crate::state::{AttemptOutcome, ScheduledEvent, State, StateStore};

/// What `mission cancel` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CancelReport {
    pub slug: String,
    /// Scheduled events cancelled on the service.
    pub cancelled: Vec<String>,
    /// Retries that had been decided but not yet scheduled, dropped.
    pub dropped_retries: usize,
    /// The run was set `cancelled`.
    pub run_cancelled: bool,
    /// Events under way (or ended and not yet recorded) that stay tracked:
    /// poll records how they end, then closes the mission.
    pub still_tracked: Vec<String>,
    /// The mission was archived now (nothing left to record).
    pub archived: bool,
}

/// The records `cancel` looks at: not settled and not ended on the service.
fn cancellable(r: &ScheduledEvent) -> bool {
    !r.settled && !r.is_terminal()
}

/// Cancel the mission `key` (slug or mission id). Holds the poll lock so a
/// running poll cannot schedule a retry behind its back. With `pending_only`
/// the run stays open: the next poll finishes its steps from what was
/// reached (a step with a success completes).
pub async fn cancel_mission<S: Service>(
    svc: &S,
    store: &StateStore,
    key: &str,
    pending_only: bool,
) -> Result<CancelReport> {
    cancel_mission_within(svc, store, key, pending_only, Duration::from_secs(60)).await
}

/// [`cancel_mission`], waiting at most `lock_wait` for a running poll to
/// let go of the poll lock (an MCP tool call must answer within 25 s).
pub async fn cancel_mission_within<S: Service>(
    svc: &S,
    store: &StateStore,
    key: &str,
    pending_only: bool,
    lock_wait: Duration,
) -> Result<CancelReport> {
    let _lock = PollLock::acquire(store.path(), lock_wait).await?;
    let state = store.read_async().await?;
    let slug = state.active_slug(key)?;
    let m = state.mission(&slug).ok_or_else(|| state.unknown(key))?;
    let default_assistant = m.assistant_id();
    let records = m.scheduled_events();
    let mut report = CancelReport { slug: slug.clone(), ..Default::default() };
    for r in records.iter().filter(|r| cancellable(r)) {
        let aid = r.assistant_id.clone().or_else(|| default_assistant.clone()).unwrap_or_default();
        // An event that already ran (or is ringing now) is left to poll,
        // which records how it ended: only what has not started is stopped.
        // When the service cannot say, nothing is cancelled blindly.
        match svc.get_event(&aid, &r.event_id).await {
            Ok(now) if now.status.as_deref().is_some_and(|s| s != "pending") || now.call_status.is_some() => continue,
            Ok(_) | Err(Error::Api { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
        svc.cancel_event(&aid, &r.event_id).await?;
        report.cancelled.push(r.event_id.clone());
    }
    let run = match (m.mission_id(), m.run_id()) {
        (Some(mission_id), Some(run_id)) => Some(RunRef { mission_id, run_id }),
        _ => None,
    };
    let summary = format!("cancelled by the owner; {} scheduled events cancelled", report.cancelled.len());
    if !pending_only {
        if let Some(run) = &run {
            svc.set_run(run, "cancelled", &summary, &Value::Null).await?;
            report.run_cancelled = true;
        }
    }
    let (cancelled, all) = (report.cancelled.clone(), !pending_only);
    let slug2 = slug.clone();
    let (dropped, still, archived) =
        store.update_async(move |st| record_cancel(st, &slug2, cancelled, all, Utc::now())).await?;
    report.dropped_retries = dropped;
    report.still_tracked = still;
    report.archived = archived;
    Ok(report)
}

/// Record a cancel under the state lock: the events cancelled on the
/// service, retries decided but not scheduled dropped; with `all` the
/// records poll has nothing left to do for are settled and the result
/// saved, and the mission archived when nothing is under way. Returns the
/// dropped retries, the events still tracked and whether it was archived.
fn record_cancel(
    st: &mut State,
    slug: &str,
    cancelled: Vec<String>,
    all: bool,
    now: DateTime<Utc>,
) -> Result<(usize, Vec<String>, bool)> {
    let m = st.mission_mut(slug).ok_or_else(|| Error::state(format!("mission {slug} is gone")))?;
    let mut dropped = 0;
    let mut recs = m.scheduled_events();
    for r in recs.iter_mut() {
        if cancelled.contains(&r.event_id) {
            r.status = "cancelled".into();
            r.outcome = Some(AttemptOutcome::Cancelled);
        }
        if r.outcome == Some(AttemptOutcome::Retrying) && r.retry.as_ref().is_some_and(|i| i.event_id.is_none()) {
            r.outcome = Some(AttemptOutcome::Cancelled);
            r.retry = None;
            dropped += 1;
        }
    }
    // What poll still has to record: events under way, and ended
    // ones it has not seen or whose insights are not final.
    let still: Vec<String> = if all {
        recs.iter()
            .filter(|r| !r.settled)
            .filter(|r| {
                let cancelled_now = r.outcome == Some(AttemptOutcome::Cancelled) && r.is_terminal();
                let done = r.is_resolved() && !super::engine::needs_insights(r, &Default::default());
                !cancelled_now && !done
            })
            .map(|r| r.event_id.clone())
            .collect()
    } else {
        Vec::new()
    };
    if all {
        for r in recs.iter_mut() {
            if !still.contains(&r.event_id) {
                r.settled = true;
            }
        }
    }
    // Entries poll does not understand are kept as they are.
    m.put_scheduled_events(&recs, now)?;
    if !all {
        return Ok((dropped, still, false));
    }
    m.remove(AWAITING);
    let mut result = json!({"status": "cancelled", "reason": "cancelled by the owner (mission cancel)",
        "cancelled_events": cancelled});
    if still.is_empty() {
        result["finished_at"] = json!(crate::state::timestamp(now));
        m.memory_save(RESULT, result, now)?;
        let mut fields = Map::new();
        fields.insert("status".into(), json!("cancelled"));
        st.archive(slug, fields, now);
        Ok((dropped, still, true))
    } else {
        // Poll closes the mission once these have been recorded.
        result["awaiting_events"] = json!(still);
        m.memory_save(RESULT, result, now)?;
        Ok((dropped, still, false))
    }
}

#[cfg(test)]
mod tests {
    use super::super::executor::{poll_once, PollOptions};
    use super::super::testing::{setup, Fake};
    use super::*;

    #[tokio::test]
    async fn cancel_stops_pending_events_sets_the_run_cancelled_and_archives() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "c", &fake, &[("e1", "+15005550006"), ("e2", "+15005550006")]);
        let r = cancel_mission(&fake, &store, "c", false).await.unwrap();
        assert_eq!(r.cancelled, vec!["e1".to_string(), "e2".to_string()]);
        assert!(r.run_cancelled);
        assert_eq!(*fake.run.lock().unwrap(), "cancelled");
        assert!(fake.events.lock().unwrap().iter().all(|(_, e)| e.status == "cancelled"));
        let st = store.read().unwrap();
        assert!(st.mission("c").is_none());
        assert_eq!(st.archived_mission("m-c").unwrap().memory_get(RESULT).unwrap()["status"], "cancelled");
    }

    #[tokio::test]
    async fn cancel_keeps_a_call_under_way_tracked_and_poll_records_its_end_before_archiving() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "ring", &fake, &[("e1", "+15005550006"), ("e2", "+15005550006")]);
        // e1 is ringing; e2 has not started.
        fake.events.lock().unwrap()[0].1.status = "in_progress".into();
        fake.events.lock().unwrap()[0].1.call_status = Some("ringing".into());
        fake.events.lock().unwrap()[1].1.scheduled_at = "2026-01-02T00:00:00Z".into();
        let r = cancel_mission(&fake, &store, "ring", false).await.unwrap();
        assert_eq!(r.cancelled, vec!["e2".to_string()]);
        assert_eq!(r.still_tracked, vec!["e1".to_string()]);
        assert!(r.run_cancelled && !r.archived);
        assert_eq!(*fake.run.lock().unwrap(), "cancelled");
        assert_eq!(fake.events.lock().unwrap()[0].1.status, "in_progress", "the call under way is not cut");
        assert!(store.read().unwrap().mission("ring").is_some(), "still active until poll has the outcome");
        // The call is still going: poll waits.
        let p = poll_once(&store, || Ok(&fake), &PollOptions::default()).await.unwrap();
        assert!(p.missions[0].ended.is_none(), "{p:?}");
        // It ends: poll records its outcome and insights, then archives.
        fake.events.lock().unwrap()[0].1.status = "pending".into();
        fake.play();
        let p = poll_once(&store, || Ok(&fake), &PollOptions::default()).await.unwrap();
        assert_eq!(p.missions[0].ended.as_deref(), Some("cancelled"), "{p:?}");
        let st = store.read().unwrap();
        let m = st.archived_mission("m-ring").unwrap();
        let result = m.memory_get(RESULT).unwrap();
        assert_eq!(result["status"], "cancelled");
        assert!(result["reason"].as_str().unwrap().contains("mission cancel"), "{result}");
        assert!(m.memory_get(super::super::record::INSIGHTS).unwrap().get("e1").is_some());
        let e1 = m.scheduled_events().into_iter().find(|r| r.event_id == "e1").unwrap();
        assert_eq!(e1.status, "completed");
        assert_eq!(*fake.run.lock().unwrap(), "cancelled", "never regressed");
    }

    #[tokio::test]
    async fn pending_only_keeps_the_run_and_poll_completes_the_step_from_what_was_reached() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "early", &fake, &[("e1", "+15005550006"), ("e2", "+15005550006")]);
        // e1 has been answered; e2 is still pending on the service.
        fake.events.lock().unwrap()[0].1.status = "completed".into();
        fake.events.lock().unwrap()[0].1.call_status = Some("completed".into());
        fake.events.lock().unwrap()[1].1.scheduled_at = "2026-01-02T00:00:00Z".into();
        let r = cancel_mission(&fake, &store, "early", true).await.unwrap();
        assert_eq!(r.cancelled, vec!["e2".to_string()], "the answered call is left for poll to record");
        assert!(!r.run_cancelled);
        assert_eq!(*fake.run.lock().unwrap(), "running");
        poll_once(&store, || Ok(&fake), &PollOptions::default()).await.unwrap();
        assert_eq!(fake.plan.lock().unwrap()[0].status, "completed");
        assert_eq!(*fake.run.lock().unwrap(), "succeeded");
    }
}
