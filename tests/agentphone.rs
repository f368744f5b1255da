//! `clawdtalk agentphone call|get` (contract §5): the requests sent, the
//! guard rails (E.164 and emergency numbers, 401, 402, 429 once and twice),
//! waiting with enrichment, outputs and exit codes.

mod common;

use std::time::{Duration, Instant};

use common::{Recorder, Reply, Sandboxed};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::{json, Value};

const AP_KEY: &str = "ap_test_0123456789abcdef";
const CALLS: &str = "/agentphone/api/v1/calls";

/// The binary pointed at the recorder's AgentPhone base, with fast timings.
fn ap(t: &Sandboxed, srv: &Recorder) -> assert_cmd::Command {
    let mut c = t.cmd();
    c.env("AGENTPHONE_API_URL", format!("http://{}/agentphone/api/v1", srv.addr))
        .env("AGENTPHONE_API_KEY", AP_KEY)
        .env("CLAWDTALK_AGENTPHONE_POLL_INTERVAL", "0.02")
        .env("CLAWDTALK_AGENTPHONE_ENRICH_INTERVAL", "0.02")
        .env("CLAWDTALK_AGENTPHONE_RATE_LIMIT_WAIT", "0.3");
    c
}

fn placed(id: &str) -> Reply {
    Reply::json(
        202,
        json!({"data": {"call_id": id, "status": "queued", "created_at": "2026-01-01T00:00:00Z"}, "credits_remaining": 9}),
    )
}

fn state(id: &str, status: &str) -> Reply {
    Reply::json(200, json!({"data": {"call_id": id, "status": status}}))
}

fn done(id: &str, extra: Value) -> Reply {
    let mut d = json!({"call_id": id, "status": "completed", "outcome": "achieved", "duration_seconds": 61,
        "recording_url": "https://rec.example/c1.mp3"});
    d.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    Reply::json(200, json!({"data": d}))
}

fn stdout_json(out: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn call_posts_number_and_objective_with_the_x_api_key_header() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    let t = Sandboxed::new();
    ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book a table for two"])
        .args(["--business-name", "Chez Nous", "--website", "https://chez.example"])
        .assert()
        .success()
        .stdout("Call placed: c1 (queued)\n")
        .stderr(contains("credits remaining: 9"));
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", CALLS));
    assert_eq!(r.header("x-api-key"), Some(AP_KEY));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(
        r.json(),
        json!({"to_phone_number": "+15005550006", "objective": "Book a table for two",
               "business_name": "Chez Nous", "website": "https://chez.example"})
    );
}

#[test]
fn wait_follows_the_lifecycle_and_prints_outcome_summary_and_transcript() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    srv.on(
        "GET",
        &format!("{CALLS}/c1"),
        vec![
            state("c1", "dialing"),
            state("c1", "in_progress"),
            done("c1", json!({"summary": "Table booked for 8pm", "transcript": "Agent: Hello\nCallee: Hi"})),
        ],
    );
    let t = Sandboxed::new();
    let out = ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--wait"])
        .assert()
        .success()
        .stderr(contains("dialing").and(contains("in progress")));
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for want in ["achieved", "Table booked for 8pm", "61 s", "https://rec.example/c1.mp3", "Agent: Hello\nCallee: Hi"] {
        assert!(text.contains(want), "{want:?} missing from {text}");
    }
    // Exactly: one POST, then polls until completed, and no enrichment polls.
    let gets = srv.requests().iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, 3);
}

#[test]
fn json_wait_prints_the_call_object() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    srv.on("GET", &format!("{CALLS}/c1"), vec![done("c1", json!({"summary": "S", "transcript": "T"}))]);
    let t = Sandboxed::new();
    let out = ap(&t, &srv)
        .args(["--json", "agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--wait"])
        .assert()
        .success();
    let doc = stdout_json(&out);
    assert_eq!(doc["call_id"], "c1");
    assert_eq!(doc["outcome"], "achieved");
    assert_eq!(doc["transcript"], "T");
    assert_eq!(doc["credits_remaining"], 9);
}

