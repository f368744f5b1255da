//! A target as recorded in its mission's memory under `targets`
//! (docs/campaigns.md#exactly-once): one object per (step, channel, number),
//! written under the state lock *before* its event is created, with a claim
//! naming the process creating it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::targets::{RetryProfile, ZoneSource};
use crate::state::{LogClaim, MissionState};

/// Memory key of a mission's targets.
pub const TARGETS_KEY: &str = "targets";

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Claimed and given a slot; its event is being created (or the
    /// creator died: the next run adopts or creates it).
    Planned,
    /// Its event exists on the service (`event_id`).
    Scheduled,
    /// Not scheduled (`reason`); a later run looks at it again.
    Skipped,
    /// Its pending event was cancelled by `mission pause`.
    Paused,
    /// Its attempts ended without reaching anyone.
    Failed,
    /// Reached.
    Done,
}

/// One target of a mission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// `step|channel|+E164`: what "exactly once" is counted by.
    pub key: String,
    /// E.164.
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The candidate zones (IANA names): one, or every zone of the
    /// number's country when it has several.
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_source: Option<ZoneSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RetryProfile>,
    /// The row's other columns.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub columns: Map<String, Value>,
    /// The batch's calling window in the callee's time (`09:00-17:00`),
    /// kept so resume, retries and retry profiles place later slots in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// The days the window applies (`mon,tue,wed,thu,fri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<String>,
    /// `call` or `sms`.
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    pub status: TargetStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// RFC 3339 UTC: the slot (set before the event is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<String>,
    /// Who is creating its event, until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<LogClaim>,
    /// Why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fields other commands keep here (pause, retries).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The target key: `step|channel|+E164` (no step: empty).
pub fn target_key(step: Option<&str>, channel: &str, e164: &str) -> String {
    format!("{}|{channel}|{e164}", step.unwrap_or(""))
}

impl TargetRecord {
    /// The calling hours recorded with the target (the batch
    /// defaults, 09:00-17:00 mon-fri, for records written before they were kept).
    pub fn hours(&self) -> super::window::Hours {
        let mut h = super::window::Hours::default();
        if let Some(w) = self.window.as_deref().and_then(|w| w.parse().ok()) {
            h.window = w;
        }
        if let Some(d) = self.days.as_deref().and_then(|d| d.parse().ok()) {
            h.days = d;
        }
        h
    }

    /// The candidate zones that parse (records are read from a file anyone
    /// could have edited).
    pub fn tz(&self) -> Vec<chrono_tz::Tz> {
        self.zones.iter().filter_map(|z| z.parse().ok()).collect()
    }

    /// The claim is held by a live process: one whose time has not run
    /// out and, when it names a process on this machine, still running
    /// (a SIGKILLed creator's claim is void at once).
    pub fn claimed_by_other(&self, owner: &str, now: DateTime<Utc>) -> bool {
        self.claim.as_ref().is_some_and(|c| c.owner != owner && c.live(now) && owner_alive(&c.owner))
    }
}

/// Whether the process named by a claim owner (`pid-random`) may be alive.
fn owner_alive(owner: &str) -> bool {
    let Some(pid) = owner.split('-').next().and_then(|p| p.parse::<i32>().ok()).filter(|p| *p > 0) else {
        return true;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A mission's target records (entries that do not parse are left alone
/// by writers and ignored here).
pub fn targets(m: &MissionState) -> Vec<TargetRecord> {
    match m.memory_get(TARGETS_KEY) {
        Some(Value::Array(items)) => items.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect(),
        _ => Vec::new(),
    }
}

/// Insert or replace (by key) target records in the mission's memory.
pub fn put_targets(m: &mut MissionState, changed: &[TargetRecord], now: DateTime<Utc>) -> crate::error::Result<()> {
    let mut items = match m.memory_get(TARGETS_KEY) {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let mut index: std::collections::HashMap<String, usize> = items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.get("key").and_then(Value::as_str).map(|k| (k.to_string(), i)))
        .collect();
    for r in changed {
        let v = serde_json::to_value(r).map_err(|e| crate::error::Error::state(e.to_string()))?;
        match index.get(&r.key) {
            Some(&i) => items[i] = v,
            None => {
                index.insert(r.key.clone(), items.len());
                items.push(v);
            }
        }
    }
    m.memory_save(TARGETS_KEY, Value::Array(items), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str) -> TargetRecord {
        TargetRecord {
            key: key.into(),
            phone: "+15005550006".into(),
            name: None,
            zones: vec!["America/Chicago".into()],
            zone_source: Some(ZoneSource::Column),
            kind: None,
            columns: Map::new(),
            window: None,
            days: None,
            channel: "call".into(),
            step_id: None,
            status: TargetStatus::Planned,
            event_id: None,
            scheduled_at: None,
            claim: None,
            reason: None,
            extra: Map::new(),
        }
    }

    #[test]
    fn records_are_upserted_by_key_and_keep_unknown_fields() {
        let mut m = MissionState::from_map(Map::new());
        let now = Utc::now();
        let mut a = rec("|call|+15005550006");
        a.extra.insert("paused_at".into(), Value::from("x"));
        put_targets(&mut m, &[a.clone(), rec("|call|+15005550001")], now).unwrap();
        a.status = TargetStatus::Scheduled;
        put_targets(&mut m, std::slice::from_ref(&a), now).unwrap();
        let all = targets(&m);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].status, TargetStatus::Scheduled);
        assert_eq!(all[0].extra["paused_at"], "x");
    }

    #[test]
    fn a_record_keeps_its_calling_hours_and_old_records_get_the_defaults() {
        let mut r = rec("k");
        assert_eq!(r.hours(), crate::campaign::window::Hours::default());
        r.window = Some("10:00-12:30".into());
        r.days = Some("sat,sun".into());
        let h = r.hours();
        assert_eq!(h.window.to_string(), "10:00-12:30");
        assert_eq!(h.days.to_string(), "sat,sun");
        let back: TargetRecord = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back.hours(), h);
    }

    #[test]
    fn a_claim_of_a_dead_process_is_void() {
        let now = Utc::now();
        let until = crate::state::timestamp(now + chrono::Duration::minutes(10));
        let mut r = rec("k");
        r.claim = Some(LogClaim { owner: format!("{}-abc", std::process::id()), until: until.clone() });
        assert!(r.claimed_by_other("me", now), "this process is alive");
        assert!(!r.claimed_by_other(&format!("{}-abc", std::process::id()), now), "our own claim");
        // pid_max is below 2^22 on Linux: this pid runs nowhere.
        r.claim = Some(LogClaim { owner: "4194999-abc".into(), until });
        assert!(!r.claimed_by_other("me", now));
    }
}
