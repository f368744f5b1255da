//! The in-memory form of the state file (contract §4) and the operations the
//! commands, the poll engine and AgentPhone perform on it.
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

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Reserved top-level key holding completed (archived) missions.
pub const ARCHIVE_KEY: &str = "_archive";
/// Memory key under which scheduled calls and SMS are recorded.
pub const SCHEDULED_EVENTS_KEY: &str = "scheduled_events";

/// A timestamp in the form telnyx_api.py wrote (`…T17:27:28.123456Z`).
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The contract's slug rule: lowercase, every char outside `[a-z0-9]`
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

/// A memory value from the command line (contract §4): parsed as JSON when
/// it starts with `{` or `[`, kept as a string otherwise.
pub fn parse_memory_value(arg: &str, text: &str) -> Result<Value> {
    if text.starts_with('{') || text.starts_with('[') {
        crate::validate::json_arg(arg, text)
    } else {
        Ok(Value::String(text.to_string()))
    }
}

/// One mission entry: its raw JSON object, with typed accessors for the
/// fields of §4. Unknown fields and odd types are never touched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MissionState {
    fields: Map<String, Value>,
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

    /// The scheduled calls and SMS recorded for this mission. Entries that
    /// are not event objects (hand-written notes) are skipped here but kept
    /// in the file.
    pub fn scheduled_events(&self) -> Vec<ScheduledEvent> {
        self.memory_get(SCHEDULED_EVENTS_KEY)
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect())
            .unwrap_or_default()
    }

    /// Record a scheduled event: replaces the record with the same
    /// `event_id`, or appends it. Stamps `last_updated`.
    pub fn upsert_scheduled_event(&mut self, ev: &ScheduledEvent, now: DateTime<Utc>) -> Result<()> {
        let value = serde_json::to_value(ev).map_err(|e| Error::state(format!("cannot record event: {e}")))?;
        let mem = self.memory_mut()?;
        let slot = mem.entry(SCHEDULED_EVENTS_KEY).or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            let single = std::mem::take(slot);
            *slot = Value::Array(vec![single]);
        }
        if let Value::Array(list) = slot {
            match list.iter_mut().find(|v| v.get("event_id").and_then(Value::as_str) == Some(ev.event_id.as_str())) {
                Some(existing) => *existing = value,
                None => list.push(value),
            }
        }
        self.touch(now);
        Ok(())
    }

    /// Claim every scheduled event whose run event is owed and not claimed
    /// by a live claimer: [`MissionState::claim_logs`] over
    /// [`SCHEDULED_EVENT_LOGS`]. Returns the claimed records.
    pub fn claim_unlogged(
        &mut self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ScheduledEvent>> {
        Ok(self
            .claim_logs(&SCHEDULED_EVENT_LOGS, owner, now, until)
            .into_iter()
            .filter_map(|c| serde_json::from_value(Value::Object(c.record)).ok())
            .collect())
    }

    /// Settle `owner`'s claim on the run event of the scheduled event
    /// `event_id` ([`MissionState::settle_log`]). Returns false when there is
    /// no such record.
    pub fn settle_log_claim(&mut self, event_id: &str, owner: &str, logged: bool, now: DateTime<Utc>) -> Result<bool> {
        Ok(self.settle_log(&SCHEDULED_EVENT_LOGS, event_id, SCHEDULED_LOGGED, owner, logged, now))
    }

    /// The records of `kind` as stored, first record per id only (a later
    /// duplicate is never claimed nor settled), each with its id.
    fn logged_records(&self, kind: &RecordKind) -> Vec<(String, &Map<String, Value>)> {
        let mut out: Vec<(String, &Map<String, Value>)> = Vec::new();
        let list = self.memory_get(kind.memory_key).and_then(Value::as_array);
        for r in list.into_iter().flatten().filter_map(Value::as_object) {
            let Some(id) = r.get(kind.id_field).and_then(Value::as_str) else { continue };
            if !out.iter().any(|(seen, _)| seen == id) {
                out.push((id.to_string(), r));
            }
        }
        out
    }

    /// Every run event the records of `kind` owe, claimed or not, as
    /// `(record id, flag)`.
    pub fn owed_logs(&self, kind: &RecordKind) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        for (id, r) in self.logged_records(kind) {
            out.extend(kind.logs.iter().filter(|l| (l.owed)(r)).map(|l| (id.clone(), l.flag)));
        }
        out
    }

    /// How many run events the records of `kind` owe that no live claimer
    /// is sending (what [`MissionState::claim_logs`] would claim at `now`).
    pub fn claimable_logs(&self, kind: &RecordKind, now: DateTime<Utc>) -> usize {
        self.logged_records(kind).iter().map(|(_, r)| kind.logs.iter().filter(|l| l.claimable(r, now)).count()).sum()
    }

    /// Claim every run event the records of `kind` owe that is not claimed
    /// by a live claimer (see [`LogClaim`]; an expired claim is taken
    /// over): each gets `owner`'s claim until `until`. Call inside
    /// [`crate::state::StateStore::update`], so no two processes claim the
    /// same run event. Returns what was claimed, in record order.
    pub fn claim_logs(
        &mut self,
        kind: &RecordKind,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<ClaimedLog> {
        let claim = LogClaim { owner: owner.to_string(), until: timestamp(until) };
        let claim = serde_json::to_value(&claim).unwrap_or(Value::Null);
        let mut claimed = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let list =
            self.fields.get_mut("memory").and_then(Value::as_object_mut).and_then(|m| m.get_mut(kind.memory_key));
        for r in list.and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut) {
            let Some(id) = r.get(kind.id_field).and_then(Value::as_str).map(str::to_string) else { continue };
            if seen.contains(&id) {
                continue;
            }
            for log in kind.logs {
                if log.claimable(r, now) {
                    r.insert(log.claim.to_string(), claim.clone());
                    claimed.push(ClaimedLog { id: id.clone(), flag: log.flag, record: r.clone() });
                }
            }
            seen.push(id);
        }
        if !claimed.is_empty() {
            self.touch(now);
        }
        claimed
    }

    /// Settle `owner`'s claim on the run event `flag` of the record `id` of
    /// `kind`: `logged` marks it sent (whoever holds the claim: it is sent
    /// either way); otherwise the claim is released, when it is still
    /// `owner`'s, for the next command to retry at once. Returns false when
    /// there is no such record or run event.
    pub fn settle_log(
        &mut self,
        kind: &RecordKind,
        id: &str,
        flag: &str,
        owner: &str,
        logged: bool,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(log) = kind.logs.iter().find(|l| l.flag == flag) else { return false };
        let list =
            self.fields.get_mut("memory").and_then(Value::as_object_mut).and_then(|m| m.get_mut(kind.memory_key));
        let Some(r) = list
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
            .find(|r| r.get(kind.id_field).and_then(Value::as_str) == Some(id))
        else {
            return false;
        };
        if logged {
            r.insert(log.flag.to_string(), Value::Bool(true));
            r.shift_remove(log.claim);
        } else if log.claim_of(r).is_some_and(|c| c.owner == owner) {
            r.shift_remove(log.claim);
        }
        self.touch(now);
        true
    }

    /// Change the recorded event `event_id` in place (the poll engine uses
    /// this to store `status`, `call_status`, …). Returns false when the
    /// mission has no such event.
    pub fn update_scheduled_event(
        &mut self,
        event_id: &str,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut ScheduledEvent),
    ) -> Result<bool> {
        let Some(mut ev) = self.scheduled_events().into_iter().find(|e| e.event_id == event_id) else {
            return Ok(false);
        };
        f(&mut ev);
        self.upsert_scheduled_event(&ev, now)?;
        Ok(true)
    }
}

