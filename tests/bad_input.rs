//! Bad input: exit 2, a message that names the fix, and nothing sent.

mod common;

use common::{Recorder, Sandboxed};

/// Run every case against one recording server; each must exit 2 with a
/// stderr containing all of its fragments, and the server must see nothing.
fn refuse_all(cases: &[(&[&str], &[&str])]) {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    for (args, fragments) in cases {
        let out = t.api(&srv.api_url()).args(*args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} should exit 2; stderr: {err}");
        for f in *fragments {
            assert!(err.contains(f), "{args:?}: stderr should mention {f:?}: {err}");
        }
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    }
    assert!(srv.requests().is_empty(), "bad input reached the server: {:#?}", srv.requests());
}

fn in_secs(s: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(s)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[test]
fn invalid_json_arguments_are_named_with_the_position() {
    refuse_all(&[
        (&["create-run", "m", "{\"a\": }"], &["INPUT_JSON", "line 1, column 7"]),
        (&["run", "create", "m", "{oops"], &["INPUT_JSON", "column 2"]),
        (&["create-plan", "m", "r", "[{\"step_id\": \"a\",}]"], &["STEPS_JSON", "column"]),
        (&["create-plan", "m", "r", "{\"step_id\": \"a\"}"], &["STEPS_JSON", "list of step objects"]),
        (&["log-event", "m", "r", "custom", "s", "-", "{bad"], &["PAYLOAD_JSON", "column 2"]),
        (&["event", "log", "m", "r", "custom", "s", "--payload", "[1,"], &["PAYLOAD_JSON"]),
        (&["run", "update", "m", "r", "succeeded", "--payload", "{"], &["--payload"]),
        (&["update-assistant", "a1", "{\"greeting\" \"x\"}"], &["UPDATES_JSON", "column 13"]),
        (&["update-assistant", "a1", "[1]"], &["UPDATES_JSON", "JSON object"]),
        (&["create-assistant", "N", "I", "", "{nope"], &["OPTIONS_JSON", "column 2"]),
        // A JSON list is the features list (the skill documentation's form); a bad feature is refused.
        (&["create-assistant", "N", "I", "", "[\"telepathy\"]"], &["OPTIONS_JSON", "telephony"]),
        (&["create-assistant", "N", "I", "", "{\"colour\": \"red\"}"], &["unknown key \"colour\"", "voice"]),
        (&["create-assistant", "N", "I", "", "{\"tools\": [{\"type\": \"teleport\"}]}"], &["hangup, webhook"]),
        (&["assistant", "create", "N", "I", "--features", "telephony,fax"], &["--features", "telephony, messaging"]),
    ]);
}

#[test]
fn a_step_id_that_looks_like_json_is_the_forgotten_argument() {
    refuse_all(&[
        (&["log-event", "m", "r", "custom", "summary", "{\"price\": 1}"], &["STEP_ID", "forgot the step id", "\"-\""]),
        (&["log-event", "m", "r", "custom", "summary", "[1]"], &["forgot the step id"]),
        (&["update-step", "m", "r", "{\"x\":1}", "completed"], &["STEP_ID", "looks like JSON"]),
        (&["event", "log", "m", "r", "custom", "s", "--step", "{}"], &["forgot the step id"]),
    ]);
}

#[test]
fn unknown_words_list_the_valid_ones() {
    refuse_all(&[
        (&["update-run", "m", "r", "done"], &["STATUS", "pending, running, succeeded, failed, cancelled"]),
        (&["update-step", "m", "r", "s", "done"], &["pending, in_progress, completed, skipped, failed"]),
        (
            &["log-event", "m", "r", "note", "s", "-"],
            &["TYPE", "tool_call, custom, message, error, step_started, step_completed"],
        ),
        (&["get-connection-id", "a1", "fax"], &["FEATURE", "telephony, messaging"]),
        (&["assign-phone", "p", "c", "fax"], &["TYPE", "voice, sms"]),
    ]);
}

#[test]
fn phone_numbers_must_be_e164_and_never_emergency() {
    let at = in_secs(3600);
    let call = |to: &'static str, from: &'static str| -> Vec<String> {
        ["schedule-call", "a1", to, from, &at, "m", "r"].iter().map(|s| s.to_string()).collect()
    };
    let cases = [
        (call("5551234567", "+15559876543"), vec!["TO", "E.164", "+15551234567"]),
        (call("+15551234567", "555-987"), vec!["FROM"]),
        // Each refusal names its own reason: an emergency number as dialled...
        (call("911", "+15559876543"), vec!["TO: 911 is an emergency number;"]),
        (call("112", "+15559876543"), vec!["TO: 112 is an emergency number;"]),
        (call("+112", "+15559876543"), vec!["TO: +112 is an emergency number;"]),
        (call("+15551234567", "999"), vec!["FROM: 999 is an emergency number;"]),
        // ...after a country code...
        (call("+1911", "+15559876543"), vec!["TO: +1911 is an emergency number (country code +1, then 911)"]),
        (call("+44999", "+15559876543"), vec!["TO: +44999 is an emergency number (country code +44, then 999)"]),
        (call("+33 112", "+15559876543"), vec!["is an emergency number (country code +33, then 112)"]),
        // ...and any other short number, which is not called an emergency one.
        (call("12345", "+15559876543"), vec!["TO: 12345 is a short number (5 digits)", "8 to 15 digits"]),
        (call("+4477", "+15559876543"), vec!["TO: +4477 is a short number (4 digits)"]),
    ];
    let owned: Vec<(Vec<&str>, Vec<&str>)> =
        cases.iter().map(|(a, f)| (a.iter().map(String::as_str).collect(), f.clone())).collect();
    let refs: Vec<(&[&str], &[&str])> = owned.iter().map(|(a, f)| (a.as_slice(), f.as_slice())).collect();
    refuse_all(&refs);
    refuse_all(&[(
        &[
            "schedule",
            "sms",
            "--assistant",
            "a1",
            "--to",
            "999",
            "--from",
            "+15559876543",
            "--at",
            "+5m",
            "--text",
            "hi",
        ],
        &["TO: 999 is an emergency number;"],
    )]);
    // A short number is never reported as an emergency one.
    let srv = common::Recorder::start();
    let t = Sandboxed::new();
    let out = t.api(&srv.api_url()).args(call("+4477", "+15559876543")).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("emergency"));
}

