use super::super::testing::{setup, Fake};
use super::*;
use crate::lifecycle::record::{INSIGHTS, RESULT};
use crate::lifecycle::Pace;

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
    let store =
        setup(dir.path(), "sweep", &fake, &[("e6", "+15005550006"), ("e5", "+15005550005"), ("e4", "+15005550004")]);
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
        &crate::lifecycle::NoProgress,
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

/// Rewrite the stored records of `slug` as `schedule` would have stored a
/// create reply that already said how they ended (status only).
fn store_create_reply_status(store: &StateStore, slug: &str, status: &str, call_status: Option<&str>) {
    let (slug, status, cs) = (slug.to_string(), status.to_string(), call_status.map(String::from));
    store
        .update(move |st| {
            let m = st.mission_mut(&slug).unwrap();
            let mut recs = m.scheduled_events();
            for r in &mut recs {
                r.status = status.clone();
                r.call_status = cs.clone();
            }
            m.put_scheduled_events(&recs, Utc::now())
        })
        .unwrap();
}

#[tokio::test]
async fn an_event_created_already_failed_is_fetched_and_the_busy_one_retried() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let store = setup(dir.path(), "born", &fake, &[("e5", "+15005550005")]);
    fake.play(); // busy on its first attempt
    store_create_reply_status(&store, "born", "failed", None);
    let r = poll(&store, &fake).await;
    assert_eq!(r.missions[0].fetched, 1, "a bare `failed` is not trusted: {r:?}");
    assert_eq!(r.missions[0].retries_scheduled, 1, "{r:?}");
    fake.advance(11);
    fake.play();
    let r = poll(&store, &fake).await;
    assert_eq!(r.missions[0].ended.as_deref(), Some("succeeded"), "{r:?}");
    let st = store.read().unwrap();
    let m = st.archived_mission("m-born").unwrap();
    assert_eq!(m.memory_get(INSIGHTS).unwrap().as_object().unwrap().len(), 1, "insights of the answered retry");
}

#[tokio::test]
async fn an_event_created_already_completed_is_fetched_for_its_conversation_and_insights() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let store = setup(dir.path(), "done", &fake, &[("e6", "+15005550006")]);
    fake.play();
    store_create_reply_status(&store, "done", "completed", Some("completed"));
    let r = poll(&store, &fake).await;
    assert_eq!(r.missions[0].fetched, 1, "{r:?}");
    assert_eq!(r.missions[0].ended.as_deref(), Some("succeeded"), "{r:?}");
    let st = store.read().unwrap();
    let m = st.archived_mission("m-done").unwrap();
    assert_eq!(m.memory_get(INSIGHTS).unwrap().as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn the_bots_own_scheduled_events_entries_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let store =
        setup(dir.path(), "bot", &fake, &[("e6", "+15005550006"), ("e5", "+15005550005"), ("e4", "+15005550004")]);
    store
        .update(|st| {
            let m = st.mission_mut("bot").unwrap();
            // The skill's MANDATORY step, once for one of clawdtalk's events and once for an SMS it never saw.
            m.memory_append(
                crate::state::SCHEDULED_EVENTS_KEY,
                json!({"event_id": "e6", "type": "call", "to": "+15005550006",
                       "scheduled_at": "2026-01-01T11:59:00Z", "step_id": "hand-written"}),
                Utc::now(),
            )?;
            m.memory_append(
                crate::state::SCHEDULED_EVENTS_KEY,
                json!({"event_id": "sms-by-bot", "type": "sms", "to": "+15005550009",
                       "scheduled_at": "2026-01-01T11:59:00Z", "step_id": "calls"}),
                Utc::now(),
            )
            .map(|_| ())
        })
        .unwrap();
    fake.play();
    poll(&store, &fake).await;
    fake.advance(11);
    fake.play();
    let r = poll(&store, &fake).await;
    assert_eq!(r.missions[0].ended.as_deref(), Some("succeeded"), "{r:?}");
    let logs = fake.logs.lock().unwrap().clone();
    assert!(!logs.iter().any(|(_, s)| s.contains("5550009")), "no run event about the bot's SMS: {logs:?}");
    let st = store.read().unwrap();
    let m = st.archived_mission("m-bot").unwrap();
    let raw = m.memory_get(crate::state::SCHEDULED_EVENTS_KEY).unwrap().as_array().unwrap().clone();
    assert!(raw.iter().any(|e| e["event_id"] == "sms-by-bot" && e["type"] == "sms"), "kept as written");
    assert_eq!(raw.iter().filter(|e| e["event_id"] == "e6").count(), 1, "merged by id");
    assert_eq!(m.scheduled_events().len(), 4);
}

#[tokio::test]
async fn a_stale_retry_intent_of_a_profiled_target_is_moved_into_its_window() {
    use crate::campaign::record::{put_targets, target_key, TargetRecord, TargetStatus};
    use crate::campaign::targets::RetryProfile;
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(); // 2026-01-01T12:00Z: 07:00 in New York, before the window
    let store = setup(dir.path(), "stale", &fake, &[("e1", "+15005550001")]);
    store
        .update(|st| {
            let m = st.mission_mut("stale").unwrap();
            let mut recs = m.scheduled_events();
            // An earlier poll decided the retry for a past time, then died.
            recs[0].status = "failed".into();
            recs[0].call_status = Some("busy".into());
            recs[0].outcome = Some(crate::state::AttemptOutcome::Retrying);
            recs[0].retry = Some(crate::state::RetryIntent {
                attempt: 2,
                scheduled_at: "2026-01-01T11:00:00Z".into(),
                event_id: None,
            });
            m.put_scheduled_events(&recs, Utc::now())?;
            let target: TargetRecord = serde_json::from_value(json!({
                "key": target_key(Some("calls"), "call", "+15005550001"), "phone": "+15005550001",
                "zones": ["America/New_York"], "kind": "automated", "channel": "call", "step_id": "calls",
                "status": "scheduled", "event_id": "e1",
            }))
            .unwrap();
            assert_eq!(target.status, TargetStatus::Scheduled);
            assert_eq!(target.kind, Some(RetryProfile::Automated));
            put_targets(m, &[target], Utc::now())
        })
        .unwrap();
    let r = poll(&store, &fake).await;
    assert_eq!(r.missions[0].retries_scheduled, 1, "{r:?}");
    let events = fake.events.lock().unwrap();
    let retry = events.iter().find(|(id, _)| id != "e1").map(|(_, e)| e.scheduled_at.clone());
    assert_eq!(retry.as_deref(), Some("2026-01-01T14:00:00Z"), "09:00 in New York, not 90 s from now");
    assert!(r.missions[0].changes.iter().any(|c| c.starts_with("retry 1 of 3 ")), "{:?}", r.missions[0].changes);
}
