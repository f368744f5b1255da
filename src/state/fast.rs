//! The fast path for the hottest write: saving or appending one memory value
//! of one mission (`memory save|append`, run by bots after every finding).
//!
//! Why: a mission's memory grows to thousands of items, and parsing the whole
//! file into `serde_json::Value`s (one allocation per string, object and
//! list) and writing it back dominated the command's time. Here the file is
//! parsed into borrowed raw slices ([`RawValue`], which still validates
//! every byte) and only the path to the changed value is opened: top level →
//! mission → memory → the list. Everything else is copied through verbatim.
//! For a file in Python's `indent=2` format (which clawdtalk and
//! telnyx_api.py write) the result is byte for byte what the general path
//! ([`super::State`]) writes; a test proves it.
//!
//! Anything unusual (the slug is a mission id, no `memory` object yet, odd
//! types) returns `None`, and the caller takes the general path.

use chrono::{DateTime, Utc};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::time::timestamp;
use super::write::PythonFormatter;

/// A memory write.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryWrite {
    /// `save-memory`: set the key.
    Save(Value),
    /// `append-memory`: append to the list at the key.
    Append(Value),
}

/// A JSON tree whose untouched parts stay raw text.
enum Node<'a> {
    Raw(&'a RawValue),
    Value(Value),
    Object(Vec<(String, Node<'a>)>),
    Array(Vec<Node<'a>>),
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Raw(r) => r.serialize(ser),
            Node::Value(v) => v.serialize(ser),
            Node::Object(entries) => {
                let mut m = ser.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Node::Array(items) => {
                let mut s = ser.serialize_seq(Some(items.len()))?;
                for v in items {
                    s.serialize_element(v)?;
                }
                s.end()
            }
        }
    }
}

/// An object's entries in order, values raw. A key that appears twice is
/// an error (the general path then reports the file as ambiguous).
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, &'de RawValue)> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    if !seen.insert(k.clone()) {
                        return Err(serde::de::Error::custom(format!("the key \"{k}\" appears twice")));
                    }
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn object(text: &str) -> Option<Vec<(String, Node<'_>)>> {
    let Entries(e) = serde_json::from_str::<Entries>(text).ok()?;
    Some(e.into_iter().map(|(k, v)| (k, Node::Raw(v))).collect())
}

fn raw_of<'a>(entries: &[(String, Node<'a>)], key: &str) -> Option<(usize, &'a RawValue)> {
    entries.iter().enumerate().find_map(|(i, (k, v))| match v {
        Node::Raw(r) if k == key => Some((i, *r)),
        _ => None,
    })
}

/// Replace `key` in place (keeping the order), or add it at the end.
fn set<'a>(entries: &mut Vec<(String, Node<'a>)>, key: &str, node: Node<'a>) {
    match entries.iter().position(|(k, _)| k == key) {
        Some(i) => entries[i].1 = node,
        None => entries.push((key.to_string(), node)),
    }
}

