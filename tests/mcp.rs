//! `clawdtalk mcp` driven as a child process over stdio by rmcp's client
//! (docs/mcp.md): the handshake, the tool list, bad arguments, a whole
//! mission against the sandbox, the approval guard, MCP and CLI on one
//! mission, and a client that disconnects mid-call.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

use common::sandbox::{SandboxOptions, TestSandbox};
use common::{Sandboxed, TEST_KEY};

/// An MCP session with `clawdtalk mcp`, on its own runtime, with blocking
/// helpers (the sandbox's helpers block on theirs).
struct Mcp {
    rt: tokio::runtime::Runtime,
    client: Option<RunningService<RoleClient, ()>>,
}

/// The world a test runs in: its files, and the API the binary talks to.
struct World {
    env: Sandboxed,
    api: String,
}

impl World {
    fn new(api: &str) -> World {
        World { env: Sandboxed::new(), api: api.to_string() }
    }

    fn state(&self) -> PathBuf {
        self.env.path().join("state.json")
    }

    /// The variables every `clawdtalk` of this world gets.
    fn vars(&self) -> Vec<(String, String)> {
        let home = self.env.home();
        vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), home.display().to_string()),
            ("XDG_CONFIG_HOME".into(), home.join(".config").display().to_string()),
            ("XDG_DATA_HOME".into(), home.join(".local/share").display().to_string()),
            ("NO_COLOR".into(), "1".into()),
            ("CLAWDTALK_API_URL".into(), self.api.clone()),
            ("CLAWDTALK_API_KEY".into(), TEST_KEY.into()),
            ("CLAWDTALK_STATE_FILE".into(), self.state().display().to_string()),
        ]
    }

    /// The CLI, in this world.
    fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut c = self.env.cmd();
        for (k, v) in self.vars() {
            c.env(k, v);
        }
        c.args(args).output().unwrap()
    }

    fn mcp(&self, args: &[&str]) -> Mcp {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (vars, work) = (self.vars(), self.env.work());
        let cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_clawdtalk")).configure(|c| {
            c.env_clear().envs(vars).current_dir(work).arg("mcp").args(args);
        });
        let client = rt.block_on(async {
            let (transport, _stderr) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
            ().serve(transport).await.expect("the server answers initialize")
        });
        Mcp { rt, client: Some(client) }
    }
}

impl Mcp {
    fn client(&self) -> &RunningService<RoleClient, ()> {
        self.client.as_ref().unwrap()
    }

    fn tools(&self) -> Vec<Tool> {
        self.rt.block_on(self.client().list_all_tools()).unwrap()
    }

    fn instructions(&self) -> String {
        self.client().peer_info().and_then(|i| i.instructions.clone()).unwrap_or_default()
    }

    /// Call `name`: (is it an error, the text, the text as JSON if it is).
    fn call(&self, name: &str, args: Value) -> (bool, String, Value) {
        let params = CallToolRequestParams::new(name.to_string()).with_arguments(args.as_object().unwrap().clone());
        let r = self.rt.block_on(self.client().call_tool(params)).unwrap();
        let doc = serde_json::to_value(&r).unwrap();
        let text = doc["content"][0]["text"].as_str().unwrap_or_default().to_string();
        let parsed = serde_json::from_str(&text).unwrap_or(Value::Null);
        (r.is_error == Some(true), text, parsed)
    }

    /// Call `name` and expect success: its JSON.
    fn ok(&self, name: &str, args: Value) -> Value {
        let (err, text, v) = self.call(name, args);
        assert!(!err, "{name} failed: {text}");
        v
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.cancel());
        }
    }
}

