//! Calling windows in the callee's local time (docs/campaigns.md#windows):
//! a daily window (`09:00-17:00`), the days it applies (`mon-fri`,
//! `mon,wed,sat`), and the placement of a slot: the earliest whole minute at
//! or after a start that is inside the window in *every* candidate zone.
//!
//! Pure functions over chrono and chrono-tz. Daylight-saving changes are
//! handled by looking at what the wall clock really shows: a window opening
//! inside a gap opens when the gap ends, and a window the clock falls back
//! into opens again for the repeated hour.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

/// How far ahead a slot is looked for before the window is declared never
/// open (zones whose windows never overlap).
const HORIZON_DAYS: i64 = 21;

/// A daily window `[start, end)` in local wall-clock time, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Window {
    /// Whether a local time of day is inside the window.
    pub fn contains(&self, t: NaiveTime) -> bool {
        self.start <= t && t < self.end
    }
}

impl Default for Window {
    fn default() -> Self {
        Window { start: hm(9, 0), end: hm(17, 0) }
    }
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

impl FromStr for Window {
    type Err = String;

    /// `HH:MM-HH:MM`, start before end (`24:00` is the end of the day).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a window: write HH:MM-HH:MM, start before end (e.g. 09:00-17:00)");
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").map_err(|_| bad())?;
        let end = match b.trim() {
            "24:00" => NaiveTime::from_hms_opt(23, 59, 59).ok_or_else(bad)?,
            b => NaiveTime::parse_from_str(b, "%H:%M").map_err(|_| bad())?,
        };
        if start >= end {
            return Err(bad());
        }
        Ok(Window { start, end })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start.format("%H:%M"), self.end.format("%H:%M"))
    }
}

/// A set of weekdays (bit 0 = Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Days {
    pub const ALL: Days = Days(0x7f);
    pub const WEEKDAYS: Days = Days(0x1f);

    pub fn contains(&self, d: Weekday) -> bool {
        self.0 & (1 << d.num_days_from_monday()) != 0
    }

    fn bits(from: Weekday) -> u8 {
        1 << from.num_days_from_monday()
    }
}

impl Default for Days {
    fn default() -> Self {
        Days::WEEKDAYS
    }
}

fn weekday(s: &str) -> Option<Weekday> {
    const FULL: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let s = s.trim().to_ascii_lowercase();
    let i = (0..7).find(|&i| s == DAY_NAMES[i] || s == FULL[i])?;
    Weekday::try_from(u8::try_from(i).ok()?).ok()
}

impl FromStr for Days {
    type Err = String;

    /// `mon-fri`, `mon,wed,sat`, `sat-mon` (wrapping), `all`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a set of days: write mon-fri, mon,wed,sat or all");
        if s.trim().eq_ignore_ascii_case("all") {
            return Ok(Days::ALL);
        }
        let mut bits = 0u8;
        for part in s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (mut d, end) = (weekday(a).ok_or_else(bad)?, weekday(b).ok_or_else(bad)?);
                    bits |= Days::bits(d);
                    while d != end {
                        d = d.succ();
                        bits |= Days::bits(d);
                    }
                }
                None => bits |= Days::bits(weekday(part).ok_or_else(bad)?),
            }
        }
        Ok(Days(bits))
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = (0..7).filter(|i| self.0 & (1 << i) != 0).map(|i| DAY_NAMES[i]).collect();
        write!(f, "{}", names.join(","))
    }
}

/// When calls may ring: a window on some days, in the callee's time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hours {
    pub window: Window,
    pub days: Days,
}