/// A call or SMS scheduled for a mission, recorded in its memory under
/// `scheduled_events`. `extra` carries every other field (the poll engine's
/// `call_status`, `conversation_id`, `retry_count`, insights, …), so a
/// reader that does not know them never drops them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    pub event_id: String,
    pub assistant_id: String,
    /// `call` or `sms`.
    pub channel: String,
    pub to: String,
    pub scheduled_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// The SMS text (SMS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Scheduled event status: `pending, in_progress, completed, failed`.
    pub status: String,
    /// The caller id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// False while the run event "Scheduled … event_id=…" still has to be
    /// logged to the service (a failed log is retried by later commands).
    /// Records without the field were logged.
    #[serde(default = "yes")]
    pub logged: bool,
    /// Who is logging the owed run event right now, and until when
    /// (`logged: false` only). A record claimed by a live claimer is left
    /// to it; an expired claim (its process died or hung) is taken over.
    #[serde(default, deserialize_with = "lenient_claim", skip_serializing_if = "Option::is_none")]
    pub log_claim: Option<LogClaim>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}

/// A claim that does not parse (edited by hand) is no claim: the record
/// itself must never become unreadable because of it.
fn lenient_claim<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<LogClaim>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

/// A claim on logging one record's run event: taken under the state lock
/// before the request is sent, so concurrent commands never send the same
/// run event twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogClaim {
    /// The claiming process (pid and a random part).
    pub owner: String,
    /// RFC 3339: after this the claim is void.
    pub until: String,
}

