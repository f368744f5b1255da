//! Assistants: `/assistants[/{aid}]`, `/assistants/{aid}/connection-id`.

use serde_json::{json, Map, Value};

use super::envelope::{self, truthy};
use super::models::{Assistant, AssistantPage};
use super::{quote, ApiPath, Client};
use crate::error::Result;

const ENVELOPE: &[&str] = &["assistant", "data"];
const ID_ALIASES: &[&str] = &["assistant_id"];

pub const DEFAULT_MODEL: &str = "openai/gpt-4o";
pub const DEFAULT_VOICE: &str = "Rime.ArcanaV3.astra";
pub const DEFAULT_FEATURES: &[&str] = &["telephony", "messaging"];
/// Tool types the service knows (docs/protocol.md#create-assistant).
pub const TOOL_TYPES: &[&str] =
    &["hangup", "webhook", "transfer", "handoff", "retrieval", "refer", "send_dtmf", "send_message"];
/// Features an assistant can be asked for a connection id of.
pub const FEATURES: &[&str] = &["telephony", "messaging"];

/// The tools every assistant gets unless told otherwise: hang up when the
/// conversation is over, and press keys in phone menus.
pub fn default_tools() -> Value {
    json!([
        {"type": "hangup", "hangup": {"description": "To be used whenever the conversation has ended and it would be appropriate to hangup the call."}},
        {"type": "send_dtmf", "send_dtmf": {}}
    ])
}

/// An assistant to create. [`NewAssistant::new`] fills the protocol's defaults (docs/protocol.md#create-assistant).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAssistant {
    pub name: String,
    pub instructions: String,
    /// `""` makes the callee speak first on outbound calls.
    pub greeting: String,
    pub model: String,
    pub voice: String,
    pub tools: Value,
    pub enabled_features: Vec<String>,
    pub description: Option<String>,
}

impl NewAssistant {
    pub fn new(name: impl Into<String>, instructions: impl Into<String>) -> Self {
        NewAssistant {
            name: name.into(),
            instructions: instructions.into(),
            greeting: String::new(),
            model: DEFAULT_MODEL.to_string(),
            voice: DEFAULT_VOICE.to_string(),
            tools: default_tools(),
            enabled_features: DEFAULT_FEATURES.iter().map(|s| s.to_string()).collect(),
            description: None,
        }
    }

    /// The body in the protocol's key order: name, model, instructions,
    /// greeting, voice, tools, enabled_features, then description when given.
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("model".into(), json!(self.model));
        m.insert("instructions".into(), json!(self.instructions));
        m.insert("greeting".into(), json!(self.greeting));
        m.insert("voice".into(), json!(self.voice));
        m.insert("tools".into(), self.tools.clone());
        m.insert("enabled_features".into(), json!(self.enabled_features));
        if let Some(d) = self.description.as_ref().filter(|d| !d.is_empty()) {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }
}

/// Create an assistant.
pub async fn create(c: &Client, a: &NewAssistant) -> Result<Assistant> {
    let reply = c.post(&ApiPath::new("/assistants"), &a.body()).await?;
    envelope::object(reply, ENVELOPE, ID_ALIASES, "assistant")
}

/// The query string telnyx_api.py sent: `pageSize=25&page=1[&name=<quoted>]`.
pub fn list_query(page_size: u32, page: u32, name: Option<&str>) -> String {
    let mut q = format!("pageSize={page_size}&page={page}");
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        q.push_str("&name=");
        q.push_str(&quote(n, "/"));
    }
    q
}

/// One page of assistants, optionally filtered by name (substring).
pub async fn list(c: &Client, page_size: u32, page: u32, name: Option<&str>) -> Result<AssistantPage> {
    let reply = c.get(&ApiPath::new("/assistants").query(&list_query(page_size, page, name)), &[]).await?;
    let assistants: Vec<Assistant> = envelope::objects(&reply, &["assistants", "data"], ID_ALIASES, "assistant")?;
    let meta = reply.get("meta").cloned().unwrap_or(Value::Null);
    let count = |k: &str| meta.get(k).filter(|v| truthy(v)).and_then(Value::as_u64);
    let total = count("total_results").or_else(|| count("total")).unwrap_or(assistants.len() as u64);
    let total_pages = meta.get("total_pages").and_then(Value::as_u64).unwrap_or(1);
    Ok(AssistantPage { assistants, page, total_pages, total })
}

/// Fetch one assistant.
pub async fn get(c: &Client, assistant_id: &str) -> Result<Assistant> {
    let reply = c.get(&ApiPath::new("/assistants").id("ASSISTANT_ID", assistant_id)?, &[]).await?;
    envelope::object(reply, ENVELOPE, ID_ALIASES, "assistant")
}

/// Apply `updates` (any fields of the create body) as they are; returns the
/// unwrapped reply. An empty object sends no body, as telnyx_api.py did.
pub async fn update(c: &Client, assistant_id: &str, updates: &Value) -> Result<Value> {
    let body = truthy(updates).then_some(updates);
    let reply = c
        .send(reqwest::Method::PATCH, &ApiPath::new("/assistants").id("ASSISTANT_ID", assistant_id)?, &[], body)
        .await?;
    Ok(envelope::one(reply, ENVELOPE))
}

/// The assistant's connection id for `feature` (`telephony` gives the
/// TeXML app id, `messaging` the messaging profile id); `None` when it has none.
pub async fn connection_id(c: &Client, assistant_id: &str, feature: &str) -> Result<Option<String>> {
    let path = ApiPath::new("/assistants")
        .id("ASSISTANT_ID", assistant_id)?
        .lit("connection-id")
        .query(&format!("feature={}", quote(feature, "/")));
    let reply = c.get(&path, &[]).await?;
    let found = envelope::id(&reply, &["connection_id"])
        .or_else(|| reply.get("data").and_then(|d| envelope::id(d, &["connection_id"])));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_has_protocol_defaults_in_order() {
        let body = super::super::body_bytes(&NewAssistant::new("N", "I").body());
        let s = String::from_utf8(body).unwrap();
        assert!(s.starts_with(r#"{"name": "N", "model": "openai/gpt-4o", "instructions": "I", "greeting": "", "voice": "Rime.ArcanaV3.astra", "tools": [{"type": "hangup""#), "{s}");
        assert!(s.ends_with(r#""enabled_features": ["telephony", "messaging"]}"#), "{s}");
    }

    #[test]
    fn list_query_matches_telnyx_api_py() {
        assert_eq!(list_query(25, 1, None), "pageSize=25&page=1");
        assert_eq!(list_query(10, 2, Some("Pool & Spa")), "pageSize=10&page=2&name=Pool%20%26%20Spa");
        assert_eq!(list_query(25, 1, Some("")), "pageSize=25&page=1");
    }
}
