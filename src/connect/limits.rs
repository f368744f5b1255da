//! Bounds on what strangers and floods can make the client do.
//!
//! Why: anyone can text or call the owner's number, and the server can send
//! events faster than the agent answers. Unbounded, one stranger's 30
//! sensitive texts pushed 30 approvals to the owner's phone, and 20,000
//! `sms.received` frames opened 20,000 gateway connections until descriptors
//! and memory ran out. Every bound here is a fixed number, and every map is
//! capped, so no input can grow memory without limit.
//!
//! - [`Windows`]: "at most K per hour per key", a sliding window per key in a
//!   capped map (the oldest key is forgotten first).
//! - [`StrangerThrottle`]: per stranger, at most 1 approval in flight and 3
//!   per hour (plus a total across all strangers); the owner is never throttled.
//! - [`Load`]: at most N gateway requests in flight and a bounded queue of
//!   admitted requests, and the counters `connect status` shows.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The time source of the throttles: injectable so tests can move an hour on.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock { start: Instant::now(), offset: Mutex::default() }
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The hour the per-key limits count over.
pub const HOUR: Duration = Duration::from_secs(3600);

/// At most `limit` events per `window` per key, for at most `max_keys` keys.
///
/// When the map is full, the key first seen longest ago is forgotten: a
/// flood of distinct numbers costs a fixed amount of memory, and what it can
/// win by pushing a number out is bounded by the totals kept beside this map.
#[derive(Debug)]
pub struct Windows {
    limit: usize,
    window: Duration,
    max_keys: usize,
    keys: HashMap<String, VecDeque<Instant>>,
    /// Keys in the order they were added, to forget the oldest in O(1).
    order: VecDeque<String>,
}

impl Windows {
    pub fn new(limit: usize, window: Duration, max_keys: usize) -> Windows {
        Windows { limit, window, max_keys: max_keys.max(1), keys: HashMap::new(), order: VecDeque::new() }
    }

    /// Would one more event for `key` at `now` stay within the limit?
    pub fn allows(&self, key: &str, now: Instant) -> bool {
        self.keys.get(key).is_none_or(|times| {
            times.iter().filter(|t| now.saturating_duration_since(**t) < self.window).count() < self.limit
        })
    }

    /// Count one event for `key` at `now`.
    pub fn record(&mut self, key: &str, now: Instant) {
        if !self.keys.contains_key(key) {
            while self.keys.len() >= self.max_keys {
                match self.order.pop_front() {
                    Some(oldest) => {
                        self.keys.remove(&oldest);
                    }
                    None => break,
                }
            }
            self.order.push_back(key.to_string());
        }
        let window = self.window;
        let limit = self.limit.max(1);
        let times = self.keys.entry(key.to_string()).or_default();
        times.retain(|t| now.saturating_duration_since(*t) < window);
        if times.len() >= limit {
            times.pop_front();
        }
        times.push_back(now);
    }

