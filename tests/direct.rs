//! Direct calls, SMS and approvals (contract §2.3): the typed API modules and
//! the `call`, `sms`, `approval` commands against a recording server.

mod common;

use std::time::Duration;

use clawdtalk::api::models::{ApprovalRequest, CallRequest, MessageQuery};
use clawdtalk::api::{approvals, calls, messages, Client, ClientOptions, RetryPolicy};
use clawdtalk::config::Secret;
use common::{Recorder, Reply, Sandboxed, TEST_KEY};
use predicates::prelude::PredicateBooleanExt;
use serde_json::json;

fn client(srv: &Recorder) -> Client {
    Client::new(ClientOptions {
        base_url: srv.api_url(),
        api_key: Secret::new(TEST_KEY),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy { max_attempts: 1, ..RetryPolicy::default() },
        key_header: None,
    })
    .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn api_calls_post_get_and_end_on_the_contract_paths() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "ringing", "call_id": "call_1"}))]);
    srv.on("GET", "/v1/calls/call_1", vec![Reply::json(200, json!({"call_id": "call_1", "status": "completed"}))]);
    srv.on("POST", "/v1/calls/call_1/end", vec![Reply::json(200, json!({"ok": true}))]);
    let c = client(&srv);
    let rt = rt();
    let req = CallRequest { to: Some("+15551234567".into()), greeting: None, purpose: Some("Confirm".into()) };
    let call = rt.block_on(calls::create(&c, &req)).unwrap();
    assert_eq!(call.call_id.as_deref(), Some("call_1"));
    let got = rt.block_on(calls::get(&c, "call_1")).unwrap();
    assert_eq!(got.status.as_deref(), Some("completed"));
    rt.block_on(calls::end(&c, "call_1", calls::DEFAULT_END_REASON)).unwrap();
    let r = srv.requests();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].json(), json!({"to": "+15551234567", "context": {"purpose": "Confirm"}}));
    assert_eq!(r[0].header("authorization"), Some(format!("Bearer {TEST_KEY}").as_str()));
    assert_eq!((r[1].method.as_str(), r[1].path.as_str()), ("GET", "/v1/calls/call_1"));
    assert_eq!(r[2].json(), json!({"reason": "user_ended"}));
}

#[test]
fn api_call_error_reply_surfaces_the_service_message() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(403, json!({"error": {"message": "Paid plan required"}}))]);
    let e = rt().block_on(calls::create(&client(&srv), &CallRequest::default())).unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert!(e.to_string().contains("Paid plan required"), "{e}");
}

#[test]
fn api_messages_send_list_and_conversations() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/messages/send", vec![Reply::json(200, json!({"id": "msg_1", "from": "+15550001111"}))]);
    srv.on(
        "GET",
        "/v1/messages",
        vec![Reply::json(
            200,
            json!({"messages": [{"direction": "outbound", "body": "hi"}], "pagination": {"total": 3}}),
        )],
    );
    srv.on(
        "GET",
        "/v1/messages/conversations",
        vec![Reply::json(200, json!({"conversations": [{"contact": "+15551234567", "last_message": "ok"}]}))],
    );
    let c = client(&srv);
    let rt = rt();
    let sent = rt.block_on(messages::send(&c, "+15551234567", "hello", &["https://e.x/p.jpg".into()])).unwrap();
    assert_eq!(sent.id.as_deref(), Some("msg_1"));
    let q = MessageQuery { limit: 5, contact: Some("+15551234567".into()), direction: Some("inbound".into()) };
    let page = rt.block_on(messages::list(&c, &q)).unwrap();
    assert_eq!((page.messages.len(), page.total), (1, Some(3)));
    let convs = rt.block_on(messages::conversations(&c)).unwrap();
    assert_eq!(convs[0].contact.as_deref(), Some("+15551234567"));
    let r = srv.requests();
    assert_eq!(r[0].json(), json!({"to": "+15551234567", "message": "hello", "media_urls": ["https://e.x/p.jpg"]}));
    assert_eq!(
        r[1].query_pairs(),
        vec![
            ("limit".to_string(), "5".to_string()),
            ("contact".to_string(), "+15551234567".to_string()),
            ("direction".to_string(), "inbound".to_string())
        ]
    );
    assert_eq!(r[2].path, "/v1/messages/conversations");
}

