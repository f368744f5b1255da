//! Campaign control (docs/campaigns.md#pause-and-resume): `mission pause`
//! cancels the targets' events that have not started and records them as
//! paused (never failed); `mission resume` places the paused targets again
//! through the batch run ([`batch::Source::Records`]). Both hold the poll
//! lock, so a running poll never sees half of either.

use std::collections::{HashMap, HashSet};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::batch::{self, Batch, Done, Records, Source};
use super::plan::{Entry, Options, OwnerZone};
use super::record::{put_targets, target_key, targets, TargetRecord, TargetStatus};
use super::status::{attempts, latest_attempt};
use super::window::Hours;
use crate::api::scheduled::Channel;
use crate::api::Client;
use crate::error::{Error, Result};
use crate::ledger::Claim;
use crate::lifecycle::executor::PollLock;
use crate::lifecycle::service::Service;
use crate::state::{MissionState, ScheduledEvent, StateStore};

/// How long a control command waits for a running poll to finish.
pub const LOCK_WAIT: StdDuration = StdDuration::from_secs(60);

/// What `mission pause` did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PauseReport {
    pub slug: String,
    /// Events cancelled on the service and recorded as paused, now.
    pub paused: Vec<String>,
    /// Targets paused by an earlier `mission pause` (left as they are).
    pub already_paused: usize,
    /// Events already under way: left to poll, which records how they end.
    pub under_way: Vec<String>,
}

/// How resumed or retried targets are paced (the batch options).
#[derive(Debug, Clone)]
pub struct Pacing {
    pub start: DateTime<Utc>,
    pub concurrency: u32,
    pub stagger: Duration,
    pub max_calls: Option<u32>,
    /// `daily_call_cap` and the owner's zone.
    pub daily_cap: Option<(u32, OwnerZone)>,
    /// The one outbound gate (docs/optout.md).
    pub gate: crate::outbound::Gate,
    /// How long to wait for a running poll to let go of the poll lock
    /// ([`LOCK_WAIT`]; less for an MCP tool call, which answers within 25 s).
    pub lock_wait: StdDuration,
}

