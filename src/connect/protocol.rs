//! The messages of the voice-routing WebSocket (docs/protocol.md#voice-websocket), as typed values.
//!
//! Parsing is lenient where the service is known to vary (ids that arrive as
//! numbers, events sent with or without the `{"type":"event"}` wrapper, the
//! event name under `type` or `event`) and strict where a mistake would act
//! for someone: an approval decision is only "approved" when the service
//! says exactly that (see `approval::Decision::from_word`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::config::Secret;

/// What the client sends on the socket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The first message on a new socket.
    Auth {
        #[serde(serialize_with = "expose_secret")]
        api_key: Secret,
        #[serde(skip_serializing_if = "Option::is_none")]
        owner_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent_name: Option<String>,
    },
    /// Answer to `context_request`.
    ContextResponse { call_id: String, context: CallContext },
    /// Text the voice assistant speaks on a call (the greeting).
    Response { call_id: String, text: String },
    /// An interim line the caller hears while a deep tool request runs.
    DeepToolProgress { request_id: String, text: String },
    /// The one and only answer to a deep tool request.
    DeepToolResult { request_id: String, text: String },
    /// Answer to a push-to-talk request: `reply` or `error`.
    WalkieResponse {
        request_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Answer to an application-level `{"type":"ping"}`.
    Pong,
}

fn expose_secret<S: Serializer>(s: &Secret, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose())
}

/// The `context` of a `context_response`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallContext {
    pub memory: String,
    pub system_prompt: String,
}

impl ClientMessage {
    /// The JSON text put on the wire.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail; fall back to an empty object regardless.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// A short name for logs (never the content: it may hold the key).
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Auth { .. } => "auth",
            ClientMessage::ContextResponse { .. } => "context_response",
            ClientMessage::Response { .. } => "response",
            ClientMessage::DeepToolProgress { .. } => "deep_tool_progress",
            ClientMessage::DeepToolResult { .. } => "deep_tool_result",
            ClientMessage::WalkieResponse { .. } => "walkie_response",
            ClientMessage::Pong => "pong",
        }
    }
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    AuthOk,
    AuthError {
        message: String,
    },
    Event(Box<Event>),
    /// Application-level ping (answered with `{"type":"pong"}`).
    Ping,
    /// Application-level pong (counts as liveness).
    Pong,
    /// Anything else: logged and ignored.
    Other {
        kind: String,
    },
}

impl ServerMessage {
    /// Parse one text frame. `Err` carries a reason for the log: the kind
    /// of fault and where, never the frame's text (see [`describe`]).
    pub fn parse(text: &str) -> Result<ServerMessage, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {}", describe(&e)))?;
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        match kind.as_str() {
            "auth_ok" => Ok(ServerMessage::AuthOk),
            "auth_error" => Ok(ServerMessage::AuthError {
                message: v
                    .get("message")
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .unwrap_or("the server refused the API key")
                    .to_string(),
            }),
            "ping" => Ok(ServerMessage::Ping),
            "pong" => Ok(ServerMessage::Pong),
            "event" => match v.get("event") {
                // `{"type":"event","event":{"type":NAME,…}}`
                Some(e @ Value::Object(_)) => Event::parse(e).map(|e| ServerMessage::Event(Box::new(e))),
                // flat: `{"type":"event","event":NAME,…fields}`
                Some(Value::String(name)) => {
                    let mut flat = v.as_object().cloned().unwrap_or_default();
                    flat.insert("type".to_string(), Value::String(name.clone()));
                    Event::parse(&Value::Object(flat)).map(|e| ServerMessage::Event(Box::new(e)))
                }
                _ => Err("event message without an `event` field".to_string()),
            },
            // Some servers send events unwrapped.
            _ => match Event::parse(&v) {
                Ok(Event::Unknown { .. }) | Err(_) => Ok(ServerMessage::Other { kind }),
                Ok(e) => Ok(ServerMessage::Event(Box::new(e))),
            },
        }
    }
}

