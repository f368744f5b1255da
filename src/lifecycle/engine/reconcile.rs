//! [`reconcile`]: the engine's one decision for a mission, in the stages
//! the executor applies in the same order (see the executor's module doc):
//! 1. fold each record's fresh snapshot in and decide its attempt's outcome
//!    (retry intents included), and report targets that failed for good;
//!    a cancelled run only closes ([`close_cancelled_run`]);
//! 2. derive each step's status from its records;
//! 3. a failed step fails the mission at once;
//! 4. settle what is fully done, and end the run once every step is terminal.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{
    apply_snapshot, awaiting_note, bot_steps_left, fmt_time, has_pending, needs_insights, push_cancel, what, Decision,
    Finish, InsightsSnapshot, MissionView, PlanStep, Policy, Remote, RetryRequest,
};
use crate::campaign::profile::{FailureKind, RetryRules};
use crate::config::mask_phone;
use crate::lifecycle::record::{TERMINAL_RUN_STATUSES, TERMINAL_STEP_STATUSES};
use crate::state::{AttemptOutcome, RetryIntent, ScheduledEvent};

/// Decide everything for one mission, retrying every failed call by the
/// global `policy`.
pub fn reconcile(view: &MissionView<'_>, policy: &Policy) -> Decision {
    reconcile_with(view, policy, &RetryRules::default())
}

/// [`reconcile`], with campaign targets that have a retry profile
/// (`rules`) retried by their profile instead of the policy's delays and
/// retry count (docs/campaigns.md#retry-profiles).
pub fn reconcile_with(view: &MissionView<'_>, policy: &Policy, rules: &RetryRules) -> Decision {
    let mut d = Decision::default();
    if !has_pending(view.records) && !view.awaiting_steps {
        return d; // everything settled: the mission already ended
    }
    // A cancelled run is over: poll only records what it sees. A run a server
    // (auto-sync) or the bot already marked succeeded/failed is left as it is
    // (never regress) while poll finishes its own bookkeeping.
    let run_ended = view.run_status == Some("cancelled");
    let run_terminal = view.run_status.is_some_and(|s| TERMINAL_RUN_STATUSES.contains(&s));

    let (mut recs, retries) = fold_records(view, policy, rules, &mut d);
    if run_ended {
        close_cancelled_run(view, policy, &mut recs, &mut d);
        return d;
    }
    let steps = step_outcomes(&recs);
    let failed_steps = step_changes(view, &steps, &mut d);
    if let Some(step) = failed_steps.first() {
        fail_mission(view, policy, &mut recs, (step, &steps[step]), run_terminal, &mut d);
        return d;
    }
    d.remote.extend(retries.into_iter().map(Remote::Retry));
    finish_run(view, policy, &recs, &steps, run_terminal, &mut d);
    d
}

/// Stage 1: Per record: fold in the snapshot, decide the attempt's outcome.
/// Returns the records as decided and the retries to schedule; targets
/// that failed every attempt are reported on `d`.
fn fold_records(
    view: &MissionView<'_>,
    policy: &Policy,
    rules: &RetryRules,
    d: &mut Decision,
) -> (Vec<ScheduledEvent>, Vec<RetryRequest>) {
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
            if r.has_decisive_facts() && r.outcome.is_none() {
                let (outcome, at) = decide_attempt(&r, policy, rules, view.now);
                r.outcome = Some(outcome);
                if let (AttemptOutcome::Retrying, Some(at)) = (outcome, at) {
                    let reason = r.retryable_status().unwrap_or("failed").to_string();
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
                push_cancel(d, &r);
            }
            if let Some(ins) = view.insights.get(&r.event_id) {
                r.insights_polls += 1;
                r.insights_status = Some(ins.status.clone());
                d.insights.push((r.event_id.clone(), insight_entry(&r, ins)));
            }
        }
        recs.push(r);
    }
    report_failed_targets(d, &recs, &failed_now);
    (recs, retries)
}

/// Targets that failed every attempt: a `failed_targets` entry and an
/// `error` run event each.
fn report_failed_targets(d: &mut Decision, recs: &[ScheduledEvent], failed_now: &[usize]) {
    for &i in failed_now {
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
}

/// The run was cancelled (by `mission cancel` or elsewhere): nothing more
/// is scheduled or changed on the service, events that have not started
/// are cancelled, and calls already under way are followed to their end
/// (status, insights) before the mission closes.
fn close_cancelled_run(view: &MissionView<'_>, policy: &Policy, recs: &mut [ScheduledEvent], d: &mut Decision) {
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
            push_cancel(d, r);
        } else if !r.is_terminal() {
            running += 1;
        }
    }
    finish_records(d, view.records, recs, false, policy);
    let done = recs.iter().all(|r| r.settled || (r.is_resolved() && !needs_insights(r, policy)));
    if !done {
        let insights = recs.iter().filter(|r| !r.settled && needs_insights(r, policy)).count();
        d.notes.push(format!(
            "the run is {status}: waiting for {running} call(s) under way to end and {insights} insight(s) \
             before closing the mission"
        ));
        return;
    }
    d.finish = Some(Finish {
        run_status: None,
        result: json!({"status": status, "reason": format!("the run was already {status} on the service"),
            "targets": target_summary(recs)}),
    });
}

