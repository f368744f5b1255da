//! The in-memory form of the whole state file (`docs/protocol.md#state-file`):
//! missions in file order, the archive, and finding a mission by slug or id.
//! One mission is a [`MissionState`] (`mission.rs`), its scheduled events
//! are [`super::ScheduledEvent`]s (`event.rs`), owed run events are claimed
//! through `claims.rs`.
//!
//! Compatibility rules, because users already have `.missions_state.json`
//! files written by telnyx_api.py and may still run it next to `clawdtalk`:
//! - the file is one JSON object keyed by mission slug; each mission is an
//!   object (`mission_name, mission_id, run_id, created_at, assistant_id,
//!   agent_phone, phone_number_id, status?, last_updated, memory`);
//! - every field, known or not, is kept exactly as found (a mission is held as
//!   its raw JSON object with typed accessors on top), and top-level keys in
//!   the file keep their order;
//! - completed missions move under the reserved top-level key
//!   [`ARCHIVE_KEY`] (`"_archive"`), an *object* keyed by mission id, so an
//!   old reader that iterates the top level and calls `.get()` on each value
//!   still works (it shows one extra line `_archive: None [unknown]`).
//!   Keys starting with `_` are reserved: they are never missions.

use chrono::{DateTime, Utc};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};

use super::mission::{type_name, MissionState};
use super::time::timestamp;
use crate::error::{Error, Result};

/// Reserved top-level key holding completed (archived) missions.
pub const ARCHIVE_KEY: &str = "_archive";

/// The slug rule (`docs/protocol.md#state-file`): lowercase, every char outside `[a-z0-9]`
/// becomes `-`, runs of `-` collapse, leading and trailing `-` are trimmed.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.to_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('-').to_string()
}

/// A memory value from the command line (`docs/protocol.md#state-file`): parsed as JSON when
/// it starts with `{` or `[`, kept as a string otherwise.
pub fn parse_memory_value(arg: &str, text: &str) -> Result<Value> {
    if text.starts_with('{') || text.starts_with('[') {
        crate::validate::json_arg(arg, text)
    } else {
        Ok(Value::String(text.to_string()))
    }
}

/// Where a mission key (slug or mission id) was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// An active mission, by its slug.
    Active(String),
    /// An archived mission, by its archive key (its mission id).
    Archived(String),
}

/// The whole state file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Top-level entries in file order: missions and, verbatim, anything
    /// else (keys starting with `_`, values that are not objects).
    entries: Vec<(String, Entry)>,
    /// Completed missions by archive key (the mission id), in file order.
    archive: Vec<(String, MissionState)>,
    /// Non-object values found inside `_archive`, kept verbatim.
    archive_other: Vec<(String, Value)>,
    /// `_archive` was present in the file (so an empty one is kept).
    archive_present: bool,
}

/// Written straight from the parts (no copy of the whole state), missions
/// and other entries in file order, then `_archive`.
impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = ser.serialize_map(None)?;
        for (k, e) in &self.entries {
            match e {
                Entry::Mission(m) => map.serialize_entry(k, m)?,
                Entry::Other(v) => map.serialize_entry(k, v)?,
            }
        }
        if self.archive_present || !self.archive.is_empty() || !self.archive_other.is_empty() {
            map.serialize_entry(ARCHIVE_KEY, &Archive(self))?;
        }
        map.end()
    }
}

struct Archive<'a>(&'a State);

impl Serialize for Archive<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = ser.serialize_map(None)?;
        for (k, m) in &self.0.archive {
            map.serialize_entry(k, m)?;
        }
        for (k, v) in &self.0.archive_other {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Mission(MissionState),
    Other(Value),
}

