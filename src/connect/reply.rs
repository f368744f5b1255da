//! What a `sessions_send` answer means, and what the caller is told about it
//! (docs/protocol.md#the-gateway).
//!
//! The gateway documents these result shapes for `sessions_send` (inside
//! `result.details`, or as JSON in `result.content[0].text`):
//! `{runId, status:"ok", reply}` (a reply), `{runId, status:"accepted"}`
//! (queued; also seen as `{"status":"ok","delivery":{"status":"pending"}}`),
//! `{runId, status:"timeout", error}` (the run goes on: its answer appears
//! later in `sessions_history`), `{runId, status:"error", error}`, and a
//! run that ends silently (`status:"no_reply"`, or the agent's own silent
//! tokens). Only a non-empty reply text is a reply: an empty text,
//! `HEARTBEAT_OK`, or a JSON object without `reply` is **no reply yet**, and
//! never becomes "Done.". [`parse`] is total: any body maps to one [`Answer`].

use serde_json::Value;

use super::speech;

/// What the caller hears while the agent is still working (or has not
/// answered within the wait).
pub const HOLDING: &str = "I've asked; it's still working on it.";
/// What the caller hears when the request ends with no answer yet.
pub const STILL_WAITING: &str = "It still hasn't answered. If it does, I'll pass the answer on.";
/// What the caller hears when the agent's run ended without a reply.
pub const NO_REPLY: &str = "I passed that on, but it didn't send a reply.";
/// What the caller hears when the agent's run failed.
pub const AGENT_ERROR: &str = "Sorry, the agent ran into an error and couldn't answer that.";

/// Texts the agent uses to stay silent: a run that answers with one of them
/// has no reply for anyone.
const SILENT_TOKENS: &[&str] = &["NO_REPLY", "REPLY_SKIP", "ANNOUNCE_SKIP"];

/// One `sessions_send` answer, by what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The agent replied with this text (raw: cleaned for speech or SMS by the caller).
    Reply(String),
    /// Accepted or still pending: no reply yet.
    Pending { run_id: Option<String> },
    /// The wait ended first; the run goes on.
    Timeout { run_id: Option<String> },
    /// The run ended without a reply.
    NoReply { run_id: Option<String> },
    /// The run failed (the gateway's reason, already cleaned by [`super::gateway`]).
    Error(String),
}

impl Answer {
    /// No reply *yet*: worth looking for the late answer in the session's history.
    pub fn is_not_yet(&self) -> bool {
        matches!(self, Answer::Pending { .. } | Answer::Timeout { .. })
    }

    pub fn run_id(&self) -> Option<&str> {
        match self {
            Answer::Pending { run_id } | Answer::Timeout { run_id } | Answer::NoReply { run_id } => run_id.as_deref(),
            _ => None,
        }
    }

    /// The shape's word, for logs and the journal.
    pub fn word(&self) -> &'static str {
        match self {
            Answer::Reply(_) => "reply",
            Answer::Pending { .. } => "pending",
            Answer::Timeout { .. } => "timeout",
            Answer::NoReply { .. } => "no_reply",
            Answer::Error(_) => "error",
        }
    }

    /// What a caller hears now: the cleaned reply, or a truthful line.
    /// Never JSON, never "Done." unless the agent's reply said so.
    pub fn spoken(&self) -> String {
        match self {
            Answer::Reply(t) => speech::for_speech(t, speech::MAX_SPOKEN).unwrap_or_else(|| HOLDING.to_string()),
            Answer::Pending { .. } | Answer::Timeout { .. } => HOLDING.to_string(),
            Answer::NoReply { .. } => NO_REPLY.to_string(),
            Answer::Error(_) => AGENT_ERROR.to_string(),
        }
    }

    /// What an SMS sender is sent now: only a real reply; nothing is invented.
    pub fn sms(&self) -> Option<String> {
        match self {
            Answer::Reply(t) => speech::for_sms(t, speech::MAX_SMS),
            _ => None,
        }
    }
}

/// Is `text` a reply someone may hear: not empty, not a heartbeat or a
/// silent token, not a bare JSON object or array.
pub fn is_reply_text(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty() && t != "HEARTBEAT_OK" && !SILENT_TOKENS.contains(&t) && !speech::is_bare_json(t)
}

