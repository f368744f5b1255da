//! `mission create|get|list` and their legacy words against a recording server.

mod common;

use common::raw::{Act, RawServer};
use common::{Recorded, Recorder, Reply, Sandboxed, TEST_KEY};
use serde_json::json;

#[test]
fn create_mission_posts_name_and_instructions_and_prints_the_id() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/missions", vec![Reply::json(201, json!({"mission": {"id": "mis_1", "name": "N"}}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["create-mission", "Find contractors", "Call and negotiate"])
        .assert()
        .success()
        .stdout("Created mission: mis_1\n");
    let r = srv.single();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/missions");
    assert_eq!(r.header("authorization"), Some(format!("Bearer {TEST_KEY}").as_str()));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), json!({"name": "Find contractors", "instructions": "Call and negotiate"}));
}

/// The request carried the test key and the JSON content type.
fn assert_auth(r: &Recorded) {
    assert_eq!(r.header("authorization"), Some(format!("Bearer {TEST_KEY}").as_str()));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn mission_create_accepts_data_envelope_and_mission_id() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/missions", vec![Reply::json(200, json!({"data": {"mission_id": "mis_2", "name": "a"}}))]);
    let t = Sandboxed::new();
    let out = t.api(&srv.api_url()).args(["--json", "mission", "create", "a", "b"]).assert().success().code(0);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc, json!({"id": "mis_2", "mission_id": "mis_2", "name": "a"}));
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/v1/missions", ""));
    assert_eq!(String::from_utf8_lossy(&r.body), r#"{"name": "a", "instructions": "b"}"#);
    assert_auth(&r);
}

#[test]
fn mission_create_prints_the_id_line() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/missions", vec![Reply::json(201, json!({"mission": {"id": "mis_3"}}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["mission", "create", "Find roofers", "Call three"])
        .assert()
        .code(0)
        .stdout("Created mission: mis_3\n");
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/v1/missions", ""));
    assert_eq!(String::from_utf8_lossy(&r.body), r#"{"name": "Find roofers", "instructions": "Call three"}"#);
    assert_auth(&r);
}

#[test]
fn mission_get_gets_the_mission_and_prints_it_unwrapped() {
    for envelope in ["mission", "data"] {
        let srv = Recorder::start();
        srv.on("GET", "/v1/missions/mis_1", vec![Reply::json(200, json!({envelope: {"id": "mis_1", "name": "One"}}))]);
        let t = Sandboxed::new();
        t.api(&srv.api_url())
            .args(["mission", "get", "mis_1"])
            .assert()
            .code(0)
            .stdout("{\n  \"id\": \"mis_1\",\n  \"name\": \"One\"\n}\n");
        let out = t.api(&srv.api_url()).args(["--json", "mission", "get", "mis_1"]).assert().code(0);
        let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(doc, json!({"id": "mis_1", "name": "One"}));
        let reqs = srv.requests();
        assert_eq!(reqs.len(), 2);
        for r in &reqs {
            assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/v1/missions/mis_1", ""));
            assert!(r.body.is_empty());
            assert_auth(r);
        }
    }
}

#[test]
fn list_missions_sends_page_size_and_prints_id_name_lines() {
    let srv = Recorder::start();
    srv.on(
        "GET",
        "/v1/missions",
        vec![Reply::json(200, json!({"missions": [{"id": "m1", "name": "One"}, {"mission_id": "m2"}]}))],
    );
    let t = Sandboxed::new();
    t.api(&srv.api_url()).arg("list-missions").assert().success().stdout("m1: One\nm2: unnamed\n");
    let r = srv.single();
    assert_eq!(r.query_pairs(), vec![("page[size]".to_string(), "20".to_string())]);
}

