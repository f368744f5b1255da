//! Scheduled calls and SMS (docs/protocol.md#workflows): the request as the
//! user gave it, completed from the mission in the state file, and the
//! automatic bookkeeping of what was scheduled (recorded in the mission's
//! memory, then logged to its run as a `custom` event).

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::api::events::NewEvent;
use crate::api::models::ScheduledEvent as CreatedEvent;
use crate::api::scheduled::{self, Channel, NewScheduledEvent};
use crate::api::Client;
use crate::error::{Error, Result};
use crate::outbound::Gate;
use crate::output::Outcome;
use crate::state::{
    timestamp, AttemptOutcome, LogClaim, MissionState, ScheduledEvent, StateStore, SCHEDULED_EVENT_LOGS,
};
use crate::validate;

use super::claim::{send_claimed, Claim, OwedEvent};
use super::ClientSource;

/// The agent id put on the run events clawdtalk logs itself.
const BOOKKEEPING_AGENT: &str = "clawdtalk";

/// A call or SMS to schedule, as the user gave it (not yet validated).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRequest {
    pub assistant_id: String,
    pub channel: Channel,
    pub to: String,
    pub from: String,
    /// RFC 3339, or relative like `+5m`.
    pub at: String,
    pub mission_id: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    /// Mission slug or id in the state file (`--mission`): fills the empty
    /// assistant and caller id and the absent mission and run ids.
    pub mission: Option<String>,
    /// Record the event in the mission's memory and log it to the run
    /// (off with `--no-track`); see [`resolve_schedule`].
    pub track: bool,
}

impl ScheduleRequest {
    /// Check everything and build the event to send: ids plain, numbers
    /// E.164 and not emergency/short numbers, the time RFC 3339 (or
    /// relative) and at least 60 s after `now`, an SMS with text, and a run
    /// id whenever a mission id or step is given; the number called or
    /// texted passes the outbound `gate` (not opted out).
    pub fn prepare(&self, now: chrono::DateTime<chrono::Utc>, gate: &Gate) -> Result<NewScheduledEvent> {
        validate::plain_id("ASSISTANT_ID", &self.assistant_id)?;
        for (arg, v) in [("MISSION_ID", &self.mission_id), ("RUN_ID", &self.run_id), ("STEP_ID", &self.step_id)] {
            if let Some(v) = v {
                validate::plain_id(arg, v)?;
            }
        }
        if self.run_id.is_none() && (self.mission_id.is_some() || self.step_id.is_some()) {
            return Err(Error::usage(
                "a mission id or step needs the run id too: pass --mission-id MID --run-id RID (and --step STEP)",
            ));
        }
        if self.run_id.is_some() && self.mission_id.is_none() {
            return Err(Error::usage("--run-id needs --mission-id too"));
        }
        let to = gate.check("TO", &self.to)?;
        let from = validate::phone("FROM", &self.from)?;
        let scheduled_at = validate::when(&self.at, now)?;
        if let Channel::Sms(text) = &self.channel {
            if text.trim().is_empty() {
                return Err(Error::usage("the SMS text is empty; pass the message to send"));
            }
        }
        Ok(NewScheduledEvent {
            channel: self.channel.clone(),
            to,
            from,
            scheduled_at,
            mission_id: self.mission_id.clone(),
            run_id: self.run_id.clone(),
            step_id: self.step_id.clone(),
        })
    }
}

/// Validate and schedule one call or SMS, and say so (`Scheduled call:
/// <id>`, with notes for stderr). A request for a mission known to the
/// state file is completed from it (`--mission`) and, unless `track` is off,
/// recorded in the mission's memory and logged to its run (a failure there
/// is a note: the event is scheduled either way). `store` is `None` when the
/// state file cannot be located (then only `--mission` fails). A number on
/// the opt-out list (`gate`) is refused before anything is sent.
pub async fn schedule(
    client: &impl ClientSource,
    store: Option<&StateStore>,
    claim: &Claim,
    now: DateTime<Utc>,
    req: &ScheduleRequest,
    gate: &Gate,
) -> Result<Outcome> {
    let (req, tracked, mut notes, event) = checked(store, req, now, gate).await?;
    let client = client.client()?;
    let created = scheduled::create(&client, &req.assistant_id, &event).await?;
    if let (Some(slug), Some(store)) = (tracked, store) {
        let done = Scheduled { slug: &slug, assistant_id: &req.assistant_id, sent: &event, created: &created };
        notes.extend(track_scheduled(&client, store, claim, now, done).await);
    }
    let mut o = scheduled_outcome(&created, &req.channel);
    o.notes.extend(notes);
    Ok(o)
}