impl Hours {
    /// Whether `t` is inside the window in zone `z`.
    pub fn is_open(&self, z: Tz, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&z).naive_local();
        self.days.contains(local.weekday()) && self.window.contains(local.time())
    }

    /// The earliest whole minute at or after `start` that is inside the
    /// window in every zone of `zones` (none: `start` rounded up), or
    /// `None` when the zones' windows never overlap.
    pub fn earliest_slot(&self, zones: &[Tz], start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = ceil_minute(start)?;
        let limit = t.checked_add_signed(Duration::days(HORIZON_DAYS))?;
        while t <= limit {
            let mut latest = t;
            for z in zones {
                latest = latest.max(self.next_open(*z, t)?);
            }
            if latest == t {
                return Some(t);
            }
            t = latest;
        }
        None
    }

    /// The earliest instant at or after `t` inside the window in `z`.
    ///
    /// A closed zone can only open where its wall clock reaches the
    /// window's start, or at an offset change (a gap jumping past the start,
    /// or a fall-back into the window): those instants are the candidates.
    fn next_open(&self, z: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = t;
        for _ in 0..(HORIZON_DAYS / 7 + 1) {
            if self.is_open(z, from) {
                return Some(from);
            }
            let until = from.checked_add_signed(Duration::days(8))?;
            let mut candidates = transitions(z, from, until);
            let first = from.with_timezone(&z).date_naive().pred_opt()?;
            for d in first.iter_days().take(11) {
                candidates.extend(local_instants(z, d, self.window.start));
            }
            candidates.retain(|c| *c > from && *c <= until);
            candidates.sort();
            if let Some(c) = candidates.into_iter().find(|c| self.is_open(z, *c)) {
                return Some(c);
            }
            from = until;
        }
        None
    }
}

/// `t` rounded up to a whole minute.
pub fn ceil_minute(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let floor = t.with_nanosecond(0)?.with_second(0)?;
    if floor == t {
        Some(t)
    } else {
        floor.checked_add_signed(Duration::minutes(1))
    }
}

/// Every instant whose wall clock in `z` shows `time` on `date` (none in a
/// gap, two in an overlap).
fn local_instants(z: Tz, date: NaiveDate, time: NaiveTime) -> Vec<DateTime<Utc>> {
    let ndt = date.and_time(time);
    match z.from_local_datetime(&ndt) {
        chrono::LocalResult::Single(a) => vec![a.with_timezone(&Utc)],
        chrono::LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        chrono::LocalResult::None => Vec::new(),
    }
}

fn offset_secs(z: Tz, t: DateTime<Utc>) -> i32 {
    z.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc()
}

