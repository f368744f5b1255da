//! The reconcile engine: pure, no I/O. Given what the state file tracks for
//! one mission and what the service says now, it decides what to change.
//! Keeping every rule here (and the HTTP/file work in the executor) is what
//! lets the rules be tested exhaustively and makes a re-run after a crash
//! compute the same decisions again.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::record::{TERMINAL_RUN_STATUSES, TERMINAL_STEP_STATUSES};
use crate::config::mask_phone;
use crate::state::{AttemptOutcome, RetryIntent, ScheduledEvent};

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

/// A record needs a fresh snapshot: not settled and not yet ended, and due
/// (poll never asks before `scheduled_at`).
pub fn needs_event_fetch(r: &ScheduledEvent, now: DateTime<Utc>) -> bool {
    !r.settled && !r.is_terminal() && r.outcome != Some(AttemptOutcome::Cancelled) && is_due(r, now)
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

/// Decide everything for one mission.
pub fn reconcile(view: &MissionView<'_>, policy: &Policy) -> Decision {
    let mut d = Decision::default();
    if !has_pending(view.records) && !view.awaiting_steps {
        return d; // everything settled: the mission already ended
    }
    // A cancelled run is over: poll only records what it sees. A run a server
    // (auto-sync) or the bot already marked succeeded/failed is left as it is
    // (never regress) while poll finishes its own bookkeeping.
    let run_ended = view.run_status == Some("cancelled");
    let run_terminal = view.run_status.is_some_and(|s| TERMINAL_RUN_STATUSES.contains(&s));

    // 1. Per record: fold in the snapshot, decide the attempt's outcome.
    let mut recs: Vec<ScheduledEvent> = Vec::with_capacity(view.records.len());
    let mut retries: Vec<RetryRequest> = Vec::new();
    let mut failed_now: Vec<usize> = Vec::new();
    for orig in view.records {
        let mut r = orig.clone();
        if !r.settled {
            if let Some(s) = view.snapshots.get(&r.event_id) {
                r = apply_snapshot(&r, s);
                if r.status != orig.status || r.call_status != orig.call_status {
                    d.remote.push(status_log(&r));
                }
            }
            if r.is_terminal() && r.outcome.is_none() {
                r.outcome = Some(decide_outcome(&r, policy));
                if r.outcome == Some(AttemptOutcome::Retrying) {
                    let reason = r.retryable_status().unwrap_or("failed").to_string();
                    let at = view.now
                        + chrono::Duration::from_std(policy.delay_for(&reason)).unwrap_or(chrono::Duration::zero());
                    r.retry = Some(RetryIntent { attempt: r.attempt + 1, scheduled_at: fmt_time(at), event_id: None });
                    retries.push(retry_request(&r, &reason, false));
                } else if r.outcome == Some(AttemptOutcome::Failed) {
                    failed_now.push(recs.len());
                }
            } else if r.outcome == Some(AttemptOutcome::Retrying)
                && r.retry.as_ref().is_some_and(|i| i.event_id.is_none())
            {
                // Decided by an earlier poll that stopped before the retry was recorded.
                let reason = r.retryable_status().unwrap_or("failed").to_string();
                retries.push(retry_request(&r, &reason, true));
            }
            if r.outcome == Some(AttemptOutcome::Cancelled) && !r.is_terminal() {
                // Decided cancelled by an earlier poll whose cancel did not go through.
                push_cancel(&mut d, &r);
            }
            if let Some(ins) = view.insights.get(&r.event_id) {
                r.insights_polls += 1;
                r.insights_status = Some(ins.status.clone());
                d.insights.push((r.event_id.clone(), insight_entry(&r, ins)));
            }
        }
        recs.push(r);
    }

    // Targets that failed every attempt.
    for &i in &failed_now {
        let r = &recs[i];
        let reason = failure_reason(r);
        d.failed_targets.push(json!({
            "to": r.to, "channel": r.channel, "step_id": r.step_id, "event_id": r.event_id,
            "attempts": r.attempt, "status": r.status, "call_status": r.call_status, "reason": reason,
        }));
        d.remote.push(Remote::Log {
            kind: "error".into(),
            summary: format!("{} failed: {reason}", what(r)),
            step_id: r.step_id.clone(),
            payload: json!({"event_id": r.event_id, "attempts": r.attempt, "call_status": r.call_status}),
        });
    }

    if run_ended {
        // The run was cancelled (by `mission cancel` or elsewhere): nothing
        // more is scheduled or changed on the service, events that have not
        // started are cancelled, and calls already under way are followed to
        // their end (status, insights) before the mission closes.
        let status = view.run_status.unwrap_or_default().to_string();
        d.remote.retain(|a| matches!(a, Remote::Log { .. } | Remote::Cancel { .. }));
        let mut running = 0;
        for r in recs.iter_mut() {
            if r.settled {
                continue;
            }
            if r.outcome == Some(AttemptOutcome::Retrying) && r.retry.as_ref().is_some_and(|i| i.event_id.is_none()) {
                r.outcome = Some(AttemptOutcome::Failed);
                r.retry = None;
            }
            if !r.is_terminal() && (!r.has_started() || r.outcome == Some(AttemptOutcome::Cancelled)) {
                r.outcome = Some(AttemptOutcome::Cancelled);
                push_cancel(&mut d, r);
            } else if !r.is_terminal() {
                running += 1;
            }
        }
        finish_records(&mut d, view.records, &recs, false, policy);
        let done = recs.iter().all(|r| r.settled || (r.is_resolved() && !needs_insights(r, policy)));
        if !done {
            let insights = recs.iter().filter(|r| !r.settled && needs_insights(r, policy)).count();
            d.notes.push(format!(
                "the run is {status}: waiting for {running} call(s) under way to end and {insights} insight(s) \
                 before closing the mission"
            ));
            return d;
        }
        d.finish = Some(Finish {
            run_status: None,
            result: json!({"status": status, "reason": format!("the run was already {status} on the service"),
                "targets": target_summary(&recs)}),
        });
        return d;
    }

    // 2. Steps: aggregate the records of each step.
    let steps = step_outcomes(&recs);
    let plan_status: HashMap<&str, &str> =
        view.plan.unwrap_or(&[]).iter().map(|s| (s.step_id.as_str(), s.status.as_str())).collect();
    let mut failed_steps: Vec<String> = Vec::new();
    for (step, agg) in &steps {
        let desired = match (agg.done, agg.succeeded, agg.started) {
            (true, true, _) => "completed",
            (true, false, _) => "failed",
            (false, _, true) => "in_progress",
            (false, _, false) => "pending",
        };
        if desired == "failed" {
            failed_steps.push(step.clone());
        }
        let Some(current) = plan_status.get(step.as_str()) else { continue };
        if TERMINAL_STEP_STATUSES.contains(current) || *current == desired || desired == "pending" {
            continue; // never regress, nothing new
        }
        if *current == "in_progress" && desired == "in_progress" {
            continue;
        }
        d.remote.push(Remote::SetStep { step_id: step.clone(), status: desired.into() });
        let (kind, summary) = match desired {
            "in_progress" => ("step_started", format!("Step {step} started: calls under way")),
            "completed" => {
                ("step_completed", format!("Step {step} completed: {} of {} targets reached", agg.ok, agg.targets))
            }
            _ => ("error", format!("Step {step} failed: no target reached ({} targets)", agg.targets)),
        };
        d.remote.push(Remote::Log {
            kind: kind.into(),
            summary,
            step_id: Some(step.clone()),
            payload: json!({"status": desired}),
        });
    }

    // 3. A failed step fails the mission now.
    if let Some(step) = failed_steps.first() {
        for r in recs.iter_mut() {
            if r.outcome == Some(AttemptOutcome::Retrying) && r.retry.as_ref().is_some_and(|i| i.event_id.is_none()) {
                r.outcome = Some(AttemptOutcome::Failed);
                r.retry = None;
            }
            if !r.is_terminal() {
                r.outcome = Some(AttemptOutcome::Cancelled);
                push_cancel(&mut d, r);
            }
        }
        retries.clear();
        let agg = &steps[step];
        let reason = format!("step {step} failed: none of its {} targets was reached ({})", agg.targets, agg.why);
        if !run_terminal {
            d.remote.push(Remote::SetRun { status: "failed".into(), summary: reason.clone() });
        }
        finish_records(&mut d, view.records, &recs, true, policy);
        d.finish = Some(Finish {
            run_status: (!run_terminal).then(|| "failed".into()),
            result: json!({"status": "failed", "reason": reason, "failed_step": step,
                "targets": target_summary(&recs)}),
        });
        return d;
    }

    for r in retries {
        d.remote.push(Remote::Retry(r));
    }

    // 4. Settle what is fully done; finish when every step is terminal.
    let all_resolved = recs.iter().all(|r| r.settled || (r.is_resolved() && !needs_insights(r, policy)));
    finish_records(&mut d, view.records, &recs, false, policy);
    if !all_resolved {
        return d;
    }
    let Some(plan) = view.plan.filter(|p| !p.is_empty()) else {
        if !recs.is_empty() {
            d.notes.push("calls done; the run has no plan poll can finish by: complete it yourself".into());
        }
        return d;
    };
    // A step with tracked events ends by poll's own reckoning, whatever a
    // server with auto-sync set it to; a step without events is the bot's.
    let effective = |s: &PlanStep| -> String {
        match steps.get(&s.step_id) {
            Some(agg) if agg.succeeded => "completed".into(),
            Some(_) => "failed".into(),
            None => s.status.clone(),
        }
    };
    let left = bot_steps_left(&recs, plan);
    if !left.is_empty() {
        d.notes.push(awaiting_note(&left));
        d.awaiting = left;
        return d;
    }
    let failed: Vec<String> = plan.iter().filter(|s| effective(s) == "failed").map(|s| s.step_id.clone()).collect();
    let (status, reason) = if failed.is_empty() {
        let ok = recs.iter().filter(|r| r.outcome == Some(AttemptOutcome::Succeeded)).count();
        ("succeeded", format!("every plan step finished; {ok} of {} targets reached", target_count(&recs)))
    } else {
        ("failed", format!("plan step {} failed", failed.join(", ")))
    };
    d.remote.push(Remote::SetRun { status: status.into(), summary: reason.clone() });
    let mut result = json!({"status": status, "reason": reason, "targets": target_summary(&recs)});
    if let Some(f) = failed.first() {
        result["failed_step"] = json!(f);
    }
    d.finish = Some(Finish { run_status: Some(status.into()), result });
    if run_terminal {
        d.remote.retain(|a| !matches!(a, Remote::SetRun { .. }));
        if let Some(f) = d.finish.as_mut() {
            f.run_status = None;
        }
    }
    d
}

/// Collect changed records and the ids to settle. `all`: settle every
/// record (the mission ends now).
fn finish_records(d: &mut Decision, before: &[ScheduledEvent], after: &[ScheduledEvent], all: bool, policy: &Policy) {
    for (o, r) in before.iter().zip(after) {
        if *r != *o {
            d.records.push(r.clone());
        }
        if !r.settled && (all || (r.is_resolved() && !needs_insights(r, policy))) {
            d.settle.push(r.event_id.clone());
        }
    }
}

fn decide_outcome(r: &ScheduledEvent, policy: &Policy) -> AttemptOutcome {
    if r.retryable_status().is_some() {
        return if r.attempt <= policy.max_retries { AttemptOutcome::Retrying } else { AttemptOutcome::Failed };
    }
    let cs = r.call_status.as_deref();
    if matches!(r.status.as_str(), "cancelled" | "canceled") || cs == Some("canceled") {
        return AttemptOutcome::Cancelled;
    }
    if r.status == "completed" && cs.is_none_or(|c| c == "completed") {
        AttemptOutcome::Succeeded
    } else {
        AttemptOutcome::Failed
    }
}

fn failure_reason(r: &ScheduledEvent) -> String {
    match r.retryable_status() {
        Some(cs) if r.attempt > 1 => format!("{cs} on all {} attempts", r.attempt),
        Some(cs) => format!("{cs} (no retries allowed)"),
        None => {
            format!("ended {}{}", r.status, r.call_status.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())
        }
    }
}

fn retry_request(r: &ScheduledEvent, reason: &str, recover: bool) -> RetryRequest {
    let intent = r.retry.clone().unwrap_or(RetryIntent {
        attempt: r.attempt + 1,
        scheduled_at: r.scheduled_at.clone(),
        event_id: None,
    });
    RetryRequest {
        of_event: r.event_id.clone(),
        assistant_id: r.assistant_id.clone(),
        channel: r.channel.clone(),
        to: r.to.clone(),
        from: r.from.clone(),
        step_id: r.step_id.clone(),
        text: r.text.clone(),
        scheduled_at: intent.scheduled_at,
        attempt: intent.attempt,
        recover,
        reason: reason.to_string(),
    }
}

fn status_log(r: &ScheduledEvent) -> Remote {
    let cs = r.call_status.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
    Remote::Log {
        kind: "custom".into(),
        summary: format!("{} event_id={}: {}{cs}", what(r), r.event_id, r.status),
        step_id: r.step_id.clone(),
        payload: json!({"event_id": r.event_id, "status": r.status, "call_status": r.call_status,
            "conversation_id": r.conversation_id, "attempt": r.attempt}),
    }
}

fn insight_entry(r: &ScheduledEvent, ins: &InsightsSnapshot) -> Value {
    json!({"event_id": r.event_id, "to": r.to, "step_id": r.step_id, "conversation_id": r.conversation_id,
        "status": ins.status, "results": ins.results})
}

/// Per-step aggregate of its records.
#[derive(Debug, Default)]
struct StepAgg {
    started: bool,
    done: bool,
    succeeded: bool,
    targets: usize,
    ok: usize,
    why: String,
}

fn step_outcomes(recs: &[ScheduledEvent]) -> BTreeMap<String, StepAgg> {
    let mut m: BTreeMap<String, StepAgg> = BTreeMap::new();
    let mut by_step: BTreeMap<&str, Vec<&ScheduledEvent>> = BTreeMap::new();
    for r in recs {
        if let Some(s) = r.step_id.as_deref() {
            by_step.entry(s).or_default().push(r);
        }
    }
    for (step, rs) in by_step {
        let mut whys: Vec<String> = Vec::new();
        let agg = StepAgg {
            started: rs.iter().any(|r| r.has_started() || r.outcome.is_some()),
            done: rs.iter().all(|r| r.is_resolved()),
            succeeded: rs.iter().any(|r| r.outcome == Some(AttemptOutcome::Succeeded)),
            targets: rs.iter().filter(|r| r.retry_of.is_none()).count(),
            ok: rs.iter().filter(|r| r.outcome == Some(AttemptOutcome::Succeeded)).count(),
            why: {
                for r in rs.iter().filter(|r| matches!(r.outcome, Some(AttemptOutcome::Failed))) {
                    whys.push(format!("{}: {}", mask_phone(&r.to), failure_reason(r)));
                }
                if whys.is_empty() {
                    "cancelled".into()
                } else {
                    whys.join("; ")
                }
            },
        };
        m.insert(step.to_string(), agg);
    }
    m
}

fn target_count(recs: &[ScheduledEvent]) -> usize {
    recs.iter().filter(|r| r.retry_of.is_none()).count()
}

/// One line per target (its last attempt), for `result`.
fn target_summary(recs: &[ScheduledEvent]) -> Value {
    let mut last: BTreeMap<(Option<&str>, &str, &str), &ScheduledEvent> = BTreeMap::new();
    for r in recs {
        let k = (r.step_id.as_deref(), r.channel.as_str(), r.to.as_str());
        match last.get(&k) {
            Some(prev) if prev.attempt > r.attempt => {}
            _ => {
                last.insert(k, r);
            }
        }
    }
    Value::Array(
        last.values()
            .map(|r| {
                json!({"to": r.to, "step_id": r.step_id, "event_id": r.event_id, "attempts": r.attempt,
                    "outcome": r.outcome, "call_status": r.call_status})
            })
            .collect(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    const NOW: &str = "2026-01-01T12:00:00Z";
    const PAST: &str = "2026-01-01T11:50:00Z";

    fn rec(id: &str, to: &str, step: &str) -> ScheduledEvent {
        let mut r = ScheduledEvent::new(id, to, PAST, Some(step));
        r.assistant_id = Some("a1".into());
        r.from = Some("+15550000000".into());
        r
    }
    fn snap(status: &str, cs: Option<&str>, conv: Option<&str>) -> EventSnapshot {
        EventSnapshot {
            status: Some(status.into()),
            call_status: cs.map(Into::into),
            conversation_id: conv.map(Into::into),
            retry_count: None,
        }
    }
    fn step(id: &str, status: &str) -> PlanStep {
        PlanStep { step_id: id.into(), status: status.into() }
    }

    /// Inputs for one reconcile, owned so tests can mutate between polls.
    #[derive(Default)]
    struct World {
        records: Vec<ScheduledEvent>,
        snaps: HashMap<String, EventSnapshot>,
        insights: HashMap<String, InsightsSnapshot>,
        plan: Vec<PlanStep>,
        run: String,
        next_id: u32,
        /// Steps the executor recorded as left to the bot (its marker).
        awaiting: Vec<String>,
    }
    impl World {
        fn new(records: Vec<ScheduledEvent>, plan: Vec<PlanStep>) -> World {
            World { records, plan, run: "running".into(), ..Default::default() }
        }
        fn decide(&self) -> Decision {
            let view = MissionView {
                records: &self.records,
                snapshots: &self.snaps,
                insights: &self.insights,
                plan: Some(&self.plan),
                run_status: Some(&self.run),
                now: t(NOW),
                awaiting_steps: !self.awaiting.is_empty(),
            };
            reconcile(&view, &Policy::default())
        }
        /// Apply a decision the way the executor does (all remote actions succeed).
        fn apply(&mut self, d: &Decision) {
            for r in &d.records {
                let i = self.records.iter().position(|x| x.event_id == r.event_id).unwrap();
                self.records[i] = r.clone();
            }
            for a in &d.remote {
                match a {
                    Remote::Retry(req) => {
                        self.next_id += 1;
                        let id = format!("retry{}", self.next_id);
                        for r in adopt_retry(&self.records, req, &id) {
                            match self.records.iter().position(|x| x.event_id == r.event_id) {
                                Some(i) => self.records[i] = r,
                                None => self.records.push(r),
                            }
                        }
                    }
                    Remote::SetStep { step_id, status } => {
                        self.plan.iter_mut().find(|s| &s.step_id == step_id).unwrap().status = status.clone();
                    }
                    Remote::SetRun { status, .. } => self.run = status.clone(),
                    Remote::Cancel { event_id, .. } => {
                        self.records.iter_mut().find(|x| &x.event_id == event_id).unwrap().status = "cancelled".into();
                    }
                    Remote::Log { .. } => {}
                }
            }
            for id in &d.settle {
                self.records.iter_mut().find(|x| &x.event_id == id).unwrap().settled = true;
            }
            self.awaiting = if d.finish.is_some() { Vec::new() } else { d.awaiting.clone() };
            self.snaps.clear();
            self.insights.clear();
        }
    }

    fn logs(d: &Decision) -> Vec<(String, String)> {
        d.remote
            .iter()
            .filter_map(|a| match a {
                Remote::Log { kind, summary, .. } => Some((kind.clone(), summary.clone())),
                _ => None,
            })
            .collect()
    }
    fn done_insights() -> InsightsSnapshot {
        InsightsSnapshot { status: "completed".into(), results: vec![json!("ok")] }
    }

    #[test]
    fn status_change_is_recorded_and_logged_as_custom_with_call_status() {
        let mut w = World::new(vec![rec("e1", "+15005550006", "calls")], vec![step("calls", "pending")]);
        w.snaps.insert("e1".into(), snap("in_progress", Some("ringing"), None));
        let d = w.decide();
        assert_eq!(d.records[0].status, "in_progress");
        assert_eq!(d.records[0].call_status.as_deref(), Some("ringing"));
        let l = logs(&d);
        assert!(
            l.iter().any(|(k, s)| k == "custom" && s.contains("in_progress (ringing)") && s.contains("e1")),
            "{l:?}"
        );
        assert!(!l.iter().any(|(_, s)| s.contains("+15005550006")), "numbers are masked in run events: {l:?}");
        assert!(d.remote.contains(&Remote::SetStep { step_id: "calls".into(), status: "in_progress".into() }));
        assert!(d.settle.is_empty() && d.finish.is_none());
    }

    #[test]
    fn unchanged_snapshot_logs_nothing() {
        let mut r = rec("e1", "+15005550006", "calls");
        r.status = "in_progress".into();
        r.call_status = Some("ringing".into());
        let mut w = World::new(vec![r], vec![step("calls", "in_progress")]);
        w.snaps.insert("e1".into(), snap("in_progress", Some("ringing"), None));
        assert!(w.decide().is_noop());
    }

    #[test]
    fn completed_call_saves_insights_and_waits_for_final_ones() {
        let mut w = World::new(vec![rec("e1", "+15005550006", "calls")], vec![step("calls", "in_progress")]);
        w.snaps.insert("e1".into(), snap("completed", Some("completed"), Some("conv1")));
        w.insights.insert("e1".into(), InsightsSnapshot { status: "in_progress".into(), results: vec![] });
        let d = w.decide();
        assert!(d.remote.contains(&Remote::SetStep { step_id: "calls".into(), status: "completed".into() }));
        assert_eq!(d.insights.len(), 1);
        assert_eq!(d.insights[0].1["status"], "in_progress");
        assert!(d.settle.is_empty(), "insights not final: the record stays pending");
        assert!(d.finish.is_none());
        w.apply(&d);
        let r = &w.records[0];
        assert_eq!(r.outcome, Some(AttemptOutcome::Succeeded));
        assert!(needs_insights(r, &Policy::default()));
        w.insights.insert("e1".into(), done_insights());
        let d = w.decide();
        assert_eq!(d.insights[0].1["results"], json!(["ok"]));
        assert_eq!(d.settle, vec!["e1".to_string()]);
        assert_eq!(d.finish.as_ref().unwrap().run_status.as_deref(), Some("succeeded"));
    }

    #[test]
    fn retryable_statuses_reschedule_after_the_delay_of_their_kind() {
        for (cs, minutes) in [("busy", 10), ("no-answer", 30), ("failed", 5)] {
            let mut w = World::new(vec![rec("e1", "+15005550001", "calls")], vec![step("calls", "in_progress")]);
            w.snaps.insert("e1".into(), snap("failed", Some(cs), None));
            let d = w.decide();
            let retry = d
                .remote
                .iter()
                .find_map(|a| if let Remote::Retry(r) = a { Some(r.clone()) } else { None })
                .unwrap_or_else(|| panic!("{cs}: no retry in {d:?}"));
            assert_eq!(retry.scheduled_at, fmt_time(t(NOW) + chrono::Duration::minutes(minutes)), "{cs}");
            assert_eq!((retry.attempt, retry.recover), (2, false));
            assert_eq!(retry.assistant_id.as_deref(), Some("a1"));
            assert_eq!(retry.from.as_deref(), Some("+15550000000"));
            assert_eq!(retry.step_id.as_deref(), Some("calls"));
            // The intent is in the records written BEFORE the request goes out.
            assert_eq!(d.records[0].retry.as_ref().unwrap().scheduled_at, retry.scheduled_at);
            assert!(d.settle.is_empty());
        }
    }

    #[test]
    fn always_busy_target_fails_after_max_retries_and_fails_the_mission() {
        let mut w = World::new(vec![rec("e1", "+15005550001", "calls")], vec![step("calls", "in_progress")]);
        let mut retries = 0;
        for _ in 0..6 {
            let pending: Vec<String> =
                w.records.iter().filter(|r| !r.is_terminal()).map(|r| r.event_id.clone()).collect();
            for id in pending {
                w.snaps.insert(id, snap("failed", Some("busy"), None));
            }
            let d = w.decide();
            retries += d.remote.iter().filter(|a| matches!(a, Remote::Retry(_))).count();
            let done = d.finish.clone();
            w.apply(&d);
            if let Some(f) = done {
                assert_eq!(retries, 2);
                assert_eq!(f.run_status.as_deref(), Some("failed"));
                assert_eq!(f.result["failed_step"], "calls");
                let reason = f.result["reason"].as_str().unwrap();
                assert!(reason.contains("busy on all 3 attempts"), "{reason}");
                assert!(d.failed_targets[0]["to"] == "+15005550001" && d.failed_targets[0]["attempts"] == 3);
                assert!(logs(&d).iter().any(|(k, s)| k == "error" && s.contains("busy on all 3 attempts")));
                assert!(d.remote.contains(&Remote::SetStep { step_id: "calls".into(), status: "failed".into() }));
                assert_eq!(w.run, "failed");
                assert!(w.records.iter().all(|r| r.settled));
                return;
            }
        }
        panic!("mission never finished: {:?}", w.records);
    }

    #[test]
    fn sweep_with_one_busy_first_attempt_succeeds_with_one_retry() {
        let mut w = World::new(
            vec![
                rec("e6", "+15005550006", "calls"),
                rec("e5", "+15005550005", "calls"),
                rec("e4", "+15005550004", "calls"),
            ],
            vec![step("calls", "pending")],
        );
        w.snaps.insert("e6".into(), snap("completed", Some("completed"), Some("c6")));
        w.snaps.insert("e5".into(), snap("failed", Some("busy"), None));
        w.snaps.insert("e4".into(), snap("completed", Some("completed"), Some("c4")));
        w.insights.insert("e6".into(), done_insights());
        w.insights.insert("e4".into(), done_insights());
        let d = w.decide();
        assert!(d.finish.is_none(), "a retry is outstanding");
        w.apply(&d);
        assert_eq!(w.records.len(), 4);
        assert_eq!(w.plan[0].status, "in_progress");
        let retry_id = w.records[3].event_id.clone();
        assert_eq!(w.records[3].retry_of.as_deref(), Some("e5"));
        w.snaps.insert(retry_id.clone(), snap("completed", Some("completed"), Some("c5")));
        w.insights.insert(retry_id, done_insights());
        let d = w.decide();
        let f = d.finish.clone().expect("finished");
        assert_eq!(f.run_status.as_deref(), Some("succeeded"));
        assert_eq!(f.result["targets"].as_array().unwrap().len(), 3);
        w.apply(&d);
        assert_eq!(w.plan[0].status, "completed");
        assert_eq!(w.run, "succeeded");
        // Re-running changes nothing.
        assert!(w.decide().is_noop());
    }

    #[test]
    fn failed_step_cancels_pending_events_of_other_steps_and_fails_the_run() {
        let mut other = rec("e2", "+15005550006", "followup");
        other.scheduled_at = "2026-01-02T00:00:00Z".into();
        let mut w = World::new(
            vec![rec("e1", "+15005550003", "calls"), other],
            vec![step("calls", "in_progress"), step("followup", "pending")],
        );
        let p = Policy { max_retries: 0, ..Default::default() };
        w.snaps.insert("e1".into(), snap("failed", Some("failed"), None));
        let view = MissionView {
            records: &w.records,
            snapshots: &w.snaps,
            insights: &w.insights,
            plan: Some(&w.plan),
            run_status: Some("running"),
            now: t(NOW),
            awaiting_steps: false,
        };
        let d = reconcile(&view, &p);
        assert!(d.remote.contains(&Remote::Cancel { assistant_id: Some("a1".into()), event_id: "e2".into() }));
        assert!(matches!(d.remote.last(), Some(Remote::SetRun { status, .. }) if status == "failed"));
        assert_eq!(d.finish.unwrap().result["failed_step"], "calls");
        assert_eq!(d.settle.len(), 2);
    }

    #[test]
    fn bot_steps_are_never_completed_and_are_named() {
        let mut w = World::new(
            vec![rec("e1", "+15005550006", "calls")],
            vec![step("calls", "in_progress"), step("analyze", "pending")],
        );
        w.snaps.insert("e1".into(), snap("completed", Some("completed"), None));
        let d = w.decide();
        assert!(d.finish.is_none());
        assert!(!d.remote.iter().any(|a| matches!(a, Remote::SetStep { step_id, .. } if step_id == "analyze")));
        assert_eq!(d.notes, vec!["calls done; step analyze is yours".to_string()]);
        assert_eq!(d.awaiting, vec!["analyze".to_string()], "the mission waits for the bot");
        w.apply(&d);
        assert!(!has_pending(&w.records), "every call is settled");
        // While the bot has not finished its step, a poll only repeats what is left.
        let d = w.decide();
        assert!(d.finish.is_none() && d.remote.is_empty() && d.settle.is_empty(), "{d:?}");
        assert_eq!(d.awaiting, vec!["analyze".to_string()]);
        // Once the bot completes its step, the next poll finishes the run.
        w.plan[1].status = "completed".into();
        let d = w.decide();
        let f = d.finish.clone().expect("the run ends once every step is terminal");
        assert_eq!(f.run_status.as_deref(), Some("succeeded"));
        assert_eq!(f.result["status"], "succeeded");
        assert!(d.remote.iter().any(|a| matches!(a, Remote::SetRun { status, .. } if status == "succeeded")));
        assert!(d.awaiting.is_empty());
        w.apply(&d);
        assert_eq!(w.run, "succeeded");
        assert!(w.decide().is_noop(), "ended: nothing more");
    }

    #[test]
    fn a_bot_step_the_bot_failed_fails_the_run() {
        let mut w = World::new(
            vec![rec("e1", "+15005550006", "calls")],
            vec![step("calls", "in_progress"), step("analyze", "pending")],
        );
        w.snaps.insert("e1".into(), snap("completed", Some("completed"), None));
        let d = w.decide();
        w.apply(&d);
        w.plan[1].status = "failed".into();
        let f = w.decide().finish.expect("finished");
        assert_eq!(f.run_status.as_deref(), Some("failed"));
        assert_eq!(f.result["failed_step"], "analyze");
    }

    #[test]
    fn only_future_unstarted_events_need_no_request() {
        let mut r = rec("e1", "+1", "calls");
        r.scheduled_at = "2026-01-01T15:00:00Z".into();
        assert!(!has_due_work(std::slice::from_ref(&r), t(NOW)), "due in three hours: nothing to ask");
        assert_eq!(next_due(std::slice::from_ref(&r)), Some(t("2026-01-01T15:00:00Z")));
        let mut due = r.clone();
        due.scheduled_at = PAST.into();
        assert!(has_due_work(&[r.clone(), due], t(NOW)));
        let mut decided = r.clone();
        decided.outcome = Some(AttemptOutcome::Cancelled);
        assert!(has_due_work(&[decided], t(NOW)), "a decided cancel still has to be sent");
        let mut started = r.clone();
        started.status = "in_progress".into();
        assert!(has_due_work(&[started], t(NOW)));
        let mut settled = r;
        settled.scheduled_at = PAST.into();
        settled.settled = true;
        assert!(!has_due_work(&[settled], t(NOW)));
    }

    #[test]
    fn a_cancel_that_did_not_go_through_is_sent_again() {
        let mut r = rec("e2", "+15005550006", "calls");
        r.outcome = Some(AttemptOutcome::Cancelled);
        r.scheduled_at = "2026-01-02T00:00:00Z".into();
        let w = World::new(vec![r], vec![step("calls", "in_progress")]);
        let d = w.decide();
        assert_eq!(
            d.remote.iter().filter(|a| matches!(a, Remote::Cancel { event_id, .. } if event_id == "e2")).count(),
            1,
            "{d:?}"
        );
    }

    #[test]
    fn a_cancelled_run_follows_calls_under_way_to_their_end() {
        let mut ringing = rec("e1", "+15005550006", "calls");
        ringing.status = "in_progress".into();
        let mut later = rec("e2", "+15005550006", "calls");
        later.scheduled_at = "2026-01-02T00:00:00Z".into();
        let mut w = World::new(vec![ringing, later], vec![step("calls", "in_progress")]);
        w.run = "cancelled".into();
        w.snaps.insert("e1".into(), snap("in_progress", Some("in-progress"), None));
        let d = w.decide();
        assert!(d.remote.contains(&Remote::Cancel { assistant_id: Some("a1".into()), event_id: "e2".into() }));
        assert!(!d.remote.iter().any(|a| matches!(a, Remote::Cancel { event_id, .. } if event_id == "e1")));
        assert!(d.finish.is_none(), "the call under way is not dropped: {d:?}");
        assert!(!d.settle.contains(&"e1".to_string()));
        w.apply(&d);
        // The call ends: its status and insights are recorded, then the mission closes.
        w.snaps.insert("e1".into(), snap("completed", Some("completed"), Some("c1")));
        w.insights.insert("e1".into(), InsightsSnapshot { status: "in_progress".into(), results: vec![] });
        let d = w.decide();
        assert!(d.finish.is_none(), "insights are not final yet");
        assert_eq!(d.records.iter().find(|r| r.event_id == "e1").unwrap().status, "completed");
        w.apply(&d);
        w.insights.insert("e1".into(), done_insights());
        let d = w.decide();
        assert_eq!(d.insights[0].1["results"], json!(["ok"]));
        let f = d.finish.expect("closed once the call and its insights are in");
        assert_eq!((f.run_status, f.result["status"].as_str()), (None, Some("cancelled")));
        assert!(!d.remote.iter().any(|a| matches!(a, Remote::SetRun { .. } | Remote::SetStep { .. })));
    }

    #[test]
    fn terminal_steps_are_never_regressed_and_auto_sync_does_not_change_the_outcome() {
        // A server with auto-sync marked the step failed after a busy attempt we retry.
        let mut e5 = rec("e5", "+15005550005", "calls");
        e5.status = "failed".into();
        e5.call_status = Some("busy".into());
        let mut w = World::new(vec![e5], vec![step("calls", "failed")]);
        let d = w.decide();
        assert!(!d.remote.iter().any(|a| matches!(a, Remote::SetStep { .. })));
        assert!(d.finish.is_none());
        w.apply(&d);
        let id = w.records[1].event_id.clone();
        w.snaps.insert(id, snap("completed", Some("completed"), None));
        let d = w.decide();
        assert!(!d.remote.iter().any(|a| matches!(a, Remote::SetStep { .. })), "step left as the server set it");
        assert_eq!(d.finish.unwrap().run_status.as_deref(), Some("succeeded"));
    }

    #[test]
    fn run_already_succeeded_on_the_server_is_never_regressed_but_retries_go_on() {
        let mut w = World::new(vec![rec("e5", "+15005550005", "calls")], vec![step("calls", "completed")]);
        w.run = "succeeded".into();
        w.snaps.insert("e5".into(), snap("failed", Some("busy"), None));
        let d = w.decide();
        assert!(d.remote.iter().any(|a| matches!(a, Remote::Retry(_))));
        w.apply(&d);
        let id = w.records[1].event_id.clone();
        w.snaps.insert(id, snap("completed", Some("completed"), None));
        let d = w.decide();
        assert!(!d.remote.iter().any(|a| matches!(a, Remote::SetRun { .. } | Remote::SetStep { .. })));
        let f = d.finish.unwrap();
        assert_eq!((f.run_status, f.result["status"].as_str()), (None, Some("succeeded")));
    }

    #[test]
    fn cancelled_run_closes_the_mission_without_touching_the_service() {
        let mut w = World::new(vec![rec("e1", "+15005550001", "calls")], vec![step("calls", "in_progress")]);
        w.run = "cancelled".into();
        w.snaps.insert("e1".into(), snap("failed", Some("busy"), None));
        let d = w.decide();
        assert!(d.remote.iter().all(|a| matches!(a, Remote::Log { .. })), "{:?}", d.remote);
        let f = d.finish.unwrap();
        assert_eq!(f.run_status, None);
        assert!(f.result["reason"].as_str().unwrap().contains("already cancelled"));
        assert_eq!(d.settle, vec!["e1".to_string()]);
    }

    #[test]
    fn interrupted_retry_is_recovered_with_the_same_time_not_a_new_one() {
        let mut r = rec("e1", "+15005550001", "calls");
        r.status = "failed".into();
        r.call_status = Some("busy".into());
        r.outcome = Some(AttemptOutcome::Retrying);
        r.retry = Some(RetryIntent { attempt: 2, scheduled_at: "2026-01-01T12:07:00Z".into(), event_id: None });
        let w = World::new(vec![r], vec![step("calls", "in_progress")]);
        let d = w.decide();
        let retries: Vec<&RetryRequest> =
            d.remote.iter().filter_map(|a| if let Remote::Retry(r) = a { Some(r) } else { None }).collect();
        assert_eq!(retries.len(), 1);
        assert!(retries[0].recover);
        assert_eq!(retries[0].scheduled_at, "2026-01-01T12:07:00Z");
        assert!(d.records.is_empty(), "nothing new to write before the retry");
    }

    #[test]
    fn adopting_a_retry_twice_adds_one_record() {
        let r = rec("e1", "+1", "calls");
        let req = retry_request(&r, "busy", false);
        let first = adopt_retry(std::slice::from_ref(&r), &req, "n1");
        assert_eq!(first.len(), 2);
        let mut all = vec![first[0].clone(), first[1].clone()];
        let again = adopt_retry(&all, &req, "n1");
        assert_eq!(again.len(), 1, "the retry record already exists");
        all[0] = again[0].clone();
        assert!(all[0].is_resolved());
    }

    #[test]
    fn events_are_not_fetched_before_their_time_nor_after_they_settle() {
        let mut r = rec("e1", "+1", "calls");
        r.scheduled_at = "2026-01-01T12:00:01Z".into();
        assert!(!needs_event_fetch(&r, t(NOW)));
        r.scheduled_at = NOW.into();
        assert!(needs_event_fetch(&r, t(NOW)));
        r.settled = true;
        assert!(!needs_event_fetch(&r, t(NOW)));
    }

    #[test]
    fn sms_failure_is_not_retried() {
        let mut r = rec("e1", "+15005550001", "texts");
        r.channel = "sms".into();
        let mut w = World::new(vec![r], vec![step("texts", "in_progress")]);
        w.snaps.insert("e1".into(), snap("failed", None, None));
        let d = w.decide();
        assert!(!d.remote.iter().any(|a| matches!(a, Remote::Retry(_))));
        assert_eq!(d.failed_targets.len(), 1);
        assert_eq!(d.finish.unwrap().run_status.as_deref(), Some("failed"));
    }
}
