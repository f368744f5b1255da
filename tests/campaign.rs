//! `clawdtalk schedule batch` end to end: the built binary against the
//! in-process sandbox, its clock started on a Monday at 15:00 UTC (10:00 in
//! New York: open; 07:00 in Los Angeles and midnight in Tokyo: closed).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{json, Value};

use common::campaign::{clawdtalk, kill_when, rand_ms, run_json, state_file, state_targets, sweep_mission};
use common::sandbox::{SandboxOptions, TestSandbox};
use common::Sandboxed;

const START: &str = "2026-01-05T15:00:00Z";
/// The batch's first slot: ahead of the sandbox clock for the whole test.
const FIRST_SLOT: &str = "2026-01-05T15:10:00Z";

fn sandbox(rate_limit: Option<u32>) -> TestSandbox {
    let start = DateTime::parse_from_rfc3339(START).unwrap().with_timezone(&Utc);
    TestSandbox::with(SandboxOptions { speed: 5.0, start: Some(start), rate_limit, ..SandboxOptions::default() })
}

/// 60 rows: 20 New York (10 by column, 10 by --default-tz), 15 Los Angeles
/// (column), 10 Tokyo (inferred from +81), 5 invalid, 5 duplicates, 5
/// emergency. 45 are scheduled.
fn targets_file(env: &Sandboxed) -> PathBuf {
    let mut csv = String::from("phone,name,timezone,notes\n");
    for i in 0..20 {
        let tz = if i < 10 { "America/New_York" } else { "" };
        csv += &format!("+1555010{:04},ny{i},{tz},x\n", 1000 + i);
    }
    for i in 0..15 {
        csv += &format!("+1555010{:04},la{i},America/Los_Angeles,\n", 2000 + i);
    }
    for i in 0..10 {
        csv += &format!("+81 3 5{:03} 1234,tokyo{i},,\n", 100 + i);
    }
    for bad in ["12345", "+19995551234", "hello", "+1 555", ""] {
        csv += &format!("{bad},bad,,\n");
    }
    for dup in ["+1 555 010 1000", "+15550102000", "+81 3 5100 1234", "+15550101019", "+1-555-010-2014"] {
        csv += &format!("{dup},dup,America/New_York,\n");
    }
    for e in ["911", "112", "+1911", "999", "+44999"] {
        csv += &format!("{e},emergency,,\n");
    }
    let p = env.path().join("targets.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

fn batch_cmd(env: &Sandboxed, sb: &TestSandbox, file: &std::path::Path, extra: &[&str]) -> std::process::Command {
    let mut c = clawdtalk(env, sb);
    c.args(["schedule", "batch", "--mission", "sweep", "--file"]).arg(file);
    c.args(["--step", "calls", "--default-tz", "America/New_York", "--concurrency", "3", "--stagger", "2m"]);
    c.args(["--start", FIRST_SLOT]);
    c.args(extra);
    c
}

/// The sandbox's events of the assistant: (to, scheduled_at).
fn events(sb: &TestSandbox, aid: &str) -> Vec<(String, String)> {
    let mut r = sb.call("GET", &format!("/v1/assistants/{aid}/events"), None);
    while r.status == 429 {
        std::thread::sleep(Duration::from_millis(500));
        r = sb.call("GET", &format!("/v1/assistants/{aid}/events"), None);
    }
    let list = r.json.get("events").or_else(|| r.json.get("data")).and_then(Value::as_array).cloned();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    list.unwrap_or_default().iter().map(|e| (s(&e["to"]), s(&e["scheduled_at"]))).collect()
}

/// Every event inside 09:00–17:00 Monday to Friday in its callee's zone, at
/// most 3 per slot, each number once.
fn assert_placed(events: &[(String, String)]) {
    let mut per_slot: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_number: HashMap<&str, usize> = HashMap::new();
    for (to, at) in events {
        *per_slot.entry(at).or_default() += 1;
        *per_number.entry(to).or_default() += 1;
        let t = DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&Utc);
        let zone: chrono_tz::Tz = match &to[..] {
            n if n.starts_with("+81") => chrono_tz::Asia::Tokyo,
            n if n.starts_with("+15550102") => chrono_tz::America::Los_Angeles,
            _ => chrono_tz::America::New_York,
        };
        let local = t.with_timezone(&zone);
        assert!((9..17).contains(&local.hour()) && local.weekday().num_days_from_monday() < 5, "{to} at {local}");
        assert!(t >= DateTime::parse_from_rfc3339(FIRST_SLOT).unwrap(), "{to} at {at}");
    }
    assert!(per_slot.values().all(|n| *n <= 3), "{per_slot:?}");
    assert!(per_number.values().all(|n| *n == 1), "{per_number:?}");
}

#[test]
fn a_dry_run_sends_nothing_then_the_batch_schedules_each_valid_target_once_inside_its_window() {
    let sb = sandbox(None);
    let env = Sandboxed::new();
    let aid = sweep_mission(&sb, &env);
    let file = targets_file(&env);

    let plan = run_json(batch_cmd(&env, &sb, &file, &["--dry-run"]));
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["totals"]["to_schedule"], 45, "{:#}", plan["totals"]);
    assert_eq!(plan["totals"]["skipped"], 15);
    assert!(events(&sb, &aid).is_empty(), "a dry run creates nothing");
    assert!(state_targets(&env).is_empty(), "a dry run records nothing");
    let rows = plan["targets"].as_array().unwrap();
    let reason = |row: usize| rows[row - 1]["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason(47).contains("libphonenumber"), "{}", reason(47));
    assert_eq!(reason(51), "duplicate of row 1");
    assert!(reason(56).contains("emergency"), "{}", reason(56));
    // New York is open now; Los Angeles opens at 17:00Z, Tokyo at 00:00Z.
    assert_eq!(rows[0]["scheduled_at"], FIRST_SLOT, "{:#}", rows[0]);
    assert_eq!(rows[20]["scheduled_at"], "2026-01-05T17:00:00Z", "{:#}", rows[20]);
    assert_eq!(rows[35]["scheduled_at"], "2026-01-06T00:00:00Z", "{:#}", rows[35]);
    assert_eq!(rows[35]["zones"], json!(["Asia/Tokyo"]));

    let done = run_json(batch_cmd(&env, &sb, &file, &[]));
    assert_eq!(done["totals"]["created"], 45, "{:#}", done["totals"]);
    let evs = events(&sb, &aid);
    assert_eq!(evs.len(), 45);
    assert_placed(&evs);
    let recorded = state_targets(&env);
    assert_eq!(recorded.len(), 45);
    assert!(recorded.iter().all(|t| t["status"] == "scheduled" && t["event_id"].is_string()), "{recorded:?}");
    assert_eq!(recorded[0]["columns"]["notes"], "x", "other columns are kept");
    let st: Value = serde_json::from_slice(&std::fs::read(state_file(&env)).unwrap()).unwrap();
    let tracked = st["sweep"]["memory"]["scheduled_events"].as_array().unwrap();
    assert_eq!(tracked.len(), 45, "each event is also a scheduled event record, tracked by poll");
    assert!(tracked.iter().all(|e| e["step_id"] == "calls" && e["status"] == "pending"), "{tracked:?}");

    let again = run_json(batch_cmd(&env, &sb, &file, &[]));
    assert_eq!(again["totals"]["created"], 0, "{:#}", again["totals"]);
    assert_eq!(again["totals"]["existing"], 45);
    assert_eq!(events(&sb, &aid).len(), 45, "the same command again creates nothing");
}

#[test]
fn a_batch_killed_at_random_points_and_run_again_schedules_each_target_exactly_once() {
    let sb = sandbox(None);
    let env = Sandboxed::new();
    let aid = sweep_mission(&sb, &env);
    let file = targets_file(&env);
    // Killed at a random moment of its start, then as soon as the
    // service holds a random number of events (mid-create, mid-record).
    let mut partial = 0;
    for at_least in [None, Some(8usize), Some(20), Some(31), Some(40)] {
        let mut child = batch_cmd(&env, &sb, &file, &[]).stdout(std::process::Stdio::null()).spawn().unwrap();
        let goal = at_least.map(|n| n + (rand_ms() as usize) % 5);
        kill_when(&mut child, goal, || events(&sb, &aid).len());
        let n = events(&sb, &aid).len();
        partial += usize::from(n > 0 && n < 45);
        assert_placed(&events(&sb, &aid));
    }
    assert!(partial >= 2, "the kills landed mid-batch");
    let done = run_json(batch_cmd(&env, &sb, &file, &[]));
    let evs = events(&sb, &aid);
    assert_eq!(evs.len(), 45, "{:#}", done["totals"]);
    assert_placed(&evs);
    let recorded = state_targets(&env);
    assert_eq!(recorded.iter().filter(|t| t["status"] == "scheduled").count(), 45);
}

#[test]
fn a_rate_limited_service_gets_every_target_scheduled_without_failures() {
    let sb = sandbox(Some(60));
    let env = Sandboxed::new();
    let aid = sweep_mission(&sb, &env);
    // Spend the bucket: the batch meets 429s from its first request.
    for _ in 0..60 {
        sb.call("GET", "/v1/assistants", None);
    }
    let csv: String = (0..4).map(|i| format!("+1555010300{i},America/New_York\n")).collect();
    let file = env.path().join("few.csv");
    std::fs::write(&file, format!("phone,timezone\n{csv}")).unwrap();
    let done = run_json(batch_cmd(&env, &sb, &file, &[]));
    assert_eq!((done["totals"]["created"].clone(), done["totals"]["failed"].clone()), (json!(4), json!(0)));
    assert_eq!(events(&sb, &aid).len(), 4);
}

#[test]
fn max_calls_and_the_daily_cap_limit_what_is_scheduled_and_say_so() {
    let sb = sandbox(None);
    let env = Sandboxed::new();
    let aid = sweep_mission(&sb, &env);
    let file = targets_file(&env);
    let limited = run_json(batch_cmd(&env, &sb, &file, &["--max-calls", "5"]));
    assert_eq!(limited["totals"]["created"], 5, "{:#}", limited["totals"]);
    assert_eq!(events(&sb, &aid).len(), 5);

    std::fs::write(
        env.work().join("skill-config.json"),
        json!({"daily_call_cap": 8, "timezone": "America/New_York"}).to_string(),
    )
    .unwrap();
    let capped = run_json(batch_cmd(&env, &sb, &file, &["--max-calls", "12"]));
    assert_eq!(capped["totals"]["created"], 7, "{:#}", capped["totals"]);
    // 8 on Monday in New York (5 before, 3 now); the 4 others move to Tuesday.
    assert_eq!(capped["totals"]["moved_by_daily_cap"], 4, "{:#}", capped["totals"]);
    let mut days: BTreeMap<u32, usize> = BTreeMap::new();
    for (_, at) in events(&sb, &aid) {
        let t = DateTime::parse_from_rfc3339(&at).unwrap().with_timezone(&chrono_tz::America::New_York);
        *days.entry(t.day()).or_default() += 1;
    }
    assert_eq!(days, BTreeMap::from([(5, 8), (6, 4)]));
}

#[test]
fn an_opted_out_number_is_skipped_with_its_reason_and_never_scheduled() {
    let sb = sandbox(None);
    let env = Sandboxed::new();
    let aid = sweep_mission(&sb, &env);
    let file = targets_file(&env);
    // The same environment as the batch (its data directory holds the list).
    let batch = batch_cmd(&env, &sb, &file, &[]);
    let mut add = std::process::Command::new(batch.get_program());
    add.env_clear().current_dir(env.work());
    for (k, v) in batch.get_envs() {
        if let Some(v) = v {
            add.env(k, v);
        }
    }
    let out = add.args(["optout", "add", "+15550101002", "--reason", "asked not to be called"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let plan = run_json(batch_cmd(&env, &sb, &file, &["--dry-run"]));
    assert_eq!(plan["totals"]["to_schedule"], 44, "{:#}", plan["totals"]);
    let row3 = &plan["targets"].as_array().unwrap()[2];
    assert!(row3["reason"].as_str().unwrap_or_default().contains("opted out"), "{row3:#}");

    let done = run_json(batch_cmd(&env, &sb, &file, &[]));
    assert_eq!(done["totals"]["created"], 44, "{:#}", done["totals"]);
    assert!(events(&sb, &aid).iter().all(|(to, _)| to != "+15550101002"), "the opted-out number is never scheduled");
}