/// Check a request completely without sending anything (the state file is
/// read for `--mission`): what [`schedule`] refuses, this refuses first.
/// A command runs it on the clock it already knows before it takes a
/// sample of the service's clock (one request), so bad input sends nothing.
pub async fn precheck(
    store: Option<&StateStore>,
    req: &ScheduleRequest,
    now: DateTime<Utc>,
    gate: &Gate,
) -> Result<()> {
    checked(store, req, now, gate).await.map(|_| ())
}

/// The request completed from the state file, where it is recorded, notes,
/// and the event to send; or why not.
async fn checked(
    store: Option<&StateStore>,
    req: &ScheduleRequest,
    now: DateTime<Utc>,
    gate: &Gate,
) -> Result<(ScheduleRequest, Option<String>, Vec<String>, NewScheduledEvent)> {
    let mut req = req.clone();
    let (tracked, notes) = resolve_schedule(store, &mut req).await?;
    for (arg, v) in [("--assistant", &req.assistant_id), ("--from", &req.from)] {
        if v.is_empty() {
            return Err(Error::usage(format!(
                "{arg} is required (or --mission SLUG to take it from the mission in the state file)"
            )));
        }
    }
    let event = req.prepare(now, gate)?;
    Ok((req, tracked, notes, event))
}

/// The outcome of a scheduling: `Scheduled call: <id>` / `Scheduled SMS: <id>`.
pub fn scheduled_outcome(e: &CreatedEvent, channel: &Channel) -> Outcome {
    let what = match channel {
        Channel::Call => "call",
        Channel::Sms(_) => "SMS",
    };
    Outcome::data(e).line(format!("Scheduled {what}: {}", e.id))
}

/// Complete a schedule request from the state file and decide where the
/// event is recorded. With `--mission KEY` (slug or mission id; an unknown
/// one is an error before anything is sent) the empty assistant and caller
/// id and the absent mission and run ids come from that mission; explicit
/// ids that are not the mission's are refused (the event would be recorded
/// for one run and scheduled for another), unless `--no-track`. Without
/// it, a request carrying a mission id and run id is recorded in the active
/// mission with that mission id *and* run id, when the state file has one
/// (a state file that cannot be read only means nothing is recorded; a
/// mission whose run differs is left alone, with a note). Returns the slug
/// to record in, or `None` (also always with `--no-track`), and notes.
pub async fn resolve_schedule(
    store: Option<&StateStore>,
    req: &mut ScheduleRequest,
) -> Result<(Option<String>, Vec<String>)> {
    if let Some(key) = req.mission.clone() {
        let Some(store) = store else { return Err(Error::state("the state file cannot be located")) };
        let state = store.read_async().await?;
        let slug = state.active_slug(&key)?;
        let Some(m) = state.mission(&slug) else { return Err(state.unknown(&key)) };
        let missing = |what: &str, flag: &str| {
            Error::usage(format!(
                "mission '{slug}' has no {what} in the state file: pass {flag}, or run \
                 `clawdtalk setup-agent {slug} NAME INSTRUCTIONS` first"
            ))
        };
        if req.assistant_id.is_empty() {
            req.assistant_id = m.assistant_id().ok_or_else(|| missing("assistant_id", "--assistant"))?;
        }
        if req.from.is_empty() {
            req.from = m.agent_phone().ok_or_else(|| missing("agent_phone", "--from"))?;
        }
        if req.mission_id.is_none() && req.run_id.is_none() {
            req.mission_id = m.mission_id();
            req.run_id = m.run_id();
        } else if req.track && (req.mission_id != m.mission_id() || req.run_id != m.run_id()) {
            let show = |v: Option<String>| v.unwrap_or_else(|| "none".into());
            return Err(Error::usage(format!(
                "mission '{slug}' has mission id {} and run id {} in the state file, not {} and {}: drop \
                 --mission-id/--run-id (they come from the mission), or pass --no-track",
                show(m.mission_id()),
                show(m.run_id()),
                show(req.mission_id.clone()),
                show(req.run_id.clone())
            )));
        }
        return Ok((req.track.then_some(slug), Vec::new()));
    }
    let (true, Some(mid), Some(rid)) = (req.track, &req.mission_id, &req.run_id) else { return Ok((None, Vec::new())) };
    let Some(store) = store else { return Ok((None, Vec::new())) };
    let Ok(state) = store.read_async().await else { return Ok((None, Vec::new())) };
    let same_mission: Vec<(&str, &MissionState)> =
        state.missions().filter(|(_, m)| m.mission_id().as_deref() == Some(mid.as_str())).collect();
    if let Some((slug, _)) = same_mission.iter().find(|(_, m)| m.run_id().as_deref() == Some(rid.as_str())) {
        return Ok((Some(slug.to_string()), Vec::new()));
    }
    let notes = same_mission
        .iter()
        .map(|(slug, m)| {
            format!(
                "note: not recorded in mission '{slug}': its run in the state file is {}, not {rid} (use \
                 --mission {slug} to schedule for its run)",
                m.run_id().unwrap_or_else(|| "not set".into())
            )
        })
        .collect();
    Ok((None, notes))
}

