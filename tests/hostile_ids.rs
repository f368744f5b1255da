//! Ids are path segments, never paths: every id-taking command refuses `.`,
//! `..`, a blank id, a control character and a 120 KB id with exit 2, a
//! message naming the problem, and not one request sent.

mod common;

use common::{Recorder, Sandboxed};

/// Each command family, with `{}` where the hostile id goes (every id
/// position is tried; the other ids are plain).
const COMMANDS: &[&[&str]] = &[
    &["mission", "get", "{}"],
    &["get-mission", "{}"],
    &["run", "get", "{}", "r1"],
    &["run", "get", "m1", "{}"],
    &["get-run", "m1", "{}"],
    &["run", "update", "m1", "{}", "running"],
    &["update-run", "{}", "r1", "running"],
    &["plan", "get", "m1", "{}"],
    &["plan", "update-step", "m1", "r1", "{}", "completed"],
    &["update-step", "m1", "{}", "s1", "completed"],
    &["schedule", "get", "a1", "{}"],
    &["get-event", "{}", "ev1"],
    &["schedule", "cancel", "a1", "{}"],
    &["cancel-scheduled-event", "{}", "ev1"],
    &["assistant", "get", "{}"],
    &["assistant", "update", "{}", r#"{"name": "x"}"#],
    &["call", "status", "{}"],
    &["call", "end", "{}"],
    &["approval", "status", "{}"],
    &["insights", "get", "{}"],
    &["get-insights", "{}"],
    &["agentphone", "get", "{}"],
];

/// The hostile ids and a word the refusal must contain.
fn hostile() -> Vec<(String, &'static str)> {
    vec![
        (".".into(), "would change the path"),
        ("..".into(), "would change the path"),
        ("   ".into(), "whitespace"),
        ("ev\u{1b}[2J".into(), "control character"),
        ("x".repeat(120 * 1024), "bytes long"),
    ]
}

#[test]
fn hostile_ids_are_refused_with_exit_2_and_nothing_is_sent() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    for args in COMMANDS {
        for (id, why) in hostile() {
            let argv: Vec<String> = args.iter().map(|a| if *a == "{}" { id.clone() } else { a.to_string() }).collect();
            let out = t
                .api(&srv.api_url())
                .env("AGENTPHONE_API_URL", srv.api_url())
                .env("AGENTPHONE_API_KEY", "ap_test_0123456789abcdef")
                .args(&argv)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let shown = &args.join(" ");
            assert_eq!(out.status.code(), Some(2), "{shown} with {:.20?}: {stderr}", id);
            assert!(stderr.contains(why), "{shown} with {:.20?}: {stderr}", id);
            assert!(stderr.len() < 1024, "{shown}: the id is not echoed whole ({} bytes)", stderr.len());
            assert!(!stderr.contains('\u{1b}'), "{shown}: raw escape on stderr");
            assert!(srv.requests().is_empty(), "{shown} with {:.20?} sent {:#?}", id, srv.requests());
        }
    }
}

#[test]
fn an_id_with_a_slash_is_one_encoded_segment() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    let _ = t.api(&srv.api_url()).args(["mission", "get", "../assistants/a1"]).output().unwrap();
    assert_eq!(srv.single().path, "/v1/missions/..%2Fassistants%2Fa1");
}