#[test]
fn get_mission_prints_the_unwrapped_object() {
    let srv = Recorder::start();
    srv.on("GET", "/v1/missions/m1", vec![Reply::json(200, json!({"data": {"id": "m1", "name": "One"}}))]);
    let t = Sandboxed::new();
    let out = t.api(&srv.api_url()).args(["get-mission", "m1"]).assert().code(0);
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), "{\n  \"id\": \"m1\",\n  \"name\": \"One\"\n}\n");
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/v1/missions/m1", ""));
    assert!(r.body.is_empty());
    assert_auth(&r);
}

#[test]
fn service_error_exits_1_with_status_and_message() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/missions", vec![Reply::json(422, json!({"error": {"message": "name is required"}}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["create-mission", "", "x"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("422").and(predicates::str::contains("name is required")));
}

#[test]
fn no_key_exits_3_and_sends_nothing() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    t.cmd()
        .env("CLAWDTALK_API_URL", srv.api_url())
        .args(["create-mission", "a", "b"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("CLAWDTALK_API_KEY"));
    assert!(srv.requests().is_empty());
}

#[test]
fn unreachable_service_exits_4() {
    let t = Sandboxed::new();
    // Port 9 on loopback: nothing listens there.
    t.api("http://127.0.0.1:9/v1").args(["get-mission", "m1"]).assert().code(4);
}

#[test]
fn get_is_retried_on_503_then_succeeds() {
    let srv = Recorder::start();
    srv.on(
        "GET",
        "/v1/missions/m1",
        vec![Reply::json(503, json!({})).header("retry-after", "0"), Reply::json(200, json!({"id": "m1"}))],
    );
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["get-mission", "m1"]).assert().success();
    assert_eq!(srv.requests().len(), 2);
}

#[test]
fn post_is_not_retried_on_500() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/missions", vec![Reply::json(500, json!({"message": "boom"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["create-mission", "a", "b"]).assert().code(1);
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn check_key_masks_the_key() {
    let t = Sandboxed::new();
    t.cmd()
        .env("CLAWDTALK_API_KEY", TEST_KEY)
        .arg("check-key")
        .assert()
        .success()
        .stdout("API key configured: cc_test_...cdef\n");
}

use predicates::prelude::PredicateBooleanExt;

// ---------------------------------------------------------------- retries

/// Every request of `reqs` is the same request (method, path, query, body, auth).
fn all_same(reqs: &[Recorded]) {
    for r in reqs {
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str(), r.body.as_slice()),
            (reqs[0].method.as_str(), reqs[0].path.as_str(), reqs[0].query.as_str(), reqs[0].body.as_slice())
        );
        assert_auth(r);
    }
}

#[test]
fn a_get_that_keeps_failing_is_tried_three_times_then_exits_1() {
    let srv = Recorder::start();
    srv.on("GET", "/v1/missions/m1", vec![Reply::json(503, json!({"message": "down"})).header("retry-after", "0")]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["get-mission", "m1"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicates::str::contains("503").and(predicates::str::contains("down")));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 3, "at most 3 attempts");
    all_same(&reqs);
}

