//! `clawdtalk call …`: place a call now (to the owner or a number), follow it,
//! look at it, end it.

use std::time::Duration;

use serde_json::{json, Value};

use crate::api::calls;
use crate::api::models::{Call, CallRequest};
use crate::cli::call::{CallAction, CallArgs, CallEndArgs, CallIdArgs, CallStartArgs};
use crate::error::{Error, Result};
use crate::journal::{Entry, Kind};
use crate::output::{Block, Outcome};
use crate::validate;

use super::Context;

pub async fn run(ctx: &Context, a: CallArgs) -> Result<Outcome> {
    match a.action {
        Some(CallAction::Status(a)) => status(ctx, a).await,
        Some(CallAction::End(a)) => end(ctx, a).await,
        None => start(ctx, a.start).await,
    }
}

/// True when a greeting is really a number (`clawdtalk call +15551234567`,
/// or `clawdtalk call 911`): only digits, an optional leading `+`, and the
/// usual separators. Such a greeting is dialled (after validation) rather
/// than spoken, as the original `call.sh` did.
pub fn looks_like_number(s: &str) -> bool {
    let t: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    let digits = t.strip_prefix('+').unwrap_or(&t);
    digits.len() >= 3 && digits.chars().all(|c| c.is_ascii_digit())
}

/// Turn the arguments into a request, checking everything before any request
/// is made. Returns the request and the warnings to show.
pub fn plan(a: &CallStartArgs) -> Result<(CallRequest, Vec<String>)> {
    let nonblank = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let mut notes = Vec::new();
    let mut greeting = nonblank(&a.greeting);
    // An empty `--to` is an unset shell variable, not a wish to call the
    // owner: only leaving `--to` out calls the owner.
    if a.to.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(Error::usage(
            "--to is empty (an unset shell variable?): give an E.164 number like +15551234567, \
             or leave --to out to call the owner",
        ));
    }
    let mut to = nonblank(&a.to);
    if to.is_none() {
        if let Some(g) = greeting.as_deref().filter(|g| looks_like_number(g)) {
            notes.push(format!(
                "warning: the greeting {g:?} looks like a phone number, so it is called as --to {g} \
                 (pass --to NUMBER to call a number, and words as the greeting)"
            ));
            to = Some(g.chars().filter(|c| *c == '+' || c.is_ascii_digit()).collect());
            greeting = None;
        }
    }
    let to = match to {
        Some(t) => Some(validate::phone("--to", &t)?),
        None => None,
    };
    if a.wait && !(a.poll_interval.is_finite() && a.poll_interval > 0.0) {
        return Err(Error::usage("--poll-interval must be a positive number of seconds"));
    }
    Ok((CallRequest { to, greeting, purpose: nonblank(&a.purpose) }, notes))
}

/// `call [GREETING] [--to N] [--purpose P] [--wait]`.
pub async fn start(ctx: &Context, a: CallStartArgs) -> Result<Outcome> {
    let (req, notes) = plan(&a)?;
    // The one outbound gate (docs/optout.md); no `--to` calls the owner.
    if let Some(to) = &req.to {
        ctx.outbound("--to", to).await?;
    }
    let client = ctx.client()?;
    let who = req.to.as_deref().map(crate::config::mask_phone).unwrap_or_else(|| "the owner".into());
    tracing::debug!("placing a call to {who}");
    let call = calls::create(&client, &req).await?;
    let id = call.call_id.clone().unwrap_or_default();
    ctx.record(journal_entry("call.placed", &id, req.to.as_deref(), call.status.as_deref())).await;
    let mut o = Outcome::data(&call).line(format!("Call initiated: {id}"));
    o.notes = notes;
    if !a.wait {
        return Ok(
            o.note(format!("Follow it with `clawdtalk call status {id}`; hang up with `clawdtalk call end {id}`."))
        );
    }
    let last = follow(ctx, &client, &id, &call, Duration::from_secs(a.timeout), a.poll_interval).await?;
    let mut fields = vec![("Status".to_string(), last.status.clone().unwrap_or_else(|| "unknown".into()))];
    for (key, label) in [("duration_seconds", "Duration (s)"), ("reason", "Reason"), ("outcome", "Outcome")] {
        if let Some(v) = last.extra.get(key).filter(|v| !v.is_null()) {
            fields.push((label.to_string(), plain(v)));
        }
    }
    o.data = serde_json::to_value(&last).unwrap_or(Value::Null);
    ctx.record(journal_entry("call.ended", &id, req.to.as_deref(), Some(&fields[0].1))).await;
    Ok(o.line(format!("Call ended: {}", fields[0].1)).block(Block::Fields(fields)))
}

