//! Input checks shared by every command. Each returns [`Error::Usage`]
//! (exit 2) with a message that says what to fix, before anything is sent.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::{Error, Result};

/// Numbers that must never be dialled or texted: emergency services and
/// short codes that reach them in many countries.
const EMERGENCY: &[&str] = &[
    "911", "112", "999", "000", "110", "119", "118", "111", "100", "101", "102", "108", "120", "122", "123", "995",
    "997", "998", "08", "061", "060", "066", "113", "191", "1122", "15", "17", "18",
];

/// Check an E.164 number: `+`, a country code not starting with 0, 8 to 15
/// digits in all. Refused first, each with its own message: an emergency
/// number (`911`, `+112`), an emergency number after a country code
/// (`+1911`, `+44999`), and any other short number (6 digits or fewer),
/// whatever the punctuation (`+1 (911)`).
pub fn phone(arg: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::usage(format!(
            "{arg} is empty (an unset shell variable?): give an E.164 number like +15551234567"
        )));
    }
    let digits: String = v.chars().filter(|c| c.is_ascii_digit()).collect();
    let dialable = v.chars().all(|c| c.is_ascii_digit() || "+ -().".contains(c)) && !digits.is_empty();
    if dialable {
        if EMERGENCY.contains(&digits.as_str()) {
            return Err(Error::usage(format!(
                "{arg}: {v} is an emergency number; clawdtalk never calls or texts emergency services"
            )));
        }
        // Country codes are 1 to 3 digits; the rest being an emergency
        // number makes the whole thing at most 7 digits, below E.164's 8.
        for cc_len in 1..=3 {
            if let Some((cc, rest)) = digits.split_at_checked(cc_len).filter(|(_, r)| EMERGENCY.contains(r)) {
                return Err(Error::usage(format!(
                    "{arg}: {v} is an emergency number (country code +{cc}, then {rest}); clawdtalk never calls or \
                     texts emergency services"
                )));
            }
        }
        if digits.len() <= 6 {
            return Err(Error::usage(format!(
                "{arg}: {v} is a short number ({} digits); clawdtalk only calls or texts full E.164 numbers \
                 (+ country code and number, 8 to 15 digits, e.g. +15551234567)",
                digits.len()
            )));
        }
    }
    let bare = v.strip_prefix('+').unwrap_or(v);
    let ok = v.starts_with('+')
        && bare.chars().all(|c| c.is_ascii_digit())
        && (8..=15).contains(&bare.len())
        && !bare.starts_with('0');
    if !ok {
        return Err(Error::usage(format!(
            "{arg}: {v:?} is not an E.164 phone number (write it as + country code and number, e.g. +15551234567)"
        )));
    }
    Ok(v.to_string())
}

/// Parse a JSON argument; the error names the argument and where it broke.
pub fn json_arg(arg: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::usage(format!(
            "{arg} is not valid JSON (line {}, column {}): {e}. Quote it for the shell, e.g. '{{\"key\": \"value\"}}'",
            e.line(),
            e.column()
        ))
    })
}

/// Parse a JSON argument that must be an object.
pub fn json_object_arg(arg: &str, text: &str) -> Result<Value> {
    let v = json_arg(arg, text)?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(Error::usage(format!("{arg} must be a JSON object ({{...}}), got {text}")))
    }
}

/// A step id (or other plain id) that looks like JSON is almost always a
/// forgotten argument shifting the JSON into the id's place.
pub fn plain_id(arg: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::usage(format!("{arg} must not be empty or only whitespace (an unset shell variable?)")));
    }
    if v.starts_with('{') || v.starts_with('[') {
        return Err(Error::usage(format!(
            "{arg} looks like JSON ({}): an argument before it is probably missing; check the command's argument order",
            truncate(v, 40)
        )));
    }
    Ok(v.to_string())
}

/// The furthest ahead a call or SMS may be scheduled. Why a bound: a typo
/// such as `+300000000000s` otherwise sends a timestamp in the year 11533,
/// which the service may accept and keep forever.
pub const MAX_SCHEDULE_DAYS: i64 = 366;

