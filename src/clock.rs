//! What time it is, as one swappable seam, and whose time it is: the
//! service's (docs/protocol.md#service-clock). Commands ask their
//! [`Context`](crate::commands::Context) (`ctx.now()`, or
//! `ctx.service_now()` when a decision depends on it), never `Utc::now()`
//! directly, so time rules (claims, retries, "is it due") can be tested
//! with a clock that stands still or runs skewed.
//!
//! Why the service's clock: relative times (`--at +2m`), the 60-second
//! minimum, retry delays, watch pacing and "is it due" are all compared
//! with times the service keeps. A local clock that is off (a skewed host,
//! or a sandbox running 200 times faster) would schedule events the
//! service has already passed. [`ServiceClock`] models the service's time
//! from the latest reply: every reply's `Date` header is a [`Sample`], and
//! a sandbox also says its speed (`X-Clock-Speed`).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: tests pin "now" and step it
/// across deadlines without sleeping.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(now: DateTime<Utc>) -> FixedClock {
        FixedClock(Mutex::new(now))
    }

    /// Make `now` the current time.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.lock() = now;
    }

    /// Move the clock forward (or back, with a negative `by`).
    pub fn advance(&self, by: Duration) {
        let mut t = self.lock();
        *t += by;
    }

    // A panic while the lock was held cannot leave a half-written time
    // behind (it is one value), so a poisoned lock is still good to use.
    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// The machine's clock, off by a fixed amount: what a host with a skewed
/// clock looks like (library tests of the service clock use it).
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock(pub Duration);

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

/// The header a sandbox says its clock's speed in (a real server: absent, speed 1).
pub const SPEED_HEADER: &str = "x-clock-speed";

/// A sample older than this (on the local clock) is refreshed with one
/// cheap request before a decision that needs the service's time.
pub const MAX_SAMPLE_AGE: Duration = Duration::minutes(10);
/// A service at real speed whose time is further than this from the local
/// clock gets one warning (the local clock is off).
pub const SKEW_WARNING: Duration = Duration::minutes(2);
/// The fastest clock believed (a sandbox's `--speed` is far below).
const MAX_SPEED: f64 = 1_000_000.0;
/// Most API bases remembered in the clock file (the oldest are dropped).
const MAX_BASES: usize = 16;
/// A clock file larger than this is not read (it is a few hundred bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024;
/// A sample is replaced when it predicts the new one this badly, or when
/// it is this old on the local clock (so its age stays meaningful).
const REPLACE_ERROR: Duration = Duration::seconds(2);
const REPLACE_AGE: Duration = Duration::seconds(60);

/// The service's time at one local instant, and how fast it runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The service's time (its reply's `Date`).
    pub service: DateTime<Utc>,
    /// The local clock when the reply arrived.
    pub local: DateTime<Utc>,
    /// Service seconds per local second (1 for a real server).
    pub speed: f64,
}

impl Sample {
    /// The service's time when the local clock reads `local_now`:
    /// sample time + local time elapsed × speed.
    pub fn service_at(&self, local_now: DateTime<Utc>) -> DateTime<Utc> {
        let elapsed_ms = (local_now - self.local).num_milliseconds() as f64 * self.speed;
        let ms = elapsed_ms.clamp(-1e15, 1e15) as i64;
        self.service + Duration::milliseconds(ms)
    }

    /// A sample worth believing: a finite positive speed no faster than
    /// [`MAX_SPEED`].
    fn is_sane(&self) -> bool {
        self.speed.is_finite() && self.speed > 0.0 && self.speed <= MAX_SPEED
    }
}

/// A speed header's value (`X-Clock-Speed: 200`); anything else is speed 1.
pub fn parse_speed(v: Option<&str>) -> f64 {
    v.and_then(|s| s.trim().parse::<f64>().ok()).filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_SPEED).unwrap_or(1.0)
}

/// An HTTP `Date` header (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(v.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// How a time is written in a `Date` header.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[derive(Debug, Default)]
struct Seen {
    sample: Option<Sample>,
    /// A reply came without a `Date`: the local clock is used (warned once).
    no_date: bool,
    warned_skew: bool,
}

/// The service's clock ([module docs](self)). Without a sample it is the
/// local clock. Replies feed it through [`ServiceClock::observe`] (the API
/// client calls it for every reply); the latest sample is kept in a small
/// clock file of its own (not the state file, which telnyx_api.py must
/// still read), keyed by API base so a sandbox's fast clock never mixes
/// with the real service's.
#[derive(Debug)]
pub struct ServiceClock {
    local: Arc<dyn Clock>,
    /// The API base the samples come from (no credentials in it).
    base: String,
    /// The clock file; None keeps samples in memory only.
    file: Option<PathBuf>,
    seen: Mutex<Seen>,
}