#[test]
fn missing_transcript_is_polled_for_twice_more() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    srv.on(
        "GET",
        &format!("{CALLS}/c1"),
        vec![
            done("c1", json!({})),
            done("c1", json!({"summary": "S"})),
            done("c1", json!({"summary": "S", "transcript": "T"})),
        ],
    );
    let t = Sandboxed::new();
    ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--wait"])
        .assert()
        .success()
        .stdout(contains("Summary:").and(contains("Transcript:\nT")));
    assert_eq!(srv.requests().iter().filter(|r| r.method == "GET").count(), 3);
}

#[test]
fn enrichment_gives_up_after_two_extra_polls() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    srv.on("GET", &format!("{CALLS}/c1"), vec![done("c1", json!({}))]);
    let t = Sandboxed::new();
    ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--wait"])
        .assert()
        .success()
        .stdout(contains("Transcript: (none)"));
    assert_eq!(srv.requests().iter().filter(|r| r.method == "GET").count(), 3);
}

#[test]
fn credits_exhausted_stops_at_once_with_exit_1() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![Reply::json(402, json!({"error": "Insufficient credits"}))]);
    let t = Sandboxed::new();
    ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--wait"])
        .assert()
        .code(1)
        .stderr(contains("credits exhausted").and(contains("402")));
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn rate_limit_waits_then_retries_once_and_succeeds() {
    let srv = Recorder::start();
    // A shorter Retry-After does not shorten the contract's wait.
    let limited = Reply::json(429, json!({"error": "Rate limit exceeded"})).header("Retry-After", "0");
    srv.on("POST", CALLS, vec![limited, placed("c1")]);
    let t = Sandboxed::new();
    let start = Instant::now();
    ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book"])
        .assert()
        .success()
        .stdout("Call placed: c1 (queued)\n");
    assert!(start.elapsed() >= Duration::from_millis(300), "retried before the configured wait");
    assert_eq!(srv.requests().len(), 2);
}

#[test]
fn rate_limit_twice_stops_after_one_retry() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![Reply::json(429, json!({"error": "Rate limit exceeded"}))]);
    let t = Sandboxed::new();
    ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book"])
        .assert()
        .code(1)
        .stderr(contains("rate limit").and(contains("retrying once")));
    assert_eq!(srv.requests().len(), 2);
}

#[test]
fn get_rate_limited_twice_stops_after_one_retry() {
    let srv = Recorder::start();
    srv.on("GET", &format!("{CALLS}/c1"), vec![Reply::json(429, json!({"error": "Rate limit exceeded"}))]);
    let t = Sandboxed::new();
    ap(&t, &srv).args(["agentphone", "get", "c1"]).assert().code(1).stderr(contains("rate limit"));
    assert_eq!(srv.requests().len(), 2, "one retry after a 429, then stop");
}

#[test]
fn get_retries_server_errors_with_the_normal_backoff_up_to_three_attempts() {
    let srv = Recorder::start();
    let down = Reply::json(503, json!({"error": "Service unavailable"}));
    srv.on("GET", &format!("{CALLS}/c1"), vec![down.clone(), down, done("c1", json!({"summary": "S"}))]);
    let t = Sandboxed::new();
    // The rate-limit window is long here: a 5xx retry must not wait it
    // (the timeout only guards against a hang).
    ap(&t, &srv)
        .env("CLAWDTALK_AGENTPHONE_RATE_LIMIT_WAIT", "600")
        .timeout(Duration::from_secs(120))
        .args(["agentphone", "get", "c1"])
        .assert()
        .success()
        .stdout(contains("achieved"));
    assert_eq!(srv.requests().len(), 3);
}

#[test]
fn post_calls_is_never_retried_on_a_server_error() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![Reply::json(503, json!({"error": "Service unavailable"})), placed("c1")]);
    let t = Sandboxed::new();
    ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book"])
        .assert()
        .code(1)
        .stderr(contains("Service unavailable"));
    assert_eq!(srv.requests().len(), 1, "a call is never placed twice");
}

#[test]
fn bad_key_names_agentphone_api_key() {
    let srv = Recorder::start();
    srv.on("GET", &format!("{CALLS}/c1"), vec![Reply::json(401, json!({"error": "Invalid API key"}))]);
    let t = Sandboxed::new();
    ap(&t, &srv)
        .args(["agentphone", "get", "c1"])
        .assert()
        .code(1)
        .stderr(contains("AGENTPHONE_API_KEY").and(contains("Invalid API key")).and(contains(AP_KEY).not()));
    assert_eq!(srv.requests().len(), 1, "a 401 is not retried");
}