    /// Record and report whether the event was within the limit (one call
    /// for "may I, and if so count it").
    pub fn take(&mut self, key: &str, now: Instant) -> bool {
        if self.allows(key, now) {
            self.record(key, now);
            true
        } else {
            false
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Per stranger: approvals in flight at once.
pub const STRANGER_IN_FLIGHT: u32 = 1;
/// Per stranger: approvals pushed per hour.
pub const STRANGER_PER_HOUR: usize = 3;
/// All strangers together: approvals pushed per hour. Without it a flood of
/// distinct numbers would each get their 3 and bury the owner's phone.
pub const STRANGERS_PER_HOUR: usize = 30;
/// Strangers remembered at once.
pub const MAX_STRANGERS: usize = 1024;

/// Why a stranger's sensitive request was refused without asking the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// This stranger already has an approval waiting.
    InFlight,
    /// This stranger had their approvals for the hour.
    Hourly,
    /// Strangers together had theirs.
    Total,
}

#[derive(Debug)]
struct ThrottleInner {
    per_stranger: Windows,
    total: Windows,
    in_flight: HashMap<String, u32>,
}

/// The approval throttle for strangers.
#[derive(Debug, Clone)]
pub struct StrangerThrottle {
    inner: Arc<Mutex<ThrottleInner>>,
    clock: Arc<dyn Clock>,
}

impl StrangerThrottle {
    pub fn new(clock: Arc<dyn Clock>) -> StrangerThrottle {
        StrangerThrottle {
            inner: Arc::new(Mutex::new(ThrottleInner {
                per_stranger: Windows::new(STRANGER_PER_HOUR, HOUR, MAX_STRANGERS),
                total: Windows::new(STRANGERS_PER_HOUR, HOUR, 1),
                in_flight: HashMap::new(),
            })),
            clock,
        }
    }

    /// May `stranger` have an approval pushed now? `Ok` holds their slot
    /// until dropped (when the approval ends); the push is counted at once.
    pub fn admit(&self, stranger: &str) -> Result<ThrottleTicket, Throttled> {
        let now = self.clock.now();
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let flying = t.in_flight.get(stranger).copied().unwrap_or(0);
        if flying >= STRANGER_IN_FLIGHT {
            return Err(Throttled::InFlight);
        }
        // in_flight is bounded by the admission bound of [`Load`]; fail
        // closed if it is somehow full of strangers already.
        if flying == 0 && t.in_flight.len() >= MAX_STRANGERS {
            return Err(Throttled::Total);
        }
        if !t.per_stranger.allows(stranger, now) {
            return Err(Throttled::Hourly);
        }
        if !t.total.allows("*", now) {
            return Err(Throttled::Total);
        }
        t.per_stranger.record(stranger, now);
        t.total.record("*", now);
        *t.in_flight.entry(stranger.to_string()).or_insert(0) += 1;
        Ok(ThrottleTicket { inner: Arc::clone(&self.inner), stranger: stranger.to_string() })
    }
}

/// A stranger's approval in flight; dropping it frees their slot.
#[derive(Debug)]
pub struct ThrottleTicket {
    inner: Arc<Mutex<ThrottleInner>>,
    stranger: String,
}

impl Drop for ThrottleTicket {
    fn drop(&mut self) {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.in_flight.get_mut(&self.stranger) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.in_flight.remove(&self.stranger);
            }
        }
    }
}

/// Default for `max_concurrent_requests`: gateway requests in flight.
pub const DEFAULT_MAX_CONCURRENT: usize = 4;
/// Default for `max_queued_requests`: admitted requests waiting for the
/// gateway (or for an approval) beyond those in flight.
pub const DEFAULT_MAX_QUEUED: usize = 64;
/// The largest value accepted for `max_concurrent_requests` and
/// `max_queued_requests`: beyond it the bound would no longer protect anything.
pub const MAX_SETTING: usize = 4096;
/// "Busy" SMS replies: one per number per hour…
pub const BUSY_SMS_PER_HOUR: usize = 1;
/// …at most this many per hour in all…
pub const BUSY_SMS_TOTAL_PER_HOUR: usize = 60;
/// …and numbers remembered for it.
pub const MAX_BUSY_NUMBERS: usize = 4096;

/// What the client has done with the inbound messages, for the log and
/// `connect status`. `received == processed + refused + in_flight` always
/// holds once a message has been counted as received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Every event taken off the socket.
    pub received: u64,
    /// Handled to the end (answered, reported, approval refused…).
    pub processed: u64,
    /// Not handled because of a bound (queue full, stranger throttled).
    pub refused: u64,
    /// Of `refused`: the queue was full.
    pub refused_busy: u64,
    /// Of `refused`: a stranger's approval was throttled.
    pub refused_throttled: u64,
    /// Admitted and not finished yet.
    pub in_flight: u64,
    /// The most gateway requests that were ever in flight at once.
    pub peak_gateway: u64,
}

