//! The executor: reads the state, fetches what the engine needs, and applies
//! its decisions in a crash-safe order.
//!
//! Order for one mission, and why:
//! 1. fetch (events, insights, run, plan) — a network failure here changes
//!    nothing, the next poll starts over;
//! 2. write the engine's record updates, insights and failed targets — this
//!    includes every retry *intent* (with its fixed `scheduled_at`) before
//!    any retry is sent;
//! 3. log run events, set steps, schedule retries (recording each new event
//!    as soon as the service accepted it), cancel events, set the run;
//! 4. mark the handled records settled, save `result`, archive.
//!
//! A crash between 2 and 4 leaves records unsettled: the next poll recomputes
//! the same decisions (every one of them idempotent) and, for a retry whose
//! intent has no event id yet, first looks for the event on the service (same
//! `to`, `scheduled_at` and step) and adopts it instead of scheduling again.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::engine::{
    self, adopt_retry, apply_snapshot, awaiting_note, bot_steps_left, has_due_work, has_pending, needs_event_fetch,
    needs_insights, reconcile, Decision, EventSnapshot, MissionView, Policy, Remote, RetryRequest,
};
use super::record::{FAILED_TARGETS, INSIGHTS, RESULT};
use super::service::{RunRef, Service};
use crate::config::mask_phone;
use crate::error::{Error, Result};
use crate::state::{FileLock, MissionState, ScheduledEvent, State, StateStore};

/// Mission field (outside memory) holding run events that could not be
/// logged yet; sent first by the next poll.
pub const OUTBOX: &str = "poll_outbox";

/// Mission field (outside memory) set while the calls are done and the plan
/// has steps left to the bot: `{"steps": [...], "since": RFC 3339}`. While
/// it is set the mission stays pending for poll, which checks the plan (one
/// GET) until every step is terminal, then ends the run and archives.
pub const AWAITING: &str = "poll_awaiting";

/// Options of one poll.
#[derive(Debug, Clone)]
pub struct PollOptions {
    /// Only this mission (slug or mission id).
    pub mission: Option<String>,
    pub policy: Policy,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions { mission: None, policy: Policy::default(), concurrency: 8 }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollReport {
    /// Another poll held the lock: this one did nothing.
    pub skipped_locked: bool,
    /// The service's time, when the service was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<DateTime<Utc>>,
    pub missions: Vec<MissionReport>,
}

impl PollReport {
    /// Missions that still have unsettled events after this poll.
    pub fn pending(&self) -> usize {
        self.missions.iter().filter(|m| m.pending_after > 0).count()
    }
    /// The first error, for the exit code.
    pub fn first_error(&self) -> Option<&MissionReport> {
        self.missions.iter().find(|m| m.error.is_some())
    }
}

/// What happened to one mission.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MissionReport {
    pub slug: String,
    /// Unsettled events before / after.
    pub pending_before: usize,
    pub pending_after: usize,
    /// Events fetched from the service.
    pub fetched: usize,
    /// Human lines, one per change.
    pub changes: Vec<String>,
    pub retries_scheduled: usize,
    pub notes: Vec<String>,
    /// The run's final status when the mission ended in this poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Plan steps left to the bot once the calls are done (the mission stays
    /// open, and later polls check the plan until they are terminal).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub awaiting: Vec<String>,
    /// Nothing was due: no request was sent for this mission.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub idle: bool,
    #[serde(skip)]
    pub exit_code: u8,
}

/// The non-blocking single-instance lock (`<state>.poll.lock`), held for
/// one poll. Released when dropped.
pub struct PollLock {
    _lock: FileLock,
}

/// The poll lock file for a state file.
pub fn poll_lock_path(state: &std::path::Path) -> PathBuf {
    crate::state::write::sibling(state, ".poll.lock")
}

impl PollLock {
    /// Take the lock if free; None when another poll holds it.
    pub fn try_acquire(state: &std::path::Path) -> Result<Option<PollLock>> {
        Ok(FileLock::try_exclusive(&poll_lock_path(state))?.map(|l| PollLock { _lock: l }))
    }

