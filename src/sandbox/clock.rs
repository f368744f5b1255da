//! The sandbox clock: starts at the real wall-clock time and runs `speed`
//! times faster, plus whatever the control API adds with
//! `POST /_sandbox/clock/advance`. Everything that plays out over time
//! (scheduled events, calls, insights, approval expiry) is computed from it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

#[derive(Debug)]
pub struct Clock {
    start_real: Instant,
    start_wall: DateTime<Utc>,
    speed: f64,
    /// Milliseconds added by the control API.
    advanced_ms: AtomicI64,
}

impl Clock {
    /// A clock starting now, `speed` times faster than real time (values
    /// that are not positive and finite fall back to 1).
    pub fn new(speed: f64) -> Clock {
        Clock::starting(speed, None)
    }

    /// A clock starting at `start` (default now), `speed` times faster
    /// than real time (`sandbox --start`).
    pub fn starting(speed: f64, start: Option<DateTime<Utc>>) -> Clock {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 1.0 };
        let start_wall = start.unwrap_or_else(Utc::now);
        Clock { start_real: Instant::now(), start_wall, speed, advanced_ms: AtomicI64::new(0) }
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Sandbox time now.
    pub fn now(&self) -> DateTime<Utc> {
        let real_ms = self.start_real.elapsed().as_secs_f64() * 1000.0 * self.speed;
        self.start_wall
            + Duration::milliseconds(real_ms as i64)
            + Duration::milliseconds(self.advanced_ms.load(Ordering::Relaxed))
    }

    /// The wall clock as the sandbox's clients know it: the real one, or
    /// with `--start` the start time plus the real time since (not sped
    /// up). "At least a minute ahead" is judged on it.
    pub fn wall_now(&self) -> DateTime<Utc> {
        self.start_wall + Duration::milliseconds(self.start_real.elapsed().as_millis() as i64)
    }

    /// Move the sandbox clock forward (never backwards: negative values are ignored).
    pub fn advance(&self, seconds: f64) {
        if seconds.is_finite() && seconds > 0.0 {
            self.advanced_ms.fetch_add((seconds * 1000.0) as i64, Ordering::Relaxed);
        }
    }

    /// Seconds added by the control API so far.
    pub fn advanced_seconds(&self) -> f64 {
        self.advanced_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_clock_runs_ahead_of_real_time() {
        let c = Clock::new(1000.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let ahead = c.now() - Utc::now();
        assert!(ahead >= Duration::seconds(15), "only {ahead} ahead");
    }

    #[test]
    fn advance_moves_forward_only() {
        let c = Clock::new(1.0);
        let before = c.now();
        c.advance(3600.0);
        c.advance(-100.0);
        let d = c.now() - before;
        assert!(d >= Duration::seconds(3600) && d < Duration::seconds(3605), "{d}");
        assert_eq!(c.advanced_seconds(), 3600.0);
    }

    #[test]
    fn a_clock_with_a_start_begins_at_that_time() {
        let start = DateTime::parse_from_rfc3339("2026-01-05T15:00:00Z").unwrap().with_timezone(&Utc);
        let c = Clock::starting(1.0, Some(start));
        let d = c.now() - start;
        assert!(d >= Duration::zero() && d < Duration::seconds(5), "{d}");
    }

    #[test]
    fn nonsense_speed_falls_back_to_real_time() {
        assert_eq!(Clock::new(0.0).speed(), 1.0);
        assert_eq!(Clock::new(f64::NAN).speed(), 1.0);
    }
}