/// The concurrency bounds and the counters.
#[derive(Debug)]
pub struct Load {
    /// Admitted requests (in flight + queued).
    admitted: Arc<Semaphore>,
    /// Gateway requests in flight.
    gateway: Arc<Semaphore>,
    max_concurrent: usize,
    received: AtomicU64,
    processed: AtomicU64,
    refused_busy: AtomicU64,
    refused_throttled: AtomicU64,
    in_flight: AtomicU64,
    gateway_now: AtomicU64,
    peak_gateway: AtomicU64,
    busy_sms: Mutex<(Windows, Windows)>,
    clock: Arc<dyn Clock>,
}

/// An admitted request: its place in the bound, and its count. Dropping it
/// counts the request as processed and frees the place.
#[derive(Debug)]
pub struct Admission {
    load: Arc<Load>,
    _permit: OwnedSemaphorePermit,
    /// Counted as refused instead of processed.
    refused: bool,
}

impl Admission {
    /// The request was refused by the approval throttle after all: count it so.
    pub fn refused_throttled(mut self) {
        self.refused = true;
        self.load.refused_throttled.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.load.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.refused {
            self.load.processed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A gateway request in flight.
#[derive(Debug)]
pub struct GatewaySlot<'a> {
    load: &'a Load,
    _permit: Option<tokio::sync::SemaphorePermit<'a>>,
}

impl Drop for GatewaySlot<'_> {
    fn drop(&mut self) {
        self.load.gateway_now.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Load {
    /// `max_concurrent` gateway requests at once (at least 1) and
    /// `max_queued` more admitted requests waiting.
    pub fn new(max_concurrent: usize, max_queued: usize, clock: Arc<dyn Clock>) -> Load {
        let max_concurrent = max_concurrent.max(1);
        Load {
            admitted: Arc::new(Semaphore::new(max_concurrent + max_queued)),
            gateway: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            received: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            refused_busy: AtomicU64::new(0),
            refused_throttled: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            gateway_now: AtomicU64::new(0),
            peak_gateway: AtomicU64::new(0),
            busy_sms: Mutex::new((
                Windows::new(BUSY_SMS_PER_HOUR, HOUR, MAX_BUSY_NUMBERS),
                Windows::new(BUSY_SMS_TOTAL_PER_HOUR, HOUR, 1),
            )),
            clock,
        }
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Count one event off the socket.
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Count an event handled at once (no queue).
    pub fn processed_inline(&self) {
        self.processed.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a request refused because the queue was full.
    pub fn refused_busy(&self) {
        self.refused_busy.fetch_add(1, Ordering::Relaxed);
    }

    /// A place for one more request, or `None` when the queue is full.
    pub fn admit(self: &Arc<Self>) -> Option<Admission> {
        let permit = Arc::clone(&self.admitted).try_acquire_owned().ok()?;
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Admission { load: Arc::clone(self), _permit: permit, refused: false })
    }

    /// Wait for a gateway slot (at most `max_concurrent` are out at once).
    pub async fn gateway_slot(&self) -> GatewaySlot<'_> {
        // `acquire` fails only on a closed semaphore, and this one is never
        // closed; the slot is counted either way.
        let permit = self.gateway.acquire().await.ok();
        let now = self.gateway_now.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_gateway.fetch_max(now, Ordering::Relaxed);
        GatewaySlot { load: self, _permit: permit }
    }

    /// May a "busy" SMS go to `number` now? Counts it when it may.
    pub fn busy_sms_allowed(&self, number: &str) -> bool {
        let now = self.clock.now();
        let mut w = self.busy_sms.lock().unwrap_or_else(|p| p.into_inner());
        let (per_number, total) = &mut *w;
        if per_number.allows(number, now) && total.allows("*", now) {
            per_number.record(number, now);
            total.record("*", now);
            true
        } else {
            false
        }
    }

    pub fn counts(&self) -> Counts {
        let refused_busy = self.refused_busy.load(Ordering::Relaxed);
        let refused_throttled = self.refused_throttled.load(Ordering::Relaxed);
        Counts {
            received: self.received.load(Ordering::Relaxed),
            processed: self.processed.load(Ordering::Relaxed),
            refused: refused_busy + refused_throttled,
            refused_busy,
            refused_throttled,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            peak_gateway: self.peak_gateway.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manual() -> (Arc<ManualClock>, Arc<dyn Clock>) {
        let c = Arc::new(ManualClock::default());
        (c.clone(), c)
    }

    #[test]
    fn a_stranger_gets_one_approval_in_flight_and_three_an_hour() {
        let (clock, c) = manual();
        let t = StrangerThrottle::new(c);
        let first = t.admit("+15550001").unwrap();
        assert_eq!(t.admit("+15550001").unwrap_err(), Throttled::InFlight);
        let other = t.admit("+15550002").expect("another stranger has their own slot");
        drop(first);
        drop(t.admit("+15550001").unwrap());
        drop(t.admit("+15550001").unwrap());
        assert_eq!(t.admit("+15550001").unwrap_err(), Throttled::Hourly);
        clock.advance(Duration::from_secs(1800));
        assert_eq!(t.admit("+15550001").unwrap_err(), Throttled::Hourly, "the window slides: still 3 in the hour");
        clock.advance(Duration::from_secs(1801));
        drop(t.admit("+15550001").expect("an hour after the first, one more"));
        drop(other);
    }

    #[test]
    fn strangers_together_are_capped_so_distinct_numbers_cannot_bury_the_owner() {
        let (_, c) = manual();
        let t = StrangerThrottle::new(c);
        for i in 0..STRANGERS_PER_HOUR {
            drop(t.admit(&format!("+1555{i:07}")).unwrap());
        }
        assert_eq!(t.admit("+15559999999").unwrap_err(), Throttled::Total);
    }

    #[test]
    fn windows_forget_the_oldest_key_and_stay_bounded() {
        let (clock, c) = manual();
        let mut w = Windows::new(1, HOUR, 100);
        for i in 0..10_000 {
            clock.advance(Duration::from_millis(1));
            assert!(w.take(&format!("k{i}"), c.now()));
        }
        assert_eq!(w.len(), 100);
        assert!(!w.take("k9999", c.now()), "a recent key is remembered");
        assert!(w.take("k0", c.now()), "the oldest keys were forgotten");
        assert_eq!(w.len(), 100);
    }

    #[test]
    fn the_queue_admits_concurrent_plus_queued_and_counts_each_request_once() {
        let (_, c) = manual();
        let load = Arc::new(Load::new(2, 3, c));
        let held: Vec<Admission> = (0..5)
            .map(|_| {
                load.received();
                load.admit().unwrap()
            })
            .collect();
        load.received();
        assert!(load.admit().is_none());
        load.refused_busy();
        assert_eq!(load.counts().in_flight, 5);
        let mut held = held;
        held.pop().unwrap().refused_throttled();
        drop(held);
        let n = load.counts();
        assert_eq!((n.received, n.processed, n.refused, n.in_flight), (6, 4, 2, 0));
        assert_eq!((n.refused_busy, n.refused_throttled), (1, 1));
    }

    #[tokio::test]
    async fn no_more_than_the_bound_reach_the_gateway_at_once() {
        let load = Arc::new(Load::new(3, 100, Arc::new(SystemClock)));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let l = Arc::clone(&load);
            tasks.push(tokio::spawn(async move {
                let _slot = l.gateway_slot().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(load.counts().peak_gateway, 3);
    }

    #[test]
    fn busy_sms_go_once_per_number_per_hour() {
        let (clock, c) = manual();
        let load = Load::new(1, 1, c);
        assert!(load.busy_sms_allowed("+15550001"));
        assert!(!load.busy_sms_allowed("+15550001"));
        assert!(load.busy_sms_allowed("+15550002"));
        clock.advance(HOUR);
        assert!(load.busy_sms_allowed("+15550001"));
        for i in 0..BUSY_SMS_TOTAL_PER_HOUR {
            load.busy_sms_allowed(&format!("+1666{i:07}"));
        }
        assert!(!load.busy_sms_allowed("+17770000000"), "a total cap across numbers");
    }
}