impl State {
    /// Parse the file's bytes. Only the top level must be an object.
    pub fn from_json(bytes: &[u8]) -> std::result::Result<State, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(State::default());
        }
        let Strict(top) = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
            // Any JSON is a value: the only data error is a duplicate key.
            serde_json::error::Category::Data => format!(
                "ambiguous: {e}. Keep one copy of that key (with two, writes would go to one copy and \
                 reads come from the other)"
            ),
            _ => format!("not valid JSON (line {}, column {}): {e}", e.line(), e.column()),
        })?;
        let Value::Object(top) = top else {
            return Err(format!("the top level is {} instead of an object keyed by mission slug", type_name(&top)));
        };
        Ok(State::from_map(top))
    }

    fn from_map(top: Map<String, Value>) -> State {
        let mut s = State::default();
        for (k, v) in top {
            if k == ARCHIVE_KEY {
                if let Value::Object(arch) = v {
                    s.archive_present = true;
                    for (ak, av) in arch {
                        match av {
                            Value::Object(m) => s.archive.push((ak, MissionState::from_map(m))),
                            other => s.archive_other.push((ak, other)),
                        }
                    }
                    continue;
                }
                s.entries.push((k, Entry::Other(v)));
                continue;
            }
            let entry = match v {
                Value::Object(m) if !k.starts_with('_') => Entry::Mission(MissionState::from_map(m)),
                other => Entry::Other(other),
            };
            s.entries.push((k, entry));
        }
        s
    }

    /// The file's JSON form.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Serialize as the file's bytes: byte for byte what telnyx_api.py's
    /// `json.dumps(indent=2)` writes (2-space indentation, non-ASCII escaped
    /// as `\uXXXX`, no final newline), so it reads it whatever its locale.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        let mut ser = serde_json::Serializer::with_formatter(&mut out, super::write::PythonFormatter::new());
        // Serializing a Value into a Vec cannot fail.
        let _ = self.serialize(&mut ser);
        out
    }

    /// Active missions, in file order.
    pub fn missions(&self) -> impl Iterator<Item = (&str, &MissionState)> {
        self.entries.iter().filter_map(|(k, e)| match e {
            Entry::Mission(m) => Some((k.as_str(), m)),
            Entry::Other(_) => None,
        })
    }

    /// Archived (completed) missions by archive key, in file order.
    pub fn archived(&self) -> impl Iterator<Item = (&str, &MissionState)> {
        self.archive.iter().map(|(k, m)| (k.as_str(), m))
    }

    /// The active mission with this exact slug.
    pub fn mission(&self, slug: &str) -> Option<&MissionState> {
        self.missions().find(|(k, _)| *k == slug).map(|(_, m)| m)
    }

    /// The active mission with this exact slug, for writing.
    pub fn mission_mut(&mut self, slug: &str) -> Option<&mut MissionState> {
        self.entries.iter_mut().find_map(|(k, e)| match e {
            Entry::Mission(m) if k == slug => Some(m),
            _ => None,
        })
    }

    /// The archived mission under this archive key.
    pub fn archived_mission(&self, key: &str) -> Option<&MissionState> {
        self.archive.iter().find(|(k, _)| k == key).map(|(_, m)| m)
    }

    /// The archived mission under this archive key, for writing (the poll
    /// engine may still record event outcomes after completion).
    pub fn archived_mission_mut(&mut self, key: &str) -> Option<&mut MissionState> {
        self.archive.iter_mut().find(|(k, _)| k == key).map(|(_, m)| m)
    }

    /// The mission for `key` (slug or mission id), active or archived, for
    /// writing: records of a mission completed meanwhile are still settled.
    pub fn lookup_mut(&mut self, key: &str) -> Option<&mut MissionState> {
        match self.find(key)? {
            Found::Active(slug) => self.mission_mut(&slug),
            Found::Archived(k) => self.archived_mission_mut(&k),
        }
    }

    /// The active mission `slug`, created empty when absent. Only for
    /// callers that decided creating is intended (`init`, `--create`).
    pub fn mission_or_create(&mut self, slug: &str) -> &mut MissionState {
        let idx = match self.entries.iter().position(|(k, e)| k == slug && matches!(e, Entry::Mission(_))) {
            Some(i) => i,
            None => {
                // A non-object value under this key is replaced.
                self.entries.retain(|(k, _)| k != slug);
                self.entries.push((slug.to_string(), Entry::Mission(MissionState::default())));
                self.entries.len() - 1
            }
        };
        match &mut self.entries[idx].1 {
            Entry::Mission(m) => m,
            Entry::Other(_) => unreachable!("index points at a mission"),
        }
    }

    /// Remove the active mission `slug` from the file.
    pub fn remove(&mut self, slug: &str) -> Option<MissionState> {
        let i = self.entries.iter().position(|(k, e)| k == slug && matches!(e, Entry::Mission(_)))?;
        match self.entries.remove(i).1 {
            Entry::Mission(m) => Some(m),
            Entry::Other(_) => None,
        }
    }

    /// Remove an archived mission.
    pub fn remove_archived(&mut self, key: &str) -> Option<MissionState> {
        let i = self.archive.iter().position(|(k, _)| k == key)?;
        Some(self.archive.remove(i).1)
    }

    /// Move the active mission `slug` to the archive, adding `slug` and
    /// `archived_at` (and `fields`, e.g. `status`, `result_summary`).
    /// Returns the archive key: the mission id, or the slug (made unique
    /// with a suffix) when the entry has none.
    pub fn archive(&mut self, slug: &str, fields: Map<String, Value>, now: DateTime<Utc>) -> Option<String> {
        let mut m = self.remove(slug)?;
        m.set("slug", slug);
        for (k, v) in fields {
            m.set(&k, v);
        }
        m.set("archived_at", timestamp(now));
        m.touch(now);
        let base = m.mission_id().unwrap_or_else(|| slug.to_string());
        let mut key = base.clone();
        let mut n = 2;
        while self.archive.iter().any(|(k, _)| *k == key) {
            // The same mission archived twice: the later copy replaces it.
            if m.mission_id().is_some() {
                self.archive.retain(|(k, _)| *k != key);
                break;
            }
            key = format!("{base}-{n}");
            n += 1;
        }
        self.archive.push((key.clone(), m));
        self.archive_present = true;
        Some(key)
    }

    /// Find a mission by slug or mission id: an active slug first, then an
    /// active mission id, then the archive (by key, mission id, then slug;
    /// the most recently archived wins).
    pub fn find(&self, key: &str) -> Option<Found> {
        if self.mission(key).is_some() {
            return Some(Found::Active(key.to_string()));
        }
        if let Some((slug, _)) = self.missions().find(|(_, m)| m.mission_id().as_deref() == Some(key)) {
            return Some(Found::Active(slug.to_string()));
        }
        if self.archived_mission(key).is_some() {
            return Some(Found::Archived(key.to_string()));
        }
        self.archive
            .iter()
            .rev()
            .find(|(_, m)| m.mission_id().as_deref() == Some(key) || m.get_str("slug").as_deref() == Some(key))
            .map(|(k, _)| Found::Archived(k.clone()))
    }

    /// The mission for `key` (slug or mission id), active or archived.
    pub fn lookup(&self, key: &str) -> Result<(Found, &MissionState)> {
        let found = self.find(key).ok_or_else(|| self.unknown(key))?;
        let m = match &found {
            Found::Active(s) => self.mission(s),
            Found::Archived(k) => self.archived_mission(k),
        };
        m.map(|m| (found.clone(), m)).ok_or_else(|| self.unknown(key))
    }

    /// The slug of the *active* mission for `key` (slug or mission id).
    /// Unknown keys and archived missions are errors that say what to do.
    pub fn active_slug(&self, key: &str) -> Result<String> {
        match self.find(key) {
            Some(Found::Active(slug)) => Ok(slug),
            Some(Found::Archived(_)) => Err(Error::usage(format!(
                "mission '{key}' is completed (archived): it can be read with `state get` and `memory get`, \
                 not changed. Start a new mission with `init` for new work."
            ))),
            None => Err(self.unknown(key)),
        }
    }

    /// The error for an unknown slug: lists the known slugs and suggests the
    /// closest one.
    pub fn unknown(&self, key: &str) -> Error {
        let known: Vec<&str> = self.missions().map(|(k, _)| k).collect();
        if known.is_empty() {
            return Error::usage(format!(
                "no mission '{key}' in the state file: it holds no active missions. \
                 Create one with `clawdtalk init NAME INSTRUCTIONS REQUEST` (check `clawdtalk state path` \
                 if you expected missions here)"
            ));
        }
        let mut msg = format!("no mission '{key}' in the state file (not a known slug or mission id).");
        if let Some(best) = closest(key, &known) {
            msg.push_str(&format!(" Did you mean '{best}'?"));
        }
        msg.push_str(&format!(" Known slugs: {}", known.join(", ")));
        Error::usage(msg)
    }
}
/// A JSON value parsed like [`Value`], except that an object with the same
/// key twice is an error. serde_json keeps the last copy silently, while
/// telnyx_api.py, hand edits and raw scans may each pick another one.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::from(n)))
    }
    fn visit_u64<E>(self, n: u64) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::from(n)))
    }
    fn visit_f64<E>(self, n: f64) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::from(n)))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::String(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::String(s)))
    }
    fn visit_unit<E>(self) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_none<E>(self) -> std::result::Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Strict, D::Error> {
        Strict::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Strict, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            match out.entry(k) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(v);
                }
                serde_json::map::Entry::Occupied(slot) => {
                    return Err(serde::de::Error::custom(format!(
                        "the key \"{}\" appears twice in one object",
                        slot.key()
                    )));
                }
            }
        }
        Ok(Strict(Value::Object(out)))
    }
}