/// The journal's event for this call (docs/journal.md); no `to` is the owner.
fn journal_entry(event: &str, id: &str, to: Option<&str>, status: Option<&str>) -> Entry {
    let mut e = Entry::new(Kind::Call, event).call_id(id);
    if let Some(to) = to {
        e = e.to(to);
    }
    match status {
        Some(s) => e.status(s),
        None => e,
    }
}

/// Poll the call every `interval` seconds until it reaches an ending status,
/// showing its progress; an error when `limit` passes first (the call itself
/// goes on).
async fn follow(
    ctx: &Context,
    client: &crate::api::Client,
    id: &str,
    first: &Call,
    limit: Duration,
    interval: f64,
) -> Result<Call> {
    let progress = ctx.progress();
    let deadline = tokio::time::Instant::now() + limit;
    let mut call = first.clone();
    loop {
        let status = call.status.clone().unwrap_or_else(|| "unknown".into());
        if ended(&call) {
            progress.finish();
            return Ok(call);
        }
        progress.set(format!("Call {id}: {status}"));
        let now = tokio::time::Instant::now();
        if now >= deadline {
            progress.finish();
            return Err(Error::failed(format!(
                "call {id} is still {status} after {} s; follow it with `clawdtalk call status {id}`",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs_f64(interval).min(deadline - now)).await;
        call = calls::get(client, id).await?;
    }
}

fn ended(call: &Call) -> bool {
    call.status.as_deref().is_some_and(calls::is_ended) || call.extra.get("ended_at").is_some_and(|v| !v.is_null())
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `call status ID`: the call as the service reports it.
pub async fn status(ctx: &Context, a: CallIdArgs) -> Result<Outcome> {
    let id = validate::plain_id("CALL_ID", &a.call_id)?;
    let client = ctx.client()?;
    Ok(Outcome::json(calls::get(&client, &id).await?))
}

/// `call end ID [--reason R]`.
pub async fn end(ctx: &Context, a: CallEndArgs) -> Result<Outcome> {
    let id = validate::plain_id("CALL_ID", &a.call_id)?;
    let reason = validate::plain_id("--reason", &a.reason)?;
    let client = ctx.client()?;
    let reply = calls::end(&client, &id, &reason).await?;
    let data = if reply.is_null() { json!({"call_id": id, "ended": true, "reason": reason}) } else { reply };
    ctx.record(Entry::new(Kind::Call, "call.hung_up").call_id(&id).text(&reason)).await;
    Ok(Outcome::data(data).line(format!("Call {id} ended ({reason})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(greeting: Option<&str>, to: Option<&str>) -> CallStartArgs {
        CallStartArgs {
            greeting: greeting.map(Into::into),
            to: to.map(Into::into),
            purpose: None,
            wait: false,
            timeout: 3600,
            poll_interval: 2.0,
        }
    }

    #[test]
    fn a_number_as_greeting_becomes_to_with_a_warning() {
        let (req, notes) = plan(&args(Some("+1 555 123 4567"), None)).unwrap();
        assert_eq!(req.to.as_deref(), Some("+15551234567"));
        assert_eq!(req.greeting, None);
        assert!(notes[0].contains("warning"));
    }

    #[test]
    fn a_number_greeting_with_to_stays_a_greeting() {
        let (req, notes) = plan(&args(Some("+15551234567"), Some("+15557654321"))).unwrap();
        assert_eq!(req.to.as_deref(), Some("+15557654321"));
        assert_eq!(req.greeting.as_deref(), Some("+15551234567"));
        assert!(notes.is_empty());
    }

    #[test]
    fn emergency_and_malformed_numbers_are_refused() {
        assert!(matches!(plan(&args(Some("911"), None)), Err(Error::Usage(_))));
        assert!(matches!(plan(&args(None, Some("5551234567"))), Err(Error::Usage(_))));
        assert!(matches!(plan(&args(None, Some("+1911"))), Err(Error::Usage(_))));
    }

    #[test]
    fn words_are_a_greeting() {
        assert!(!looks_like_number("Hey, it's 5 o'clock"));
        let (req, _) = plan(&args(Some("Hi there"), None)).unwrap();
        assert_eq!((req.to, req.greeting.as_deref()), (None, Some("Hi there")));
    }
}

#[cfg(test)]
mod service_tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{parse, text, Harness, Reply};

    fn args(words: &[&str]) -> CallArgs {
        match parse(&[&["call"], words].concat()) {
            crate::cli::Command::Call(a) => a,
            other => panic!("not a call command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn start_posts_number_greeting_and_purpose() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/calls", vec![Reply::ok(json!({"call_id": "call_1", "status": "queued"}))]);
        let o = run(&h.ctx(), args(&["Hi Bob", "--to", "+15551234567", "--purpose", "remind"])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/calls");
        assert_eq!(r.json(), json!({"to": "+15551234567", "greeting": "Hi Bob", "context": {"purpose": "remind"}}));
        assert_eq!(text(&o), "Call initiated: call_1\n");
        assert!(o.notes[0].contains("clawdtalk call status call_1"), "{:?}", o.notes);
    }

    #[tokio::test]
    async fn wait_follows_the_call_until_it_ends() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/calls", vec![Reply::ok(json!({"call_id": "call_1", "status": "queued"}))]);
        h.service.on(
            "GET",
            "/v1/calls/call_1",
            vec![
                Reply::ok(json!({"call_id": "call_1", "status": "in-progress"})),
                Reply::ok(json!({"call_id": "call_1", "status": "completed", "duration_seconds": 42})),
            ],
        );
        let o = run(&h.ctx(), args(&["Hi", "--wait", "--poll-interval", "0.01"])).await.unwrap();
        assert_eq!(h.service.lines(), vec!["POST /v1/calls", "GET /v1/calls/call_1", "GET /v1/calls/call_1"]);
        let t = text(&o);
        assert!(t.contains("Call ended: completed") && t.contains("42"), "{t}");
        assert_eq!(o.data["status"], "completed");
        let events: Vec<(String, Option<String>)> =
            h.journal().into_iter().map(|r| (r.entry.event, r.entry.status)).collect();
        assert_eq!(
            events,
            [("call.placed".into(), Some("queued".into())), ("call.ended".into(), Some("completed".into()))]
        );
    }

    #[tokio::test]
    async fn an_error_document_in_a_2xx_reply_is_a_failure() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/calls", vec![Reply::ok(json!({"error": {"message": "no phone set up"}}))]);
        let e = run(&h.ctx(), args(&["Hi"])).await.unwrap_err();
        assert!(matches!(&e, Error::Failed(m) if m.contains("no phone set up")), "{e:?}");
    }

    #[tokio::test]
    async fn an_emergency_number_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), args(&["--to", "911"])).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn end_posts_the_reason_and_says_so() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/calls/call_1/end", vec![Reply::ok(json!(null))]);
        let o = run(&h.ctx(), args(&["end", "call_1"])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/calls/call_1/end");
        assert_eq!(r.json(), json!({"reason": "user_ended"}));
        assert_eq!(text(&o), "Call call_1 ended (user_ended)\n");
        assert_eq!(o.data, json!({"call_id": "call_1", "ended": true, "reason": "user_ended"}));
    }

    #[tokio::test]
    async fn status_shows_the_call_as_reported() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/calls/call_1", vec![Reply::ok(json!({"call_id": "call_1", "status": "ringing"}))]);
        let o = run(&h.ctx(), args(&["status", "call_1"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/calls/call_1");
        assert_eq!(o.data["status"], "ringing");
    }
}
