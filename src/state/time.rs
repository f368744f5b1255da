//! The one timestamp format of the state file (`docs/protocol.md#state-file`).
//!
//! Why its own file: every other file of `state/` stamps records with it, so
//! it sits below them all and none of them has to import a sibling that
//! imports it back.

use chrono::{DateTime, SecondsFormat, Utc};

/// A timestamp in the form telnyx_api.py wrote (`…T17:27:28.123456Z`).
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Micros, true)
}