/// The instants in `(from, until]` where `z`'s UTC offset changes (each the
/// first second of the new offset), found by stepping six hours and
/// bisecting: offsets never change twice within six hours.
fn transitions(z: Tz, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let at = |secs: i64| DateTime::from_timestamp(secs, 0).unwrap_or(from);
    let (mut a, end) = (from.timestamp(), until.timestamp());
    let mut out = Vec::new();
    while a < end {
        let b = (a + 6 * 3600).min(end);
        let before = offset_secs(z, at(a));
        if before != offset_secs(z, at(b)) {
            let (mut lo, mut hi) = (a, b);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset_secs(z, at(mid)) == before {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            out.push(at(hi));
        }
        a = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;
    use proptest::prelude::*;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hours(w: &str, d: &str) -> Hours {
        Hours { window: w.parse().unwrap(), days: d.parse().unwrap() }
    }

    #[test]
    fn windows_and_days_parse_and_print_back() {
        assert_eq!(hours("09:00-17:00", "mon-fri"), Hours::default());
        assert_eq!("mon,wed,sat".parse::<Days>().unwrap().to_string(), "mon,wed,sat");
        assert_eq!("sat-mon".parse::<Days>().unwrap().to_string(), "mon,sat,sun");
        assert_eq!("Monday".parse::<Days>().unwrap().to_string(), "mon");
        assert_eq!("08:30-12:00".parse::<Window>().unwrap().to_string(), "08:30-12:00");
        for bad in ["17:00-09:00", "9-5", "09:00", "09:00-09:00", "25:00-26:00"] {
            assert!(bad.parse::<Window>().is_err(), "{bad}");
        }
        for bad in ["", "mo", "mon-xyz", "funday"] {
            assert!(bad.parse::<Days>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_open_window_places_the_slot_at_the_start() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // Monday 2026-01-05 10:00 in New York.
        let s = Hours::default().earliest_slot(&[ny], utc("2026-01-05T15:00:00Z"));
        assert_eq!(s, Some(utc("2026-01-05T15:00:00Z")));
    }

    #[test]
    fn a_closed_window_places_the_slot_at_the_next_opening_on_an_allowed_day() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // Friday 2026-01-09 18:00 in Los Angeles → Monday 09:00 (17:00Z).
        let s = Hours::default().earliest_slot(&[la], utc("2026-01-10T02:00:00Z"));
        assert_eq!(s, Some(utc("2026-01-12T17:00:00Z")));
    }

    #[test]
    fn every_candidate_zone_must_be_open() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // 09:00 in New York is 06:00 in LA: wait for LA's 09:00 (12:00 NY).
        let s = Hours::default().earliest_slot(&[ny, la], utc("2026-01-05T14:00:00Z"));
        assert_eq!(s, Some(utc("2026-01-05T17:00:00Z")));
        // Windows of zones 12 hours apart never overlap.
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(Hours::default().earliest_slot(&[ny, tokyo], utc("2026-01-05T14:00:00Z")), None);
    }

    #[test]
    fn a_window_opening_in_a_dst_gap_opens_when_the_gap_ends() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08: 02:00 → 03:00 in New York (a Sunday).
        let s = hours("02:30-04:00", "all").earliest_slot(&[ny], utc("2026-03-08T05:00:00Z"));
        assert_eq!(s, Some(utc("2026-03-08T07:00:00Z")), "03:00 EDT");
    }

    #[test]
    fn the_repeated_hour_after_a_fall_back_is_open_again() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2026-11-01 01:45 EDT (05:45Z); 02:00 EDT falls back to 01:00 EST (06:00Z).
        let s = hours("01:00-01:30", "all").earliest_slot(&[ny], utc("2026-11-01T05:45:00Z"));
        assert_eq!(s, Some(utc("2026-11-01T06:00:00Z")));
    }

    fn brute_force(h: &Hours, z: Tz, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = ceil_minute(start)?;
        for _ in 0..(60 * 24 * 9) {
            if h.is_open(z, t) {
                return Some(t);
            }
            t += Duration::minutes(1);
        }
        None
    }

    fn arb_hours() -> impl Strategy<Value = Hours> {
        (0u32..24 * 60, 0u32..24 * 60, 1u8..0x80).prop_filter_map("an empty window", |(a, b, days)| {
            let (a, b) = (a.min(b), a.max(b));
            let window = Window { start: hm(a / 60, a % 60), end: hm(b / 60, b % 60) };
            (a < b).then_some(Hours { window, days: Days(days) })
        })
    }

    /// The zones whose offset changes in 2026.
    fn changing_zones() -> &'static [Tz] {
        static ZONES: std::sync::OnceLock<Vec<Tz>> = std::sync::OnceLock::new();
        ZONES.get_or_init(|| {
            let jan = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
            let jul = Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap();
            let off = |z: Tz, t: DateTime<Utc>| offset_secs(z, t);
            chrono_tz::TZ_VARIANTS.iter().copied().filter(|z| off(*z, jan) != off(*z, jul)).collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn the_slot_is_the_earliest_open_minute_not_before_the_start(
            zi in 0..chrono_tz::TZ_VARIANTS.len(),
            h in arb_hours(),
            secs in 1_577_836_800i64..2_082_758_400,
        ) {
            let z = chrono_tz::TZ_VARIANTS[zi];
            let start = DateTime::from_timestamp(secs, 0).unwrap();
            let slot = h.earliest_slot(&[z], start);
            let expected = brute_force(&h, z, start);
            if let Some(s) = slot {
                prop_assert!(s >= start);
                prop_assert!(h.is_open(z, s));
            }
            // The brute force looks 9 days ahead; the placement 21.
            if expected.is_some() || slot.is_some_and(|s| s - start < Duration::days(9)) {
                prop_assert_eq!(slot, expected, "zone {} hours {:?}", z, h);
            }
        }

        #[test]
        fn around_offset_changes_the_slot_is_still_the_earliest(
            zi in 0usize..1000,
            h in arb_hours(),
            year in 2020i32..2036,
            nth in 0usize..4,
            around in -36 * 3600i64..36 * 3600,
        ) {
            let z = changing_zones()[zi % changing_zones().len()];
            let jan = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
            let changes = transitions(z, jan, jan + Duration::days(366));
            prop_assume!(!changes.is_empty());
            let start = changes[nth % changes.len()] + Duration::seconds(around);
            let slot = h.earliest_slot(&[z], start);
            let expected = brute_force(&h, z, start);
            if expected.is_some() || slot.is_some_and(|s| s - start < Duration::days(9)) {
                prop_assert_eq!(slot, expected, "zone {} hours {:?} start {}", z, h, start);
            }
        }
    }
}
