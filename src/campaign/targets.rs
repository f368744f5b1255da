//! A batch's targets (docs/campaigns.md#targets): rows of a CSV file (a
//! header line) or JSON Lines (one object a line). `phone` is required;
//! `name`, the zone column (`timezone`, or `--tz-column`) and `kind` (a
//! retry profile) are optional; any other column is kept as it is.
//!
//! Each number is checked by the one number check ([`crate::validate::phone`]:
//! E.164, never an emergency or short number), then by libphonenumber's
//! metadata (the `phonenumber` crate, loaded on first use so only `schedule
//! batch` pays for it). The sandbox's documented test ranges (`+1500555…`,
//! `+1555010…`) are accepted although libphonenumber calls them invalid.
//! A row that fails is skipped with its reason; it never stops the others.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::validate;

/// The most rows one file may hold.
pub const MAX_ROWS: usize = 100_000;
/// The longest value kept from a cell (longer ones are cut).
pub const MAX_CELL: usize = 1_000;

/// How a target's failed attempts are retried (docs/campaigns.md#retry-profiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetryProfile {
    /// IVRs and systems: retry in 5–15 minutes, up to 3 times.
    Automated,
    /// Shops and trades: retry in 30 minutes to 2 hours.
    Service,
    /// Offices: retry the next business day inside the window.
    Professional,
}

impl FromStr for RetryProfile {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "automated" => Ok(RetryProfile::Automated),
            "service" => Ok(RetryProfile::Service),
            "professional" => Ok(RetryProfile::Professional),
            _ => Err(format!("{s:?} is not a retry profile: automated, service or professional")),
        }
    }
}

impl fmt::Display for RetryProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            RetryProfile::Automated => "automated",
            RetryProfile::Service => "service",
            RetryProfile::Professional => "professional",
        };
        f.write_str(s)
    }
}

/// One row of the file, as written (nothing checked yet but its shape).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// 1-based row number (data rows, after a CSV header).
    pub row: usize,
    pub phone: String,
    pub name: Option<String>,
    /// The zone column's value, if any.
    pub timezone: Option<String>,
    /// The `kind` column, if any (checked later: a bad one skips the row).
    pub kind: Option<String>,
    /// Every other column.
    pub columns: Map<String, Value>,
}

/// Which columns mean what.
#[derive(Debug, Clone)]
pub struct Columns {
    /// The zone column (`timezone` unless `--tz-column`).
    pub timezone: String,
}

impl Default for Columns {
    fn default() -> Self {
        Columns { timezone: "timezone".into() }
    }
}

/// Parse a targets file: JSON Lines when `name` ends in `.jsonl`/`.ndjson`
/// or the first non-blank character is `{`, else CSV with a header row.
/// A file without a `phone` column, or not parseable at all, is bad input.
pub fn parse(name: &str, text: &str, cols: &Columns) -> Result<Vec<Target>> {
    let lower = name.to_ascii_lowercase();
    let json = lower.ends_with(".jsonl")
        || lower.ends_with(".ndjson")
        || text.trim_start_matches('\u{feff}').trim_start().starts_with('{');
    let rows = if json { parse_jsonl(text)? } else { parse_csv(text)? };
    if rows.len() > MAX_ROWS {
        return Err(Error::usage(format!("{name}: {} rows; at most {MAX_ROWS} in one batch", rows.len())));
    }
    Ok(rows.into_iter().enumerate().map(|(i, r)| target(i + 1, r, cols)).collect())
}

fn cut(s: &str) -> String {
    crate::redact::cut(s.trim(), MAX_CELL)
}

fn parse_csv(text: &str) -> Result<Vec<Map<String, Value>>> {
    let text = text.trim_start_matches('\u{feff}');
    let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::usage(format!("the targets file is not CSV: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if !headers.iter().any(|h| h == "phone") {
        return Err(Error::usage("the targets file has no `phone` column (CSV: a header row naming `phone`)"));
    }
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Error::usage(format!("the targets file, row {}: {e}", i + 1)))?;
        let mut m = Map::new();
        for (h, v) in headers.iter().zip(rec.iter()) {
            if !v.is_empty() {
                m.insert(h.clone(), Value::String(cut(v)));
            }
        }
        rows.push(m);
    }
    Ok(rows)
}

fn parse_jsonl(text: &str) -> Result<Vec<Map<String, Value>>> {
    let mut rows = Vec::new();
    for (i, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| Error::usage(format!("the targets file, line {}: not JSON: {e}", i + 1)))?;
        let Value::Object(obj) = v else {
            return Err(Error::usage(format!("the targets file, line {}: not a JSON object", i + 1)));
        };
        let m = obj
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => Value::String(cut(&s)),
                    Value::Number(n) => Value::String(n.to_string()),
                    other => Value::String(cut(&other.to_string())),
                };
                (cut(&k).to_ascii_lowercase(), v)
            })
            .collect();
        rows.push(m);
    }
    Ok(rows)
}

fn target(row: usize, mut m: Map<String, Value>, cols: &Columns) -> Target {
    let mut take = |k: &str| match m.remove(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let phone = take("phone").unwrap_or_default();
    let name = take("name");
    let timezone = take(&cols.timezone.to_ascii_lowercase());
    let kind = take("kind");
    Target { row, phone, name, timezone, kind, columns: m }
}

/// A number that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    /// E.164.
    pub e164: String,
    /// ISO 3166 country, when libphonenumber knows it.
    pub country: Option<String>,
    /// One of the sandbox's test ranges.
    pub test_range: bool,
}

/// The sandbox's documented test ranges (docs/sandbox.md).
pub fn is_test_number(e164: &str) -> bool {
    e164.len() == 12 && (e164.starts_with("+1500555") || e164.starts_with("+1555010"))
}