impl LogClaim {
    /// Whether the claim still holds at `now` (an unreadable time does not).
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        DateTime::parse_from_rfc3339(&self.until).is_ok_and(|t| t.with_timezone(&Utc) > now)
    }
}

impl ScheduledEvent {
    /// The run event is owed and nobody (alive) is sending it.
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        !self.logged && !self.log_claim.as_ref().is_some_and(|c| c.live(now))
    }
}

/// A kind of memory record whose run events clawdtalk logs itself (the
/// scheduled events of ClawdTalk, AgentPhone calls): where its records are
/// kept, what identifies one, and the run events each may owe. Each owed
/// run event is claimed ([`MissionState::claim_logs`]) under the state lock
/// before it is sent and settled ([`MissionState::settle_log`]) after, so
/// concurrent commands send it once.
#[derive(Debug, Clone, Copy)]
pub struct RecordKind {
    /// The memory key holding the list of records.
    pub memory_key: &'static str,
    /// The field identifying a record (a string): `event_id`, `call_id`.
    pub id_field: &'static str,
    /// The run events a record may owe.
    pub logs: &'static [RunLog],
}

/// One run event a record may owe.
#[derive(Debug, Clone, Copy)]
pub struct RunLog {
    /// The record's flag set to `true` once the run event is logged.
    pub flag: &'static str,
    /// The record's field holding the [`LogClaim`] on logging it.
    pub claim: &'static str,
    /// Whether the record owes this run event (claims aside).
    pub owed: fn(&Map<String, Value>) -> bool,
}

impl RunLog {
    /// The claim on this run event of `record`; one that does not parse
    /// (edited by hand) is no claim.
    pub fn claim_of(&self, record: &Map<String, Value>) -> Option<LogClaim> {
        record.get(self.claim).and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// `record` owes this run event and nobody (alive) is sending it.
    pub fn claimable(&self, record: &Map<String, Value>, now: DateTime<Utc>) -> bool {
        (self.owed)(record) && !self.claim_of(record).is_some_and(|c| c.live(now))
    }
}

/// A run event claimed by [`MissionState::claim_logs`]: the record's id,
/// which of its run events (the flag), and the record as claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedLog {
    pub id: String,
    pub flag: &'static str,
    pub record: Map<String, Value>,
}

/// The flag of a scheduled event whose run event was logged.
const SCHEDULED_LOGGED: &str = "logged";

/// Scheduled calls and SMS ([`ScheduledEvent`]): one run event each,
/// "Scheduled … event_id=…", owed while `logged` is false.
pub const SCHEDULED_EVENT_LOGS: RecordKind = RecordKind {
    memory_key: SCHEDULED_EVENTS_KEY,
    id_field: "event_id",
    logs: &[RunLog { flag: SCHEDULED_LOGGED, claim: "log_claim", owed: scheduled_owed }],
};

