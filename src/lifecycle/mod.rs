//! The mission lifecycle behind `clawdtalk poll`: [`engine`] decides (pure,
//! no I/O), [`executor`] fetches and applies in a crash-safe order against a
//! [`service::Service`].
//!
//! Library entry points (what `clawdtalk demo` uses):
//! - [`executor::poll_once`]`(&store, || Ok(&service), &PollOptions::default())`
//!   → a [`executor::PollReport`] (one poll; no request when nothing is pending);
//! - [`executor::watch`]`(&store, || Ok(&service), &opts, &Pace { interval }, &progress)`
//!   polls until nothing is pending, showing what it waits for on a
//!   [`Progress`] (the printer's spinner, or [`NoProgress`]).
//!
//! The service is [`api_service::ApiService`]`::from_config(&config)`: its
//! clock is the service's (every reply's `Date`, and a sandbox's
//! `X-Clock-Speed`), so a fast sandbox needs no setting.

pub mod api_service;
pub mod cancel;
pub mod engine;
pub mod executor;
pub mod notify;
pub mod pace;
pub mod record;
pub mod service;
pub(crate) mod testing;

pub use engine::Policy;
pub use executor::{poll_once, watch, watch_with_sleep, PollOptions, PollReport};
pub use pace::Pace;

/// Where the lifecycle shows what it is waiting for. The library only
/// knows this trait: the binary passes its printer's spinner
/// (`output::Progress`), tests and library callers [`NoProgress`].
pub trait Progress {
    /// Show `msg` as the current stage.
    fn set(&self, msg: String);
    /// Show `done` of `total` with `msg`.
    fn count(&self, done: u64, total: u64, msg: String);
    /// One poll of a watch has finished: show what it changed. `poll
    /// --watch` prints the report's lines as they happen (once, on stdout);
    /// by default each change becomes the current stage.
    fn polled(&self, report: &PollReport) {
        for m in &report.missions {
            for line in &m.changes {
                self.set(format!("{}: {line}", m.slug));
            }
        }
    }
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set(&self, _msg: String) {}
    fn count(&self, _done: u64, _total: u64, _msg: String) {}
}
