//! Shared by the campaign tests (`schedule batch`, retry profiles, campaign
//! control): a mission named `sweep` on the sandbox and the binary run
//! against it with an isolated environment.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use super::sandbox::TestSandbox;
use super::{Sandboxed, TEST_KEY};

/// The mission's caller id.
pub const CALLER: &str = "+15550001111";

/// The first of `keys` found in a reply, inside one of the envelopes the
/// contract uses or at the top level.
pub fn id_in(v: &Value, keys: &[&str]) -> String {
    for env in ["mission", "data", "run", "assistant"] {
        for k in keys {
            if let Some(s) = v.get(env).and_then(|o| o.get(*k)).and_then(Value::as_str) {
                return s.into();
            }
        }
    }
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str)).unwrap_or_else(|| panic!("{v}")).into()
}

pub fn state_file(env: &Sandboxed) -> PathBuf {
    env.path().join("state.json")
}

/// A mission `sweep` with a run and an assistant on the sandbox, written
/// to the state file. Returns the assistant's id.
pub fn sweep_mission(sb: &TestSandbox, env: &Sandboxed) -> String {
    let m = sb.call("POST", "/v1/missions", Some(json!({"name": "sweep", "instructions": "quotes"})));
    let mid = id_in(&m.json, &["id", "mission_id"]);
    let r = sb.call("POST", &format!("/v1/missions/{mid}/runs"), Some(json!({"input": {}})));
    let rid = id_in(&r.json, &["run_id", "id"]);
    let a = sb.call("POST", "/v1/assistants", Some(json!({"name": "caller", "instructions": "ask"})));
    let aid = id_in(&a.json, &["id"]);
    let state = json!({"sweep": {"mission_name": "sweep", "mission_id": mid, "run_id": rid,
        "created_at": "2026-01-01T00:00:00Z", "assistant_id": aid, "agent_phone": CALLER, "memory": {}}});
    std::fs::write(state_file(env), serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    aid
}

/// `clawdtalk --json` against the sandbox, with nothing from the
/// developer's environment.
pub fn clawdtalk(env: &Sandboxed, sb: &TestSandbox) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("XDG_CONFIG_HOME", env.home().join(".config"))
        .env("XDG_DATA_HOME", env.home().join(".local/share"))
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", TEST_KEY)
        .env("CLAWDTALK_STATE_FILE", state_file(env))
        .current_dir(env.work())
        .arg("--json");
    c
}

/// Run it, require success, and parse its `--json` document.
pub fn run_json(mut c: Command) -> Value {
    let out = c.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{c:?}\n{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The mission's recorded targets.
pub fn state_targets(env: &Sandboxed) -> Vec<Value> {
    let st: Value = serde_json::from_slice(&std::fs::read(state_file(env)).unwrap()).unwrap();
    st["sweep"]["memory"]["targets"].as_array().cloned().unwrap_or_default()
}

/// A few random bits from the clock (no RNG crate needed for kill points).
pub fn rand_ms() -> u64 {
    u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_micros())
}

/// SIGKILL `child` once `count()` (the service's events) reaches `goal`,
/// or, with no goal, at a random moment of its start: within 150 ms and no
/// later than its first event, so a fast machine cannot let it finish.
pub fn kill_when(child: &mut std::process::Child, goal: Option<usize>, count: impl Fn() -> usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(rand_ms() % 150);
    loop {
        let reached = match goal {
            Some(g) => count() >= g,
            None => std::time::Instant::now() >= deadline || count() >= 1,
        };
        if reached || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
}
