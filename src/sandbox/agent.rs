//! The stand-in agent: an OpenClaw-gateway-compatible `POST /tools/invoke`
//! under [`BASE_PATH`], so `clawdtalk connect` against the sandbox reaches
//! an agent with no gateway installed (docs/protocol.md#the-gateway).
//!
//! It is the one stand-in gateway of the project: `clawdtalk sandbox
//! --agent MODE` serves it, and [`AgentMode`] says how `sessions_send`
//! answers, in each shape the gateway documents (docs/protocol.md#the-gateway):
//! `echo` replies at once; `pending` answers `accepted` (delivery pending)
//! and its reply appears in the transcript [`PENDING_REPLY_AFTER_SECS`]
//! later; `slow` waits the request's `timeoutSeconds` and answers `timeout`,
//! its reply appearing [`SLOW_EXTRA_SECS`] after that; `no_reply` ends the run
//! without one; `error` fails with HTTP 500. Every reply is the echo
//! ([`answer`]). Times are sandbox seconds (`--speed` shortens them).
//!
//! `sessions_history` serves each session's transcript: our messages and
//! the agent's replies (`role`, `content`, `timestamp` in ms, `runId`), the
//! replies only once their time has come — where a late reply is found.
//!
//! Requests need `Authorization: Bearer` [`GATEWAY_TOKEN`] (401 otherwise,
//! like a gateway with a token set) and `{"tool":"sessions_send","args":
//! {"sessionKey","message","timeoutSeconds"?}}` or `{"tool":"sessions_history",
//! "args":{"sessionKey","limit"?}}`. Refusals have the gateway's shape
//! `{"ok":false,"error":{"type","message"}}`.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::Shared;

/// Where the stand-in agent is served: `gateway_url` is `{root}{BASE_PATH}`.
pub const BASE_PATH: &str = "/agent";
/// The token the stand-in agent accepts (`gateway_token` in skill-config.json,
/// or `$CLAWDTALK_GATEWAY_TOKEN`).
pub const GATEWAY_TOKEN: &str = "sandbox-gateway-token";
/// The longest message echoed back (the rest is cut, marked with `…`), so
/// a reply stays one spoken sentence's worth of text.
pub const MAX_ECHO_CHARS: usize = 500;
/// The longest `message` accepted (413 beyond): the gateway's own limit is
/// larger, but nothing the client sends comes near it.
pub const MAX_MESSAGE_CHARS: usize = 20_000;

/// Sandbox seconds after which a `pending` run's reply is in the transcript.
pub const PENDING_REPLY_AFTER_SECS: f64 = 3.0;
/// Sandbox seconds after the `slow` wait ends at which its reply is in the transcript.
pub const SLOW_EXTRA_SECS: f64 = 3.0;
/// The wait `slow` uses when the request names none (the gateway's default is a wait).
const DEFAULT_WAIT_SECS: f64 = 30.0;
/// Real seconds `slow` waits at most, whatever the request asks.
const MAX_REAL_WAIT: Duration = Duration::from_secs(120);
/// Messages kept per session (the oldest go first), and served at most per look.
const MAX_TRANSCRIPT: usize = 500;
const DEFAULT_HISTORY_LIMIT: usize = 50;

/// How the stand-in agent answers `sessions_send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentMode {
    /// At once, with `You said: MESSAGE`.
    Echo,
    /// `accepted` at once; the reply appears in the transcript later.
    Pending,
    /// `timeout` after the request's wait; the reply appears later.
    Slow,
    /// The run ends without a reply.
    NoReply,
    /// The run fails: HTTP 500 `{"ok":false,…}`.
    Error,
}

impl AgentMode {
    /// Every mode, with the word `--agent` takes.
    pub const ALL: &'static [(AgentMode, &'static str)] = &[
        (AgentMode::Echo, "echo"),
        (AgentMode::Pending, "pending"),
        (AgentMode::Slow, "slow"),
        (AgentMode::NoReply, "no_reply"),
        (AgentMode::Error, "error"),
    ];

    pub fn word(self) -> &'static str {
        AgentMode::ALL.iter().find(|(m, _)| *m == self).map(|(_, w)| *w).unwrap_or("?")
    }
}

impl fmt::Display for AgentMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl FromStr for AgentMode {
    type Err = String;
    fn from_str(s: &str) -> Result<AgentMode, String> {
        AgentMode::ALL.iter().find(|(_, w)| w.eq_ignore_ascii_case(s.trim())).map(|(m, _)| *m).ok_or_else(|| {
            let words: Vec<&str> = AgentMode::ALL.iter().map(|(_, w)| *w).collect();
            format!("unknown agent mode {s:?} (one of: {})", words.join(", "))
        })
    }
}

