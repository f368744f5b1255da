use super::reconcile::retry_request;
use super::*;
use serde_json::json;

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
        self.decide_with(&Policy::default())
    }
    fn decide_with(&self, policy: &Policy) -> Decision {
        let view = MissionView {
            records: &self.records,
            snapshots: &self.snaps,
            insights: &self.insights,
            plan: Some(&self.plan),
            run_status: Some(&self.run),
            now: t(NOW),
            awaiting_steps: !self.awaiting.is_empty(),
        };
        reconcile(&view, policy)
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
    assert!(l.iter().any(|(k, s)| k == "custom" && s.contains("in_progress (ringing)") && s.contains("e1")), "{l:?}");
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
        let pending: Vec<String> = w.records.iter().filter(|r| !r.is_terminal()).map(|r| r.event_id.clone()).collect();
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
    let d = w.decide_with(&p);
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

mod retry_profiles {
    use super::*;
    use crate::campaign::profile::{RetryRule, RetryRules};
    use crate::campaign::targets::RetryProfile;
    use crate::campaign::window::Hours;

    /// Monday 2026-01-05 10:00 in New York.
    const MONDAY: &str = "2026-01-05T15:00:00Z";

    fn rules(to: &str, profile: RetryProfile) -> RetryRules {
        let mut r = RetryRules::default();
        let rule = RetryRule { profile, hours: Hours::default(), zones: vec![chrono_tz::America::New_York] };
        r.insert(Some("calls"), "call", to, rule);
        r
    }

    fn decide(
        records: &[ScheduledEvent],
        snaps: &HashMap<String, EventSnapshot>,
        now: &str,
        r: &RetryRules,
    ) -> Decision {
        let plan = vec![step("calls", "in_progress")];
        let view = MissionView {
            records,
            snapshots: snaps,
            insights: &HashMap::new(),
            plan: Some(&plan),
            run_status: Some("running"),
            now: t(now),
            awaiting_steps: false,
        };
        reconcile_with(&view, &Policy::default(), r)
    }

    fn retries(d: &Decision) -> Vec<&RetryRequest> {
        d.remote.iter().filter_map(|a| if let Remote::Retry(q) = a { Some(q) } else { None }).collect()
    }

    fn busy(id: &str, to: &str, attempt: u32) -> (Vec<ScheduledEvent>, HashMap<String, EventSnapshot>) {
        let mut r = rec(id, to, "calls");
        r.attempt = attempt;
        let snaps = HashMap::from([(id.to_string(), snap("failed", Some("busy"), None))]);
        (vec![r], snaps)
    }

    #[test]
    fn a_busy_professional_target_is_retried_at_the_next_business_days_window_start() {
        let (recs, snaps) = busy("e1", "+15005550001", 1);
        // Friday 2026-01-09 16:00 in New York → Monday 09:00 (14:00Z).
        let d = decide(&recs, &snaps, "2026-01-09T21:00:00Z", &rules("+15005550001", RetryProfile::Professional));
        let q = retries(&d);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].scheduled_at, "2026-01-12T14:00:00Z");
        assert_eq!((q[0].attempt, q[0].reason.as_str()), (2, "busy"));
        let r = d.records.iter().find(|r| r.event_id == "e1").unwrap();
        assert_eq!(r.retry.as_ref().unwrap().scheduled_at, "2026-01-12T14:00:00Z", "the intent holds the same time");
    }

    #[test]
    fn the_profile_sets_the_number_of_retries_not_the_policy() {
        // Automated: a third retry (attempt 4) although the policy allows 2.
        let (recs, snaps) = busy("e3", "+15005550001", 3);
        let d = decide(&recs, &snaps, MONDAY, &rules("+15005550001", RetryProfile::Automated));
        assert_eq!(retries(&d)[0].scheduled_at, "2026-01-05T15:15:00Z", "15 minutes after the third failure");
        // Professional: no third retry; the target fails.
        let d = decide(&recs, &snaps, MONDAY, &rules("+15005550001", RetryProfile::Professional));
        assert!(retries(&d).is_empty());
        assert_eq!(d.failed_targets.len(), 1);
        assert_eq!(d.records[0].outcome, Some(AttemptOutcome::Failed));
    }

    #[test]
    fn a_service_retry_skips_the_lunch_hour() {
        let (recs, snaps) = busy("e1", "+15005550001", 1);
        // 11:45 in New York + 30 minutes is lunch: 13:00 (18:00Z).
        let d = decide(&recs, &snaps, "2026-01-05T16:45:00Z", &rules("+15005550001", RetryProfile::Service));
        assert_eq!(retries(&d)[0].scheduled_at, "2026-01-05T18:00:00Z");
    }

    #[test]
    fn targets_without_a_profile_keep_the_policy_delays() {
        let (mut recs, mut snaps) = busy("e1", "+15005550001", 1);
        let (other, other_snaps) = busy("e2", "+15005550002", 1);
        recs.extend(other);
        snaps.extend(other_snaps);
        let d = decide(&recs, &snaps, MONDAY, &rules("+15005550002", RetryProfile::Professional));
        let q = retries(&d);
        let by = |id: &str| q.iter().find(|q| q.of_event == id).unwrap().scheduled_at.clone();
        assert_eq!(by("e1"), "2026-01-05T15:10:00Z", "the policy's busy delay");
        assert_eq!(by("e2"), "2026-01-06T14:00:00Z", "the profile");
        // No rules at all: exactly what reconcile decides.
        let none = decide(&recs, &snaps, MONDAY, &RetryRules::default());
        let view_d = {
            let plan = vec![step("calls", "in_progress")];
            let view = MissionView {
                records: &recs,
                snapshots: &snaps,
                insights: &HashMap::new(),
                plan: Some(&plan),
                run_status: Some("running"),
                now: t(MONDAY),
                awaiting_steps: false,
            };
            reconcile(&view, &Policy::default())
        };
        assert_eq!(none, view_d);
    }
}