/// Pause the campaign of mission `key`: every target's latest attempt
/// that has not started is cancelled on the service and recorded paused
/// (its record settled for poll, `paused: true`; the target `paused`).
/// Pausing again changes nothing.
pub async fn pause<S: Service>(svc: &S, store: &StateStore, key: &str, lock_wait: StdDuration) -> Result<PauseReport> {
    let _lock = PollLock::acquire(store.path(), lock_wait).await?;
    let st = store.read_async().await?;
    let slug = st.active_slug(key)?;
    let m = st.mission(&slug).ok_or_else(|| st.unknown(key))?;
    let events = m.scheduled_events();
    let all = targets(m);
    let mut report = PauseReport { slug: slug.clone(), ..PauseReport::default() };
    report.already_paused = all.iter().filter(|t| t.status == TargetStatus::Paused).count();
    let owned: HashSet<&str> = all.iter().flat_map(|t| attempts(t, &events)).map(|e| e.event_id.as_str()).collect();
    let keys: HashSet<&str> = all.iter().map(|t| t.key.as_str()).collect();
    // A one-off event of the mission (`schedule call --mission`) is paused
    // too, unless a target already has its key.
    let one_off =
        events.iter().filter(|e| !owned.contains(e.event_id.as_str()) && !keys.contains(one_off_key(e).as_str()));
    let pending: Vec<&ScheduledEvent> = all
        .iter()
        .filter(|t| t.status == TargetStatus::Scheduled)
        .filter_map(|t| latest_attempt(t, &events))
        .chain(one_off)
        .filter(|e| !e.settled && !e.paused && e.outcome.is_none() && !e.is_terminal() && !e.has_started())
        .collect();
    let default_aid = m.assistant_id().unwrap_or_default();
    let mut failure = None;
    for e in pending {
        let aid = e.assistant_id.clone().unwrap_or_else(|| default_aid.clone());
        match cancel_if_pending(svc, &aid, &e.event_id).await {
            Ok(true) => report.paused.push(e.event_id.clone()),
            Ok(false) => report.under_way.push(e.event_id.clone()),
            Err(err) => {
                // What was cancelled so far is recorded before the error is told.
                failure = Some(err);
                break;
            }
        }
    }
    if !report.paused.is_empty() {
        let (ids, slug) = (report.paused.clone(), slug.clone());
        store
            .update_async(move |st| {
                let m = st.mission_mut(&slug).ok_or_else(|| Error::state(format!("mission {slug} is gone")))?;
                record_pause(m, &ids, Utc::now())
            })
            .await?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Cancel an event that has not started: true when it is (now) cancelled,
/// false when it is under way. One the service already shows cancelled
/// (a pause that died before recording it) counts as cancelled.
async fn cancel_if_pending<S: Service>(svc: &S, aid: &str, id: &str) -> Result<bool> {
    match svc.get_event(aid, id).await {
        Ok(s) if matches!(s.status.as_deref(), Some("cancelled" | "canceled")) => return Ok(true),
        Ok(s) if s.status.as_deref().is_some_and(|v| v != "pending") || s.call_status.is_some() => return Ok(false),
        Ok(_) => {}
        // Gone from the service (a cancel deletes it): it will not ring.
        Err(Error::Api { status: 404, .. }) => return Ok(true),
        Err(e) => return Err(e),
    }
    svc.cancel_event(aid, id).await?;
    Ok(true)
}

/// Record paused events under the state lock: each record settled with
/// `paused: true` and no outcome; its target `paused`, naming the event.
pub fn record_pause(m: &mut MissionState, ids: &[String], now: DateTime<Utc>) -> Result<()> {
    let mut events = m.scheduled_events();
    let mut changed = Vec::new();
    for r in events.iter_mut().filter(|r| ids.contains(&r.event_id)) {
        r.status = "cancelled".into();
        r.paused = true;
        r.settled = true;
        r.outcome = None;
        r.retry = None;
        changed.push(r.clone());
    }
    m.put_scheduled_events(&changed, now)?;
    let mut ts = targets(m);
    let mut paused = Vec::new();
    for t in ts.iter_mut().filter(|t| t.status == TargetStatus::Scheduled) {
        let Some(e) = latest_attempt(t, &events).filter(|e| ids.contains(&e.event_id)) else { continue };
        t.status = TargetStatus::Paused;
        t.event_id = Some(e.event_id.clone());
        t.extra.insert("paused_at".into(), crate::state::timestamp(now).into());
        paused.push(t.clone());
    }
    let keys: HashSet<String> = ts.iter().map(|t| t.key.clone()).collect();
    for e in &changed {
        if !paused.iter().any(|t| t.event_id.as_deref() == Some(e.event_id.as_str())) && !keys.contains(&one_off_key(e))
        {
            paused.push(one_off_target(e, now));
        }
    }
    put_targets(m, &paused, now)
}

/// The target key a one-off event would have.
fn one_off_key(e: &ScheduledEvent) -> String {
    target_key(e.step_id.as_deref(), &e.channel, &e.to)
}

/// A paused one-off event becomes a target of its own, so `mission resume`
/// places it again: at any hour of any day (it was scheduled by hand, with
/// no calling window), from `--start` on.
fn one_off_target(e: &ScheduledEvent, now: DateTime<Utc>) -> TargetRecord {
    let mut extra = serde_json::Map::new();
    extra.insert("paused_at".into(), crate::state::timestamp(now).into());
    extra.insert("one_off".into(), true.into());
    TargetRecord {
        key: one_off_key(e),
        phone: e.to.clone(),
        name: None,
        zones: vec!["UTC".into()],
        zone_source: None,
        kind: None,
        columns: serde_json::Map::new(),
        window: Some("00:00-24:00".into()),
        days: Some("all".into()),
        channel: e.channel.clone(),
        step_id: e.step_id.clone(),
        status: TargetStatus::Paused,
        event_id: Some(e.event_id.clone()),
        scheduled_at: Some(e.scheduled_at.clone()),
        claim: None,
        reason: None,
        extra,
    }
}

/// Resume the campaign of mission `key`: its paused targets get new events
/// in their next open windows (a dead resume's `planned` ones are adopted or
/// created at their slot). Resuming again creates nothing.
pub async fn resume(
    client: &Client,
    store: &StateStore,
    claim: &Claim,
    key: &str,
    pacing: Pacing,
    now: DateTime<Utc>,
) -> Result<(Vec<Entry>, Done)> {
    let _lock = PollLock::acquire(store.path(), pacing.lock_wait).await?;
    let st = store.read_async().await?;
    let slug = st.active_slug(key)?;
    let m = st.mission(&slug).ok_or_else(|| st.unknown(key))?;
    let b = records_batch(m, &slug, TargetStatus::Paused, false, pacing)?;
    if b.source_is_empty() {
        return Ok((Vec::new(), Done::default()));
    }
    batch::run(client, store, claim, &b, now).await
}

/// A batch of the mission's recorded targets in status `from` (and any a
/// dead run left `planned`), each following its recorded attempt.
pub fn records_batch(m: &MissionState, slug: &str, from: TargetStatus, next_attempt: bool, p: Pacing) -> Result<Batch> {
    let all = targets(m);
    let picked: Vec<_> = all.iter().filter(|t| t.status == from || t.status == TargetStatus::Planned).collect();
    let events = m.scheduled_events();
    let previous: HashMap<String, ScheduledEvent> = picked
        .iter()
        .filter_map(|t| t.event_id.as_deref())
        .filter_map(|id| events.iter().find(|e| e.event_id == id))
        .map(|e| (e.event_id.clone(), e.clone()))
        .collect();
    let first = previous.values().next();
    let missing = |what: &str| Error::usage(format!("mission '{slug}' has no {what} in the state file"));
    let assistant_id = m
        .assistant_id()
        .or_else(|| first.and_then(|e| e.assistant_id.clone()))
        .ok_or_else(|| missing("assistant_id"))?;
    let from_number =
        m.agent_phone().or_else(|| first.and_then(|e| e.from.clone())).ok_or_else(|| missing("agent_phone"))?;
    Ok(Batch {
        slug: slug.to_string(),
        assistant_id,
        from: from_number,
        mission_id: m.mission_id(),
        run_id: m.run_id(),
        channel: Channel::Call,
        source: Source::Records(Records {
            keys: picked.iter().map(|t| t.key.clone()).collect(),
            from,
            previous,
            next_attempt,
        }),
        options: Options {
            hours: Hours::default(),
            default_tz: None,
            channel: "call".into(),
            step: None,
            concurrency: p.concurrency.max(1),
            stagger: p.stagger,
            start: p.start,
            max_calls: p.max_calls,
            retry_profile: None,
            cap: None,
            gate: p.gate,
        },
        daily_cap: p.daily_cap,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::campaign::record::TARGETS_KEY;
    use crate::lifecycle::testing::{setup, Fake};

    /// A mission with three targets: e1 pending, e2 ringing, e3 pending.
    fn seeded(dir: &std::path::Path, fake: &Fake) -> StateStore {
        let store =
            setup(dir, "sweep", fake, &[("e1", "+15005550006"), ("e2", "+15005550002"), ("e3", "+15005550003")]);
        fake.events.lock().unwrap()[1].1.status = "in_progress".into();
        let ts: Vec<Value> = ["e1", "e2", "e3"]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                json!({"key": format!("calls|call|+1500555000{i}"), "phone": format!("+1500555000{i}"),
                    "zones": ["America/Chicago"], "channel": "call", "step_id": "calls", "status": "scheduled",
                    "event_id": id, "scheduled_at": "2026-01-01T11:59:00Z"})
            })
            .collect();
        store
            .update(|st| st.mission_mut("sweep").unwrap().memory_save(TARGETS_KEY, Value::Array(ts), Utc::now()))
            .unwrap();
        store
    }

    #[tokio::test]
    async fn pause_cancels_what_has_not_started_records_it_paused_and_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = seeded(dir.path(), &fake);
        let r = pause(&fake, &store, "sweep", LOCK_WAIT).await.unwrap();
        assert_eq!(r.paused, ["e1", "e3"]);
        assert_eq!(r.under_way, ["e2"], "a call under way is left to poll");
        let statuses: Vec<String> = fake.events.lock().unwrap().iter().map(|(_, e)| e.status.clone()).collect();
        assert_eq!(statuses, ["cancelled", "in_progress", "cancelled"]);
        let st = store.read().unwrap();
        let m = st.mission("sweep").unwrap();
        let evs = m.scheduled_events();
        assert!(evs[0].paused && evs[0].settled && evs[0].outcome.is_none(), "{:?}", evs[0]);
        assert!(!evs[1].paused && !evs[1].settled);
        let ts: Vec<TargetStatus> = targets(m).iter().map(|t| t.status).collect();
        assert_eq!(ts, [TargetStatus::Paused, TargetStatus::Scheduled, TargetStatus::Paused]);

        let before = std::fs::read(store.path()).unwrap();
        let again = pause(&fake, &store, "sweep", LOCK_WAIT).await.unwrap();
        assert!(again.paused.is_empty(), "{again:?}");
        assert_eq!(again.already_paused, 2);
        assert_eq!(std::fs::read(store.path()).unwrap(), before, "the state file is not touched");
        let cancels = fake.events.lock().unwrap().iter().filter(|(_, e)| e.status == "cancelled").count();
        assert_eq!(cancels, 2);
    }

    #[tokio::test]
    async fn a_one_off_event_is_paused_as_a_target_of_its_own_that_resume_places_any_time() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = seeded(dir.path(), &fake);
        fake.add("e4", "+15005550009", "calls");
        let one_off = json!({"event_id": "e4", "assistant_id": "a1", "channel": "call", "to": "+15005550009",
            "scheduled_at": "2026-01-01T11:59:00Z", "step_id": "calls", "status": "pending"});
        store
            .update(move |st| {
                let m = st.mission_mut("sweep").unwrap();
                m.upsert_scheduled_event(&serde_json::from_value(one_off).unwrap(), Utc::now())
            })
            .unwrap();
        let r = pause(&fake, &store, "sweep", LOCK_WAIT).await.unwrap();
        assert_eq!(r.paused, ["e1", "e3", "e4"]);
        let st = store.read().unwrap();
        let m = st.mission("sweep").unwrap();
        let t = targets(m).into_iter().find(|t| t.phone == "+15005550009").expect("a target of its own");
        assert_eq!(
            (t.status, t.event_id.as_deref(), t.extra["one_off"].as_bool()),
            (TargetStatus::Paused, Some("e4"), Some(true))
        );
        let sunday_night = DateTime::parse_from_rfc3339("2026-01-04T03:00:00Z").unwrap().with_timezone(&Utc);
        assert!(t.hours().is_open(chrono_tz::UTC, sunday_night), "no calling window: any hour, any day");
        assert!(pause(&fake, &store, "sweep", LOCK_WAIT).await.unwrap().paused.is_empty(), "twice changes nothing");
        let p = Pacing {
            start: Utc::now(),
            concurrency: 5,
            stagger: Duration::minutes(2),
            max_calls: None,
            daily_cap: None,
            gate: Default::default(),
            lock_wait: LOCK_WAIT,
        };
        let b = records_batch(m, "sweep", TargetStatus::Paused, false, p).unwrap();
        let Source::Records(rs) = &b.source else { panic!() };
        assert_eq!(rs.keys.len(), 3, "{:?}", rs.keys);
    }

    #[tokio::test]
    async fn a_paused_mission_is_not_ended_by_poll() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = seeded(dir.path(), &fake);
        pause(&fake, &store, "sweep", LOCK_WAIT).await.unwrap();
        fake.events.lock().unwrap()[1].1.status = "completed".into();
        fake.events.lock().unwrap()[1].1.call_status = Some("completed".into());
        fake.events.lock().unwrap()[1].1.conversation_id = Some("c2".into());
        let opts = crate::lifecycle::PollOptions::default();
        for _ in 0..3 {
            crate::lifecycle::poll_once(&store, || Ok(&fake), &opts).await.unwrap();
        }
        assert!(store.read().unwrap().mission("sweep").is_some(), "still active: two targets are paused");
        assert_eq!(*fake.run.lock().unwrap(), "running");
        let paused =
            store.read().unwrap().mission("sweep").unwrap().scheduled_events().iter().filter(|e| e.paused).count();
        assert_eq!(paused, 2, "never turned into failed or done");
    }

    #[test]
    fn a_resume_batch_follows_each_paused_targets_attempt() {
        let mut m = MissionState::default();
        m.set("assistant_id", "a1");
        m.set("agent_phone", "+15550001111");
        let ev = json!({"event_id": "e1", "channel": "call", "to": "+15005550001", "scheduled_at": "x", "status": "cancelled",
            "settled": true, "paused": true});
        m.memory_save(crate::state::SCHEDULED_EVENTS_KEY, json!([ev]), Utc::now()).unwrap();
        let t = |k: &str, s: &str| json!({"key": k, "phone": "+15005550001", "channel": "call", "status": s, "event_id": "e1"});
        m.memory_save(TARGETS_KEY, json!([t("a", "paused"), t("b", "scheduled"), t("c", "planned")]), Utc::now())
            .unwrap();
        let p = Pacing {
            start: Utc::now(),
            concurrency: 0,
            stagger: Duration::minutes(2),
            max_calls: None,
            daily_cap: None,
            gate: Default::default(),
            lock_wait: LOCK_WAIT,
        };
        let b = records_batch(&m, "sweep", TargetStatus::Paused, false, p).unwrap();
        let Source::Records(r) = &b.source else { panic!() };
        assert_eq!(r.keys, ["a", "c"]);
        assert!(r.previous["e1"].paused);
        assert_eq!((b.assistant_id.as_str(), b.options.concurrency), ("a1", 1));
    }
}
