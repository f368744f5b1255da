//! The typed ClawdTalk client: [`client`] owns HTTP (auth, timeouts,
//! retries, error envelopes); each resource module builds paths and bodies
//! and decodes replies into [`models`].

pub mod agents;
pub mod approvals;
pub mod assistants;
pub mod calls;
pub mod client;
pub mod envelope;
pub mod events;
pub mod insights;
pub mod messages;
pub mod missions;
pub mod models;
pub mod path;
pub mod phones;
pub mod plan;
pub mod runs;
pub mod scheduled;

pub use client::{body_bytes, Client, ClientOptions, RetryPolicy};
pub use path::ApiPath;

/// Python's `urllib.parse.quote(s, safe)`: UTF-8 bytes percent-encoded
/// (upper-case hex) except ASCII letters, digits, `_.-~` and `safe`.
/// telnyx_api.py built query strings with `quote(value)` (safe `/`).
pub fn quote(s: &str, safe: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let c = b as char;
        if c.is_ascii_alphanumeric() || "_.-~".contains(c) || (b.is_ascii() && safe.contains(c)) {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_python_urllib() {
        // urllib.parse.quote("Acme Pool & Spa/é~") == 'Acme%20Pool%20%26%20Spa/%C3%A9~'
        assert_eq!(quote("Acme Pool & Spa/é~", "/"), "Acme%20Pool%20%26%20Spa/%C3%A9~");
    }
}
