//! The mission lifecycle behind `clawdtalk poll`: [`engine`] decides (pure,
//! no I/O), [`executor`] fetches and applies in a crash-safe order against a
//! [`service::Service`].
//!
//! Library entry point (the demo calls it in a loop):
//! [`executor::poll_once`]`(&store, || Ok(service), &PollOptions::default())`
//! returns a [`executor::PollReport`]; [`executor::pending_records`] +
//! [`pace::next_sleep`] say how long to wait before the next one.

pub mod engine;
pub mod executor;
pub mod pace;
pub mod record;
pub mod service;

pub use engine::Policy;
pub use executor::{poll_once, PollOptions, PollReport};