#[test]
fn api_approvals_create_and_get() {
    let srv = Recorder::start();
    srv.on(
        "POST",
        "/v1/approvals",
        vec![Reply::json(200, json!({"request_id": "apr_1", "devices_notified": 1, "devices_failed": 0}))],
    );
    srv.on("GET", "/v1/approvals/apr_1", vec![Reply::json(200, json!({"status": "denied"}))]);
    let c = client(&srv);
    let rt = rt();
    let req = ApprovalRequest { action: "Deploy".into(), require_biometric: false, expires_in: 300, details: None };
    let made = rt.block_on(approvals::create(&c, &req)).unwrap();
    assert_eq!((made.request_id.as_str(), made.devices_notified), ("apr_1", 1));
    let a = rt.block_on(approvals::get(&c, "apr_1")).unwrap();
    assert_eq!(a.status.as_deref(), Some("denied"));
    assert_eq!(srv.requests()[0].json(), json!({"action": "Deploy", "require_biometric": false, "expires_in": 300}));
}

// ─── `clawdtalk call` ────────────────────────────────────────────────────────

fn stdout_json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).expect("stdout is one JSON document")
}

#[test]
fn call_without_arguments_calls_the_owner_with_an_empty_body() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "initiating", "call_id": "call_7"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).arg("call").assert().success().stdout("Call initiated: call_7\n");
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/calls"));
    assert_eq!(r.json(), json!({}));
}

#[test]
fn call_sends_greeting_to_and_purpose() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "ringing", "call_id": "c2"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["call", "Hello!", "--to", "+15551234567", "--purpose", "Confirm the booking"])
        .assert()
        .success();
    assert_eq!(
        srv.single().json(),
        json!({"to": "+15551234567", "greeting": "Hello!", "context": {"purpose": "Confirm the booking"}})
    );
}

#[test]
fn call_to_the_owner_sends_only_the_greeting_or_the_purpose_given() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "ringing", "call_id": "c1"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["call", "Hey, what's up?"]).assert().success().stdout("Call initiated: c1\n");
    t.api(&srv.api_url()).args(["call", "--purpose", "Daily check-in"]).assert().success();
    t.api(&srv.api_url()).args(["call", "--context", "Alias of --purpose"]).assert().success();
    let bodies: Vec<_> = srv.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        bodies,
        vec![
            json!({"greeting": "Hey, what's up?"}),
            json!({"context": {"purpose": "Daily check-in"}}),
            json!({"context": {"purpose": "Alias of --purpose"}}),
        ],
        "no --to: no `to` key, so the service calls the owner"
    );
}

#[test]
fn call_with_a_number_as_greeting_and_to_keeps_it_as_the_greeting_without_warning() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "ringing", "call_id": "c1"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["call", "+15551234567", "--to", "+15557654321"])
        .assert()
        .success()
        .stderr(predicates::str::contains("looks like a phone number").not());
    assert_eq!(srv.single().json(), json!({"to": "+15557654321", "greeting": "+15551234567"}));
}

#[test]
fn call_with_a_number_as_greeting_dials_it_and_warns() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "ringing", "call_id": "c3"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["call", "+15551234567"])
        .assert()
        .success()
        .stderr(predicates::str::contains("looks like a phone number").and(predicates::str::contains("--to")));
    assert_eq!(srv.single().json(), json!({"to": "+15551234567"}));
}

#[test]
fn call_refuses_emergency_and_non_e164_numbers_before_sending() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["call", "911"]).assert().code(2).stderr(predicates::str::contains("emergency"));
    t.api(&srv.api_url()).args(["call", "--to", "+44999"]).assert().code(2);
    t.api(&srv.api_url())
        .args(["call", "--to", "5551234567"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("E.164"));
    assert!(srv.requests().is_empty());
}