fn names(tools: &[Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

#[test]
fn initialize_lists_the_curated_tools_with_schemas_truthful_annotations_and_the_guard_in_the_instructions() {
    let w = World::new("http://127.0.0.1:9/v1");
    let m = w.mcp(&[]);
    let info = m.client().peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().map(|s| s.name.as_str()), Some("clawdtalk"));
    let ins = m.instructions();
    assert!(ins.contains("approve") && ins.contains("pending") && ins.contains("exactly once"), "{ins}");

    let tools = m.tools();
    let mut got = names(&tools);
    got.sort();
    let mut want: Vec<String> = clawdtalk::mcp::DEFAULT_TOOLS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    let tool = |n: &str| tools.iter().find(|t| t.name == n).unwrap();
    let schedule = serde_json::to_value(tool("mission_schedule").input_schema.as_ref()).unwrap();
    let required: Vec<&str> = schedule["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(required, ["mission", "channel", "targets"], "{schedule:#}");
    assert_eq!(schedule["additionalProperties"], false, "unknown fields are refused");
    assert!(tool("sms_send").description.as_deref().unwrap_or("").contains("approval"));
    let hints = |n: &str| {
        let a = tool(n).annotations.clone().unwrap();
        (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint)
    };
    for read_only in ["mission_status", "mission_results", "memory_get", "sms_list", "agentphone_get"] {
        assert_eq!(hints(read_only).0, Some(true), "{read_only}");
    }
    assert_eq!(hints("mission_cancel").1, Some(true));
    assert_eq!(hints("memory_save").1, Some(true), "a save overwrites");
    assert_eq!(hints("mission_start").2, Some(true), "idempotent by name");
    for dials in ["mission_schedule", "sms_send", "agentphone_call", "call_owner"] {
        assert_eq!(hints(dials), (Some(false), Some(false), Some(false), Some(true)), "{dials}");
    }
    assert_eq!(hints("memory_get").3, Some(false), "the state file is a closed world");
}

#[test]
fn tools_and_all_tools_choose_what_is_served_and_an_unknown_name_exits_2_with_the_list() {
    let w = World::new("http://127.0.0.1:9/v1");
    let m = w.mcp(&["--tools", "mission_status,memory_get"]);
    let mut got = names(&m.tools());
    got.sort();
    assert_eq!(got, ["memory_get", "mission_status"]);
    let params = CallToolRequestParams::new("sms_send")
        .with_arguments(json!({"to": "+15005550006", "message": "hi"}).as_object().unwrap().clone());
    let refused = m.rt.block_on(m.client().call_tool(params)).unwrap_err();
    assert!(refused.to_string().contains("tool not found"), "a tool not served cannot be called: {refused}");
    drop(m);

    let all = w.mcp(&["--all-tools"]);
    assert_eq!(all.tools().len(), clawdtalk::mcp::ALL_TOOLS.len());
    drop(all);

    let out = w.cli(&["mcp", "--tools", "mission_start,dial_everyone"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dial_everyone") && err.contains("mission_schedule"), "{err}");
    assert!(out.stdout.is_empty(), "nothing on the protocol channel");
}

#[test]
fn bad_arguments_are_error_results_naming_the_field_and_send_nothing() {
    let sb = TestSandbox::start();
    let w = World::new(&sb.api);
    let m = w.mcp(&[]);
    let (err, text, _) = m.call("memory_save", json!({"mission": "roof", "value": 1}));
    assert!(err && text.contains("`key`"), "{text}");
    let (err, text, _) = m.call("memory_get", json!({"missio": "roof"}));
    assert!(err && text.contains("missio"), "{text}");
    let (err, text, _) =
        m.call("mission_schedule", json!({"mission": "roof", "channel": "fax", "targets": ["+15005550006"]}));
    assert!(err && text.contains("fax"), "{text}");
    // The CLI's own checks, with its exit code and fix: an emergency number
    // is refused before the owner is even asked.
    let (err, text, _) = m.call("sms_send", json!({"to": "911", "message": "hi"}));
    assert!(err && text.contains("exit code 2") && text.contains("to"), "{text}");
    let (err, text, _) = m.call("memory_get", json!({"mission": "nope"}));
    assert!(err && text.contains("nope"), "{text}");
    let state = sb.control_get("state");
    assert_eq!(state["approvals"], json!([]), "nobody was asked");
    assert_eq!(sb.control_get("messages/sent")["messages"], json!([]));
}

/// Wait for `cond` (up to 60 s).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_whole_mission_through_tools_only_with_poll_running() {
    let sb = TestSandbox::with(SandboxOptions { speed: 300.0, ..SandboxOptions::default() });
    let w = World::new(&sb.api);
    let m = w.mcp(&["--no-approval"]);
    let start = json!({"name": "Roof quotes", "instructions": "Ask for a quote to fix a leaking roof",
        "request": "get me three roof quotes",
        "steps": [{"step_id": "calls", "description": "Call three roofers"},
                  {"step_id": "report", "description": "Tell the owner"}]});
    let started = m.ok("mission_start", start.clone());
    assert_eq!(started["slug"], "roof-quotes");
    assert_eq!(m.ok("mission_start", start)["mission"]["resumed"], true, "idempotent by name");

    let targets = ["+15005550006", "+15005550004", "+15005550007"];
    let scheduled = m.ok(
        "mission_schedule",
        json!({"mission": "roof-quotes", "channel": "call", "targets": targets, "at": "+1m", "step": "calls"}),
    );
    assert_eq!((scheduled["scheduled"].as_u64(), scheduled["failed"].as_u64()), (Some(3), Some(0)), "{scheduled:#}");

    let mut poll = std::process::Command::new(env!("CARGO_BIN_EXE_clawdtalk"))
        .env_clear()
        .envs(w.vars())
        .current_dir(w.env.work())
        .args(["poll", "--watch", "--interval", "0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut last = Value::Null;
    eventually("the calls to end", || {
        last = m.ok("mission_status", json!({"mission": "roof-quotes"}));
        last["pending_events"] == 0
    });
    let _ = poll.kill();
    let _ = poll.wait();

    let results = m.ok("mission_results", json!({"mission": "roof-quotes"}));
    let insights = results["insights"].as_object().unwrap_or_else(|| panic!("{results:#}"));
    assert_eq!(insights.len(), 3, "an insight per target: {results:#}");
    let done = m.ok("mission_complete", json!({"mission": "roof-quotes", "summary": "Three quotes: $400, $450, $500"}));
    assert!(done.is_object(), "{done}");
    let run = sb.call(
        "GET",
        &format!(
            "/v1/missions/{}/runs/{}",
            started["mission"]["mission_id"].as_str().unwrap(),
            started["mission"]["run_id"].as_str().unwrap()
        ),
        None,
    );
    let run = run.json.get("data").cloned().unwrap_or(run.json);
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(m.ok("mission_results", json!({"mission": "roof-quotes"}))["status"], "succeeded");
}

/// The approvals the sandbox holds.
fn approvals(sb: &TestSandbox) -> Vec<Value> {
    sb.control_get("state")["approvals"].as_array().cloned().unwrap_or_default()
}

fn sent(sb: &TestSandbox) -> Vec<Value> {
    sb.control_get("messages/sent")["messages"].as_array().cloned().unwrap_or_default()
}

#[test]
fn texting_a_stranger_waits_for_the_owner_denied_sends_nothing_approved_sends_exactly_once() {
    let sb = TestSandbox::start();
    let w = World::new(&sb.api);
    let m = w.mcp(&["--approval-wait", "0.3"]);
    let text = json!({"to": "+15005550006", "message": "Can you quote a roof repair?"});

    let pending = m.ok("sms_send", text.clone());
    assert_eq!(pending["status"], "pending", "{pending:#}");
    let handle = pending["handle"].as_str().unwrap().to_string();
    let asked = approvals(&sb);
    assert_eq!(asked.len(), 1, "one approval for the call");
    assert!(asked[0]["action"].as_str().unwrap().contains("+15005550006"), "{asked:#?}");
    sb.control_post(&format!("approvals/{handle}/decide"), json!({"decision": "denied"}));
    let (err, why, _) = m.call("approval_status", json!({"handle": handle}));
    assert!(err && why.contains("denied") && why.contains("nothing was sent"), "{why}");
    assert_eq!(sent(&sb), Vec::<Value>::new(), "denied: nothing sent");
    let (err, _, _) = m.call("approval_status", json!({"handle": handle}));
    assert!(err, "still refused");

    let pending = m.ok("sms_send", text);
    let handle = pending["handle"].as_str().unwrap().to_string();
    assert_eq!(sent(&sb).len(), 0, "nothing before the owner decides");
    sb.control_post(&format!("approvals/{handle}/decide"), json!({"decision": "approved"}));
    let done = m.ok("approval_status", json!({"handle": handle}));
    assert_eq!(done["status"], "done", "{done:#}");
    let again = m.ok("approval_status", json!({"handle": handle}));
    assert!(again["note"].as_str().unwrap_or("").contains("not sent again"), "{again:#}");
    let out = sent(&sb);
    assert_eq!(out.len(), 1, "sent exactly once: {out:#?}");
    assert_eq!(out[0]["to"], "+15005550006");
    let pending_file: Value = serde_json::from_slice(&std::fs::read(pending_file(&w.state())).unwrap()).unwrap();
    assert_eq!(pending_file[&handle]["stage"], "done");
}

fn pending_file(state: &Path) -> PathBuf {
    PathBuf::from(format!("{}.mcp-pending.json", state.display()))
}

#[test]
fn mcp_and_cli_calls_mix_on_one_mission() {
    let sb = TestSandbox::start();
    let w = World::new(&sb.api);
    let m = w.mcp(&[]);
    let started = m.ok(
        "mission_start",
        json!({"name": "Mixed", "instructions": "Ask about prices", "request": "x",
        "steps": [{"step_id": "calls", "description": "Call"}]}),
    );
    assert_eq!(started["slug"], "mixed");
    let out =
        w.cli(&["schedule", "call", "--mission", "mixed", "--to", "+15005550006", "--at", "+5m", "--step", "calls"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = m.ok("mission_status", json!({"mission": "mixed"}));
    assert_eq!(status["pending_events"], 1, "{status:#}");
    assert!(status.to_string().contains("+15005550006"), "{status:#}");
    m.ok("memory_save", json!({"mission": "mixed", "key": "note", "value": {"best": "Bob"}}));
    let out = w.cli(&["--json", "memory", "get", "mixed", "note"]);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!({"best": "Bob"}));

    // The event the CLI scheduled is cancelled through MCP.
    let cancelled = m.ok("mission_cancel", json!({"mission": "mixed"}));
    assert_eq!(cancelled["cancelled"].as_array().map(Vec::len), Some(1), "{cancelled:#}");
    let out = w.cli(&["--json", "mission", "status", "mixed"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["pending_events"], 0, "{status:#}");
}

#[test]
fn a_client_that_disconnects_mid_call_stops_the_server_within_5s_and_nothing_is_sent() {
    let sb = TestSandbox::start();
    let w = World::new(&sb.api);
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_clawdtalk"));
    // `--json -v`: logs (debug) go to stderr, stdout stays the protocol.
    c.env_clear().envs(w.vars()).current_dir(w.env.work()).args(["--json", "-v", "mcp"]);
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
            "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "sms_send",
            "arguments": {"to": "+15005550006", "message": "hello"}}}),
    ];
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    stdin.flush().unwrap();
    eventually("the approval request", || !approvals(&sb).is_empty());
    let closed = Instant::now();
    drop(stdin);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(closed.elapsed() < Duration::from_secs(5), "the server is still running 5 s after the client left");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(!stdout.is_empty());
    for line in stdout.lines() {
        let msg: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON-RPC on stdout: {line:?}: {e}"));
        assert_eq!(msg["jsonrpc"], "2.0", "{line}");
    }
    assert_eq!(sent(&sb), Vec::<Value>::new(), "never sent");
    let pending: Value = serde_json::from_slice(&std::fs::read(pending_file(&w.state())).unwrap()).unwrap();
    let ops = pending.as_object().unwrap();
    assert_eq!(ops.len(), 1, "the operation is recorded: {pending:#}");
    assert!(ops.values().all(|op| op["stage"] == "pending"), "{pending:#}");
}

#[test]
fn a_pending_mission_schedule_shows_in_mission_status_and_is_scheduled_once_when_approved() {
    let sb = TestSandbox::start();
    let w = World::new(&sb.api);
    let m = w.mcp(&["--approval-wait", "0.3"]);
    m.ok(
        "mission_start",
        json!({"name": "Guarded", "instructions": "Ask", "request": "x",
        "steps": [{"step_id": "calls", "description": "Call"}]}),
    );
    let targets = ["+15005550006", "+15005550007"];
    let pending = m.ok(
        "mission_schedule",
        json!({"mission": "guarded", "channel": "call", "targets": targets, "at": "+5m", "step": "calls"}),
    );
    assert_eq!(pending["status"], "pending", "{pending:#}");
    let handle = pending["handle"].as_str().unwrap().to_string();
    assert_eq!(approvals(&sb).len(), 1, "one approval for both targets");
    let status = m.ok("mission_status", json!({"mission": "guarded"}));
    assert_eq!(status["approvals"][0]["handle"], handle.as_str(), "{status:#}");
    assert_eq!(status["pending_events"], 0, "nothing scheduled yet: {status:#}");

    sb.control_post(&format!("approvals/{handle}/decide"), json!({"decision": "approved"}));
    let done = m.ok("approval_status", json!({"handle": handle}));
    assert_eq!(done["result"]["scheduled"], 2, "{done:#}");
    m.ok("approval_status", json!({"handle": handle}));
    let status = m.ok("mission_status", json!({"mission": "guarded"}));
    assert_eq!(status["pending_events"], 2, "scheduled once, not twice: {status:#}");
}

#[test]
fn a_campaign_is_paused_and_resumed_through_tools_and_resuming_twice_creates_nothing() {
    let sb = TestSandbox::start();
    let w = World::new(&sb.api);
    let m = w.mcp(&["--all-tools", "--no-approval"]);
    m.ok(
        "mission_start",
        json!({"name": "Sweep", "instructions": "Ask about prices", "request": "x",
        "steps": [{"step_id": "calls", "description": "Call"}]}),
    );
    let file = w.env.path().join("targets.csv");
    std::fs::write(&file, "phone\n+15005550006\n+15005550002\n").unwrap();
    let f = file.display().to_string();
    let batch = ["schedule", "batch", "--mission", "sweep", "--file", &f, "--step", "calls", "--window", "00:00-23:59"];
    let out = w.cli(&[&batch[..], &["--days", "all", "--default-tz", "UTC", "--start", "+5m"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let paused = m.ok("mission_pause", json!({"mission": "sweep"}));
    assert_eq!(paused["paused"].as_array().map(Vec::len), Some(2), "{paused:#}");
    let again = m.ok("mission_pause", json!({"mission": "sweep"}));
    assert_eq!((again["paused"].as_array().map(Vec::len), again["already_paused"].as_u64()), (Some(0), Some(2)));
    let status = m.ok("mission_status", json!({"mission": "sweep"}));
    assert_eq!(status["campaign"]["counts"]["paused"], 2, "{status:#}");

    let resumed = m.ok("mission_resume", json!({"mission": "sweep", "start": "+10m", "concurrency": 1}));
    assert_eq!(resumed["totals"]["created"], 2, "{resumed:#}");
    let again = m.ok("mission_resume", json!({"mission": "sweep", "start": "+10m"}));
    assert_eq!(again["totals"]["created"], 0, "{again:#}");
    let status = m.ok("mission_status", json!({"mission": "sweep"}));
    assert_eq!(status["campaign"]["counts"]["scheduled"], 2, "{status:#}");
    assert!(m.ok("mission_retry_failed", json!({"mission": "sweep"}))["totals"]["created"] == 0, "nothing failed");
    // The tools journal as the commands do: once each, nothing for the re-runs.
    let journal = std::fs::read_to_string(w.env.home().join(".local/share/clawdtalk/journal.ndjson")).unwrap();
    let events: Vec<&str> = journal.lines().filter(|l| l.contains("\"campaign.")).collect();
    assert_eq!(events.len(), 3, "scheduled (CLI), paused, resumed: {journal}");
    assert!(events[1].contains("campaign.paused") && events[2].contains("campaign.resumed"), "{journal}");
}
