//! An assistant to create, as the user gave it: `assistant create`,
//! `create-assistant` and `setup-agent` all describe one the same way.

use serde_json::{json, Value};

use crate::api::assistants::{NewAssistant, FEATURES, TOOL_TYPES};
use crate::error::{Error, Result};
use crate::validate;

/// An assistant to create (not yet validated: see [`AssistantRequest::prepare`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssistantRequest {
    pub name: String,
    /// Its system prompt.
    pub instructions: String,
    /// First words on a call (`None`: the callee speaks first).
    pub greeting: Option<String>,
    pub model: Option<String>,
    pub voice: Option<String>,
    pub features: Option<Vec<String>>,
    /// Tools as a JSON list.
    pub tools: Option<String>,
    pub description: Option<String>,
    /// telnyx_api.py's OPTIONS_JSON object (individual fields win over it).
    pub options: Option<String>,
}

/// Keys OPTIONS_JSON may hold (docs/protocol.md#create-assistant).
const OPTION_KEYS: &[&str] = &["features", "enabled_features", "model", "tools", "description", "voice"];

fn string_option(key: &str, v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| Error::usage(format!("OPTIONS_JSON: \"{key}\" must be a string")))
}

fn features(arg: &str, v: &Value) -> Result<Vec<String>> {
    let items = v.as_array().ok_or_else(|| {
        Error::usage(format!("{arg} must be a list of features, e.g. [\"telephony\", \"messaging\"]"))
    })?;
    items
        .iter()
        .map(|f| {
            let f = f.as_str().unwrap_or_default();
            validate::word(arg, f, FEATURES).map(str::to_string)
        })
        .collect()
}

fn tools(arg: &str, v: Value) -> Result<Value> {
    let ok = v.as_array().is_some_and(|ts| {
        ts.iter().all(|t| t.get("type").and_then(Value::as_str).is_some_and(|ty| TOOL_TYPES.contains(&ty)))
    });
    if ok {
        Ok(v)
    } else {
        Err(Error::usage(format!(
            "{arg} must be a list of tools like [{{\"type\": \"hangup\", \"hangup\": {{}}}}]; known types: {}",
            TOOL_TYPES.join(", ")
        )))
    }
}

impl AssistantRequest {
    /// Build the create body: the protocol's defaults, then OPTIONS_JSON
    /// (`options`), then the individual fields. Nothing is sent when any
    /// part is invalid, so a workflow checks this before its first request.
    pub fn prepare(&self) -> Result<NewAssistant> {
        new_assistant(self)
    }
}

fn new_assistant(a: &AssistantRequest) -> Result<NewAssistant> {
    let mut n = NewAssistant::new(&a.name, &a.instructions);
    n.greeting = a.greeting.clone().unwrap_or_default();
    // The skill documentation passes the features list itself
    // (`create-assistant NAME INSTR GREETING '["telephony", "messaging"]'`):
    // a JSON list is the features list (telnyx_api.py ignored it and used the
    // default, the same two for the documented example).
    let list = a.options.as_deref().filter(|t| t.trim_start().starts_with('['));
    if let Some(text) = list {
        n.enabled_features = features("OPTIONS_JSON", &validate::json_arg("OPTIONS_JSON", text)?)?;
    }
    if let Some(text) = a.options.as_ref().filter(|_| list.is_none()) {
        let opts = validate::json_object_arg("OPTIONS_JSON", text)?;
        let opts = opts.as_object().cloned().unwrap_or_default();
        if let Some(k) = opts.keys().find(|k| !OPTION_KEYS.contains(&k.as_str())) {
            return Err(Error::usage(format!(
                "OPTIONS_JSON: unknown key \"{k}\"; valid keys are: {}",
                OPTION_KEYS.join(", ")
            )));
        }
        // As telnyx_api.py: a non-empty "features" wins over "enabled_features"; empty means the default.
        let feats =
            opts.get("features").filter(|v| crate::api::envelope::truthy(v)).map(|v| ("features", v)).or_else(|| {
                opts.get("enabled_features")
                    .filter(|v| crate::api::envelope::truthy(v))
                    .map(|v| ("enabled_features", v))
            });
        if let Some((k, v)) = feats {
            n.enabled_features = features(&format!("OPTIONS_JSON \"{k}\""), v)?;
        }
        if let Some(v) = opts.get("model") {
            n.model = string_option("model", v)?;
        }
        if let Some(v) = opts.get("voice") {
            n.voice = string_option("voice", v)?;
        }
        if let Some(v) = opts.get("tools") {
            n.tools = tools("OPTIONS_JSON \"tools\"", v.clone())?;
        }
        if let Some(v) = opts.get("description") {
            n.description = Some(string_option("description", v)?);
        }
    }
    if let Some(m) = &a.model {
        n.model = m.clone();
    }
    if let Some(v) = &a.voice {
        n.voice = v.clone();
    }
    if let Some(fs) = &a.features {
        n.enabled_features = features("--features", &json!(fs))?;
    }
    if let Some(t) = &a.tools {
        n.tools = tools("--tools", validate::json_arg("--tools", t)?)?;
    }
    if let Some(d) = &a.description {
        n.description = Some(d.clone());
    }
    Ok(n)
}
