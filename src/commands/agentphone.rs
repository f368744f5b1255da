//! `clawdtalk agentphone call|get`: AgentPhone as a second provider (docs/protocol.md#agentphone).
//!
//! Exit codes (docs/agentphone.md): 0 the call was placed, or ended
//! `completed` (whatever its outcome); 1 the call ended `failed` or
//! `canceled`, `--wait` timed out while the call was still going (as
//! `clawdtalk call --wait` does), or AgentPhone refused (400, 401, 402
//! credits exhausted, 429 twice); 2 bad input, nothing sent; 3 no AgentPhone
//! key; 4 network.

use serde_json::Value;

use crate::agentphone::{self, fmt_secs, Call, CallRequest, WaitOptions};
use crate::cli::agentphone::{AgentPhoneCallArgs, AgentPhoneCommand, AgentPhoneGetArgs};
use crate::error::{Error, Result};
use crate::ledger::agentphone::{checked_request, placed_entry, reason, result_entry};
use crate::ledger::Booking;
use crate::output::{Block, Outcome};
use crate::validate;

use super::support::claim;
use super::Context;

pub async fn run(ctx: &Context, cmd: AgentPhoneCommand) -> Result<Outcome> {
    match cmd {
        AgentPhoneCommand::Call(a) => call(ctx, a).await,
        AgentPhoneCommand::Get(a) => get(ctx, a).await,
    }
}

/// Check every argument before anything is sent.
fn call_request(a: &AgentPhoneCallArgs) -> Result<CallRequest> {
    checked_request(&a.to, &a.objective, a.business_name.as_deref(), a.website.as_deref())
}

/// `agentphone call --to N --objective T [--wait]`.
pub async fn call(ctx: &Context, a: AgentPhoneCallArgs) -> Result<Outcome> {
    let req = call_request(&a)?;
    // The one outbound gate (docs/optout.md): never to an opted-out number.
    ctx.outbound("--to", &req.to_phone_number).await?;
    let ap = ctx.agentphone(a.tuning.rate_limit_wait)?;
    // The mission is checked before the call is placed: a typo in the slug
    // must not leave a paid call that nothing records.
    let booking = match &a.mission {
        Some(key) => Some(Booking::open(&|| ctx.client(), ctx.state()?, key).await?),
        None => None,
    };
    tracing::debug!(to = %crate::config::mask_phone(&req.to_phone_number), "placing an AgentPhone call");
    let placed = ap.create_call(&req).await?;
    let credits = placed.credits_remaining.clone();
    let id = placed.call.call_id.clone();
    ctx.record(placed_entry(&placed.call, &req.to_phone_number, a.mission.as_deref())).await;
    let mut notes = Vec::new();
    if let Some(b) = &booking {
        notes.extend(b.record(&|| ctx.client(), &claim(ctx), ctx.now(), &placed.call, Some(&req)).await);
    }
    if !a.wait {
        let mut data = serde_json::to_value(&placed.call).unwrap_or(Value::Null);
        add_credits(&mut data, &credits);
        let mut o = Outcome::data(data).line(format!("Call placed: {id} ({})", placed.call.stage()));
        o = credits_note(o, &credits);
        o = o.note(format!("Follow it with: clawdtalk agentphone get {id}"));
        return Ok(with_notes(o, notes));
    }
    let opts = WaitOptions {
        interval: a.tuning.poll_interval,
        timeout: a.timeout,
        enrich_interval: a.tuning.enrich_interval,
        ..WaitOptions::default()
    };
    let progress = ctx.progress();
    let waited = agentphone::wait(&ap, &placed.call, &opts, &progress).await.map_err(|e| placed_hint(e, &id))?;
    drop(progress);
    if let Some(b) = &booking {
        notes.extend(b.record(&|| ctx.client(), &claim(ctx), ctx.now(), &waited.call, None).await);
    }
    record_result(ctx, &waited.call, a.mission.as_deref()).await;
    let mut o = report(&waited.call, &credits);
    if waited.timed_out {
        o = o.with_exit_code(1).note(format!(
            "AgentPhone call {id} is still {} after {} s; it goes on: check it later with \
             `clawdtalk agentphone get {id}`",
            waited.call.stage(),
            fmt_secs(a.timeout)
        ));
    }
    Ok(with_notes(credits_note(o, &credits), notes))
}

/// An error while following a call that was placed: say so, with the id,
/// so nobody places it again.
fn placed_hint(e: Error, id: &str) -> Error {
    let hint = format!("; AgentPhone call {id} was placed: check it with `clawdtalk agentphone get {id}`");
    match e {
        Error::Network(m) => Error::Network(m + &hint),
        Error::Failed(m) => Error::Failed(m + &hint),
        Error::Api { status, message, body } => Error::Api { status, message: message + &hint, body },
        other => other,
    }
}

