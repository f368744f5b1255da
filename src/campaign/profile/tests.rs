use chrono::{Datelike, Timelike};
use proptest::prelude::*;

use super::*;
use crate::campaign::window::{Days, Window};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn hours(w: &str, d: &str) -> Hours {
    Hours { window: w.parse().unwrap(), days: d.parse().unwrap() }
}

const NY: Tz = chrono_tz::America::New_York;
const CHICAGO: Tz = chrono_tz::America::Chicago;
use FailureKind::*;
use RetryProfile::*;

#[test]
fn automated_retries_after_5_10_then_15_minutes_and_stops_after_3() {
    // Monday 2026-01-05 10:00 in New York.
    let at = utc("2026-01-05T15:00:00Z");
    let h = Hours::default();
    assert_eq!(next_attempt(Automated, Busy, 1, at, &h, &[NY]), Some(utc("2026-01-05T15:05:00Z")));
    assert_eq!(next_attempt(Automated, NoAnswer, 2, at, &h, &[NY]), Some(utc("2026-01-05T15:10:00Z")));
    assert_eq!(next_attempt(Automated, Failed, 3, at, &h, &[NY]), Some(utc("2026-01-05T15:15:00Z")));
    assert_eq!(next_attempt(Automated, Busy, 4, at, &h, &[NY]), None);
}

#[test]
fn an_automated_retry_past_the_window_waits_for_the_next_opening() {
    // Friday 2026-01-09 16:58 in New York: +5 min is after 17:00 → Monday 09:00.
    let at = utc("2026-01-09T21:58:00Z");
    assert_eq!(next_attempt(Automated, Busy, 1, at, &Hours::default(), &[NY]), Some(utc("2026-01-12T14:00:00Z")));
}

#[test]
fn service_retries_after_30_minutes_1_then_2_hours_and_stops_after_3() {
    // Monday 09:00 in New York: 09:30, 10:00, 11:00 (none in peak hours).
    let at = utc("2026-01-05T14:00:00Z");
    let h = Hours::default();
    assert_eq!(next_attempt(Service, Busy, 1, at, &h, &[NY]), Some(utc("2026-01-05T14:30:00Z")));
    assert_eq!(next_attempt(Service, Busy, 2, at, &h, &[NY]), Some(utc("2026-01-05T15:00:00Z")));
    assert_eq!(next_attempt(Service, Busy, 3, at, &h, &[NY]), Some(utc("2026-01-05T16:00:00Z")));
    assert_eq!(next_attempt(Service, Busy, 4, at, &h, &[NY]), None);
}

#[test]
fn service_retries_skip_the_peak_hours() {
    // 11:45 + 30 min = 12:15, lunch: 13:00.
    let h = Hours::default();
    let s = next_attempt(Service, NoAnswer, 1, utc("2026-01-05T16:45:00Z"), &h, &[NY]);
    assert_eq!(s, Some(utc("2026-01-05T18:00:00Z")));
    // 16:00 + 1 h = 17:00: the window closes at 17:00 → the next day 09:00.
    let s = next_attempt(Service, NoAnswer, 2, utc("2026-01-05T21:00:00Z"), &h, &[NY]);
    assert_eq!(s, Some(utc("2026-01-06T14:00:00Z")));
    // With a window to 21:00 the evening rush is waited out: 19:00.
    let s = next_attempt(Service, NoAnswer, 2, utc("2026-01-05T21:00:00Z"), &hours("09:00-21:00", "mon-fri"), &[NY]);
    assert_eq!(s, Some(utc("2026-01-06T00:00:00Z")));
}

#[test]
fn service_retries_avoid_the_peak_hours_of_every_candidate_zone() {
    // 11:40 New York + 30 min = 12:10 NY (peak there until 13:00 NY = 12:00
    // Chicago, which is Chicago's peak until 13:00 Chicago = 14:00 NY).
    let h = hours("08:00-20:00", "all");
    let s = next_attempt(Service, Busy, 1, utc("2026-01-05T16:40:00Z"), &h, &[NY, CHICAGO]);
    assert_eq!(s, Some(utc("2026-01-05T19:00:00Z")));
}

#[test]
fn a_service_window_wholly_in_peak_hours_gets_no_retry() {
    let h = hours("12:00-13:00", "all");
    assert_eq!(next_attempt(Service, Busy, 1, utc("2026-01-05T16:40:00Z"), &h, &[NY]), None);
}

#[test]
fn a_busy_professional_target_on_friday_afternoon_is_retried_monday_at_the_window_start() {
    // Friday 2026-01-09 16:00 in New York → Monday 2026-01-12 09:00 (14:00Z).
    let at = utc("2026-01-09T21:00:00Z");
    let h = Hours::default();
    assert_eq!(next_attempt(Professional, Busy, 1, at, &h, &[NY]), Some(utc("2026-01-12T14:00:00Z")));
    // Even early in a business day it is the next one, at its start.
    let s = next_attempt(Professional, NoAnswer, 2, utc("2026-01-05T14:30:00Z"), &h, &[NY]);
    assert_eq!(s, Some(utc("2026-01-06T14:00:00Z")));
    // Only the window's days count: Monday → Wednesday.
    let s = next_attempt(Professional, Busy, 1, utc("2026-01-05T15:00:00Z"), &hours("10:00-16:00", "mon,wed"), &[NY]);
    assert_eq!(s, Some(utc("2026-01-07T15:00:00Z")));
    // At most 2 retries.
    assert_eq!(next_attempt(Professional, Busy, 3, at, &h, &[NY]), None);
}

