//! What time it is, as one swappable seam. Commands ask their
//! [`Context`](crate::commands::Context) (`ctx.now()`), never `Utc::now()`
//! directly, so time rules (claims, retries, "is it due") can be tested
//! with a clock that stands still, and so the source of time can later
//! become the service's own clock (docs/protocol.md#service-clock) without
//! touching the commands.

use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

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

    #[test]
    fn the_system_clock_follows_the_machine() {
        let before = Utc::now();
        let now = SystemClock.now();
        assert!(now >= before && now <= Utc::now());
    }
}