/// Add bookkeeping notes; a bookkeeping failure (prefixed `warning:`)
/// makes the command exit 1, though the call itself is printed.
fn with_notes(mut o: Outcome, notes: Vec<String>) -> Outcome {
    if notes.iter().any(|n| n.starts_with("warning:")) {
        o.exit_code = o.exit_code.max(1);
    }
    o.notes.extend(notes);
    o
}

/// `agentphone get CALL_ID`.
pub async fn get(ctx: &Context, a: AgentPhoneGetArgs) -> Result<Outcome> {
    let id = validate::plain_id("CALL_ID", &a.call_id)?;
    let ap = ctx.agentphone(a.tuning.rate_limit_wait)?;
    let booking = match &a.mission {
        Some(key) => Some(Booking::open(&|| ctx.client(), ctx.state()?, key).await?),
        None => None,
    };
    let call = ap.get_call(&id).await?;
    let mut notes = Vec::new();
    if let Some(b) = &booking {
        notes.extend(b.record(&|| ctx.client(), &claim(ctx), ctx.now(), &call, None).await);
    }
    record_result(ctx, &call, a.mission.as_deref()).await;
    Ok(with_notes(report(&call, &None), notes))
}

/// A finished call's result in the journal (docs/journal.md): its stage,
/// and the outcome or summary. Nothing while it is still going.
async fn record_result(ctx: &Context, call: &Call, mission: Option<&str>) {
    if let Some(e) = result_entry(call, mission) {
        ctx.record(e).await;
    }
}

/// The call for people (fields, then the transcript) and for `--json` (the
/// call object). A failed or canceled call exits 1 with a note saying so.
fn report(call: &Call, credits: &Option<Value>) -> Outcome {
    let mut data = serde_json::to_value(call).unwrap_or(Value::Null);
    add_credits(&mut data, credits);
    let mut fields = vec![("Call".to_string(), call.call_id.clone()), ("Status".to_string(), call.stage())];
    let mut field = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            fields.push((k.to_string(), v));
        }
    };
    field("Outcome", call.outcome.clone());
    field("Reason", reason(call));
    field("Summary", call.summary.clone());
    field("Duration", call.duration_seconds.as_ref().map(|d| format!("{d} s")));
    field("Recording", call.recording_url.clone());
    let mut o = Outcome::data(data).block(Block::Fields(fields));
    if call.is_terminal() {
        match call.transcript_text() {
            Some(t) => o = o.line("Transcript:").line(t),
            None => o = o.line("Transcript: (none)"),
        }
    }
    if call.is_unsuccessful() {
        let stage = call.stage();
        let why = reason(call).filter(|r| *r != stage).map(|r| format!(" ({r})")).unwrap_or_default();
        o = o.with_exit_code(1).note(format!("AgentPhone call {} {stage}{why}", call.call_id));
    }
    o
}

fn add_credits(data: &mut Value, credits: &Option<Value>) {
    if let (Some(c), Value::Object(m)) = (credits, data) {
        m.insert("credits_remaining".into(), c.clone());
    }
}