fn paused(id: &str, to: &str, step: &str) -> ScheduledEvent {
    let mut r = rec(id, to, step);
    r.status = "cancelled".into();
    r.settled = true;
    r.paused = true;
    r
}

#[test]
fn a_paused_event_keeps_its_step_open_and_the_run_running() {
    let mut w = World::new(
        vec![rec("e1", "+15005550006", "calls"), paused("e2", "+15005550002", "calls")],
        vec![step("calls", "in_progress")],
    );
    w.snaps.insert("e1".into(), snap("completed", Some("completed"), Some("c1")));
    w.insights.insert("e1".into(), done_insights());
    let d = w.decide();
    assert!(d.finish.is_none(), "{d:?}");
    assert!(!d.remote.iter().any(|a| matches!(a, Remote::SetRun { .. } | Remote::SetStep { .. })), "{:?}", d.remote);
    assert!(d.notes.iter().any(|n| n.contains("1 paused event")), "{:?}", d.notes);
    assert_eq!(d.settle, ["e1"], "the answered call settles; the paused one is neither done nor failed");
    w.apply(&d);
    assert!(w.decide().is_noop(), "nothing pending: poll has nothing to do while paused");
}

#[test]
fn a_failed_target_beside_a_paused_one_does_not_fail_the_step() {
    let mut w = World::new(
        vec![rec("e1", "+15005550003", "calls"), paused("e2", "+15005550006", "calls")],
        vec![step("calls", "in_progress")],
    );
    w.snaps.insert("e1".into(), snap("failed", Some("failed"), None));
    let d = w.decide_with(&Policy { max_retries: 0, ..Default::default() });
    assert!(d.finish.is_none(), "{d:?}");
    assert_eq!(d.failed_targets.len(), 1, "the target itself is reported failed");
    assert!(!d.remote.iter().any(|a| matches!(a, Remote::SetRun { .. } | Remote::Cancel { .. })), "{:?}", d.remote);
}