#[test]
fn emergency_and_non_e164_numbers_are_refused_before_any_request() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    for n in ["911", "+1911", "112", "5551234567"] {
        ap(&t, &srv)
            .args(["agentphone", "call", "--to", n, "--objective", "Help"])
            .assert()
            .code(2)
            .stderr(contains("--to"));
    }
    assert!(srv.requests().is_empty());
}

#[test]
fn no_agentphone_key_exits_3_and_sends_nothing() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    t.cmd()
        .env("AGENTPHONE_API_URL", format!("http://{}/agentphone/api/v1", srv.addr))
        .env("CLAWDTALK_API_KEY", "cc_test_0123456789abcdef")
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book"])
        .assert()
        .code(3)
        .stderr(contains("AGENTPHONE_API_KEY"));
    assert!(srv.requests().is_empty());
}

#[test]
fn get_without_an_agentphone_key_exits_3_and_sends_nothing() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    t.cmd()
        .env("AGENTPHONE_API_URL", format!("http://{}/agentphone/api/v1", srv.addr))
        .env("CLAWDTALK_API_KEY", "cc_test_0123456789abcdef")
        .args(["agentphone", "get", "c1"])
        .assert()
        .code(3)
        .stderr(contains("AGENTPHONE_API_KEY").and(contains("agentphone_api_key")));
    assert!(srv.requests().is_empty());
}

#[test]
fn failed_call_is_reported_with_exit_1() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    srv.on("GET", &format!("{CALLS}/c1"), vec![state("c1", "dialing"), state("c1", "failed")]);
    let t = Sandboxed::new();
    ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550001", "--objective", "Book", "--wait"])
        .assert()
        .code(1)
        .stdout(contains("Status:").and(contains("failed")))
        .stderr(contains("AgentPhone call c1 failed"));
}

#[test]
fn wait_timeout_exits_1_prints_the_call_and_says_how_to_check_later() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    srv.on("GET", &format!("{CALLS}/c1"), vec![state("c1", "in_progress")]);
    let t = Sandboxed::new();
    ap(&t, &srv)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--wait", "--timeout", "1"])
        .assert()
        .code(1)
        .stdout(contains("Status:").and(contains("in progress")))
        .stderr(contains("still in progress").and(contains("clawdtalk agentphone get c1")));
}

#[test]
fn get_prints_the_call_and_json_gives_the_object() {
    let srv = Recorder::start();
    srv.on("GET", &format!("{CALLS}/c%2F1"), vec![done("c/1", json!({"summary": "S", "transcript": "T"}))]);
    let t = Sandboxed::new();
    let out = ap(&t, &srv).args(["--json", "agentphone", "get", "c/1"]).assert().success();
    assert_eq!(stdout_json(&out)["summary"], "S");
    assert_eq!(srv.single().path, format!("{CALLS}/c%2F1"));
}

// ---------------------------------------------------------------------------
// Against the sandbox (`/agentphone/api/v1`, key `ap_test_…`, magic numbers).

use common::sandbox::{SandboxOptions, TestSandbox};

/// A sandbox whose clock runs 100× faster: a call plays out in about 0.5 s.
fn fast_sandbox() -> TestSandbox {
    TestSandbox::with(SandboxOptions { speed: 100.0, ..Default::default() })
}

/// The binary pointed at the sandbox's AgentPhone (and ClawdTalk) API.
fn ap_sb(t: &Sandboxed, sb: &TestSandbox) -> assert_cmd::Command {
    let mut c = t.cmd();
    c.env("AGENTPHONE_API_URL", format!("{}/agentphone/api/v1", sb.root))
        .env("AGENTPHONE_API_KEY", AP_KEY)
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", common::TEST_KEY)
        .env("CLAWDTALK_AGENTPHONE_POLL_INTERVAL", "0.02")
        .env("CLAWDTALK_AGENTPHONE_ENRICH_INTERVAL", "0.02")
        .env("CLAWDTALK_AGENTPHONE_RATE_LIMIT_WAIT", "0.3");
    c
}

