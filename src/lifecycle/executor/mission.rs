//! Stage 1 for one mission (fetch events, insights, run and plan), then the
//! engine's decision, handed to [`super::apply`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use super::apply::apply;
use super::{set_awaiting, update_mission, MissionReport, PollOptions, Work};
use crate::config::mask_phone;
use crate::error::{Error, Result};
use crate::lifecycle::engine::{
    self, apply_snapshot, awaiting_note, bot_steps_left, has_due_work, has_pending, needs_event_fetch, needs_insights,
    reconcile_with, Decision, EventSnapshot, InsightsSnapshot, MissionView, PlanStep, Policy, Remote,
};
use crate::lifecycle::service::{RunRef, Service};
use crate::outbound::Gate;
use crate::state::{ScheduledEvent, StateStore};

/// Fetch, decide and apply for one mission. Returns how many of its events
/// are still unsettled.
pub(super) async fn poll_mission<S: Service>(
    svc: &S,
    store: &StateStore,
    mut w: Work,
    now: DateTime<Utc>,
    opts: &PollOptions,
    gate: &Gate,
    mr: &mut MissionReport,
) -> Result<usize> {
    // Before anything else, even when idle: opted-out numbers' events go.
    super::optout::cancel_opted_out(svc, store, &mut w, gate, mr).await?;
    let slug = w.slug.as_str();
    let run = RunRef {
        mission_id: w.mission_id.clone().ok_or_else(|| Error::state(format!("mission {slug} has no mission_id")))?,
        run_id: w.run_id.clone().ok_or_else(|| Error::state(format!("mission {slug} has no run_id")))?,
    };
    let records = &w.records;
    mr.pending_before = records.iter().filter(|r| !r.settled).count();
    let conc = opts.concurrency.max(1);
    // Every call settled: here for the bot's steps (or run events to send).
    let awaiting_mode = !has_pending(records);

    // Nothing due and nothing to send (events hours ahead): no request at all.
    if !awaiting_mode && w.outbox.is_empty() && !has_due_work(records, now) {
        mr.idle = true;
        if let Some(t) = engine::next_due(records) {
            mr.notes.push(format!(
                "nothing due; next event at {} service time",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        return Ok(mr.pending_before);
    }

    // 1. Fetch.
    let snapshots = fetch_snapshots(svc, records, w.assistant_id.as_deref(), now, conc, mr).await?;
    let insights = fetch_insights(svc, records, &snapshots, &opts.policy, conc).await;
    let notify = opts.notify.is_some();
    let Some((run_status, plan)) = fetch_run(svc, store, &w, &run, awaiting_mode, notify, mr).await? else {
        return Ok(0); // the bot's steps are open: nothing more to do now
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
    let mut d = reconcile_with(&view, &opts.policy, &w.rules);
    super::optout::drop_retries(&mut d, records, gate, mr);
    mr.notes.extend(d.notes.iter().cloned());
    describe(&d, view.records, mr);
    drop(snapshots);
    drop(insights);
    apply(svc, store, &w, &run, d, opts, mr).await
}

/// The due events' snapshots. An event gone from the service (404) reads
/// as cancelled; when some fetches fail the others are used (and the
/// failure noted), when all fail the poll of this mission fails.
async fn fetch_snapshots<S: Service>(
    svc: &S,
    records: &[ScheduledEvent],
    default_assistant: Option<&str>,
    now: DateTime<Utc>,
    conc: usize,
    mr: &mut MissionReport,
) -> Result<HashMap<String, EventSnapshot>> {
    let to_fetch: Vec<&ScheduledEvent> = records.iter().filter(|r| needs_event_fetch(r, now)).collect();
    let fetched: Vec<(String, Result<EventSnapshot>)> = stream::iter(to_fetch.into_iter().map(|r| {
        let aid = r.assistant_id.clone().or_else(|| default_assistant.map(String::from)).unwrap_or_default();
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
    Ok(snapshots)
}

/// Insights of the completed conversations whose insights are not final
/// (a failed fetch is simply asked again next poll).
async fn fetch_insights<S: Service>(
    svc: &S,
    records: &[ScheduledEvent],
    snapshots: &HashMap<String, EventSnapshot>,
    policy: &Policy,
    conc: usize,
) -> HashMap<String, InsightsSnapshot> {
    let with_snap: Vec<ScheduledEvent> = records
        .iter()
        .filter(|r| !r.settled)
        .map(|r| snapshots.get(&r.event_id).map(|s| apply_snapshot(r, s)).unwrap_or_else(|| r.clone()))
        .filter(|r| needs_insights(r, policy))
        .collect();
    stream::iter(with_snap.iter().map(|r| async move {
        let conv = r.conversation_id.clone().unwrap_or_default();
        (r.event_id.clone(), svc.insights(&conv).await)
    }))
    .buffer_unordered(conc)
    .filter_map(|(id, res)| async move { res.ok().map(|i| (id, i)) })
    .collect()
    .await
}

/// The run's status and plan. In awaiting mode (every call settled) the plan
/// comes first (one GET): while steps left to the bot are open, the marker
/// is kept up to date and `None` says there is nothing more to do now.
async fn fetch_run<S: Service>(
    svc: &S,
    store: &StateStore,
    w: &Work,
    run: &RunRef,
    awaiting_mode: bool,
    notify: bool,
    mr: &mut MissionReport,
) -> Result<Option<(Option<String>, Vec<PlanStep>)>> {
    let (records, slug) = (&w.records, w.slug.as_str());
    Ok(Some(if awaiting_mode {
        // The plan first (one GET): while the bot's steps are open, that is all.
        let plan = svc.plan(run).await?;
        let left = bot_steps_left(records, &plan);
        if !plan.is_empty() && !left.is_empty() && w.outbox.is_empty() {
            mr.notes.push(awaiting_note(&left));
            if w.awaiting.as_ref() != Some(&left) {
                let (steps, owner) = (left.clone(), slug.to_string());
                update_mission(store, slug, move |m, now| {
                    set_awaiting(m, &steps, now, notify.then_some(owner.as_str()));
                    Ok(())
                })
                .await?;
            }
            mr.awaiting = left;
            return Ok(None);
        }
        (svc.run_status(run).await?, plan)
    } else {
        let (run_status, plan) = futures_util::future::join(svc.run_status(run), svc.plan(run)).await;
        (run_status?, plan?)
    }))
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
