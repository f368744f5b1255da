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

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::engine::{has_pending, Policy};
use super::service::Service;
use crate::campaign::profile::RetryRules;
use crate::error::{Error, Result};
use crate::state::{FileLock, MissionState, ScheduledEvent, State, StateStore};

mod apply;
mod mission;
mod optout;
mod report;
#[cfg(test)]
mod tests;
mod watch;

pub use report::{MissionReport, PollReport};
pub use watch::{watch, watch_with_sleep};

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
    /// Reports to the agent (docs/missions.md#reports-to-the-agent): where
    /// they go, or `None` when they are off (none is owed, and any still
    /// owed from an earlier poll is given up).
    pub notify: Option<super::notify::Notifier>,
    /// The data directory of the opt-out list (docs/optout.md): read once
    /// per poll that has work, its numbers' pending events cancelled and
    /// never retried. `None`: no list.
    pub optout_dir: Option<PathBuf>,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions { mission: None, policy: Policy::default(), concurrency: 8, notify: None, optout_dir: None }
    }
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
    /// Retry profiles of the mission's campaign targets (docs/campaigns.md#retry-profiles).
    rules: RetryRules,
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
            rules: RetryRules::of_targets(&crate::campaign::record::targets(m)),
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
    let owed = super::notify::any_owed(&state);
    if !owed && !selected(&state, opts.mission.as_deref())?.iter().any(|(slug, m)| Work::of(slug, m).has_work(explicit))
    {
        return Ok(report);
    }
    drop(state);
    let Some(_lock) = PollLock::try_acquire(store.path())? else {
        report.skipped_locked = true;
        return Ok(report);
    };
    // Re-read under the lock: the poll that held it may have changed things.
    let (work, owed): (Vec<Work>, bool) = {
        let state = store.read_async().await?;
        let work = selected(&state, opts.mission.as_deref())?
            .iter()
            .map(|(slug, m)| Work::of(slug, m))
            .filter(|w| w.has_work(explicit))
            .collect();
        (work, super::notify::any_owed(&state))
    };
    if work.is_empty() && !owed {
        return Ok(report);
    }
    // Read once, and only now that some mission has work (docs/optout.md).
    let gate = crate::outbound::Gate::load_async(opts.optout_dir.clone()).await?;
    let service = connect()?;
    let now = service.now().await?;
    report.now = Some(now);
    for w in work {
        let mut mr = MissionReport { slug: w.slug.clone(), ..Default::default() };
        match mission::poll_mission(&service, store, w, now, opts, &gate, &mut mr).await {
            Ok(left) => mr.pending_after = left,
            Err(e) => {
                mr.error = Some(e.to_string());
                mr.exit_code = e.exit_code();
                mr.pending_after = mr.pending_before;
            }
        }
        report.missions.push(mr);
    }
    // The reports this poll's changes (or an earlier poll's) owe the agent;
    // with reports off, only those an earlier poll left are looked at.
    if opts.notify.is_some() || owed {
        report.reports = super::notify::deliver(store, opts.notify.as_ref(), now).await?;
    }
    Ok(report)
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
/// mission's wait continuing). `report_as`: reports are on and the mission
/// is this slug: each step newly the bot's owes the agent a report.
fn set_awaiting(m: &mut MissionState, steps: &[String], now: DateTime<Utc>, report_as: Option<&str>) {
    if let Some(slug) = report_as {
        super::notify::owe_bot_steps(m, slug, steps, now);
    }
    let since = m
        .fields()
        .get(AWAITING)
        .and_then(|v| v.get("since"))
        .cloned()
        .unwrap_or_else(|| json!(crate::state::timestamp(now)));
    m.set(AWAITING, json!({"steps": steps, "since": since}));
}

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}
