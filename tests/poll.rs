//! `clawdtalk poll` end to end: the built binary against the in-process
//! sandbox (fast clock, magic numbers). Each test sets up a mission on the
//! sandbox and a state file tracking its scheduled calls, then polls with
//! `--watch` until nothing is pending and checks what the mission became.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::sandbox::{SandboxOptions, TestSandbox};
use common::{Sandboxed, TEST_KEY};

const CALLER: &str = "+15550001111";

/// The first id found under the usual envelopes.
fn id_of(v: &Value, envelopes: &[&str], keys: &[&str]) -> String {
    let objs: Vec<&Value> = envelopes.iter().filter_map(|e| v.get(*e)).chain(std::iter::once(v)).collect();
    for o in objs {
        for k in keys {
            if let Some(s) = o.get(*k).and_then(Value::as_str) {
                return s.to_string();
            }
        }
    }
    panic!("no id in {v}");
}

/// A mission on the sandbox with one run, a plan, an assistant, and one
/// scheduled call per target in step `calls`, tracked in the state file as
/// `schedule call --mission` records them.
struct Mission {
    slug: String,
    mission_id: String,
    run_id: String,
    assistant_id: String,
}

/// A sandbox request, repeated while `--fail-rate` answers 503 (setup and
/// checks must not be what fails).
fn call(sb: &TestSandbox, method: &str, path: &str, body: Option<Value>) -> common::sandbox::Resp {
    for _ in 0..50 {
        let r = sb.call(method, path, body.clone());
        if r.status != 503 {
            return r;
        }
    }
    panic!("{method} {path}: 503 fifty times");
}

fn setup_mission(sb: &TestSandbox, env: &Sandboxed, slug: &str, targets: &[&str], steps: &[&str]) -> Mission {
    let m = call(sb, "POST", "/v1/missions", Some(json!({"name": slug, "instructions": "find a window washer"})));
    assert!(m.status < 300, "{m:?}");
    let mission_id = id_of(&m.json, &["mission", "data"], &["id", "mission_id"]);
    let r =
        call(sb, "POST", &format!("/v1/missions/{mission_id}/runs"), Some(json!({"input": {"original_request": "x"}})));
    let run_id = id_of(&r.json, &["data", "run"], &["run_id", "id"]);
    let plan: Vec<Value> =
        steps.iter().enumerate().map(|(i, s)| json!({"step_id": s, "description": s, "sequence": i + 1})).collect();
    let p = call(sb, "POST", &format!("/v1/missions/{mission_id}/runs/{run_id}/plan"), Some(json!({"steps": plan})));
    assert!(p.status < 300, "{p:?}");
    call(sb, "PATCH", &format!("/v1/missions/{mission_id}/runs/{run_id}"), Some(json!({"status": "running"})));
    let a = call(sb, "POST", "/v1/assistants", Some(json!({"name": "caller", "instructions": "ask about prices"})));
    let assistant_id = id_of(&a.json, &["assistant", "data"], &["id"]);
    let mut records = Vec::new();
    for to in targets {
        let at = TestSandbox::in_secs(61);
        let body = json!({"channel": "call", "to": to, "from": CALLER, "scheduled_at": at,
            "mission_id": mission_id, "run_id": run_id, "step_id": "calls"});
        let e = call(sb, "POST", &format!("/v1/assistants/{assistant_id}/events"), Some(body));
        assert!(e.status < 300, "{e:?}");
        let event_id = id_of(&e.json, &["event", "data"], &["id", "event_id"]);
        records.push(json!({"event_id": event_id, "assistant_id": assistant_id, "channel": "call", "to": to,
            "scheduled_at": at, "step_id": "calls", "status": "pending"}));
    }
    let path = state_file(env);
    let mut state: Value =
        std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_else(|| json!({}));
    state[slug] = json!({"mission_name": slug, "mission_id": mission_id, "run_id": run_id,
        "created_at": "2026-01-01T00:00:00Z", "assistant_id": assistant_id, "agent_phone": CALLER,
        "memory": {"scheduled_events": records}});
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    Mission { slug: slug.into(), mission_id, run_id, assistant_id }
}

fn state_file(env: &Sandboxed) -> PathBuf {
    env.path().join("state.json")
}

fn read_state(env: &Sandboxed) -> Value {
    serde_json::from_slice(&std::fs::read(state_file(env)).unwrap()).unwrap()
}

/// The mission entry, active or archived (by mission id).
fn entry(env: &Sandboxed, m: &Mission) -> Value {
    let s = read_state(env);
    s.get(&m.slug).cloned().unwrap_or_else(|| s["_archive"][&m.mission_id].clone())
}

