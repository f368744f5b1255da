//! One mission entry of the state file (`docs/protocol.md#state-file`): its
//! raw JSON object with typed accessors, and the memory operations
//! (`save-memory`, `append-memory`) the commands, poll and AgentPhone use.
//!
//! The entry is kept as its raw object so that every field, known or not,
//! survives a rewrite exactly (users share the file with telnyx_api.py).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::time::timestamp;
use crate::error::{Error, Result};

/// One mission entry: its raw JSON object, with typed accessors for the
/// fields of the state file. Unknown fields and odd types are never touched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MissionState {
    /// The raw object; `pub(super)` so the record bookkeeping
    /// ([`super::claims`], [`super::event`]) edits records in place.
    pub(super) fields: Map<String, Value>,
}

impl MissionState {
    /// A mission entry from its raw object.
    pub fn from_map(fields: Map<String, Value>) -> Self {
        MissionState { fields }
    }

    /// Every field, as stored.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// A string field, when present and non-empty (ids that are JSON
    /// numbers are rendered as text: the service sometimes sends them so).
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.fields.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Set one field (replacing it in place, so the field order is kept).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_string(), value.into());
    }

    /// Remove one field.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.fields.shift_remove(key)
    }

    pub fn mission_name(&self) -> Option<String> {
        self.get_str("mission_name")
    }
    pub fn mission_id(&self) -> Option<String> {
        self.get_str("mission_id")
    }
    pub fn run_id(&self) -> Option<String> {
        self.get_str("run_id")
    }
    pub fn assistant_id(&self) -> Option<String> {
        self.get_str("assistant_id")
    }
    /// The mission's caller id for outbound calls and SMS.
    pub fn agent_phone(&self) -> Option<String> {
        self.get_str("agent_phone")
    }
    pub fn phone_number_id(&self) -> Option<String> {
        self.get_str("phone_number_id")
    }
    pub fn status(&self) -> Option<String> {
        self.get_str("status")
    }

    /// Record that the entry changed (`last_updated`, as telnyx_api.py).
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.set("last_updated", timestamp(now));
    }

    /// The memory object, when the entry has one.
    pub fn memory(&self) -> Option<&Map<String, Value>> {
        self.fields.get("memory").and_then(Value::as_object)
    }

    /// One memory value.
    pub fn memory_get(&self, key: &str) -> Option<&Value> {
        self.memory().and_then(|m| m.get(key))
    }

    /// The memory object for writing, created when absent. A `memory` that
    /// is not an object is refused rather than overwritten.
    pub fn memory_mut(&mut self) -> Result<&mut Map<String, Value>> {
        let slot = self.fields.entry("memory").or_insert_with(|| Value::Object(Map::new()));
        match slot {
            Value::Object(m) => Ok(m),
            other => Err(Error::state(format!(
                "this mission's \"memory\" is {} instead of an object; fix it in the state file by hand",
                type_name(other)
            ))),
        }
    }

    /// `save-memory`: set `key` to `value`, and stamp `last_updated`.
    pub fn memory_save(&mut self, key: &str, value: Value, now: DateTime<Utc>) -> Result<()> {
        self.memory_mut()?.insert(key.to_string(), value);
        self.touch(now);
        Ok(())
    }

    /// `append-memory`: append `item` to the list at `key` (created when
    /// absent; a single value is turned into a one-item list first).
    /// Returns the list's new length.
    pub fn memory_append(&mut self, key: &str, item: Value, now: DateTime<Utc>) -> Result<usize> {
        let mem = self.memory_mut()?;
        let slot = mem.entry(key.to_string()).or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            let single = std::mem::take(slot);
            *slot = Value::Array(vec![single]);
        }
        let len = match slot {
            Value::Array(list) => {
                list.push(item);
                list.len()
            }
            _ => 0,
        };
        self.touch(now);
        Ok(len)
    }
}

/// How a JSON value's type reads in an error message.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::super::State;
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z").unwrap().with_timezone(&Utc)
    }

    fn state(v: Value) -> State {
        State::from_json(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn append_turns_a_single_value_into_a_list() {
        let mut m = MissionState::default();
        m.memory_save("k", json!("one"), now()).unwrap();
        assert_eq!(m.memory_append("k", json!("two"), now()).unwrap(), 2);
        assert_eq!(m.memory_get("k"), Some(&json!(["one", "two"])));
        assert_eq!(m.memory_append("new", json!({"a":1}), now()).unwrap(), 1);
        assert_eq!(m.get_str("last_updated").as_deref(), Some("2026-01-02T03:04:05.500000Z"));
    }

    #[test]
    fn memory_that_is_not_an_object_is_refused_not_overwritten() {
        let mut s = state(json!({"m": {"memory": "oops"}}));
        let m = s.mission_mut("m").unwrap();
        assert!(m.memory_save("k", json!(1), now()).is_err());
        assert_eq!(m.fields()["memory"], json!("oops"));
    }
}
