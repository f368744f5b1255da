//! The issue-13 scenario end to end, in the library: a sandbox whose clock
//! runs 200 times faster than real time, `schedule call --mission … --at
//! +2m` with no clock setting at all, then `poll --watch`, on a local
//! clock that is right or skewed by ten minutes either way (the injectable
//! clock; the binary has no such knob). Also the skill documentation's
//! MANDATORY `append-memory … scheduled_events` entries beside clawdtalk's
//! own records.

use std::sync::Arc;

use chrono::Duration;
use serde_json::{json, Value};

use super::{run, Context, FromConfig, ProgressStyle};
use crate::clock::{ServiceClock, SkewedClock};
use crate::config::{Config, MapEnv, Overrides};
use crate::output::Printer;
use crate::sandbox::{self, SandboxHandle, SandboxOptions};
use crate::testing::parse;

const TARGETS: [&str; 3] = ["+15005550006", "+15005550005", "+15005550004"];

fn context(sb: &SandboxHandle, dir: &std::path::Path, skew: Duration) -> Context {
    let overrides =
        Overrides { api_key: Some("cc_test_fastsandbox".into()), api_url: Some(sb.api_url()), config_path: None };
    let config = Config::resolve_with_file(&overrides, &MapEnv::default(), None).unwrap();
    let clock = Arc::new(ServiceClock::new(Arc::new(SkewedClock(skew)), &sb.api_url(), None));
    Context {
        config,
        printer: Printer { json: true, color: false },
        clock: clock.clone(),
        service_clock: Some(clock),
        clients: Arc::new(FromConfig),
        progress: ProgressStyle::Hidden,
        state_override: Some(dir.join("state.json")),
        config_path: None,
        cwd: dir.to_path_buf(),
        interactive: false,
    }
}

async fn cmd(ctx: &Context, args: &[&str]) -> crate::output::Outcome {
    let o = run(ctx, parse(args)).await.unwrap_or_else(|e| panic!("clawdtalk {args:?}: {e}"));
    assert_eq!(o.exit_code, 0, "clawdtalk {args:?}: {o:?}");
    o
}

/// init, setup-agent, one `schedule call --at +2m` per target; then
/// `extra` (the bot's own steps), then `poll --watch` until the mission
/// ends. Returns the archived mission entry.
async fn sweep(skew: Duration, bot_appends: bool) -> Value {
    let sb = sandbox::start(SandboxOptions { speed: 200.0, ..Default::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&sb, dir.path(), skew);
    let plan = r#"[{"step_id":"calls","description":"Call the washers","sequence":1}]"#;
    cmd(&ctx, &["mission", "init", "Sweep", "Call washers", "Need quotes", plan]).await;
    cmd(&ctx, &["mission", "setup-agent", "sweep", "Caller", "Ask for a quote"]).await;
    for to in TARGETS {
        let o =
            cmd(&ctx, &["schedule", "call", "--mission", "sweep", "--to", to, "--at", "+2m", "--step", "calls"]).await;
        let id = o.data["id"].as_str().unwrap().to_string();
        if bot_appends {
            // The skill's MANDATORY step, word for word in its shape.
            let entry = json!({"event_id": id, "type": "call", "to": to, "scheduled_at": "+2m", "step_id": "calls"});
            cmd(&ctx, &["append-memory", "sweep", "scheduled_events", &entry.to_string()]).await;
        }
    }
    if bot_appends {
        let sms = json!({"event_id": "evt_the_bot_made_up", "type": "sms", "to": "+15005550009",
                         "scheduled_at": "2030-01-01T00:00:00Z", "step_id": "calls"});
        cmd(&ctx, &["append-memory", "sweep", "scheduled_events", &sms.to_string()]).await;
    }
    let watch = cmd(&ctx, &["poll", "--watch"]);
    tokio::time::timeout(std::time::Duration::from_secs(120), watch).await.expect("the mission ends");
    let state: Value = serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
    assert!(state.get("sweep").is_none(), "archived: {state:#}");
    let archive = state["_archive"].as_object().unwrap();
    assert_eq!(archive.len(), 1);
    let m = archive.values().next().unwrap().clone();
    let (mid, rid) = (m["mission_id"].as_str().unwrap(), m["run_id"].as_str().unwrap());
    let events = cmd(&ctx, &["event", "list", mid, rid]).await.data;
    let summaries: Vec<String> = events
        .as_array()
        .map(|a| a.iter().map(|e| e["summary"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default();
    assert!(!summaries.iter().any(|s| s.contains("SMS")), "no run event about the bot's SMS: {summaries:#?}");
    m
}

fn check_outcome(m: &Value) {
    let mem = &m["memory"];
    assert_eq!(mem["result"]["status"], "succeeded", "{m:#}");
    let recs: Vec<&Value> =
        mem["scheduled_events"].as_array().unwrap().iter().filter(|r| r.get("channel").is_some()).collect();
    assert_eq!(recs.len(), 4, "three targets and one retry: {recs:#?}");
    let retries: Vec<&&Value> = recs.iter().filter(|r| r.get("retry_of").is_some()).collect();
    assert_eq!(retries.len(), 1, "{recs:#?}");
    assert_eq!(retries[0]["to"], "+15005550005", "the busy one is retried once");
    for to in TARGETS {
        let last = recs.iter().filter(|r| r["to"] == to).max_by_key(|r| r["attempt"].as_u64().unwrap_or(1)).unwrap();
        assert_eq!(last["outcome"], "succeeded", "{to}: {last:#}");
        assert!(last["conversation_id"].is_string(), "{to}: {last:#}");
    }
    assert_eq!(mem["insights"].as_object().map(|o| o.len()), Some(3), "insights for every answered call: {mem:#}");
}

#[tokio::test]
async fn a_fast_sandbox_needs_no_clock_setting_and_every_target_ends_succeeded() {
    check_outcome(&sweep(Duration::zero(), false).await);
}

#[tokio::test]
async fn a_local_clock_ten_minutes_fast_changes_nothing() {
    check_outcome(&sweep(Duration::minutes(10), false).await);
}

#[tokio::test]
async fn a_local_clock_ten_minutes_slow_changes_nothing() {
    check_outcome(&sweep(Duration::minutes(-10), false).await);
}

#[tokio::test]
async fn the_bots_mandatory_append_memory_entries_change_nothing() {
    let m = sweep(Duration::zero(), true).await;
    check_outcome(&m);
    let raw = m["memory"]["scheduled_events"].as_array().unwrap();
    assert!(raw.iter().any(|r| r["event_id"] == "evt_the_bot_made_up" && r["type"] == "sms"), "kept as written");
    for r in raw.iter().filter(|r| r.get("channel").is_some()) {
        assert_eq!(r["step_id"], "calls");
    }
}