#[test]
fn a_professional_target_that_reached_voicemail_is_never_called_again() {
    let at = utc("2026-01-05T15:00:00Z");
    assert_eq!(next_attempt(Professional, Voicemail, 1, at, &Hours::default(), &[NY]), None);
    assert!(!may_call_again(Professional, true));
    assert!(may_call_again(Professional, false));
    // The other profiles may leave another message.
    assert!(may_call_again(Automated, true) && may_call_again(Service, true));
    assert_eq!(next_attempt(Automated, Voicemail, 1, at, &Hours::default(), &[NY]), Some(utc("2026-01-05T15:05:00Z")));
}

#[test]
fn rules_are_found_by_target_key_for_every_attempt() {
    use crate::campaign::record::{TargetRecord, TargetStatus};
    let rec = |phone: &str, kind: Option<RetryProfile>| TargetRecord {
        key: target_key(Some("calls"), "call", phone),
        phone: phone.into(),
        name: None,
        zones: vec!["America/Chicago".into(), "Not/AZone".into()],
        zone_source: None,
        kind,
        columns: Default::default(),
        window: Some("10:00-12:00".into()),
        days: Some("sat,sun".into()),
        channel: "call".into(),
        step_id: Some("calls".into()),
        status: TargetStatus::Scheduled,
        event_id: None,
        scheduled_at: None,
        claim: None,
        reason: None,
        extra: Default::default(),
    };
    let rules = RetryRules::of_targets(&[rec("+15005550001", Some(Professional)), rec("+15005550002", None)]);
    let r = rules.get(Some("calls"), "call", "+15005550001").unwrap();
    assert_eq!(r.profile, Professional);
    assert_eq!(r.zones, vec![CHICAGO]);
    assert_eq!(r.hours, hours("10:00-12:00", "sat,sun"));
    assert!(rules.get(Some("calls"), "call", "+15005550002").is_none(), "no profile");
    assert!(rules.get(None, "call", "+15005550001").is_none(), "another step");
    assert!(rules.get(Some("calls"), "sms", "+15005550001").is_none(), "another channel");
}

const ZONES: [Tz; 6] = [
    chrono_tz::America::New_York,
    chrono_tz::America::Los_Angeles,
    chrono_tz::Europe::London,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Sydney,
    chrono_tz::America::Sao_Paulo,
];

fn arb_hours() -> impl Strategy<Value = Hours> {
    (0u32..23 * 60, 30u32..12 * 60, 1u8..0x80).prop_map(|(a, len, days)| {
        let b = (a + len).min(24 * 60 - 1);
        let t = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap();
        let window = Window { start: t(a), end: t(b.max(a + 1)) };
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let d: Vec<&str> = (0..7).filter(|i| days & (1 << i) != 0).map(|i| names[i]).collect();
        Hours { window, days: d.join(",").parse::<Days>().unwrap() }
    })
}

fn arb_profile() -> impl Strategy<Value = RetryProfile> {
    prop_oneof![Just(Automated), Just(Service), Just(Professional)]
}

fn arb_kind() -> impl Strategy<Value = FailureKind> {
    prop_oneof![Just(Busy), Just(NoAnswer), Just(Failed), Just(Voicemail)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn every_retry_is_inside_the_window_in_every_zone_never_early_and_off_peak_for_service(
        profile in arb_profile(),
        kind in arb_kind(),
        attempt in 1u32..5,
        h in arb_hours(),
        z1 in 0..ZONES.len(),
        z2 in proptest::option::of(0..ZONES.len()),
        secs in 1_767_225_600i64..1_830_297_600,
    ) {
        let zones: Vec<Tz> = std::iter::once(ZONES[z1]).chain(z2.map(|i| ZONES[i])).collect();
        let at = DateTime::from_timestamp(secs, 0).unwrap();
        let next = next_attempt(profile, kind, attempt, at, &h, &zones);
        if attempt > max_retries(profile) || (profile == Professional && kind == Voicemail) {
            prop_assert_eq!(next, None);
        }
        if let Some(n) = next {
            prop_assert!(n >= at, "never before the failure");
            prop_assert_eq!(n.second(), 0);
            for z in &zones {
                prop_assert!(h.is_open(*z, n), "{} closed in {} at {}", profile, z, n);
                if profile == Service {
                    prop_assert!(!in_peak(*z, n), "peak in {} at {}", z, n);
                }
                if profile == Professional {
                    prop_assert!(n.with_timezone(z).date_naive() > at.with_timezone(z).date_naive());
                    prop_assert!(h.days.contains(n.with_timezone(z).weekday()));
                }
            }
            if profile == Automated {
                // 5, 10 or 15 minutes after, unless the window was closed then.
                let after = at + Duration::minutes(5 * i64::from(attempt));
                let wanted = h.earliest_slot(&zones, after);
                prop_assert_eq!(Some(n), wanted);
            }
        }
    }

    #[test]
    fn a_professional_retry_in_one_zone_is_the_window_start_of_the_next_business_day(
        h in arb_hours(),
        zi in 0..ZONES.len(),
        secs in 1_767_225_600i64..1_830_297_600,
    ) {
        let z = ZONES[zi];
        let at = DateTime::from_timestamp(secs, 0).unwrap();
        let n = next_attempt(Professional, Busy, 1, at, &h, &[z]).unwrap();
        let local = n.with_timezone(&z);
        let mut day = at.with_timezone(&z).date_naive().succ_opt().unwrap();
        while !h.days.contains(day.weekday()) {
            day = day.succ_opt().unwrap();
        }
        // (A window wholly inside a clock change's gap opens another day.)
        prop_assume!(z.from_local_datetime(&day.and_time(h.window.start)).earliest().is_some());
        prop_assert_eq!(local.date_naive(), day);
        // At the window's start (later only when a clock change skips it).
        let late = local.time().signed_duration_since(h.window.start);
        prop_assert!(late >= Duration::zero() && late < Duration::hours(2), "{} {:?}", local, h);
    }
}