#[test]
fn call_failure_document_exits_1_with_the_service_message() {
    let srv = Recorder::start();
    srv.on(
        "POST",
        "/v1/calls",
        vec![Reply::json(200, json!({"error": {"code": "no_phone", "message": "Add your phone in Settings"}}))],
    );
    let t = Sandboxed::new();
    t.api(&srv.api_url()).arg("call").assert().code(1).stderr(predicates::str::contains("Add your phone in Settings"));
}

#[test]
fn call_wait_follows_the_call_to_its_end_and_prints_the_outcome() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "initiating", "call_id": "c4"}))]);
    srv.on(
        "GET",
        "/v1/calls/c4",
        vec![
            Reply::json(200, json!({"call_id": "c4", "status": "ringing"})),
            Reply::json(200, json!({"call_id": "c4", "status": "in-progress"})),
            Reply::json(200, json!({"call_id": "c4", "status": "completed", "duration_seconds": 42})),
        ],
    );
    let t = Sandboxed::new();
    let out = t
        .api(&srv.api_url())
        .args(["call", "--wait", "--poll-interval", "0.05"])
        .assert()
        .success()
        .stderr(predicates::str::contains("Call c4: ringing").and(predicates::str::contains("in-progress")));
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.starts_with("Call initiated: c4\nCall ended: completed\n"), "{stdout}");
    assert!(stdout.contains("Duration (s):  42"), "{stdout}");
    let gets = srv.requests().iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, 3);
}

#[test]
fn call_wait_json_is_the_final_call() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "ringing", "call_id": "c5"}))]);
    srv.on("GET", "/v1/calls/c5", vec![Reply::json(200, json!({"call_id": "c5", "status": "no-answer"}))]);
    let t = Sandboxed::new();
    let out = t.api(&srv.api_url()).args(["--json", "call", "--wait", "--poll-interval", "0.01"]).assert().success();
    assert_eq!(stdout_json(&out), json!({"call_id": "c5", "status": "no-answer"}));
}

