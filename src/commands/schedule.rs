//! `clawdtalk schedule call|sms|get|cancel|list`. Scheduling itself, with
//! its bookkeeping, lives in [`crate::ledger::schedule`].

use serde_json::json;

use crate::api::models::ScheduledEvent;
use crate::api::scheduled::{self, Channel};
use crate::campaign::{batch as campaign, plan, report, targets, window};
use crate::cli::schedule::{
    BatchChannel, ScheduleBatchArgs, ScheduleCallArgs, ScheduleCommand, ScheduleListArgs, ScheduleSmsArgs,
    ScheduleTarget, ScheduledEventRef,
};
use crate::error::{Error, Result};
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
        ScheduleCommand::Batch(a) => batch(ctx, a).await,
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
    // The number passes the one outbound gate (docs/optout.md).
    let gate = ctx.gate().await?;
    ledger::schedule::precheck(store.as_ref(), &req, ctx.now(), &gate).await?;
    // ...then a relative `--at` and the 60-second minimum are decided on the
    // service's clock (one cheap request when there is no recent sample).
    let now = ctx.service_now().await;
    ledger::schedule(&|| ctx.client(), store.as_ref(), &claim(ctx), now, &req, &gate).await
}

/// `schedule call --assistant --to --from --at [--mission-id --run-id] [--step]`.
pub async fn call(ctx: &Context, a: ScheduleCallArgs) -> Result<Outcome> {
    schedule(ctx, a.into()).await
}

/// `schedule sms --assistant --to --from --at --text [--mission-id --run-id] [--step]`.
pub async fn sms(ctx: &Context, a: ScheduleSmsArgs) -> Result<Outcome> {
    schedule(ctx, a.into()).await
}

/// `schedule batch --mission SLUG --file PATH [...]` (docs/campaigns.md):
/// everything is checked first (bad input sends nothing), then
/// `--dry-run` prints the plan, or [`campaign::run`] schedules it.
pub async fn batch(ctx: &Context, a: ScheduleBatchArgs) -> Result<Outcome> {
    let store = ctx.state()?;
    let (mut b, start) = batch_request(ctx, &store, &a).await?;
    let what = if a.channel == BatchChannel::Sms { "SMS" } else { "call" };
    // Bad input was refused above; `--start` and the slots are decided on
    // the service's clock (a dry run may read it: it creates nothing).
    let now = ctx.service_now().await;
    b.options.start = crate::validate::when_time(&start, now)?;
    if a.dry_run {
        let entries = campaign::dry_run(&store, &b, now).await?;
        return Ok(report::outcome(&entries, None, what));
    }
    let (entries, done) = campaign::run(&ctx.client()?, &store, &claim(ctx), &b, now).await?;
    if let Some(e) = report::journal_entry("campaign.scheduled", &b.slug, &done) {
        ctx.record(e).await;
    }
    Ok(report::outcome(&entries, Some(&done), what))
}

