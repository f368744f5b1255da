//! Retry profiles (docs/campaigns.md#retry-profiles): when a campaign
//! target's failed attempt is tried again, by its profile, inside its
//! calling window. Pure: the times come in, a time (or none) goes out.
//!
//! - `automated` (IVRs, systems): 5, 10, then 15 minutes after the failure,
//!   at most 3 retries;
//! - `service` (shops, trades): 30 minutes, 1 hour, then 2 hours after,
//!   at most 3 retries, never in the callee's peak hours ([`PEAK_HOURS`],
//!   local time, in every candidate zone);
//! - `professional` (offices): the next day of the window's days at the
//!   window's start, at most 2 retries, and never again once an attempt
//!   reached voicemail (one voicemail at most).
//!
//! Every time is then moved to the earliest minute inside the window in
//! every candidate zone ([`Hours::earliest_slot`]).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::record::{target_key, TargetRecord};
use super::targets::RetryProfile;
use super::window::Hours;

/// The callee's busiest hours (local `[start, end)`), which `service`
/// retries avoid: lunch and the evening rush.
pub const PEAK_HOURS: [(u32, u32); 2] = [(12, 13), (17, 19)];

/// How many times a step through peak hours may push a `service` retry on
/// before it is given up (a window lying wholly in peak hours).
const MAX_PEAK_STEPS: usize = 64;

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The line was busy.
    Busy,
    /// Nobody answered.
    NoAnswer,
    /// The call failed (network, carrier).
    Failed,
    /// An answering machine took the call (a message was left).
    Voicemail,
}

impl FailureKind {
    /// The kind of a retryable `call_status` (`busy`, `no-answer`,
    /// `failed`); None for any other status.
    pub fn of_call_status(status: &str) -> Option<FailureKind> {
        match status {
            "busy" => Some(FailureKind::Busy),
            "no-answer" => Some(FailureKind::NoAnswer),
            "failed" => Some(FailureKind::Failed),
            _ => None,
        }
    }
}

/// Retries a profile allows after the first attempt.
pub fn max_retries(profile: RetryProfile) -> u32 {
    match profile {
        RetryProfile::Automated | RetryProfile::Service => 3,
        RetryProfile::Professional => 2,
    }
}

/// Whether a target of this profile may be called again at all (by poll or
/// by `mission retry --failed`): a `professional` target that reached
/// voicemail once is never called again.
pub fn may_call_again(profile: RetryProfile, reached_voicemail: bool) -> bool {
    !(profile == RetryProfile::Professional && reached_voicemail)
}

/// When attempt number `attempt` (1 = the first call) that failed as
/// `kind` at `failed_at` is tried again, inside `hours` in every zone of
/// `zones`; None when the profile allows no more attempts (or the window
/// never opens).
pub fn next_attempt(
    profile: RetryProfile,
    kind: FailureKind,
    attempt: u32,
    failed_at: DateTime<Utc>,
    hours: &Hours,
    zones: &[Tz],
) -> Option<DateTime<Utc>> {
    let retry = attempt.max(1); // the retry this would be: 1 for the first
    if retry > max_retries(profile) || !may_call_again(profile, kind == FailureKind::Voicemail) {
        return None;
    }
    match profile {
        RetryProfile::Automated => {
            let after = failed_at.checked_add_signed(Duration::minutes(5 * i64::from(retry)))?;
            hours.earliest_slot(zones, after)
        }
        RetryProfile::Service => {
            let minutes = 30 * (1i64 << (retry - 1).min(8));
            let after = failed_at.checked_add_signed(Duration::minutes(minutes))?;
            off_peak_slot(hours, zones, after)
        }
        RetryProfile::Professional => hours.earliest_slot(zones, next_day_start(zones, failed_at)?),
    }
}

/// Whether `t` falls in the peak hours in zone `z`.
pub fn in_peak(z: Tz, t: DateTime<Utc>) -> bool {
    let local = t.with_timezone(&z).time();
    PEAK_HOURS.iter().any(|&(a, b)| hm(a) <= local && local < hm(b))
}

fn hm(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// The earliest minute at or after `after` inside the window in every zone
/// and in no zone's peak hours.
fn off_peak_slot(hours: &Hours, zones: &[Tz], after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut t = hours.earliest_slot(zones, after)?;
    for _ in 0..MAX_PEAK_STEPS {
        let Some(end) = zones.iter().filter_map(|z| peak_end(*z, t)).max() else {
            return Some(t);
        };
        t = hours.earliest_slot(zones, end)?;
    }
    None
}

/// When the peak `t` falls in (in zone `z`) ends; None outside peak hours.
fn peak_end(z: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = t.with_timezone(&z);
    let (_, end) = PEAK_HOURS.iter().find(|&&(a, b)| hm(a) <= local.time() && local.time() < hm(b))?;
    let wall = local.date_naive().and_time(hm(*end));
    // A clock change inside the peak: step past it a minute at a time.
    let at = z.from_local_datetime(&wall).earliest().map(|e| e.with_timezone(&Utc));
    Some(at.filter(|e| *e > t).unwrap_or(t + Duration::minutes(1)))
}

/// The first instant at which the local date in every zone is later than
/// on `t` (zones none: `t` plus a day).
fn next_day_start(zones: &[Tz], t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if zones.is_empty() {
        return t.checked_add_signed(Duration::days(1));
    }
    zones.iter().map(|z| local_midnight_after(*z, t)).collect::<Option<Vec<_>>>()?.into_iter().max()
}

/// The start of the next local day in `z` after `t` (a midnight skipped by
/// a clock change: the first hour that exists).
fn local_midnight_after(z: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let next = t.with_timezone(&z).date_naive().succ_opt()?;
    (0..4).find_map(|h| {
        let wall = next.and_time(NaiveTime::from_hms_opt(h, 0, 0)?);
        z.from_local_datetime(&wall).earliest().map(|e| e.with_timezone(&Utc))
    })
}

/// One target's retry rule: its profile and where it may be called.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryRule {
    pub profile: RetryProfile,
    pub hours: Hours,
    pub zones: Vec<Tz>,
}

impl RetryRule {
    /// The rule of a recorded target (None: it has no profile).
    pub fn of(t: &TargetRecord) -> Option<RetryRule> {
        Some(RetryRule { profile: t.kind?, hours: t.hours(), zones: t.tz() })
    }

    /// See [`next_attempt`].
    pub fn next_attempt(&self, kind: FailureKind, attempt: u32, failed_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_attempt(self.profile, kind, attempt, failed_at, &self.hours, &self.zones)
    }
}

/// A mission's retry rules by target key (`step|channel|+E164`): what poll
/// applies instead of its global delays for those targets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryRules(HashMap<String, RetryRule>);

impl RetryRules {
    /// The rules of the targets that have a profile.
    pub fn of_targets(targets: &[TargetRecord]) -> RetryRules {
        RetryRules(targets.iter().filter_map(|t| Some((t.key.clone(), RetryRule::of(t)?))).collect())
    }

    /// Add (or replace) the rule of the target at `to` on `channel` for `step`.
    pub fn insert(&mut self, step: Option<&str>, channel: &str, to: &str, rule: RetryRule) {
        self.0.insert(target_key(step, channel, to), rule);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rule for an attempt at `to` on `channel` for `step` (any attempt:
    /// retries share the target's key).
    pub fn get(&self, step: Option<&str>, channel: &str, to: &str) -> Option<&RetryRule> {
        if self.0.is_empty() {
            return None;
        }
        self.0.get(&target_key(step, channel, to))
    }
}

#[cfg(test)]
mod tests;
