//! The mission lifecycle behind `clawdtalk poll`: [`engine`] decides (pure,
//! no I/O), [`executor`] fetches and applies in a crash-safe order against a
//! [`service::Service`].
//!
//! Library entry points (what `clawdtalk demo` uses):
//! - [`executor::poll_once`]`(&store, || Ok(&service), &PollOptions::default())`
//!   → a [`executor::PollReport`] (one poll; no request when nothing is pending);
//! - [`executor::watch`]`(&store, || Ok(&service), &opts, &Pace { interval }, &progress)`
//!   polls until nothing is pending.
//!
//! The service is [`api_service::ApiService`]`::from_config(&config, clock_url)`;
//! against a sandbox pass `Some("{root}/_sandbox/clock")` so poll reads the
//! sandbox's fast clock.

pub mod api_service;
pub mod cancel;
pub mod engine;
pub mod executor;
pub mod pace;
pub mod record;
pub mod service;
mod testing;

pub use engine::Policy;
pub use executor::{poll_once, watch, watch_with_sleep, Pace, PollOptions, PollReport};