/// AgentPhone requests the sandbox received: (method, path, HTTP status).
fn ap_requests(sb: &TestSandbox) -> Vec<(String, String, u64)> {
    let log = sb.control_get("requests");
    let list = log.get("requests").or_else(|| log.get("data")).unwrap_or(&log).as_array().cloned().unwrap_or_default();
    list.iter()
        .filter(|r| r["path"].as_str().unwrap_or_default().starts_with("/agentphone/"))
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn posts(sb: &TestSandbox) -> Vec<u64> {
    ap_requests(sb).into_iter().filter(|(m, _, _)| m == "POST").map(|(_, _, s)| s).collect()
}

#[test]
fn sandbox_call_ends_achieved_with_transcript_and_summary() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    let out = ap_sb(&t, &sb)
        .args(["--json", "agentphone", "call", "--to", "+15005550006", "--objective", "Ask for the opening hours"])
        .args(["--business-name", "Corner Shop", "--wait"])
        .assert()
        .success()
        .stderr(contains("in progress"));
    let call = stdout_json(&out);
    assert_eq!((call["status"].as_str(), call["outcome"].as_str()), (Some("completed"), Some("achieved")));
    assert!(call["summary"].as_str().unwrap().contains("Ask for the opening hours"));
    assert!(call["transcript"].as_str().unwrap().contains("Agent:"));
    assert!(call["recording_url"].as_str().unwrap().ends_with(".mp3"));
    assert!(call["duration_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(posts(&sb), vec![202]);
    // The human form of the same call.
    let id = call["call_id"].as_str().unwrap();
    let text = ap_sb(&t, &sb).args(["agentphone", "get", id]).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(text.contains("achieved") && text.contains("Transcript:\nAgent:"), "{text}");
}

#[test]
fn sandbox_missing_transcript_at_first_is_fetched_by_the_enrichment_polls() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    let out = ap_sb(&t, &sb)
        .args(["--json", "agentphone", "call", "--to", "+15005550007", "--objective", "Book", "--wait"])
        .assert()
        .success()
        .stderr(contains("waiting for the transcript and summary"));
    let call = stdout_json(&out);
    assert!(call["transcript"].is_string() && call["summary"].is_string(), "{call:#}");
}

#[test]
fn sandbox_credits_exhausted_stops_with_one_request() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    ap_sb(&t, &sb)
        .args(["agentphone", "call", "--to", "+15005550402", "--objective", "Book", "--wait"])
        .assert()
        .code(1)
        .stderr(contains("credits exhausted"));
    assert_eq!(posts(&sb), vec![402]);
}

#[test]
fn sandbox_rate_limit_once_then_the_retry_succeeds() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    let start = Instant::now();
    ap_sb(&t, &sb)
        .args(["agentphone", "call", "--to", "+15005550428", "--objective", "Book"])
        .assert()
        .success()
        .stdout(contains("Call placed: "));
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(posts(&sb), vec![429, 202]);
}

#[test]
fn sandbox_rate_limit_twice_stops_after_a_single_retry() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    ap_sb(&t, &sb)
        .args(["agentphone", "call", "--to", "+15005550429", "--objective", "Book", "--wait"])
        .assert()
        .code(1)
        .stderr(contains("rate limit").and(contains("stopped")));
    assert_eq!(posts(&sb), vec![429, 429]);
}

#[test]
fn sandbox_emergency_number_is_refused_and_nothing_is_sent() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    for n in ["911", "+1911", "112", "+44999"] {
        ap_sb(&t, &sb)
            .args(["agentphone", "call", "--to", n, "--objective", "Help", "--wait"])
            .assert()
            .code(2)
            .stderr(contains("emergency"));
    }
    assert!(ap_requests(&sb).is_empty());
}

#[test]
fn sandbox_failed_call_is_reported_with_exit_1() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    ap_sb(&t, &sb)
        .args(["agentphone", "call", "--to", "+15005550001", "--objective", "Book", "--wait"])
        .assert()
        .code(1)
        .stderr(contains("failed (busy)"));
}

