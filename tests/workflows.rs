//! `init`, `setup-agent`, `complete` (contract §2.2) and the scheduling
//! bookkeeping, through the built binary against a recording server.

mod common;

use std::path::PathBuf;

use common::{Recorded, Recorder, Reply, Sandboxed};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::{json, Value};

const STEPS: &str = r#"[{"step_id":"call_1","description":"Call the first lead","sequence":1}]"#;

struct World {
    srv: Recorder,
    t: Sandboxed,
    state: PathBuf,
}

impl World {
    fn new() -> World {
        let t = Sandboxed::new();
        let state = t.path().join("state.json");
        World { srv: Recorder::start(), t, state }
    }
    fn with_state(body: Value) -> World {
        let w = World::new();
        std::fs::write(&w.state, serde_json::to_string_pretty(&body).unwrap()).unwrap();
        w
    }
    fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.t.api(&self.srv.api_url()).env("CLAWDTALK_STATE_FILE", &self.state).args(args).assert()
    }
    fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.state).unwrap()).unwrap()
    }
    /// `METHOD path` of every request so far.
    fn calls(&self) -> Vec<String> {
        self.srv.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect()
    }
    fn request(&self, method: &str, path: &str) -> Recorded {
        self.srv
            .requests()
            .into_iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("no {method} {path} in {:?}", self.calls()))
    }
    /// The raw body bytes of the request `METHOD path`, as text.
    fn body(&self, method: &str, path: &str) -> String {
        String::from_utf8_lossy(&self.request(method, path).body).into_owned()
    }
    /// Every request so far carried the key and the JSON content type.
    fn assert_all_authed(&self) {
        for r in self.srv.requests() {
            assert_eq!(r.header("authorization"), Some(format!("Bearer {}", common::TEST_KEY).as_str()), "{r:?}");
            assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
        }
    }
    fn script_init(&self) {
        self.srv.on("POST", "/v1/missions", vec![Reply::json(201, json!({"mission": {"id": "mis_1"}}))]);
        self.srv.on("POST", "/v1/missions/mis_1/runs", vec![Reply::json(201, json!({"data": {"run_id": "run_1"}}))]);
        self.srv.on("POST", "/v1/missions/mis_1/runs/run_1/plan", vec![Reply::json(201, json!({"data": {}}))]);
        self.srv.on("PATCH", "/v1/missions/mis_1/runs/run_1", vec![Reply::json(200, json!({"data": {}}))]);
    }
    fn script_agent(&self) {
        self.srv.on("POST", "/v1/assistants", vec![Reply::json(201, json!({"assistant": {"id": "ast_1"}}))]);
        self.srv.on("POST", "/v1/missions/mis_1/runs/run_1/agents", vec![Reply::json(201, json!({"data": {}}))]);
        self.srv.on(
            "GET",
            "/v1/numbers/account-phones/available",
            vec![Reply::json(200, json!({"phone": {"id": "pn_1", "phone_number": "+15559876543"}}))],
        );
    }
}

/// The sample of the service's clock a command with a relative time takes
/// first when it has none (docs/protocol.md#service-clock).
const CLOCK_SAMPLE: &str = "GET /v1/missions";

fn ready_mission() -> Value {
    json!({"find-window-washers": {
        "mission_name": "Find Window Washers", "mission_id": "mis_1", "created_at": "2026-01-01T00:00:00Z",
        "run_id": "run_1", "memory": {"leads": ["a"]}, "owner_note": "keep me"
    }})
}