/// An event of docs/protocol.md#voice-websocket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "context_request")]
    ContextRequest {
        #[serde(deserialize_with = "id")]
        call_id: String,
    },
    #[serde(rename = "call.started")]
    CallStarted {
        #[serde(deserialize_with = "id")]
        call_id: String,
        #[serde(default)]
        direction: Option<String>,
        /// The numbers on the call, when the server names them: they decide
        /// whether the caller is the owner (see `CallParties`).
        #[serde(flatten)]
        parties: CallParties,
    },
    #[serde(rename = "deep_tool_request")]
    DeepToolRequest {
        #[serde(default, deserialize_with = "opt_id")]
        call_id: Option<String>,
        #[serde(deserialize_with = "id")]
        request_id: String,
        query: String,
        #[serde(default)]
        context: Option<Value>,
    },
    #[serde(rename = "sms.received")]
    SmsReceived {
        from: String,
        #[serde(default)]
        body: String,
        #[serde(default, deserialize_with = "opt_id")]
        message_id: Option<String>,
    },
    #[serde(rename = "walkie_request")]
    WalkieRequest {
        #[serde(deserialize_with = "id")]
        request_id: String,
        #[serde(default)]
        transcript: String,
        #[serde(default)]
        session_key: Option<String>,
    },
    #[serde(rename = "approval.responded")]
    ApprovalResponded {
        #[serde(deserialize_with = "id")]
        request_id: String,
        #[serde(default)]
        decision: String,
    },
    #[serde(rename = "call.ended")]
    CallEnded(CallEnded),
    /// A `deep_tool_request` or `walkie_request` whose `request_id` could be
    /// read but not the rest: it still gets its one answer (an apology),
    /// and nothing reaches the agent.
    #[serde(skip)]
    Malformed { name: String, request_id: String, reason: String },
    /// An event this client does not know (logged, ignored).
    #[serde(skip)]
    Unknown { name: String },
}

/// The numbers a call event may carry, under either spelling the service
/// uses (`from`/`from_number`, `to`/`to_number`). A number sent as a JSON
/// number is read as its digits; anything else counts as absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct CallParties {
    #[serde(default, deserialize_with = "opt_id")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub from_number: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub to: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub to_number: Option<String>,
}

impl CallParties {
    /// The other party's number: the caller of an inbound call, the callee
    /// of an outbound one. `None` when the direction or the number is not given.
    pub fn other_party(&self, direction: Option<&str>) -> Option<&str> {
        let (a, b) = match direction {
            Some("inbound") => (&self.from, &self.from_number),
            Some("outbound") => (&self.to, &self.to_number),
            _ => return None,
        };
        a.as_deref().or(b.as_deref()).filter(|n| !n.trim().is_empty())
    }
}

/// The fields of `call.ended`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct CallEnded {
    #[serde(default, deserialize_with = "opt_id")]
    pub call_id: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default, deserialize_with = "opt_number")]
    pub duration_seconds: Option<f64>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub to_number: Option<String>,
    #[serde(default)]
    pub from_number: Option<String>,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub greeting: Option<String>,
    #[serde(default)]
    pub voicemail_message: Option<String>,
}