/// The known slug closest to `key` by edit distance (ties: the first).
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let slug = slugify(key);
    known.iter().copied().min_by_key(|k| strsim::levenshtein(key, k).min(strsim::levenshtein(&slug, k)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z").unwrap().with_timezone(&Utc)
    }

    fn state(v: Value) -> State {
        State::from_json(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn slug_rule_of_the_contract() {
        assert_eq!(slugify("Find Window Washers!"), "find-window-washers");
        assert_eq!(slugify("  --Ünïcode__Name 42--"), "n-code-name-42");
        assert_eq!(slugify("a---b"), "a-b");
        assert_eq!(slugify("!!!"), "");
    }

    #[test]
    fn timestamps_look_like_pythons_isoformat() {
        assert_eq!(timestamp(now()), "2026-01-02T03:04:05.500000Z");
    }

    #[test]
    fn memory_values_are_json_only_when_they_start_with_a_bracket() {
        assert_eq!(parse_memory_value("V", "{\"a\":1}").unwrap(), json!({"a":1}));
        assert_eq!(parse_memory_value("V", "[1]").unwrap(), json!([1]));
        assert_eq!(parse_memory_value("V", "42").unwrap(), json!("42"));
        assert_eq!(parse_memory_value("V", " {x").unwrap(), json!(" {x"));
        assert!(parse_memory_value("V", "{x").is_err());
    }

    #[test]
    fn unknown_fields_and_order_round_trip() {
        let v = json!({"z": {"mission_id": 7, "custom": [1, {"x": null}]}, "a": {"memory": {}}, "_meta": 3, "n": 5});
        let s = state(v.clone());
        assert_eq!(s.to_value(), v);
        assert_eq!(s.to_value().as_object().unwrap().keys().collect::<Vec<_>>(), vec!["z", "a", "_meta", "n"]);
        assert_eq!(s.missions().map(|(k, _)| k).collect::<Vec<_>>(), vec!["z", "a"]);
        assert_eq!(s.mission("z").unwrap().mission_id().as_deref(), Some("7"));
    }

    #[test]
    fn bytes_escape_non_ascii_like_python() {
        let s = state(json!({"m": {"mission_name": "Café ☕ 😀"}}));
        let text = String::from_utf8(s.to_json_bytes()).unwrap();
        assert_eq!(text, "{\n  \"m\": {\n    \"mission_name\": \"Caf\\u00e9 \\u2615 \\ud83d\\ude00\"\n  }\n}");
        assert_eq!(State::from_json(text.as_bytes()).unwrap(), s);
    }

    #[test]
    fn find_by_slug_then_mission_id_then_archive() {
        let mut s = state(json!({"alpha": {"mission_id": "mis_a"}, "beta": {"mission_id": "mis_b"}}));
        assert_eq!(s.find("beta"), Some(Found::Active("beta".into())));
        assert_eq!(s.find("mis_a"), Some(Found::Active("alpha".into())));
        let key = s.archive("alpha", Map::new(), now()).unwrap();
        assert_eq!(key, "mis_a");
        assert_eq!(s.find("alpha"), Some(Found::Archived("mis_a".into())));
        assert_eq!(s.find("mis_a"), Some(Found::Archived("mis_a".into())));
        assert!(s.active_slug("alpha").unwrap_err().to_string().contains("archived"));
        assert_eq!(s.lookup("alpha").unwrap().1.get_str("slug").as_deref(), Some("alpha"));
        assert_eq!(s.missions().count(), 1);
    }

    #[test]
    fn archive_is_an_object_that_old_readers_can_iterate() {
        let mut s = state(json!({"alpha": {"mission_id": "mis_a", "memory": {"k": 1}}}));
        s.archive("alpha", Map::new(), now());
        let v = s.to_value();
        assert!(v[ARCHIVE_KEY].is_object());
        assert_eq!(v[ARCHIVE_KEY]["mis_a"]["memory"], json!({"k": 1}));
        assert_eq!(state(v.clone()).to_value(), v);
    }

    #[test]
    fn unknown_slug_lists_known_and_suggests_closest() {
        let s = state(json!({"find-window-washers": {}, "book-dentist": {}}));
        let e = s.active_slug("find-windw-washers").unwrap_err().to_string();
        assert!(e.contains("Did you mean 'find-window-washers'?"), "{e}");
        assert!(e.contains("Known slugs: find-window-washers, book-dentist"), "{e}");
        assert!(matches!(s.active_slug("x").unwrap_err(), Error::Usage(_)));
    }

    #[test]
    fn the_closest_slug_is_by_edit_distance_of_the_key_or_its_slug() {
        let known = ["book-dentist", "find-window-washers"];
        assert_eq!(closest("find-windw-washers", &known), Some("find-window-washers"));
        assert_eq!(closest("Book Dentist!", &known), Some("book-dentist"), "the slugged form counts too");
        assert_eq!(closest("x", &[]), None);
    }

    #[test]
    fn a_key_twice_in_one_object_is_a_clear_error() {
        for text in [
            r#"{"m": {"memory": {}}, "m": {"memory": {"k": 1}}}"#,
            r#"{"m": {"memory": {"k": 1}, "memory": {"k": 2}}}"#,
            r#"{"m": {"memory": {"scheduled_events": [{"event_id": "e1", "settled": true, "settled": false}]}}}"#,
        ] {
            let e = State::from_json(text.as_bytes()).unwrap_err();
            assert!(e.starts_with("ambiguous") && e.contains("appears twice"), "{e}");
        }
        let e = State::from_json(br#"{"a": 1,}"#).unwrap_err();
        assert!(e.starts_with("not valid JSON"), "{e}");
        assert!(State::from_json(br#"{"a": {"k": 1}, "b": {"k": 1}}"#).is_ok(), "the same key in two objects is fine");
    }
}
