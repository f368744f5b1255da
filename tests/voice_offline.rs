//! Voice with no OpenClaw gateway: `clawdtalk sandbox --agent echo` serves
//! the stand-in agent, `connect run` routes calls to it and `sandbox
//! call-in` shows the round trip; without an agent, call-in fails and says why.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Sandboxed, TEST_KEY};
use serde_json::Value;

/// A child process that is killed (and reaped) when the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `clawdtalk sandbox ARGS`; returns it with its `export NAME=VALUE` lines.
fn sandbox(t: &Sandboxed, args: &[&str]) -> (Reaped, Vec<(String, String)>, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"))
        .arg("sandbox")
        .args(args)
        .env_clear()
        .env("HOME", t.home())
        .current_dir(t.work())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let root = first.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).unwrap().to_string();
    let mut exports = Vec::new();
    loop {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap() == 0 {
            break;
        }
        let Some((k, v)) = l.trim_end().strip_prefix("export ").and_then(|kv| kv.split_once('=')) else { break };
        exports.push((k.to_string(), v.to_string()));
        if k == "CLAWDTALK_GATEWAY_TOKEN" || (k == "AGENTPHONE_API_KEY" && !args.contains(&"--agent")) {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (Reaped(child), exports, root)
}

/// `clawdtalk connect run` against the sandbox with `env`, waiting until the sandbox sees it.
fn connect(t: &Sandboxed, root: &str, env: &[(String, String)]) -> Reaped {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"));
    cmd.args(["connect", "run"])
        .env_clear()
        .env("HOME", t.home())
        .env("CLAWDTALK_RUNTIME_DIR", t.path().join("run"))
        .current_dir(t.work())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = Reaped(cmd.spawn().unwrap());
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let clients = rt.block_on(async {
            let r = reqwest::get(format!("{root}/_sandbox/ws/received")).await.ok()?;
            r.json::<Value>().await.ok().map(|v| v["clients"].clone())
        });
        if clients == Some(Value::from(1)) {
            return child;
        }
        assert!(Instant::now() < end, "connect never reached the sandbox");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn call_in_through_the_echo_agent_prints_the_echoed_answer() {
    let t = Sandboxed::new();
    let (_sb, exports, root) = sandbox(&t, &["--agent", "echo"]);
    let names: Vec<&str> = exports.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"CLAWDTALK_GATEWAY_URL") && names.contains(&"CLAWDTALK_GATEWAY_TOKEN"), "{exports:?}");
    let gateway = &exports.iter().find(|(k, _)| k == "CLAWDTALK_GATEWAY_URL").unwrap().1;
    assert_eq!(gateway, &format!("{root}/agent"));
    let _connect = connect(&t, &root, &exports);
    let mut call_in = t.cmd();
    for (k, v) in &exports {
        call_in.env(k, v);
    }
    let out = call_in.args(["sandbox", "call-in", "what is on my calendar"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(stdout, "You said: what is on my calendar\n");
    // The gateway URL itself answers, so `status` sees the agent up.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let health: Value = rt.block_on(async { reqwest::get(gateway).await.unwrap().json().await.unwrap() });
    assert_eq!(health, serde_json::json!({"ok": true, "agent": "echo"}));
}

#[test]
fn call_in_without_a_reachable_agent_exits_1_and_says_why() {
    let t = Sandboxed::new();
    let (_sb, mut exports, root) = sandbox(&t, &[]);
    assert!(exports.iter().all(|(k, _)| !k.starts_with("CLAWDTALK_GATEWAY")), "{exports:?}");
    exports.push(("CLAWDTALK_API_KEY".into(), TEST_KEY.into()));
    // Nothing listens on port 9: the gateway is unreachable.
    exports.push(("CLAWDTALK_GATEWAY_URL".into(), "http://127.0.0.1:9".into()));
    let _connect = connect(&t, &root, &exports);
    let out = t.cmd().args(["sandbox", "call-in", "hello", "--url", &root]).assert().code(1).stdout("");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("the agent behind it did not answer"), "{stderr}");
    assert!(stderr.contains("--agent echo"), "{stderr}");
}

/// GET or POST (with `body`) a sandbox URL; its JSON.
fn http(url: &str, body: Option<Value>) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let r = match body {
            Some(b) => c.post(url).json(&b).send().await,
            None => c.get(url).send().await,
        };
        r.unwrap().json::<Value>().await.unwrap()
    })
}

