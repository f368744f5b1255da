//! The reconcile engine: pure, no I/O. Given what the state file tracks for
//! one mission and what the service says now, it decides what to change.
//! Keeping every rule here (and the HTTP/file work in the executor) is what
//! lets the rules be tested exhaustively and makes a re-run after a crash
//! compute the same decisions again.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use super::record::TERMINAL_STEP_STATUSES;
use crate::config::mask_phone;
use crate::state::{AttemptOutcome, RetryIntent, ScheduledEvent};

mod reconcile;
#[cfg(test)]
mod tests;

pub use reconcile::{reconcile, reconcile_with};

/// Retry and patience rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Delay before retrying a busy line.
    pub busy_delay: Duration,
    /// Delay before retrying a call that failed (network).
    pub failed_delay: Duration,
    /// Delay before retrying an unanswered call.
    pub no_answer_delay: Duration,
    /// Retries per target after the first attempt.
    pub max_retries: u32,
    /// Polls of a conversation's insights before giving up on them.
    pub max_insight_polls: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            busy_delay: Duration::from_secs(10 * 60),
            failed_delay: Duration::from_secs(5 * 60),
            no_answer_delay: Duration::from_secs(30 * 60),
            max_retries: 2,
            max_insight_polls: 30,
        }
    }
}

impl Policy {
    /// The retry delay for a retryable call status.
    pub fn delay_for(&self, call_status: &str) -> Duration {
        match call_status {
            "busy" => self.busy_delay,
            "no-answer" => self.no_answer_delay,
            _ => self.failed_delay,
        }
    }
}

/// What the service says about one scheduled event now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventSnapshot {
    pub status: Option<String>,
    pub call_status: Option<String>,
    pub conversation_id: Option<String>,
    pub retry_count: Option<u64>,
}

/// A conversation's insights as fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsSnapshot {
    /// `completed` when final (any entry completed), else the first status seen.
    pub status: String,
    /// The `result` of each completed insight.
    pub results: Vec<Value>,
}

/// One plan step as the service reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStep {
    pub step_id: String,
    pub status: String,
}

/// Everything the engine looks at for one mission.
#[derive(Debug, Clone)]
pub struct MissionView<'a> {
    pub records: &'a [ScheduledEvent],
    /// Fresh snapshots by event id (absent: not fetched or fetch failed).
    pub snapshots: &'a HashMap<String, EventSnapshot>,
    /// Fresh insights by event id.
    pub insights: &'a HashMap<String, InsightsSnapshot>,
    /// The plan (None: unknown or the run has no plan).
    pub plan: Option<&'a [PlanStep]>,
    /// The run's status on the service (None: unknown).
    pub run_status: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// Every record is settled and the mission waits on plan steps that are
    /// the bot's: decide the run's end from the plan (without this, settled
    /// records mean there is nothing to decide).
    pub awaiting_steps: bool,
}

/// A retry to schedule: same assistant, numbers, channel and step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryRequest {
    /// The attempt being retried.
    pub of_event: String,
    pub assistant_id: Option<String>,
    pub channel: String,
    pub to: String,
    pub from: Option<String>,
    pub step_id: Option<String>,
    pub text: Option<String>,
    pub scheduled_at: String,
    pub attempt: u32,
    /// The intent was written by an earlier poll that did not finish: look
    /// for an already-scheduled event to adopt before scheduling.
    pub recover: bool,
    /// Why (the call status that is retried).
    pub reason: String,
}

/// A change to make on the service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Remote {
    /// Log a run event (`custom`, `error`, `step_started`, `step_completed`).
    Log { kind: String, summary: String, step_id: Option<String>, payload: Value },
    /// Set a plan step's status.
    SetStep { step_id: String, status: String },
    /// Cancel a scheduled event that has not run.
    Cancel { assistant_id: Option<String>, event_id: String },
    /// Schedule another attempt.
    Retry(RetryRequest),
    /// Set the run's status (last action of a finished mission).
    SetRun { status: String, summary: String },
}

/// The end of a mission.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finish {
    /// `succeeded` or `failed`; None when the run already ended elsewhere.
    pub run_status: Option<String>,
    /// Saved to memory `result`.
    pub result: Value,
}

/// What to do for one mission, in order: write `records`, `insights` and
/// `failed_targets` to the state; apply `remote`; then mark `settle` settled,
/// save the `finish` result and archive.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decision {
    pub records: Vec<ScheduledEvent>,
    pub insights: Vec<(String, Value)>,
    pub failed_targets: Vec<Value>,
    pub remote: Vec<Remote>,
    pub settle: Vec<String>,
    pub finish: Option<Finish>,
    /// What is left for the bot, or why nothing moved.
    pub notes: Vec<String>,
    /// The calls are done and these plan steps (without events: the bot's)
    /// are not terminal yet: the mission waits for the bot, and later polls
    /// check the plan until they are.
    pub awaiting: Vec<String>,
}

impl Decision {
    /// Nothing to write and nothing to send.
    pub fn is_noop(&self) -> bool {
        self.records.is_empty()
            && self.insights.is_empty()
            && self.failed_targets.is_empty()
            && self.remote.is_empty()
            && self.settle.is_empty()
            && self.finish.is_none()
    }
}

