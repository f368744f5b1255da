//! The typed ClawdTalk client: [`client`] owns HTTP (auth, timeouts,
//! retries, error envelopes); each resource module builds paths and bodies
//! and decodes replies into [`models`].

pub mod approvals;
pub mod calls;
pub mod client;
pub mod envelope;
pub mod messages;
pub mod missions;
pub mod models;

pub use client::{Client, ClientOptions, RetryPolicy};

/// Percent-encode one path segment (ids come from users and bots).
pub fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}