/// The batch from the flags, the mission and the file (the start is set
/// by the caller on the clock it uses); returns `--start` as given.
async fn batch_request(
    ctx: &Context,
    store: &crate::state::StateStore,
    a: &ScheduleBatchArgs,
) -> Result<(campaign::Batch, String)> {
    let usage = |flag: &str, e: String| Error::usage(format!("{flag}: {e}"));
    let hours = window::Hours {
        window: a.window.parse().map_err(|e| usage("--window", e))?,
        days: a.days.parse().map_err(|e| usage("--days", e))?,
    };
    let default_tz = match &a.default_tz {
        Some(z) => Some(z.trim().parse().map_err(|_| usage("--default-tz", format!("{z:?} is not an IANA zone")))?),
        None => None,
    };
    let retry_profile = match &a.retry_profile {
        Some(p) => Some(p.parse().map_err(|e| usage("--retry-profile", e))?),
        None => None,
    };
    let channel = match (a.channel, &a.text) {
        (BatchChannel::Sms, Some(t)) if !t.trim().is_empty() => Channel::Sms(t.clone()),
        (BatchChannel::Sms, _) => return Err(Error::usage("--channel sms needs --text (the message to send)")),
        (BatchChannel::Call, Some(_)) => return Err(Error::usage("--text goes with --channel sms")),
        (BatchChannel::Call, None) => Channel::Call,
    };
    if let Some(step) = &a.step {
        crate::validate::plain_id("STEP_ID", step)?;
    }
    let mut req = ScheduleRequest {
        assistant_id: String::new(),
        channel: channel.clone(),
        to: String::new(),
        from: String::new(),
        at: String::new(),
        mission_id: None,
        run_id: None,
        step_id: a.step.clone(),
        mission: Some(a.mission.clone()),
        track: true,
    };
    let (slug, _) = ledger::schedule::resolve_schedule(Some(store), &mut req).await?;
    let path = a.file.clone();
    let text = crate::task::blocking(move || {
        std::fs::read_to_string(&path).map_err(|e| Error::file(format!("cannot read {}: {e}", path.display())))
    })
    .await?;
    let cols = targets::Columns { timezone: a.tz_column.clone() };
    let rows = targets::parse(&a.file.display().to_string(), &text, &cols)?;
    let cap = ctx.daily_cap()?;
    let options = plan::Options {
        hours,
        default_tz,
        channel: if a.channel == BatchChannel::Sms { "sms" } else { "call" }.into(),
        step: a.step.clone(),
        concurrency: a.concurrency,
        stagger: chrono::Duration::from_std(a.stagger).map_err(|e| usage("--stagger", e.to_string()))?,
        start: ctx.now(),
        max_calls: a.max_calls,
        retry_profile,
        // Counted from the state file when planning.
        cap: None,
        gate: ctx.gate().await?,
    };
    let b = campaign::Batch {
        slug: slug.unwrap_or_else(|| a.mission.clone()),
        assistant_id: req.assistant_id,
        from: req.from,
        mission_id: req.mission_id,
        run_id: req.run_id,
        channel,
        source: campaign::Source::Rows(rows),
        options,
        daily_cap: cap,
    };
    Ok((b, a.start.clone()))
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

#[cfg(test)]
mod service_tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{parse, text, Harness, Reply};

    fn cmd(words: &[&str]) -> ScheduleCommand {
        match parse(&[&["schedule"], words].concat()) {
            crate::cli::Command::Schedule(c) => c,
            other => panic!("not a schedule command: {other:?}"),
        }
    }

    const CALL: &[&str] = &[
        "call",
        "--assistant",
        "a1",
        "--to",
        "+15551234567",
        "--from",
        "+15550001111",
        "--at",
        "2026-01-01T12:05:00Z",
    ];

    fn created(h: &Harness) {
        h.service.on(
            "POST",
            "/v1/assistants/a1/events",
            vec![Reply::ok(json!({"data": {"id": "e1", "status": "pending"}}))],
        );
    }

    #[tokio::test]
    async fn call_posts_the_event_and_names_it() {
        let h = Harness::start().await;
        created(&h);
        let o = run(&h.ctx(), cmd(CALL)).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/assistants/a1/events");
        assert_eq!(
            r.json(),
            json!({"channel": "call", "to": "+15551234567", "from": "+15550001111", "scheduled_at": "2026-01-01T12:05:00Z"})
        );
        assert_eq!(text(&o), "Scheduled call: e1\n");
    }

    #[tokio::test]
    async fn sms_for_a_mission_takes_its_ids_records_the_event_and_logs_it_to_the_run() {
        let h = Harness::start().await;
        h.seed(
            "roof",
            json!({"mission_id": "m1", "run_id": "r1", "assistant_id": "a1", "agent_phone": "+15550001111"}),
        );
        created(&h);
        let words =
            ["sms", "--mission", "roof", "--to", "+15551234567", "--at", "+10m", "--step", "texts", "--text", "Hi Bob"];
        let o = run(&h.ctx(), cmd(&words)).await.unwrap();
        assert_eq!(h.service.lines(), ["POST /v1/assistants/a1/events", "POST /v1/missions/m1/runs/r1/events"]);
        let reqs = h.service.requests();
        assert_eq!(
            reqs[0].json(),
            json!({"channel": "sms", "to": "+15551234567", "from": "+15550001111",
                "scheduled_at": "2026-01-01T12:10:00Z", "text_body": "Hi Bob",
                "mission_id": "m1", "run_id": "r1", "step_id": "texts"})
        );
        let logged = reqs[1].json();
        assert_eq!(logged["type"], "custom");
        assert!(logged["summary"].as_str().is_some_and(|s| s.contains("e1")), "{logged}");
        assert_eq!(text(&o), "Scheduled SMS: e1\n");
        let st = h.state();
        let events = st.mission("roof").unwrap().scheduled_events();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].event_id.as_str(), events[0].logged), ("e1", Some(true)));
    }

    #[tokio::test]
    async fn a_time_less_than_a_minute_ahead_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let mut words = CALL.to_vec();
        words[8] = "2026-01-01T12:00:30Z";
        let e = run(&h.ctx(), cmd(&words)).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert_eq!(e.exit_code(), 2);
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn a_refused_schedule_records_nothing_in_the_mission() {
        let h = Harness::start().await;
        h.seed(
            "roof",
            json!({"mission_id": "m1", "run_id": "r1", "assistant_id": "a1", "agent_phone": "+15550001111"}),
        );
        h.service.on("POST", "/v1/assistants/a1/events", vec![Reply::error(422, "number not verified")]);
        let e = run(&h.ctx(), cmd(&["call", "--mission", "roof", "--to", "+15551234567", "--at", "+10m"]))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Api { status: 422, .. }), "{e:?}");
        assert_eq!(h.service.lines(), ["POST /v1/assistants/a1/events"]);
        assert!(h.state().mission("roof").unwrap().scheduled_events().is_empty());
    }

    #[tokio::test]
    async fn get_shows_the_status_line() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/assistants/a1/events/e1",
            vec![Reply::ok(json!({"data": {"id": "e1", "status": "completed", "call_status": "completed",
                "conversation_id": "c1"}}))],
        );
        let o = run(&h.ctx(), cmd(&["get", "a1", "e1"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/assistants/a1/events/e1");
        assert_eq!(text(&o), "Status: completed, call_status: completed, conversation_id: c1\n");
    }

    #[tokio::test]
    async fn cancel_deletes_the_event() {
        let h = Harness::start().await;
        let o = run(&h.ctx(), cmd(&["cancel", "a1", "e1"])).await.unwrap();
        assert_eq!(h.service.single().line(), "DELETE /v1/assistants/a1/events/e1");
        assert_eq!(text(&o), "Deleted scheduled event: e1\n");
        assert_eq!(o.data["cancelled"], true);
    }

    #[tokio::test]
    async fn cancel_of_a_dot_id_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), cmd(&["cancel", "a1", ".."])).await.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e:?}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn list_is_a_table_with_a_count_note() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/assistants/a1/events",
            vec![Reply::ok(json!({"data": [{"id": "e1", "channel": "call", "status": "pending"}]}))],
        );
        let o = run(&h.ctx(), cmd(&["list", "a1"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/assistants/a1/events");
        let t = text(&o);
        assert!(t.contains("e1") && t.contains("call") && t.contains("pending"), "{t}");
        assert_eq!(o.notes, ["1 scheduled events"]);
    }
}
