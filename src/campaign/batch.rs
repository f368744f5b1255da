//! Running a batch (docs/campaigns.md#exactly-once): plan and claim under
//! the state lock, adopt what a dead run already created, create the rest
//! in slot order, and record each created event both as a target and as a
//! normal scheduled event (so `poll` tracks it as any other).
//!
//! The same run places targets already recorded ([`Source::Records`]):
//! `mission resume` and `mission retry --failed` (docs/campaigns.md#pause-and-resume).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, NaiveDate, Utc};

use super::plan::{self, Action, DailyCap, Entry, Options, OwnerZone};
use super::record::{put_targets, targets, TargetRecord, TargetStatus};
use super::targets::Target;
use crate::api::models::ScheduledEvent as Created;
use crate::api::scheduled::{self, Channel, NewScheduledEvent};
use crate::api::Client;
use crate::error::{Error, Result};
use crate::ledger::Claim;
use crate::state::{AttemptOutcome, LogClaim, ScheduledEvent, State, StateStore};

/// Save progress at least this often (and every [`FLUSH_EVERY`] events):
/// what a crash loses in between is adopted by the next run.
const FLUSH_AFTER: StdDuration = StdDuration::from_secs(2);
const FLUSH_EVERY: usize = 25;
/// How many more times one create refused with 429 is tried (after the
/// client's own retries, which honour `Retry-After`).
const RATE_LIMIT_ROUNDS: u32 = 20;

/// One batch, resolved.
#[derive(Debug, Clone)]
pub struct Batch {
    pub slug: String,
    pub assistant_id: String,
    pub from: String,
    pub mission_id: Option<String>,
    pub run_id: Option<String>,
    pub channel: Channel,
    pub source: Source,
    pub options: Options,
    /// `daily_call_cap` and the owner's zone.
    pub daily_cap: Option<(u32, OwnerZone)>,
}

/// What a batch places.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file's rows (`schedule batch`).
    Rows(Vec<Target>),
    /// Targets already recorded in the mission (`mission resume`, `mission retry`).
    Records(Records),
}

/// Recorded targets to place again.
#[derive(Debug, Clone)]
pub struct Records {
    /// The targets' keys; their records are read under the state lock.
    pub keys: Vec<String>,
    /// The status of those to place again (`paused`, `failed`).
    pub from: TargetStatus,
    /// The attempt each new event follows, by event id (a target's
    /// `event_id` until its new event exists).
    pub previous: HashMap<String, ScheduledEvent>,
    /// The new event is the next attempt (retry), or the same attempt
    /// again (resume: a paused event never rang).
    pub next_attempt: bool,
}

impl Source {
    fn len(&self) -> usize {
        match self {
            Source::Rows(r) => r.len(),
            Source::Records(r) => r.keys.len(),
        }
    }
}

impl Batch {
    /// Nothing to place (no rows, no recorded targets in question).
    pub fn source_is_empty(&self) -> bool {
        self.source.len() == 0
    }
}

/// What a run did, beside the plan.
#[derive(Debug, Clone, Default)]
pub struct Done {
    /// Keys of targets whose event was created now.
    pub created: Vec<String>,
    /// Keys of targets whose event a dead run had created (adopted).
    pub adopted: Vec<String>,
    /// Keys and why their event was not created.
    pub failed: Vec<(String, String)>,
}

/// Calls scheduled in every active mission, by owner day (cancelled ones
/// do not count).
fn usage(st: &State, zone: OwnerZone) -> BTreeMap<NaiveDate, u32> {
    let mut used = BTreeMap::new();
    for (_, m) in st.missions() {
        for e in m.scheduled_events() {
            if !e.is_call() || matches!(e.status.as_str(), "cancelled" | "canceled") {
                continue;
            }
            if let Ok(t) = DateTime::parse_from_rfc3339(&e.scheduled_at) {
                *used.entry(zone.day(t.with_timezone(&Utc))).or_insert(0) += 1;
            }
        }
    }
    used
}