impl Event {
    /// Parse an event object; its name is under `type` (or `event`, `name`).
    pub fn parse(v: &Value) -> Result<Event, String> {
        let Value::Object(map) = v else {
            return Err("event is not a JSON object".to_string());
        };
        let name = ["type", "event", "name"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .ok_or("event without a name")?
            .to_string();
        const KNOWN: [&str; 7] = [
            "context_request",
            "call.started",
            "deep_tool_request",
            "sms.received",
            "walkie_request",
            "approval.responded",
            "call.ended",
        ];
        if !KNOWN.contains(&name.as_str()) {
            return Ok(Event::Unknown { name });
        }
        let mut m = map.clone();
        m.insert("type".to_string(), Value::String(name.clone()));
        serde_json::from_value(Value::Object(m)).or_else(|e| {
            let reason = describe(&e);
            let request_id = match map.get("request_id") {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            match request_id {
                Some(request_id) if name == "deep_tool_request" || name == "walkie_request" => {
                    Ok(Event::Malformed { name, request_id, reason })
                }
                _ => Err(format!("malformed {name} event: {reason}")),
            }
        })
    }

    /// The event name, for logs.
    pub fn name(&self) -> &str {
        match self {
            Event::ContextRequest { .. } => "context_request",
            Event::CallStarted { .. } => "call.started",
            Event::DeepToolRequest { .. } => "deep_tool_request",
            Event::SmsReceived { .. } => "sms.received",
            Event::WalkieRequest { .. } => "walkie_request",
            Event::ApprovalResponded { .. } => "approval.responded",
            Event::CallEnded(_) => "call.ended",
            Event::Malformed { name, .. } | Event::Unknown { name } => name,
        }
    }
}

/// A JSON error for the log: its kind and position, and the name of a
/// missing field. Never serde's own text, which quotes the offending value
/// (a phone number sent as a number, a token in the wrong place).
pub fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    if let Some(field) = text
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
        .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return format!("missing field `{field}`");
    }
    let kind = match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "syntax error",
        Category::Eof => "unexpected end",
        Category::Data => "a field has the wrong type or value",
    };
    if e.line() > 0 {
        format!("{kind} at line {} column {}", e.line(), e.column())
    } else {
        kind.to_string()
    }
}