#[test]
fn sandbox_canceled_call_is_reported_as_canceled_with_exit_1() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    let out = ap_sb(&t, &sb)
        .args(["agentphone", "call", "--to", "+15005550009", "--objective", "Book", "--wait"])
        .assert()
        .code(1)
        .stdout(contains("Status:").and(contains("canceled")));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let note =
        stderr.lines().find(|l| l.ends_with(" canceled") && !l.contains(':')).unwrap_or_else(|| panic!("{stderr}"));
    assert!(note.starts_with("AgentPhone call apc_") && !stderr.contains("failed"), "{stderr}");
    // `get` reports the same ended call the same way.
    let id = note.split_whitespace().nth(2).unwrap();
    ap_sb(&t, &sb)
        .args(["agentphone", "get", id])
        .assert()
        .code(1)
        .stderr(contains(format!("AgentPhone call {id} canceled")));
}

#[test]
fn sandbox_key_is_read_from_agentphone_api_key_in_skill_config() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    std::fs::write(
        t.work().join("skill-config.json"),
        json!({"agentphone_api_key": AP_KEY, "agentphone_url": format!("{}/agentphone/api/v1", sb.root)}).to_string(),
    )
    .unwrap();
    // No AGENTPHONE_* variable at all: the key and URL come from the file.
    t.cmd()
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book"])
        .assert()
        .success()
        .stdout(contains("Call placed: "));
    assert_eq!(posts(&sb), vec![202], "the sandbox accepted the key from the file");
    let log = sb.control_get("requests");
    assert!(!log.to_string().contains("401"), "{log}");
}

#[test]
fn sandbox_wrong_key_is_401_naming_the_variable() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    ap_sb(&t, &sb)
        .env("AGENTPHONE_API_KEY", "ap_live_wrong")
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book"])
        .assert()
        .code(1)
        .stderr(contains("401").and(contains("AGENTPHONE_API_KEY")));
}

/// A state file holding one mission with a run, in the test's work dir.
fn mission_state(t: &Sandboxed) -> std::path::PathBuf {
    let p = t.work().join("state.json");
    let s = json!({"find-a-table": {"mission_name": "Find a table", "mission_id": "mis_1", "run_id": "run_1",
        "created_at": "2026-01-01T00:00:00", "memory": {"note": "keep me"}}});
    std::fs::write(&p, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
    p
}

fn calls_in_memory(p: &std::path::Path) -> Vec<Value> {
    let s: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(s["find-a-table"]["memory"]["note"], "keep me");
    s["find-a-table"]["memory"]["agentphone_calls"].as_array().cloned().unwrap_or_default()
}

/// The run events posted to the recorder's run_1 (a retry may first GET the list).
fn run_events(srv: &Recorder) -> Vec<Value> {
    srv.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/missions/mis_1/runs/run_1/events")
        .map(|r| r.json())
        .collect()
}

#[test]
fn mission_records_the_call_and_its_result_and_logs_run_events() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    srv.on("GET", &format!("{CALLS}/c1"), vec![done("c1", json!({"summary": "Booked", "transcript": "T"}))]);
    let t = Sandboxed::new();
    let state = mission_state(&t);
    ap(&t, &srv)
        .env("CLAWDTALK_API_URL", srv.api_url())
        .env("CLAWDTALK_API_KEY", common::TEST_KEY)
        .env("CLAWDTALK_STATE_FILE", &state)
        .args([
            "agentphone",
            "call",
            "--to",
            "+15005550006",
            "--objective",
            "Book",
            "--wait",
            "--mission",
            "find-a-table",
        ])
        .assert()
        .success()
        .stderr(
            contains("Recorded AgentPhone call c1 (queued) in mission 'find-a-table'")
                .and(contains("Updated AgentPhone call c1 (completed) in mission 'find-a-table'")),
        );
    let calls = calls_in_memory(&state);
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        (c["call_id"].as_str(), c["to"].as_str(), c["objective"].as_str()),
        (Some("c1"), Some("+15005550006"), Some("Book"))
    );
    assert_eq!(
        (c["status"].as_str(), c["outcome"].as_str(), c["summary"].as_str()),
        (Some("completed"), Some("achieved"), Some("Booked"))
    );
    assert_eq!(c["transcript"], "T");
    assert_eq!((c["placed_logged"].as_bool(), c["result_logged"].as_bool()), (Some(true), Some(true)));
    let ev = run_events(&srv);
    assert_eq!(ev.len(), 2, "{ev:#?}");
    assert_eq!(ev[0]["type"], "custom");
    assert_eq!(ev[0]["summary"], "AgentPhone call placed call_id=c1");
    assert_eq!(ev[0]["payload"]["to"], "+15005550006");
    assert_eq!(ev[1]["summary"], "AgentPhone call call_id=c1 completed: achieved");
    assert_eq!(ev[1]["payload"]["summary"], "Booked");
}

