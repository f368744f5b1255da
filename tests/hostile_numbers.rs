//! Bounds on every number a user types: an out-of-range value exits 2 with
//! a message naming the bound, before anything is sent.

mod common;

use common::{Recorder, Sandboxed};

/// Each case must exit 2 with every fragment on stderr, and the server
/// must see no request at all.
fn refused_before_sending(cases: &[(&[&str], &[&str])]) {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    for (args, fragments) in cases {
        let out = t
            .api(&srv.api_url())
            .env("CLAWDTALK_STATE_FILE", t.path().join("state.json"))
            .env("AGENTPHONE_API_KEY", "ap_test_key_0123456789")
            .args(*args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} should exit 2; stderr: {err}");
        for f in *fragments {
            assert!(err.contains(f), "{args:?}: stderr should mention {f:?}: {err}");
        }
    }
    assert!(srv.requests().is_empty(), "an out-of-range number reached the server: {:#?}", srv.requests());
}

const TO: &str = "+15551234567";
const FROM: &str = "+15559876543";

#[test]
fn a_schedule_time_more_than_366_days_ahead_is_refused() {
    refused_before_sending(&[
        (
            &["schedule", "call", "--assistant", "a1", "--to", TO, "--from", FROM, "--at", "+300000000000s"],
            &["366 days"],
        ),
        (
            &["schedule", "sms", "--assistant", "a1", "--to", TO, "--from", FROM, "--at", "+400d", "--text", "hi"],
            &["366 days"],
        ),
        (&["schedule-call", "a1", TO, FROM, "+11533-01-01T00:00:00Z", "m", "r"], &["scheduled_at"]),
        (&["schedule-call", "a1", TO, FROM, "2999-01-01T00:00:00Z", "m", "r"], &["366 days"]),
    ]);
}

#[test]
fn retries_delays_and_concurrency_of_poll_are_bounded() {
    refused_before_sending(&[
        (&["poll", "--max-retries", "4294967295"], &["--max-retries"]),
        (&["poll", "--max-retries", "11"], &["--max-retries", "0..=10"]),
        (&["poll", "--busy-delay", "18446744073709551615"], &["--busy-delay"]),
        (&["poll", "--no-answer-delay", "10081"], &["--no-answer-delay", "0..=10080"]),
        (&["poll", "--failed-delay=-1"], &["--failed-delay"]),
        (&["poll", "--concurrency", "0"], &["--concurrency"]),
        (&["poll", "--watch", "--interval", "0"], &["--interval"]),
    ]);
}

#[test]
fn waits_and_timeouts_are_at_least_one_second_and_at_most_a_day() {
    refused_before_sending(&[
        (&["call", "--wait", "--timeout", "0"], &["--timeout"]),
        (&["call", "--to", TO, "--wait", "--timeout", "86401"], &["--timeout"]),
        (&["call", "--wait", "--poll-interval", "0"], &["--poll-interval"]),
        (&["approval", "request", "Deploy", "--timeout", "0"], &["--timeout"]),
        (&["approval", "request", "Deploy", "--poll-interval", "NaN"], &["--poll-interval"]),
        (&["agentphone", "call", "--to", TO, "--objective", "Book", "--wait", "--timeout", "0"], &["--timeout"]),
        (&["agentphone", "call", "--to", TO, "--objective", "Book", "--wait", "--timeout", "1e300"], &["--timeout"]),
        (&["sandbox", "call-in", "hello", "--timeout", "0"], &["--timeout"]),
    ]);
}

#[test]
fn other_numeric_flags_are_bounded() {
    refused_before_sending(&[
        (&["sandbox", "--speed", "0"], &["--speed"]),
        (&["sandbox", "--speed", "inf"], &["--speed"]),
        (&["sandbox", "--fail-rate", "1.5"], &["--fail-rate"]),
        (&["sandbox", "--rate-limit", "0"], &["--rate-limit"]),
        (&["demo", "--speed=-1"], &["--speed"]),
        (&["connect", "status", "--lines", "99999999999"], &["--lines"]),
        (&["assistant", "list", "--size", "4294967295"], &["--size"]),
        (&["sms", "list", "--limit", "0"], &["--limit"]),
    ]);
}