/// The stand-in agent's routes (nested under [`BASE_PATH`]).
/// `GET` on the gateway URL itself answers too, so `clawdtalk status`
/// sees a gateway that is up.
pub fn router() -> Router<Shared> {
    Router::new().route("/", get(health)).route("/tools/invoke", post(invoke)).route("/received", get(received))
}

/// `GET {BASE_PATH}`: whether (and how) the stand-in agent answers.
async fn health(State(s): State<Shared>) -> Response {
    match s.opts.agent {
        Some(mode) => axum::Json(json!({"ok": true, "agent": mode.word()})).into_response(),
        None => no_agent().into_response(),
    }
}

fn no_agent() -> Refusal {
    refuse(
        StatusCode::NOT_FOUND,
        "not_found",
        "this sandbox serves no stand-in agent: start it with `clawdtalk sandbox --agent echo`",
    )
}

/// A refusal, answered in the gateway's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"ok": false, "error": {"type": self.kind, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

fn refuse(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { status, kind, message: message.into() }
}

/// What a valid request asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// `sessions_send`, with its wait in seconds when given.
    Send { session_key: String, message: String, timeout_secs: Option<f64> },
    /// `sessions_history`: at most `limit` latest messages.
    History { session_key: String, limit: usize },
}

/// Check a request: the token, then the body (tool and arguments).
pub fn parse_invocation(headers: &HeaderMap, body: &[u8]) -> Result<Invocation, Refusal> {
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(GATEWAY_TOKEN) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("missing or wrong gateway token: set gateway_token to {GATEWAY_TOKEN}"),
        ));
    }
    let bad = |m: String| refuse(StatusCode::BAD_REQUEST, "invalid_request", m);
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let arg = |k: &str| v.pointer(&format!("/args/{k}")).and_then(Value::as_str).map(str::to_string);
    let session_key =
        || arg("sessionKey").filter(|s| !s.trim().is_empty()).ok_or_else(|| bad("args.sessionKey is required".into()));
    match v.get("tool").and_then(Value::as_str) {
        Some("sessions_send") => {}
        Some("sessions_history") => {
            let limit = v.pointer("/args/limit").and_then(Value::as_u64).map_or(DEFAULT_HISTORY_LIMIT, |l| {
                usize::try_from(l).unwrap_or(MAX_TRANSCRIPT).clamp(1, MAX_TRANSCRIPT)
            });
            return Ok(Invocation::History { session_key: session_key()?, limit });
        }
        Some(other) => {
            return Err(refuse(StatusCode::NOT_FOUND, "tool_not_found", format!("tool {other:?} is not available")))
        }
        None => return Err(bad("tool is required".into())),
    }
    let session_key = session_key()?;
    let timeout_secs = v.pointer("/args/timeoutSeconds").and_then(Value::as_f64).filter(|t| t.is_finite() && *t >= 0.0);
    let message = arg("message").ok_or_else(|| bad("args.message is required (a string)".into()))?;
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("args.message is longer than {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    Ok(Invocation::Send { session_key, message, timeout_secs })
}

/// The reply text to a message (every mode that replies echoes): what was
/// said up to its first blank line (`connect` appends the call's context
/// after one), cut at [`MAX_ECHO_CHARS`].
pub fn answer(message: &str) -> String {
    let said = message.split("\n\n").next().unwrap_or_default().trim();
    let mut echoed: String = said.chars().take(MAX_ECHO_CHARS).collect();
    if said.chars().count() > MAX_ECHO_CHARS {
        echoed.push('…');
    }
    format!("You said: {echoed}")
}

/// One transcript message.
#[derive(Debug, Clone)]
struct Said {
    role: &'static str,
    text: String,
    /// Sandbox time (Unix ms) from which it is in the transcript.
    at_ms: i64,
    run_id: String,
}

/// Every session's transcript, as the stand-in agent keeps it.
#[derive(Debug, Default)]
pub struct Transcripts {
    sessions: HashMap<String, Vec<Said>>,
    runs: u64,
}

impl Transcripts {
    /// A new run id.
    fn run(&mut self) -> String {
        self.runs += 1;
        format!("run-{:04}", self.runs)
    }

    fn add(&mut self, session: &str, role: &'static str, text: &str, at_ms: i64, run_id: &str) {
        let list = self.sessions.entry(session.to_string()).or_default();
        if list.len() >= MAX_TRANSCRIPT {
            list.remove(0);
        }
        list.push(Said { role, text: text.to_string(), at_ms, run_id: run_id.to_string() });
    }

    /// The agent says `text` in `session` at `at_ms`, outside any run (the
    /// control API's `agent/reply`).
    pub fn say(&mut self, session: &str, text: &str, at_ms: i64) {
        let run_id = self.run();
        self.add(session, "assistant", text, at_ms, &run_id);
    }

