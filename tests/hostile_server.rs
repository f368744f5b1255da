//! A server that cannot be trusted: redirects are errors (never followed),
//! error bodies are redacted and cut before they are printed, and server
//! text reaches a terminal only with its control characters escaped.

mod common;

use common::{Recorder, Reply, Sandboxed, TEST_KEY};
use serde_json::{json, Value};

/// A secret that has no key shape: only the configuration can say it is one.
const AP_KEY: &str = "zz-agentphone-secret-42";

#[test]
fn a_redirected_post_is_an_error_naming_the_location_and_is_not_followed() {
    for status in [301, 302] {
        let srv = Recorder::start();
        let far = format!("http://{}/elsewhere/{}", srv.addr, "p".repeat(400));
        srv.on("POST", "/v1/missions", vec![Reply::empty(status).header("location", &far)]);
        let t = Sandboxed::new();
        let out = t.api(&srv.api_url()).args(["mission", "create", "Quotes", "Get quotes"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{status}: {stderr}");
        assert!(!stdout.contains("Created mission"), "{status}: {stdout}");
        assert!(stderr.contains("redirected to http://") && stderr.contains("/elsewhere/ppp"), "{stderr}");
        assert!(!stderr.contains(&far), "the Location is cut: {stderr}");
        assert_eq!(srv.requests().len(), 1, "the redirect was followed: {:#?}", srv.requests());
    }
}

#[test]
fn the_agentphone_client_does_not_follow_redirects_either() {
    let srv = Recorder::start();
    srv.on("POST", "/ap/calls", vec![Reply::empty(302).header("location", "http://evil.example/steal")]);
    let t = Sandboxed::new();
    let out = t
        .cmd()
        .env("AGENTPHONE_API_URL", format!("http://{}/ap", srv.addr))
        .env("AGENTPHONE_API_KEY", AP_KEY)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("redirected to http://evil.example/steal"), "{stderr}");
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn keys_echoed_in_an_error_body_are_absent_from_stderr_and_json() {
    let srv = Recorder::start();
    let echo = format!("bad key {TEST_KEY}; also saw {AP_KEY}; header Bearer {TEST_KEY}");
    srv.on("GET", "/v1/missions/m1", vec![Reply::json(401, json!({"error": {"message": echo}, "echo": echo}))]);
    let t = Sandboxed::new();
    let out = t
        .api(&srv.api_url())
        .env("AGENTPHONE_API_KEY", AP_KEY)
        .args(["--json", "mission", "get", "m1"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for secret in [TEST_KEY, AP_KEY] {
        assert!(!stderr.contains(secret), "{secret} on stderr: {stderr}");
        assert!(!stdout.contains(secret), "{secret} in --json: {stdout}");
    }
    assert!(stderr.contains("bad key [redacted]"), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(doc["error"]["status"], 401);
    assert_eq!(doc["error"]["body"]["echo"], "bad key [redacted]; also saw [redacted]; header Bearer [redacted]");
}

#[test]
fn a_huge_error_body_is_cut_before_it_is_printed() {
    let srv = Recorder::start();
    let huge = format!("{{\"error\": {{\"message\": \"{}\"}}}}", "A".repeat(50 * 1024 * 1024));
    srv.on("GET", "/v1/missions/m1", vec![Reply { status: 500, body: huge, headers: vec![] }]);
    // A JSON error whose message alone is 10 KB: read whole, printed cut.
    let long = json!({"error": {"message": "B".repeat(10 * 1024)}});
    srv.on("GET", "/v1/missions/m2", vec![Reply::json(400, long)]);
    let t = Sandboxed::new();
    for (id, code) in [("m1", 1), ("m2", 1)] {
        let out = t.api(&srv.api_url()).args(["--json", "mission", "get", id]).output().unwrap();
        assert_eq!(out.status.code(), Some(code));
        assert!(out.stderr.len() <= 2560, "{id}: stderr is {} bytes", out.stderr.len());
        assert!(out.stdout.len() <= 6 * 1024, "{id}: --json is {} bytes", out.stdout.len());
        let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
        assert_eq!(doc["error"]["kind"], "api");
    }
}

#[test]
fn sms_text_is_escaped_for_people_and_exact_in_json() {
    let srv = Recorder::start();
    let body = "hi\u{1b}[2J\u{1b}]0;title\u{7}\rFAKE: you won";
    let contact = "+15551112222\u{1b}[31m";
    let messages = json!({"messages": [{"direction": "inbound", "created_at": "2026-03-01T10:00:00Z",
        "from": contact, "to": "+15553334444", "body": body}], "pagination": {"total": 1}});
    srv.on("GET", "/v1/messages", vec![Reply::json(200, messages)]);
    srv.on(
        "GET",
        "/v1/messages/conversations",
        vec![Reply::json(200, json!({"conversations": [{"contact": contact, "last_message": body}]}))],
    );
    let t = Sandboxed::new();
    for args in [&["sms", "list"][..], &["sms", "conversations"][..]] {
        let out = t.api(&srv.api_url()).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(!stdout.chars().any(|c| c.is_control() && c != '\n'), "{args:?}: raw control in {stdout:?}");
        assert!(stdout.contains("\\x1b[2J") && stdout.contains("\\x07"), "{args:?}: {stdout}");
        assert!(stdout.contains("\\x1b[31m"), "{args:?}: the contact is escaped too: {stdout}");
    }
    let out = t.api(&srv.api_url()).args(["--json", "sms", "list"]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["messages"][0]["body"], body);
    assert_eq!(doc["messages"][0]["from"], contact);
}

#[test]
fn an_empty_or_blank_to_is_an_error_and_nothing_is_sent() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    for to in ["", "   "] {
        let out = t.api(&srv.api_url()).args(["call", "--to", to]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to:?}: {stderr}");
        assert!(stderr.contains("--to is empty"), "{stderr}");
    }
    assert!(srv.requests().is_empty(), "{:#?}", srv.requests());
    // Leaving --to out still calls the owner: an empty body.
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "initiating", "call_id": "c1"}))]);
    t.api(&srv.api_url()).args(["call"]).assert().success();
    assert_eq!(srv.single().json(), json!({}));
}
