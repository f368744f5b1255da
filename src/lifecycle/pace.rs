//! How long `poll --watch` sleeps between polls: the skill's table. Events
//! due within 5 minutes (or running): 30 s; due in 5–30 minutes: 2–5
//! minutes; hours away: 15–30 minutes; days away: 4–8 hours; never waking
//! long before an event is due when it is closer than the table's step.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::engine::is_due;
use crate::state::ScheduledEvent;

/// The sleep before the next poll, given the unsettled records; None when
/// nothing is pending (watch ends).
pub fn next_sleep(records: &[ScheduledEvent], now: DateTime<Utc>) -> Option<Duration> {
    let pending: Vec<&ScheduledEvent> = records.iter().filter(|r| !r.settled).collect();
    if pending.is_empty() {
        return None;
    }
    // Anything running or due (or ended but not yet settled: insights, retries) → soon.
    if pending.iter().any(|r| is_due(r, now)) {
        return Some(Duration::from_secs(30));
    }
    let next = pending
        .iter()
        .filter_map(|r| DateTime::parse_from_rfc3339(&r.scheduled_at).ok())
        .map(|t| t.with_timezone(&Utc))
        .min()?;
    let until = (next - now).to_std().unwrap_or(Duration::ZERO);
    Some(for_distance(until))
}

/// The table: the wait for an event `until` away. Within a band the wait
/// grows with the distance but never passes the event's time by much.
pub fn for_distance(until: Duration) -> Duration {
    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    let s = until.as_secs();
    let secs = if s <= 5 * MIN {
        // Due within 5 min: wake at its time, checking at least every 30 s.
        s.clamp(1, 30)
    } else if s <= 30 * MIN {
        (s / 6).clamp(2 * MIN, 5 * MIN)
    } else if s <= 24 * HOUR {
        (s / 4).clamp(15 * MIN, 30 * MIN)
    } else {
        (s / 6).clamp(4 * HOUR, 8 * HOUR)
    };
    Duration::from_secs(secs)
}

/// How `watch` paces its polls.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// A fixed pause between polls (demos, tests against a fast sandbox);
    /// None: the skill's table ([`next_sleep`]).
    pub interval: Option<Duration>,
}

/// The pause `watch` takes after a poll: the fixed `pace.interval` when
/// given, else the skill's table ([`next_sleep`]) from the
/// unsettled records and the service's time.
pub fn watch_wait(pace: &Pace, pending: &[ScheduledEvent], now: DateTime<Utc>) -> Duration {
    match pace.interval {
        Some(d) => d,
        None => next_sleep(pending, now).unwrap_or(Duration::from_secs(30)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn the_skills_table() {
        assert_eq!(for_distance(d(4 * 60)), d(30));
        assert_eq!(for_distance(d(10)), d(10), "never sleeps past an event due in 10 s");
        assert!((d(120)..=d(300)).contains(&for_distance(d(10 * 60))));
        assert!((d(120)..=d(300)).contains(&for_distance(d(29 * 60))));
        assert!((d(900)..=d(1800)).contains(&for_distance(d(3 * 3600))));
        assert!((d(4 * 3600)..=d(8 * 3600)).contains(&for_distance(d(3 * 86400))));
    }

    #[test]
    fn running_events_mean_30s_and_nothing_pending_means_stop() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").unwrap().with_timezone(&Utc);
        let mut r = ScheduledEvent::new("e", "+1", "2026-01-01T11:59:00Z", None);
        assert_eq!(next_sleep(std::slice::from_ref(&r), now), Some(d(30)));
        r.scheduled_at = "2026-01-02T12:00:00Z".into();
        assert_eq!(next_sleep(std::slice::from_ref(&r), now), Some(d(30 * 60)));
        r.settled = true;
        assert_eq!(next_sleep(&[r], now), None);
    }

    #[test]
    fn a_fixed_interval_overrides_the_table() {
        let now = crate::lifecycle::executor::parse_time("2026-01-01T12:00:00Z").unwrap();
        let r = ScheduledEvent::new("e", "+1", "2026-01-02T12:00:00Z", None);
        let table = watch_wait(&Pace::default(), std::slice::from_ref(&r), now);
        assert_eq!(table, next_sleep(std::slice::from_ref(&r), now).unwrap());
        let fixed = Pace { interval: Some(Duration::from_millis(100)) };
        assert_eq!(watch_wait(&fixed, &[r], now), Duration::from_millis(100));
    }
}
