//! Targets → slots (docs/campaigns.md#pacing): each checked target gets the
//! earliest slot of the batch's grid (`start + k × stagger`) that is inside
//! its calling window in every candidate zone, holds fewer than
//! `concurrency` starts, and fits the daily cap; or a reason it is skipped.
//! Pure: the caller hands in what the state file already holds.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Local, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::record::{target_key, TargetRecord, TargetStatus};
use super::targets::{self, RetryProfile, Target};
use super::window::{ceil_minute, Hours};

/// The most grid slots one placement looks at before giving up.
const MAX_STEPS: usize = 200_000;

/// The owner's zone, where a "day" of the daily cap is a calendar day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OwnerZone {
    Named(Tz),
    /// The machine's local zone.
    Local,
}

impl OwnerZone {
    pub fn day(&self, t: DateTime<Utc>) -> NaiveDate {
        match self {
            OwnerZone::Named(z) => t.with_timezone(z).date_naive(),
            OwnerZone::Local => t.with_timezone(&Local).date_naive(),
        }
    }

    /// The first instant of the day after `t`'s.
    fn next_day(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let midnight = self.day(t).succ_opt()?.and_hms_opt(0, 0, 0)?;
        match self {
            OwnerZone::Named(z) => first_at_or_after(z, midnight),
            OwnerZone::Local => first_at_or_after(&Local, midnight),
        }
    }
}

/// The first instant whose wall time is `ndt` or, in a gap, just after it.
fn first_at_or_after<T: TimeZone>(z: &T, ndt: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
    (0..=24 * 60)
        .find_map(|m| z.from_local_datetime(&(ndt + Duration::minutes(m))).earliest().map(|t| t.with_timezone(&Utc)))
}

/// The daily call cap across missions.
#[derive(Debug, Clone)]
pub struct DailyCap {
    pub limit: u32,
    pub zone: OwnerZone,
    /// Calls already scheduled, by owner day.
    pub used: BTreeMap<NaiveDate, u32>,
}

/// How to plan a batch.
#[derive(Debug, Clone)]
pub struct Options {
    pub hours: Hours,
    pub default_tz: Option<Tz>,
    /// `call` or `sms`.
    pub channel: String,
    pub step: Option<String>,
    pub concurrency: u32,
    pub stagger: Duration,
    pub start: DateTime<Utc>,
    pub max_calls: Option<u32>,
    pub retry_profile: Option<RetryProfile>,
    /// Applies to calls only.
    pub cap: Option<DailyCap>,
    /// The one outbound gate (docs/optout.md): opted-out rows are skipped.
    pub gate: crate::outbound::Gate,
}

/// What happens to one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A new event at `record.scheduled_at`; `moved` when the daily cap
    /// pushed it to a later day.
    Schedule {
        record: TargetRecord,
        moved: bool,
    },
    /// Recorded `planned` by a run that died: its event is adopted if the
    /// service has it, else created at the recorded slot.
    Recover {
        record: TargetRecord,
    },
    /// Scheduled by an earlier run (or being scheduled by a live one).
    Exists {
        record: TargetRecord,
    },
    Skip {
        reason: String,
    },
}

/// One row of the file and what happens to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub row: usize,
    /// The number as written (cut), for the report.
    pub phone: String,
    pub name: Option<String>,
    pub action: Action,
}

/// Plan a batch: `existing` is the mission's target records, `owner` the
/// claim owner of this process (its own claims are not "another run").
pub fn plan(rows: &[Target], opts: &Options, existing: &[TargetRecord], owner: &str, now: DateTime<Utc>) -> Vec<Entry> {
    let known: HashMap<&str, &TargetRecord> = existing.iter().map(|r| (r.key.as_str(), r)).collect();
    let mut grid = Grid::new(opts, existing);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut counted = 0u32;
    let mut out = Vec::with_capacity(rows.len());
    for t in rows {
        let action = match prepare(t, opts) {
            Err(reason) => Action::Skip { reason },
            Ok(rec) => match seen.get(&rec.key) {
                Some(first) => Action::Skip { reason: format!("duplicate of row {first}") },
                None => {
                    seen.insert(rec.key.clone(), t.row);
                    let over = opts.max_calls.is_some_and(|m| counted >= m);
                    let old = known.get(rec.key.as_str()).copied();
                    let action = decide(rec, old, over, &mut grid, owner, now);
                    if !matches!(action, Action::Skip { .. }) {
                        counted += 1;
                    }
                    action
                }
            },
        };
        out.push(Entry { row: t.row, phone: crate::redact::cut(&t.phone, 40), name: t.name.clone(), action });
    }
    out
}

