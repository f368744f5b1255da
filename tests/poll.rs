//! `clawdtalk poll` end to end: the built binary against the in-process
//! sandbox (fast clock, magic numbers). Each test sets up a mission on the
//! sandbox and a state file tracking its scheduled calls, then polls with
//! `--watch` until nothing is pending and checks what the mission became.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::missions::{call, entry, poll_cmd, read_state, setup_mission, setup_mission_with, state_file, Mission};
use common::sandbox::{SandboxOptions, TestSandbox};
use common::{Sandboxed, TEST_KEY};

/// The tracked event ids of a mission, in the order scheduled.
fn event_ids(env: &Sandboxed, m: &Mission) -> Vec<String> {
    entry(env, m)["memory"]["scheduled_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect()
}

/// The run's events as the sandbox has them (GET …/runs/{rid}/events).
fn run_events(sb: &TestSandbox, m: &Mission) -> Vec<Value> {
    let r = call(sb, "GET", &format!("/v1/missions/{}/runs/{}/events", m.mission_id, m.run_id), None);
    r.json["data"].as_array().cloned().unwrap_or_default()
}

/// The plan's steps as the sandbox has them.
fn plan_steps(sb: &TestSandbox, m: &Mission) -> Vec<Value> {
    let r = call(sb, "GET", &format!("/v1/missions/{}/runs/{}/plan", m.mission_id, m.run_id), None);
    r.json["data"].as_array().cloned().unwrap_or_default()
}

/// Every API request the sandbox received (the control API is not logged).
fn requests(sb: &TestSandbox) -> Vec<Value> {
    sb.control_get("requests")["requests"].as_array().cloned().unwrap_or_default()
}

/// The statuses PATCHed onto a plan step, in order (successful requests only).
fn step_patches(sb: &TestSandbox, m: &Mission, step: &str) -> Vec<String> {
    let path = format!("/v1/missions/{}/runs/{}/plan/steps/{step}", m.mission_id, m.run_id);
    requests(sb)
        .iter()
        .filter(|r| r["method"] == "PATCH" && r["path"] == path.as_str() && r["status"].as_u64() < Some(300))
        .map(|r| r["body"]["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A clawdtalk command (not poll) against the sandbox and the test's state file.
fn cli(env: &Sandboxed, sb: &TestSandbox, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"));
    c.env_clear()
        .env("HOME", env.home())
        .env("XDG_DATA_HOME", env.home().join(".local/share"))
        .env("XDG_CONFIG_HOME", env.home().join(".config"))
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", TEST_KEY)
        .env("NO_COLOR", "1")
        .current_dir(env.work())
        .arg("--state")
        .arg(state_file(env))
        .args(args);
    c.output().unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
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

/// A finished sweep: the sandbox (still running), the test's files, the mission.
struct Swept {
    sb: TestSandbox,
    env: Sandboxed,
    m: Mission,
    out: std::process::Output,
}

/// The sweep of the issue: …06 answers, …05 is busy once then answers, …04
/// goes to voicemail, polled with `--watch` until nothing is pending.
fn run_sweep(opts: SandboxOptions, extra: &[&str]) -> Swept {
    let sb = TestSandbox::with(opts);
    let env = Sandboxed::new();
    let targets = ["+15005550006", "+15005550005", "+15005550004"];
    let m = setup_mission(&sb, &env, "sweep", &targets, &["calls"]);
    let out = watch(&env, &sb, extra);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Swept { sb, env, m, out }
}

/// The final mission entry, the run status and how often …05 was called.
fn sweep(opts: SandboxOptions, extra: &[&str]) -> (Value, String, usize) {
    let s = run_sweep(opts, extra);
    (entry(&s.env, &s.m), run_status(&s.sb, &s.m), events_to(&s.sb, &s.m, "+15005550005"))
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
    let s = run_sweep(fast(), &[]);
    let (sb, m) = (&s.sb, &s.m);
    let e = entry(&s.env, m);
    assert_sweep_succeeded(&e, &run_status(sb, m), events_to(sb, m, "+15005550005"));

    // The run's events, read back from the service.
    let events = run_events(sb, m);
    let ids = event_ids(&s.env, m);
    assert_eq!(ids.len(), 4, "three targets and one retry");
    let status_logs: Vec<&Value> = events
        .iter()
        .filter(|ev| ev["type"] == "custom" && ev["payload"].get("status").is_some())
        .filter(|ev| ev["payload"].get("retry_of").is_none())
        .collect();
    for id in &ids {
        let mine: Vec<&&Value> = status_logs.iter().filter(|ev| ev["payload"]["event_id"] == id.as_str()).collect();
        assert!(!mine.is_empty(), "a status-change event for {id}: {events:#?}");
        assert!(mine.iter().all(|ev| ev["payload"].get("call_status").is_some()), "{mine:#?}");
        let last = mine.last().unwrap();
        assert!(last["summary"].as_str().unwrap().contains(&format!("event_id={id}")), "{last}");
        // Each change is logged once.
        let mut seen: Vec<(Value, Value)> =
            mine.iter().map(|ev| (ev["payload"]["status"].clone(), ev["payload"]["call_status"].clone())).collect();
        let n = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), n, "no change logged twice: {mine:#?}");
    }
    let busy = status_logs
        .iter()
        .find(|ev| ev["payload"]["event_id"] == ids[1].as_str() && ev["payload"]["call_status"] == "busy")
        .unwrap_or_else(|| panic!("the busy attempt is logged with its call_status: {events:#?}"));
    assert_eq!(busy["payload"]["status"], "failed");
    assert!(status_logs.iter().any(|ev| ev["payload"]["event_id"] == ids[0].as_str()
        && ev["payload"]["status"] == "completed"
        && ev["payload"]["call_status"] == "completed"));
    let retries: Vec<&Value> =
        events.iter().filter(|ev| ev["type"] == "custom" && ev["payload"].get("retry_of").is_some()).collect();
    assert_eq!(retries.len(), 1, "one run event per retry: {events:#?}");
    assert_eq!(retries[0]["payload"]["retry_of"], ids[1].as_str());
    assert_eq!(retries[0]["payload"]["attempt"], 2);
    assert!(events.iter().any(|ev| ev["type"] == "step_started" && ev["step_id"] == "calls"), "{events:#?}");
    assert!(events.iter().any(|ev| ev["type"] == "step_completed" && ev["step_id"] == "calls"), "{events:#?}");

    // The plan step went in_progress, then completed.
    assert_eq!(step_patches(sb, m, "calls"), vec!["in_progress", "completed"]);
    assert_eq!(plan_steps(sb, m)[0]["status"], "completed");

    // Progress while waiting: plain lines (stderr is not a terminal).
    let err = String::from_utf8_lossy(&s.out.stderr);
    assert!(err.contains("/3 targets settled; next check in "), "{err}");

    // Each status change is told once, not again when only the insights
    // of the call arrived on a later poll: on stdout only, as it happens,
    // each line starting with its RFC 3339 time (stdout is not a terminal).
    let out = String::from_utf8_lossy(&s.out.stdout);
    let ended: Vec<&str> = out.lines().filter(|l| l.ends_with(": completed (completed)")).collect();
    assert_eq!(ended.len(), 3, "one line per completed call:\n{out}");
    assert!(!err.contains("completed (completed)"), "changes are not printed twice (stderr too):\n{err}");
    for l in out.lines() {
        let (time, rest) = l.split_once(' ').unwrap_or_default();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "an RFC 3339 time first: {l:?}");
        assert!(rest.starts_with("sweep: "), "{l:?}");
    }
    assert!(!out.contains("events pending") && !out.contains("event pending"), "no count lines in a watch:\n{out}");
    assert!(out.lines().last().unwrap_or_default().contains("mission ended: succeeded"), "{out}");
}

#[test]
fn auto_sync_on_the_server_changes_nothing_in_the_outcome() {
    let (e, run, n) = sweep(SandboxOptions { auto_sync: true, ..fast() }, &[]);
    assert_sweep_succeeded(&e, &run, n);
}

#[test]
fn a_failing_service_still_ends_with_the_same_results() {
    let s = run_sweep(SandboxOptions { fail_rate: 0.3, seed: Some(7), ..fast() }, &[]);
    let e = entry(&s.env, &s.m);
    assert_sweep_succeeded(&e, &run_status(&s.sb, &s.m), events_to(&s.sb, &s.m, "+15005550005"));
    assert!(e.get("poll_outbox").is_none(), "every run event was sent before the mission closed: {e:#}");
    // Polls that stopped halfway and ran again logged each step change once.
    let events = run_events(&s.sb, &s.m);
    for kind in ["step_started", "step_completed"] {
        assert_eq!(events.iter().filter(|ev| ev["type"] == kind).count(), 1, "{kind}: {events:#?}");
    }
    let retries = events.iter().filter(|ev| ev["type"] == "custom" && ev["payload"].get("retry_of").is_some()).count();
    assert_eq!(retries, 1, "{events:#?}");
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

    // Read back from the service: every busy attempt logged, two retries, the exhausted target as an error.
    let events = run_events(&sb, &m);
    let busy = events
        .iter()
        .filter(|ev| {
            ev["type"] == "custom" && ev["payload"]["call_status"] == "busy" && ev["payload"]["status"] == "failed"
        })
        .count();
    assert_eq!(busy, 3, "{events:#?}");
    let retries = events.iter().filter(|ev| ev["type"] == "custom" && ev["payload"].get("retry_of").is_some()).count();
    assert_eq!(retries, 2, "{events:#?}");
    let errors: Vec<&Value> = events.iter().filter(|ev| ev["type"] == "error").collect();
    assert!(
        errors.iter().any(|ev| ev["summary"].as_str().unwrap().contains("failed: busy on all 3 attempts")
            && ev["payload"]["attempts"] == 3),
        "an error event for the exhausted target: {errors:#?}"
    );
    assert!(errors.iter().any(|ev| ev["step_id"] == "calls" && ev["payload"]["status"] == "failed"), "{errors:#?}");
    assert_eq!(step_patches(&sb, &m, "calls"), vec!["in_progress", "failed"]);
    assert_eq!(plan_steps(&sb, &m)[0]["status"], "failed");
}

#[test]
fn a_failed_step_cancels_the_runs_far_events_and_fails_the_run_naming_the_step() {
    let sb = TestSandbox::with(fast());
    let env = Sandboxed::new();
    // `calls` can only fail; `followup` has a call scheduled a day ahead.
    let m = setup_mission_with(
        &sb,
        &env,
        "doomed",
        &[("+15005550001", "calls", 61), ("+15005550006", "followup", 86_400)],
        &["calls", "followup"],
    );
    let far = event_ids(&env, &m)[1].clone();
    let out = watch(&env, &sb, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(run_status(&sb, &m), "failed");
    let e = entry(&env, &m);
    assert_eq!(e["memory"]["result"]["status"], "failed", "{e:#}");
    assert_eq!(e["memory"]["result"]["failed_step"], "calls");
    assert!(e["memory"]["result"]["reason"].as_str().unwrap().contains("step calls failed"), "{e:#}");
    // The far event was cancelled on the service (DELETE accepted, gone from the list).
    let path = format!("/v1/assistants/{}/events/{far}", m.assistant_id);
    let deletes: Vec<Value> =
        requests(&sb).into_iter().filter(|r| r["method"] == "DELETE" && r["path"] == path.as_str()).collect();
    assert!(deletes.iter().any(|r| r["status"].as_u64() < Some(300)), "{deletes:#?}");
    assert_eq!(events_to(&sb, &m, "+15005550006"), 0, "the day-ahead call will not ring");
    let recs = e["memory"]["scheduled_events"].as_array().unwrap().clone();
    let rec = recs.iter().find(|r| r["event_id"] == far.as_str()).unwrap();
    assert_eq!((rec["status"].as_str(), rec["outcome"].as_str()), (Some("cancelled"), Some("cancelled")), "{rec:#}");
    assert_eq!(plan_steps(&sb, &m)[1]["status"], "pending", "the other step is not touched");
}

#[test]
fn bot_steps_are_left_to_the_bot_and_the_poll_after_the_bot_finishes_ends_the_run() {
    let sb = TestSandbox::with(fast());
    let env = Sandboxed::new();
    let targets = ["+15005550006", "+15005550005", "+15005550004"];
    let m = setup_mission(&sb, &env, "leftover", &targets, &["calls", "analyze"]);
    let out = watch(&env, &sb, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("calls done; step analyze is yours"), "{}", text(&out));
    assert_eq!(run_status(&sb, &m), "running", "the run stays open for the bot");
    let e = read_state(&env)["leftover"].clone();
    assert!(e.is_object(), "still active");
    assert!(e["memory"]["scheduled_events"].as_array().unwrap().iter().all(|r| r["settled"] == true), "{e:#}");
    assert_eq!(plan_steps(&sb, &m)[0]["status"], "completed");

    // Calls done, step still the bot's: a poll says so and changes nothing.
    let out = poll_cmd(&env, &sb).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("calls done; step analyze is yours"), "{}", text(&out));
    assert_eq!(run_status(&sb, &m), "running");

    // The bot finishes its step; the next poll ends the run and archives.
    let out = cli(&env, &sb, &["plan", "update-step", &m.mission_id, &m.run_id, "analyze", "completed"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = poll_cmd(&env, &sb).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("mission ended: succeeded"), "{}", text(&out));
    assert_eq!(run_status(&sb, &m), "succeeded");
    let s = read_state(&env);
    assert!(s.get("leftover").is_none(), "archived");
    let e = &s["_archive"][&m.mission_id];
    assert_eq!(e["memory"]["result"]["status"], "succeeded", "{e:#}");
    assert!(e.get("poll_awaiting").is_none(), "{e:#}");
}

#[test]
fn events_hours_ahead_cost_no_request() {
    let sb = TestSandbox::with(fast());
    let env = Sandboxed::new();
    let m = setup_mission_with(&sb, &env, "later", &[("+15005550006", "calls", 4 * 3600)], &["calls"]);
    sb.call_as(None, "DELETE", "/_sandbox/requests", None);
    for first in [true, false] {
        let out = poll_cmd(&env, &sb).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("nothing due; next event at"), "{}", text(&out));
        let lines: Vec<String> = requests(&sb)
            .iter()
            .map(|r| {
                format!(
                    "{} {}?{}",
                    r["method"].as_str().unwrap(),
                    r["path"].as_str().unwrap(),
                    r["query"].as_str().unwrap()
                )
            })
            .collect();
        // The first poll has no sample of the service's clock yet: the one
        // cheapest read takes one (kept in the data dir for the next poll).
        let want: &[&str] = if first { &["GET /v1/missions?page[size]=1"] } else { &[] };
        assert_eq!(lines, want, "no API request for a mission with nothing due (first poll: {first})");
        sb.call_as(None, "DELETE", "/_sandbox/requests", None);
    }
    assert_eq!(run_status(&sb, &m), "running");
}

#[test]
fn a_poll_started_while_another_holds_the_lock_exits_at_once_saying_so() {
    use fs4::fs_std::FileExt;
    let sb = TestSandbox::with(fast());
    let env = Sandboxed::new();
    setup_mission(&sb, &env, "locked", &["+15005550006"], &["calls"]);
    sb.call_as(None, "DELETE", "/_sandbox/requests", None);
    let mut lock_path = state_file(&env).into_os_string();
    lock_path.push(".poll.lock");
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).unwrap();
    FileExt::lock_exclusive(&lock).unwrap();
    let start = Instant::now();
    let mut child = poll_cmd(&env, &sb).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // A bound against a poll that waits for the lock (not a speed assertion).
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("poll waited for the lock instead of exiting");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    FileExt::unlock(&lock).unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("another poll is running"), "{}", text(&out));
    assert_eq!(requests(&sb), Vec::<Value>::new(), "the second poll sent nothing");
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
fn mission_status_shows_each_step_and_target_with_attempts_call_status_and_insights() {
    let s = run_sweep(fast(), &[]);
    let out = cli(&s.env, &s.sb, &["mission", "status", "sweep", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["run_status"], "succeeded");
    assert_eq!(doc["archived"], true);
    assert_eq!(doc["steps"], json!([{"step_id": "calls", "status": "completed", "events": 4}]));
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "{doc:#}");
    for (to, attempts, insight) in [
        ("+15005550006", 1, "Spoke with +15005550006"),
        ("+15005550005", 2, "Spoke with +15005550005"),
        ("+15005550004", 1, "voicemail of +15005550004"),
    ] {
        let x = targets.iter().find(|t| t["to"] == to).unwrap_or_else(|| panic!("{to} in {doc:#}"));
        assert_eq!(x["attempts"], attempts, "{x:#}");
        assert_eq!(x["call_status"], "completed", "{x:#}");
        assert_eq!(x["outcome"], "succeeded", "{x:#}");
        assert_eq!(x["step_id"], "calls");
        assert!(x["insights"].as_str().unwrap().contains(insight), "{x:#}");
    }

    let out = cli(&s.env, &s.sb, &["mission", "status", "sweep"]);
    assert!(out.status.success(), "{}", text(&out));
    let txt = String::from_utf8_lossy(&out.stdout).to_string();
    let row = |needle: &str| -> Vec<String> {
        let line = txt.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no row with {needle}: {txt}"));
        line.split_whitespace().map(String::from).collect()
    };
    assert!(txt.contains("succeeded") && txt.contains("(archived)"), "{txt}");
    assert_eq!(row("ATTEMPTS")[..3], ["STEP", "TO", "STATUS"], "{txt}");
    let step = txt.lines().find(|l| l.starts_with("calls") && !l.contains('+')).unwrap_or_else(|| panic!("{txt}"));
    assert_eq!(step.split_whitespace().collect::<Vec<_>>(), ["calls", "completed", "4"], "{txt}");
    assert_eq!(row("+15005550005")[..5], ["calls", "+15005550005", "succeeded", "completed", "2"], "{txt}");
    assert!(txt.lines().any(|l| l.contains("+15005550005") && l.contains("Spoke with +15005550005")), "{txt}");
    assert_eq!(row("+15005550004")[..5], ["calls", "+15005550004", "succeeded", "completed", "1"], "{txt}");
}

#[test]
fn mission_cancel_stops_pending_events_and_the_run() {
    let sb = TestSandbox::start();
    let env = Sandboxed::new();
    let m = setup_mission(&sb, &env, "later", &["+15005550006", "+15005550002"], &["calls"]);
    let out = cli(&env, &sb, &["mission", "status", "later", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["run_status"], "running");
    assert_eq!(doc["targets"].as_array().unwrap().len(), 2);
    assert_eq!(doc["targets"][0]["attempts"], 1);
    assert_eq!(doc["pending_events"], 2);

    let out = cli(&env, &sb, &["mission", "cancel", "later"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Cancelled 2 scheduled events"), "{}", text(&out));
    assert_eq!(run_status(&sb, &m), "cancelled");
    assert_eq!(events_to(&sb, &m, "+15005550006"), 0, "removed from the service");
    let e = entry(&env, &m);
    assert_eq!(e["memory"]["result"]["status"], "cancelled");
    // Archived: status still shows it; poll leaves it alone.
    let out = cli(&env, &sb, &["mission", "status", "later", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["archived"], true);
}

#[test]
fn mission_cancel_pending_only_keeps_the_run_and_poll_completes_it_from_the_calls_made() {
    let sb = TestSandbox::start();
    let env = Sandboxed::new();
    let m = setup_mission_with(
        &sb,
        &env,
        "early",
        &[("+15005550006", "calls", 61), ("+15005550002", "calls", 3600)],
        &["calls"],
    );
    let ids = event_ids(&env, &m);
    // The first call is answered and its insights are ready; the second is an hour away.
    sb.advance(200.0);
    let out = cli(&env, &sb, &["mission", "cancel", "early", "--pending-only"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("Cancelled 1 scheduled event for mission 'early'"), "{t}");
    assert!(t.contains("The run stays open"), "{t}");
    let path = format!("/v1/assistants/{}/events/{}", m.assistant_id, ids[1]);
    assert!(requests(&sb).iter().any(|r| r["method"] == "DELETE" && r["path"] == path.as_str()));
    assert_eq!(events_to(&sb, &m, "+15005550002"), 0, "the unstarted call is cancelled");
    assert_eq!(events_to(&sb, &m, "+15005550006"), 1, "the answered call is left alone");
    assert_eq!(run_status(&sb, &m), "running");
    assert!(read_state(&env).get("early").is_some(), "still active");

    let out = poll_cmd(&env, &sb).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(run_status(&sb, &m), "succeeded", "{}", text(&out));
    let e = entry(&env, &m);
    assert_eq!(e["memory"]["result"]["status"], "succeeded", "{e:#}");
    assert!(e["memory"]["insights"].get(&ids[0]).is_some(), "the answered call's insights are saved: {e:#}");
    assert_eq!(plan_steps(&sb, &m)[0]["status"], "completed");
}

#[test]
fn mission_cancel_keeps_a_ringing_call_tracked_and_poll_records_its_end() {
    let sb = TestSandbox::start();
    let env = Sandboxed::new();
    let m = setup_mission_with(
        &sb,
        &env,
        "ringing",
        &[("+15005550006", "calls", 61), ("+15005550002", "calls", 3600)],
        &["calls"],
    );
    let ids = event_ids(&env, &m);
    // The first call is under way (it lasts about 45 s after 6 s of ringing).
    sb.advance(70.0);
    let out = cli(&env, &sb, &["mission", "cancel", "ringing"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("Cancelled 1 scheduled event"), "{t}");
    assert!(t.contains("still tracked") && t.contains(&ids[0]), "{t}");
    assert_eq!(run_status(&sb, &m), "cancelled");
    let call_path = format!("/v1/assistants/{}/events/{}", m.assistant_id, ids[0]);
    let cut = requests(&sb).iter().any(|r| r["method"] == "DELETE" && r["path"] == call_path.as_str());
    assert!(!cut, "the call under way is not cut off");
    let s = read_state(&env);
    assert!(s.get("ringing").is_some(), "active until poll has the call's outcome");
    assert_eq!(s["ringing"]["memory"]["result"]["status"], "cancelled");

    // The call ends and its insights come in; poll records both, then archives.
    sb.advance(120.0);
    let out = poll_cmd(&env, &sb).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("mission ended: cancelled"), "{}", text(&out));
    let e = entry(&env, &m);
    let recs = e["memory"]["scheduled_events"].as_array().unwrap().clone();
    let rec = recs.iter().find(|r| r["event_id"] == ids[0].as_str()).unwrap();
    assert_eq!((rec["status"].as_str(), rec["call_status"].as_str()), (Some("completed"), Some("completed")), "{e:#}");
    let ins = &e["memory"]["insights"][&ids[0]];
    assert_eq!(ins["status"], "completed", "{e:#}");
    assert!(ins["results"][0].as_str().unwrap().contains("Spoke with +15005550006"), "{e:#}");
    assert_eq!(e["memory"]["result"]["status"], "cancelled");
    assert!(e["memory"]["result"]["reason"].as_str().unwrap().contains("mission cancel"), "{e:#}");
    assert_eq!(run_status(&sb, &m), "cancelled", "never regressed");
    let logged = run_events(&sb, &m)
        .iter()
        .any(|ev| ev["payload"]["event_id"] == ids[0].as_str() && ev["payload"]["status"] == "completed");
    assert!(logged, "the call's end is logged to the run");
}
