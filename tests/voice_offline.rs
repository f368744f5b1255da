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