/// What was just scheduled, for [`track_scheduled`].
#[derive(Debug, Clone, Copy)]
pub struct Scheduled<'a> {
    /// The mission to record it in.
    pub slug: &'a str,
    pub assistant_id: &'a str,
    /// The event as sent.
    pub sent: &'a NewScheduledEvent,
    /// The event as the service created it.
    pub created: &'a CreatedEvent,
}

/// Record a scheduled call or SMS in the mission's memory (first, so it is
/// never lost), then log the `custom` run event "Scheduled call
/// event_id=…"; a failed log is kept (`logged: false`) and retried by the
/// next schedule or complete. Never fails: the event is scheduled either
/// way, so problems are returned as notes for stderr.
pub async fn track_scheduled(
    client: &Client,
    store: &StateStore,
    claim: &Claim,
    now: DateTime<Utc>,
    done: Scheduled<'_>,
) -> Vec<String> {
    let Scheduled { slug, assistant_id, sent, created } = done;
    let (channel, text) = match &sent.channel {
        Channel::Call => ("call", None),
        Channel::Sms(t) => ("sms", Some(t.clone())),
    };
    let ev = ScheduledEvent {
        event_id: created.id.clone(),
        assistant_id: Some(assistant_id.to_string()),
        channel: channel.into(),
        to: sent.to.clone(),
        scheduled_at: sent.scheduled_at.clone(),
        step_id: sent.step_id.clone(),
        text,
        status: created.status.clone().unwrap_or_else(|| "pending".into()),
        from: Some(sent.from.clone()),
        mission_id: sent.mission_id.clone(),
        run_id: sent.run_id.clone(),
        logged: Some(false),
        // Whatever the create reply says is stored as it is; poll decides
        // only on final facts and fetches the event until it has them
        // (`ScheduledEvent::has_final_facts`), so a reply that already says
        // `failed` still gets its retry and an answered one its insights.
        call_status: created.call_status.clone(),
        conversation_id: created.conversation_id.clone(),
        ..ScheduledEvent::default()
    };
    match record_and_log(client, store, claim, now, slug, ev).await {
        Ok(notes) => notes,
        Err(e) => vec![format!("warning: the event is scheduled but could not be recorded in the state file: {e}")],
    }
}

/// Under the lock: record `ev` already claimed by this process (so no
/// concurrent command sends its run event) and claim the mission's other
/// owed records; then send them all and settle the claims.
async fn record_and_log(
    client: &Client,
    store: &StateStore,
    claim: &Claim,
    now: DateTime<Utc>,
    slug: &str,
    ev: ScheduledEvent,
) -> Result<Vec<String>> {
    let (s, c, mut rec) = (slug.to_string(), claim.clone(), ev.clone());
    let claimed = store
        .update_async(move |st| {
            if st.mission(&s).is_none() {
                return Err(st.unknown(&s));
            }
            let Some(m) = st.mission_mut(&s) else { return Ok(None) };
            let (Some(mid), Some(rid)) = (m.mission_id(), m.run_id()) else {
                m.upsert_scheduled_event(&rec, now)?;
                return Ok(None);
            };
            let until = c.until(now, 1 + m.scheduled_events().iter().filter(|e| e.claimable(now)).count());
            let retries = m.claim_unlogged(&c.owner, now, until)?;
            rec.log_claim = Some(LogClaim { owner: c.owner.clone(), until: timestamp(until) });
            m.upsert_scheduled_event(&rec, now)?;
            Ok(Some(((mid, rid), rec, retries)))
        })
        .await?;
    let mut notes = vec![format!("Recorded {} in mission '{slug}' memory (scheduled_events)", ev.event_id)];
    match claimed {
        Some((run, rec, retries)) => {
            notes.extend(send_scheduled(client, store, slug, claim, &run, vec![rec], retries, now).await)
        }
        None => notes.push(format!("mission '{slug}' has no run id in the state file: no run event was logged")),
    }
    Ok(notes)
}