#[test]
fn init_creates_mission_run_and_plan_sets_it_running_and_prints_the_slug() {
    let w = World::new();
    w.script_init();
    w.run(&["init", "Find Window Washers!", "Call and compare", "Need 3 quotes", STEPS]).success().stdout(
        "Created mission: mis_1\nCreated run: run_1\nCreated plan with 1 steps\nUpdated run run_1: running\n\
         Mission slug: find-window-washers\n",
    );
    assert_eq!(
        w.calls(),
        vec![
            "POST /v1/missions",
            "POST /v1/missions/mis_1/runs",
            "POST /v1/missions/mis_1/runs/run_1/plan",
            "PATCH /v1/missions/mis_1/runs/run_1"
        ]
    );
    assert_eq!(
        w.request("POST", "/v1/missions").json(),
        json!({"name": "Find Window Washers!", "instructions": "Call and compare"})
    );
    assert_eq!(
        w.request("POST", "/v1/missions/mis_1/runs").json(),
        json!({"input": {"original_request": "Need 3 quotes"}})
    );
    assert_eq!(
        w.request("POST", "/v1/missions/mis_1/runs/run_1/plan").json(),
        json!({"steps": serde_json::from_str::<Value>(STEPS).unwrap()})
    );
    assert_eq!(w.request("PATCH", "/v1/missions/mis_1/runs/run_1").json(), json!({"status": "running"}));
    // The bytes telnyx_api.py sent (json.dumps), with the key on every request.
    assert_eq!(
        w.body("POST", "/v1/missions"),
        r#"{"name": "Find Window Washers!", "instructions": "Call and compare"}"#
    );
    assert_eq!(w.body("POST", "/v1/missions/mis_1/runs"), r#"{"input": {"original_request": "Need 3 quotes"}}"#);
    assert_eq!(
        w.body("POST", "/v1/missions/mis_1/runs/run_1/plan"),
        r#"{"steps": [{"step_id": "call_1", "description": "Call the first lead", "sequence": 1}]}"#
    );
    assert_eq!(w.body("PATCH", "/v1/missions/mis_1/runs/run_1"), r#"{"status": "running"}"#);
    assert!(w.srv.requests().iter().all(|r| r.query.is_empty()));
    w.assert_all_authed();
    let e = &w.state()["find-window-washers"];
    assert_eq!(e["mission_name"], "Find Window Washers!");
    assert_eq!(e["mission_id"], "mis_1");
    assert_eq!(e["run_id"], "run_1");
    assert_eq!(e["status"], "running");
    assert!(e["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(e.get("init_pending").is_none());
}

#[test]
fn init_again_with_the_same_name_resumes_without_any_request() {
    let w = World::with_state(ready_mission());
    w.run(&["init", "Find window washers", "x", "y"])
        .success()
        .stdout("Resuming existing mission: find-window-washers\nMission slug: find-window-washers\n");
    w.run(&["mission", "init", "FIND WINDOW WASHERS", "x", "y", STEPS]).success();
    assert!(w.srv.requests().is_empty(), "{:?}", w.calls());
}

#[test]
fn init_that_failed_halfway_continues_where_it_stopped() {
    let w = World::new();
    w.script_init();
    // The run cannot be created the first time: the mission id is already saved.
    w.srv.on(
        "POST",
        "/v1/missions/mis_1/runs",
        vec![Reply::json(500, json!({"message": "boom"})), Reply::json(201, json!({"data": {"run_id": "run_1"}}))],
    );
    w.srv.on(
        "POST",
        "/v1/missions/mis_1/runs/run_1/plan",
        vec![Reply::json(503, json!({"message": "later"})), Reply::json(201, json!({"data": {}}))],
    );
    w.run(&["init", "Find Window Washers", "i", "r", STEPS]).code(1).stderr(contains("boom"));
    assert_eq!(w.state()["find-window-washers"]["mission_id"], "mis_1");
    // Second attempt: no second mission; the plan fails; the run id is saved.
    w.run(&["init", "Find Window Washers", "i", "r", STEPS]).code(1);
    assert_eq!(w.state()["find-window-washers"]["run_id"], "run_1");
    // Third attempt (even without the steps): only the plan and the status.
    w.run(&["init", "Find Window Washers", "i", "r"]).success().stdout(contains("Created plan with 1 steps"));
    let calls = w.calls();
    assert_eq!(calls.iter().filter(|c| *c == "POST /v1/missions").count(), 1, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| *c == "POST /v1/missions/mis_1/runs").count(), 2, "{calls:?}");
    assert_eq!(calls.last().unwrap(), "PATCH /v1/missions/mis_1/runs/run_1");
    assert_eq!(w.state()["find-window-washers"]["status"], "running");
    assert!(w.state()["find-window-washers"].get("init_pending").is_none());
}

#[test]
fn init_refuses_bad_steps_before_sending_anything() {
    let w = World::new();
    w.run(&["init", "A", "b", "c", "{\"not\": \"a list\"}"]).code(2).stderr(contains("STEPS_JSON"));
    w.run(&["init", "!!!", "b", "c"]).code(2);
    assert!(w.srv.requests().is_empty());
}

#[test]
fn setup_agent_creates_links_and_picks_the_number_then_reuses_it() {
    let w = World::with_state(ready_mission());
    w.script_agent();
    w.run(&["setup-agent", "find-window-washers", "Washer Agent", "Get quotes", "Hi!"])
        .success()
        .stdout("Created assistant: ast_1\nLinked agent ast_1 to run run_1\nFound available: +15559876543\n");
    let body = w.request("POST", "/v1/assistants").json();
    assert_eq!(body["name"], "Washer Agent");
    assert_eq!(body["greeting"], "Hi!");
    assert_eq!(body["enabled_features"], json!(["telephony", "messaging"]));
    assert_eq!(w.request("POST", "/v1/missions/mis_1/runs/run_1/agents").json(), json!({"telnyx_agent_id": "ast_1"}));
    assert_eq!(
        w.body("POST", "/v1/assistants"),
        r#"{"name": "Washer Agent", "model": "openai/gpt-4o", "instructions": "Get quotes", "greeting": "Hi!", "voice": "Rime.ArcanaV3.astra", "tools": [{"type": "hangup", "hangup": {"description": "To be used whenever the conversation has ended and it would be appropriate to hangup the call."}}, {"type": "send_dtmf", "send_dtmf": {}}], "enabled_features": ["telephony", "messaging"]}"#
    );
    assert_eq!(w.body("POST", "/v1/missions/mis_1/runs/run_1/agents"), r#"{"telnyx_agent_id": "ast_1"}"#);
    assert_eq!(w.body("GET", "/v1/numbers/account-phones/available"), "");
    assert_eq!(
        w.calls(),
        [
            "POST /v1/assistants",
            "POST /v1/missions/mis_1/runs/run_1/agents",
            "GET /v1/numbers/account-phones/available"
        ]
    );
    w.assert_all_authed();
    // The number is the caller id: it is not assigned to the assistant.
    assert!(w.calls().iter().all(|c| !c.starts_with("PATCH /v1/numbers")), "{:?}", w.calls());
    let e = &w.state()["find-window-washers"];
    assert_eq!((e["assistant_id"].as_str(), e["agent_phone"].as_str()), (Some("ast_1"), Some("+15559876543")));
    assert_eq!(e["phone_number_id"], "pn_1");
    assert_eq!(e["owner_note"], "keep me");
    let before = w.srv.requests().len();
    w.run(&["mission", "setup-agent", "mis_1", "Washer Agent", "Get quotes"])
        .success()
        .stdout("Using existing assistant: ast_1\n");
    assert_eq!(w.srv.requests().len(), before);
}

#[test]
fn setup_agent_without_a_free_number_keeps_the_assistant_for_the_next_try() {
    let w = World::with_state(ready_mission());
    w.script_agent();
    w.srv.on(
        "GET",
        "/v1/numbers/account-phones/available",
        vec![
            Reply::json(200, json!({})),
            Reply::json(200, json!({"phone": {"id": "pn_2", "phone_number": "+15550001111"}})),
        ],
    );
    w.run(&["setup-agent", "find-window-washers", "A", "I"])
        .code(1)
        .stderr(contains("no available phone number").and(contains("ast_1")));
    assert_eq!(w.state()["find-window-washers"]["assistant_id"], "ast_1");
    w.run(&["setup-agent", "find-window-washers", "A", "I"])
        .success()
        .stdout("Using existing assistant: ast_1\nFound available: +15550001111\n");
    let calls = w.calls();
    assert_eq!(calls.iter().filter(|c| *c == "POST /v1/assistants").count(), 1, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.ends_with("/agents")).count(), 1, "{calls:?}");
    assert_eq!(w.state()["find-window-washers"]["agent_phone"], "+15550001111");
}

#[test]
fn setup_agent_for_an_unknown_slug_sends_nothing_and_suggests() {
    let w = World::with_state(ready_mission());
    w.run(&["setup-agent", "find-windows-washers", "A", "I"])
        .code(2)
        .stderr(contains("Did you mean 'find-window-washers'?").and(contains("init")));
    w.run(&["setup-agent", "find-window-washers", "A", "I", "", "{\"bogus\": 1}"]).code(2).stderr(contains("bogus"));
    assert!(w.srv.requests().is_empty());
}

#[test]
fn complete_marks_the_run_succeeded_and_archives_the_mission_with_its_memory() {
    let w = World::with_state(ready_mission());
    w.srv.on("PATCH", "/v1/missions/mis_1/runs/run_1", vec![Reply::json(200, json!({"data": {}}))]);
    w.run(&["complete", "find-window-washers", "mis_1", "run_1", "Booked Crystal Clear", "{\"price\": 350}"])
        .success()
        .stdout("Updated run run_1: succeeded\nMission 'find-window-washers' completed successfully\n");
    assert_eq!(
        w.request("PATCH", "/v1/missions/mis_1/runs/run_1").json(),
        json!({"status": "succeeded", "result_summary": "Booked Crystal Clear", "result_payload": {"price": 350}})
    );
    assert_eq!(
        w.body("PATCH", "/v1/missions/mis_1/runs/run_1"),
        r#"{"status": "succeeded", "result_summary": "Booked Crystal Clear", "result_payload": {"price": 350}}"#
    );
    // The plan is read for the bot's own open steps (this one has none).
    assert_eq!(w.calls(), ["GET /v1/missions/mis_1/runs/run_1/plan", "PATCH /v1/missions/mis_1/runs/run_1"]);
    w.assert_all_authed();
    let s = w.state();
    assert!(s.get("find-window-washers").is_none());
    let a = &s["_archive"]["mis_1"];
    assert_eq!(a["slug"], "find-window-washers");
    assert_eq!(a["status"], "succeeded");
    assert_eq!(a["memory"]["leads"], json!(["a"]));
    assert_eq!(a["owner_note"], "keep me");
    // Still readable, listed with --all, not with plain list-state.
    w.run(&["get-memory", "find-window-washers", "leads"]).success().stdout("[\n  \"a\"\n]\n");
    w.run(&["state", "get", "mis_1"]).success().stdout(contains("Booked Crystal Clear"));
    w.run(&["list-state"]).success().stdout("");
    w.run(&["state", "list", "--all"]).success().stdout(contains("find-window-washers").and(contains("archived")));
    // Writes to a completed mission are refused.
    w.run(&["append-memory", "find-window-washers", "leads", "b"]).code(2).stderr(contains("archived"));
}

#[test]
fn complete_with_explicit_ids_works_even_when_the_slug_is_unknown() {
    let w = World::new();
    w.run(&["complete", "lost-mission", "mis_9", "run_9", "Done"])
        .success()
        .stdout(contains("Mission 'lost-mission' completed successfully"))
        .stderr(contains("warning").and(contains("not in the state file")));
    assert_eq!(
        w.request("PATCH", "/v1/missions/mis_9/runs/run_9").json(),
        json!({"status": "succeeded", "result_summary": "Done"})
    );
}

#[test]
fn mission_complete_takes_the_ids_from_the_state_file() {
    let w = World::with_state(ready_mission());
    w.run(&["mission", "complete", "find-window-washers", "All done"]).success();
    assert_eq!(w.request("PATCH", "/v1/missions/mis_1/runs/run_1").json()["status"], "succeeded");
    w.run(&["mission", "complete", "nothing-here", "x"]).code(2).stderr(contains("no mission 'nothing-here'"));
}

#[test]
fn a_failed_complete_keeps_the_mission_active_for_a_retry() {
    let w = World::with_state(ready_mission());
    w.srv.on("PATCH", "/v1/missions/mis_1/runs/run_1", vec![Reply::json(500, json!({"message": "down"}))]);
    w.run(&["mission", "complete", "find-window-washers", "x"]).code(1);
    assert!(w.state().get("find-window-washers").is_some());
    assert!(w.state().get("_archive").is_none());
}

fn mission_with_agent() -> Value {
    let mut v = ready_mission();
    v["find-window-washers"]["assistant_id"] = json!("ast_1");
    v["find-window-washers"]["agent_phone"] = json!("+15559876543");
    v
}

fn scheduled_events(w: &World) -> Vec<Value> {
    w.state()["find-window-washers"]["memory"]["scheduled_events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn schedule_call_for_a_mission_fills_ids_from_state_records_the_event_and_logs_it() {
    let w = World::with_state(mission_with_agent());
    w.srv.on(
        "POST",
        "/v1/assistants/ast_1/events",
        vec![Reply::json(201, json!({"event": {"id": "ev_1", "status": "pending"}}))],
    );
    w.run(&[
        "schedule",
        "call",
        "--mission",
        "find-window-washers",
        "--to",
        "+15551234567",
        "--at",
        "+5m",
        "--step",
        "call_1",
    ])
    .success()
    .stdout("Scheduled call: ev_1\n")
    .stderr(contains("Recorded ev_1"));
    let sent = w.request("POST", "/v1/assistants/ast_1/events").json();
    assert_eq!(sent["from"], "+15559876543");
    assert_eq!((sent["mission_id"].as_str(), sent["run_id"].as_str()), (Some("mis_1"), Some("run_1")));
    assert_eq!(sent["step_id"], "call_1");
    let logged = w.request("POST", "/v1/missions/mis_1/runs/run_1/events").json();
    assert_eq!(logged["type"], "custom");
    assert_eq!(logged["summary"], "Scheduled call event_id=ev_1");
    assert_eq!(logged["step_id"], "call_1");
    let evs = scheduled_events(&w);
    assert_eq!(evs.len(), 1);
    let e = &evs[0];
    assert_eq!(e["event_id"], "ev_1");
    assert_eq!(e["assistant_id"], "ast_1");
    assert_eq!(e["channel"], "call");
    assert_eq!(e["to"], "+15551234567");
    assert_eq!(e["scheduled_at"], sent["scheduled_at"]);
    assert_eq!(e["step_id"], "call_1");
    assert_eq!(e["status"], "pending");
    assert_eq!(e["logged"], true);
}

#[test]
fn legacy_schedule_sms_with_mission_and_run_ids_is_recorded_in_that_mission() {
    let w = World::with_state(mission_with_agent());
    w.srv.on("POST", "/v1/assistants/ast_1/events", vec![Reply::json(201, json!({"id": "ev_s"}))]);
    w.run(&["schedule-sms", "ast_1", "+15551234567", "+15559876543", "+3m", "On my way", "mis_1", "run_1"])
        .success()
        .stdout("Scheduled SMS: ev_s\n");
    let e = &scheduled_events(&w)[0];
    assert_eq!((e["channel"].as_str(), e["text"].as_str()), (Some("sms"), Some("On my way")));
    assert_eq!(
        w.request("POST", "/v1/missions/mis_1/runs/run_1/events").json()["summary"],
        "Scheduled SMS event_id=ev_s"
    );
}

#[test]
fn a_failed_run_event_log_keeps_the_record_and_is_retried_by_the_next_schedule() {
    let w = World::with_state(mission_with_agent());
    w.srv.on(
        "POST",
        "/v1/assistants/ast_1/events",
        vec![Reply::json(201, json!({"event": {"id": "ev_1"}})), Reply::json(201, json!({"event": {"id": "ev_2"}}))],
    );
    w.srv.on(
        "POST",
        "/v1/missions/mis_1/runs/run_1/events",
        vec![Reply::json(500, json!({"message": "events down"})), Reply::json(201, json!({"data": {}}))],
    );
    let args = ["schedule-call", "ast_1", "+15551234567", "+15559876543", "+5m", "mis_1", "run_1"];
    w.run(&args).success().stdout("Scheduled call: ev_1\n").stderr(contains("events down").and(contains("retried")));
    let evs = scheduled_events(&w);
    assert_eq!((evs[0]["event_id"].as_str(), evs[0]["logged"].as_bool()), (Some("ev_1"), Some(false)));
    w.run(&args).success().stdout("Scheduled call: ev_2\n");
    let evs = scheduled_events(&w);
    assert_eq!(evs.len(), 2);
    assert!(evs.iter().all(|e| e["logged"] == true), "{evs:?}");
    // The retry first looks at the run (the failed attempt might have
    // landed), then sends what is not there, oldest first.
    let run_events: Vec<String> = w
        .srv
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/missions/mis_1/runs/run_1/events")
        .map(|r| format!("{} {}", r.method, r.json()["summary"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        run_events,
        [
            "POST Scheduled call event_id=ev_1",
            "GET ",
            "POST Scheduled call event_id=ev_1",
            "POST Scheduled call event_id=ev_2"
        ]
    );
}

#[test]
fn no_track_leaves_the_state_and_the_run_alone() {
    let w = World::with_state(mission_with_agent());
    let before = std::fs::read(&w.state).unwrap();
    w.srv.on("POST", "/v1/assistants/ast_1/events", vec![Reply::json(201, json!({"id": "ev_1"}))]);
    w.run(&["schedule-call", "--no-track", "ast_1", "+15551234567", "+15559876543", "+5m", "mis_1", "run_1"]).success();
    w.run(&["schedule", "call", "--no-track", "--mission", "mis_1", "--to", "+15551234567", "--at", "+5m"]).success();
    assert_eq!(std::fs::read(&w.state).unwrap(), before);
    assert!(w.calls().iter().all(|c| !c.ends_with("/runs/run_1/events")), "{:?}", w.calls());
}

#[test]
fn no_track_on_legacy_schedule_sms_sends_only_the_event() {
    let w = World::with_state(mission_with_agent());
    let before = std::fs::read(&w.state).unwrap();
    w.srv.on("POST", "/v1/assistants/ast_1/events", vec![Reply::json(201, json!({"event": {"id": "sms_1"}}))]);
    w.run(&[
        "schedule-sms",
        "--no-track",
        "ast_1",
        "+15551234567",
        "+15559876543",
        "+5m",
        "Hi",
        "mis_1",
        "run_1",
        "s1",
    ])
    .code(0)
    .stdout("Scheduled SMS: sms_1\n")
    .stderr("");
    // A relative time is on the service's clock: one sample first (docs/protocol.md#service-clock).
    let r: Vec<_> = w.srv.requests().into_iter().filter(|r| r.path != "/v1/missions").collect();
    assert_eq!(w.calls()[0], CLOCK_SAMPLE);
    assert_eq!(r.len(), 1, "only the scheduling request: {:?}", w.calls());
    let at = r[0].json()["scheduled_at"].as_str().unwrap().to_string();
    assert_eq!(
        String::from_utf8_lossy(&r[0].body),
        format!(
            r#"{{"channel": "sms", "to": "+15551234567", "from": "+15559876543", "scheduled_at": "{at}", "text_body": "Hi", "mission_id": "mis_1", "run_id": "run_1", "step_id": "s1"}}"#
        )
    );
    w.assert_all_authed();
    assert_eq!(std::fs::read(&w.state).unwrap(), before, "the state file is untouched");
}

#[test]
fn schedule_for_an_unknown_mission_slug_sends_nothing() {
    let w = World::with_state(mission_with_agent());
    w.run(&["schedule", "call", "--mission", "find-windows", "--to", "+15551234567", "--at", "+5m"])
        .code(2)
        .stderr(contains("Did you mean 'find-window-washers'?"));
    w.run(&["schedule", "call", "--to", "+15551234567", "--at", "+5m"]).code(2).stderr(contains("--assistant"));
    assert!(w.srv.requests().is_empty());
}

#[test]
fn schedule_by_ids_of_a_mission_not_in_the_state_file_records_nothing() {
    let w = World::with_state(mission_with_agent());
    let before = std::fs::read(&w.state).unwrap();
    w.srv.on("POST", "/v1/assistants/ast_9/events", vec![Reply::json(201, json!({"id": "ev_9"}))]);
    w.run(&["schedule-call", "ast_9", "+15551234567", "+15559876543", "+5m", "mis_other", "run_other"])
        .success()
        .stdout("Scheduled call: ev_9\n");
    assert_eq!(std::fs::read(&w.state).unwrap(), before);
    assert_eq!(w.calls(), vec![CLOCK_SAMPLE, "POST /v1/assistants/ast_9/events"]);
}

/// The custom run events "Scheduled … event_id=…" on a sandbox run, by event id.
fn bookkeeping_events(sb: &common::sandbox::TestSandbox, mid: &str, rid: &str) -> Vec<String> {
    let r = sb.call("GET", &format!("/v1/missions/{mid}/runs/{rid}/events"), None);
    assert_eq!(r.status, 200, "{:?}", r.json);
    r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "custom")
        .filter_map(|e| e["summary"].as_str()?.split_once("event_id=").map(|(_, id)| id.to_string()))
        .collect()
}

#[test]
fn concurrent_schedules_for_one_mission_log_each_run_event_exactly_once() {
    const N: usize = 8;
    let sb = common::sandbox::TestSandbox::start();
    let t = Sandboxed::new();
    let state = t.path().join("state.json");
    let run = |args: &[&str]| {
        t.api(&sb.api).env("CLAWDTALK_STATE_FILE", &state).args(args).assert().success();
    };
    run(&["init", "Race", "Call them", "Three quotes"]);
    run(&["setup-agent", "race", "Racer", "Get quotes"]);
    let cmds = (0..N)
        .map(|_| {
            let mut c = t.api(&sb.api);
            c.env("CLAWDTALK_STATE_FILE", &state).args([
                "schedule",
                "call",
                "--mission",
                "race",
                "--to",
                "+15005550006",
                "--at",
                "+5m",
            ]);
            c
        })
        .collect();
    common::run_at_once(cmds);
    let s: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let m = &s["race"];
    let (mid, rid) = (m["mission_id"].as_str().unwrap(), m["run_id"].as_str().unwrap());
    let records = m["memory"]["scheduled_events"].as_array().unwrap();
    assert_eq!(records.len(), N, "{records:?}");
    for r in records {
        assert_eq!(r["logged"], true, "{r}");
        assert!(r.get("log_claim").is_none(), "a settled record keeps no claim: {r}");
    }
    let mut logged = bookkeeping_events(&sb, mid, rid);
    assert_eq!(logged.len(), N, "one run event per scheduled call: {logged:?}");
    logged.sort();
    logged.dedup();
    assert_eq!(logged.len(), N, "an event_id was logged twice");
    let mut recorded: Vec<String> = records.iter().map(|r| r["event_id"].as_str().unwrap().to_string()).collect();
    recorded.sort();
    assert_eq!(logged, recorded);
}

/// A scheduled-event record of `find-window-washers` whose run event is still owed.
fn owed(event_id: &str, claim: Option<(&str, &str)>) -> Value {
    let mut r = json!({
        "event_id": event_id, "assistant_id": "ast_1", "channel": "call", "to": "+15551234567",
        "scheduled_at": "2030-01-01T00:00:00Z", "status": "pending", "from": "+15559876543",
        "mission_id": "mis_1", "run_id": "run_1", "logged": false
    });
    if let Some((owner, until)) = claim {
        r["log_claim"] = json!({"owner": owner, "until": until});
    }
    r
}

fn with_records(records: Vec<Value>) -> World {
    let mut v = mission_with_agent();
    v["find-window-washers"]["memory"]["scheduled_events"] = json!(records);
    World::with_state(v)
}

fn posted_summaries(w: &World) -> Vec<String> {
    w.srv
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/missions/mis_1/runs/run_1/events")
        .map(|r| r.json()["summary"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_record_another_live_command_is_logging_is_left_to_it() {
    let w = with_records(vec![owed("ev_busy", Some(("4242-abc", "2999-01-01T00:00:00.000000Z")))]);
    w.srv.on("POST", "/v1/assistants/ast_1/events", vec![Reply::json(201, json!({"id": "ev_new"}))]);
    w.run(&["schedule", "call", "--mission", "find-window-washers", "--to", "+15551234567", "--at", "+5m"]).success();
    assert_eq!(posted_summaries(&w), ["Scheduled call event_id=ev_new"]);
    let evs = scheduled_events(&w);
    assert_eq!(evs[0]["logged"], false);
    assert_eq!(evs[0]["log_claim"]["owner"], "4242-abc", "the live claim is untouched");
    assert_eq!((evs[1]["event_id"].as_str(), evs[1]["logged"].as_bool()), (Some("ev_new"), Some(true)));
}

#[test]
fn a_record_whose_claimer_died_after_sending_is_marked_not_sent_again() {
    // The claimer sent ev_sent's run event and died before marking it; its
    // claim expired. ev_lost's claimer died before sending.
    let expired = Some(("4242-abc", "2020-01-01T00:00:00.000000Z"));
    let w = with_records(vec![owed("ev_sent", expired), owed("ev_lost", expired)]);
    w.srv.on(
        "GET",
        "/v1/missions/mis_1/runs/run_1/events",
        vec![Reply::json(200, json!({"data": [{"type": "custom", "summary": "Scheduled call event_id=ev_sent"}]}))],
    );
    w.srv.on("POST", "/v1/assistants/ast_1/events", vec![Reply::json(201, json!({"id": "ev_new"}))]);
    w.run(&["schedule", "call", "--mission", "find-window-washers", "--to", "+15551234567", "--at", "+5m"]).success();
    assert_eq!(posted_summaries(&w), ["Scheduled call event_id=ev_lost", "Scheduled call event_id=ev_new"]);
    let evs = scheduled_events(&w);
    assert_eq!(evs.len(), 3);
    for e in &evs {
        assert_eq!(e["logged"], true, "{e}");
        assert!(e.get("log_claim").is_none(), "{e}");
    }
}

#[test]
fn when_the_run_cannot_be_checked_owed_records_are_kept_and_nothing_is_resent() {
    let w = with_records(vec![owed("ev_old", None)]);
    w.srv.on("GET", "/v1/missions/mis_1/runs/run_1/events", vec![Reply::json(404, json!({"message": "gone"}))]);
    w.srv.on("POST", "/v1/assistants/ast_1/events", vec![Reply::json(201, json!({"id": "ev_new"}))]);
    w.run(&["schedule", "call", "--mission", "find-window-washers", "--to", "+15551234567", "--at", "+5m"])
        .success()
        .stderr(contains("could not check run run_1"));
    assert_eq!(posted_summaries(&w), ["Scheduled call event_id=ev_new"]);
    let evs = scheduled_events(&w);
    assert_eq!((evs[0]["logged"].as_bool(), evs[0].get("log_claim")), (Some(false), None), "released for later");
}

#[test]
fn complete_marks_the_bots_own_open_steps_completed_and_leaves_the_calls_step_to_poll() {
    let mut call = owed("ev_1", None);
    call["step_id"] = json!("calls");
    call["logged"] = json!(true);
    let w = with_records(vec![call]);
    let plan = json!({"data": [{"step_id": "calls", "status": "in_progress"},
        {"step_id": "summarize", "status": "pending"}, {"step_id": "old", "status": "skipped"}]});
    w.srv.on("GET", "/v1/missions/mis_1/runs/run_1/plan", vec![Reply::json(200, plan)]);
    w.srv.on("PATCH", "/v1/missions/mis_1/runs/run_1", vec![Reply::json(200, json!({"data": {}}))]);
    w.run(&["mission", "complete", "find-window-washers", "Done"]).success().stdout(
        "Marked step summarize completed\nUpdated run run_1: succeeded\n\
         Mission 'find-window-washers' completed successfully\n",
    );
    let patched: Vec<String> =
        w.calls().into_iter().filter(|c| c.starts_with("PATCH /v1/missions/mis_1/runs/run_1/plan")).collect();
    assert_eq!(patched, ["PATCH /v1/missions/mis_1/runs/run_1/plan/steps/summarize"]);
    assert_eq!(
        w.request("PATCH", "/v1/missions/mis_1/runs/run_1/plan/steps/summarize").json(),
        json!({"status": "completed"})
    );
    let calls = w.calls();
    let step = calls.iter().position(|c| c.ends_with("/plan/steps/summarize")).unwrap();
    let run = calls.iter().position(|c| c == "PATCH /v1/missions/mis_1/runs/run_1").unwrap();
    assert!(step < run, "the step is marked before the run ends: {calls:?}");
}

#[test]
fn complete_logs_owed_run_events_before_ending_the_run() {
    let w = with_records(vec![owed("ev_old", None)]);
    w.srv.on("PATCH", "/v1/missions/mis_1/runs/run_1", vec![Reply::json(200, json!({"data": {}}))]);
    w.run(&["complete", "find-window-washers", "mis_1", "run_1", "Done"])
        .success()
        .stdout("Updated run run_1: succeeded\nMission 'find-window-washers' completed successfully\n");
    assert_eq!(
        w.calls(),
        [
            "GET /v1/missions/mis_1/runs/run_1/events",
            "POST /v1/missions/mis_1/runs/run_1/events",
            "GET /v1/missions/mis_1/runs/run_1/plan",
            "PATCH /v1/missions/mis_1/runs/run_1"
        ]
    );
    let logged = w.request("POST", "/v1/missions/mis_1/runs/run_1/events").json();
    assert_eq!(logged["summary"], "Scheduled call event_id=ev_old");
    assert_eq!(logged["agent_id"], "clawdtalk");
    let rec = &w.state()["_archive"]["mis_1"]["memory"]["scheduled_events"][0];
    assert_eq!((rec["event_id"].as_str(), rec["logged"].as_bool()), (Some("ev_old"), Some(true)));
}

#[test]
fn complete_logs_owed_agentphone_run_events_before_ending_the_run() {
    let mut v = mission_with_agent();
    v["find-window-washers"]["memory"]["agentphone_calls"] = json!([{
        "provider": "agentphone", "call_id": "ap_1", "to": "+15551234567", "objective": "Book a table",
        "status": "completed", "outcome": "achieved", "summary": "Booked for 8pm",
        "placed_logged": true, "result_logged": false
    }]);
    let w = World::with_state(v);
    w.srv.on("PATCH", "/v1/missions/mis_1/runs/run_1", vec![Reply::json(200, json!({"data": {}}))]);
    w.run(&["complete", "find-window-washers", "mis_1", "run_1", "Done"]).success();
    assert_eq!(
        w.calls(),
        [
            "GET /v1/missions/mis_1/runs/run_1/events",
            "POST /v1/missions/mis_1/runs/run_1/events",
            "GET /v1/missions/mis_1/runs/run_1/plan",
            "PATCH /v1/missions/mis_1/runs/run_1"
        ],
        "the owed result is checked for on the run, logged, then the run ends"
    );
    let logged = posted_summaries(&w);
    assert_eq!(logged.len(), 1);
    assert!(logged[0].starts_with("AgentPhone call call_id=ap_1 completed"), "{logged:?}");
    let rec = &w.state()["_archive"]["mis_1"]["memory"]["agentphone_calls"][0];
    assert_eq!(rec["result_logged"], true, "{rec:#}");
}

#[test]
fn legacy_schedule_for_another_run_of_a_known_mission_is_not_recorded_there() {
    let w = World::with_state(mission_with_agent());
    let before = std::fs::read(&w.state).unwrap();
    w.srv.on("POST", "/v1/assistants/ast_1/events", vec![Reply::json(201, json!({"id": "ev_r2"}))]);
    w.run(&["schedule-call", "ast_1", "+15551234567", "+15559876543", "+5m", "mis_1", "run_2"])
        .success()
        .stdout("Scheduled call: ev_r2\n")
        .stderr(contains("not recorded in mission 'find-window-washers'").and(contains("run_1, not run_2")));
    assert_eq!(std::fs::read(&w.state).unwrap(), before);
    assert_eq!(w.calls(), [CLOCK_SAMPLE, "POST /v1/assistants/ast_1/events"], "no run event for either run");
}

#[test]
fn schedule_with_mission_and_ids_of_another_run_is_refused_before_sending() {
    let w = World::with_state(mission_with_agent());
    let args = [
        "schedule",
        "call",
        "--mission",
        "find-window-washers",
        "--to",
        "+15551234567",
        "--at",
        "+5m",
        "--mission-id",
        "mis_1",
        "--run-id",
        "run_2",
    ];
    w.run(&args).code(2).stderr(contains("run id run_1").and(contains("not mis_1 and run_2")));
    assert!(w.srv.requests().is_empty());
    // The mission's own ids, given explicitly, are fine.
    w.srv.on("POST", "/v1/assistants/ast_1/events", vec![Reply::json(201, json!({"id": "ev_1"}))]);
    let mut same = args;
    same[11] = "run_1";
    w.run(&same).success().stdout("Scheduled call: ev_1\n");
    assert_eq!(posted_summaries(&w), ["Scheduled call event_id=ev_1"]);
}