/// Check one number: the one number check first (emergency and short
/// numbers refused), then libphonenumber. `Err` is the reason to skip.
/// Every target of a batch passes here and only here, so this is where an
/// outbound gate (an opt-out list) applies to batches.
pub fn check_number(raw: &str) -> std::result::Result<Number, String> {
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    let e164 = match validate::phone("phone", &compact) {
        Ok(n) => n,
        // The dialable raw text is what the emergency check looks at.
        Err(_) if raw.trim().is_empty() => return Err("no phone number".into()),
        Err(e) => return Err(validate::phone("phone", raw).err().unwrap_or(e).to_string()),
    };
    if is_test_number(&e164) {
        return Ok(Number { e164, country: None, test_range: true });
    }
    let parsed = phonenumber::parse(None, &e164)
        .map_err(|e| format!("phone: {e164} is not a phone number (libphonenumber: {e})"))?;
    if !parsed.is_valid() {
        return Err(format!("phone: {e164} is not a valid number (libphonenumber's metadata)"));
    }
    let country = parsed.country().id().map(|id| id.as_ref().to_string());
    Ok(Number { e164, country, test_range: false })
}

/// Where a target's zone came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    /// The row's zone column.
    Column,
    /// The number's country, which has one zone.
    Country,
    /// The number's country, which has several: every one must be open.
    Ambiguous,
    /// `--default-tz`.
    Default,
}

/// Decide a target's candidate zones: the row's zone column wins; else the
/// number's country when it has one zone, every zone of it when several;
/// else (unknown country, sandbox test numbers) `default`. `Err` is the
/// reason to skip.
pub fn zones_for(
    number: &Number,
    column: Option<&str>,
    default: Option<Tz>,
) -> std::result::Result<(Vec<Tz>, ZoneSource), String> {
    if let Some(name) = column {
        return match name.trim().parse::<Tz>() {
            Ok(z) => Ok((vec![z], ZoneSource::Column)),
            Err(_) => Err(format!("timezone: {:?} is not an IANA time zone", crate::redact::cut(name, 60))),
        };
    }
    if let Some(cc) = number.country.as_deref().filter(|_| !number.test_range) {
        let zones = super::zones::for_country(cc);
        match zones.len() {
            0 => {}
            1 => return Ok((zones.to_vec(), ZoneSource::Country)),
            _ => return Ok((zones.to_vec(), ZoneSource::Ambiguous)),
        }
    }
    match default {
        Some(z) => Ok((vec![z], ZoneSource::Default)),
        None => Err("no time zone: add a timezone column or pass --default-tz".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_keep_every_column_and_pick_out_the_known_ones() {
        let text = "Phone,Name,timezone,kind,notes\n+15005550006,\"Bob, Jr.\",America/Chicago,service,roof\n";
        let t = parse("t.csv", text, &Columns::default()).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].row, t[0].phone.as_str(), t[0].name.as_deref()), (1, "+15005550006", Some("Bob, Jr.")));
        assert_eq!((t[0].timezone.as_deref(), t[0].kind.as_deref()), (Some("America/Chicago"), Some("service")));
        assert_eq!(t[0].columns["notes"], "roof");
    }

    #[test]
    fn jsonl_rows_and_a_chosen_zone_column() {
        let text =
            "{\"phone\": \"+33142685300\", \"tz\": \"Europe/Paris\", \"floor\": 3}\n\n{\"phone\": 15005550006}\n";
        let cols = Columns { timezone: "tz".into() };
        let t = parse("t.jsonl", text, &cols).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(t[0].columns["floor"], "3");
        assert_eq!(t[1].phone, "15005550006");
    }

    #[test]
    fn a_file_without_a_phone_column_is_bad_input() {
        let e = parse("t.csv", "name\nBob\n", &Columns::default()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(parse("t.jsonl", "[1]\n", &Columns::default()).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn numbers_are_checked_by_the_number_check_then_libphonenumber() {
        let fr = check_number("+33 1 42 68 53 00").unwrap();
        assert_eq!((fr.e164.as_str(), fr.country.as_deref()), ("+33142685300", Some("FR")));
        let us = check_number("+1 (212) 555-2368").unwrap();
        assert_eq!(us.country.as_deref(), Some("US"));
        assert!(check_number("+15005550006").unwrap().test_range);
        assert!(check_number("+15550100002").unwrap().test_range);
        assert!(check_number("911").unwrap_err().contains("emergency"), "{:?}", check_number("911"));
        assert!(check_number("+1911").unwrap_err().contains("emergency"));
        assert!(check_number("+12345").is_err());
        let bad = check_number("+19995551234").unwrap_err();
        assert!(bad.contains("libphonenumber"), "{bad}");
        assert!(check_number("call me").is_err());
    }

    #[test]
    fn the_zone_column_wins_then_the_country_then_the_default() {
        let paris = chrono_tz::Europe::Paris;
        let fr = check_number("+33142685300").unwrap();
        assert_eq!(zones_for(&fr, None, None).unwrap(), (vec![paris], ZoneSource::Country));
        let ny = chrono_tz::America::New_York;
        assert_eq!(zones_for(&fr, Some("America/New_York"), None).unwrap(), (vec![ny], ZoneSource::Column));
        assert!(zones_for(&fr, Some("Mars/Base"), None).is_err());
        let us = check_number("+12125552368").unwrap();
        let (zones, src) = zones_for(&us, None, Some(paris)).unwrap();
        assert_eq!(src, ZoneSource::Ambiguous);
        assert!(zones.contains(&ny) && zones.len() > 10);
        let test = check_number("+15005550006").unwrap();
        assert_eq!(zones_for(&test, None, Some(paris)).unwrap(), (vec![paris], ZoneSource::Default));
        assert!(zones_for(&test, None, None).is_err());
    }
}