/// After `schedule cancel AID EID` (or `cancel-scheduled-event`) went
/// through: the active mission tracking that event records it cancelled
/// (status `cancelled`, outcome decided), so it no longer waits for its
/// original time. It is left for the next poll to settle, which recomputes
/// its step and the run from it without asking the service about the
/// event. Returns the mission's slug, None when no mission tracks it.
pub async fn record_cancelled(
    store: &StateStore,
    assistant_id: &str,
    event_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let (aid, eid) = (assistant_id.to_string(), event_id.to_string());
    store
        .update_async(move |st| {
            let slugs: Vec<String> = st.missions().map(|(s, _)| s.to_string()).collect();
            for slug in slugs {
                let Some(m) = st.mission_mut(&slug) else { continue };
                let ours = |e: &ScheduledEvent| {
                    e.event_id == eid && e.assistant_id.as_deref().is_none_or(|a| a == aid) && !e.settled
                };
                if !m.scheduled_events().iter().any(ours) {
                    continue;
                }
                m.update_scheduled_event(&eid, now, |e| {
                    e.status = "cancelled".into();
                    e.outcome = Some(AttemptOutcome::Cancelled);
                })?;
                return Ok(Some(slug));
            }
            Ok(None)
        })
        .await
}

/// Log the run event for each of the mission's scheduled events whose
/// logging failed before (`logged: false`) and that no live command is
/// logging right now. Returns warnings for those that fail again (they stay
/// owed for the next command).
pub async fn retry_unlogged(
    client: &Client,
    store: &StateStore,
    claim: &Claim,
    slug: &str,
    now: DateTime<Utc>,
) -> Vec<String> {
    // Most of the time nothing is owed: look before taking the lock (and
    // rewriting the file).
    let Ok(state) = store.read_async().await else { return Vec::new() };
    let owed = state.mission(slug).is_some_and(|m| m.scheduled_events().iter().any(|e| e.claimable(now)));
    if !owed {
        return Vec::new();
    }
    let (s, c) = (slug.to_string(), claim.clone());
    let claimed = store
        .update_async(move |st| {
            let Some(m) = st.mission_mut(&s) else { return Ok(None) };
            let (Some(mid), Some(rid)) = (m.mission_id(), m.run_id()) else { return Ok(None) };
            let until = c.until(now, m.scheduled_events().iter().filter(|e| e.claimable(now)).count());
            Ok(Some(((mid, rid), m.claim_unlogged(&c.owner, now, until)?)))
        })
        .await;
    match claimed {
        Ok(Some((run, retries))) => send_scheduled(client, store, slug, claim, &run, Vec::new(), retries, now).await,
        Ok(None) => Vec::new(),
        Err(e) => vec![format!("warning: could not retry the run events still owed for mission '{slug}': {e}")],
    }
}

/// Who retries a scheduled event's run event that is still owed.
const SCHEDULED_RETRIED_BY: &str = "the next schedule or complete for this mission";

/// Send the run events of the scheduled events this process claimed
/// ([`send_claimed`]): `fresh` were scheduled just now (never sent).
#[allow(clippy::too_many_arguments)]
async fn send_scheduled(
    client: &Client,
    store: &StateStore,
    slug: &str,
    claim: &Claim,
    state_run: &(String, String),
    fresh: Vec<ScheduledEvent>,
    retries: Vec<ScheduledEvent>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let owed = |ev: &ScheduledEvent, fresh: bool| OwedEvent {
        id: ev.event_id.clone(),
        flag: SCHEDULED_EVENT_LOGS.logs[0].flag,
        run: run_of(ev, state_run),
        event: scheduled_event(ev),
        fresh,
    };
    let mut all: Vec<OwedEvent> = retries.iter().map(|e| owed(e, false)).collect();
    all.extend(fresh.iter().map(|e| owed(e, true)));
    send_claimed(client, store, slug, &SCHEDULED_EVENT_LOGS, claim, all, SCHEDULED_RETRIED_BY, now).await
}

/// The `custom` run event for `ev`.
fn scheduled_event(ev: &ScheduledEvent) -> NewEvent {
    NewEvent {
        kind: "custom".into(),
        summary: scheduled_summary(ev),
        agent_id: Some(BOOKKEEPING_AGENT.into()),
        step_id: ev.step_id.clone(),
        payload: Some(json!({"event_id": ev.event_id, "channel": ev.channel, "to": ev.to,
            "scheduled_at": ev.scheduled_at, "assistant_id": ev.assistant_id})),
    }
}

/// The run event summary for a scheduled event: `Scheduled call event_id=…`.
pub fn scheduled_summary(ev: &ScheduledEvent) -> String {
    let what = if ev.channel == "sms" { "SMS" } else { "call" };
    format!("Scheduled {what} event_id={}", ev.event_id)
}

/// The mission and run a record's run event goes to: the ones it was
/// scheduled with, else the mission's in the state file.
fn run_of(ev: &ScheduledEvent, state_run: &(String, String)) -> (String, String) {
    match (&ev.mission_id, &ev.run_id) {
        (Some(m), Some(r)) => (m.clone(), r.clone()),
        _ => state_run.clone(),
    }
}