/// The poll command against the sandbox with its clock.
fn poll_cmd(env: &Sandboxed, sb: &TestSandbox) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("XDG_DATA_HOME", env.home().join(".local/share"))
        .env("XDG_CONFIG_HOME", env.home().join(".config"))
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", TEST_KEY)
        .env("CLAWDTALK_CLOCK_URL", format!("{}/_sandbox/clock", sb.root))
        .env("NO_COLOR", "1")
        .current_dir(env.work())
        .arg("poll")
        .arg("--state")
        .arg(state_file(env));
    c
}

/// `poll --watch` until nothing is pending (bounded), returning its output.
fn watch(env: &Sandboxed, sb: &TestSandbox, extra: &[&str]) -> std::process::Output {
    let start = Instant::now();
    let mut child = poll_cmd(env, sb)
        .args(["--watch", "--interval", "0.1"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("poll --watch did not finish: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_status(sb: &TestSandbox, m: &Mission) -> String {
    let r = call(sb, "GET", &format!("/v1/missions/{}/runs/{}", m.mission_id, m.run_id), None);
    let run = r.json.get("data").or_else(|| r.json.get("run")).unwrap_or(&r.json);
    run["status"].as_str().unwrap_or_default().to_string()
}

fn events_to(sb: &TestSandbox, m: &Mission, to: &str) -> usize {
    let r = call(sb, "GET", &format!("/v1/assistants/{}/events", m.assistant_id), None);
    let list =
        r.json.get("events").or_else(|| r.json.get("data")).and_then(Value::as_array).cloned().unwrap_or_default();
    list.iter().filter(|e| e["to"] == to).count()
}

fn fast() -> SandboxOptions {
    SandboxOptions { speed: 300.0, ..SandboxOptions::default() }
}

/// The sweep of the issue: …06 answers, …05 is busy once then answers, …04
/// goes to voicemail. Returns the final mission entry and the run status.
fn sweep(opts: SandboxOptions, extra: &[&str]) -> (Value, String, usize) {
    let sb = TestSandbox::with(opts);
    let env = Sandboxed::new();
    let targets = ["+15005550006", "+15005550005", "+15005550004"];
    let m = setup_mission(&sb, &env, "sweep", &targets, &["calls"]);
    let out = watch(&env, &sb, extra);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = entry(&env, &m);
    (e, run_status(&sb, &m), events_to(&sb, &m, "+15005550005"))
}

fn assert_sweep_succeeded(e: &Value, run: &str, calls_to_05: usize) {
    assert_eq!(run, "succeeded", "{e:#}");
    assert_eq!(e["status"], "succeeded", "archived with its status: {e:#}");
    let mem = &e["memory"];
    assert_eq!(mem["result"]["status"], "succeeded", "{mem:#}");
    let insights = mem["insights"].as_object().unwrap();
    assert_eq!(insights.len(), 3, "insights for all three targets: {mem:#}");
    assert!(insights.values().all(|i| i["status"] == "completed" && !i["results"].as_array().unwrap().is_empty()));
    let records = mem["scheduled_events"].as_array().unwrap();
    let retries: Vec<&Value> = records.iter().filter(|r| r.get("retry_of").is_some()).collect();
    assert_eq!(retries.len(), 1, "one retry recorded: {records:#?}");
    assert_eq!(retries[0]["to"], "+15005550005");
    assert_eq!(calls_to_05, 2, "…05 was called twice on the service");
}

#[test]
fn sweep_ends_succeeded_with_insights_for_all_three_and_one_retry() {
    let (e, run, n) = sweep(fast(), &[]);
    assert_sweep_succeeded(&e, &run, n);
}

#[test]
fn auto_sync_on_the_server_changes_nothing_in_the_outcome() {
    let (e, run, n) = sweep(SandboxOptions { auto_sync: true, ..fast() }, &[]);
    assert_sweep_succeeded(&e, &run, n);
}

#[test]
fn a_failing_service_still_ends_with_the_same_results() {
    let (e, run, n) = sweep(SandboxOptions { fail_rate: 0.3, seed: Some(7), ..fast() }, &[]);
    assert_sweep_succeeded(&e, &run, n);
}

#[test]
fn always_busy_number_fails_the_mission_after_two_retries_saying_why() {
    let sb = TestSandbox::with(fast());
    let env = Sandboxed::new();
    let m = setup_mission(&sb, &env, "busy", &["+15005550001"], &["calls"]);
    let out = watch(&env, &sb, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(run_status(&sb, &m), "failed");
    let e = entry(&env, &m);
    let result = &e["memory"]["result"];
    assert_eq!(result["status"], "failed", "{e:#}");
    assert_eq!(result["failed_step"], "calls");
    let reason = result["reason"].as_str().unwrap();
    assert!(reason.contains("busy on all 3 attempts"), "{reason}");
    assert_eq!(e["memory"]["failed_targets"][0]["to"], "+15005550001");
    assert_eq!(events_to(&sb, &m, "+15005550001"), 3, "the first call and exactly two retries");
}

#[test]
fn bot_steps_are_left_to_the_bot_and_named() {
    let sb = TestSandbox::with(fast());
    let env = Sandboxed::new();
    let m = setup_mission(&sb, &env, "leftover", &["+15005550006"], &["calls", "analyze"]);
    let out = watch(&env, &sb, &[]);
    assert!(out.status.success());
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("calls done; step analyze is yours"), "{all}");
    assert_eq!(run_status(&sb, &m), "running", "the run stays open for the bot");
    assert!(read_state(&env).get("leftover").is_some(), "still active");
}

#[test]
fn two_polls_started_at_once_never_reschedule_twice() {
    let sb = TestSandbox::with(SandboxOptions { speed: 50.0, ..SandboxOptions::default() });
    let env = Sandboxed::new();
    let m = setup_mission(&sb, &env, "race", &["+15005550005"], &["calls"]);
    // Let the first (busy) attempt end: 61 s ahead + the call, at 50×.
    sb.advance(200.0);
    for _ in 0..4 {
        let kids: Vec<_> =
            (0..3).map(|_| poll_cmd(&env, &sb).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()).collect();
        for mut k in kids {
            assert!(k.wait().unwrap().success());
        }
    }
    assert_eq!(events_to(&sb, &m, "+15005550005"), 2, "one retry, however many polls ran at once");
    let records = entry(&env, &m)["memory"]["scheduled_events"].as_array().unwrap().clone();
    assert_eq!(records.len(), 2, "{records:#?}");
}

#[test]
fn nothing_pending_makes_no_request() {
    let sb = TestSandbox::start();
    let env = Sandboxed::new();
    std::fs::write(state_file(&env), r#"{"idle": {"mission_id": "m", "run_id": "r", "memory": {}}}"#).unwrap();
    let start = Instant::now();
    let out = poll_cmd(&env, &sb).output().unwrap();
    assert!(out.status.success());
    assert!(start.elapsed() < Duration::from_secs(5));
    let reqs = sb.control_get("requests");
    let n = reqs
        .get("requests")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or_else(|| reqs.as_array().map(Vec::len).unwrap_or(0));
    assert_eq!(n, 0, "{reqs}");
}

#[test]
fn cron_line_has_absolute_paths() {
    let env = Sandboxed::new();
    let out = env.cmd().args(["poll", "--cron-line", "--state", "rel/state.json"]).output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("* * * * * /"), "{line}");
    assert!(line.contains(&format!("--state {}", env.work().join("rel/state.json").display())), "{line}");
    assert!(line.contains(" poll "), "{line}");
}

#[test]
fn mission_status_and_cancel() {
    let sb = TestSandbox::start();
    let env = Sandboxed::new();
    let m = setup_mission(&sb, &env, "later", &["+15005550006", "+15005550002"], &["calls"]);
    let run = |args: &[&str]| {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"));
        c.env_clear()
            .env("HOME", env.home())
            .env("CLAWDTALK_API_URL", &sb.api)
            .env("CLAWDTALK_API_KEY", TEST_KEY)
            .current_dir(env.work())
            .arg("--state")
            .arg(state_file(&env))
            .args(args);
        c.output().unwrap()
    };
    let out = run(&["mission", "status", "later", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["run_status"], "running");
    assert_eq!(doc["targets"].as_array().unwrap().len(), 2);
    assert_eq!(doc["steps"][0]["step_id"], "calls");
    let out = run(&["mission", "status", "later"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("+15005550002") && text.contains("STEP"), "{text}");

    let out = run(&["mission", "cancel", "later"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Cancelled 2 scheduled events"));
    assert_eq!(run_status(&sb, &m), "cancelled");
    assert_eq!(events_to(&sb, &m, "+15005550006"), 0, "removed from the service");
    let e = entry(&env, &m);
    assert_eq!(e["memory"]["result"]["status"], "cancelled");
    // Archived: status still shows it; poll leaves it alone.
    let out = run(&["mission", "status", "later", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["archived"], true);
}