fn credits_note(o: Outcome, credits: &Option<Value>) -> Outcome {
    match credits {
        Some(Value::String(s)) => o.note(format!("AgentPhone credits remaining: {s}")),
        Some(c) => o.note(format!("AgentPhone credits remaining: {c}")),
        None => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::render_blocks;
    use serde_json::json;

    fn call(v: Value) -> Call {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn completed_call_shows_every_field_and_the_transcript() {
        let c = call(json!({"call_id": "c1", "status": "completed", "outcome": "achieved", "summary": "Booked",
            "duration_seconds": 42, "recording_url": "https://r/1.mp3", "transcript": "Agent: hi"}));
        let o = report(&c, &None);
        let text = render_blocks(&o.blocks);
        for want in ["c1", "achieved", "Booked", "42 s", "https://r/1.mp3", "Transcript:\nAgent: hi"] {
            assert!(text.contains(want), "{want} missing in {text}");
        }
        assert_eq!(o.exit_code, 0);
    }

    #[test]
    fn failed_call_exits_1_and_says_why() {
        let o = report(&call(json!({"call_id": "c1", "status": "failed", "failure_reason": "busy"})), &None);
        assert_eq!(o.exit_code, 1);
        assert_eq!(o.notes, vec!["AgentPhone call c1 failed (busy)".to_string()]);
    }
}

#[cfg(test)]
mod service_tests {
    use serde_json::json;

    use super::*;
    use crate::ledger::agentphone::MEMORY_KEY;
    use crate::testing::{parse, text, Harness, Reply, AGENTPHONE_KEY};

    fn cmd(args: &[&str]) -> AgentPhoneCommand {
        match parse(&[&["agentphone"], args].concat()) {
            crate::cli::Command::Agentphone(c) => c,
            other => panic!("not an agentphone command: {other:?}"),
        }
    }

    /// Mission `roof` with run r1 of mission m1 in the harness's state file.
    fn mission_with_run(h: &Harness) {
        h.ctx()
            .state()
            .unwrap()
            .update(|st| {
                let m = st.mission_or_create("roof");
                m.set("mission_id", "m1");
                m.set("run_id", "r1");
                Ok(())
            })
            .unwrap();
    }

    #[tokio::test]
    async fn call_posts_the_request_with_the_agentphone_key() {
        let h = Harness::start().await;
        h.service.on(
            "POST",
            "/agentphone/v1/calls",
            vec![Reply::ok(json!({"call_id": "ap_1", "status": "queued", "credits_remaining": 9}))],
        );
        let o = run(
            &h.ctx(),
            cmd(&["call", "--to", "+15551234567", "--objective", " Book a table ", "--business-name", "Luigi's"]),
        )
        .await
        .unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /agentphone/v1/calls");
        assert_eq!(r.header("x-api-key"), Some(AGENTPHONE_KEY));
        assert_eq!(r.header("authorization"), None);
        assert_eq!(
            r.json(),
            json!({"to_phone_number": "+15551234567", "objective": "Book a table", "business_name": "Luigi's"})
        );
        assert_eq!(text(&o), "Call placed: ap_1 (queued)\n");
        assert_eq!(o.data["credits_remaining"], 9);
        assert!(o.notes.iter().any(|n| n == "AgentPhone credits remaining: 9"), "{:?}", o.notes);
    }

    #[tokio::test]
    async fn a_call_booked_to_a_mission_is_remembered_and_logged_to_its_run() {
        let h = Harness::start().await;
        mission_with_run(&h);
        h.service.on("POST", "/agentphone/v1/calls", vec![Reply::ok(json!({"call_id": "ap_1", "status": "queued"}))]);
        let o = run(&h.ctx(), cmd(&["call", "--to", "+15551234567", "--objective", "Quote", "--mission", "roof"]))
            .await
            .unwrap();
        assert_eq!(h.service.lines(), vec!["POST /agentphone/v1/calls", "POST /v1/missions/m1/runs/r1/events"]);
        let logged = h.service.requests()[1].json();
        assert_eq!(logged["summary"], "AgentPhone call placed call_id=ap_1");
        assert_eq!(o.exit_code, 0);
        let state = h.ctx().state().unwrap().read_async().await.unwrap();
        let memory = state.mission("roof").unwrap().memory().unwrap();
        let rec = &memory[MEMORY_KEY][0];
        assert_eq!((&rec["call_id"], &rec["placed_logged"]), (&json!("ap_1"), &json!(true)));
        // Stamped with the context's clock.
        assert_eq!(rec["updated_at"], crate::state::timestamp(h.ctx().now()));
    }

    #[tokio::test]
    async fn an_unknown_mission_is_refused_before_the_call_is_placed() {
        let h = Harness::start().await;
        mission_with_run(&h);
        let e = run(&h.ctx(), cmd(&["call", "--to", "+15551234567", "--objective", "Quote", "--mission", "rooof"]))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("roof"), "{e}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn exhausted_credits_stop_with_what_to_do() {
        let h = Harness::start().await;
        h.service.on("POST", "/agentphone/v1/calls", vec![Reply::error(402, "no credits")]);
        let e = run(&h.ctx(), cmd(&["call", "--to", "+15551234567", "--objective", "Quote"])).await.unwrap_err();
        assert!(matches!(&e, Error::Api { status: 402, message, .. } if message.contains("add credits")), "{e:?}");
        assert_eq!(h.service.requests().len(), 1);
    }

    #[tokio::test]
    async fn no_agentphone_key_is_a_configuration_error_before_anything_is_sent() {
        let h = Harness::start().await.without_keys();
        let e = run(&h.ctx(), cmd(&["get", "ap_1"])).await.unwrap_err();
        assert!(matches!(&e, Error::Config(m) if m.contains("AGENTPHONE_API_KEY")), "{e:?}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn get_shows_a_failed_call_and_exits_1() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/agentphone/v1/calls/ap_1",
            vec![Reply::ok(json!({"data": {"call_id": "ap_1", "status": "failed", "failure_reason": "no answer"}}))],
        );
        let o = run(&h.ctx(), cmd(&["get", "ap_1"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /agentphone/v1/calls/ap_1");
        assert_eq!(o.exit_code, 1);
        assert!(o.notes.iter().any(|n| n.contains("ap_1 failed (no answer)")), "{:?}", o.notes);
        let j = h.journal();
        assert_eq!(j.len(), 1, "one result per finished call seen");
        assert_eq!((j[0].entry.event.as_str(), j[0].entry.call_id.as_deref()), ("agentphone.result", Some("ap_1")));
    }
}
