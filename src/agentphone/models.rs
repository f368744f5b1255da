//! Serde models of AgentPhone's objects (docs/protocol.md#agentphone). Like the ClawdTalk
//! models, each keeps the fields the client relies on and carries every
//! other field along in `extra`, so `--json` shows the whole call.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Lifecycle words, in order. `completed`, `failed` and `canceled` are terminal.
pub const STATUSES: &[&str] = &["queued", "dialing", "in_progress", "completed", "failed", "canceled"];
/// Outcome words of a completed call.
pub const OUTCOMES: &[&str] = &["achieved", "partial", "not_achieved"];

/// What `POST /calls` sends.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallRequest {
    pub to_phone_number: String,
    pub objective: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

/// One AgentPhone call: the `data` of `POST /calls` (id, status, created_at)
/// or of `GET /calls/{id}` (everything).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Call {
    pub call_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// A string, or a list of turns (`{role|speaker, text|content|message}`):
    /// the protocol does not fix the shape, so both are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<serde_json::Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Call {
    /// `completed`, `failed` or `canceled` (also `cancelled`, in case the
    /// service ever spells it the British way): polling stops.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "canceled" | "cancelled")
    }

    /// The call ended without completing (the person was not reached or the
    /// call was stopped): reported as such, exit 1.
    pub fn is_unsuccessful(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "canceled" | "cancelled")
    }

    /// A completed call whose transcript or summary has not arrived yet
    /// (AgentPhone fills them in shortly after the call ends).
    pub fn lacks_enrichment(&self) -> bool {
        self.status == "completed" && (!has_text(&self.summary) || !has_transcript(self.transcript.as_ref()))
    }

    /// The lifecycle stage in words, for progress lines.
    pub fn stage(&self) -> String {
        match self.status.as_str() {
            "queued" => "queued".into(),
            "dialing" => "dialing".into(),
            "in_progress" => "in progress".into(),
            "" => "status unknown".into(),
            other => other.replace('_', " "),
        }
    }

    /// The transcript as lines of text: a string as it is, a list of turns as
    /// `speaker: text` lines, anything else as compact JSON.
    pub fn transcript_text(&self) -> Option<String> {
        let t = self.transcript.as_ref().filter(|t| has_transcript(Some(t)))?;
        Some(match t {
            Value::String(s) => s.trim_end().to_string(),
            Value::Array(turns) => turns.iter().map(turn_line).collect::<Vec<_>>().join("\n"),
            other => other.to_string(),
        })
    }
}

fn has_text(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.trim().is_empty())
}

fn has_transcript(t: Option<&Value>) -> bool {
    match t {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

fn turn_line(turn: &Value) -> String {
    let pick = |keys: &[&str]| keys.iter().find_map(|k| turn.get(*k).and_then(Value::as_str)).map(str::to_string);
    match (pick(&["role", "speaker"]), pick(&["text", "content", "message"])) {
        (Some(who), Some(text)) => format!("{who}: {text}"),
        (None, Some(text)) => text,
        _ => match turn {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(v: Value) -> Call {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn request_omits_absent_optional_fields() {
        let r = CallRequest {
            to_phone_number: "+15005550006".into(),
            objective: "Ask".into(),
            business_name: None,
            website: Some("https://x.example".into()),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"to_phone_number": "+15005550006", "objective": "Ask", "website": "https://x.example"})
        );
    }

    #[test]
    fn terminal_and_unsuccessful_statuses() {
        for (s, term, bad) in [
            ("queued", false, false),
            ("dialing", false, false),
            ("in_progress", false, false),
            ("completed", true, false),
            ("failed", true, true),
            ("canceled", true, true),
        ] {
            let c = call(json!({"call_id": "c", "status": s}));
            assert_eq!((c.is_terminal(), c.is_unsuccessful()), (term, bad), "{s}");
        }
    }

    #[test]
    fn enrichment_needed_only_for_completed_calls_missing_text() {
        assert!(call(json!({"call_id": "c", "status": "completed", "summary": "s"})).lacks_enrichment());
        assert!(
            call(json!({"call_id": "c", "status": "completed", "transcript": "t", "summary": " "})).lacks_enrichment()
        );
        assert!(
            !call(json!({"call_id": "c", "status": "completed", "transcript": "t", "summary": "s"})).lacks_enrichment()
        );
        assert!(!call(json!({"call_id": "c", "status": "failed"})).lacks_enrichment());
    }

    #[test]
    fn transcript_turns_render_as_speaker_lines() {
        let c = call(json!({"call_id": "c", "transcript": [
            {"role": "agent", "text": "Hello"}, {"speaker": "callee", "content": "Hi"}
        ]}));
        assert_eq!(c.transcript_text().unwrap(), "agent: Hello\ncallee: Hi");
        assert_eq!(call(json!({"call_id": "c", "transcript": "A: x\n"})).transcript_text().unwrap(), "A: x");
        assert_eq!(call(json!({"call_id": "c", "transcript": []})).transcript_text(), None);
    }

    #[test]
    fn unknown_fields_are_kept() {
        let c = call(json!({"call_id": "c", "status": "queued", "cost_cents": 12}));
        assert_eq!(serde_json::to_value(&c).unwrap()["cost_cents"], 12);
    }
}