/// The plan for `b` against the state as it is.
fn plan_in(st: &State, b: &Batch, owner: &str, now: DateTime<Utc>) -> Result<Vec<Entry>> {
    let Some(m) = st.mission(&b.slug) else { return Err(st.unknown(&b.slug)) };
    let mut opts = b.options.clone();
    opts.cap = b.daily_cap.map(|(limit, zone)| DailyCap { limit, zone, used: usage(st, zone) });
    let all = targets(m);
    match &b.source {
        Source::Rows(rows) => Ok(plan::plan(rows, &opts, &all, owner, now)),
        Source::Records(r) => {
            let picked: Vec<TargetRecord> =
                r.keys.iter().filter_map(|k| all.iter().find(|t| &t.key == k).cloned()).collect();
            Ok(plan::replan(&picked, r.from, &opts, &all, owner, now))
        }
    }
}

/// `--dry-run`: the plan, nothing sent, nothing written.
pub async fn dry_run(store: &StateStore, b: &Batch, now: DateTime<Utc>) -> Result<Vec<Entry>> {
    let st = store.read_async().await?;
    plan_in(&st, b, "", now)
}

/// Plan, claim, adopt, create, record. Returns the plan (with each
/// entry's record as it ended) and what was done.
pub async fn run(
    client: &Client,
    store: &StateStore,
    claim: &Claim,
    b: &Batch,
    now: DateTime<Utc>,
) -> Result<(Vec<Entry>, Done)> {
    let (bb, owner) = (b.clone(), claim.owner.clone());
    let until = crate::state::timestamp(claim.until(now, b.source.len()));
    let mut entries = store
        .update_async(move |st| {
            let mut entries = plan_in(st, &bb, &owner, now)?;
            let mut claimed = Vec::new();
            for e in &mut entries {
                if let Action::Schedule { record, .. } | Action::Recover { record } = &mut e.action {
                    record.status = TargetStatus::Planned;
                    record.claim = Some(LogClaim { owner: owner.clone(), until: until.clone() });
                    claimed.push(record.clone());
                }
            }
            if let Some(m) = st.mission_mut(&bb.slug) {
                put_targets(m, &claimed, now)?;
            }
            Ok(entries)
        })
        .await?;
    let mut done = Done::default();
    let mut saver = Saver::new(store, b, now);
    adopt(client, b, &mut entries, &mut saver, &mut done).await?;
    let mut todo: Vec<usize> = entries.iter().enumerate().filter(|(_, e)| owed(e)).map(|(i, _)| i).collect();
    todo.sort_by(|x, y| slot(&entries[*x]).cmp(slot(&entries[*y])));
    for i in todo {
        let Some(rec) = record_mut(&mut entries[i]) else { continue };
        match create(client, b, rec).await {
            Ok(created) => {
                done.created.push(rec.key.clone());
                saver.push(rec, Some(created));
            }
            Err((reason, definite)) => {
                rec.claim = None;
                if definite {
                    // A recorded target stays what it was (resume or retry picks it up again).
                    rec.status = match &b.source {
                        Source::Records(r) => r.from,
                        Source::Rows(_) => TargetStatus::Skipped,
                    };
                    rec.reason = Some(reason.clone());
                }
                done.failed.push((rec.key.clone(), reason));
                saver.push(rec, None);
            }
        }
        saver.maybe_flush().await?;
    }
    saver.flush().await?;
    Ok((entries, done))
}

/// Still needs its event created by this run.
fn owed(e: &Entry) -> bool {
    match &e.action {
        Action::Schedule { record, .. } | Action::Recover { record } => record.status == TargetStatus::Planned,
        _ => false,
    }
}

fn slot(e: &Entry) -> &str {
    match &e.action {
        Action::Schedule { record, .. } | Action::Recover { record } => record.scheduled_at.as_deref().unwrap_or(""),
        _ => "",
    }
}

fn record_mut(e: &mut Entry) -> Option<&mut TargetRecord> {
    match &mut e.action {
        Action::Schedule { record, .. } | Action::Recover { record } => Some(record),
        _ => None,
    }
}

fn same_instant(a: Option<&str>, b: Option<&str>) -> bool {
    let p = |s: Option<&str>| s.and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    p(a).is_some() && p(a) == p(b)
}