#[test]
fn call_wait_gives_up_after_the_timeout_with_exit_1() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/calls", vec![Reply::json(200, json!({"status": "ringing", "call_id": "c6"}))]);
    srv.on("GET", "/v1/calls/c6", vec![Reply::json(200, json!({"call_id": "c6", "status": "in-progress"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["call", "--wait", "--timeout", "1", "--poll-interval", "0.2"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("still in-progress"));
}

#[test]
fn call_status_and_end_hit_their_paths() {
    let srv = Recorder::start();
    srv.on("GET", "/v1/calls/c8", vec![Reply::json(200, json!({"call_id": "c8", "status": "in-progress"}))]);
    srv.on("POST", "/v1/calls/c8/end", vec![Reply::json(200, json!({"status": "ended"}))]);
    let t = Sandboxed::new();
    let out = t.api(&srv.api_url()).args(["call", "status", "c8"]).assert().success();
    assert_eq!(stdout_json(&out), json!({"call_id": "c8", "status": "in-progress"}));
    t.api(&srv.api_url()).args(["call", "end", "c8"]).assert().success().stdout("Call c8 ended (user_ended)\n");
    t.api(&srv.api_url()).args(["call", "end", "c8", "--reason", "done"]).assert().success();
    let r = srv.requests();
    assert_eq!(r[1].json(), json!({"reason": "user_ended"}));
    assert_eq!(r[2].json(), json!({"reason": "done"}));
}

#[test]
fn call_status_of_an_unknown_call_exits_1() {
    let srv = Recorder::start();
    srv.on("GET", "/v1/calls/nope", vec![Reply::json(404, json!({"error": {"message": "Call not found"}}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["call", "status", "nope"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("Call not found"));
}

// ─── `clawdtalk sms` ─────────────────────────────────────────────────────────

#[test]
fn sms_send_posts_to_message_and_media_and_prints_the_receipt() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/messages/send", vec![Reply::json(200, json!({"id": "msg_9", "from": "+15550001111"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args([
            "sms",
            "send",
            "+15551234567",
            "Hi there",
            "--media",
            "https://e.x/a.jpg",
            "--media",
            "https://e.x/b.png",
        ])
        .assert()
        .success()
        .stdout("✓ Message sent\n  ID: msg_9\n  From: +15550001111\n  To: +15551234567\n");
    assert_eq!(
        srv.single().json(),
        json!({"to": "+15551234567", "message": "Hi there", "media_urls": ["https://e.x/a.jpg", "https://e.x/b.png"]})
    );
}

#[test]
fn sms_send_without_media_sends_no_media_urls() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/messages/send", vec![Reply::json(200, json!({"id": "msg_1", "from": "+15550001111"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["sms", "send", "+15551234567", "Running late"]).assert().success();
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/messages/send"));
    assert_eq!(r.json(), json!({"to": "+15551234567", "message": "Running late"}));
}

#[test]
fn sms_send_refuses_bad_numbers_and_media_before_sending() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["sms", "send", "112", "hi"]).assert().code(2);
    t.api(&srv.api_url()).args(["sms", "send", "+15551234567", "hi", "--media", "file:///etc/passwd"]).assert().code(2);
    t.api(&srv.api_url()).args(["sms", "send", "+15551234567", "  "]).assert().code(2);
    assert!(srv.requests().is_empty());
}

#[test]
fn sms_send_error_document_exits_1() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/messages/send", vec![Reply::json(200, json!({"error": {"message": "SMS not enabled"}}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["sms", "send", "+15551234567", "hi"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("SMS not enabled"));
}

#[test]
fn sms_list_prints_arrows_dates_numbers_excerpts_and_total() {
    let srv = Recorder::start();
    srv.on(
        "GET",
        "/v1/messages",
        vec![Reply::json(
            200,
            json!({"messages": [
                {"direction": "inbound", "created_at": "2026-03-02T09:00:00Z", "from": "+15551112222", "to": "+15550001111", "body": "See you at 5"},
                {"direction": "outbound", "created_at": "2026-03-01T08:00:00Z", "from": "+15550001111", "to": "+15553334444", "body": "y".repeat(65)}
            ], "pagination": {"total": 57}}),
        )],
    );
    let t = Sandboxed::new();
    let out = t
        .api(&srv.api_url())
        .args(["sms", "list", "--limit", "2", "--contact", "+15551112222", "--direction", "inbound"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("DATE") && lines[0].contains("NUMBER") && lines[0].contains("MESSAGE"), "{stdout}");
    assert!(lines[1].starts_with('←') && lines[1].contains("2026-03-02") && lines[1].contains("+15551112222"));
    assert!(lines[1].ends_with("See you at 5"), "{stdout}");
    assert!(lines[2].starts_with('→') && lines[2].contains("+15553334444"));
    assert!(lines[2].ends_with(&format!("{}...", "y".repeat(60))), "{stdout}");
    assert_eq!(lines.last(), Some(&"Total: 57 messages"));
    assert_eq!(
        srv.single().query_pairs(),
        vec![
            ("limit".to_string(), "2".to_string()),
            ("contact".to_string(), "+15551112222".to_string()),
            ("direction".to_string(), "inbound".to_string())
        ]
    );
}

#[test]
fn sms_list_defaults_to_20_and_refuses_bad_filters_before_sending() {
    let srv = Recorder::start();
    srv.on("GET", "/v1/messages", vec![Reply::json(200, json!({"messages": [], "pagination": {"total": 0}}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["sms", "list"]).assert().success().stdout("No messages.\nTotal: 0 messages\n");
    assert_eq!(srv.single().query_pairs(), vec![("limit".to_string(), "20".to_string())]);
    t.api(&srv.api_url()).args(["sms", "list", "--direction", "sideways"]).assert().code(2);
    t.api(&srv.api_url()).args(["sms", "list", "--contact", "5551234567"]).assert().code(2);
    t.api(&srv.api_url()).args(["sms", "list", "--contact", "911"]).assert().code(2);
    assert_eq!(srv.requests().len(), 1, "bad filters send nothing");
}

#[test]
fn sms_conversations_lists_contacts_with_their_last_message() {
    let srv = Recorder::start();
    srv.on(
        "GET",
        "/v1/messages/conversations",
        vec![Reply::json(200, json!({"conversations": [{"contact": "+15551112222", "last_message": "On my way"}]}))],
    );
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["sms", "conversations"])
        .assert()
        .success()
        .stdout("CONTACT       LAST MESSAGE\n+15551112222  On my way\n");
    let out = t.api(&srv.api_url()).args(["--json", "sms", "conversations"]).assert().success();
    assert_eq!(stdout_json(&out), json!([{"contact": "+15551112222", "last_message": "On my way"}]));
}

// ─── `clawdtalk approval` ────────────────────────────────────────────────────

fn approval_srv(notified: u64, failed: u64, statuses: &[&str]) -> Recorder {
    let srv = Recorder::start();
    srv.on(
        "POST",
        "/v1/approvals",
        vec![Reply::json(200, json!({"request_id": "apr_1", "devices_notified": notified, "devices_failed": failed}))],
    );
    srv.on(
        "GET",
        "/v1/approvals/apr_1",
        statuses.iter().map(|s| Reply::json(200, json!({"request_id": "apr_1", "status": s}))).collect(),
    );
    srv
}

#[test]
fn approval_request_polls_until_decided_and_prints_one_word() {
    for (statuses, word) in [
        (&["pending", "approved"][..], "approved"),
        (&["denied"][..], "denied"),
        (&["pending", "pending", "expired"][..], "expired"),
    ] {
        let srv = approval_srv(1, 0, statuses);
        let t = Sandboxed::new();
        t.api(&srv.api_url())
            .args(["approval", "request", "Deploy to prod", "--poll-interval", "0.02"])
            .assert()
            .success()
            .stdout(format!("{word}\n"));
        let r = srv.requests();
        assert_eq!(r[0].json(), json!({"action": "Deploy to prod", "require_biometric": false, "expires_in": 300}));
        assert_eq!(r.len(), 1 + statuses.len(), "one poll per status until decided");
    }
}

#[test]
fn approval_request_sends_details_biometric_and_timeout() {
    let srv = approval_srv(2, 0, &["approved"]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["approval", "request", "Pay $450", "--details", "Delta 123", "--biometric", "--timeout", "120"])
        .args(["--poll-interval", "0.01"])
        .assert()
        .success()
        .stdout("approved\n");
    assert_eq!(
        srv.requests()[0].json(),
        json!({"action": "Pay $450", "require_biometric": true, "expires_in": 120, "details": "Delta 123"})
    );
}

#[test]
fn approval_request_times_out_with_exit_0() {
    let srv = approval_srv(1, 0, &["pending"]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["approval", "request", "Merge PR", "--timeout", "1", "--poll-interval", "0.2"])
        .assert()
        .success()
        .stdout("timeout\n");
}

#[test]
fn approval_request_without_reachable_devices_returns_at_once() {
    for (failed, word) in [(0, "no_devices"), (2, "no_devices_reached")] {
        let srv = approval_srv(0, failed, &["approved"]);
        let t = Sandboxed::new();
        t.api(&srv.api_url()).args(["approval", "request", "X"]).assert().success().stdout(format!("{word}\n"));
        assert_eq!(srv.requests().len(), 1, "no polling when nobody was notified");
    }
}

#[test]
fn approval_request_no_wait_prints_the_id_and_json_is_one_document() {
    let srv = approval_srv(1, 0, &["approved"]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["approval", "request", "X", "--no-wait"]).assert().success().stdout("apr_1\n");
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/approvals"), "--no-wait does not poll");
    let out = t
        .api(&srv.api_url())
        .args(["--json", "approval", "request", "X", "--poll-interval", "0.01"])
        .assert()
        .success();
    assert_eq!(
        stdout_json(&out),
        json!({"outcome": "approved", "request_id": "apr_1", "devices_notified": 1, "devices_failed": 0})
    );
}

#[test]
fn approval_errors_exit_non_zero() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/approvals", vec![Reply::json(401, json!({"message": "Invalid API key"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["approval", "request", "X"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicates::str::contains("Invalid API key"));
    let srv = approval_srv(1, 0, &["weird"]);
    t.api(&srv.api_url()).args(["approval", "request", "X", "--poll-interval", "0.01"]).assert().code(1);
    t.cmd().args(["approval", "request", "X"]).assert().code(3);
}

#[test]
fn approval_status_prints_the_status_word() {
    for word in ["pending", "approved", "denied", "expired"] {
        let srv = approval_srv(1, 0, &[word]);
        let t = Sandboxed::new();
        t.api(&srv.api_url()).args(["approval", "status", "apr_1"]).assert().success().stdout(format!("{word}\n"));
        let r = srv.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/v1/approvals/apr_1"));
    }
}

// ─── against the sandbox (the emulated service) ──────────────────────────────

use common::sandbox::{SandboxOptions, TestSandbox};

fn sandbox(speed: f64) -> TestSandbox {
    TestSandbox::with(SandboxOptions { speed, ..SandboxOptions::default() })
}

/// The API requests the sandbox received, as (method, path, body).
fn received(sb: &TestSandbox) -> Vec<(String, String, serde_json::Value)> {
    sb.control_get("requests")["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap_or_default().to_string(),
                r["path"].as_str().unwrap_or_default().to_string(),
                r["body"].clone(),
            )
        })
        .collect()
}

#[test]
fn sandbox_call_wait_follows_an_answered_call_to_completed() {
    let sb = sandbox(60.0);
    let t = Sandboxed::new();
    let out = t
        .api(&sb.api)
        .args(["call", "Hi, it's your bot", "--to", "+15005550006", "--purpose", "Test", "--wait"])
        .args(["--poll-interval", "0.05"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.starts_with("Call initiated: "), "{stdout}");
    assert!(stdout.contains("Call ended: completed"), "{stdout}");
    let reqs = received(&sb);
    assert_eq!((reqs[0].0.as_str(), reqs[0].1.as_str()), ("POST", "/v1/calls"));
    assert_eq!(
        reqs[0].2,
        json!({"to": "+15005550006", "greeting": "Hi, it's your bot", "context": {"purpose": "Test"}})
    );
    assert!(reqs[1..].iter().all(|(m, p, _)| m == "GET" && p.starts_with("/v1/calls/")), "{reqs:?}");
}

#[test]
fn sandbox_call_wait_reports_a_busy_number() {
    let sb = sandbox(60.0);
    let t = Sandboxed::new();
    let out = t
        .api(&sb.api)
        .args(["--json", "call", "--to", "+15005550001", "--wait", "--poll-interval", "0.05"])
        .assert()
        .success();
    assert_eq!(stdout_json(&out)["status"], "busy");
}

#[test]
fn sandbox_call_owner_status_and_end() {
    let sb = sandbox(1.0);
    let t = Sandboxed::new();
    let out = t.api(&sb.api).args(["--json", "call"]).assert().success();
    let id = stdout_json(&out)["call_id"].as_str().unwrap().to_string();
    assert_eq!(received(&sb)[0].2, json!({}), "no --to: the owner is called with an empty body");
    let out = t.api(&sb.api).args(["call", "status", &id]).assert().success();
    assert_eq!(stdout_json(&out)["call_id"], id.as_str());
    t.api(&sb.api).args(["call", "end", &id]).assert().success().stdout(format!("Call {id} ended (user_ended)\n"));
    let ended = received(&sb).into_iter().find(|(_, p, _)| p.ends_with("/end")).unwrap();
    assert_eq!(ended.2, json!({"reason": "user_ended"}));
    let out = t.api(&sb.api).args(["call", "status", &id]).assert().success();
    let status = stdout_json(&out)["status"].as_str().unwrap().to_string();
    assert!(["canceled", "completed"].contains(&status.as_str()), "{status}");
    t.api(&sb.api).args(["call", "status", "call_unknown"]).assert().code(1);
}

#[test]
fn sandbox_sms_send_list_and_conversations() {
    let sb = sandbox(1.0);
    let t = Sandboxed::new();
    t.api(&sb.api)
        .args(["sms", "send", "+15005550006", "Running 5 min late", "--media", "https://e.x/map.png"])
        .assert()
        .success()
        .stdout(contains_all(&["✓ Message sent", "To: +15005550006"]));
    let sent = sb.control_get("messages/sent");
    assert_eq!(sent["messages"][0]["to"], "+15005550006");
    let out = t.api(&sb.api).args(["sms", "list", "--contact", "+15005550006"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.lines().any(|l| l.starts_with('→') && l.contains("Running 5 min late")), "{stdout}");
    assert!(stdout.trim_end().ends_with("Total: 1 message"), "{stdout}");
    t.api(&sb.api).args(["sms", "conversations"]).assert().success().stdout(contains_all(&["+15005550006"]));
    let list = received(&sb).into_iter().find(|(_, p, _)| p == "/v1/messages").unwrap();
    assert_eq!(list.0, "GET");
}

#[test]
fn sandbox_approval_outcomes() {
    let sb = sandbox(40.0);
    let t = Sandboxed::new();
    for (action, word) in [
        ("[approve] Deploy", "approved"),
        ("[deny] Delete the repo", "denied"),
        ("[no_devices] Pay", "no_devices"),
        ("[no_devices_reached] Pay", "no_devices_reached"),
    ] {
        t.api(&sb.api)
            .args(["approval", "request", action, "--poll-interval", "0.05"])
            .assert()
            .success()
            .stdout(format!("{word}\n"));
    }
    // Nobody answers: the request expires on the (fast) sandbox clock.
    t.api(&sb.api)
        .args(["approval", "request", "Merge", "--timeout", "5", "--poll-interval", "0.05"])
        .assert()
        .success()
        .stdout("expired\n");
    let first = &received(&sb)[0];
    assert_eq!(first.2, json!({"action": "[approve] Deploy", "require_biometric": false, "expires_in": 300}));
}

#[test]
fn sandbox_approval_no_wait_then_decided_and_timeout() {
    let sb = sandbox(0.1);
    let t = Sandboxed::new();
    let out = t.api(&sb.api).args(["approval", "request", "Send the contract", "--no-wait"]).assert().success();
    let id = String::from_utf8_lossy(&out.get_output().stdout).trim().to_string();
    t.api(&sb.api).args(["approval", "status", &id]).assert().success().stdout("pending\n");
    sb.control_post(&format!("approvals/{id}/decide"), json!({"decision": "approved"}));
    t.api(&sb.api).args(["approval", "status", &id]).assert().success().stdout("approved\n");
    // The sandbox clock is slow, so our own timeout comes first.
    t.api(&sb.api)
        .args(["approval", "request", "Wait for me", "--timeout", "1", "--poll-interval", "0.2"])
        .assert()
        .success()
        .stdout("timeout\n");
}

#[test]
fn sandbox_refuses_a_key_that_is_not_a_test_key() {
    let sb = sandbox(1.0);
    let t = Sandboxed::new();
    t.api(&sb.api).env("CLAWDTALK_API_KEY", "cc_live_wrongkey12345").args(["call"]).assert().code(1);
}

fn contains_all(parts: &[&str]) -> impl predicates::Predicate<str> {
    let parts: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    predicates::function::function(move |s: &str| parts.iter().all(|p| s.contains(p.as_str())))
}
