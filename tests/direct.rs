//! Direct calls, SMS and approvals (contract §2.3): the typed API modules and
//! the `call`, `sms`, `approval` commands against a recording server.

mod common;

use std::time::Duration;

use clawdtalk::api::models::{ApprovalRequest, CallRequest, MessageQuery};
use clawdtalk::api::{approvals, calls, messages, Client, ClientOptions, RetryPolicy};
use clawdtalk::config::Secret;
use common::{Recorder, Reply, TEST_KEY};
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