#[test]
fn post_and_patch_are_retried_on_429() {
    let srv = Recorder::start();
    let limited = || Reply::json(429, json!({"message": "slow down"})).header("retry-after", "0");
    srv.on("POST", "/v1/missions", vec![limited(), Reply::json(201, json!({"mission": {"id": "mis_1"}}))]);
    srv.on("PATCH", "/v1/missions/m/runs/r", vec![limited(), limited(), Reply::json(200, json!({"data": {}}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["create-mission", "a", "b"]).assert().code(0).stdout("Created mission: mis_1\n");
    t.api(&srv.api_url()).args(["update-run", "m", "r", "running"]).assert().code(0).stdout("Updated run r: running\n");
    let reqs = srv.requests();
    let posts: Vec<Recorded> = reqs.iter().filter(|r| r.method == "POST").cloned().collect();
    let patches: Vec<Recorded> = reqs.iter().filter(|r| r.method == "PATCH").cloned().collect();
    assert_eq!((posts.len(), patches.len()), (2, 3));
    all_same(&posts);
    all_same(&patches);
    assert_eq!(String::from_utf8_lossy(&posts[0].body), r#"{"name": "a", "instructions": "b"}"#);
    assert_eq!(String::from_utf8_lossy(&patches[0].body), r#"{"status": "running"}"#);
}

#[test]
fn a_429_on_every_attempt_stops_after_three() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/missions", vec![Reply::json(429, json!({"message": "slow down"})).header("retry-after", "0")]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["create-mission", "a", "b"]).assert().code(1).stderr(predicates::str::contains("429"));
    assert_eq!(srv.requests().len(), 3);
}

#[test]
fn patch_and_post_are_not_retried_on_5xx() {
    let srv = Recorder::start();
    srv.on("PATCH", "/v1/missions/m/runs/r", vec![Reply::json(502, json!({"message": "bad gateway"}))]);
    srv.on("POST", "/v1/missions/m/runs/r/events", vec![Reply::json(503, json!({"message": "later"}))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["update-run", "m", "r", "failed"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("502").and(predicates::str::contains("bad gateway")));
    t.api(&srv.api_url())
        .args(["log-event", "m", "r", "custom", "hi", "-"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("503"));
    let calls: Vec<String> = srv.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(calls, ["PATCH /v1/missions/m/runs/r", "POST /v1/missions/m/runs/r/events"], "one attempt each");
}

#[test]
fn delete_is_retried_on_5xx() {
    let srv = Recorder::start();
    srv.on(
        "DELETE",
        "/v1/assistants/a1/events/ev_1",
        vec![Reply::json(500, json!({"message": "oops"})).header("retry-after", "0"), Reply::empty(204)],
    );
    let t = Sandboxed::new();
    t.api(&srv.api_url())
        .args(["cancel-scheduled-event", "a1", "ev_1"])
        .assert()
        .code(0)
        .stdout("Deleted scheduled event: ev_1\n");
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    all_same(&reqs);
    assert!(reqs[0].body.is_empty());
}

#[test]
fn a_get_is_retried_when_the_server_drops_the_connection() {
    let srv = RawServer::start(vec![Act::Drop, Act::Reply(Reply::json(200, json!({"data": {"id": "m1"}})))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["get-mission", "m1"]).assert().code(0).stdout("{\n  \"id\": \"m1\"\n}\n");
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    all_same(&reqs);
    assert_eq!((reqs[1].method.as_str(), reqs[1].path.as_str()), ("GET", "/v1/missions/m1"));
}

#[test]
fn a_post_whose_connection_dropped_after_sending_is_not_retried() {
    // The request reached the server: sending it again could create a second mission.
    let srv = RawServer::start(vec![Act::Drop, Act::Reply(Reply::json(201, json!({"id": "mis_1"})))]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["create-mission", "a", "b"]).assert().code(4).stdout("");
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn the_retry_after_delay_is_waited_before_the_next_attempt() {
    let srv = RawServer::start(vec![
        Act::Reply(Reply::json(503, json!({})).header("retry-after", "1")),
        Act::Reply(Reply::json(429, json!({})).header("retry-after", &http_date_in(3))),
        Act::Reply(Reply::json(200, json!({"id": "m1"}))),
    ]);
    let t = Sandboxed::new();
    t.api(&srv.api_url()).args(["get-mission", "m1"]).assert().code(0);
    assert_eq!(srv.requests().len(), 3);
    let gaps = srv.gaps();
    // Never sooner than asked (the HTTP date has whole seconds: at least 2 s of its 3 remain).
    assert!(gaps[0] >= std::time::Duration::from_secs(1), "delta-seconds not waited: {gaps:?}");
    assert!(gaps[1] >= std::time::Duration::from_secs(1), "HTTP-date not waited: {gaps:?}");
}

/// An IMF-fixdate `secs` seconds from now.
fn http_date_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
