//! The stand-in agent: an OpenClaw-gateway-compatible `POST /tools/invoke`
//! under [`BASE_PATH`], so `clawdtalk connect` against the sandbox reaches
//! an agent with no gateway installed (docs/protocol.md#the-gateway).
//!
//! It is the one stand-in gateway of the project: `clawdtalk sandbox
//! --agent MODE` serves it, and [`AgentMode`] says how it answers. Adding an
//! answer mode is one variant, its word in [`AgentMode::ALL`] and one arm in
//! [`answer`]; the request checks (token, tool, arguments) stay shared.
//!
//! Requests need `Authorization: Bearer` [`GATEWAY_TOKEN`] (401 otherwise,
//! like a gateway with a token set) and `{"tool":"sessions_send","args":
//! {"sessionKey","message","timeoutSeconds"?}}`. Refusals have the gateway's
//! shape `{"ok":false,"error":{"type","message"}}`.

use std::fmt;
use std::str::FromStr;

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

/// How the stand-in agent answers `sessions_send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentMode {
    /// At once, with `You said: MESSAGE`.
    Echo,
}

impl AgentMode {
    /// Every mode, with the word `--agent` takes.
    pub const ALL: &'static [(AgentMode, &'static str)] = &[(AgentMode::Echo, "echo")];

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

/// What a valid `sessions_send` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub session_key: String,
    pub message: String,
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
    match v.get("tool").and_then(Value::as_str) {
        Some("sessions_send") => {}
        Some(other) => {
            return Err(refuse(StatusCode::NOT_FOUND, "tool_not_found", format!("tool {other:?} is not available")))
        }
        None => return Err(bad("tool is required".into())),
    }
    let arg = |k: &str| v.pointer(&format!("/args/{k}")).and_then(Value::as_str).map(str::to_string);
    let session_key =
        arg("sessionKey").filter(|s| !s.trim().is_empty()).ok_or_else(|| bad("args.sessionKey is required".into()))?;
    let message = arg("message").ok_or_else(|| bad("args.message is required (a string)".into()))?;
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("args.message is longer than {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    Ok(Invocation { session_key, message })
}

/// The reply text of `mode` to a message. Echo repeats what was said: the
/// message up to its first blank line (`connect` appends the call's context
/// after one), cut at [`MAX_ECHO_CHARS`].
pub fn answer(mode: AgentMode, message: &str) -> String {
    match mode {
        AgentMode::Echo => {
            let said = message.split("\n\n").next().unwrap_or_default().trim();
            let mut echoed: String = said.chars().take(MAX_ECHO_CHARS).collect();
            if said.chars().count() > MAX_ECHO_CHARS {
                echoed.push('…');
            }
            format!("You said: {echoed}")
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
    let wait = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.pointer("/args/timeoutSeconds").cloned());
    let run_id = if let Ok(mut list) = s.agent_received.lock() {
        if list.len() >= MAX_RECEIVED {
            list.remove(0);
        }
        list.push(json!({"sessionKey": inv.session_key, "message": inv.message, "timeoutSeconds": wait}));
        format!("run_{}", list.len())
    } else {
        "run_0".into()
    };
    if wait.as_ref().and_then(Value::as_f64) == Some(0.0) {
        let accepted = json!({"runId": run_id, "status": "accepted"});
        let content = json!([{"type": "text", "text": accepted.to_string()}]);
        return axum::Json(json!({"ok": true, "result": {"content": content, "details": accepted}})).into_response();
    }
    tracing::debug!(session = %inv.session_key, mode = mode.word(), "stand-in agent answering");
    axum::Json(json!({"ok": true, "result": {"details": {"reply": answer(mode, &inv.message)}}})).into_response()
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
        assert_eq!(AgentMode::Echo.to_string(), "echo");
        let e = "parrot".parse::<AgentMode>().unwrap_err();
        assert!(e.contains("parrot") && e.contains("echo"), "{e}");
    }

    #[test]
    fn echo_repeats_the_message_and_cuts_a_long_one() {
        assert_eq!(answer(AgentMode::Echo, " what time is it "), "You said: what time is it");
        let with_context = "what time is it\n\nCall context: {\"source\":\"sandbox call-in\"}";
        assert_eq!(answer(AgentMode::Echo, with_context), "You said: what time is it");
        let long = "a".repeat(MAX_ECHO_CHARS + 10);
        let r = answer(AgentMode::Echo, &long);
        assert!(r.ends_with('…') && r.chars().count() == "You said: ".len() + MAX_ECHO_CHARS + 1, "{r}");
    }

    #[test]
    fn a_request_without_the_token_is_refused() {
        let body = br#"{"tool":"sessions_send","args":{"sessionKey":"agent:main:main","message":"hi"}}"#;
        let r = parse_invocation(&HeaderMap::new(), body).unwrap_err();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let ok = parse_invocation(&authed(), body).unwrap();
        assert_eq!(ok, Invocation { session_key: "agent:main:main".into(), message: "hi".into() });
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
}
