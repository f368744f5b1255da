//! Mission reports to the agent (docs/missions.md#reports-to-the-agent), end
//! to end: the built binary's `poll` against the in-process sandbox (fast
//! clock) and its stand-in gateway (`--agent echo`), which keeps every
//! `sessions_send` it receives for the test to count by report id.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use clawdtalk::sandbox::agent::{AgentMode, GATEWAY_TOKEN};
use common::missions::{call, clawdtalk, entry, poll_cmd, setup_mission, Mission};
use common::sandbox::{SandboxOptions, TestSandbox};
use common::Sandboxed;

fn sandbox(agent: bool) -> TestSandbox {
    TestSandbox::with(SandboxOptions {
        speed: 300.0,
        agent: agent.then_some(AgentMode::Echo),
        ..SandboxOptions::default()
    })
}

/// `poll` with the sandbox's stand-in gateway configured.
fn poll(env: &Sandboxed, sb: &TestSandbox) -> Command {
    let mut c = poll_cmd(env, sb);
    c.env("CLAWDTALK_GATEWAY_URL", format!("{}/agent", sb.root)).env("CLAWDTALK_GATEWAY_TOKEN", GATEWAY_TOKEN);
    c
}

fn run(c: &mut Command) -> Output {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// `poll --watch` until nothing is pending (bounded).
fn watch(mut c: Command) -> Output {
    c.args(["--watch", "--interval", "0.1"]);
    let start = Instant::now();
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("poll --watch did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The report ids the stand-in gateway received, in order.
fn received(sb: &TestSandbox) -> Vec<String> {
    let r = sb.call("GET", "/agent/received", None);
    let list = r.json["messages"].as_array().cloned().unwrap_or_default();
    list.iter()
        .filter(|m| m["timeoutSeconds"] == json!(0) && m["sessionKey"] == "agent:main:main")
        .filter_map(|m| m["message"].as_str()?.split_whitespace().nth(1)?.strip_prefix("report=").map(String::from))
        .collect()
}

fn count(ids: &[String], id: &str) -> usize {
    ids.iter().filter(|i| *i == id).count()
}

/// The mission's reports as kept in the state file.
fn reports(env: &Sandboxed, m: &Mission) -> Vec<Value> {
    entry(env, m)["agent_reports"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_mission_polled_to_its_end_reports_each_change_once() {
    let sb = sandbox(true);
    let env = Sandboxed::new();
    let left = setup_mission(&sb, &env, "leftover", &["+15005550006"], &["calls", "analyze"]);
    let busy = setup_mission(&sb, &env, "busy", &["+15005550001"], &["calls"]);
    watch(poll(&env, &sb));
    let ids = received(&sb);
    assert_eq!(count(&ids, "leftover:bot_step:analyze"), 1, "{ids:?}");
    assert_eq!(ids.iter().filter(|i| i.starts_with("busy:target_failed:")).count(), 1, "{ids:?}");
    assert_eq!(count(&ids, &format!("busy:mission_finished:{}", busy.run_id)), 1, "{ids:?}");
    // The bot does its step: the next poll ends the mission and says so, once.
    let step = format!("/v1/missions/{}/runs/{}/plan/steps/analyze", left.mission_id, left.run_id);
    assert!(call(&sb, "PATCH", &step, Some(json!({"status": "completed"}))).status < 300);
    for _ in 0..3 {
        run(&mut poll(&env, &sb));
    }
    let ids = received(&sb);
    assert_eq!(count(&ids, &format!("leftover:mission_finished:{}", left.run_id)), 1, "{ids:?}");
    assert_eq!(ids.len(), 4, "one report per change, nothing else: {ids:?}");
    assert!(reports(&env, &left).iter().all(|r| r["status"] == "sent"), "{:?}", reports(&env, &left));
    assert!(entry(&env, &left).get("agent_reports_owed").is_none());
}

/// Start `poll --watch` that sleeps after sending each report, and SIGKILL
/// it once the gateway has `id` `n` times.
fn kill_after_send(env: &Sandboxed, sb: &TestSandbox, id: &str, n: usize) {
    let mut c = poll(env, sb);
    c.env("CLAWDTALK_TEST_PAUSE_AFTER_REPORT_SEND", "30").args(["--watch", "--interval", "0.1"]);
    let mut child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while count(&received(sb), id) < n {
        assert!(start.elapsed() < Duration::from_secs(30), "the report was never sent: {:?}", received(sb));
        assert!(child.try_wait().unwrap().is_none(), "poll ended before sending");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: between sending and marking
    child.wait().unwrap();
}

#[test]
fn a_poll_killed_between_sending_and_marking_resends_once_at_most() {
    let sb = sandbox(true);
    let env = Sandboxed::new();
    let m = setup_mission(&sb, &env, "kill", &["+15005550006"], &["calls"]);
    let id = format!("kill:mission_finished:{}", m.run_id);
    kill_after_send(&env, &sb, &id, 1);
    let r = reports(&env, &m);
    assert_eq!((r[0]["status"].as_str(), r[0]["claim"].is_object()), (Some("owed"), true), "{r:?}");
    // Its claim expires (75 s of service time, a quarter second here); the next poll sends it again.
    std::thread::sleep(Duration::from_millis(600));
    run(&mut poll(&env, &sb));
    assert_eq!(count(&received(&sb), &id), 2);
    assert_eq!(reports(&env, &m)[0]["status"], "sent");
    run(&mut poll(&env, &sb));
    assert_eq!(count(&received(&sb), &id), 2, "marked: never sent again");
}

#[test]
fn killed_twice_a_report_is_given_up_never_sent_a_third_time_and_listed() {
    let sb = sandbox(true);
    let env = Sandboxed::new();
    let m = setup_mission(&sb, &env, "twice", &["+15005550006"], &["calls"]);
    let id = format!("twice:mission_finished:{}", m.run_id);
    kill_after_send(&env, &sb, &id, 1);
    std::thread::sleep(Duration::from_millis(600));
    kill_after_send(&env, &sb, &id, 2);
    std::thread::sleep(Duration::from_millis(600));
    run(&mut poll(&env, &sb));
    run(&mut poll(&env, &sb));
    assert_eq!(count(&received(&sb), &id), 2);
    let r = reports(&env, &m);
    assert_eq!(r[0]["status"], "unsent", "{r:?}");
    let out = run(clawdtalk(&env, &sb).args(["--json", "mission", "status", "twice"]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["unsent_reports"][0]["id"], id.as_str(), "{doc:#}");
    assert_eq!(doc["unsent_reports"][0]["status"], "unsent", "{doc:#}");
}

#[test]
fn no_notify_the_config_key_and_no_gateway_send_nothing() {
    let sb = sandbox(true);
    // --no-notify
    let env = Sandboxed::new();
    let a = setup_mission(&sb, &env, "flag", &["+15005550006"], &["calls", "analyze"]);
    let mut c = poll(&env, &sb);
    c.arg("--no-notify");
    watch(c);
    // notify_agent = false in the config file
    let env2 = Sandboxed::new();
    let b = setup_mission(&sb, &env2, "key", &["+15005550006"], &["calls", "analyze"]);
    std::fs::write(env2.work().join("skill-config.json"), r#"{"notify_agent": false}"#).unwrap();
    watch(poll(&env2, &sb));
    // No gateway configured at all.
    let env3 = Sandboxed::new();
    let c3 = setup_mission(&sb, &env3, "none", &["+15005550006"], &["calls", "analyze"]);
    watch(poll_cmd(&env3, &sb));
    assert!(received(&sb).is_empty(), "{:?}", received(&sb));
    for (e, m) in [(&env, &a), (&env2, &b), (&env3, &c3)] {
        assert!(entry(e, m)["poll_awaiting"].is_object(), "the bot's step was reached: {:#}", entry(e, m));
        assert!(reports(e, m).is_empty(), "nothing owed: {:?}", reports(e, m));
    }
}

#[test]
fn with_the_gateway_down_mission_status_lists_the_unsent_report() {
    let sb = sandbox(false); // serves no stand-in agent: every sessions_send is refused
    let env = Sandboxed::new();
    let m = setup_mission(&sb, &env, "down", &["+15005550006"], &["calls"]);
    watch(poll(&env, &sb));
    let r = reports(&env, &m);
    assert_eq!((r.len(), r[0]["status"].as_str()), (1, Some("owed")), "kept for a later poll: {r:?}");
    let status = |json: bool| {
        let mut c = clawdtalk(&env, &sb);
        if json {
            c.arg("--json");
        }
        run(c.args(["mission", "status", "down"]))
    };
    let human = String::from_utf8_lossy(&status(false).stdout).into_owned();
    let id = format!("down:mission_finished:{}", m.run_id);
    assert!(human.contains("reports to the agent not sent:") && human.contains(&id), "{human}");
    let doc: Value = serde_json::from_slice(&status(true).stdout).unwrap();
    assert_eq!(doc["unsent_reports"][0]["id"], id.as_str(), "{doc:#}");
    assert!(doc["unsent_reports"][0]["error"].as_str().is_some_and(|e| !e.is_empty()), "{doc:#}");
}