/// An id that may arrive as a string or a number.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected an id, got {other}"))),
    }
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn opt_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auth_puts_the_key_on_the_wire_but_not_in_debug() {
        let m = ClientMessage::Auth {
            api_key: Secret::new("cc_live_abcdefghijklmnop"),
            owner_name: Some("Ann".into()),
            agent_name: None,
        };
        let v: Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(v, json!({"type":"auth","api_key":"cc_live_abcdefghijklmnop","owner_name":"Ann"}));
        assert!(!format!("{m:?}").contains("efghijkl"));
    }

    #[test]
    fn client_messages_have_the_contract_shapes() {
        let m = ClientMessage::DeepToolResult { request_id: "r1".into(), text: "ok".into() };
        assert_eq!(serde_json::to_value(&m).unwrap(), json!({"type":"deep_tool_result","request_id":"r1","text":"ok"}));
        let m = ClientMessage::WalkieResponse { request_id: "w".into(), reply: None, error: Some("x".into()) };
        assert_eq!(serde_json::to_value(&m).unwrap(), json!({"type":"walkie_response","request_id":"w","error":"x"}));
        let m = ClientMessage::ContextResponse {
            call_id: "c".into(),
            context: CallContext { memory: "m".into(), system_prompt: "s".into() },
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"type":"context_response","call_id":"c","context":{"memory":"m","system_prompt":"s"}})
        );
    }

    #[test]
    fn events_parse_wrapped_unwrapped_and_with_numeric_ids() {
        let m = ServerMessage::parse(
            r#"{"type":"event","event":{"type":"deep_tool_request","call_id":7,"request_id":"r","query":"q"}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ServerMessage::Event(Box::new(Event::DeepToolRequest {
                call_id: Some("7".into()),
                request_id: "r".into(),
                query: "q".into(),
                context: None
            }))
        );
        let m = ServerMessage::parse(r#"{"type":"event","event":{"event":"call.started","call_id":"c"}}"#).unwrap();
        assert_eq!(
            m,
            ServerMessage::Event(Box::new(Event::CallStarted {
                call_id: "c".into(),
                direction: None,
                parties: CallParties::default()
            }))
        );
        let m = ServerMessage::parse(r#"{"type":"event","event":"call.started","call_id":"c"}"#).unwrap();
        assert_eq!(
            m,
            ServerMessage::Event(Box::new(Event::CallStarted {
                call_id: "c".into(),
                direction: None,
                parties: CallParties::default()
            }))
        );
        let m = ServerMessage::parse(r#"{"type":"approval.responded","request_id":"a","decision":"denied"}"#).unwrap();
        assert_eq!(
            m,
            ServerMessage::Event(Box::new(Event::ApprovalResponded {
                request_id: "a".into(),
                decision: "denied".into()
            }))
        );
        let m =
            ServerMessage::parse(r#"{"type":"event","event":{"type":"call.ended","duration_seconds":"65"}}"#).unwrap();
        let ServerMessage::Event(ev) = m else { panic!("{m:?}") };
        let Event::CallEnded(e) = *ev else { panic!("{ev:?}") };
        assert_eq!(e.duration_seconds, Some(65.0));
    }

    #[test]
    fn call_started_names_the_other_party_by_direction_under_either_spelling() {
        let parse = |t: &str| match ServerMessage::parse(t).unwrap() {
            ServerMessage::Event(e) => match *e {
                Event::CallStarted { direction, parties, .. } => {
                    parties.other_party(direction.as_deref()).map(str::to_string)
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let inbound =
            r#"{"type":"call.started","call_id":"c","direction":"inbound","from":"+15550001111","to":"+15550002222"}"#;
        assert_eq!(parse(inbound).as_deref(), Some("+15550001111"));
        let outbound = r#"{"type":"call.started","call_id":"c","direction":"outbound","from_number":"+1","to_number":15550003333}"#;
        assert_eq!(parse(outbound).as_deref(), Some("15550003333"));
        assert_eq!(
            parse(r#"{"type":"call.started","call_id":"c","from":"+15550001111"}"#),
            None,
            "no direction: unknown"
        );
        assert_eq!(parse(r#"{"type":"call.started","call_id":"c","direction":"inbound","from":{"x":1}}"#), None);
    }

    #[test]
    fn parse_errors_never_quote_the_message() {
        for text in [
            r#"{"type":"event","event":{"type":"sms.received","from":15551234567,"body":"x"}}"#,
            r#"{"type":"event","event":{"type":"deep_tool_request","query":"q","request_id":{"token":"gw_SECRET"}}}"#,
            r#"{"type":"event","event":{"type":"approval.responded","request_id":["cc_live_SECRET"]}}"#,
            r#"{"type":"event","event":{"type":"call.started","call_id":"c","direction":15551234567}}"#,
            r#"{"type":"event","event":{"type":"context_request","call_id":true,"x":"cc_live_SECRET"}}"#,
            r#"{"api_key":"cc_live_SECRET" +15551234567"#,
            "cc_live_SECRET 15551234567",
        ] {
            let e = ServerMessage::parse(text).unwrap_err();
            assert!(!e.contains("SECRET") && !e.contains("5551234567"), "{e}");
        }
        let e = ServerMessage::parse(r#"{"type":"event","event":{"type":"sms.received","from":15551234567}}"#);
        assert_eq!(e.unwrap_err(), "malformed sms.received event: a field has the wrong type or value");
        assert_eq!(ServerMessage::parse("{\"a\":").unwrap_err(), "not JSON: unexpected end at line 1 column 5");
    }

    #[test]
    fn unknown_and_malformed_messages_are_reported_not_fatal() {
        assert_eq!(
            ServerMessage::parse(r#"{"type":"event","event":{"type":"call.ringing"}}"#).unwrap(),
            ServerMessage::Event(Box::new(Event::Unknown { name: "call.ringing".into() }))
        );
        assert!(ServerMessage::parse(r#"{"type":"event","event":{"type":"deep_tool_request"}}"#).is_err());
        assert!(ServerMessage::parse("not json").is_err());
        // a request whose id can be read is passed on, to be answered
        assert_eq!(
            ServerMessage::parse(r#"{"type":"event","event":{"type":"deep_tool_request","request_id":9}}"#).unwrap(),
            ServerMessage::Event(Box::new(Event::Malformed {
                name: "deep_tool_request".into(),
                request_id: "9".into(),
                reason: "missing field `query`".into()
            }))
        );
        let m = ServerMessage::parse(r#"{"type":"walkie_request","request_id":"w","transcript":{"t":1}}"#).unwrap();
        assert!(
            matches!(m, ServerMessage::Event(e) if matches!(&*e, Event::Malformed { request_id, .. } if request_id == "w"))
        );
        assert_eq!(
            ServerMessage::parse(r#"{"type":"auth_error","message":"bad key"}"#).unwrap(),
            ServerMessage::AuthError { message: "bad key".into() }
        );
    }
}
