//! The one-line report of a call's end that goes to the agent's session
//! (docs/protocol.md#voice-websocket), and the journal's `call.started`.

use super::protocol::CallEnded;
use crate::journal::{Entry, Kind};

/// The one-line report of a finished call, prefixed `[ClawdTalk] `.
pub fn call_summary(e: &CallEnded) -> String {
    let inbound = e.direction.as_deref() == Some("inbound");
    let number = if inbound { e.from_number.as_deref() } else { e.to_number.as_deref() }
        .or(e.to_number.as_deref())
        .unwrap_or("the callee");
    let purpose = e
        .purpose
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!(" (purpose: {})", p.trim()))
        .unwrap_or_default();
    let body = match e.outcome.as_deref() {
        Some("voicemail") => match e.voicemail_message.as_deref().filter(|m| !m.trim().is_empty()) {
            Some(m) => format!("Left a voicemail for {number}{purpose}: \"{}\"", m.trim()),
            None => format!("Left a voicemail for {number}{purpose}."),
        },
        Some("voicemail_failed") => {
            format!("Call to {number}{purpose} reached voicemail, but leaving the message failed.")
        }
        Some("no_answer") => format!("Call to {number}{purpose} was not answered."),
        Some("fax") => format!("Call to {number}{purpose} reached a fax machine; nothing was said."),
        _ => {
            let who = if inbound { format!("Call from {number}") } else { format!("Call to {number}") };
            let duration = e.duration_seconds.map(|d| format!(" after {}", human_duration(d))).unwrap_or_default();
            let reason = e
                .reason
                .as_deref()
                .filter(|r| !r.is_empty() && !["completed", "normal", "hangup", "normal_clearing"].contains(r))
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            format!("{who}{purpose} completed{duration}{reason}.")
        }
    };
    format!("[ClawdTalk] {body}")
}

/// `call.started` for the journal: the other party's number (masked) as
/// `from` on an inbound call, `to` on an outbound one.
pub fn call_started(call_id: &str, direction: Option<&str>, other: Option<&str>) -> Entry {
    let e = Entry::new(Kind::Call, "call.started").call_id(call_id);
    let e = match direction {
        Some(d) => e.status(d),
        None => e,
    };
    match (direction, other) {
        (Some("outbound"), Some(n)) => e.to(n),
        (_, Some(n)) => e.from(n),
        _ => e,
    }
}

fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match (s / 60, s % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(outcome: Option<&str>) -> CallEnded {
        CallEnded {
            call_id: Some("c1".into()),
            direction: Some("outbound".into()),
            duration_seconds: Some(125.0),
            to_number: Some("+15551234567".into()),
            outcome: outcome.map(str::to_string),
            voicemail_message: Some("Call me back".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_started_call_is_journaled_with_the_other_party_masked_on_its_side() {
        let inbound = call_started("c1", Some("inbound"), Some("+15551234567"));
        assert_eq!((inbound.from.as_deref(), inbound.to.as_deref()), (Some("+1 ***4567"), None));
        let outbound = call_started("c2", Some("outbound"), Some("+15551234567"));
        assert_eq!((outbound.to.as_deref(), outbound.status.as_deref()), (Some("+1 ***4567"), Some("outbound")));
        assert_eq!(call_started("c3", None, None).call_id.as_deref(), Some("c3"));
    }

    #[test]
    fn call_summaries_say_what_happened_in_one_line() {
        assert_eq!(call_summary(&ended(None)), "[ClawdTalk] Call to +15551234567 completed after 2 min 5 s.");
        assert_eq!(
            call_summary(&ended(Some("voicemail"))),
            "[ClawdTalk] Left a voicemail for +15551234567: \"Call me back\""
        );
        assert_eq!(call_summary(&ended(Some("no_answer"))), "[ClawdTalk] Call to +15551234567 was not answered.");
        assert!(call_summary(&ended(Some("fax"))).contains("fax machine"));
        assert!(call_summary(&ended(Some("voicemail_failed"))).contains("leaving the message failed"));
        let mut e = ended(None);
        e.purpose = Some("book a table".into());
        e.duration_seconds = Some(42.0);
        assert_eq!(call_summary(&e), "[ClawdTalk] Call to +15551234567 (purpose: book a table) completed after 42 s.");
    }
}
