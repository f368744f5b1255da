//! Stages 2–4 of the executor's order (see the module doc of
//! [`super`]): write the decision, send it to the service, then settle,
//! save the result and archive. Each stage only starts once the one before
//! went through, which is what makes a crash at any point recoverable.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use super::{parse_time, set_awaiting, update_mission, MissionReport, PollOptions, Work, AWAITING, OUTBOX};
use crate::config::mask_phone;
use crate::error::{Error, Result};
use crate::lifecycle::engine::{adopt_retry, Decision, Finish, Remote, RetryRequest};
use crate::lifecycle::notify;
use crate::lifecycle::record::{FAILED_TARGETS, INSIGHTS, RESULT};
use crate::lifecycle::service::{RunRef, Service};
use crate::state::{MissionState, ScheduledEvent, State, StateStore};

/// Apply one mission's decision; returns how many of its events are still
/// unsettled.
pub(super) async fn apply<S: Service>(
    svc: &S,
    store: &StateStore,
    w: &Work,
    run: &RunRef,
    mut d: Decision,
    opts: &PollOptions,
    mr: &mut MissionReport,
) -> Result<usize> {
    let notify = opts.notify.is_some();
    write_decision(store, &w.slug, &mut d, notify).await?;
    let sent = send_remote(svc, store, w, run, &mut d, opts, mr).await?;
    settle(store, w, &d, sent, notify, mr).await
}

