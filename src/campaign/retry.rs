//! `mission retry SLUG --failed` (docs/campaigns.md#retrying-failed-targets):
//! every target whose attempts ended failed, and that
//! [`may_call_again`], gets one new attempt through the batch run (same
//! step, channel and number, next open window, exactly once per round).
//! A mission poll already ended and archived is reopened first: back to
//! the active missions with its `previous_result` kept, its run back to
//! `running` and the steps being retried back to `in_progress`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::batch::{self, Done};
use super::control::{records_batch, Pacing};
use super::plan::Entry;
use super::record::{put_targets, targets, TargetStatus};
use super::status::{effective, latest_attempt, may_call_again};
use crate::api::Client;
use crate::error::{Error, Result};
use crate::ledger::Claim;
use crate::lifecycle::executor::PollLock;
use crate::lifecycle::record::{RESULT, TERMINAL_RUN_STATUSES};
use crate::lifecycle::service::{RunRef, Service};
use crate::state::{Found, MissionState, State, StateStore};

/// Memory key the reopened mission keeps its earlier result under.
pub const PREVIOUS_RESULT: &str = "previous_result";

/// What a retry round prepared, beside the batch's plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RetryReport {
    pub slug: String,
    /// The mission was archived and is active again.
    pub reopened: bool,
    /// The run was set back to `running`.
    pub run_reopened: bool,
    /// Plan steps set back to `in_progress`.
    pub steps_reopened: Vec<String>,
    /// Failed targets getting a new attempt this round.
    pub failed: usize,
    /// Failed targets [`may_call_again`] refuses.
    pub not_again: usize,
}

/// Retry the failed targets of mission `key` (slug or mission id).
pub async fn retry_failed<S: Service>(
    svc: &S,
    client: &Client,
    store: &StateStore,
    claim: &Claim,
    key: &str,
    pacing: Pacing,
    now: DateTime<Utc>,
) -> Result<(RetryReport, Vec<Entry>, Done)> {
    let _lock = PollLock::acquire(store.path(), pacing.lock_wait).await?;
    // The run is asked first: a cancelled one refuses before anything is
    // reopened or marked.
    let run = {
        let st = store.read_async().await?;
        let (_, m) = st.lookup(key)?;
        m.mission_id().zip(m.run_id()).map(|(mission_id, run_id)| RunRef { mission_id, run_id })
    };
    let run_status = match &run {
        Some(r) => check_run(svc, r).await?,
        None => None,
    };
    let k = key.to_string();
    let (mut report, steps) = store.update_async(move |st| prepare(st, &k, now)).await?;
    let st = store.read_async().await?;
    let Some(m) = st.mission(&report.slug) else {
        // Nothing failed in an archived mission: it stays archived.
        return Ok((report, Vec::new(), Done::default()));
    };
    if let (true, Some(run)) = (report.failed > 0, &run) {
        reopen_run(svc, run, run_status.as_deref(), &steps, &mut report).await?;
    }
    let b = records_batch(m, &report.slug, TargetStatus::Failed, true, pacing)?;
    if b.source_is_empty() {
        return Ok((report, Vec::new(), Done::default()));
    }
    let (entries, done) = batch::run(client, store, claim, &b, now).await?;
    Ok((report, entries, done))
}

