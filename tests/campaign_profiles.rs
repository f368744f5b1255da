//! Retry profiles applied by `poll` (docs/campaigns.md#retry-profiles): a
//! batch against the in-process sandbox, its clock started on Friday
//! 2026-01-09 at 16:40 UTC (11:40 in New York, 10:40 in Chicago) and
//! running 60×, the magic numbers failing the first attempt, then one poll.

mod common;

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use common::sandbox::{SandboxOptions, TestSandbox};
use common::{Sandboxed, TEST_KEY};

const CALLER: &str = "+15550001111";
const START: &str = "2026-01-09T16:40:00Z";
const FIRST_SLOT: &str = "2026-01-09T16:42:00Z";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn id_in(v: &Value, keys: &[&str]) -> String {
    for env in ["mission", "data", "run", "assistant"] {
        for k in keys {
            if let Some(s) = v.get(env).and_then(|o| o.get(*k)).and_then(Value::as_str) {
                return s.into();
            }
        }
    }
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str)).unwrap_or_else(|| panic!("{v}")).into()
}

fn state_file(env: &Sandboxed) -> PathBuf {
    env.path().join("state.json")
}

/// A mission with a run and an assistant on the sandbox, in the state file.
fn mission(sb: &TestSandbox, env: &Sandboxed) {
    let m = sb.call("POST", "/v1/missions", Some(json!({"name": "sweep", "instructions": "quotes"})));
    let mid = id_in(&m.json, &["id", "mission_id"]);
    let r = sb.call("POST", &format!("/v1/missions/{mid}/runs"), Some(json!({"input": {}})));
    let rid = id_in(&r.json, &["run_id", "id"]);
    let a = sb.call("POST", "/v1/assistants", Some(json!({"name": "caller", "instructions": "ask"})));
    let aid = id_in(&a.json, &["id"]);
    let state = json!({"sweep": {"mission_name": "sweep", "mission_id": mid, "run_id": rid,
        "created_at": "2026-01-01T00:00:00Z", "assistant_id": aid, "agent_phone": CALLER, "memory": {}}});
    std::fs::write(state_file(env), serde_json::to_vec_pretty(&state).unwrap()).unwrap();
}

fn cmd(env: &Sandboxed, sb: &TestSandbox, args: &[&str]) -> Value {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("XDG_CONFIG_HOME", env.home().join(".config"))
        .env("XDG_DATA_HOME", env.home().join(".local/share"))
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", TEST_KEY)
        .env("CLAWDTALK_STATE_FILE", state_file(env))
        .current_dir(env.work())
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn sandbox_now(sb: &TestSandbox) -> DateTime<Utc> {
    utc(sb.control_get("clock")["now"].as_str().unwrap())
}

/// The retry poll scheduled for each number: `to` → `scheduled_at`.
fn retries(env: &Sandboxed) -> std::collections::HashMap<String, DateTime<Utc>> {
    let st: Value = serde_json::from_slice(&std::fs::read(state_file(env)).unwrap()).unwrap();
    let events = st["sweep"]["memory"]["scheduled_events"].as_array().cloned().unwrap_or_default();
    events
        .iter()
        .filter(|e| e["retry_of"].is_string())
        .map(|e| (e["to"].as_str().unwrap().to_string(), utc(e["scheduled_at"].as_str().unwrap())))
        .collect()
}

#[test]
fn poll_retries_each_target_by_its_profile_inside_its_window() {
    let start = utc(START);
    let sb = TestSandbox::with(SandboxOptions { speed: 60.0, start: Some(start), ..SandboxOptions::default() });
    let env = Sandboxed::new();
    mission(&sb, &env);
    // Busy, no answer, failed, and busy once (no profile: the global delays).
    let csv = "phone,timezone,kind\n\
        +15005550001,America/Chicago,professional\n\
        +15005550002,America/New_York,automated\n\
        +15005550003,America/New_York,service\n\
        +15005550005,America/New_York,\n";
    let file = env.path().join("targets.csv");
    std::fs::write(&file, csv).unwrap();
    let file = file.to_string_lossy().to_string();
    let args = ["schedule", "batch", "--mission", "sweep", "--file", &file, "--step", "calls", "--start", FIRST_SLOT];
    let batch = cmd(&env, &sb, &args);
    assert_eq!(batch["totals"]["created"], 4, "{batch:#}");

    // Every call has ended (the longest, no answer, rings 30 s): the clock
    // runs 60× (moving it on by hand would not reach the CLI's clock sample).
    while sandbox_now(&sb) < utc(FIRST_SLOT) + Duration::seconds(120) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let report = cmd(&env, &sb, &["poll"]);
    // The time poll decided at (its estimate of the service clock).
    let now = utc(report["now"].as_str().unwrap());
    assert!(now > utc(FIRST_SLOT), "{report:#}");
    let got = retries(&env);
    assert_eq!(got.len(), 4, "{report:#}\n{got:?}");

    // Professional, busy on Friday 10:4x in Chicago: Monday 09:00 Chicago.
    assert_eq!(got["+15005550001"], utc("2026-01-12T15:00:00Z"));
    // Automated: 5 minutes after the failure seen by poll, on a whole minute.
    let auto = got["+15005550002"];
    assert!(auto >= now + Duration::minutes(5) && auto < now + Duration::minutes(6), "{auto} (poll at {now})");
    // Service, failed at 11:4x in New York: +30 min is lunch, so 13:00.
    let service = got["+15005550003"];
    assert_eq!(service, utc("2026-01-09T18:00:00Z"));
    let local = service.with_timezone(&chrono_tz::America::New_York).time();
    assert!(!(chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap()..chrono::NaiveTime::from_hms_opt(13, 0, 0).unwrap())
        .contains(&local));
    // No profile: the global busy delay, 10 minutes (to the second).
    let plain = got["+15005550005"];
    let want = now + Duration::minutes(10);
    assert!(plain <= want && want - plain < Duration::seconds(1), "{plain} (poll at {now})");

    // The service holds the same retries.
    let aid = {
        let st: Value = serde_json::from_slice(&std::fs::read(state_file(&env)).unwrap()).unwrap();
        st["sweep"]["assistant_id"].as_str().unwrap().to_string()
    };
    let listed = sb.call("GET", &format!("/v1/assistants/{aid}/events"), None).json;
    let listed = listed.get("events").or_else(|| listed.get("data")).and_then(Value::as_array).cloned().unwrap();
    let at = |to: &str| -> Vec<DateTime<Utc>> {
        listed.iter().filter(|e| e["to"] == to).map(|e| utc(e["scheduled_at"].as_str().unwrap())).collect()
    };
    assert!(at("+15005550001").contains(&utc("2026-01-12T15:00:00Z")), "{:?}", at("+15005550001"));
    assert!(at("+15005550003").contains(&service));
}