#[test]
fn unknown_mission_is_refused_before_the_call_is_placed() {
    let srv = Recorder::start();
    let t = Sandboxed::new();
    let state = mission_state(&t);
    ap(&t, &srv)
        .env("CLAWDTALK_API_KEY", common::TEST_KEY)
        .env("CLAWDTALK_STATE_FILE", &state)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--mission", "find-a-tabel"])
        .assert()
        .code(2)
        .stderr(contains("find-a-table"));
    assert!(srv.requests().is_empty());
}

#[test]
fn a_run_event_that_failed_is_kept_and_logged_by_the_next_get() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    srv.on("POST", "/v1/missions/mis_1/runs/run_1/events", vec![Reply::json(500, json!({"message": "down"}))]);
    let t = Sandboxed::new();
    let state = mission_state(&t);
    let env = |c: &mut assert_cmd::Command| {
        c.env("CLAWDTALK_API_URL", srv.api_url())
            .env("CLAWDTALK_API_KEY", common::TEST_KEY)
            .env("CLAWDTALK_STATE_FILE", &state);
    };
    let mut c = ap(&t, &srv);
    env(&mut c);
    c.args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--mission", "mis_1"])
        .assert()
        .code(1)
        .stdout("Call placed: c1 (queued)\n")
        .stderr(contains("warning: could not log \"AgentPhone call placed call_id=c1\" to run run_1"));
    assert_eq!(calls_in_memory(&state)[0]["placed_logged"], false);

    srv.on("POST", "/v1/missions/mis_1/runs/run_1/events", vec![Reply::json(201, json!({"data": {}}))]);
    // The failed attempt did not land: the retry finds no such event on the run.
    srv.on("GET", "/v1/missions/mis_1/runs/run_1/events", vec![Reply::json(200, json!({"data": []}))]);
    srv.on("GET", &format!("{CALLS}/c1"), vec![done("c1", json!({"summary": "S", "transcript": "T"}))]);
    let mut c = ap(&t, &srv);
    env(&mut c);
    c.args(["agentphone", "get", "c1", "--mission", "find-a-table"]).assert().success();
    let rec = &calls_in_memory(&state)[0];
    assert_eq!((rec["placed_logged"].as_bool(), rec["result_logged"].as_bool()), (Some(true), Some(true)));
    assert_eq!(rec["objective"], "Book", "a later read keeps what was asked");
    let summaries: Vec<Value> = run_events(&srv).iter().map(|e| e["summary"].clone()).collect();
    // One failed attempt, then the retry, then the result.
    assert_eq!(
        summaries,
        vec![
            json!("AgentPhone call placed call_id=c1"),
            json!("AgentPhone call placed call_id=c1"),
            json!("AgentPhone call call_id=c1 completed: achieved")
        ]
    );
}

/// A mission and a run created on the sandbox: (mission id, run id).
fn sandbox_run(sb: &TestSandbox) -> (String, String) {
    let m = sb.call("POST", "/v1/missions", Some(json!({"name": "Find a table", "instructions": "Call restaurants"})));
    let mid = m.json.get("mission").or(m.json.get("data")).unwrap_or(&m.json)["id"].as_str().unwrap().to_string();
    let r = sb.call("POST", &format!("/v1/missions/{mid}/runs"), Some(json!({"input": {}})));
    let run = r.json.get("data").unwrap_or(&r.json);
    let rid = run.get("run_id").or(run.get("id")).and_then(Value::as_str).unwrap().to_string();
    (mid, rid)
}

/// A state file with the mission `find-a-table` on that run, whose memory
/// holds these AgentPhone call records.
fn sandbox_mission_state(t: &Sandboxed, (mid, rid): &(String, String), calls: Vec<Value>) -> std::path::PathBuf {
    let state = t.work().join("state.json");
    let mut memory = json!({});
    if !calls.is_empty() {
        memory["agentphone_calls"] = json!(calls);
    }
    std::fs::write(
        &state,
        serde_json::to_vec(&json!({"find-a-table": {"mission_name": "Find a table", "mission_id": mid, "run_id": rid,
            "created_at": "2026-01-01T00:00:00", "memory": memory}}))
        .unwrap(),
    )
    .unwrap();
    state
}

