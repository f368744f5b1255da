//! `poll --watch`: poll until nothing is pending, pacing the polls by the
//! skill's table ([`crate::lifecycle::pace`]) and showing progress through
//! the small [`Progress`] trait (the library never holds the printer).

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;

use super::{outbox_pending, pending_records, poll_once, target_counts, PollOptions, PollReport};
use crate::error::{Error, Result};
use crate::lifecycle::pace::{watch_wait, Pace};
use crate::lifecycle::service::Service;
use crate::lifecycle::Progress;
use crate::state::StateStore;

/// Poll until nothing is pending: after each poll, sleep by `pace` and show
/// what happened and what is awaited on `progress` (settled targets of all
/// targets, and the next check's time). Transient service errors (network,
/// 5xx) do not stop the loop. Returns every poll's report. Missions whose
/// calls are done and which wait only on the bot's own steps do not keep it
/// going (the bot may be the one watching): the polls after the bot's step
/// finish them.
pub async fn watch<S, F>(
    store: &StateStore,
    connect: F,
    opts: &PollOptions,
    pace: &Pace,
    progress: &dyn Progress,
) -> Result<Vec<PollReport>>
where
    S: Service,
    F: Fn() -> Result<S>,
{
    watch_with_sleep(store, connect, opts, pace, progress, tokio::time::sleep).await
}

/// [`watch`] with the pause injected (`sleep(d)` is awaited between polls).
pub async fn watch_with_sleep<S, F, Z, Fut>(
    store: &StateStore,
    connect: F,
    opts: &PollOptions,
    pace: &Pace,
    progress: &dyn Progress,
    mut sleep: Z,
) -> Result<Vec<PollReport>>
where
    S: Service,
    F: Fn() -> Result<S>,
    Z: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut reports: Vec<PollReport> = Vec::new();
    // Settled/total targets per mission seen in this watch (a mission that
    // ends leaves the active state with every target settled).
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    loop {
        let report = match poll_once(store, &connect, opts).await {
            Ok(r) => r,
            Err(e @ (Error::Network(_) | Error::Api { .. })) => {
                progress.set(format!("poll failed ({e}); trying again"));
                PollReport::default()
            }
            Err(e) => return Err(e),
        };
        progress.polled(&report);
        let service_now = report.now;
        reports.push(report);
        let state = store.read_async().await?;
        let pending = pending_records(&state, opts.mission.as_deref())?;
        let unsent = outbox_pending(&state, opts.mission.as_deref())?;
        let now_counts = target_counts(&state, opts.mission.as_deref())?;
        drop(state);
        for (slug, c) in seen.iter_mut() {
            if !now_counts.contains_key(slug) {
                c.0 = c.1;
            }
        }
        seen.extend(now_counts);
        if pending.is_empty() && !unsent {
            return Ok(reports);
        }
        let now = service_now.unwrap_or_else(Utc::now);
        let wait = local_wait(pace, watch_wait(pace, &pending, now), &connect);
        let (done, total) = seen.values().fold((0, 0), |(d, t), c| (d + c.0, t + c.1));
        // A wait, not a clock time: the service's clock (a sandbox's runs
        // fast) and the local one must not be mixed on one screen.
        progress.count(done as u64, total as u64, format!("targets settled; next check in {}", human(wait)));
        sleep(wait).await;
    }
}

/// The table's wait is service time: on a service whose clock runs faster
/// (a sandbox at `--speed 200`) it is slept as local time / speed. A fixed
/// `--interval` is local time already.
fn local_wait<S: Service>(pace: &Pace, wait: Duration, connect: &impl Fn() -> Result<S>) -> Duration {
    if pace.interval.is_some() {
        return wait;
    }
    let speed = connect().map(|s| s.speed()).unwrap_or(1.0);
    if speed > 1.0 && speed.is_finite() {
        wait.div_f64(speed).max(Duration::from_millis(50))
    } else {
        wait
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}
