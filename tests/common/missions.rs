//! A mission on the in-process sandbox and the state file tracking it, as
//! `schedule call --mission` records them; `poll` against both (tests/poll.rs,
//! tests/poll_reports.rs).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use super::sandbox::TestSandbox;
use super::{Sandboxed, TEST_KEY};

pub const CALLER: &str = "+15550001111";

/// The first id found under the usual envelopes.
pub fn id_of(v: &Value, envelopes: &[&str], keys: &[&str]) -> String {
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
pub struct Mission {
    pub slug: String,
    pub mission_id: String,
    pub run_id: String,
    pub assistant_id: String,
}

/// A sandbox request, repeated while `--fail-rate` answers 503 (setup and
/// checks must not be what fails).
pub fn call(sb: &TestSandbox, method: &str, path: &str, body: Option<Value>) -> super::sandbox::Resp {
    for _ in 0..50 {
        let r = sb.call(method, path, body.clone());
        if r.status != 503 {
            return r;
        }
    }
    panic!("{method} {path}: 503 fifty times");
}

pub fn setup_mission(sb: &TestSandbox, env: &Sandboxed, slug: &str, targets: &[&str], steps: &[&str]) -> Mission {
    let t: Vec<(&str, &str, i64)> = targets.iter().map(|to| (*to, "calls", 61)).collect();
    setup_mission_with(sb, env, slug, &t, steps)
}

/// As [`setup_mission`], each target as (to, step, seconds ahead).
pub fn setup_mission_with(
    sb: &TestSandbox,
    env: &Sandboxed,
    slug: &str,
    targets: &[(&str, &str, i64)],
    steps: &[&str],
) -> Mission {
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
    for (to, step, secs) in targets {
        let at = TestSandbox::in_secs(*secs);
        let body = json!({"channel": "call", "to": to, "from": CALLER, "scheduled_at": at,
            "mission_id": mission_id, "run_id": run_id, "step_id": step});
        let e = call(sb, "POST", &format!("/v1/assistants/{assistant_id}/events"), Some(body));
        assert!(e.status < 300, "{e:?}");
        let event_id = id_of(&e.json, &["event", "data"], &["id", "event_id"]);
        records.push(json!({"event_id": event_id, "assistant_id": assistant_id, "channel": "call", "to": to,
            "scheduled_at": at, "step_id": step, "status": "pending"}));
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

pub fn state_file(env: &Sandboxed) -> PathBuf {
    env.path().join("state.json")
}

pub fn read_state(env: &Sandboxed) -> Value {
    serde_json::from_slice(&std::fs::read(state_file(env)).unwrap()).unwrap()
}

/// The mission entry, active or archived (by mission id).
pub fn entry(env: &Sandboxed, m: &Mission) -> Value {
    let s = read_state(env);
    s.get(&m.slug).cloned().unwrap_or_else(|| s["_archive"][&m.mission_id].clone())
}

/// The binary against the sandbox and the test's state file (`--state`).
pub fn clawdtalk(env: &Sandboxed, sb: &TestSandbox) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("XDG_DATA_HOME", env.home().join(".local/share"))
        .env("XDG_CONFIG_HOME", env.home().join(".config"))
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", TEST_KEY)
        .env("NO_COLOR", "1")
        .current_dir(env.work())
        .arg("--state")
        .arg(state_file(env));
    c
}

/// The poll command against the sandbox (its clock comes with every reply).
pub fn poll_cmd(env: &Sandboxed, sb: &TestSandbox) -> Command {
    let mut c = clawdtalk(env, sb);
    c.arg("poll");
    c
}