/// Stage 2: records, insights, failed targets and retry intents, written
/// before anything is sent (with `notify`, a report owed per failed target).
async fn write_decision(store: &StateStore, slug: &str, d: &mut Decision, notify: bool) -> Result<()> {
    if d.records.is_empty() && d.insights.is_empty() && d.failed_targets.is_empty() {
        return Ok(());
    }
    let (recs, ins, failed) =
        (std::mem::take(&mut d.records), std::mem::take(&mut d.insights), std::mem::take(&mut d.failed_targets));
    let owner = slug.to_string();
    update_mission(store, slug, move |m, now| {
        m.put_scheduled_events(&recs, now)?;
        if notify {
            notify::owe_failed_targets(m, &owner, &failed, now);
        }
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
    .await
}

/// What stage 3 got through.
struct Sent {
    /// Run events that could not be logged (kept in the outbox).
    unsent: Vec<Value>,
    /// Events cancelled on the service.
    cancelled: Vec<String>,
    /// The service change that failed; the ones after it were not sent.
    step_error: Option<Error>,
}

/// Stage 3: the service. Run events left over from an earlier poll go
/// first. A step change's own run event (the Log right after its SetStep)
/// is sent only once the step was set: a poll that stops before recomputes
/// the change and logs it then, so it is never logged twice.
async fn send_remote<S: Service>(
    svc: &S,
    store: &StateStore,
    w: &Work,
    run: &RunRef,
    d: &mut Decision,
    opts: &PollOptions,
    mr: &mut MissionReport,
) -> Result<Sent> {
    let conc = opts.concurrency.max(1);
    let mut logs: Vec<Value> = w.outbox.clone();
    let step_logs = split_step_logs(&mut d.remote, &mut logs);
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
                let aid = assistant_id.clone().or_else(|| w.assistant_id.clone()).unwrap_or_default();
                svc.cancel_event(&aid, event_id).await.map(|()| cancelled.push(event_id.clone()))
            }
            Remote::Retry(req) => {
                if retry_now.is_none() {
                    retry_now = Some(svc.now().await?);
                }
                let now = retry_now.unwrap_or_else(Utc::now);
                send_retry(svc, store, w, run, req, now, opts, mr).await.map(|u| unsent.extend(u))
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
    Ok(Sent { unsent, cancelled, step_error })
}

/// Move the decision's run events into `logs`, except those that belong to
/// a step change: returned with the index of their SetStep.
fn split_step_logs(remote: &mut [Remote], logs: &mut Vec<Value>) -> Vec<(usize, Value)> {
    let mut step_logs: Vec<(usize, Value)> = Vec::new();
    let mut after_step = false;
    for (i, a) in remote.iter_mut().enumerate() {
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
    step_logs
}

/// Schedule one retry (filling in the mission's assistant and caller id)
/// and log it; returns its run event when that could not be logged.
#[allow(clippy::too_many_arguments)]
async fn send_retry<S: Service>(
    svc: &S,
    store: &StateStore,
    w: &Work,
    run: &RunRef,
    req: &RetryRequest,
    now: DateTime<Utc>,
    opts: &PollOptions,
    mr: &mut MissionReport,
) -> Result<Vec<Value>> {
    let mut req = req.clone();
    req.assistant_id = req.assistant_id.or_else(|| w.assistant_id.clone());
    req.from = req.from.or_else(|| w.agent_phone.clone());
    let line = retry(svc, store, w, run, &req, now, opts).await?;
    mr.retries_scheduled += 1;
    mr.changes.push(line.clone());
    let payload = json!({"retry_of": req.of_event, "attempt": req.attempt, "reason": req.reason});
    Ok(send_logs(svc, run, vec![log_entry("custom", &line, req.step_id.as_deref(), payload)], 1).await)
}

/// Stage 4: settle, result, archive (only when every service change went
/// through). Returns the unsettled events left, or the service error.
async fn settle(
    store: &StateStore,
    w: &Work,
    d: &Decision,
    sent: Sent,
    notify: bool,
    mr: &mut MissionReport,
) -> Result<usize> {
    let Sent { unsent, cancelled, step_error } = sent;
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
    let outbox_changed = !w.outbox.is_empty() || !unsent.is_empty();
    // Unsettled events after this poll (the retries just scheduled included).
    let mut left = w.records.iter().filter(|r| !r.settled).count() + mr.retries_scheduled;
    if !settle.is_empty() || !cancelled.is_empty() || finish.is_some() || outbox_changed || awaiting_changed {
        let slug = w.slug.clone();
        let (ended, still) = store
            .update_async(move |st| {
                let done = Settled { settle, cancelled, unsent, awaiting, finish, notify };
                settle_in_state(st, &slug, done, Utc::now())
            })
            .await?;
        if let Some(status) = ended {
            mr.archived = true;
            mr.ended = status.as_str().map(String::from);
        }
        left = still;
    }
    match step_error {
        Some(e) => Err(e),
        None => Ok(left),
    }
}

/// What stage 4 writes.
struct Settled {
    settle: HashSet<String>,
    cancelled: Vec<String>,
    unsent: Vec<Value>,
    awaiting: Option<Vec<String>>,
    finish: Option<Finish>,
    /// Reports to the agent are on: the changes owe them.
    notify: bool,
}

/// Stage 4 under the state lock: mark records settled or cancelled, keep
/// the outbox and the awaiting marker, and when the mission finished save
/// its result and archive it. Returns the final status when archived, and
/// the unsettled events left.
fn settle_in_state(st: &mut State, slug: &str, s: Settled, now: DateTime<Utc>) -> Result<(Option<Value>, usize)> {
    let Some(m) = st.mission_mut(slug) else {
        return Err(Error::state(format!("mission {slug} left the active state while poll was working on it")));
    };
    let mut recs = m.scheduled_events();
    let mut changed: Vec<ScheduledEvent> = Vec::new();
    for r in recs.iter_mut() {
        let mut c = false;
        if s.settle.contains(&r.event_id) && !r.settled {
            r.settled = true;
            c = true;
        }
        if s.cancelled.contains(&r.event_id) && !r.is_terminal() {
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
    if s.unsent.is_empty() {
        m.remove(OUTBOX);
    } else {
        m.set(OUTBOX, Value::Array(s.unsent));
    }
    match &s.awaiting {
        Some(steps) => set_awaiting(m, steps, now, s.notify.then_some(slug)),
        None => {
            m.remove(AWAITING);
        }
    }
    if let Some(f) = s.finish {
        let (result, fields) = save_result(m, &f, now)?;
        if s.notify {
            notify::owe_finished(m, slug, &result, now);
        }
        return Ok((st.archive(slug, fields, now).map(|_| result["status"].clone()), 0));
    }
    Ok((None, recs.iter().filter(|r| !r.settled).count()))
}

/// Save the mission's final `result` to its memory; returns it and the
/// fields the archived entry gets (`status`, `result_summary`).
fn save_result(m: &mut MissionState, f: &Finish, now: DateTime<Utc>) -> Result<(Value, Map<String, Value>)> {
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
    Ok((result, fields))
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

/// Schedule (or adopt) one retry and record it. Returns the report line.
#[allow(clippy::too_many_arguments)]
async fn retry<S: Service>(
    svc: &S,
    store: &StateStore,
    w: &Work,
    run: &RunRef,
    req: &RetryRequest,
    now: DateTime<Utc>,
    opts: &PollOptions,
) -> Result<String> {
    let (slug, records) = (w.slug.as_str(), &w.records);
    // A campaign target's retry profile (docs/campaigns.md#retry-profiles).
    let rule = w.rules.get(req.step_id.as_deref(), &req.channel, &req.to);
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
            // intent gets a new time (inside a profiled target's window),
            // written before the request is sent.
            let min = now + chrono::Duration::seconds(90);
            if parse_time(&req.scheduled_at).is_none_or(|t| t < min) {
                let at = rule.and_then(|r| r.hours.earliest_slot(&r.zones, min)).unwrap_or(min);
                req.scheduled_at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
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
        rule.map_or(opts.policy.max_retries, |r| crate::campaign::profile::max_retries(r.profile)),
        mask_phone(&req.to),
        req.reason,
        req.scheduled_at
    ))
}
