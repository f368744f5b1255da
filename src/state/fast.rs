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

use super::model::timestamp;
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

/// An object's entries in order, values raw.
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
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
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
}
