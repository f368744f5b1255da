//! Poll and the opt-out list (docs/optout.md#pending-events-at-the-next-poll):
//! an event whose number opted out after it was scheduled is cancelled on
//! the service by the next poll, before it rings, and recorded cancelled
//! with the reason `opted-out`; a retry to such a number is never sent.
//! Neither counts as a failure (nothing is retried, no failed target).
//!
//! This runs before anything else of a mission's poll (even an idle one,
//! whose events are hours ahead), and only when the mission has unsettled
//! events to a number on the list, which the caller read once per poll.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{update_mission, MissionReport, Work};
use crate::config::mask_phone;
use crate::error::{Error, Result};
use crate::lifecycle::engine::{Decision, Remote};
use crate::lifecycle::service::Service;
use crate::outbound::Gate;
use crate::state::{AttemptOutcome, ScheduledEvent, StateStore};

/// The reason kept on a record cancelled because its number opted out.
pub const OPTED_OUT: &str = "opted-out";
/// The record field holding it.
pub const CANCEL_REASON: &str = "cancel_reason";

/// Mark `r` cancelled because its number opted out.
fn mark(r: &mut ScheduledEvent, on_service: bool) {
    if on_service {
        r.status = "cancelled".into();
    }
    r.outcome = Some(AttemptOutcome::Cancelled);
    r.retry = None;
    r.extra.insert(CANCEL_REASON.into(), json!(OPTED_OUT));
}

/// A retry decided by an earlier poll and not scheduled yet.
fn unsent_retry(r: &ScheduledEvent) -> bool {
    r.outcome == Some(AttemptOutcome::Retrying) && r.retry.as_ref().is_some_and(|i| i.event_id.is_none())
}

/// Cancel `w`'s events to opted-out numbers that have not started, and
/// drop its unsent retries to them; the records are updated (in the state
/// file and in `w`). An event the service says has started is left to
/// poll; one it cannot answer for is tried again by the next poll.
pub(super) async fn cancel_opted_out<S: Service>(
    svc: &S,
    store: &StateStore,
    w: &mut Work,
    gate: &Gate,
    mr: &mut MissionReport,
) -> Result<()> {
    if gate.is_empty() {
        return Ok(());
    }
    let mut cancelled: Vec<String> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    for r in w.records.iter().filter(|r| !r.settled && gate.opted_out(&r.to).is_some()) {
        if unsent_retry(r) {
            dropped.push(r.event_id.clone());
        }
        if r.is_terminal() || r.has_started() || r.outcome == Some(AttemptOutcome::Cancelled) {
            continue;
        }
        let aid = r.assistant_id.clone().or_else(|| w.assistant_id.clone()).unwrap_or_default();
        match svc.get_event(&aid, &r.event_id).await {
            Ok(now) if now.status.as_deref().is_some_and(|s| s != "pending") || now.call_status.is_some() => continue,
            Ok(_) | Err(Error::Api { status: 404, .. }) => {}
            Err(e) => {
                mr.notes.push(format!("{}: opted out, but its state could not be read ({e}); next poll", r.event_id));
                continue;
            }
        }
        match svc.cancel_event(&aid, &r.event_id).await {
            Ok(()) => cancelled.push(r.event_id.clone()),
            Err(e) => mr.notes.push(format!("{}: opted out, but the cancel failed ({e}); next poll", r.event_id)),
        }
    }
    if cancelled.is_empty() && dropped.is_empty() {
        return Ok(());
    }
    for r in w.records.iter_mut() {
        let on_service = cancelled.contains(&r.event_id);
        if on_service || dropped.contains(&r.event_id) {
            mark(r, on_service);
            let what =
                if on_service { "cancelled: the number opted out" } else { "retry dropped: the number opted out" };
            mr.changes.push(format!("{} {}: {what}", r.event_id, mask_phone(&r.to)));
        }
    }
    let changed: Vec<ScheduledEvent> = w
        .records
        .iter()
        .filter(|r| cancelled.contains(&r.event_id) || dropped.contains(&r.event_id))
        .cloned()
        .collect();
    update_mission(store, &w.slug, move |m, now: DateTime<Utc>| m.put_scheduled_events(&changed, now)).await
}