/// The summaries of the run's events on the sandbox, in order.
fn sandbox_run_events(sb: &TestSandbox, (mid, rid): &(String, String)) -> Vec<String> {
    let ev = sb.call("GET", &format!("/v1/missions/{mid}/runs/{rid}/events"), None);
    assert_eq!(ev.status, 200, "{:?}", ev.json);
    let list = ev.json.get("data").or(ev.json.get("events")).unwrap_or(&ev.json).as_array().cloned().unwrap();
    list.iter().filter_map(|e| e["summary"].as_str().map(str::to_string)).collect()
}

/// Place an AgentPhone call on the sandbox (not booked) and wait for its end.
fn sandbox_ended_call(t: &Sandboxed, sb: &TestSandbox) -> String {
    let out = ap_sb(t, sb)
        .args(["--json", "agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--wait"])
        .assert()
        .success();
    stdout_json(&out)["call_id"].as_str().unwrap().to_string()
}

/// The record `call --mission` leaves when its "placed" run event could not
/// be logged (the call seen queued).
fn owed_record(id: &str) -> Value {
    json!({"call_id": id, "provider": "agentphone", "to": "+15005550006", "objective": "Book", "status": "queued",
        "placed_logged": false, "result_logged": false})
}

fn sandbox_calls_in_memory(state: &std::path::Path) -> Vec<Value> {
    let s: Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    s["find-a-table"]["memory"]["agentphone_calls"].as_array().cloned().unwrap()
}

#[test]
fn sandbox_mission_bookkeeping_records_memory_and_logs_run_events() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    let run = sandbox_run(&sb);
    let state = sandbox_mission_state(&t, &run, vec![]);
    ap_sb(&t, &sb)
        .env("CLAWDTALK_STATE_FILE", &state)
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book a table", "--wait"])
        .args(["--mission", "find-a-table"])
        .assert()
        .success();
    let rec = &sandbox_calls_in_memory(&state)[0];
    assert_eq!((rec["status"].as_str(), rec["outcome"].as_str()), (Some("completed"), Some("achieved")));
    assert!(rec["transcript"].is_string() && rec["summary"].is_string());
    let id = rec["call_id"].as_str().unwrap();
    assert_eq!(
        sandbox_run_events(&sb, &run),
        vec![
            format!("AgentPhone call placed call_id={id}"),
            format!("AgentPhone call call_id={id} completed: achieved")
        ]
    );
}

#[test]
fn concurrent_gets_for_one_mission_log_each_owed_run_event_exactly_once() {
    const N: usize = 8;
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    let run = sandbox_run(&sb);
    // Three calls that ended while their "placed" run events were never
    // logged: each owes "placed" and its result.
    let ids: Vec<String> = (0..3).map(|_| sandbox_ended_call(&t, &sb)).collect();
    let state = sandbox_mission_state(&t, &run, ids.iter().map(|id| owed_record(id)).collect());
    let cmds = (0..N)
        .map(|i| {
            let mut c = ap_sb(&t, &sb);
            c.env("CLAWDTALK_STATE_FILE", &state).args([
                "agentphone",
                "get",
                &ids[i % ids.len()],
                "--mission",
                "find-a-table",
            ]);
            c
        })
        .collect();
    common::run_at_once(cmds);
    let mut logged = sandbox_run_events(&sb, &run);
    let mut want: Vec<String> = ids
        .iter()
        .flat_map(|id| {
            [
                format!("AgentPhone call placed call_id={id}"),
                format!("AgentPhone call call_id={id} completed: achieved"),
            ]
        })
        .collect();
    logged.sort();
    want.sort();
    assert_eq!(logged, want, "each owed run event exactly once");
    let records = sandbox_calls_in_memory(&state);
    assert_eq!(records.len(), ids.len(), "{records:#?}");
    for r in &records {
        assert_eq!((r["placed_logged"].as_bool(), r["result_logged"].as_bool()), (Some(true), Some(true)), "{r}");
        assert_eq!(r["status"], "completed", "{r}");
        assert!(r.get("placed_log_claim").is_none() && r.get("result_log_claim").is_none(), "settled: {r}");
    }
}

