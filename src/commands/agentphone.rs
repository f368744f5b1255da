//! `clawdtalk agentphone call|get`: AgentPhone as a second provider (docs/protocol.md#agentphone).
//!
//! Exit codes (README "AgentPhone"): 0 the call was placed, or ended
//! `completed` (whatever its outcome); 1 the call ended `failed` or
//! `canceled`, `--wait` timed out while the call was still going (as
//! `clawdtalk call --wait` does), or AgentPhone refused (400, 401, 402
//! credits exhausted, 429 twice); 2 bad input, nothing sent; 3 no AgentPhone
//! key; 4 network.

use serde_json::Value;

use crate::agentphone::{self, fmt_secs, AgentPhone, Call, CallRequest, WaitOptions};
use crate::cli::agentphone::{AgentPhoneCallArgs, AgentPhoneCommand, AgentPhoneGetArgs};
use crate::error::{Error, Result};
use crate::ledger::agentphone::reason;
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
    let to_phone_number = validate::phone("--to", &a.to)?;
    let objective = a.objective.trim();
    if objective.is_empty() {
        return Err(Error::usage("--objective must say what the call should achieve; it is empty"));
    }
    let business_name = match a.business_name.as_deref().map(str::trim) {
        Some("") => return Err(Error::usage("--business-name is empty; leave it out or give the name")),
        other => other.map(str::to_string),
    };
    let website = match a.website.as_deref().map(str::trim) {
        None => None,
        Some(w) => match url::Url::parse(w) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(w.to_string()),
            _ => {
                return Err(Error::usage(format!(
                    "--website {w:?} is not an http(s) URL; write it like https://example.com"
                )))
            }
        },
    };
    Ok(CallRequest { to_phone_number, objective: objective.to_string(), business_name, website })
}

/// `agentphone call --to N --objective T [--wait]`.
pub async fn call(ctx: &Context, a: AgentPhoneCallArgs) -> Result<Outcome> {
    let req = call_request(&a)?;
    let ap = AgentPhone::from_config(&ctx.config, a.tuning.rate_limit_wait)?;
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
    let ap = AgentPhone::from_config(&ctx.config, a.tuning.rate_limit_wait)?;
    let booking = match &a.mission {
        Some(key) => Some(Booking::open(&|| ctx.client(), ctx.state()?, key).await?),
        None => None,
    };
    let call = ap.get_call(&id).await?;
    let mut notes = Vec::new();
    if let Some(b) = &booking {
        notes.extend(b.record(&|| ctx.client(), &claim(ctx), ctx.now(), &call, None).await);
    }
    Ok(with_notes(report(&call, &None), notes))
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
