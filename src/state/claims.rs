//! Run events clawdtalk owes the service for records in a mission's memory
//! (scheduled calls and SMS, AgentPhone calls), and the claims that make
//! concurrent commands send each of them exactly once.
//!
//! Why claims: several commands (the bot's, cron's, a human's) may find the
//! same owed run event at once. Each claims it under the state lock before
//! sending ([`MissionState::claim_logs`]) and settles the claim after
//! ([`MissionState::settle_log`]); a claim whose process died expires.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::mission::MissionState;
use super::time::timestamp;

/// A claim that does not parse (edited by hand) is no claim: the record
/// itself must never become unreadable because of it.
pub(super) fn lenient_claim<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<LogClaim>, D::Error> {
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

impl MissionState {
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
}
