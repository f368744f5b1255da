//! Opt-outs end to end (docs/optout.md): a STOP text through `connect`
//! (the built binary against the in-process sandbox and a stand-in agent)
//! puts the number on the list, is confirmed once and never reaches the
//! agent, and the next `poll` cancels that number's pending event before it
//! rings; the binary refuses to text an opted-out number.

mod common;
#[path = "common/standins.rs"]
mod standins;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use common::sandbox::TestSandbox;
use common::{Sandboxed, TEST_KEY};
use standins::{wait_for, GatewayStandIn};

const CALLER: &str = "+15550001111";
const STOPPER: &str = "+15005550006";
const OTHER: &str = "+15005550004";

/// A child process that is killed (and reaped) when the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `clawdtalk ARGS` against the sandbox, with the test's home and state file.
fn cli(env: &Sandboxed, sb: &TestSandbox, args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"));
    c.env_clear()
        .env("HOME", env.home())
        .env("XDG_DATA_HOME", env.home().join(".local/share"))
        .env("XDG_CONFIG_HOME", env.home().join(".config"))
        .env("CLAWDTALK_RUNTIME_DIR", env.path().join("run"))
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", TEST_KEY)
        .env("NO_COLOR", "1")
        .current_dir(env.work())
        .arg("--state")
        .arg(env.path().join("state.json"))
        .args(args);
    c
}

fn optout_file(env: &Sandboxed) -> PathBuf {
    env.home().join(".local/share/clawdtalk/optout.json")
}

fn id(v: &Value) -> String {
    let d = v.get("data").unwrap_or(v);
    d.get("id").or_else(|| d.get("event_id")).and_then(Value::as_str).unwrap().to_string()
}

/// A mission on the sandbox with one call per number ten minutes ahead,
/// tracked in the state file as `schedule call --mission` records them.
/// Returns the assistant id and the event ids.
fn mission(env: &Sandboxed, sb: &TestSandbox, numbers: &[&str]) -> (String, Vec<String>) {
    let m = sb.call("POST", "/v1/missions", Some(json!({"name": "quotes", "instructions": "x"})));
    let mid = id(&m.json.get("mission").cloned().unwrap_or(m.json.clone()));
    let r = sb.call("POST", &format!("/v1/missions/{mid}/runs"), Some(json!({"input": {}})));
    let rd = r.json.get("data").or_else(|| r.json.get("run")).unwrap_or(&r.json).clone();
    let rid = rd.get("run_id").or_else(|| rd.get("id")).and_then(Value::as_str).unwrap().to_string();
    let plan = json!({"steps": [{"step_id": "calls", "description": "calls", "sequence": 1}]});
    sb.call("POST", &format!("/v1/missions/{mid}/runs/{rid}/plan"), Some(plan));
    let a = sb.call("POST", "/v1/assistants", Some(json!({"name": "caller", "instructions": "ask"})));
    let aid = id(&a.json.get("assistant").cloned().unwrap_or(a.json.clone()));
    let (mut records, mut ids) = (Vec::new(), Vec::new());
    for to in numbers {
        let at = TestSandbox::in_secs(600);
        let body = json!({"channel": "call", "to": to, "from": CALLER, "scheduled_at": at,
            "mission_id": mid, "run_id": rid, "step_id": "calls"});
        let e = sb.call("POST", &format!("/v1/assistants/{aid}/events"), Some(body));
        assert!(e.status < 300, "{e:?}");
        let eid = id(&e.json.get("event").cloned().unwrap_or(e.json.clone()));
        records.push(json!({"event_id": eid, "assistant_id": aid, "channel": "call", "to": to,
            "scheduled_at": at, "step_id": "calls", "status": "pending"}));
        ids.push(eid);
    }
    let state = json!({"quotes": {"mission_name": "quotes", "mission_id": mid, "run_id": rid,
        "created_at": "2026-01-01T00:00:00Z", "assistant_id": aid, "agent_phone": CALLER,
        "memory": {"scheduled_events": records}}});
    std::fs::write(env.path().join("state.json"), serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    (aid, ids)
}

/// The event's status on the sandbox; `gone` once deleted (the sandbox
/// forgets a cancelled event: it can never ring).
fn event_status(sb: &TestSandbox, aid: &str, eid: &str) -> String {
    let e = sb.call("GET", &format!("/v1/assistants/{aid}/events/{eid}"), None);
    if e.status == 404 {
        return "gone".into();
    }
    let d = e.json.get("data").or_else(|| e.json.get("event")).unwrap_or(&e.json);
    d["status"].as_str().unwrap_or_default().to_string()
}

fn sent_to(sb: &TestSandbox, number: &str) -> Vec<Value> {
    let all = sb.control_get("messages/sent")["messages"].as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|m| m["to"] == number).collect()
}

