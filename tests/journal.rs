//! The event journal through the binary: producers append, `tail` reads,
//! `tail --follow --json` shows a new event within a second, also while
//! `connect` holds the sandbox's WebSocket.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::sandbox::TestSandbox;
use common::{Sandboxed, TEST_KEY};
use serde_json::{json, Value};

/// A child process that is killed (and reaped) when the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary in `t`'s home, pointed at the sandbox.
fn bin(t: &Sandboxed, sb: &TestSandbox) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", t.home())
        .env("XDG_DATA_HOME", t.home().join(".local/share"))
        .env("CLAWDTALK_RUNTIME_DIR", t.path().join("run"))
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", TEST_KEY)
        .env("NO_COLOR", "1")
        .current_dir(t.work());
    c
}

/// `tail --follow --json ARGS`, its stdout lines arriving on a channel.
fn follow(t: &Sandboxed, sb: &TestSandbox, args: &[&str]) -> (Reaped, mpsc::Receiver<String>) {
    let mut child = bin(t, sb)
        .args(["tail", "--follow", "--json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // Let it open the (not yet existing) journal and start polling.
    std::thread::sleep(Duration::from_millis(300));
    (Reaped(child), rx)
}

/// The first line within `within` whose event is `event`, and when it came.
fn wait_event(rx: &mpsc::Receiver<String>, event: &str, within: Duration) -> Option<(Value, Instant)> {
    let end = Instant::now() + within;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let line = rx.recv_timeout(left).ok()?;
        let v: Value = serde_json::from_str(&line).expect("each line is one JSON document");
        if v["event"] == event {
            return Some((v, Instant::now()));
        }
    }
    None
}

#[test]
fn tail_follow_json_shows_an_sms_sent_within_a_second() {
    let t = Sandboxed::new();
    let sb = TestSandbox::start();
    let (_tail, rx) = follow(&t, &sb, &["--kind", "sms"]);
    let out = bin(&t, &sb).args(["sms", "send", "+15551234567", "See you at 5"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent = Instant::now();
    let (v, seen) = wait_event(&rx, "sms.sent", Duration::from_secs(5)).expect("sms.sent shown");
    assert!(seen - sent < Duration::from_secs(1), "shown {:?} after the command ended", seen - sent);
    assert_eq!(v["kind"], "sms");
    assert_eq!(v["to"], "+1 ***4567", "masked");
    assert_eq!(v["text"], "See you at 5");
    assert!(v["ts"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn tail_without_follow_prints_what_is_there_and_filters_by_kind() {
    let t = Sandboxed::new();
    let sb = TestSandbox::start();
    assert!(bin(&t, &sb).args(["sms", "send", "+15551234567", "one"]).output().unwrap().status.success());
    assert!(bin(&t, &sb).args(["call", "--to", "+15557654321", "Hi"]).output().unwrap().status.success());
    let all = bin(&t, &sb).args(["tail"]).output().unwrap();
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(text.contains("sms.sent") && text.contains("call.placed"), "{text}");
    assert!(!text.contains("5551234567") && !text.contains("7654321"), "numbers are masked: {text}");
    let calls = bin(&t, &sb).args(["tail", "--json", "--kind", "call"]).output().unwrap();
    let lines: Vec<Value> =
        String::from_utf8_lossy(&calls.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event"], "call.placed");
}

#[test]
fn tail_refuses_an_unknown_kind_with_exit_2() {
    let t = Sandboxed::new();
    let sb = TestSandbox::start();
    let out = bin(&t, &sb).args(["tail", "--kind", "fax"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("valid kinds are"));
}

#[test]
fn tail_follow_json_shows_an_inbound_sms_within_a_second_while_connect_runs() {
    let t = Sandboxed::new();
    let sb = TestSandbox::start();
    let _connect =
        Reaped(bin(&t, &sb).args(["connect", "run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let end = Instant::now() + Duration::from_secs(15);
    while sb.control_get("ws/received")["clients"] != json!(1) {
        assert!(Instant::now() < end, "connect never reached the sandbox");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_tail, rx) = follow(&t, &sb, &[]);
    sb.control_post("sms/inject", json!({"from": "+15559876543", "body": "Are you free?"}));
    let injected = Instant::now();
    let (v, seen) = wait_event(&rx, "sms.received", Duration::from_secs(5)).expect("sms.received shown");
    assert!(seen - injected < Duration::from_secs(1), "shown {:?} after the injection", seen - injected);
    assert_eq!(v["from"], "+1 ***6543");
    assert_eq!(v["text"], "Are you free?");
}