    /// Wait (up to `timeout`) for the lock: for commands that must not race
    /// a running poll (`mission cancel`).
    pub async fn acquire(state: &std::path::Path, timeout: Duration) -> Result<PollLock> {
        let start = std::time::Instant::now();
        loop {
            if let Some(l) = PollLock::try_acquire(state)? {
                return Ok(l);
            }
            if start.elapsed() > timeout {
                return Err(Error::failed("a poll is running and did not finish in time; try again in a minute"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What poll keeps of a mission while it works on it (not the whole entry:
/// a mission's memory can be large, and a poll over thousands of events
/// should hold each thing once).
#[derive(Debug, Clone)]
struct Work {
    slug: String,
    mission_id: Option<String>,
    run_id: Option<String>,
    assistant_id: Option<String>,
    agent_phone: Option<String>,
    outbox: Vec<Value>,
    records: Vec<ScheduledEvent>,
    /// Steps the mission was waiting for the bot on (the [`AWAITING`] marker).
    awaiting: Option<Vec<String>>,
}

impl Work {
    fn of(slug: &str, m: &MissionState) -> Work {
        Work {
            slug: slug.to_string(),
            mission_id: m.mission_id(),
            run_id: m.run_id(),
            assistant_id: m.assistant_id(),
            agent_phone: m.agent_phone(),
            outbox: outbox_of(m),
            records: m.scheduled_events(),
            awaiting: awaiting_of(m),
        }
    }

    /// Poll has something to do for this mission (from the state alone):
    /// unsettled events, run events to send, or steps left to the bot.
    /// `explicit`: the mission was named (`--mission`): a mission whose calls
    /// are all settled is checked against its plan even without the marker.
    fn has_work(&self, explicit: bool) -> bool {
        has_pending(&self.records)
            || !self.outbox.is_empty()
            || self.awaiting.is_some()
            || (explicit && !self.records.is_empty())
    }
}

fn outbox_of(m: &MissionState) -> Vec<Value> {
    m.fields().get(OUTBOX).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The steps of the [`AWAITING`] marker, when set.
fn awaiting_of(m: &MissionState) -> Option<Vec<String>> {
    let v = m.fields().get(AWAITING).filter(|v| !v.is_null())?;
    let steps = v
        .get("steps")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect::<Vec<_>>());
    Some(steps.unwrap_or_default())
}

/// The missions to look at: all active ones, or the one asked for.
fn selected<'a>(state: &'a State, only: Option<&str>) -> Result<Vec<(String, &'a MissionState)>> {
    match only {
        Some(key) => {
            let slug = state.active_slug(key)?;
            Ok(state.mission(&slug).map(|m| vec![(slug, m)]).unwrap_or_default())
        }
        None => Ok(state.missions().map(|(k, m)| (k.to_string(), m)).collect()),
    }
}

/// Unsettled records in every selected active mission (no network).
pub fn pending_records(state: &State, only: Option<&str>) -> Result<Vec<ScheduledEvent>> {
    Ok(selected(state, only)?.iter().flat_map(|(_, m)| m.scheduled_events()).filter(|r| !r.settled).collect())
}

/// Some selected active mission has run events waiting to be sent (its end
/// is held back until they are).
fn outbox_pending(state: &State, only: Option<&str>) -> Result<bool> {
    Ok(selected(state, only)?.iter().any(|(_, m)| !outbox_of(m).is_empty()))
}

/// One poll over every active mission (or `opts.mission`). `connect` builds
/// the service only when some mission has work: with nothing pending, no
/// client is built and no request is made.
pub async fn poll_once<S, F>(store: &StateStore, connect: F, opts: &PollOptions) -> Result<PollReport>
where
    S: Service,
    F: FnOnce() -> Result<S>,
{
    let mut report = PollReport::default();
    // Nothing to do at all (the common case under cron): answer from a raw
    // scan of the file, without building the state tree or taking the lock.
    if opts.mission.is_none() {
        match tokio::fs::read(store.path()).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
            Ok(bytes) if crate::state::fast::poll_pending(&bytes) == Some(false) => return Ok(report),
            _ => {}
        }
    }
    let state = store.read_async().await?;
    if let Some(key) = opts.mission.as_deref() {
        if let Some(crate::state::Found::Archived(_)) = state.find(key) {
            // Ended (and archived): poll has nothing more to do for it.
            report.missions.push(MissionReport {
                slug: key.to_string(),
                notes: vec!["the mission has ended (archived): nothing to do".into()],
                ..Default::default()
            });
            return Ok(report);
        }
    }
    let explicit = opts.mission.is_some();
    if !selected(&state, opts.mission.as_deref())?.iter().any(|(slug, m)| Work::of(slug, m).has_work(explicit)) {
        return Ok(report);
    }
    drop(state);
    let Some(_lock) = PollLock::try_acquire(store.path())? else {
        report.skipped_locked = true;
        return Ok(report);
    };
    // Re-read under the lock: the poll that held it may have changed things.
    let work: Vec<Work> = {
        let state = store.read_async().await?;
        selected(&state, opts.mission.as_deref())?
            .iter()
            .map(|(slug, m)| Work::of(slug, m))
            .filter(|w| w.has_work(explicit))
            .collect()
    };
    if work.is_empty() {
        return Ok(report);
    }
    let service = connect()?;
    let now = service.now().await?;
    report.now = Some(now);
    for w in work {
        let mut mr = MissionReport { slug: w.slug.clone(), ..Default::default() };
        match poll_mission(&service, store, w, now, opts, &mut mr).await {
            Ok(left) => mr.pending_after = left,
            Err(e) => {
                mr.error = Some(e.to_string());
                mr.exit_code = e.exit_code();
                mr.pending_after = mr.pending_before;
            }
        }
        report.missions.push(mr);
    }
    Ok(report)
}

/// How `watch` paces its polls.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// A fixed pause between polls (demos, tests against a fast sandbox);
    /// None: the skill's table ([`super::pace::next_sleep`]).
    pub interval: Option<Duration>,
}

/// The pause `watch` takes after a poll: the fixed `pace.interval` when
/// given, else the skill's table ([`super::pace::next_sleep`]) from the
/// unsettled records and the service's time.
pub fn watch_wait(pace: &Pace, pending: &[ScheduledEvent], now: DateTime<Utc>) -> Duration {
    match pace.interval {
        Some(d) => d,
        None => super::pace::next_sleep(pending, now).unwrap_or(Duration::from_secs(30)),
    }
}

/// Targets (a number in a step) of the selected active missions, by slug:
/// (settled, total). A target is settled when none of its attempts is pending.
pub fn target_counts(state: &State, only: Option<&str>) -> Result<HashMap<String, (usize, usize)>> {
    let mut out = HashMap::new();
    for (slug, m) in selected(state, only)? {
        let mut targets: HashMap<(Option<String>, String, String), bool> = HashMap::new();
        for r in m.scheduled_events() {
            let done = targets.entry((r.step_id.clone(), r.channel.clone(), r.to.clone())).or_insert(true);
            *done &= r.settled;
        }
        let done = targets.values().filter(|d| **d).count();
        out.insert(slug, (done, targets.len()));
    }
    Ok(out)
}

/// Poll until nothing is pending: after each poll, sleep by `pace` and show
/// what happened and what is awaited on `progress` (settled targets of all
/// targets, and the next check's time). Transient service errors (network,
/// 5xx) do not stop the loop. Returns every poll's report. Missions whose
/// calls are done and which wait only on the bot's own steps do not keep it
/// going (the bot may be the one watching): the polls after the bot's step
/// finish them.
pub async fn watch<S, F>(
    store: &StateStore,
    connect: F,
    opts: &PollOptions,
    pace: &Pace,
    progress: &crate::output::Progress,
) -> Result<Vec<PollReport>>
where
    S: Service,
    F: Fn() -> Result<S>,
{
    watch_with_sleep(store, connect, opts, pace, progress, tokio::time::sleep).await
}

/// [`watch`] with the pause injected (`sleep(d)` is awaited between polls).
pub async fn watch_with_sleep<S, F, Z, Fut>(
    store: &StateStore,
    connect: F,
    opts: &PollOptions,
    pace: &Pace,
    progress: &crate::output::Progress,
    mut sleep: Z,
) -> Result<Vec<PollReport>>
where
    S: Service,
    F: Fn() -> Result<S>,
    Z: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut reports: Vec<PollReport> = Vec::new();
    // Settled/total targets per mission seen in this watch (a mission that
    // ends leaves the active state with every target settled).
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    loop {
        let report = match poll_once(store, &connect, opts).await {
            Ok(r) => r,
            Err(e @ (Error::Network(_) | Error::Api { .. })) => {
                progress.set(format!("poll failed ({e}); trying again"));
                PollReport::default()
            }
            Err(e) => return Err(e),
        };
        for m in &report.missions {
            for line in &m.changes {
                progress.set(format!("{}: {line}", m.slug));
            }
        }
        let service_now = report.now;
        reports.push(report);
        let state = store.read_async().await?;
        let pending = pending_records(&state, opts.mission.as_deref())?;
        let unsent = outbox_pending(&state, opts.mission.as_deref())?;
        let now_counts = target_counts(&state, opts.mission.as_deref())?;
        drop(state);
        for (slug, c) in seen.iter_mut() {
            if !now_counts.contains_key(slug) {
                c.0 = c.1;
            }
        }
        seen.extend(now_counts);
        if pending.is_empty() && !unsent {
            return Ok(reports);
        }
        let now = service_now.unwrap_or_else(Utc::now);
        let wait = watch_wait(pace, &pending, now);
        let (done, total) = seen.values().fold((0, 0), |(d, t), c| (d + c.0, t + c.1));
        let at = chrono::Local::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
        progress.count(
            done as u64,
            total as u64,
            format!("targets settled; next check at {} (in {})", at.format("%H:%M:%S"), human(wait)),
        );
        sleep(wait).await;
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// Fetch, decide and apply for one mission. Returns how many of its events
/// are still unsettled.
async fn poll_mission<S: Service>(
    svc: &S,
    store: &StateStore,
    w: Work,
    now: DateTime<Utc>,
    opts: &PollOptions,
    mr: &mut MissionReport,
) -> Result<usize> {
    let slug = w.slug.as_str();
    let run = RunRef {
        mission_id: w.mission_id.clone().ok_or_else(|| Error::state(format!("mission {slug} has no mission_id")))?,
        run_id: w.run_id.clone().ok_or_else(|| Error::state(format!("mission {slug} has no run_id")))?,
    };
    let default_assistant = w.assistant_id.clone();
    let records = &w.records;
    mr.pending_before = records.iter().filter(|r| !r.settled).count();
    let conc = opts.concurrency.max(1);
    // Every call settled: here for the bot's steps (or run events to send).
    let awaiting_mode = !has_pending(records);

    // Nothing due and nothing to send (events hours ahead): no request at all.
    if !awaiting_mode && w.outbox.is_empty() && !has_due_work(records, now) {
        mr.idle = true;
        if let Some(t) = engine::next_due(records) {
            mr.notes
                .push(format!("nothing due; next event at {}", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
        }
        return Ok(mr.pending_before);
    }

    // 1. Fetch.
    let to_fetch: Vec<&ScheduledEvent> = records.iter().filter(|r| needs_event_fetch(r, now)).collect();
    let fetched: Vec<(String, Result<EventSnapshot>)> = stream::iter(to_fetch.into_iter().map(|r| {
        let aid = r.assistant_id.clone().or_else(|| default_assistant.clone()).unwrap_or_default();
        let id = r.event_id.clone();
        async move {
            let res = svc.get_event(&aid, &id).await;
            (id, res)
        }
    }))
    .buffer_unordered(conc)
    .collect()
    .await;
    let mut snapshots: HashMap<String, EventSnapshot> = HashMap::new();
    let mut first_err: Option<Error> = None;
    let attempted = fetched.len();
    for (id, res) in fetched {
        match res {
            Ok(s) => {
                snapshots.insert(id, s);
            }
            // The event is gone from the service: it will not run.
            Err(Error::Api { status: 404, .. }) => {
                snapshots.insert(id, EventSnapshot { status: Some("cancelled".into()), ..Default::default() });
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    mr.fetched = snapshots.len();
    if attempted > 0 && snapshots.is_empty() {
        if let Some(e) = first_err {
            return Err(e);
        }
    }
    if let Some(e) = &first_err {
        mr.notes.push(format!("some events could not be fetched ({e}); they are tried again next poll"));
    }
    let with_snap: Vec<ScheduledEvent> = records
        .iter()
        .filter(|r| !r.settled)
        .map(|r| snapshots.get(&r.event_id).map(|s| apply_snapshot(r, s)).unwrap_or_else(|| r.clone()))
        .filter(|r| needs_insights(r, &opts.policy))
        .collect();
    let insights: HashMap<String, engine::InsightsSnapshot> = stream::iter(with_snap.iter().map(|r| async move {
        let conv = r.conversation_id.clone().unwrap_or_default();
        (r.event_id.clone(), svc.insights(&conv).await)
    }))
    .buffer_unordered(conc)
    .filter_map(|(id, res)| async move { res.ok().map(|i| (id, i)) })
    .collect()
    .await;
    let (run_status, plan) = if awaiting_mode {
        // The plan first (one GET): while the bot's steps are open, that is all.
        let plan = svc.plan(&run).await?;
        let left = bot_steps_left(records, &plan);
        if !plan.is_empty() && !left.is_empty() && w.outbox.is_empty() {
            mr.notes.push(awaiting_note(&left));
            if w.awaiting.as_ref() != Some(&left) {
                let steps = left.clone();
                update_mission(store, slug, move |m, now| {
                    set_awaiting(m, &steps, now);
                    Ok(())
                })
                .await?;
            }
            mr.awaiting = left;
            return Ok(0);
        }
        (svc.run_status(&run).await?, plan)
    } else {
        let (run_status, plan) = futures_util::future::join(svc.run_status(&run), svc.plan(&run)).await;
        (run_status?, plan?)
    };

    // 2. Decide.
    let view = MissionView {
        records,
        snapshots: &snapshots,
        insights: &insights,
        plan: Some(&plan),
        run_status: run_status.as_deref(),
        now,
        awaiting_steps: awaiting_mode,
    };
    let d = reconcile(&view, &opts.policy);
    mr.notes.extend(d.notes.iter().cloned());
    describe(&d, view.records, mr);
    drop(snapshots);
    drop(insights);
    apply(svc, store, &w, &run, d, opts, mr).await
}

/// Human lines for a decision. A record that changed only in what poll
/// keeps about it (insights fetched, settled) gets no status line again.
fn describe(d: &Decision, before: &[ScheduledEvent], mr: &mut MissionReport) {
    for r in &d.records {
        let unchanged =
            before.iter().any(|b| b.event_id == r.event_id && b.status == r.status && b.call_status == r.call_status);
        if unchanged {
            continue;
        }
        let cs = r.call_status.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
        mr.changes.push(format!("{} {}: {}{cs}", r.event_id, mask_phone(&r.to), r.status));
    }
    for f in &d.failed_targets {
        mr.changes.push(format!(
            "target {} failed: {}",
            mask_phone(f["to"].as_str().unwrap_or_default()),
            f["reason"].as_str().unwrap_or_default()
        ));
    }
    for a in &d.remote {
        match a {
            Remote::SetStep { step_id, status } => mr.changes.push(format!("step {step_id} → {status}")),
            Remote::Cancel { event_id, .. } => mr.changes.push(format!("cancelled pending event {event_id}")),
            Remote::SetRun { status, summary } => mr.changes.push(format!("run → {status}: {summary}")),
            _ => {}
        }
    }
}

/// A run event to log (kept in the outbox when the service is unreachable).
fn log_entry(kind: &str, summary: &str, step_id: Option<&str>, payload: Value) -> Value {
    json!({"kind": kind, "summary": summary, "step_id": step_id, "payload": payload})
}

/// Send run events concurrently; returns those that failed (for the
/// outbox). One the service refused outright (a 4xx other than 408/429)
/// would be refused again: it is not kept.
async fn send_logs<S: Service>(svc: &S, run: &RunRef, logs: Vec<Value>, conc: usize) -> Vec<Value> {
    stream::iter(logs.into_iter().map(|l| async move {
        let kind = l["kind"].as_str().unwrap_or("custom");
        let summary = l["summary"].as_str().unwrap_or_default();
        let step = l["step_id"].as_str();
        match svc.log(run, kind, summary, step, &l["payload"]).await {
            Ok(()) => None,
            Err(Error::Api { status, .. }) if (400..500).contains(&status) && status != 408 && status != 429 => None,
            Err(_) => Some(l.clone()),
        }
    }))
    .buffer_unordered(conc)
    .filter_map(|x| async move { x })
    .collect()
    .await
}

/// Write a closure's changes to one active mission.
async fn update_mission<T: Send + 'static>(
    store: &StateStore,
    slug: &str,
    f: impl FnOnce(&mut MissionState, DateTime<Utc>) -> Result<T> + Send + 'static,
) -> Result<T> {
    let slug = slug.to_string();
    store
        .update_async(move |st| {
            let m = st.mission_mut(&slug).ok_or_else(|| {
                Error::state(format!("mission {slug} left the active state while poll was working on it"))
            })?;
            let out = f(m, Utc::now())?;
            Ok(out)
        })
        .await
}

/// Set the [`AWAITING`] marker (keeping `since` when the steps are the same
/// mission's wait continuing).
fn set_awaiting(m: &mut MissionState, steps: &[String], now: DateTime<Utc>) {
    let since = m
        .fields()
        .get(AWAITING)
        .and_then(|v| v.get("since"))
        .cloned()
        .unwrap_or_else(|| json!(crate::state::timestamp(now)));
    m.set(AWAITING, json!({"steps": steps, "since": since}));
}

async fn apply<S: Service>(
    svc: &S,
    store: &StateStore,
    w: &Work,
    run: &RunRef,
    mut d: Decision,
    opts: &PollOptions,
    mr: &mut MissionReport,
) -> Result<usize> {
    let (slug, records, default_assistant) = (w.slug.as_str(), &w.records, &w.assistant_id);
    let conc = opts.concurrency.max(1);
    // Run events left over from an earlier poll go first.
    let mut logs: Vec<Value> = w.outbox.clone();
    let had_outbox = !logs.is_empty();

    // 2. Records, insights, failed targets, retry intents.
    if !(d.records.is_empty() && d.insights.is_empty() && d.failed_targets.is_empty()) {
        let (recs, ins, failed) =
            (std::mem::take(&mut d.records), std::mem::take(&mut d.insights), std::mem::take(&mut d.failed_targets));
        update_mission(store, slug, move |m, now| {
            m.put_scheduled_events(&recs, now)?;
            if !ins.is_empty() {
                let mut all = m.memory_get(INSIGHTS).and_then(Value::as_object).cloned().unwrap_or_default();
                for (id, v) in ins {
                    all.insert(id, v);
                }
                m.memory_save(INSIGHTS, Value::Object(all), now)?;
            }
            if !failed.is_empty() {
                let mut list = m.memory_get(FAILED_TARGETS).and_then(Value::as_array).cloned().unwrap_or_default();
                for f in failed {
                    list.retain(|x| x.get("event_id") != f.get("event_id"));
                    list.push(f);
                }
                m.memory_save(FAILED_TARGETS, Value::Array(list), now)?;
            }
            Ok(())
        })
        .await?;
    }

    // 3. The service. A step change's own run event (the Log right after its
    // SetStep) is sent only once the step was set: a poll that stops before
    // recomputes the change and logs it then, so it is never logged twice.
    let mut step_logs: Vec<(usize, Value)> = Vec::new();
    let mut after_step = false;
    for (i, a) in d.remote.iter_mut().enumerate() {
        match a {
            Remote::Log { kind, summary, step_id, payload } => {
                let l = log_entry(kind, summary, step_id.as_deref(), std::mem::take(payload));
                if after_step {
                    step_logs.push((i - 1, l));
                } else {
                    logs.push(l);
                }
                after_step = false;
            }
            Remote::SetStep { .. } => after_step = true,
            _ => after_step = false,
        }
    }
    let mut unsent = send_logs(svc, run, logs, conc).await;
    let mut cancelled: Vec<String> = Vec::new();
    let mut retry_now: Option<DateTime<Utc>> = None;
    let mut step_error: Option<Error> = None;
    let mut steps_set: HashSet<usize> = HashSet::new();
    for (i, a) in d.remote.iter().enumerate() {
        let res = match a {
            Remote::Log { .. } => Ok(()),
            Remote::SetStep { step_id, status } => svc.set_step(run, step_id, status).await.map(|()| {
                steps_set.insert(i);
            }),
            Remote::Cancel { assistant_id, event_id } => {
                let aid = assistant_id.clone().or_else(|| default_assistant.clone()).unwrap_or_default();
                svc.cancel_event(&aid, event_id).await.map(|()| cancelled.push(event_id.clone()))
            }
            Remote::Retry(req) => {
                if retry_now.is_none() {
                    retry_now = Some(svc.now().await?);
                }
                let mut req = req.clone();
                req.assistant_id = req.assistant_id.or_else(|| default_assistant.clone());
                req.from = req.from.or_else(|| w.agent_phone.clone());
                let now = retry_now.unwrap_or_else(Utc::now);
                match retry(svc, store, slug, run, records, &req, now, opts).await {
                    Ok(line) => {
                        mr.retries_scheduled += 1;
                        mr.changes.push(line.clone());
                        let payload = json!({"retry_of": req.of_event, "attempt": req.attempt, "reason": req.reason});
                        unsent.extend(
                            send_logs(svc, run, vec![log_entry("custom", &line, req.step_id.as_deref(), payload)], 1)
                                .await,
                        );
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Remote::SetRun { status, summary } => {
                let payload = d.finish.as_ref().map(|f| f.result.clone()).unwrap_or(Value::Null);
                svc.set_run(run, status, summary, &payload).await
            }
        };
        if let Err(e) = res {
            step_error = Some(e);
            break;
        }
    }

    let step_logs: Vec<Value> = step_logs.into_iter().filter(|(i, _)| steps_set.contains(i)).map(|(_, l)| l).collect();
    unsent.extend(send_logs(svc, run, step_logs, conc).await);

    // 4. Settle, result, archive (only when every service change went through).
    let complete = step_error.is_none();
    let settle: HashSet<String> = if complete { d.settle.iter().cloned().collect() } else { HashSet::new() };
    // A mission closes only once its run events are all logged: the archive
    // is never polled again, so an unsent event would be lost there.
    let finish = if complete && unsent.is_empty() { d.finish.clone() } else { None };
    if complete && d.finish.is_some() && !unsent.is_empty() {
        mr.notes.push(format!(
            "{} run events could not be logged yet; the mission closes once they are sent",
            unsent.len()
        ));
    }
    // The bot's steps: the marker keeps the mission pending for later polls.
    let awaiting: Option<Vec<String>> = if !complete {
        w.awaiting.clone()
    } else if finish.is_some() || d.awaiting.is_empty() {
        None
    } else {
        Some(d.awaiting.clone())
    };
    mr.awaiting = awaiting.clone().unwrap_or_default();
    let awaiting_changed = awaiting != w.awaiting;
    let outbox_changed = had_outbox || !unsent.is_empty();
    // Unsettled events after this poll (the retries just scheduled included).
    let mut left = records.iter().filter(|r| !r.settled).count() + mr.retries_scheduled;
    if !settle.is_empty() || !cancelled.is_empty() || finish.is_some() || outbox_changed || awaiting_changed {
        let slug_s = slug.to_string();
        let (settle, cancelled, unsent) = (settle, cancelled, unsent);
        let arch = store
            .update_async(move |st| {
                let now = Utc::now();
                let Some(m) = st.mission_mut(&slug_s) else {
                    return Err(Error::state(format!(
                        "mission {slug_s} left the active state while poll was working on it"
                    )));
                };
                let mut recs = m.scheduled_events();
                let mut changed = Vec::new();
                for r in recs.iter_mut() {
                    let mut c = false;
                    if settle.contains(&r.event_id) && !r.settled {
                        r.settled = true;
                        c = true;
                    }
                    if cancelled.contains(&r.event_id) && !r.is_terminal() {
                        r.status = "cancelled".into();
                        c = true;
                    }
                    if c {
                        changed.push(r.clone());
                    }
                }
                if !changed.is_empty() {
                    m.put_scheduled_events(&changed, now)?;
                }
                if unsent.is_empty() {
                    m.remove(OUTBOX);
                } else {
                    m.set(OUTBOX, Value::Array(unsent));
                }
                match &awaiting {
                    Some(steps) => set_awaiting(m, steps, now),
                    None => {
                        m.remove(AWAITING);
                    }
                }
                if let Some(f) = finish {
                    let mut result = f.result.clone();
                    // `mission cancel` left its own account of the cancel: keep it.
                    if let Some(prev) = m.memory_get(RESULT).and_then(Value::as_object) {
                        if prev.get("status") == Some(&json!("cancelled")) && result["status"] == "cancelled" {
                            for (k, v) in prev {
                                if k != "targets" && k != "finished_at" {
                                    result[k.as_str()] = v.clone();
                                }
                            }
                        }
                    }
                    result["finished_at"] = json!(crate::state::timestamp(now));
                    m.memory_save(RESULT, result.clone(), now)?;
                    let mut fields = Map::new();
                    let status = f.run_status.clone().or_else(|| result["status"].as_str().map(String::from));
                    if let Some(s) = status {
                        fields.insert("status".into(), json!(s));
                    }
                    if let Some(r) = result.get("reason") {
                        fields.insert("result_summary".into(), r.clone());
                    }
                    return Ok((st.archive(&slug_s, fields, now).map(|_| result["status"].clone()), 0));
                }
                let left = recs.iter().filter(|r| !r.settled).count();
                Ok((None, left))
            })
            .await?;
        if let Some(status) = arch.0 {
            mr.archived = true;
            mr.ended = status.as_str().map(String::from);
        }
        left = arch.1;
    }
    match step_error {
        Some(e) => Err(e),
        None => Ok(left),
    }
}

/// Schedule (or adopt) one retry and record it. Returns the report line.
#[allow(clippy::too_many_arguments)]
async fn retry<S: Service>(
    svc: &S,
    store: &StateStore,
    slug: &str,
    run: &RunRef,
    records: &[ScheduledEvent],
    req: &RetryRequest,
    now: DateTime<Utc>,
    opts: &PollOptions,
) -> Result<String> {
    let mut req = req.clone();
    let aid = req.assistant_id.clone().ok_or_else(|| Error::state("the event has no assistant_id to retry with"))?;
    let mut adopted: Option<String> = None;
    if req.recover {
        // An earlier poll wrote this intent and stopped: the event may exist.
        let known: HashSet<&str> = records.iter().map(|r| r.event_id.as_str()).collect();
        let want = parse_time(&req.scheduled_at);
        adopted = svc
            .list_events(&aid)
            .await?
            .into_iter()
            .find(|e| {
                !known.contains(e.id.as_str())
                    && e.to.as_deref() == Some(req.to.as_str())
                    && e.scheduled_at.as_deref().and_then(parse_time) == want
                    && (e.step_id.is_none() || e.step_id == req.step_id)
            })
            .map(|e| e.id);
    }
    let id = match adopted {
        Some(id) => id,
        None => {
            // The service refuses times less than a minute ahead: a stale
            // intent gets a new time, written before the request is sent.
            let min = now + chrono::Duration::seconds(90);
            if parse_time(&req.scheduled_at).is_none_or(|t| t < min) {
                req.scheduled_at = min.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let (of, at) = (req.of_event.clone(), req.scheduled_at.clone());
                update_mission(store, slug, move |m, now| {
                    let mut recs = m.scheduled_events();
                    if let Some(r) = recs.iter_mut().find(|r| r.event_id == of) {
                        if let Some(i) = r.retry.as_mut() {
                            i.scheduled_at = at;
                        }
                        let r = r.clone();
                        m.put_scheduled_events(&[r], now)?;
                    }
                    Ok(())
                })
                .await?;
            }
            svc.schedule(run, &req).await?
        }
    };
    let (req2, id2) = (req.clone(), id.clone());
    update_mission(store, slug, move |m, now| {
        let recs = m.scheduled_events();
        let changed = adopt_retry(&recs, &req2, &id2);
        m.put_scheduled_events(&changed, now)
    })
    .await?;
    let kind = if req.channel == "sms" { "SMS" } else { "call" };
    Ok(format!(
        "retry {} of {} for {kind} to {} ({}): event_id={id} at {}",
        req.attempt - 1,
        opts.policy.max_retries,
        mask_phone(&req.to),
        req.reason,
        req.scheduled_at
    ))
}

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{setup, Fake};
    use super::*;

    async fn poll(store: &StateStore, fake: &Fake) -> PollReport {
        poll_once(store, || Ok(fake), &PollOptions::default()).await.unwrap()
    }

    fn archived_result(store: &StateStore, mission_id: &str) -> Value {
        let st = store.read().unwrap();
        st.archived_mission(mission_id).and_then(|m| m.memory_get(RESULT).cloned()).unwrap_or(Value::Null)
    }

    #[tokio::test]
    async fn nothing_pending_builds_no_client_and_sends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("state.json"));
        let r = poll_once::<&Fake, _>(&store, || panic!("no client may be built"), &PollOptions::default()).await;
        assert!(r.unwrap().missions.is_empty());
    }

    #[tokio::test]
    async fn a_sweep_ends_succeeded_with_insights_and_one_retry() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(
            dir.path(),
            "sweep",
            &fake,
            &[("e6", "+15005550006"), ("e5", "+15005550005"), ("e4", "+15005550004")],
        );
        fake.play();
        let r = poll(&store, &fake).await;
        assert_eq!(r.missions[0].retries_scheduled, 1, "{r:?}");
        assert!(r.missions[0].error.is_none(), "{r:?}");
        fake.advance(11);
        fake.play();
        let r = poll(&store, &fake).await;
        assert_eq!(r.missions[0].ended.as_deref(), Some("succeeded"), "{r:?}");

        assert!(r.missions[0].archived);
        assert_eq!(*fake.run.lock().unwrap(), "succeeded");
        assert_eq!(fake.plan.lock().unwrap()[0].status, "completed");
        let st = store.read().unwrap();
        assert!(st.mission("sweep").is_none());
        let m = st.archived_mission("m-sweep").unwrap();
        assert_eq!(m.memory_get(INSIGHTS).unwrap().as_object().unwrap().len(), 3);
        assert_eq!(m.memory_get(RESULT).unwrap()["status"], "succeeded");
        let recs = m.scheduled_events();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs.iter().filter(|r| r.retry_of.is_some()).count(), 1);
        // Ended: another poll does nothing at all.
        let before = *fake.requests.lock().unwrap();
        assert!(poll(&store, &fake).await.missions.is_empty());
        assert_eq!(*fake.requests.lock().unwrap(), before);
    }

    #[tokio::test]
    async fn always_busy_fails_after_two_retries_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "busy", &fake, &[("e1", "+15005550001")]);
        for _ in 0..5 {
            fake.play();
            poll(&store, &fake).await;
            fake.advance(11);
        }
        let result = archived_result(&store, "m-busy");
        assert_eq!(result["status"], "failed");
        assert!(result["reason"].as_str().unwrap().contains("busy on all 3 attempts"), "{result}");
        assert_eq!(fake.events.lock().unwrap().len(), 3, "two retries, no more");
        assert!(fake.logs.lock().unwrap().iter().any(|(k, _)| k == "error"));
    }

    #[tokio::test]
    async fn a_lost_schedule_reply_is_adopted_not_scheduled_twice() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "crash", &fake, &[("e5", "+15005550005")]);
        fake.play();
        *fake.lose_schedule_reply.lock().unwrap() = true;
        let r = poll(&store, &fake).await;
        assert!(r.missions[0].error.is_some(), "the lost reply is reported: {r:?}");
        assert_eq!(fake.events.lock().unwrap().len(), 2);
        let r = poll(&store, &fake).await;
        assert!(r.missions[0].error.is_none(), "{r:?}");
        assert_eq!(fake.events.lock().unwrap().len(), 2, "the retry already on the service was adopted");
        let recs = store.read().unwrap().mission("crash").unwrap().scheduled_events();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].event_id, "ev2");
        fake.advance(11);
        fake.play();
        poll(&store, &fake).await;
        assert_eq!(archived_result(&store, "m-crash")["status"], "succeeded");
    }

    #[tokio::test]
    async fn offline_service_leaves_the_state_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "net", &fake, &[("e1", "+15005550006")]);
        fake.play();
        let before = std::fs::read(store.path()).unwrap();
        *fake.offline.lock().unwrap() = true;
        let r = poll_once(&store, || Ok(&fake), &PollOptions::default()).await;
        assert!(r.is_err() || r.as_ref().unwrap().first_error().is_some());
        assert_eq!(std::fs::read(store.path()).unwrap(), before);
    }

    #[tokio::test]
    async fn one_broken_mission_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "good", &fake, &[("e1", "+15005550006")]);
        store
            .update(|st| {
                let m = st.mission_or_create("broken");
                m.memory_save(crate::state::SCHEDULED_EVENTS_KEY, json!([{"event_id": "x", "to": "+1"}]), Utc::now())
            })
            .unwrap();
        fake.play();
        let r = poll(&store, &fake).await;
        let broken = r.missions.iter().find(|m| m.slug == "broken").unwrap();
        assert!(broken.error.as_deref().unwrap().contains("mission_id"), "{broken:?}");
        let good = r.missions.iter().find(|m| m.slug == "good").unwrap();
        assert_eq!(good.ended.as_deref(), Some("succeeded"), "{good:?}");
    }

    #[tokio::test]
    async fn a_second_poll_exits_at_once_while_one_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "lock", &fake, &[("e1", "+15005550006")]);
        let held = PollLock::try_acquire(store.path()).unwrap().unwrap();
        let r = poll(&store, &fake).await;
        assert!(r.skipped_locked);
        assert_eq!(*fake.requests.lock().unwrap(), 0);
        drop(held);
        assert!(!poll(&store, &fake).await.skipped_locked);
    }

    /// Move every tracked event (state and service) to `at`.
    fn reschedule_all(store: &StateStore, fake: &Fake, slug: &str, at: &str) {
        for (_, e) in fake.events.lock().unwrap().iter_mut() {
            e.scheduled_at = at.into();
        }
        let (slug, at) = (slug.to_string(), at.to_string());
        store
            .update(move |st| {
                let m = st.mission_mut(&slug).unwrap();
                let mut recs = m.scheduled_events();
                for r in recs.iter_mut() {
                    r.scheduled_at = at.clone();
                }
                m.put_scheduled_events(&recs, Utc::now())
            })
            .unwrap();
    }

    #[tokio::test]
    async fn events_hours_ahead_cost_no_request_but_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "later", &fake, &[("e1", "+15005550006"), ("e2", "+15005550005")]);
        reschedule_all(&store, &fake, "later", "2026-01-01T15:00:00Z");
        let before = std::fs::read(store.path()).unwrap();
        let r = poll(&store, &fake).await;
        assert_eq!(*fake.requests.lock().unwrap(), 1, "only the clock was read");
        let m = &r.missions[0];
        assert!(m.idle && m.pending_after == 2, "{m:?}");
        assert!(m.notes.iter().any(|n| n.contains("next event at 2026-01-01T15:00:00Z")), "{m:?}");
        assert_eq!(std::fs::read(store.path()).unwrap(), before, "nothing written either");
    }

    #[tokio::test]
    async fn watch_sleeps_by_the_table_when_no_interval_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "paced", &fake, &[("e1", "+15005550006")]);
        let due = parse_time("2026-01-01T15:00:00Z").unwrap();
        reschedule_all(&store, &fake, "paced", "2026-01-01T15:00:00Z");
        // (service time when the pause was chosen, the pause, requests so far)
        let slept: std::cell::RefCell<Vec<(DateTime<Utc>, Duration, usize)>> = Default::default();
        let reports = watch_with_sleep(
            &store,
            || Ok(&fake),
            &PollOptions::default(),
            &Pace::default(),
            &crate::output::Progress::hidden(),
            |d| {
                let now = fake.now.lock().unwrap().unwrap();
                slept.borrow_mut().push((now, d, *fake.requests.lock().unwrap()));
                fake.advance_by(d);
                fake.play();
                std::future::ready(())
            },
        )
        .await
        .unwrap();
        let slept = slept.into_inner();
        assert_eq!(slept[0].1, Duration::from_secs(30 * 60), "three hours away: the table's 30 minutes");
        for (i, (now, d, requests)) in slept.iter().enumerate() {
            if *now < due {
                let until = (due - *now).to_std().unwrap();
                assert_eq!(*d, super::super::pace::for_distance(until), "pause {i} at {now}");
                assert!(*now + chrono::Duration::from_std(*d).unwrap() <= due, "never sleeps past the call");
                assert_eq!(*requests, i + 1, "before the call is due each poll only reads the clock");
            } else {
                assert_eq!(*d, Duration::from_secs(30), "running or due: 30 s");
            }
        }
        assert!(slept.len() > 5, "{slept:?}");
        let last = reports.last().unwrap();
        assert_eq!(last.missions[0].ended.as_deref(), Some("succeeded"), "{last:?}");
    }

    #[tokio::test]
    async fn a_fixed_interval_overrides_the_table() {
        let now = parse_time("2026-01-01T12:00:00Z").unwrap();
        let r = ScheduledEvent::new("e", "+1", "2026-01-02T12:00:00Z", None);
        let table = watch_wait(&Pace::default(), std::slice::from_ref(&r), now);
        assert_eq!(table, super::super::pace::next_sleep(std::slice::from_ref(&r), now).unwrap());
        let fixed = Pace { interval: Some(Duration::from_millis(100)) };
        assert_eq!(watch_wait(&fixed, &[r], now), Duration::from_millis(100));
    }

    #[tokio::test]
    async fn calls_done_with_a_bot_step_left_stay_pending_until_the_bot_finishes_it() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "bot", &fake, &[("e1", "+15005550006")]);
        fake.plan
            .lock()
            .unwrap()
            .push(super::super::engine::PlanStep { step_id: "analyze".into(), status: "pending".into() });
        fake.play();
        let r = poll(&store, &fake).await;
        assert_eq!(r.missions[0].awaiting, vec!["analyze".to_string()], "{r:?}");
        assert!(r.missions[0].notes.contains(&"calls done; step analyze is yours".to_string()));
        assert_eq!(*fake.run.lock().unwrap(), "running");
        {
            let st = store.read().unwrap();
            let m = st.mission("bot").expect("still active");
            assert!(m.scheduled_events().iter().all(|x| x.settled));
            assert_eq!(m.fields()[AWAITING]["steps"], json!(["analyze"]));
        }
        // Still the bot's: one GET (the plan), the same note, no change.
        let before = *fake.requests.lock().unwrap();
        let r = poll(&store, &fake).await;
        assert_eq!(*fake.requests.lock().unwrap() - before, 2, "the clock and the plan");
        assert_eq!(r.missions[0].notes, vec!["calls done; step analyze is yours".to_string()]);
        // The bot completes its step: the next poll ends the run and archives.
        fake.plan.lock().unwrap()[1].status = "completed".into();
        let r = poll(&store, &fake).await;
        assert_eq!(r.missions[0].ended.as_deref(), Some("succeeded"), "{r:?}");
        assert_eq!(*fake.run.lock().unwrap(), "succeeded");
        assert_eq!(archived_result(&store, "m-bot")["status"], "succeeded");
        assert!(store.read().unwrap().archived_mission("m-bot").unwrap().fields().get(AWAITING).is_none());
        let before = *fake.requests.lock().unwrap();
        assert!(poll(&store, &fake).await.missions.is_empty());
        assert_eq!(*fake.requests.lock().unwrap(), before, "ended: no request");
    }

    #[tokio::test]
    async fn a_step_change_is_logged_once_even_when_setting_the_step_failed_first() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "steps", &fake, &[("e1", "+15005550006")]);
        fake.play();
        *fake.steps_down.lock().unwrap() = true;
        let r = poll(&store, &fake).await;
        assert!(r.missions[0].error.is_some(), "{r:?}");
        *fake.steps_down.lock().unwrap() = false;
        let r = poll(&store, &fake).await;
        assert_eq!(r.missions[0].ended.as_deref(), Some("succeeded"), "{r:?}");
        let logs = fake.logs.lock().unwrap();
        assert_eq!(logs.iter().filter(|(k, _)| k == "step_completed").count(), 1, "{logs:?}");
        assert_eq!(logs.iter().filter(|(_, s)| s.contains("event_id=e1")).count(), 1, "{logs:?}");
    }

    #[tokio::test]
    async fn a_mission_closes_only_once_its_run_events_are_sent() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "late", &fake, &[("e1", "+15005550006")]);
        fake.play();
        *fake.logs_down.lock().unwrap() = true;
        let r = poll(&store, &fake).await;
        assert!(r.missions[0].ended.is_none(), "{r:?}");
        assert_eq!(*fake.run.lock().unwrap(), "succeeded");
        assert!(store.read().unwrap().mission("late").is_some(), "kept active while events are unsent");
        *fake.logs_down.lock().unwrap() = false;
        let r = poll(&store, &fake).await;
        assert_eq!(r.missions[0].ended.as_deref(), Some("succeeded"), "{r:?}");
        let st = store.read().unwrap();
        assert!(st.archived_mission("m-late").unwrap().fields().get(OUTBOX).is_none());
        let logs = fake.logs.lock().unwrap();
        assert!(logs.iter().any(|(k, _)| k == "step_completed"), "{logs:?}");
    }

    #[tokio::test]
    async fn run_events_that_fail_to_log_are_kept_and_sent_later() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "outbox", &fake, &[("e1", "+15005550006"), ("e2", "+15005550006")]);
        fake.play();
        // Only e1 is fetched now (e2 is not due yet).
        fake.events.lock().unwrap()[1].1.status = "pending".into();
        store
            .update(|st| {
                let m = st.mission_mut("outbox").unwrap();
                let mut recs = m.scheduled_events();
                recs[1].scheduled_at = "2026-01-01T12:30:00Z".into();
                m.put_scheduled_events(&recs, Utc::now())
            })
            .unwrap();
        *fake.logs_down.lock().unwrap() = true;
        poll(&store, &fake).await;
        let kept = store.read().unwrap().mission("outbox").unwrap().fields()[OUTBOX].as_array().unwrap().len();
        assert!(kept >= 1);
        *fake.logs_down.lock().unwrap() = false;
        fake.advance(31);
        poll(&store, &fake).await;
        let logs = fake.logs.lock().unwrap();
        assert!(logs.iter().any(|(_, s)| s.contains("event_id=e1")), "{logs:?}");
    }
}