#[test]
fn a_stop_text_opts_out_confirms_once_never_reaches_the_agent_and_poll_cancels_the_pending_call() {
    let env = Sandboxed::new();
    let sb = TestSandbox::start();
    let gw = GatewayStandIn::start();
    let (aid, ids) = mission(&env, &sb, &[STOPPER, OTHER]);
    let _connect = Reaped(
        cli(&env, &sb, &["connect", "run"])
            .env("CLAWDTALK_GATEWAY_URL", gw.url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("connect on the sandbox", Duration::from_secs(15), || {
        (sb.control_get("ws/received")["clients"] == json!(1)).then_some(())
    });

    sb.control_post("sms/inject", json!({"from": STOPPER, "body": "  Stop \n"}));
    let confirmation = wait_for("the confirmation", Duration::from_secs(10), || sent_to(&sb, STOPPER).pop());
    let text = confirmation.to_string();
    assert!(text.contains("unsubscribed") && text.contains("Reply START"), "{text}");
    let list: Value = serde_json::from_slice(&std::fs::read(optout_file(&env)).unwrap()).unwrap();
    assert_eq!(list["numbers"][0]["number"], STOPPER, "{list}");
    assert_eq!(list["numbers"][0]["source"], "sms-stop", "{list}");

    // A second STOP gets no second reply; an ordinary text from someone else
    // (sent after it, so handled after it) reaches the agent.
    sb.control_post("sms/inject", json!({"from": STOPPER, "body": "STOP"}));
    sb.control_post("sms/inject", json!({"from": OTHER, "body": "what time do you open"}));
    gw.wait_call(|c| c.message().contains("what time do you open"));
    wait_for("the reply to the other number", Duration::from_secs(10), || sent_to(&sb, OTHER).pop());
    assert_eq!(sent_to(&sb, STOPPER).len(), 1, "one confirmation only");
    assert!(gw.calls().iter().all(|c| !c.message().to_lowercase().contains("stop")), "the agent never saw STOP");

    // The next poll cancels the opted-out number's call before it rings.
    assert_eq!(event_status(&sb, &aid, &ids[0]), "pending");
    let out = cli(&env, &sb, &["poll"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(event_status(&sb, &aid, &ids[0]), "gone", "deleted on the service, as `schedule cancel` does");
    let deletes =
        sb.control_get("requests")["requests"].as_array().unwrap().iter().filter(|r| r["method"] == "DELETE").count();
    assert_eq!(deletes, 1);
    assert_eq!(event_status(&sb, &aid, &ids[1]), "pending", "the other number's call stays");
    let state: Value = serde_json::from_slice(&std::fs::read(env.path().join("state.json")).unwrap()).unwrap();
    let rec = &state["quotes"]["memory"]["scheduled_events"][0];
    assert_eq!(
        (rec["status"].as_str(), rec["cancel_reason"].as_str()),
        (Some("cancelled"), Some("opted-out")),
        "{rec}"
    );

    // UNSTOP takes the number off the list again, confirmed.
    sb.control_post("sms/inject", json!({"from": STOPPER, "body": "unstop"}));
    let again = wait_for("the re-subscription", Duration::from_secs(10), || {
        let sent = sent_to(&sb, STOPPER);
        (sent.len() == 2).then(|| sent[1].to_string())
    });
    assert!(again.contains("re-subscribed"), "{again}");
    let list: Value = serde_json::from_slice(&std::fs::read(optout_file(&env)).unwrap()).unwrap();
    assert_eq!(list["numbers"], json!([]), "{list}");
    assert!(gw.calls().iter().all(|c| !c.message().to_lowercase().contains("unstop")), "the agent never saw it");
}

#[test]
fn the_binary_refuses_to_text_an_opted_out_number_with_exit_2_and_sends_nothing() {
    let env = Sandboxed::new();
    let sb = TestSandbox::start();
    let add = cli(&env, &sb, &["optout", "add", STOPPER, "--reason", "asked on the call"]).output().unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(optout_file(&env)).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let out = cli(&env, &sb, &["sms", "send", STOPPER, "hello"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has opted out") && stderr.contains("optout remove"), "{stderr}");
    assert!(sent_to(&sb, STOPPER).is_empty());
    let list = cli(&env, &sb, &["optout", "list", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v[0]["reason"], "asked on the call");
}

/// Every request that dials or texts a number, outside the sandbox (which
/// is the service) and the functions that build them: the file, how many
/// such calls it makes, and where its gate is (a file and what it calls).
/// A new call site, or one more in a known file, fails until it is added
/// here with its gate: review it goes through `outbound`.
const OUTBOUND_SITES: &[(&str, usize, &str, &str)] = &[
    ("src/commands/call.rs", 1, "src/commands/call.rs", "ctx.outbound(\"--to\""),
    ("src/commands/sms.rs", 1, "src/commands/sms.rs", "ctx.outbound(\"TO\""),
    ("src/commands/agentphone.rs", 1, "src/commands/agentphone.rs", "ctx.outbound(\"--to\""),
    ("src/ledger/schedule.rs", 1, "src/ledger/schedule.rs", "gate.check(\"TO\""),
    // poll's retries: dropped for opted-out numbers before they are sent.
    ("src/lifecycle/api_service.rs", 1, "src/lifecycle/executor/mission.rs", "optout::drop_retries("),
    ("src/connect/handler.rs", 2, "src/connect/handler.rs", "stop::may_text("),
    // schedule batch: opted-out rows are skipped when planned.
    ("src/campaign/batch.rs", 1, "src/campaign/plan.rs", "opts.gate.check(\"phone\""),
    // MCP: the owner call dials no `to`; the SMS and AgentPhone tools check the gate.
    ("src/mcp/direct.rs", 2, "src/mcp/direct.rs", "gate().await?.check(\"to\""),
    ("src/mcp/agentphone.rs", 1, "src/mcp/agentphone.rs", "gate().await?.check(\"to\""),
    // The one exception: the confirmation of a STOP.
    ("src/connect/stop.rs", 1, "src/connect/stop.rs", "STOP_CONFIRMATION"),
];

#[test]
fn every_request_that_dials_or_texts_a_number_goes_through_the_gate() {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    let builders = ["messages::send(", "calls::create(", "scheduled::create(", ".create_call("];
    let mut found: Vec<(String, usize)> = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if rel.starts_with("src/sandbox/") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let n = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//") && !l.contains("fn "))
            .map(|l| builders.iter().filter(|b| l.contains(*b)).count())
            .sum();
        if n > 0 {
            found.push((rel, n));
        }
    }
    found.sort();
    let mut expected: Vec<(String, usize)> = OUTBOUND_SITES.iter().map(|(f, n, _, _)| (f.to_string(), *n)).collect();
    expected.sort();
    assert_eq!(found, expected, "a request that dials or texts changed: make it pass outbound::check, then list it");
    for (_, _, gate_file, gate) in OUTBOUND_SITES {
        let text = std::fs::read_to_string(root.join(gate_file)).unwrap();
        assert!(text.contains(gate), "{gate_file} no longer calls {gate}");
    }
}