/// Take the retries to opted-out numbers out of a decision (before it is
/// written): their attempts are recorded cancelled instead.
pub(super) fn drop_retries(d: &mut Decision, records: &[ScheduledEvent], gate: &Gate, mr: &mut MissionReport) {
    if gate.is_empty() {
        return;
    }
    let mut of_events: Vec<String> = Vec::new();
    d.remote.retain(|a| match a {
        Remote::Retry(req) if gate.opted_out(&req.to).is_some() => {
            of_events.push(req.of_event.clone());
            false
        }
        _ => true,
    });
    for id in of_events {
        if !d.records.iter().any(|r| r.event_id == id) {
            if let Some(r) = records.iter().find(|r| r.event_id == id) {
                d.records.push(r.clone());
            }
        }
        if let Some(r) = d.records.iter_mut().find(|r| r.event_id == id) {
            mark(r, false);
            mr.changes.push(format!("{id} {}: not retried: the number opted out", mask_phone(&r.to)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{poll_once, PollOptions};
    use super::*;
    use crate::lifecycle::record::FAILED_TARGETS;
    use crate::lifecycle::testing::{setup, Fake};
    use crate::state::optout::{OptOut, OptOutList, SOURCE_SMS_STOP};

    fn opt_out(dir: &std::path::Path, number: &str) -> PollOptions {
        let now = "2026-01-01T11:00:00Z".parse().unwrap();
        OptOutList::in_dir(dir).add(OptOut::new(number, "", SOURCE_SMS_STOP, now)).unwrap();
        PollOptions { optout_dir: Some(dir.to_path_buf()), ..PollOptions::default() }
    }

    fn record(store: &StateStore, id: &str) -> ScheduledEvent {
        let st = store.read().unwrap();
        let m = st.missions().next().map(|(_, m)| m.clone()).or_else(|| st.archived().next().map(|(_, m)| m.clone()));
        m.unwrap().scheduled_events().into_iter().find(|r| r.event_id == id).unwrap()
    }

    #[tokio::test]
    async fn a_pending_event_to_an_opted_out_number_is_cancelled_before_it_rings_and_is_no_failure() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "sweep", &fake, &[("e6", "+15005550006"), ("e4", "+15005550004")]);
        let opts = opt_out(dir.path(), "+15005550006");
        let r = poll_once(&store, || Ok(&fake), &opts).await.unwrap();
        assert!(r.missions[0].changes.iter().any(|c| c.contains("e6") && c.contains("opted out")), "{r:?}");
        assert_eq!(fake.events.lock().unwrap()[0].1.status, "cancelled", "cancelled on the service");
        assert_eq!(fake.events.lock().unwrap()[1].1.status, "pending", "another number is untouched");
        let e6 = record(&store, "e6");
        assert_eq!((e6.status.as_str(), e6.outcome), ("cancelled", Some(AttemptOutcome::Cancelled)));
        assert_eq!(e6.extra[CANCEL_REASON], OPTED_OUT);
        // The rest of the sweep plays out; the opted-out target is neither retried nor failed.
        fake.play();
        let r = poll_once(&store, || Ok(&fake), &opts).await.unwrap();
        assert_eq!(r.missions[0].retries_scheduled, 0, "{r:?}");
        assert_eq!(fake.events.lock().unwrap().len(), 2, "nothing new scheduled");
        let st = store.read().unwrap();
        assert!(
            st.archived()
                .chain(st.missions())
                .all(|(_, m)| m.memory_get(FAILED_TARGETS).and_then(|v| v.as_array()).is_none_or(|a| a.is_empty())),
            "no failed target"
        );
    }

    #[tokio::test]
    async fn a_busy_number_that_opted_out_since_is_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "busy", &fake, &[("e1", "+15005550001")]);
        fake.play();
        let opts = opt_out(dir.path(), "+15005550001");
        let r = poll_once(&store, || Ok(&fake), &opts).await.unwrap();
        assert_eq!(r.missions[0].retries_scheduled, 0, "{r:?}");
        assert_eq!(fake.events.lock().unwrap().len(), 1, "no retry scheduled");
        assert!(r.missions[0].changes.iter().any(|c| c.contains("not retried")), "{r:?}");
        let e1 = record(&store, "e1");
        assert_eq!(e1.outcome, Some(AttemptOutcome::Cancelled));
        assert!(e1.retry.is_none());
    }

    #[tokio::test]
    async fn without_an_opted_out_number_poll_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "busy", &fake, &[("e1", "+15005550001")]);
        fake.play();
        let opts = opt_out(dir.path(), "+15005550009");
        let r = poll_once(&store, || Ok(&fake), &opts).await.unwrap();
        assert_eq!(r.missions[0].retries_scheduled, 1, "{r:?}");
    }
}
