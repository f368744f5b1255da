//! `clawdtalk schedule call|sms|get|cancel|list`. Scheduling itself, with
//! its bookkeeping, lives in [`crate::ledger::schedule`].

use serde_json::json;

use crate::api::models::ScheduledEvent;
use crate::api::scheduled::{self, Channel};
use crate::cli::schedule::{
    ScheduleCallArgs, ScheduleCommand, ScheduleListArgs, ScheduleSmsArgs, ScheduleTarget, ScheduledEventRef,
};
use crate::error::Result;
use crate::ledger::{self, ScheduleRequest};
use crate::output::{Outcome, Table};

use super::support::{check_ids, claim};
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

impl ScheduleRequest {
    /// A request from the noun-verb flags.
    fn from_target(t: ScheduleTarget, channel: Channel) -> Self {
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
            track: !t.track.no_track,
        }
    }
}

impl From<ScheduleCallArgs> for ScheduleRequest {
    fn from(a: ScheduleCallArgs) -> Self {
        ScheduleRequest::from_target(a.target, Channel::Call)
    }
}

impl From<ScheduleSmsArgs> for ScheduleRequest {
    fn from(a: ScheduleSmsArgs) -> Self {
        ScheduleRequest::from_target(a.target, Channel::Sms(a.text))
    }
}

/// Schedule one call or SMS: see [`ledger::schedule`]. The state file is
/// needed only for `--mission` (one that cannot be located otherwise just
/// means nothing is recorded).
async fn schedule(ctx: &Context, req: ScheduleRequest) -> Result<Outcome> {
    let store = match req.mission {
        Some(_) => Some(ctx.state()?),
        None => ctx.state().ok(),
    };
    // Bad input is refused before anything is sent, on the clock known so
    // far (the local one when there is no sample of the service's yet)...
    ledger::schedule::precheck(store.as_ref(), &req, ctx.now()).await?;
    // ...then a relative `--at` and the 60-second minimum are decided on the
    // service's clock (one cheap request when there is no recent sample).
    let now = ctx.service_now().await;
    ledger::schedule(&|| ctx.client(), store.as_ref(), &claim(ctx), now, &req).await
}

/// `schedule call --assistant --to --from --at [--mission-id --run-id] [--step]`.
pub async fn call(ctx: &Context, a: ScheduleCallArgs) -> Result<Outcome> {
    schedule(ctx, a.into()).await
}

/// `schedule sms --assistant --to --from --at --text [--mission-id --run-id] [--step]`.
pub async fn sms(ctx: &Context, a: ScheduleSmsArgs) -> Result<Outcome> {
    schedule(ctx, a.into()).await
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

/// `schedule cancel AID EID` → `Deleted scheduled event: <eid>`; the
/// mission tracking it records it cancelled ([`ledger::record_cancelled`]).
pub async fn cancel(ctx: &Context, a: ScheduledEventRef) -> Result<Outcome> {
    check_ids(&[("ASSISTANT_ID", &a.assistant_id), ("EVENT_ID", &a.event_id)])?;
    scheduled::cancel(&ctx.client()?, &a.assistant_id, &a.event_id).await?;
    let mut o = Outcome::data(json!({"id": a.event_id, "assistant_id": a.assistant_id, "cancelled": true}))
        .line(format!("Deleted scheduled event: {}", a.event_id));
    if let Ok(store) = ctx.state() {
        match ledger::record_cancelled(&store, &a.assistant_id, &a.event_id, ctx.now()).await {
            Ok(Some(slug)) => {
                o = o.note(format!("Marked cancelled in mission '{slug}' (the next poll updates its step)"))
            }
            Ok(None) => {}
            Err(e) => o = o.note(format!("warning: the event is cancelled but the state file was not updated: {e}")),
        }
    }
    Ok(o)
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
