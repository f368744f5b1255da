//! `clawdtalk schedule call|sms|get|cancel|list`.
//!
//! Scheduling itself lives in [`schedule`]: it validates a
//! [`ScheduleRequest`] completely (nothing is sent on bad input) and returns
//! the created event, so other commands (mission bookkeeping, workflows) can
//! reuse it and record what it returns.

use serde_json::json;

use crate::api::models::ScheduledEvent;
use crate::api::scheduled::{self, Channel, NewScheduledEvent};
use crate::cli::schedule::{
    ScheduleCallArgs, ScheduleCommand, ScheduleListArgs, ScheduleSmsArgs, ScheduleTarget, ScheduledEventRef,
};
use crate::error::{Error, Result};
use crate::output::{Outcome, Table};
use crate::validate;

use super::support::check_ids;
use super::Context;

pub async fn run(ctx: &Context, cmd: ScheduleCommand) -> Result<Outcome> {
    match cmd {
        ScheduleCommand::Call(a) => call(ctx, a).await,
        ScheduleCommand::Sms(a) => sms(ctx, a).await,
        ScheduleCommand::Get(a) => get(ctx, a).await,
        ScheduleCommand::Cancel(a) => cancel(ctx, a).await,
        ScheduleCommand::List(a) => list(ctx, a).await,
    }
}

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
    /// (off with `--no-track`); see [`super::workflow::resolve_schedule`].
    pub track: bool,
}

impl ScheduleRequest {
    /// A request from the noun-verb flags.
    pub fn from_target(t: ScheduleTarget, channel: Channel) -> Self {
        ScheduleRequest {
            assistant_id: t.assistant.unwrap_or_default(),
            channel,
            to: t.to,
            from: t.from.unwrap_or_default(),
            at: t.at,
            mission_id: t.mission_id,
            run_id: t.run_id,
            step_id: t.step,
            mission: t.mission,
            track: !t.no_track,
        }
    }