/// Targets a dead run recorded `planned`: the service's event with the
/// same number, time and step (and not already some target's) is adopted
/// instead of creating a second one. One list of the assistant's events.
async fn adopt(
    client: &Client,
    b: &Batch,
    entries: &mut [Entry],
    saver: &mut Saver<'_>,
    done: &mut Done,
) -> Result<()> {
    if !entries.iter().any(|e| matches!(e.action, Action::Recover { .. })) {
        return Ok(());
    }
    let mut events = scheduled::list(client, &b.assistant_id).await?;
    for e in entries.iter_mut() {
        let Action::Recover { record } = &mut e.action else { continue };
        let found = events.iter().position(|ev| {
            ev.to.as_deref() == Some(record.phone.as_str())
                && same_instant(ev.scheduled_at.as_deref(), record.scheduled_at.as_deref())
                && ev.step_id == record.step_id
                && !matches!(ev.status.as_deref(), Some("cancelled" | "canceled"))
        });
        if let Some(i) = found {
            let ev = events.swap_remove(i);
            done.adopted.push(record.key.clone());
            saver.push(record, Some(ev));
        }
    }
    saver.flush().await
}

/// Create one target's event. `Err((reason, definite))`: `definite` when
/// the service surely did not create it (a refusal), else it may have (the
/// next run adopts it if so).
async fn create(client: &Client, b: &Batch, rec: &TargetRecord) -> std::result::Result<Created, (String, bool)> {
    // Fail closed: an SMS whose text is not known is never sent empty.
    let channel = channel_of(b, rec).ok_or_else(|| {
        (
            "the text of its earlier SMS is not recorded: schedule it again with `schedule batch --channel sms --text`"
                .to_string(),
            true,
        )
    })?;
    let event = NewScheduledEvent {
        channel,
        to: rec.phone.clone(),
        from: b.from.clone(),
        scheduled_at: rec.scheduled_at.clone().unwrap_or_default(),
        mission_id: b.mission_id.clone(),
        run_id: b.run_id.clone(),
        step_id: rec.step_id.clone(),
    };
    let mut wait = StdDuration::from_secs(1);
    for _ in 0..RATE_LIMIT_ROUNDS {
        match scheduled::create(client, &b.assistant_id, &event).await {
            Ok(c) => return Ok(c),
            Err(Error::Api { status: 429, .. }) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(StdDuration::from_secs(30));
            }
            Err(e @ Error::Api { .. }) => return Err((e.to_string(), true)),
            Err(e) => return Err((e.to_string(), false)),
        }
    }
    Err(("still rate limited after many tries".into(), true))
}

/// The channel of a target's event: the batch's, or for a recorded
/// target its own (an SMS keeps the text of the attempt it follows; None
/// when that text is not recorded).
fn channel_of(b: &Batch, rec: &TargetRecord) -> Option<Channel> {
    let Source::Records(r) = &b.source else { return Some(b.channel.clone()) };
    match rec.channel.as_str() {
        "sms" => {
            let prev = rec.event_id.as_deref().and_then(|id| r.previous.get(id));
            prev.and_then(|p| p.text.clone()).filter(|t| !t.trim().is_empty()).map(Channel::Sms)
        }
        _ => Some(Channel::Call),
    }
}

/// Records settled targets in batches under the state lock.
struct Saver<'a> {
    store: &'a StateStore,
    batch: &'a Batch,
    now: DateTime<Utc>,
    targets: Vec<TargetRecord>,
    events: Vec<ScheduledEvent>,
    last: Instant,
}