#[test]
fn scheduled_at_must_be_rfc3339_and_a_minute_ahead() {
    let soon = in_secs(20);
    let past = in_secs(-3600);
    refuse_all(&[
        (&["schedule-call", "a1", "+15551234567", "+15559876543", "tomorrow 3pm", "m", "r"], &["RFC 3339"]),
        (&["schedule-call", "a1", "+15551234567", "+15559876543", "2030-01-01 15:00", "m", "r"], &["RFC 3339"]),
        (&["schedule-call", "a1", "+15551234567", "+15559876543", &soon, "m", "r"], &["60 s ahead"]),
        (&["schedule-sms", "a1", "+15551234567", "+15559876543", &past, "hi"], &["60 s ahead"]),
        (
            &[
                "schedule",
                "call",
                "--assistant",
                "a1",
                "--to",
                "+15551234567",
                "--from",
                "+15559876543",
                "--at",
                "+30s",
            ],
            &["60 s ahead"],
        ),
        (
            &[
                "schedule",
                "call",
                "--assistant",
                "a1",
                "--to",
                "+15551234567",
                "--from",
                "+15559876543",
                "--at",
                "+5 min",
            ],
            &["+5m"],
        ),
    ]);
}

#[test]
fn other_inconsistent_input_is_refused() {
    let at = in_secs(3600);
    refuse_all(&[
        (&["schedule-sms", "a1", "+15551234567", "+15559876543", &at, "  "], &["SMS text is empty"]),
        (
            &[
                "schedule",
                "call",
                "--assistant",
                "a1",
                "--to",
                "+15551234567",
                "--from",
                "+15559876543",
                "--at",
                &at,
                "--mission-id",
                "m",
            ],
            &["--run-id"],
        ),
        (&["get-run", "", "r"], &["MISSION_ID must not be empty"]),
        (&["list-assistants", "--page=abc"], &["--page"]),
        (&["assistant", "list", "--page", "0"], &["start at 1"]),
        (&["log-event", "m", "r", "custom", "summary"], &["STEP_ID"]),
        (&["create-run"], &["MISSION_ID"]),
    ]);
}
