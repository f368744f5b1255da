//! Retry profiles applied by `poll` (docs/campaigns.md#retry-profiles): a
//! batch against the in-process sandbox, its clock started on Friday
//! 2026-01-09 at 16:40 UTC (11:40 in New York, 10:40 in Chicago) and
//! running 60×, the magic numbers failing the first attempt, then one poll.

mod common;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use common::campaign::{clawdtalk, run_json, state_file, sweep_mission};
use common::sandbox::{SandboxOptions, TestSandbox};
use common::Sandboxed;

const START: &str = "2026-01-09T16:40:00Z";
const FIRST_SLOT: &str = "2026-01-09T16:42:00Z";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn cmd(env: &Sandboxed, sb: &TestSandbox, args: &[&str]) -> Value {
    let mut c = clawdtalk(env, sb);
    c.args(args);
    run_json(c)
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
    sweep_mission(&sb, &env);
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