    /// The session's latest `limit` messages whose time has come, oldest first.
    pub fn history(&self, session: &str, now_ms: i64, limit: usize) -> Vec<Value> {
        let visible: Vec<&Said> =
            self.sessions.get(session).map(|l| l.iter().filter(|m| m.at_ms <= now_ms).collect()).unwrap_or_default();
        let skip = visible.len().saturating_sub(limit);
        visible
            .into_iter()
            .skip(skip)
            .map(|m| {
                json!({"role": m.role, "content": [{"type": "text", "text": m.text}], "timestamp": m.at_ms,
                       "runId": m.run_id})
            })
            .collect()
    }

    /// Every session with all its messages (their time come or not), for the control API.
    pub fn to_json(&self) -> Value {
        let all: serde_json::Map<String, Value> = self
            .sessions
            .iter()
            .map(|(k, l)| {
                let msgs: Vec<Value> =
                    l.iter().map(|m| json!({"role": m.role, "text": m.text, "timestamp": m.at_ms})).collect();
                (k.clone(), Value::Array(msgs))
            })
            .collect();
        Value::Object(all)
    }
}

/// A tool result in the gateway's envelope: `details`, and the same as JSON text.
fn tool_result(details: Value) -> Response {
    let text = details.to_string();
    axum::Json(json!({"ok": true, "result": {"content": [{"type": "text", "text": text}], "details": details}}))
        .into_response()
}

/// `sessions_send` in `mode`: record our message, answer in the mode's shape,
/// and put the reply in the transcript when its time comes.
async fn send(s: &Shared, mode: AgentMode, session: &str, message: &str, timeout_secs: Option<f64>) -> Response {
    let now_ms = || s.clock.now().timestamp_millis();
    let secs_ms = |secs: f64| (secs * 1000.0) as i64;
    let run_id = {
        let mut t = s.transcripts();
        let run_id = t.run();
        t.add(session, "user", message, now_ms(), &run_id);
        run_id
    };
    let reply = answer(message);
    let later = |at_ms: i64| s.transcripts().add(session, "assistant", &reply, at_ms, &run_id);
    match mode {
        AgentMode::Echo => {
            later(now_ms());
            tool_result(json!({"runId": run_id, "status": "ok", "reply": reply}))
        }
        AgentMode::Pending => {
            later(now_ms() + secs_ms(PENDING_REPLY_AFTER_SECS));
            // the shape a gateway answers while delivery is still pending
            let details = json!({"runId": run_id, "status": "ok", "delivery": {"status": "pending"}});
            tool_result(details)
        }
        AgentMode::Slow => {
            let wait = timeout_secs.unwrap_or(DEFAULT_WAIT_SECS);
            let real = Duration::try_from_secs_f64(wait / s.clock.speed()).unwrap_or(MAX_REAL_WAIT).min(MAX_REAL_WAIT);
            tokio::time::sleep(real).await;
            later(now_ms() + secs_ms(SLOW_EXTRA_SECS));
            tool_result(json!({"runId": run_id, "status": "timeout", "error": "timed out waiting for the agent"}))
        }
        AgentMode::NoReply => tool_result(json!({"runId": run_id, "status": "no_reply"})),
        AgentMode::Error => {
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "agent_error", "the agent's run failed (sandbox --agent error)")
                .into_response()
        }
    }
}

/// Most messages `GET {BASE_PATH}/received` keeps (the oldest go first).
pub const MAX_RECEIVED: usize = 1000;

/// `GET {BASE_PATH}/received`: every `sessions_send` the stand-in agent
/// accepted, oldest first: `{"messages": [{"sessionKey", "message",
/// "timeoutSeconds"}]}` (tests count poll's reports to the agent with it).
async fn received(State(s): State<Shared>) -> Response {
    let list = s.agent_received.lock().map(|l| l.clone()).unwrap_or_default();
    axum::Json(json!({"messages": list})).into_response()
}