/// A sample to write to the clock file ([`ServiceClock::observe`] returns
/// one at most once a minute); [`SaveSample::write`] does the file work
/// off the async runtime.
#[derive(Debug)]
pub struct SaveSample {
    file: PathBuf,
    base: String,
    sample: Sample,
}

impl ServiceClock {
    /// The service clock for the API at `base`, over the `local` clock,
    /// starting from the sample `file` holds for that base (if any).
    pub fn new(local: Arc<dyn Clock>, base: &str, file: Option<PathBuf>) -> ServiceClock {
        let base = base_key(base);
        let sample = file.as_deref().and_then(|f| read_file(f).remove(&base));
        let sample = sample.and_then(|v| serde_json::from_value::<Sample>(v).ok()).filter(Sample::is_sane);
        ServiceClock { local, base, file, seen: Mutex::new(Seen { sample, ..Seen::default() }) }
    }

    /// Where the clock file lives by default: `clock.json` in the user
    /// data directory (beside the default state file).
    pub fn default_file() -> Option<PathBuf> {
        crate::config::project_dirs().map(|d| d.data_dir().join("clock.json"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest sample, if any.
    pub fn sample(&self) -> Option<Sample> {
        self.lock().sample
    }

    /// Service seconds per local second (1 without a sample).
    pub fn speed(&self) -> f64 {
        self.sample().map_or(1.0, |s| s.speed)
    }

    /// A decision needing the service's time should first take a sample:
    /// there is none, or it is older than [`MAX_SAMPLE_AGE`]. Never when the
    /// service sends no `Date` (asking again would not help).
    pub fn needs_sample(&self) -> bool {
        let seen = self.lock();
        !seen.no_date && seen.sample.is_none_or(|s| self.local.now() - s.local > MAX_SAMPLE_AGE)
    }

    /// One reply's clock headers: `date` (its `Date`, None when absent or
    /// unreadable) and `speed` (`X-Clock-Speed`, see [`parse_speed`]).
    /// Returns the sample to persist, when it is time to.
    pub fn observe(&self, date: Option<DateTime<Utc>>, speed: f64) -> Option<SaveSample> {
        let local = self.local.now();
        let mut seen = self.lock();
        let Some(service) = date else {
            if !seen.no_date {
                seen.no_date = true;
                tracing::warn!("the service's replies carry no Date header: using the local clock");
            }
            return None;
        };
        let new = Sample { service, local, speed };
        if !new.is_sane() {
            return None;
        }
        if speed == 1.0 && (service - local).abs() > SKEW_WARNING && !seen.warned_skew {
            seen.warned_skew = true;
            tracing::warn!(
                "the local clock is {} s off the service's; clawdtalk follows the service's clock",
                (local - service).num_seconds()
            );
        }
        let replace = match seen.sample {
            None => true,
            Some(old) => {
                old.speed != speed
                    || (old.service_at(local) - service).abs() > REPLACE_ERROR.max(max_truncation(speed))
                    || local - old.local > REPLACE_AGE
            }
        };
        if !replace {
            return None;
        }
        seen.sample = Some(new);
        let file = self.file.clone()?;
        Some(SaveSample { file, base: self.base.clone(), sample: new })
    }
}

/// How far a good sample may seem off: a `Date` is cut to the second, and
/// a reply takes some local time to arrive, which a fast clock multiplies.
fn max_truncation(speed: f64) -> Duration {
    Duration::milliseconds((1000.0 + 50.0 * speed) as i64)
}

impl Clock for ServiceClock {
    fn now(&self) -> DateTime<Utc> {
        let local = self.local.now();
        match self.lock().sample {
            Some(s) => s.service_at(local),
            None => local,
        }
    }
}

impl SaveSample {
    /// Write the sample to the clock file (read, replace this base's
    /// entry, keep the [`MAX_BASES`] newest, one atomic write, 0600). A
    /// lost race with another process only loses a sample.
    pub async fn write(self) -> Result<()> {
        crate::task::blocking(move || {
            let mut all = read_file(&self.file);
            all.shift_remove(&self.base);
            all.insert(self.base.clone(), serde_json::to_value(self.sample).unwrap_or(Value::Null));
            let extra = all.len().saturating_sub(MAX_BASES);
            let oldest: Vec<String> = all.keys().take(extra).cloned().collect();
            for k in oldest {
                all.shift_remove(&k);
            }
            let bytes = serde_json::to_vec_pretty(&Value::Object(all))
                .map_err(|e| Error::failed(format!("cannot encode the clock file: {e}")))?;
            crate::state::write::atomic_write(&self.file, &bytes, Some(0o600))
                .map_err(|e| Error::state(format!("cannot write {}: {e}", self.file.display())))
        })
        .await
    }
}

/// The clock file's entries (empty when missing, too large or unreadable:
/// it only ever holds a cache of samples).
fn read_file(path: &std::path::Path) -> Map<String, Value> {
    let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= MAX_FILE_BYTES);
    let bytes = if small { std::fs::read(path).unwrap_or_default() } else { Vec::new() };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The key of an API base in the clock file: scheme, host, port and path,
/// without credentials or query (a URL may carry a password).
fn base_key(base: &str) -> String {
    match url::Url::parse(base) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}{}", u.scheme(), u.host_str().unwrap_or_default(), u.path().trim_end_matches('/'))
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_fixed_clock_stands_still_until_set_or_advanced() {
        let c = FixedClock::new(t("2026-01-01T12:00:00Z"));
        assert_eq!(c.now(), c.now());
        assert_eq!(c.now(), t("2026-01-01T12:00:00Z"));
        c.advance(Duration::minutes(90));
        assert_eq!(c.now(), t("2026-01-01T13:30:00Z"));
        c.set(t("2025-06-01T00:00:00Z"));
        assert_eq!(c.now(), t("2025-06-01T00:00:00Z"));
    }

    fn service(local: &Arc<FixedClock>, file: Option<PathBuf>) -> ServiceClock {
        ServiceClock::new(local.clone(), "http://user:pw@127.0.0.1:9/v1/", file)
    }

    #[test]
    fn service_time_is_the_sample_plus_local_elapsed_times_speed() {
        let local = Arc::new(FixedClock::new(t("2026-01-01T12:00:00Z")));
        let c = service(&local, None);
        assert_eq!(c.now(), t("2026-01-01T12:00:00Z"), "no sample: the local clock");
        assert!(c.needs_sample());
        c.observe(Some(t("2026-03-01T00:00:00Z")), 200.0);
        assert!(!c.needs_sample());
        local.advance(Duration::seconds(3));
        assert_eq!(c.now(), t("2026-03-01T00:10:00Z"), "3 local seconds at speed 200 are 10 minutes");
        local.advance(Duration::minutes(11));
        assert!(c.needs_sample(), "a sample older than 10 minutes is refreshed");
    }

    #[test]
    fn a_reply_without_date_leaves_the_local_clock_and_asks_no_more() {
        let local = Arc::new(FixedClock::new(t("2026-01-01T12:00:00Z")));
        let c = service(&local, None);
        assert!(c.observe(None, 1.0).is_none());
        assert_eq!(c.now(), t("2026-01-01T12:00:00Z"));
        assert!(!c.needs_sample());
    }

    #[test]
    fn nonsense_speeds_are_speed_one_and_dates_parse_as_http_writes_them() {
        assert_eq!(parse_speed(Some("200")), 200.0);
        for bad in ["0", "-3", "NaN", "inf", "1e99", "fast", ""] {
            assert_eq!(parse_speed(Some(bad)), 1.0, "{bad}");
        }
        assert_eq!(parse_speed(None), 1.0);
        let d = t("2026-01-01T12:34:56Z");
        assert_eq!(http_date(d), "Thu, 01 Jan 2026 12:34:56 GMT");
        assert_eq!(parse_http_date(&http_date(d)), Some(d));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[tokio::test]
    async fn the_sample_is_kept_per_api_base_in_a_private_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clock.json");
        let local = Arc::new(FixedClock::new(t("2026-01-01T12:00:00Z")));
        let c = service(&local, Some(file.clone()));
        let save = c.observe(Some(t("2026-05-05T05:05:05Z")), 200.0).expect("a first sample is saved");
        save.write().await.unwrap();
        assert!(c.observe(Some(t("2026-05-05T05:05:05Z")), 200.0).is_none(), "a consistent reply writes nothing");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("http://127.0.0.1:9/v1") && !text.contains("pw"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = service(&local, Some(file.clone()));
        assert_eq!(again.now(), t("2026-05-05T05:05:05Z"), "read back for the same base");
        let other = ServiceClock::new(local.clone(), "https://clawdtalk.com/v1", Some(file));
        assert_eq!(other.now(), t("2026-01-01T12:00:00Z"), "another base never sees it");
    }

    #[test]
    fn the_system_clock_follows_the_machine() {
        let before = Utc::now();
        let now = SystemClock.now();
        assert!(now >= before && now <= Utc::now());
    }
}