/// What to do with a checked target given its record from earlier runs.
fn decide(
    mut rec: TargetRecord,
    old: Option<&TargetRecord>,
    over_max: bool,
    grid: &mut Grid<'_>,
    owner: &str,
    now: DateTime<Utc>,
) -> Action {
    if let Some(old) = old {
        match old.status {
            TargetStatus::Scheduled | TargetStatus::Done | TargetStatus::Failed | TargetStatus::Paused => {
                return Action::Exists { record: old.clone() }
            }
            TargetStatus::Planned if old.claimed_by_other(owner, now) => return Action::Exists { record: old.clone() },
            TargetStatus::Planned if old.scheduled_at.is_some() => return Action::Recover { record: old.clone() },
            TargetStatus::Planned | TargetStatus::Skipped => {}
        }
    }
    if over_max {
        return Action::Skip { reason: "over --max-calls".into() };
    }
    let zones: Vec<Tz> = rec.zones.iter().filter_map(|z| z.parse().ok()).collect();
    let hours = grid.opts.hours;
    match grid.place(&zones, &hours, rec.channel == "call") {
        Ok((at, moved)) => {
            rec.scheduled_at = Some(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            Action::Schedule { record: rec, moved }
        }
        Err(reason) => Action::Skip { reason },
    }
}

/// Place recorded targets again (`mission resume`, `mission retry`,
/// docs/campaigns.md#pause-and-resume): each record in `records` whose
/// status is `from` gets the earliest free slot inside its *own* calling
/// window, days and zones (kept on the record) and becomes `planned`; one a
/// dead run left `planned` with a slot is recovered, one a live run holds
/// exists; every other one exists as it is. The opt-out gate applies again.
/// `existing` is every target of the mission (their slots count against
/// pacing).
pub fn replan(
    records: &[TargetRecord],
    from: TargetStatus,
    opts: &Options,
    existing: &[TargetRecord],
    owner: &str,
    now: DateTime<Utc>,
) -> Vec<Entry> {
    let mut grid = Grid::new(opts, existing);
    let mut counted = 0u32;
    let mut out = Vec::with_capacity(records.len());
    for (i, old) in records.iter().enumerate() {
        let action = match old.status {
            TargetStatus::Planned if old.claimed_by_other(owner, now) => Action::Exists { record: old.clone() },
            TargetStatus::Planned if old.scheduled_at.is_some() => Action::Recover { record: old.clone() },
            s if s == from => replace(old, opts, &mut grid, &mut counted),
            _ => Action::Exists { record: old.clone() },
        };
        let (phone, name) = (crate::redact::cut(&old.phone, 40), old.name.clone());
        out.push(Entry { row: i + 1, phone, name, action });
    }
    out
}

/// A recorded target's next slot in its own hours and zones.
fn replace(old: &TargetRecord, opts: &Options, grid: &mut Grid<'_>, counted: &mut u32) -> Action {
    if let Err(e) = opts.gate.check("phone", &old.phone) {
        return Action::Skip { reason: e.to_string() };
    }
    if opts.max_calls.is_some_and(|m| *counted >= m) {
        return Action::Skip { reason: "over --max-calls".into() };
    }
    let zones = old.tz();
    if zones.is_empty() {
        return Action::Skip { reason: "the record names no known time zone".into() };
    }
    match grid.place(&zones, &old.hours(), old.channel == "call") {
        Ok((at, moved)) => {
            *counted += 1;
            let mut record = old.clone();
            record.status = TargetStatus::Planned;
            record.scheduled_at = Some(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            record.reason = None;
            Action::Schedule { record, moved }
        }
        Err(reason) => Action::Skip { reason },
    }
}

/// Check a row: its number, zones and kind; the record to write (`planned`).
fn prepare(t: &Target, opts: &Options) -> Result<TargetRecord, String> {
    let number = targets::check_number(&t.phone)?;
    opts.gate.check("phone", &number.e164).map_err(|e| e.to_string())?;
    let (zones, source) = targets::zones_for(&number, t.timezone.as_deref(), opts.default_tz)?;
    let kind = match &t.kind {
        Some(k) => Some(k.parse::<RetryProfile>().map_err(|e| format!("kind: {e}"))?),
        None => opts.retry_profile,
    };
    Ok(TargetRecord {
        key: target_key(opts.step.as_deref(), &opts.channel, &number.e164),
        phone: number.e164,
        name: t.name.clone(),
        zones: zones.iter().map(|z| z.name().to_string()).collect(),
        zone_source: Some(source),
        kind,
        columns: t.columns.clone(),
        window: Some(opts.hours.window.to_string()),
        days: Some(opts.hours.days.to_string()),
        channel: opts.channel.clone(),
        step_id: opts.step.clone(),
        status: TargetStatus::Planned,
        event_id: None,
        scheduled_at: None,
        claim: None,
        reason: None,
        extra: Default::default(),
    })
}

/// The batch's slots: how many starts each holds, and the daily cap.
struct Grid<'a> {
    opts: &'a Options,
    start: DateTime<Utc>,
    step: Duration,
    taken: HashMap<i64, u32>,
    /// Every slot below this one is full.
    first_free: i64,
    used: BTreeMap<NaiveDate, u32>,
}

impl<'a> Grid<'a> {
    fn new(opts: &'a Options, existing: &[TargetRecord]) -> Grid<'a> {
        let start = ceil_minute(opts.start).unwrap_or(opts.start);
        let step = opts.stagger.max(Duration::seconds(1));
        let mut g = Grid {
            opts,
            start,
            step,
            taken: HashMap::new(),
            first_free: 0,
            used: opts.cap.as_ref().map(|c| c.used.clone()).unwrap_or_default(),
        };
        // Earlier runs' slots count against this run's pacing.
        for r in existing.iter().filter(|r| matches!(r.status, TargetStatus::Planned | TargetStatus::Scheduled)) {
            if let Some(at) = r.scheduled_at.as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
                let k = g.index(at.with_timezone(&Utc));
                if k >= 0 {
                    *g.taken.entry(k).or_default() += 1;
                }
            }
        }
        g
    }

    /// The slot `t` falls in (rounded up to the next slot start).
    fn index(&self, t: DateTime<Utc>) -> i64 {
        let d = (t - self.start).num_milliseconds();
        let s = self.step.num_milliseconds();
        d.div_euclid(s) + i64::from(d.rem_euclid(s) != 0)
    }

    fn at(&self, k: i64) -> Option<DateTime<Utc>> {
        self.start.checked_add_signed(self.step.checked_mul(i32::try_from(k).ok()?)?)
    }

    /// Take the earliest free slot open in every zone; `moved` when the
    /// daily cap pushed it to a later day.
    fn place(&mut self, zones: &[Tz], hours: &Hours, is_call: bool) -> Result<(DateTime<Utc>, bool), String> {
        let never = || "the calling window is never open in every candidate zone at once".to_string();
        let full = |g: &Grid<'_>, k: i64| g.taken.get(&k).copied().unwrap_or(0) >= g.opts.concurrency;
        while full(self, self.first_free) {
            self.first_free += 1;
        }
        let mut t = self.at(self.first_free).ok_or_else(never)?;
        let mut moved = false;
        for _ in 0..MAX_STEPS {
            let open = hours.earliest_slot(zones, t).ok_or_else(never)?;
            let k = self.index(open);
            let g = self.at(k).ok_or_else(never)?;
            if !zones.iter().all(|z| hours.is_open(*z, g)) {
                t = g;
                continue;
            }
            if full(self, k) {
                let mut next = k + 1;
                while full(self, next) {
                    next += 1;
                }
                t = self.at(next).ok_or_else(never)?;
                continue;
            }
            if let Some(cap) = self.opts.cap.as_ref().filter(|_| is_call) {
                let day = cap.zone.day(g);
                if self.used.get(&day).copied().unwrap_or(0) >= cap.limit {
                    t = cap.zone.next_day(g).ok_or_else(never)?;
                    moved = true;
                    continue;
                }
                *self.used.entry(day).or_default() += 1;
            }
            *self.taken.entry(k).or_default() += 1;
            return Ok((g, moved));
        }
        Err("no free slot found (try a larger --concurrency or a wider --window)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::targets::{parse, Columns};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn opts() -> Options {
        Options {
            hours: Hours::default(),
            default_tz: Some(chrono_tz::America::Chicago),
            channel: "call".into(),
            step: Some("calls".into()),
            concurrency: 2,
            stagger: Duration::minutes(2),
            // Monday 2026-01-05 09:00 in New York, 08:00 in Chicago.
            start: utc("2026-01-05T14:00:00Z"),
            max_calls: None,
            retry_profile: None,
            cap: None,
            gate: Default::default(),
        }
    }

    fn rows(csv: &str) -> Vec<Target> {
        parse("t.csv", &format!("phone,timezone\n{csv}"), &Columns::default()).unwrap()
    }

    fn slots(plan: &[Entry]) -> Vec<Option<String>> {
        plan.iter()
            .map(|e| match &e.action {
                Action::Schedule { record, .. } => record.scheduled_at.clone(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn at_most_concurrency_starts_share_a_slot_and_each_waits_for_its_window() {
        let r = rows(
            "+15005550001,America/New_York\n+15005550002,America/New_York\n+15005550003,America/New_York\n\
             +15005550004,\n",
        );
        let p = plan(&r, &opts(), &[], "me", opts().start);
        let s: Vec<String> = slots(&p).into_iter().map(Option::unwrap).collect();
        assert_eq!(s[..3], ["2026-01-05T14:00:00Z", "2026-01-05T14:00:00Z", "2026-01-05T14:02:00Z"]);
        assert_eq!(s[3], "2026-01-05T15:00:00Z", "Chicago (the default) opens at 15:00Z");
    }

    #[test]
    fn bad_duplicate_and_emergency_rows_are_skipped_with_their_reason() {
        let r = rows("+15005550001,\n911,\n+1 500 555 0001,\nnope,\n+15005550006,Mars/Base\n");
        let p = plan(&r, &opts(), &[], "me", opts().start);
        let reasons: Vec<String> = p
            .iter()
            .filter_map(|e| match &e.action {
                Action::Skip { reason } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].contains("emergency"));
        assert_eq!(reasons[1], "duplicate of row 1");
        assert!(reasons[3].contains("IANA"));
    }

    #[test]
    fn targets_scheduled_before_exist_and_max_calls_counts_them() {
        let r = rows("+15005550001,\n+15005550002,\n+15005550003,\n");
        let first = plan(&r, &opts(), &[], "me", opts().start);
        let Action::Schedule { record, .. } = &first[0].action else { panic!("{first:?}") };
        let mut done = record.clone();
        done.status = TargetStatus::Scheduled;
        let o = Options { max_calls: Some(2), ..opts() };
        let again = plan(&r, &o, &[done], "me", opts().start);
        assert!(matches!(again[0].action, Action::Exists { .. }));
        assert!(matches!(again[1].action, Action::Schedule { .. }));
        assert_eq!(again[2].action, Action::Skip { reason: "over --max-calls".into() });
    }

    #[test]
    fn a_number_of_a_country_with_several_zones_waits_until_every_zone_is_open() {
        // New York opens at 14:00Z, Honolulu at 19:00Z; New York closes at 22:00Z.
        let r = rows("+1 212 555 2368,\n");
        let p = plan(&r, &opts(), &[], "me", opts().start);
        assert_eq!(slots(&p), [Some("2026-01-05T19:00:00Z".to_string())]);
        let Action::Schedule { record, .. } = &p[0].action else { panic!() };
        assert_eq!(record.zone_source, Some(crate::campaign::targets::ZoneSource::Ambiguous));
        assert!(record.zones.len() > 10);
    }

    #[test]
    fn the_daily_cap_moves_calls_to_the_next_open_day() {
        let cap = DailyCap {
            limit: 3,
            zone: OwnerZone::Named(chrono_tz::America::Chicago),
            used: BTreeMap::from([(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(), 2)]),
        };
        let o = Options { cap: Some(cap), ..opts() };
        let r = rows("+15005550001,\n+15005550002,\n");
        let p = plan(&r, &o, &[], "me", o.start);
        assert_eq!(slots(&p), [Some("2026-01-05T15:00:00Z".to_string()), Some("2026-01-06T15:00:00Z".to_string())]);
        assert!(matches!(p[1].action, Action::Schedule { moved: true, .. }));
    }

    fn recorded(phone: &str, status: TargetStatus) -> TargetRecord {
        let p = plan(&rows(&format!("{phone},America/Chicago\n")), &opts(), &[], "me", opts().start);
        let Action::Schedule { mut record, .. } = p[0].action.clone() else { panic!("{p:?}") };
        record.status = status;
        record.event_id = Some("old".into());
        record
    }

    #[test]
    fn replan_places_a_paused_target_in_its_own_window_and_leaves_the_others() {
        let mut weekend = recorded("+15005550001", TargetStatus::Paused);
        weekend.window = Some("10:00-12:00".into());
        weekend.days = Some("sat,sun".into());
        let weekday = recorded("+15005550002", TargetStatus::Paused);
        let done = recorded("+15005550003", TargetStatus::Scheduled);
        let all = [weekend.clone(), weekday.clone(), done.clone()];
        let o = Options { start: utc("2026-01-05T16:00:00Z"), ..opts() };
        let p = replan(&all, TargetStatus::Paused, &o, &all, "me", o.start);
        // Saturday 10:00 in Chicago; the weekday one at once (its 09:00-17:00 is open).
        assert_eq!(slots(&p), [Some("2026-01-10T16:00:00Z".into()), Some("2026-01-05T16:00:00Z".into()), None]);
        let Action::Schedule { record, .. } = &p[0].action else { panic!() };
        assert_eq!((record.status, record.event_id.as_deref()), (TargetStatus::Planned, Some("old")));
        assert_eq!(p[2].action, Action::Exists { record: done });
        // Recorded `planned` by a run that died: recovered at its slot, never placed twice.
        let mut dead = record.clone();
        dead.claim = Some(crate::state::LogClaim { owner: "4194999-x".into(), until: "2999-01-01T00:00:00Z".into() });
        let again = replan(&[dead.clone()], TargetStatus::Paused, &o, &[dead.clone()], "me", o.start);
        assert_eq!(again[0].action, Action::Recover { record: dead });
    }
}