/// `POST {BASE_PATH}/tools/invoke`. With `timeoutSeconds: 0` (no wait) it
/// answers like the gateway does, `{"runId", "status": "accepted"}`.
async fn invoke(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(mode) = s.opts.agent else {
        return no_agent().into_response();
    };
    let inv = match parse_invocation(&headers, &body) {
        Ok(i) => i,
        Err(refusal) => return refusal.into_response(),
    };
    match inv {
        Invocation::Send { session_key, message, timeout_secs } => {
            if let Ok(mut list) = s.agent_received.lock() {
                if list.len() >= MAX_RECEIVED {
                    list.remove(0);
                }
                // As sent: a whole number stays an integer in the record.
                let wait = timeout_secs.map(|t| if t.fract() == 0.0 && t < 1e9 { json!(t as u64) } else { json!(t) });
                list.push(json!({"sessionKey": session_key, "message": message, "timeoutSeconds": wait}));
            }
            if timeout_secs == Some(0.0) {
                let accepted =
                    json!({"runId": format!("run_{}", s.clock.now().timestamp_micros()), "status": "accepted"});
                return tool_result(accepted);
            }
            tracing::debug!(session = %session_key, mode = mode.word(), "stand-in agent answering");
            send(&s, mode, &session_key, &message, timeout_secs).await
        }
        Invocation::History { session_key, limit } => {
            let messages = s.transcripts().history(&session_key, s.clock.now().timestamp_millis(), limit);
            tool_result(json!({"sessionKey": session_key, "messages": messages}))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn authed() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer sandbox-gateway-token"));
        h
    }

    #[test]
    fn modes_parse_from_their_words_and_unknown_ones_are_named() {
        assert_eq!("echo".parse::<AgentMode>(), Ok(AgentMode::Echo));
        assert_eq!("no_reply".parse::<AgentMode>(), Ok(AgentMode::NoReply));
        for (m, w) in AgentMode::ALL {
            assert_eq!(w.parse::<AgentMode>(), Ok(*m));
        }
        assert_eq!(AgentMode::Echo.to_string(), "echo");
        let e = "parrot".parse::<AgentMode>().unwrap_err();
        assert!(e.contains("parrot") && e.contains("echo"), "{e}");
    }

    #[test]
    fn echo_repeats_the_message_and_cuts_a_long_one() {
        assert_eq!(answer(" what time is it "), "You said: what time is it");
        let with_context = "what time is it\n\nCall context: {\"source\":\"sandbox call-in\"}";
        assert_eq!(answer(with_context), "You said: what time is it");
        let long = "a".repeat(MAX_ECHO_CHARS + 10);
        let r = answer(&long);
        assert!(r.ends_with('…') && r.chars().count() == "You said: ".len() + MAX_ECHO_CHARS + 1, "{r}");
    }

    #[test]
    fn a_request_without_the_token_is_refused() {
        let body = br#"{"tool":"sessions_send","args":{"sessionKey":"agent:main:main","message":"hi"}}"#;
        let r = parse_invocation(&HeaderMap::new(), body).unwrap_err();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let ok = parse_invocation(&authed(), body).unwrap();
        let want = Invocation::Send { session_key: "agent:main:main".into(), message: "hi".into(), timeout_secs: None };
        assert_eq!(ok, want);
        let history = br#"{"tool":"sessions_history","args":{"sessionKey":"agent:main:main","limit":5}}"#;
        let h = parse_invocation(&authed(), history).unwrap();
        assert_eq!(h, Invocation::History { session_key: "agent:main:main".into(), limit: 5 });
    }

    #[test]
    fn other_tools_and_missing_arguments_are_refused() {
        let other = br#"{"tool":"exec","args":{}}"#;
        assert_eq!(parse_invocation(&authed(), other).unwrap_err().status, StatusCode::NOT_FOUND);
        let no_key = br#"{"tool":"sessions_send","args":{"message":"hi"}}"#;
        assert_eq!(parse_invocation(&authed(), no_key).unwrap_err().status, StatusCode::BAD_REQUEST);
        let huge =
            json!({"tool":"sessions_send","args":{"sessionKey":"s","message":"x".repeat(MAX_MESSAGE_CHARS + 1)}});
        let r = parse_invocation(&authed(), huge.to_string().as_bytes()).unwrap_err();
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn the_transcript_shows_a_reply_only_once_its_time_has_come_and_keeps_the_latest() {
        let mut t = Transcripts::default();
        let run = t.run();
        t.add("s", "user", "hi", 1_000, &run);
        t.add("s", "assistant", "You said: hi", 5_000, &run);
        assert_eq!(t.history("s", 2_000, 50).len(), 1, "the reply is not there yet");
        let h = t.history("s", 5_000, 50);
        assert_eq!(h[1]["role"], "assistant");
        assert_eq!(h[1]["content"][0]["text"], "You said: hi");
        assert_eq!((h[1]["timestamp"].as_i64(), h[1]["runId"].as_str()), (Some(5_000), Some(run.as_str())));
        assert_eq!(t.history("s", 5_000, 1).len(), 1, "limit keeps the latest");
        assert!(t.history("other", 5_000, 50).is_empty());
        for i in 0..MAX_TRANSCRIPT + 5 {
            t.add("s", "user", "x", i as i64, &run);
        }
        assert_eq!(t.sessions["s"].len(), MAX_TRANSCRIPT, "bounded");
    }
}