    /// Check everything and build the event to send: ids plain, numbers
    /// E.164 and not emergency/short numbers, the time RFC 3339 (or
    /// relative) and at least 60 s after `now`, an SMS with text, and a run
    /// id whenever a mission id or step is given.
    pub fn prepare(&self, now: chrono::DateTime<chrono::Utc>) -> Result<NewScheduledEvent> {
        check_ids(&[("ASSISTANT_ID", &self.assistant_id)])?;
        for (arg, v) in [("MISSION_ID", &self.mission_id), ("RUN_ID", &self.run_id), ("STEP_ID", &self.step_id)] {
            if let Some(v) = v {
                check_ids(&[(arg, v)])?;
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
        let to = validate::phone("TO", &self.to)?;
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

/// Validate and schedule one call or SMS; returns the created event and
/// notes for stderr. A request for a mission known to the state file is
/// completed from it (`--mission`) and, unless `track` is off, recorded in
/// the mission's memory and logged to its run (a failure there is a note:
/// the event is scheduled either way).
pub async fn schedule(ctx: &Context, req: &ScheduleRequest) -> Result<(ScheduledEvent, Vec<String>)> {
    let mut req = req.clone();
    let (tracked, mut notes) = super::workflow::resolve_schedule(ctx, &mut req).await?;
    for (arg, v) in [("--assistant", &req.assistant_id), ("--from", &req.from)] {
        if v.is_empty() {
            return Err(Error::usage(format!(
                "{arg} is required (or --mission SLUG to take it from the mission in the state file)"
            )));
        }
    }
    let event = req.prepare(ctx.now())?;
    let created = scheduled::create(&ctx.client()?, &req.assistant_id, &event).await?;
    if let Some(slug) = tracked {
        notes.extend(super::workflow::track_scheduled(ctx, &slug, &req.assistant_id, &event, &created).await);
    }
    Ok((created, notes))
}

/// [`schedule`], then its outcome (`Scheduled call: <id>`) with the notes.
pub async fn schedule_and_report(ctx: &Context, req: ScheduleRequest) -> Result<Outcome> {
    let (e, notes) = schedule(ctx, &req).await?;
    let mut o = scheduled_outcome(&e, &req.channel);
    o.notes.extend(notes);
    Ok(o)
}

/// The outcome of a scheduling: `Scheduled call: <id>` / `Scheduled SMS: <id>`.
pub fn scheduled_outcome(e: &ScheduledEvent, channel: &Channel) -> Outcome {
    let what = match channel {
        Channel::Call => "call",
        Channel::Sms(_) => "SMS",
    };
    Outcome::data(e).line(format!("Scheduled {what}: {}", e.id))
}

/// `schedule call --assistant --to --from --at [--mission-id --run-id] [--step]`.
pub async fn call(ctx: &Context, a: ScheduleCallArgs) -> Result<Outcome> {
    schedule_and_report(ctx, ScheduleRequest::from_target(a.target, Channel::Call)).await
}

/// `schedule sms --assistant --to --from --at --text [--mission-id --run-id] [--step]`.
pub async fn sms(ctx: &Context, a: ScheduleSmsArgs) -> Result<Outcome> {
    schedule_and_report(ctx, ScheduleRequest::from_target(a.target, Channel::Sms(a.text))).await
}

/// One line as telnyx_api.py printed it:
/// `Status: s[, call_status: c][, conversation_id: x][, retry_count: n]`.
pub fn status_line(e: &ScheduledEvent) -> String {
    let mut parts = vec![format!("Status: {}", e.status.as_deref().unwrap_or("unknown"))];
    if let Some(c) = e.call_status.as_deref().filter(|c| !c.is_empty()) {
        parts.push(format!("call_status: {c}"));
    }
    if let Some(c) = e.conversation_id.as_deref().filter(|c| !c.is_empty()) {
        parts.push(format!("conversation_id: {c}"));
    }
    if e.retry_count > 0 {
        parts.push(format!("retry_count: {}", e.retry_count));
    }
    parts.join(", ")
}

/// `schedule get AID EID` → the status line.
pub async fn get(ctx: &Context, a: ScheduledEventRef) -> Result<Outcome> {
    check_ids(&[("ASSISTANT_ID", &a.assistant_id), ("EVENT_ID", &a.event_id)])?;
    let e = scheduled::get(&ctx.client()?, &a.assistant_id, &a.event_id).await?;
    let line = status_line(&e);
    Ok(Outcome::data(&e).line(line))
}

/// `schedule cancel AID EID` → `Deleted scheduled event: <eid>`.
pub async fn cancel(ctx: &Context, a: ScheduledEventRef) -> Result<Outcome> {
    check_ids(&[("ASSISTANT_ID", &a.assistant_id), ("EVENT_ID", &a.event_id)])?;
    scheduled::cancel(&ctx.client()?, &a.assistant_id, &a.event_id).await?;
    Ok(Outcome::data(json!({"id": a.event_id, "assistant_id": a.assistant_id, "cancelled": true}))
        .line(format!("Deleted scheduled event: {}", a.event_id)))
}

/// `schedule list AID` → a table of the assistant's scheduled events.
pub async fn list(ctx: &Context, a: ScheduleListArgs) -> Result<Outcome> {
    check_ids(&[("ASSISTANT_ID", &a.assistant_id)])?;
    let es = scheduled::list(&ctx.client()?, &a.assistant_id).await?;
    let mut t = Table::new(["ID", "CHANNEL", "STATUS", "CALL_STATUS", "SCHEDULED_AT", "TO"]);
    for e in &es {
        let cell = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        t.row([
            e.id.clone(),
            cell(&e.channel),
            cell(&e.status),
            cell(&e.call_status),
            cell(&e.scheduled_at),
            cell(&e.to),
        ]);
    }
    let n = es.len();
    Ok(Outcome::data(&es).table(t).note(format!("{n} scheduled events")))
}