#[test]
fn sandbox_event_sent_by_a_claimer_that_died_is_marked_not_sent_again() {
    let sb = fast_sandbox();
    let t = Sandboxed::new();
    let run = sandbox_run(&sb);
    let id = sandbox_ended_call(&t, &sb);
    // A command claimed the "placed" event, sent it, and died before marking
    // it; its claim has expired.
    let placed = format!("AgentPhone call placed call_id={id}");
    let r = sb.call(
        "POST",
        &format!("/v1/missions/{}/runs/{}/events", run.0, run.1),
        Some(json!({"type": "custom", "summary": placed, "agent_id": "claude-code"})),
    );
    assert!(r.status < 300, "{:?}", r.json);
    let mut rec = owed_record(&id);
    rec["placed_log_claim"] = json!({"owner": "4242-dead", "until": "2020-01-01T00:00:00.000000Z"});
    let state = sandbox_mission_state(&t, &run, vec![rec]);
    ap_sb(&t, &sb)
        .env("CLAWDTALK_STATE_FILE", &state)
        .args(["agentphone", "get", &id, "--mission", "find-a-table"])
        .assert()
        .success();
    assert_eq!(
        sandbox_run_events(&sb, &run),
        vec![placed, format!("AgentPhone call call_id={id} completed: achieved")]
    );
    let r = &sandbox_calls_in_memory(&state)[0];
    assert_eq!((r["placed_logged"].as_bool(), r["result_logged"].as_bool()), (Some(true), Some(true)), "{r}");
    assert!(r.get("placed_log_claim").is_none(), "{r}");
}

#[test]
fn a_run_event_another_live_command_is_sending_is_left_to_it() {
    let srv = Recorder::start();
    srv.on("GET", &format!("{CALLS}/c1"), vec![done("c1", json!({"summary": "S", "transcript": "T"}))]);
    let t = Sandboxed::new();
    let state = mission_state(&t);
    let mut s: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let mut rec = json!({"call_id": "c1", "provider": "agentphone", "to": "+15005550006", "objective": "Book",
        "status": "queued", "placed_logged": false, "result_logged": false});
    rec["placed_log_claim"] = json!({"owner": "4242-busy", "until": "2999-01-01T00:00:00.000000Z"});
    s["find-a-table"]["memory"]["agentphone_calls"] = json!([rec]);
    std::fs::write(&state, serde_json::to_vec(&s).unwrap()).unwrap();
    ap(&t, &srv)
        .env("CLAWDTALK_API_URL", srv.api_url())
        .env("CLAWDTALK_API_KEY", common::TEST_KEY)
        .env("CLAWDTALK_STATE_FILE", &state)
        .args(["agentphone", "get", "c1", "--mission", "find-a-table"])
        .assert()
        .success();
    // Only the result (never owed before: nothing to check) is sent.
    let summaries: Vec<Value> = run_events(&srv).iter().map(|e| e["summary"].clone()).collect();
    assert_eq!(summaries, vec![json!("AgentPhone call call_id=c1 completed: achieved")]);
    let r = &calls_in_memory(&state)[0];
    assert_eq!((r["placed_logged"].as_bool(), r["result_logged"].as_bool()), (Some(false), Some(true)), "{r}");
    assert_eq!(r["placed_log_claim"]["owner"], "4242-busy", "the live claim is untouched");
}

#[test]
fn the_first_poll_waits_one_interval_after_placing() {
    let srv = Recorder::start();
    srv.on("POST", CALLS, vec![placed("c1")]);
    srv.on("GET", &format!("{CALLS}/c1"), vec![done("c1", json!({"summary": "S", "transcript": "T"}))]);
    let t = Sandboxed::new();
    let start = Instant::now();
    ap(&t, &srv)
        .env("CLAWDTALK_AGENTPHONE_POLL_INTERVAL", "0.5")
        .args(["agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--wait"])
        .assert()
        .success();
    assert!(start.elapsed() >= Duration::from_millis(500), "polled before the interval");
    assert_eq!(srv.requests().iter().filter(|r| r.method == "GET").count(), 1);
}