/// Under the state lock: reopen the mission when it is archived and has
/// failed targets to retry, and mark those targets `failed` (a round's
/// targets a dead run left `planned` stay so, to be adopted). Returns the
/// report so far and the steps of the targets being retried.
pub fn prepare(st: &mut State, key: &str, now: DateTime<Utc>) -> Result<(RetryReport, BTreeSet<String>)> {
    let found = st.find(key).ok_or_else(|| st.unknown(key))?;
    let mut report = RetryReport::default();
    let slug = match found {
        Found::Active(slug) => slug,
        Found::Archived(k) => {
            let m = st.archived_mission(&k).ok_or_else(|| st.unknown(key))?;
            let slug = m.get_str("slug").unwrap_or_else(|| k.clone());
            if failed_targets(m).0.is_empty() {
                report.slug = slug;
                return Ok((report, BTreeSet::new()));
            }
            reopen(st, &k, &slug, now)?;
            report.reopened = true;
            slug
        }
    };
    report.slug = slug.clone();
    let m = st.mission_mut(&slug).ok_or_else(|| Error::state(format!("mission {slug} is gone")))?;
    let (mut failed, not_again) = failed_targets(m);
    report.not_again = not_again;
    for t in failed.iter_mut() {
        t.status = TargetStatus::Failed;
    }
    put_targets(m, &failed, now)?;
    let all = targets(m);
    let round: Vec<_> =
        all.iter().filter(|t| matches!(t.status, TargetStatus::Failed | TargetStatus::Planned)).collect();
    report.failed = round.iter().filter(|t| t.status == TargetStatus::Failed).count();
    let steps = round.iter().filter_map(|t| t.step_id.clone()).collect();
    Ok((report, steps))
}

/// The targets whose latest attempt failed and that may be called again
/// (as recorded, status not yet changed), and how many may not.
fn failed_targets(m: &MissionState) -> (Vec<super::record::TargetRecord>, usize) {
    let events = m.scheduled_events();
    let mut refused = 0;
    let mut out = Vec::new();
    for t in targets(m) {
        if !matches!(t.status, TargetStatus::Scheduled | TargetStatus::Failed) || effective(&t, &events) != "failed" {
            continue;
        }
        if may_call_again(&t, latest_attempt(&t, &events)) {
            out.push(t);
        } else {
            refused += 1;
        }
    }
    (out, refused)
}

/// Move the archived mission `key` back to the active ones as `slug`: the
/// archive's own fields go, its `result` is kept as `previous_result`.
pub fn reopen(st: &mut State, key: &str, slug: &str, now: DateTime<Utc>) -> Result<()> {
    if st.mission(slug).is_some() {
        return Err(Error::usage(format!(
            "an active mission is named '{slug}' too: the archived one cannot be reopened beside it"
        )));
    }
    let m = st.archived_mission(key).ok_or_else(|| st.unknown(key))?;
    if m.get_str("status").as_deref() == Some("cancelled") {
        return Err(Error::usage(format!("mission '{slug}' was cancelled: it is not reopened to retry its targets")));
    }
    let mut m = st.remove_archived(key).ok_or_else(|| st.unknown(key))?;
    for f in ["slug", "archived_at", "status", "result_summary"] {
        m.remove(f);
    }
    let previous = m.memory_mut()?.remove(RESULT).unwrap_or(Value::Null);
    let mut history = Map::new();
    history.insert("result".into(), previous);
    history.insert("reopened_at".into(), crate::state::timestamp(now).into());
    m.memory_save(PREVIOUS_RESULT, Value::Object(history), now)?;
    *st.mission_or_create(slug) = m;
    Ok(())
}

/// The run's status on the service; a cancelled run is refused (its
/// targets are not retried).
pub async fn check_run<S: Service>(svc: &S, run: &RunRef) -> Result<Option<String>> {
    let status = svc.run_status(run).await?;
    if status.as_deref() == Some("cancelled") {
        return Err(Error::usage("the run was cancelled on the service: its targets are not retried"));
    }
    Ok(status)
}