/// Read any gateway body (JSON, or text wrapped as a JSON string).
pub fn parse(v: &Value) -> Answer {
    let r = v.get("result").unwrap_or(v);
    let text = r.pointer("/content/0/text").and_then(Value::as_str);
    // The structured results, most specific first.
    let mut objects: Vec<&serde_json::Map<String, Value>> = Vec::new();
    if let Some(Value::Object(d)) = r.get("details") {
        objects.push(d);
    }
    let parsed = text.and_then(|t| serde_json::from_str::<Value>(t.trim()).ok());
    if let Some(Value::Object(o)) = &parsed {
        objects.push(o);
    }
    if let Value::Object(o) = r {
        objects.push(o);
    }
    for o in &objects {
        if let Some(t) = o.get("reply").and_then(Value::as_str).filter(|t| is_reply_text(t)) {
            return Answer::Reply(t.trim().to_string());
        }
    }
    let plain = [text.filter(|_| parsed.is_none()), r.as_str(), v.get("response").and_then(Value::as_str), v.as_str()];
    if let Some(t) = plain.into_iter().flatten().find(|t| is_reply_text(t)) {
        return Answer::Reply(t.trim().to_string());
    }
    let run_id = objects.iter().find_map(|o| o.get("runId").and_then(Value::as_str)).map(str::to_string);
    let silent = objects
        .iter()
        .filter_map(|o| o.get("reply").and_then(Value::as_str))
        .chain(plain.into_iter().flatten())
        .any(|t| SILENT_TOKENS.contains(&t.trim()));
    for o in &objects {
        let status = o.get("status").and_then(Value::as_str).map(|s| s.trim().to_ascii_lowercase());
        match status.as_deref() {
            Some("timeout" | "timed_out") => return Answer::Timeout { run_id },
            Some("no_reply" | "noreply" | "silent") => return Answer::NoReply { run_id },
            Some("error" | "failed") => return Answer::Error(error_text(o)),
            _ => {}
        }
    }
    if silent {
        return Answer::NoReply { run_id };
    }
    Answer::Pending { run_id }
}