/// The error for a time past [`MAX_SCHEDULE_DAYS`].
fn too_far(value: &str) -> Error {
    Error::usage(format!(
        "scheduled_at {value} is more than {MAX_SCHEDULE_DAYS} days ahead; schedule within a year (e.g. +30d)"
    ))
}

/// `scheduled_at` must be RFC 3339, at least 60 s and at most
/// [`MAX_SCHEDULE_DAYS`] ahead of `now`.
pub fn scheduled_at(value: &str, now: DateTime<Utc>) -> Result<String> {
    let t = DateTime::parse_from_rfc3339(value.trim()).map_err(|e| {
        Error::usage(format!(
            "scheduled_at {value:?} is not an RFC 3339 time ({e}); write it like {}",
            (now + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ")
        ))
    })?;
    let t = t.with_timezone(&Utc);
    if t < now + chrono::Duration::seconds(60) {
        return Err(Error::usage(format!(
            "scheduled_at {value} is less than 60 s ahead (now is {}); schedule at least one minute in the future",
            now.format("%Y-%m-%dT%H:%M:%SZ")
        )));
    }
    if t > now + chrono::Duration::days(MAX_SCHEDULE_DAYS) {
        return Err(too_far(value.trim()));
    }
    Ok(value.trim().to_string())
}

/// A time to schedule at: RFC 3339 (checked by [`scheduled_at`]) or a
/// relative `+N` followed by `s`, `m`, `h` or `d` (e.g. `+5m`), turned into
/// RFC 3339 UTC (`2030-01-01T15:05:00Z`). Either way at least 60 s and at
/// most [`MAX_SCHEDULE_DAYS`] ahead.
pub fn when(value: &str, now: DateTime<Utc>) -> Result<String> {
    let v = value.trim();
    let Some(rel) = v.strip_prefix('+') else {
        return scheduled_at(v, now);
    };
    let bad = || {
        Error::usage(format!(
            "scheduled_at {value:?} is not a relative time; write +N followed by s, m, h or d (e.g. +5m, +2h) or an RFC 3339 time like {}",
            (now + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ")
        ))
    };
    // The unit is the last character (which may be several bytes long in
    // hostile input: splitting by bytes would panic inside it).
    let unit_at = rel.char_indices().last().map(|(i, _)| i).ok_or_else(bad)?;
    let (n, unit) = rel.split_at(unit_at);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if secs < 60 {
        return Err(Error::usage(format!(
            "scheduled_at {v} is less than 60 s ahead; schedule at least one minute in the future (e.g. +1m)"
        )));
    }
    if secs > MAX_SCHEDULE_DAYS * 86_400 {
        return Err(too_far(v));
    }
    let t = chrono::Duration::try_seconds(secs).and_then(|d| now.checked_add_signed(d)).ok_or_else(bad)?;
    Ok(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// [`when`] as a time, for what is computed from it (a batch's first slot).
pub fn when_time(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let t = when(value, now)?;
    DateTime::parse_from_rfc3339(&t).map(|t| t.with_timezone(&Utc)).map_err(|e| Error::usage(format!("{value}: {e}")))
}

/// A time in the past for `--since`: a duration back from `now` (`30s`,
/// `10m`, `2h`, `7d`, at most ten years) or an RFC 3339 time.
pub fn since(arg: &str, value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let v = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || {
        Error::usage(format!(
            "{arg} {value:?} is neither a duration (a number followed by s, m, h or d: 30s, 10m, 2h, 7d) \
             nor an RFC 3339 time"
        ))
    };
    let unit_at = v.char_indices().last().map(|(i, _)| i).ok_or_else(bad)?;
    let (n, unit) = v.split_at(unit_at);
    let n: u32 = n.parse().map_err(|_| bad())?;
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let secs = i64::from(n) * per;
    if secs > 3650 * 86_400 {
        return Err(Error::usage(format!("{arg} {value:?} is more than ten years back")));
    }
    chrono::Duration::try_seconds(secs).and_then(|d| now.checked_sub_signed(d)).ok_or_else(bad)
}

/// A plan's steps: a JSON list of objects (`[{"step_id", "description", "sequence"}, …]`).
pub fn steps_arg(arg: &str, text: &str) -> Result<Value> {
    let v = json_arg(arg, text)?;
    match &v {
        Value::Array(items) if items.iter().all(Value::is_object) => Ok(v),
        _ => Err(Error::usage(format!(
            "{arg} must be a JSON list of step objects, e.g. '[{{\"step_id\": \"call_1\", \"description\": \"Call Acme\", \"sequence\": 1}}]'"
        ))),
    }
}

/// One of a fixed set of words; the error lists the valid ones.
pub fn word<'a>(arg: &str, value: &str, valid: &[&'a str]) -> Result<&'a str> {
    valid
        .iter()
        .copied()
        .find(|w| *w == value)
        .ok_or_else(|| Error::usage(format!("{arg}: unknown value {value:?}; valid values are: {}", valid.join(", "))))
}

pub const RUN_STATUSES: &[&str] = &["pending", "running", "succeeded", "failed", "cancelled"];
pub const STEP_STATUSES: &[&str] = &["pending", "in_progress", "completed", "skipped", "failed"];
pub const EVENT_TYPES: &[&str] = &["tool_call", "custom", "message", "error", "step_started", "step_completed"];

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_back_or_a_time_and_refuses_anything_else() {
        let now = crate::testing::time("2026-01-01T12:00:00Z");
        assert_eq!(since("--since", "10m", now).unwrap(), crate::testing::time("2026-01-01T11:50:00Z"));
        assert_eq!(since("--since", "2d", now).unwrap(), crate::testing::time("2025-12-30T12:00:00Z"));
        assert_eq!(
            since("--since", "2026-01-01T08:00:00+01:00", now).unwrap(),
            crate::testing::time("2026-01-01T07:00:00Z")
        );
        for bad in ["", "10", "m", "-5m", "10x", "99999999d", "1é"] {
            assert!(matches!(since("--since", bad, now), Err(Error::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn e164_accepted_and_rejected() {
        assert_eq!(phone("to", "+15551234567").unwrap(), "+15551234567");
        assert!(phone("to", "5551234567").is_err());
        assert!(phone("to", "+1 555 123").is_err());
        assert!(phone("to", "+0123456789").is_err());
    }

    #[test]
    fn emergency_numbers_refused() {
        for n in ["911", "+911", "112", "999", "000", "+112", " 911 ", "15"] {
            let e = phone("to", n).unwrap_err().to_string();
            assert!(
                e.ends_with("is an emergency number; clawdtalk never calls or texts emergency services"),
                "{n}: {e}"
            );
        }
    }

    #[test]
    fn emergency_numbers_after_a_country_code_are_named_as_such() {
        for (n, cc, rest) in [
            ("+1911", "1", "911"),
            ("+44999", "44", "999"),
            ("+33112", "33", "112"),
            ("+1 (911)", "1", "911"),
            ("1911", "1", "911"),
            ("+61000", "61", "000"),
            ("+880999", "880", "999"),
        ] {
            let e = phone("to", n).unwrap_err().to_string();
            assert!(e.contains(&format!("is an emergency number (country code +{cc}, then {rest})")), "{n}: {e}");
        }
    }

    #[test]
    fn other_short_numbers_are_refused_as_short() {
        for (n, len) in [("12345", 5), ("+4477", 4), ("+123456", 6), ("55-55", 4)] {
            let e = phone("to", n).unwrap_err().to_string();
            assert!(e.contains(&format!("is a short number ({len} digits)")), "{n}: {e}");
            assert!(!e.contains("emergency"), "{n}: {e}");
        }
        // Seven digits is not short but still not E.164; letters are never "short".
        assert!(phone("to", "+1234567").unwrap_err().to_string().contains("not an E.164"));
        assert!(phone("to", "abc911").unwrap_err().to_string().contains("not an E.164"));
    }

    #[test]
    fn blank_numbers_are_refused_as_empty() {
        for n in ["", "   ", "\t"] {
            let e = phone("--to", n).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("--to is empty"), "{n:?}: {e}");
        }
    }

    fn is_e164(s: &str) -> bool {
        let Some(d) = s.strip_prefix('+') else { return false };
        (7..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()) && !d.starts_with('0')
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics_and_accepted_numbers_are_e164(s in proptest::prelude::any::<String>()) {
            if let Ok(n) = phone("--to", &s) {
                proptest::prop_assert!(is_e164(&n), "{:?} accepted as {:?}", s, n);
            }
        }

        #[test]
        fn number_like_input_is_e164_when_accepted(s in "[+]?[0-9 ()\\-]{0,18}") {
            if let Ok(n) = phone("--to", &s) {
                proptest::prop_assert!(is_e164(&n), "{:?} accepted as {:?}", s, n);
            }
        }
    }

    #[test]
    fn json_errors_name_argument_and_position() {
        let e = json_arg("STEPS_JSON", "[{\"a\":}]").unwrap_err();
        assert!(e.to_string().contains("STEPS_JSON") && e.to_string().contains("column 7"), "{e}");
    }

    #[test]
    fn step_id_that_looks_like_json_is_refused() {
        assert!(plain_id("STEP", "{\"x\":1}").is_err());
        assert_eq!(plain_id("STEP", "call_1").unwrap(), "call_1");
    }

    #[test]
    fn scheduled_at_rules() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        assert!(scheduled_at("2026-01-01T00:05:00Z", now).is_ok());
        assert!(scheduled_at("2026-01-01T00:00:30Z", now).is_err());
        assert!(scheduled_at("tomorrow", now).is_err());
    }

    #[test]
    fn relative_times_become_rfc3339() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(when("+5m", now).unwrap(), "2026-01-01T00:05:00Z");
        assert_eq!(when("+2h", now).unwrap(), "2026-01-01T02:00:00Z");
        assert_eq!(when("+1d", now).unwrap(), "2026-01-02T00:00:00Z");
        assert_eq!(when("+90s", now).unwrap(), "2026-01-01T00:01:30Z");
        assert_eq!(when("2026-01-01T00:05:00Z", now).unwrap(), "2026-01-01T00:05:00Z");
        for bad in ["+30s", "+5x", "+m", "+", "+-5m", "+99999999999999d"] {
            assert!(when(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn steps_must_be_a_list_of_objects() {
        assert!(steps_arg("STEPS_JSON", r#"[{"step_id": "a"}]"#).is_ok());
        assert!(steps_arg("STEPS_JSON", r#"{"step_id": "a"}"#).is_err());
        assert!(steps_arg("STEPS_JSON", r#"["a"]"#).is_err());
    }

    #[test]
    fn unknown_status_lists_valid_ones() {
        let e = word("STATUS", "done", RUN_STATUSES).unwrap_err();
        assert!(e.to_string().contains("succeeded"));
    }

    #[test]
    fn a_time_more_than_366_days_ahead_is_refused() {
        let now: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        for far in ["+300000000000s", "+367d", "+9000h", "2031-01-03T00:00:00Z", "+11533-01-01T00:00:00Z"] {
            let e = when(far, now).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{far}: {e}");
        }
        assert!(when("+300000000000s", now).unwrap_err().to_string().contains("366 days"));
        assert_eq!(when("+366d", now).unwrap(), "2031-01-02T00:00:00Z");
        assert!(when("2030-12-31T00:00:00Z", now).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn the_time_parser_never_panics_and_keeps_its_bounds(
            n in proptest::prelude::any::<i64>(),
            unit in "[smhdx]?",
            junk in "\\PC{0,24}",
        ) {
            let now: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
            for text in [format!("+{n}{unit}"), junk.clone(), format!("+{junk}")] {
                if let Ok(t) = when(&text, now) {
                    let t: DateTime<Utc> = DateTime::parse_from_rfc3339(&t).unwrap().with_timezone(&Utc);
                    proptest::prop_assert!(t >= now + chrono::Duration::seconds(60), "{} gave {}", text, t);
                    proptest::prop_assert!(t <= now + chrono::Duration::days(MAX_SCHEDULE_DAYS), "{} gave {}", text, t);
                }
            }
        }
    }
}