/// Owed: an event record (one that reads as a [`ScheduledEvent`]; notes
/// written by hand are left alone) with `logged: false`.
fn scheduled_owed(r: &Map<String, Value>) -> bool {
    r.get(SCHEDULED_LOGGED).and_then(Value::as_bool) == Some(false)
        && serde_json::from_value::<ScheduledEvent>(Value::Object(r.clone())).is_ok()
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
        let top: Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("not valid JSON (line {}, column {}): {e}", e.line(), e.column()))?;
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

/// The known slug closest to `key` by edit distance (ties: the first).
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let slug = slugify(key);
    known.iter().copied().min_by_key(|k| levenshtein(key, k).min(levenshtein(&slug, k)))
}

/// Levenshtein edit distance (characters).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn type_name(v: &Value) -> &'static str {
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
    fn edit_distance() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "ab"), 2);
        assert_eq!(levenshtein("same", "same"), 0);
    }

    #[test]
    fn owed_records_are_claimed_once_until_the_claim_expires() {
        let mut m = MissionState::default();
        for (id, logged) in [("ev1", false), ("ev2", true), ("ev3", false)] {
            let ev: ScheduledEvent = serde_json::from_value(json!({
                "event_id": id, "assistant_id": "a", "channel": "call", "to": "+15551234567",
                "scheduled_at": "2026-01-01T00:00:00Z", "status": "pending", "logged": logged
            }))
            .unwrap();
            m.upsert_scheduled_event(&ev, now()).unwrap();
        }
        let until = now() + chrono::Duration::minutes(10);
        let ids = |v: Vec<ScheduledEvent>| v.into_iter().map(|e| e.event_id).collect::<Vec<_>>();
        assert_eq!(ids(m.claim_unlogged("p1", now(), until).unwrap()), ["ev1", "ev3"]);
        // A second claimer gets nothing while the claims are live...
        assert!(m.claim_unlogged("p2", now(), until).unwrap().is_empty());
        // ...and everything owed once they expire (the first claimer died).
        let later = until + chrono::Duration::seconds(1);
        assert_eq!(ids(m.claim_unlogged("p2", later, later + chrono::Duration::minutes(10)).unwrap()), ["ev1", "ev3"]);
        // p1 cannot release p2's claim; p2 can; a sent event is logged whoever holds it.
        m.settle_log_claim("ev1", "p1", false, later).unwrap();
        assert!(!m.scheduled_events()[0].claimable(later));
        m.settle_log_claim("ev1", "p2", false, later).unwrap();
        assert!(m.scheduled_events()[0].claimable(later));
        m.settle_log_claim("ev3", "p1", true, later).unwrap();
        let ev3 = &m.scheduled_events()[2];
        assert!(ev3.logged && ev3.log_claim.is_none());
    }

    #[test]
    fn a_claim_that_does_not_parse_is_no_claim() {
        let ev: ScheduledEvent = serde_json::from_value(json!({
            "event_id": "ev1", "assistant_id": "a", "channel": "call", "to": "+15551234567",
            "scheduled_at": "2026-01-01T00:00:00Z", "status": "pending", "logged": false, "log_claim": "junk"
        }))
        .unwrap();
        assert!(ev.claimable(now()));
    }

    #[test]
    fn scheduled_events_upsert_and_keep_unknown_fields() {
        let mut m = MissionState::default();
        let ev: ScheduledEvent = serde_json::from_value(json!({
            "event_id": "ev1", "assistant_id": "a", "channel": "call", "to": "+15551234567",
            "scheduled_at": "2026-01-01T00:00:00Z", "status": "pending", "call_status": "ringing"
        }))
        .unwrap();
        assert!(ev.logged);
        m.upsert_scheduled_event(&ev, now()).unwrap();
        assert!(m.update_scheduled_event("ev1", now(), |e| e.status = "completed".into()).unwrap());
        assert!(!m.update_scheduled_event("nope", now(), |_| ()).unwrap());
        let evs = m.scheduled_events();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].status, "completed");
        assert_eq!(evs[0].extra["call_status"], "ringing");
    }
}
