//! `mission create|get|list` and their legacy words against a recording server.

mod common;

use common::{Recorder, Reply, Sandboxed, TEST_KEY};
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

#[test]
fn mission_create_accepts_data_envelope_and_mission_id() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/missions", vec![Reply::json(200, json!({"data": {"mission_id": "mis_2"}}))]);
    let t = Sandboxed::new();
    let out = t.api(&srv.api_url()).args(["--json", "mission", "create", "a", "b"]).assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["id"], "mis_2");
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
    let out = t.api(&srv.api_url()).args(["get-mission", "m1"]).assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc, json!({"id": "m1", "name": "One"}));
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