/// Stage 2: Steps: the status each step's records call for, as `SetStep` changes
/// (never regressing a terminal step) with their run events. Returns the
/// steps that failed.
fn step_changes(view: &MissionView<'_>, steps: &BTreeMap<String, StepAgg>, d: &mut Decision) -> Vec<String> {
    let plan_status: HashMap<&str, &str> =
        view.plan.unwrap_or(&[]).iter().map(|s| (s.step_id.as_str(), s.status.as_str())).collect();
    let mut failed_steps: Vec<String> = Vec::new();
    for (step, agg) in steps {
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
    failed_steps
}

/// Stage 3: A failed step fails the mission now: what has not run is cancelled,
/// retries not yet scheduled are dropped, and the run fails.
fn fail_mission(
    view: &MissionView<'_>,
    policy: &Policy,
    recs: &mut [ScheduledEvent],
    (step, agg): (&String, &StepAgg),
    run_terminal: bool,
    d: &mut Decision,
) {
    for r in recs.iter_mut() {
        if r.outcome == Some(AttemptOutcome::Retrying) && r.retry.as_ref().is_some_and(|i| i.event_id.is_none()) {
            r.outcome = Some(AttemptOutcome::Failed);
            r.retry = None;
        }
        if !r.is_terminal() {
            r.outcome = Some(AttemptOutcome::Cancelled);
            push_cancel(d, r);
        }
    }
    let reason = format!("step {step} failed: none of its {} targets was reached ({})", agg.targets, agg.why);
    if !run_terminal {
        d.remote.push(Remote::SetRun { status: "failed".into(), summary: reason.clone() });
    }
    finish_records(d, view.records, recs, true, policy);
    d.finish = Some(Finish {
        run_status: (!run_terminal).then(|| "failed".into()),
        result: json!({"status": "failed", "reason": reason, "failed_step": step,
            "targets": target_summary(recs)}),
    });
}

/// Stage 4: Settle what is fully done; finish when every step is terminal.
fn finish_run(
    view: &MissionView<'_>,
    policy: &Policy,
    recs: &[ScheduledEvent],
    steps: &BTreeMap<String, StepAgg>,
    run_terminal: bool,
    d: &mut Decision,
) {
    let all_resolved = recs.iter().all(|r| r.settled || (r.is_resolved() && !needs_insights(r, policy)));
    finish_records(d, view.records, recs, false, policy);
    if !all_resolved {
        return;
    }
    let paused = recs.iter().filter(|r| r.paused).count();
    if paused > 0 {
        // docs/campaigns.md#pause-and-resume: a paused event is neither done
        // nor failed, and the run waits for `mission resume`.
        d.notes.push(format!("{paused} paused event(s) wait for `clawdtalk mission resume`"));
        return;
    }
    let Some(plan) = view.plan.filter(|p| !p.is_empty()) else {
        if !recs.is_empty() {
            d.notes.push("calls done; the run has no plan poll can finish by: complete it yourself".into());
        }
        return;
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
    let left = bot_steps_left(recs, plan);
    if !left.is_empty() {
        d.notes.push(awaiting_note(&left));
        d.awaiting = left;
        return;
    }
    let failed: Vec<String> = plan.iter().filter(|s| effective(s) == "failed").map(|s| s.step_id.clone()).collect();
    let (status, reason) = if failed.is_empty() {
        let ok = recs.iter().filter(|r| r.outcome == Some(AttemptOutcome::Succeeded)).count();
        ("succeeded", format!("every plan step finished; {ok} of {} targets reached", target_count(recs)))
    } else {
        ("failed", format!("plan step {} failed", failed.join(", ")))
    };
    d.remote.push(Remote::SetRun { status: status.into(), summary: reason.clone() });
    let mut result = json!({"status": status, "reason": reason, "targets": target_summary(recs)});
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

/// The attempt's outcome and, when it is retried, when. A retryable call
/// to a target with a retry profile goes by its profile (no time: no more
/// attempts, the target failed); everything else by the global policy.
fn decide_attempt(
    r: &ScheduledEvent,
    policy: &Policy,
    rules: &RetryRules,
    now: DateTime<Utc>,
) -> (AttemptOutcome, Option<DateTime<Utc>>) {
    let ruled = r.retryable_status().and_then(|cs| {
        let rule = rules.get(r.step_id.as_deref(), &r.channel, &r.to)?;
        Some(rule.next_attempt(FailureKind::of_call_status(cs)?, r.attempt, now))
    });
    match ruled {
        Some(Some(at)) => (AttemptOutcome::Retrying, Some(at)),
        Some(None) => (AttemptOutcome::Failed, None),
        None => {
            let outcome = decide_outcome(r, policy);
            let delay = r.retryable_status().map(|cs| policy.delay_for(cs)).unwrap_or_default();
            let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
            (outcome, (outcome == AttemptOutcome::Retrying).then_some(at))
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

pub(super) fn retry_request(r: &ScheduledEvent, reason: &str, recover: bool) -> RetryRequest {
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
            // A paused record (settled, no outcome) keeps its step open.
            done: rs.iter().all(|r| r.is_resolved() && !r.paused),
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