/// Poll `f` every 50 ms until it gives a value, for at most `within`.
fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the sandbox's stand-in agent received in its main session (our messages).
fn agent_inbox(root: &str) -> Vec<String> {
    let t = http(&format!("{root}/_sandbox/agent/transcripts"), None);
    let msgs = t["sessions"]["agent:main:main"].as_array().cloned().unwrap_or_default();
    msgs.iter().filter(|m| m["role"] == "user").filter_map(|m| m["text"].as_str().map(str::to_string)).collect()
}

#[test]
fn a_pending_agent_is_never_heard_as_done_and_its_late_reply_is_spoken_on_the_live_call() {
    let t = Sandboxed::new();
    let (_sb, exports, root) = sandbox(&t, &["--agent", "pending", "--speed", "10"]);
    let _connect = connect(&t, &root, &exports);
    let mut call_in = t.cmd();
    for (k, v) in &exports {
        call_in.env(k, v);
    }
    let out = call_in.args(["--json", "sandbox", "call-in", "what is on my calendar"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let v = if v.get("answer").is_some() { v } else { v["data"].clone() };
    assert_eq!(v["progress"], serde_json::json!(["I've asked; it's still working on it."]), "{stdout}");
    assert_eq!(v["answer"], "You said: what is on my calendar", "the late reply, found in sessions_history");
    assert!(!stdout.contains("Done.") && !stdout.contains("runId"), "{stdout}");
}

/// `sandbox call-in QUESTION --json` against a sandbox and connect started with `args`: (answer, progress).
fn call_in_with(args: &[&str], question: &str) -> (Value, Value) {
    let t = Sandboxed::new();
    let (_sb, exports, root) = sandbox(&t, args);
    let _connect = connect(&t, &root, &exports);
    let mut call_in = t.cmd();
    for (k, v) in &exports {
        call_in.env(k, v);
    }
    let out = call_in.args(["--json", "sandbox", "call-in", question]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let v = if v.get("answer").is_some() { v } else { v["data"].clone() };
    (v["answer"].clone(), v["progress"].clone())
}

#[test]
fn a_timed_out_wait_is_heard_as_the_truth_and_the_reply_from_history_follows() {
    let (answer, progress) = call_in_with(&["--agent", "slow", "--speed", "100"], "find my passport");
    assert_eq!(progress, serde_json::json!(["I've asked; it's still working on it."]));
    assert_eq!(answer, "You said: find my passport");
}

#[test]
fn a_run_that_ends_without_a_reply_is_said_to_have_sent_none() {
    let (answer, progress) = call_in_with(&["--agent", "no_reply"], "are you there");
    assert_eq!(answer, "I passed that on, but it didn't send a reply.");
    assert_eq!(progress, serde_json::json!([]));
}

#[test]
fn a_late_reply_after_the_call_ended_is_texted_to_the_owner_and_put_in_the_call_report() {
    let t = Sandboxed::new();
    std::fs::write(t.work().join("skill-config.json"), r#"{"owner_phone":"+15550109999"}"#).unwrap();
    let (_sb, exports, root) = sandbox(&t, &["--agent", "pending"]);
    let _connect = connect(&t, &root, &exports);
    let inject = |event: Value| http(&format!("{root}/_sandbox/ws/inject"), Some(serde_json::json!({"event": event})));
    inject(
        serde_json::json!({"event": "call.started", "call_id": "c-late", "direction": "inbound", "from": "+15550109999"}),
    );
    inject(serde_json::json!({"event": "deep_tool_request", "call_id": "c-late", "request_id": "r-late",
        "query": "book the dentist"}));
    eventually("the holding line", Duration::from_secs(10), || {
        let got = http(&format!("{root}/_sandbox/ws/received"), None);
        let msgs = got["messages"].as_array().cloned().unwrap_or_default();
        msgs.iter().find(|m| m["type"] == "deep_tool_progress" && m["request_id"] == "r-late").cloned()
    });
    // The caller hangs up before the agent's reply is in the transcript (3 s later).
    inject(serde_json::json!({"event": "call.ended", "call_id": "c-late", "direction": "inbound",
        "from_number": "+15550109999", "duration_seconds": 4}));
    let sms = eventually("the late reply texted to the owner", Duration::from_secs(20), || {
        let sent = http(&format!("{root}/_sandbox/messages/sent"), None);
        sent["messages"].as_array().cloned().unwrap_or_default().into_iter().find(|m| m["to"] == "+15550109999")
    });
    assert_eq!(sms["body"], "You said: book the dentist", "{sms}");
    let report = eventually("the call report with the late reply", Duration::from_secs(10), || {
        agent_inbox(&root).into_iter().find(|m| m.starts_with("[ClawdTalk]"))
    });
    assert!(
        report.contains("Late reply to \"book the dentist\"") && report.contains("You said: book the dentist"),
        "{report}"
    );
    assert!(report.contains("texted to the owner"), "{report}");
    // Journaled, with how it was delivered.
    let mut tail = t.cmd();
    for (k, v) in &exports {
        tail.env(k, v);
    }
    let out = tail.args(["tail", "--json", "--kind", "call"]).assert().success();
    let journal = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let late: Value = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "reply.late")
        .unwrap_or_else(|| panic!("no reply.late in {journal}"));
    assert_eq!((late["status"].as_str(), late["call_id"].as_str()), (Some("texted to the owner"), Some("c-late")));
    // What the caller heard was the truth, never "Done."
    let got = http(&format!("{root}/_sandbox/ws/received"), None);
    let result = got["messages"].as_array().unwrap().iter().find(|m| m["type"] == "deep_tool_result").cloned().unwrap();
    assert_ne!(result["text"], "Done.");
}

#[test]
fn an_sms_with_no_reply_yet_gets_nothing_invented_and_then_the_late_reply() {
    let t = Sandboxed::new();
    let (_sb, exports, root) = sandbox(&t, &["--agent", "pending", "--speed", "10"]);
    let _connect = connect(&t, &root, &exports);
    http(
        &format!("{root}/_sandbox/sms/inject"),
        Some(serde_json::json!({"from": "+15550104444", "body": "what time is dinner"})),
    );
    let sms = eventually("the late SMS reply", Duration::from_secs(15), || {
        let sent = http(&format!("{root}/_sandbox/messages/sent"), None);
        sent["messages"].as_array().cloned().unwrap_or_default().into_iter().find(|m| m["to"] == "+15550104444")
    });
    assert!(
        sms["body"].as_str().unwrap().starts_with("You said: [SMS from +15550104444] what time is dinner"),
        "{sms}"
    );
    let sent = http(&format!("{root}/_sandbox/messages/sent"), None);
    assert_eq!(sent["messages"].as_array().unwrap().len(), 1, "only the real reply was sent: {sent}");
}

#[test]
fn push_to_talk_with_no_reply_yet_is_answered_with_the_late_reply() {
    let t = Sandboxed::new();
    let (_sb, exports, root) = sandbox(&t, &["--agent", "pending", "--speed", "10"]);
    let _connect = connect(&t, &root, &exports);
    let event = serde_json::json!({"event": "walkie_request", "request_id": "w-1", "transcript": "turn on the lights"});
    http(&format!("{root}/_sandbox/ws/inject"), Some(serde_json::json!({ "event": event })));
    let answer = eventually("the walkie_response", Duration::from_secs(15), || {
        let got = http(&format!("{root}/_sandbox/ws/received"), None);
        let msgs = got["messages"].as_array().cloned().unwrap_or_default();
        msgs.into_iter().find(|m| m["type"] == "walkie_response" && m["request_id"] == "w-1")
    });
    assert_eq!(answer["reply"], "You said: turn on the lights", "{answer}");
}