/// Apply `w` to memory key `key` of the active mission whose slug is exactly
/// `slug`, on the file's bytes. Returns the new file bytes and the list
/// length after an append (1 after a save), or `None` when the general path
/// must handle it.
pub fn memory_write(
    bytes: &[u8],
    slug: &str,
    key: &str,
    w: &MemoryWrite,
    now: DateTime<Utc>,
) -> Option<(Vec<u8>, usize)> {
    if slug.starts_with('_') {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut top = object(text)?;
    let (mi, mission_raw) = raw_of(&top, slug)?;
    let mut mission = object(mission_raw.get())?;
    let (_, memory_raw) = raw_of(&mission, "memory")?;
    let mut memory = object(memory_raw.get())?;
    let (node, count) = match w {
        MemoryWrite::Save(v) => (Node::Value(v.clone()), 1),
        MemoryWrite::Append(item) => match raw_of(&memory, key) {
            None => (Node::Array(vec![Node::Value(item.clone())]), 1),
            Some((_, r)) => {
                let mut items: Vec<Node> = match serde_json::from_str::<Vec<&RawValue>>(r.get()) {
                    Ok(list) => list.into_iter().map(Node::Raw).collect(),
                    // A single value becomes a list first (one level deeper,
                    // so it is re-formatted rather than copied).
                    Err(_) => vec![Node::Value(serde_json::from_str(r.get()).ok()?)],
                };
                items.push(Node::Value(item.clone()));
                let n = items.len();
                (Node::Array(items), n)
            }
        },
    };
    set(&mut memory, key, node);
    set(&mut mission, "memory", Node::Object(memory));
    set(&mut mission, "last_updated", Node::Value(Value::String(timestamp(now))));
    top[mi].1 = Node::Object(mission);
    let mut out = Vec::with_capacity(bytes.len() + 256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter::new());
    Node::Object(top).serialize(&mut ser).ok()?;
    Some((out, count))
}

/// Poll's quick look at the raw state file (so that a poll under cron with
/// nothing to do costs one scan): does any active mission have an unsettled
/// scheduled event, run events to send (`poll_outbox`) or steps it waits
/// for the bot on (`poll_awaiting`, see `lifecycle::executor::AWAITING`), or
/// (archived or not) a report owed to the agent (`super::reports`)? The file is read as borrowed raw slices, so a
/// large archive costs one scan, not a tree of values. `Some(false)` is
/// exact (nothing pending); `Some(true)` or `None` (an unusual file) mean:
/// take the general path (which also reports a key written twice).
pub fn poll_pending(bytes: &[u8]) -> Option<bool> {
    const OWED_MARKER: &str = concat!('"', "agent_reports_owed", '"');
    #[derive(serde::Deserialize)]
    struct Entry<'a> {
        #[serde(borrow, default)]
        memory: Option<Memory<'a>>,
        #[serde(borrow, default)]
        poll_awaiting: Option<&'a RawValue>,
        #[serde(borrow, default)]
        poll_outbox: Option<&'a RawValue>,
        /// `super::reports::REPORTS_OWED` (serde needs the literal name).
        #[serde(borrow, default)]
        agent_reports_owed: Option<&'a RawValue>,
    }
    /// A mission's `memory`; the field is [`super::SCHEDULED_EVENTS_KEY`]
    /// (serde needs the literal name).
    #[derive(serde::Deserialize)]
    struct Memory<'a> {
        #[serde(borrow, default)]
        scheduled_events: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        event_id: Option<Value>,
        #[serde(default)]
        id: Option<Value>,
        #[serde(default)]
        settled: Option<Value>,
        #[serde(default)]
        channel: Option<Value>,
        #[serde(default, rename = "type")]
        kind: Option<Value>,
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if text.trim().is_empty() {
        return Some(false);
    }
    let Entries(top) = serde_json::from_str::<Entries>(text).ok()?;
    for (key, raw) in top {
        // An archived mission may still owe a report to the agent: a plain
        // text search (no parse), as the marker is present only while owed.
        if key == super::ARCHIVE_KEY && raw.get().contains(OWED_MARKER) {
            return Some(true);
        }
        if key.starts_with('_') || !raw.get().trim_start().starts_with('{') {
            continue; // the archive, reserved keys, non-missions
        }
        let entry: Entry = serde_json::from_str(raw.get()).ok()?;
        // Waiting for the bot's steps, or run events to send: pending.
        if entry.poll_awaiting.is_some_and(|v| v.get().trim() != "null") {
            return Some(true);
        }
        if entry.poll_outbox.is_some_and(|v| !matches!(v.get().trim(), "null" | "[]")) {
            return Some(true);
        }
        if entry.agent_reports_owed.is_some_and(|v| v.get().trim() == "true") {
            return Some(true);
        }
        let Some(list) = entry.memory.and_then(|m| m.scheduled_events) else { continue };
        if !list.get().trim_start().starts_with('[') {
            return None;
        }
        let items: Vec<&RawValue> = serde_json::from_str(list.get()).ok()?;
        for it in items {
            let Ok(item) = serde_json::from_str::<Item>(it.get()) else { continue };
            let has_id =
                [&item.event_id, &item.id].iter().any(|v| matches!(v, Some(Value::String(s)) if !s.is_empty()));
            // A bot's entry (`type`, no `channel`) is never polled: see `super::event::is_bot_entry`.
            let bots = item.channel.is_none() && item.kind.is_some();
            if has_id && !bots && item.settled != Some(Value::Bool(true)) {
                return Some(true);
            }
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-06T07:08:09.000010Z").unwrap().with_timezone(&Utc)
    }

    /// The general path's bytes for the same write.
    fn general(bytes: &[u8], slug: &str, key: &str, w: &MemoryWrite) -> (Vec<u8>, usize) {
        let mut s = State::from_json(bytes).unwrap();
        let m = s.mission_mut(slug).unwrap();
        let n = match w {
            MemoryWrite::Save(v) => {
                m.memory_save(key, v.clone(), now()).unwrap();
                1
            }
            MemoryWrite::Append(v) => m.memory_append(key, v.clone(), now()).unwrap(),
        };
        (s.to_json_bytes(), n)
    }

    fn python_file() -> Vec<u8> {
        let v = json!({
            "a": {"mission_name": "A — é", "memory": {"list": [{"x": 1}, "s"], "one": "single", "obj": {"k": [1, 2]}},
                  "z_extra": [true, null]},
            "b": {"memory": {}, "last_updated": "old"},
            "_archive": {"m1": {"slug": "c", "memory": {"k": 1}}}
        });
        State::from_json(v.to_string().as_bytes()).unwrap().to_json_bytes()
    }

    #[test]
    fn fast_and_general_paths_write_the_same_bytes() {
        let file = python_file();
        let cases = [
            ("a", "list", MemoryWrite::Append(json!({"new": "ü", "n": [1, {"d": 2}]}))),
            ("a", "one", MemoryWrite::Append(json!("two"))),
            ("a", "obj", MemoryWrite::Append(json!([]))),
            ("a", "fresh", MemoryWrite::Append(json!("first"))),
            ("a", "list", MemoryWrite::Save(json!({"replaced": true}))),
            ("a", "fresh", MemoryWrite::Save(json!("v"))),
            ("b", "k", MemoryWrite::Append(json!({}))),
            ("b", "k", MemoryWrite::Save(json!([]))),
        ];
        for (slug, key, w) in cases {
            let fast = memory_write(&file, slug, key, &w, now()).unwrap();
            let slow = general(&file, slug, key, &w);
            assert_eq!(String::from_utf8(fast.0).unwrap(), String::from_utf8(slow.0).unwrap(), "{slug} {key} {w:?}");
            assert_eq!(fast.1, slow.1);
        }
    }

    #[test]
    fn a_file_written_by_telnyx_api_py_gets_the_same_bytes_both_ways() {
        let file = include_bytes!("../../tests/fixtures/python_state.json");
        for w in [MemoryWrite::Append(json!({"name": "Zoë"})), MemoryWrite::Save(json!("x"))] {
            for (slug, key) in [("find-window-washers", "contractors"), ("book-dentist", "k"), ("typo-entry", "note")] {
                let fast = memory_write(file, slug, key, &w, now()).unwrap();
                assert_eq!(fast, general(file, slug, key, &w), "{slug} {key}");
            }
        }
    }

    #[test]
    fn unusual_cases_go_to_the_general_path() {
        let file = python_file();
        let w = MemoryWrite::Append(json!(1));
        assert!(memory_write(&file, "missing", "k", &w, now()).is_none());
        assert!(memory_write(&file, "_archive", "k", &w, now()).is_none());
        let no_memory = br#"{"a": {"mission_id": "m"}}"#;
        assert!(memory_write(no_memory, "a", "k", &w, now()).is_none());
        let odd = br#"{"a": {"memory": "text"}}"#;
        assert!(memory_write(odd, "a", "k", &w, now()).is_none());
        assert!(memory_write(b"{\"a\": {", "a", "k", &w, now()).is_none());
    }

    #[test]
    fn the_poll_scan_is_exact_about_nothing_pending() {
        let settled = br#"{"a": {"memory": {"scheduled_events": [{"event_id": "e1", "settled": true}, "a note"]}},
            "_archive": {"m": {"memory": {"scheduled_events": [{"event_id": "old"}]}}}, "b": {"memory": {}}}"#;
        assert_eq!(poll_pending(settled), Some(false), "archived and settled events are not pending");
        let pending = br#"{"a": {"memory": {"scheduled_events": [{"event_id": "e1"}]}}}"#;
        assert_eq!(poll_pending(pending), Some(true));
        let awaiting = br#"{"a": {"poll_awaiting": {"steps": ["analyze"]}, "memory": {"scheduled_events": [{"event_id": "e1", "settled": true}]}}}"#;
        assert_eq!(poll_pending(awaiting), Some(true), "waiting for the bot's step is pending");
        assert_eq!(poll_pending(br#"{"a": {"poll_outbox": [{"kind": "custom"}]}}"#), Some(true));
        assert_eq!(poll_pending(br#"{"a": {"poll_outbox": [], "poll_awaiting": null}}"#), Some(false));
        assert_eq!(
            poll_pending(br#"{"a": {"memory": {"scheduled_events": [{"id": "e1", "settled": false}]}}}"#),
            Some(true)
        );
        assert_eq!(poll_pending(b""), Some(false));
        assert_eq!(poll_pending(b"{broken"), None, "the general path reports a broken file");
        assert_eq!(poll_pending(br#"{"a": {"memory": "text"}}"#), None);
    }

    #[test]
    fn a_report_owed_to_the_agent_is_pending_work_active_or_archived() {
        let active = br#"{"a": {"agent_reports": [{"id": "a:bot_step:x"}], "agent_reports_owed": true}}"#;
        assert_eq!(poll_pending(active), Some(true));
        let archived = br#"{"_archive": {"m1": {"agent_reports": [], "agent_reports_owed": true}}}"#;
        assert_eq!(poll_pending(archived), Some(true));
        let all_sent = br#"{"a": {"agent_reports": [{"id": "x", "status": "sent"}]},
            "_archive": {"m1": {"agent_reports": [{"id": "y", "status": "sent"}]}}}"#;
        assert_eq!(poll_pending(all_sent), Some(false), "sent reports are no work");
    }

    #[test]
    fn a_key_twice_sends_the_scans_to_the_general_path() {
        let twice = br#"{"a": {"memory": {"scheduled_events": [{"event_id": "e1"}]}}, "a": {"memory": {}}}"#;
        assert_eq!(poll_pending(twice), None);
        let w = MemoryWrite::Append(json!(1));
        let twice = br#"{"a": {"memory": {"k": [1]}, "memory": {"k": [2]}}}"#;
        assert!(memory_write(twice, "a", "k", &w, now()).is_none());
    }
}