impl<'a> Saver<'a> {
    fn new(store: &'a StateStore, batch: &'a Batch, now: DateTime<Utc>) -> Saver<'a> {
        Saver { store, batch, now, targets: Vec::new(), events: Vec::new(), last: Instant::now() }
    }

    /// Queue a target; with `created`, it is scheduled as that event.
    fn push(&mut self, rec: &mut TargetRecord, created: Option<Created>) {
        if let Some(c) = created {
            let prev = self.previous(rec);
            rec.status = TargetStatus::Scheduled;
            rec.event_id = Some(c.id.clone());
            rec.claim = None;
            rec.reason = None;
            let mut ev = self.event(rec, &c);
            if let (Some(p), Source::Records(r)) = (prev, &self.batch.source) {
                ev.attempt = if r.next_attempt { p.attempt.saturating_add(1) } else { p.attempt };
                ev.retry_of = Some(p.event_id.clone());
                self.events.push(followed(p, &c.id, r.next_attempt));
            }
            self.events.push(ev);
        }
        self.targets.push(rec.clone());
    }

    /// The recorded attempt a recorded target's new event follows.
    fn previous(&self, rec: &TargetRecord) -> Option<ScheduledEvent> {
        let Source::Records(r) = &self.batch.source else { return None };
        rec.event_id.as_deref().and_then(|id| r.previous.get(id)).cloned()
    }

    fn event(&self, rec: &TargetRecord, c: &Created) -> ScheduledEvent {
        let (channel, text) = match channel_of(self.batch, rec) {
            Some(Channel::Call) => ("call", None),
            Some(Channel::Sms(t)) => ("sms", Some(t)),
            None => ("sms", None),
        };
        ScheduledEvent {
            event_id: c.id.clone(),
            assistant_id: Some(self.batch.assistant_id.clone()),
            channel: channel.into(),
            to: rec.phone.clone(),
            scheduled_at: rec.scheduled_at.clone().unwrap_or_default(),
            step_id: rec.step_id.clone(),
            text,
            status: c.status.clone().unwrap_or_else(|| "pending".into()),
            from: Some(self.batch.from.clone()),
            mission_id: self.batch.mission_id.clone(),
            run_id: self.batch.run_id.clone(),
            call_status: c.call_status.clone(),
            conversation_id: c.conversation_id.clone(),
            ..ScheduledEvent::default()
        }
    }

    async fn maybe_flush(&mut self) -> Result<()> {
        if self.targets.len() >= FLUSH_EVERY || self.last.elapsed() >= FLUSH_AFTER {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        self.last = Instant::now();
        if self.targets.is_empty() {
            return Ok(());
        }
        let (slug, now) = (self.batch.slug.clone(), self.now);
        let (recs, evs) = (std::mem::take(&mut self.targets), std::mem::take(&mut self.events));
        self.store
            .update_async(move |st| {
                let Some(m) = st.mission_mut(&slug) else { return Err(st.unknown(&slug)) };
                put_targets(m, &recs, now)?;
                m.put_scheduled_events(&evs, now)
            })
            .await
    }
}

/// The attempt a new event follows, as recorded once it exists: a paused
/// one is no longer paused (its pause ends as cancelled, so its step can
/// end), a failed one names the retry that follows it.
fn followed(mut p: ScheduledEvent, next: &str, retry: bool) -> ScheduledEvent {
    if retry {
        p.extra.insert("retried_as".into(), next.into());
    } else {
        p.paused = false;
        p.outcome = Some(AttemptOutcome::Cancelled);
        p.extra.insert("resumed_as".into(), next.into());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms_target(event_id: &str) -> TargetRecord {
        serde_json::from_value(serde_json::json!({"key": "k", "phone": "+15005550006", "channel": "sms",
            "status": "paused", "event_id": event_id}))
        .unwrap()
    }

    fn records_batch(previous: HashMap<String, ScheduledEvent>) -> Batch {
        Batch {
            slug: "sweep".into(),
            assistant_id: "a1".into(),
            from: "+15550001111".into(),
            mission_id: None,
            run_id: None,
            channel: Channel::Call,
            source: Source::Records(Records {
                keys: vec!["k".into()],
                from: TargetStatus::Paused,
                previous,
                next_attempt: false,
            }),
            options: Options {
                hours: super::super::window::Hours::default(),
                default_tz: None,
                channel: "sms".into(),
                step: None,
                concurrency: 1,
                stagger: chrono::Duration::minutes(2),
                start: Utc::now(),
                max_calls: None,
                retry_profile: None,
                cap: None,
                gate: Default::default(),
            },
            daily_cap: None,
        }
    }

    #[test]
    fn a_recorded_sms_keeps_its_earlier_text_and_one_without_text_is_never_sent_empty() {
        let ev = |text: Option<&str>| -> ScheduledEvent {
            serde_json::from_value(serde_json::json!({"event_id": "e1", "channel": "sms", "to": "+15005550006",
                "scheduled_at": "2026-01-05T15:10:00Z", "text": text}))
            .unwrap()
        };
        let with = records_batch(HashMap::from([("e1".to_string(), ev(Some("Open Saturday?")))]));
        assert_eq!(channel_of(&with, &sms_target("e1")), Some(Channel::Sms("Open Saturday?".into())));
        for previous in [HashMap::new(), HashMap::from([("e1".to_string(), ev(Some("  ")))])] {
            assert_eq!(channel_of(&records_batch(previous), &sms_target("e1")), None);
        }
    }
}