fn error_text(o: &serde_json::Map<String, Value>) -> String {
    match o.get("error") {
        Some(Value::String(s)) => s.clone(),
        Some(e) => e.get("message").and_then(Value::as_str).unwrap_or("no reason given").to_string(),
        None => "no reason given".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn in_text(inner: Value) -> Value {
        json!({"ok": true, "result": {"content": [{"type": "text", "text": inner.to_string()}]}})
    }

    #[test]
    fn every_reply_position_is_understood() {
        assert_eq!(parse(&json!({"result":{"details":{"reply":"A"}}})), Answer::Reply("A".into()));
        assert_eq!(parse(&in_text(json!({"runId":"r","status":"ok","reply":"B"}))), Answer::Reply("B".into()));
        assert_eq!(
            parse(&json!({"result":{"content":[{"type":"text","text":" plain C "}]}})),
            Answer::Reply("plain C".into())
        );
        assert_eq!(parse(&json!({"result":"D"})), Answer::Reply("D".into()));
        assert_eq!(parse(&json!({"response":"E"})), Answer::Reply("E".into()));
        assert_eq!(parse(&json!("F")), Answer::Reply("F".into()));
    }

    #[test]
    fn accepted_and_delivery_pending_are_no_reply_yet_with_their_run_id() {
        let accepted = parse(&in_text(json!({"runId":"run-1","status":"accepted"})));
        assert_eq!(accepted, Answer::Pending { run_id: Some("run-1".into()) });
        let pending = parse(&in_text(json!({"runId":"run-2","status":"ok","delivery":{"status":"pending"}})));
        assert_eq!(pending, Answer::Pending { run_id: Some("run-2".into()) });
        assert!(pending.is_not_yet());
        assert_eq!(pending.spoken(), HOLDING);
        assert_eq!(pending.sms(), None, "an SMS sender is sent nothing invented");
    }

    #[test]
    fn a_timeout_is_no_reply_yet_and_the_caller_hears_the_truth() {
        let a =
            parse(&json!({"ok":true,"result":{"details":{"runId":"r9","status":"timeout","error":"wait timed out"}}}));
        assert_eq!(a, Answer::Timeout { run_id: Some("r9".into()) });
        assert!(a.is_not_yet());
        assert_eq!(a.spoken(), HOLDING);
    }

    #[test]
    fn no_reply_and_silent_tokens_say_no_reply_came() {
        assert_eq!(parse(&in_text(json!({"runId":"r","status":"no_reply"}))).spoken(), NO_REPLY);
        assert_eq!(parse(&json!({"result":{"details":{"reply":"NO_REPLY"}}})).spoken(), NO_REPLY);
        assert!(!parse(&json!({"result":{"details":{"reply":"ANNOUNCE_SKIP"}}})).is_not_yet());
    }

    #[test]
    fn an_error_status_is_a_truthful_error_line() {
        let a = parse(&in_text(json!({"runId":"r","status":"error","error":"model overloaded"})));
        assert_eq!(a, Answer::Error("model overloaded".into()));
        assert_eq!(a.spoken(), AGENT_ERROR);
        assert_eq!(a.sms(), None);
    }

    #[test]
    fn empty_heartbeat_and_json_without_reply_are_no_reply_yet_never_done() {
        for body in [
            json!({"result":{"details":{"reply":""}}}),
            json!({"result":{"details":{"reply":"HEARTBEAT_OK"}}}),
            json!({"result":{"content":[{"text":"{\"reply\":null}"}]}}),
            json!({"result":{"content":[{"text":"{\"tool\":\"exec\",\"args\":{}}"}]}}),
            json!({"result":{"details":{"reply":"{\"tool\":\"exec\"}"}}}),
            json!({"result":{"content":[{"text":"[1, 2]"}]}}),
            json!({}),
            json!(null),
            json!(""),
        ] {
            let a = parse(&body);
            assert!(matches!(a, Answer::Pending { .. }), "{body} → {a:?}");
            assert_eq!(a.spoken(), HOLDING, "{body}");
            assert_ne!(a.spoken(), "Done.");
        }
    }

    #[test]
    fn a_reply_that_says_done_is_spoken_because_the_agent_said_it() {
        assert_eq!(parse(&json!({"result":{"details":{"reply":"Done."}}})).spoken(), "Done.");
    }

    #[test]
    fn a_reply_that_cleans_to_nothing_is_not_spoken_as_a_reply() {
        assert_eq!(Answer::Reply("**".into()).spoken(), HOLDING);
        assert_eq!(Answer::Reply("`{\"a\":1}`".into()).spoken(), HOLDING);
        assert_eq!(Answer::Reply("**".into()).sms(), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Texts a gateway or a model has been seen to send, beside random ones.
        const TRICKY: &[&str] = &[
            "",
            " ",
            "HEARTBEAT_OK",
            "NO_REPLY",
            "Done.",
            "{}",
            "[]",
            "{\"runId\":\"r\",\"status\":\"ok\",\"delivery\":{\"status\":\"pending\"}}",
            "{\"reply\":\"{\\\"a\\\":1}\"}",
            "**{\"tool\":\"exec\"}**",
            "`[1, 2]`",
            "> {\"a\": [1]}",
            "[x](http://y) {\"a\":1}",
        ];

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::sample::select(TRICKY).prop_map(str::to_string),
                any::<String>(),
                "[{}\\[\\]\":,a-z0-9 *`]{0,24}"
            ]
        }

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                text().prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map(
                        proptest::sample::select(&["reply", "status", "runId", "error", "delivery", "text", "x"][..]),
                        inner,
                        0..4
                    )
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
                ]
            })
        }

        /// A random value in one of the envelope positions the gateway uses.
        fn body() -> impl Strategy<Value = Value> {
            (json(), text(), 0u8..8).prop_map(|(v, t, at)| match at {
                0 => json!({"ok": true, "result": {"details": {"reply": v}}}),
                1 => json!({"ok": true, "result": {"details": v}}),
                2 => json!({"ok": true, "result": {"content": [{"type": "text", "text": v.to_string()}]}}),
                3 => json!({"ok": true, "result": {"content": [{"type": "text", "text": t}]}}),
                4 => json!({"result": v}),
                5 => json!({"response": t}),
                6 => Value::String(t),
                _ => v,
            })
        }

        fn is_json_structure(s: &str) -> bool {
            matches!(serde_json::from_str::<Value>(s.trim()), Ok(Value::Object(_) | Value::Array(_)))
        }

        proptest! {
            #[test]
            fn no_gateway_body_is_spoken_or_texted_as_json_or_an_unconfirmed_done(body in body()) {
                let a = parse(&body);
                let spoken = a.spoken();
                prop_assert!(!is_json_structure(&spoken), "{body} → spoken {spoken:?}");
                prop_assert!(!spoken.trim().is_empty());
                if let Some(sms) = a.sms() {
                    prop_assert!(!is_json_structure(&sms), "{body} → SMS {sms:?}");
                    prop_assert!(!sms.trim().is_empty());
                }
                if spoken == "Done." || a.sms().as_deref() == Some("Done.") {
                    // only when the agent's own reply text said so
                    match &a {
                        Answer::Reply(t) => prop_assert!(t.contains("Done"), "{body} → {a:?}"),
                        other => prop_assert!(false, "{body} → {other:?} heard as Done."),
                    }
                }
            }
        }
    }
}