/// A record needs a fresh snapshot: not settled, not holding the final
/// facts yet ([`ScheduledEvent::has_final_facts`]), and due or already
/// said to have started or ended (poll never asks before `scheduled_at`
/// about an event that has not moved). A stored status alone is never
/// trusted: `schedule` stores whatever the create reply said, which can
/// be a bare `failed` for a busy number.
pub fn needs_event_fetch(r: &ScheduledEvent, now: DateTime<Utc>) -> bool {
    !r.settled
        && !r.has_final_facts()
        && r.outcome != Some(AttemptOutcome::Cancelled)
        && (is_due(r, now) || r.has_started())
}

/// The event's time has come (unparseable times count as due).
pub fn is_due(r: &ScheduledEvent, now: DateTime<Utc>) -> bool {
    match DateTime::parse_from_rfc3339(&r.scheduled_at) {
        Ok(t) => t.with_timezone(&Utc) <= now,
        Err(_) => true,
    }
}

/// A completed conversation whose insights are not final yet.
pub fn needs_insights(r: &ScheduledEvent, policy: &Policy) -> bool {
    r.status == "completed"
        && r.conversation_id.is_some()
        && r.insights_status.as_deref() != Some("completed")
        && r.insights_polls < policy.max_insight_polls
}

/// The record with the snapshot applied (what the engine reasons on).
pub fn apply_snapshot(r: &ScheduledEvent, s: &EventSnapshot) -> ScheduledEvent {
    let mut n = r.clone();
    if let Some(v) = &s.status {
        n.status = v.clone();
    }
    if s.call_status.is_some() {
        n.call_status = s.call_status.clone();
    }
    if s.conversation_id.is_some() {
        n.conversation_id = s.conversation_id.clone();
    }
    n
}

/// Mission has unsettled records: poll has work (and must talk to the service).
pub fn has_pending(records: &[ScheduledEvent]) -> bool {
    records.iter().any(|r| !r.settled)
}

/// An unsettled record only waits for its time: not due, not started, no
/// outcome or retry decided. A mission whose unsettled records all wait
/// (and that has nothing else to send) needs no request at all.
pub fn only_waiting(r: &ScheduledEvent, now: DateTime<Utc>) -> bool {
    r.settled || (!is_due(r, now) && !r.has_started() && !r.is_terminal() && r.outcome.is_none() && r.retry.is_none())
}

/// Some record needs the service now (see [`only_waiting`]).
pub fn has_due_work(records: &[ScheduledEvent], now: DateTime<Utc>) -> bool {
    records.iter().any(|r| !only_waiting(r, now))
}

/// The earliest `scheduled_at` among unsettled records (for "next event due at").
pub fn next_due(records: &[ScheduledEvent]) -> Option<DateTime<Utc>> {
    records
        .iter()
        .filter(|r| !r.settled)
        .filter_map(|r| DateTime::parse_from_rfc3339(&r.scheduled_at).ok())
        .map(|t| t.with_timezone(&Utc))
        .min()
}

/// Plan steps without tracked events (the bot's) that are not terminal.
/// Steps with events are poll's and are not listed.
pub fn bot_steps_left(records: &[ScheduledEvent], plan: &[PlanStep]) -> Vec<String> {
    plan.iter()
        .filter(|s| !records.iter().any(|r| r.step_id.as_deref() == Some(s.step_id.as_str())))
        .filter(|s| !TERMINAL_STEP_STATUSES.contains(&s.status.as_str()))
        .map(|s| s.step_id.clone())
        .collect()
}

/// The note for steps left to the bot.
pub fn awaiting_note(left: &[String]) -> String {
    let (noun, verb) = if left.len() == 1 { ("step", "is") } else { ("steps", "are") };
    format!("calls done; {noun} {} {verb} yours", left.join(", "))
}

/// Queue a cancel for a record not yet ended (once).
fn push_cancel(d: &mut Decision, r: &ScheduledEvent) {
    let c = Remote::Cancel { assistant_id: r.assistant_id.clone(), event_id: r.event_id.clone() };
    if !d.remote.contains(&c) {
        d.remote.push(c);
    }
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn what(r: &ScheduledEvent) -> String {
    let kind = if r.is_call() { "Call" } else { "SMS" };
    format!("{kind} to {}", mask_phone(&r.to))
}

/// The record of a retry the service accepted.
pub fn retry_record(req: &RetryRequest, event_id: &str) -> ScheduledEvent {
    let mut r = ScheduledEvent::new(event_id, &req.to, &req.scheduled_at, req.step_id.as_deref());
    r.assistant_id = req.assistant_id.clone();
    r.channel = req.channel.clone();
    r.from = req.from.clone();
    r.text = req.text.clone();
    r.attempt = req.attempt;
    r.retry_of = Some(req.of_event.clone());
    r
}

/// Record in `records` that the retry of `req.of_event` is `event_id`: the
/// retried attempt gets the id in its intent and is settled; the new attempt
/// is appended (unless already there). Returns the two changed records.
pub fn adopt_retry(records: &[ScheduledEvent], req: &RetryRequest, event_id: &str) -> Vec<ScheduledEvent> {
    let mut out = Vec::new();
    if let Some(orig) = records.iter().find(|r| r.event_id == req.of_event) {
        let mut o = orig.clone();
        o.outcome = Some(AttemptOutcome::Retrying);
        o.retry = Some(RetryIntent {
            attempt: req.attempt,
            scheduled_at: req.scheduled_at.clone(),
            event_id: Some(event_id.to_string()),
        });
        o.settled = !needs_insights(&o, &Policy::default());
        out.push(o);
    }
    if !records.iter().any(|r| r.event_id == event_id) {
        out.push(retry_record(req, event_id));
    }
    out
}