/// The run (whose status [`check_run`] read) back to `running` when it
/// ended, and the retried steps back to `in_progress` (a re-run after a
/// crash does what is left).
pub async fn reopen_run<S: Service>(
    svc: &S,
    run: &RunRef,
    status: Option<&str>,
    steps: &BTreeSet<String>,
    report: &mut RetryReport,
) -> Result<()> {
    if status.is_some_and(|s| TERMINAL_RUN_STATUSES.contains(&s)) {
        let summary = format!("reopened: {} failed target(s) get a new attempt", report.failed);
        svc.set_run(run, "running", &summary, &Value::Null).await?;
        report.run_reopened = true;
    }
    for s in svc.plan(run).await? {
        if steps.contains(&s.step_id) && s.status != "in_progress" {
            svc.set_step(run, &s.step_id, "in_progress").await?;
            report.steps_reopened.push(s.step_id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::campaign::record::TARGETS_KEY;
    use crate::lifecycle::engine::PlanStep;
    use crate::lifecycle::testing::Fake;
    use crate::state::SCHEDULED_EVENTS_KEY;

    /// One call a slot, two minutes apart, from now.
    fn pacing() -> Pacing {
        Pacing {
            start: Utc::now(),
            concurrency: 1,
            stagger: chrono::Duration::minutes(2),
            max_calls: None,
            daily_cap: None,
            gate: Default::default(),
            lock_wait: std::time::Duration::from_secs(1),
        }
    }

    /// An archived mission: one target reached, one failed, one failed
    /// that must not be called again.
    fn archived() -> State {
        let mut st = State::default();
        let m = st.mission_or_create("sweep");
        m.set("mission_id", "m1");
        m.set("run_id", "r1");
        let ev = |id: &str, outcome: &str| {
            json!({"event_id": id, "channel": "call", "to": "+15005550001",
            "scheduled_at": "2026-01-05T15:00:00Z", "step_id": "calls", "status": "completed", "outcome": outcome,
            "settled": true})
        };
        let t = |i: u32, id: &str| {
            json!({"key": format!("calls|call|+1500555000{i}"), "phone": format!("+1500555000{i}"),
            "channel": "call", "step_id": "calls", "status": "scheduled", "event_id": id})
        };
        let mut no = t(3, "e3");
        no["call_again"] = json!(false);
        let now = Utc::now();
        m.memory_save(
            SCHEDULED_EVENTS_KEY,
            json!([ev("e1", "succeeded"), ev("e2", "failed"), ev("e3", "failed")]),
            now,
        )
        .unwrap();
        m.memory_save(TARGETS_KEY, json!([t(1, "e1"), t(2, "e2"), no]), now).unwrap();
        m.memory_save(RESULT, json!({"status": "succeeded", "reason": "every plan step finished"}), now).unwrap();
        let mut fields = Map::new();
        fields.insert("status".into(), json!("succeeded"));
        st.archive("sweep", fields, now).unwrap();
        st
    }

    #[test]
    fn retry_reopens_an_archived_mission_keeps_its_result_and_marks_only_the_failed_targets() {
        let mut st = archived();
        assert!(st.mission("sweep").is_none());
        let (r, steps) = prepare(&mut st, "sweep", Utc::now()).unwrap();
        assert!(r.reopened);
        assert_eq!((r.failed, r.not_again), (1, 1));
        assert_eq!(steps.into_iter().collect::<Vec<_>>(), ["calls"]);
        assert_eq!(st.archived().count(), 0, "moved, not copied");
        let m = st.mission("sweep").expect("active again");
        assert_eq!(m.memory_get(PREVIOUS_RESULT).unwrap()["result"]["status"], "succeeded");
        assert!(m.memory_get(RESULT).is_none());
        assert!(m.get_str("archived_at").is_none() && m.status().is_none());
        let ts: Vec<TargetStatus> = targets(m).iter().map(|t| t.status).collect();
        assert_eq!(ts, [TargetStatus::Scheduled, TargetStatus::Failed, TargetStatus::Scheduled]);
        // The same round again: the failed target is marked once, nothing reopens twice.
        let (again, _) = prepare(&mut st, "sweep", Utc::now()).unwrap();
        assert!(!again.reopened);
        assert_eq!(again.failed, 1);
    }

    #[test]
    fn a_round_killed_after_claiming_is_recovered_by_the_next_not_marked_again() {
        let mut st = archived();
        prepare(&mut st, "sweep", Utc::now()).unwrap();
        // The killed run had claimed the target and given it a slot.
        let m = st.mission_mut("sweep").unwrap();
        let mut t = targets(m).into_iter().find(|t| t.status == TargetStatus::Failed).unwrap();
        t.status = TargetStatus::Planned;
        t.scheduled_at = Some("2026-01-06T15:00:00Z".into());
        t.claim = Some(crate::state::LogClaim { owner: "4194999-dead".into(), until: "2999-01-01T00:00:00Z".into() });
        put_targets(m, std::slice::from_ref(&t), Utc::now()).unwrap();
        let (r, _) = prepare(&mut st, "sweep", Utc::now()).unwrap();
        assert_eq!(r.failed, 0, "the claimed target is not marked failed again");
        let m = st.mission("sweep").unwrap();
        assert_eq!(targets(m).iter().filter(|x| x.status == TargetStatus::Planned).count(), 1);
        let mut m = m.clone();
        m.set("assistant_id", "a1");
        m.set("agent_phone", "+15550001111");
        let pacing = pacing();
        let b = records_batch(&m, "sweep", TargetStatus::Failed, true, pacing).unwrap();
        let crate::campaign::batch::Source::Records(rs) = &b.source else { panic!() };
        assert_eq!(rs.keys, [t.key.clone()], "the next run recovers it (adopts its event or creates it at its slot)");
        assert!(rs.next_attempt && rs.previous.contains_key("e2"));
    }

    #[test]
    fn an_archived_mission_with_nothing_failed_stays_archived() {
        let mut st = archived();
        let k = st.archived().next().unwrap().0.to_string();
        let m = st.archived_mission_mut(&k).unwrap();
        m.memory_save(TARGETS_KEY, json!([]), Utc::now()).unwrap();
        let (r, _) = prepare(&mut st, "sweep", Utc::now()).unwrap();
        assert!(!r.reopened && r.failed == 0);
        assert!(st.mission("sweep").is_none());
    }

    #[tokio::test]
    async fn a_cancelled_run_is_refused_before_the_archived_mission_is_reopened_or_marked() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("state.json"));
        store
            .update(|st| {
                *st = archived();
                Ok(())
            })
            .unwrap();
        let before = std::fs::read_to_string(store.path()).unwrap();
        let fake = Fake::new();
        *fake.run.lock().unwrap() = "cancelled".into();
        // Never reached: nothing is created for a refused retry.
        let client = Client::new(crate::api::ClientOptions {
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: crate::config::Secret::new("cc_test_unused"),
            connect_timeout: std::time::Duration::from_millis(50),
            request_timeout: std::time::Duration::from_millis(50),
            retry: Default::default(),
            key_header: None,
        })
        .unwrap();
        let pacing = pacing();
        let claim = crate::ledger::Claim::new(std::time::Duration::from_secs(1));
        let e = retry_failed(&fake, &client, &store, &claim, "sweep", pacing, Utc::now()).await.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e:?}");
        assert_eq!(std::fs::read_to_string(store.path()).unwrap(), before, "still archived, nothing marked");
    }

    #[tokio::test]
    async fn the_ended_run_goes_back_to_running_and_the_retried_step_to_in_progress() {
        let fake = Fake::new();
        *fake.run.lock().unwrap() = "succeeded".into();
        *fake.plan.lock().unwrap() = vec![
            PlanStep { step_id: "calls".into(), status: "failed".into() },
            PlanStep { step_id: "report".into(), status: "completed".into() },
        ];
        let run = RunRef { mission_id: "m1".into(), run_id: "r1".into() };
        let steps = BTreeSet::from(["calls".to_string()]);
        let mut r = RetryReport { failed: 1, ..Default::default() };
        let status = check_run(&fake, &run).await.unwrap();
        reopen_run(&fake, &run, status.as_deref(), &steps, &mut r).await.unwrap();
        assert!(r.run_reopened);
        assert_eq!(r.steps_reopened, ["calls"]);
        assert_eq!(*fake.run.lock().unwrap(), "running");
        assert_eq!(fake.plan.lock().unwrap()[1].status, "completed", "other steps are left alone");
        *fake.run.lock().unwrap() = "cancelled".into();
        assert!(check_run(&fake, &run).await.is_err(), "a cancelled run is not reopened");
    }
}
