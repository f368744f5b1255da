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
        printer: Printer { json: true, color: false, stamp: false },
        clock: clock.clone(),
        service_clock: Some(clock),
        clients: Arc::new(FromConfig),
        progress: ProgressStyle::Hidden,
        state_override: Some(dir.join("state.json")),
        config_path: None,
        cwd: dir.to_path_buf(),
        interactive: false,
        journal: None,
        data_dir: Some(dir.to_path_buf()),
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

/// The skill documentation's examples, word for word, through the legacy words.
#[tokio::test]
async fn the_skill_documentations_examples_work_as_written() {
    let sb = sandbox::start(SandboxOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&sb, dir.path(), Duration::zero());

    // create-assistant NAME INSTR GREETING '["telephony", "messaging"]'
    let o = cmd(&ctx, &["create-assistant", "Bot", "Be brief", "Hi", r#"["telephony", "messaging"]"#]).await;
    assert_eq!(o.data["enabled_features"], json!(["telephony", "messaging"]), "{:#}", o.data);

    // list-phones --available: only the free numbers.
    let all = cmd(&ctx, &["list-phones"]).await.data;
    let free = cmd(&ctx, &["list-phones", "--available"]).await.data;
    let free = free.as_array().unwrap();
    assert!(!free.is_empty() && free.iter().all(|p| p.get("connection_id").is_none_or(Value::is_null)), "{free:#?}");
    assert!(free.len() <= all.as_array().unwrap().len());

    // list-state after update-run … failed shows the run's status.
    let plan = r#"[{"step_id":"calls","description":"Call","sequence":1}]"#;
    cmd(&ctx, &["init", "Docs", "Call", "Req", plan]).await;
    cmd(&ctx, &["setup-agent", "docs", "Caller", "Ask"]).await;
    let st = |ctx: &Context| {
        let v: Value = serde_json::from_slice(&std::fs::read(ctx.cwd.join("state.json")).unwrap()).unwrap();
        v
    };
    let (mid, aid) = {
        let s = st(&ctx);
        let m = &s["docs"];
        (m["mission_id"].as_str().unwrap().to_string(), m["assistant_id"].as_str().unwrap().to_string())
    };

    // cancel-scheduled-event A E: the record is cancelled and the next poll ends its step.
    let o =
        cmd(&ctx, &["schedule", "call", "--mission", "docs", "--to", "+15005550006", "--at", "+1d", "--step", "calls"])
            .await;
    let eid = o.data["id"].as_str().unwrap().to_string();
    let o = cmd(&ctx, &["cancel-scheduled-event", &aid, &eid]).await;
    assert!(o.notes.iter().any(|n| n.contains("Marked cancelled in mission 'docs'")), "{o:?}");
    let rec = st(&ctx)["docs"]["memory"]["scheduled_events"][0].clone();
    assert_eq!((rec["status"].as_str(), rec["outcome"].as_str()), (Some("cancelled"), Some("cancelled")), "{rec:#}");
    let o = tokio::time::timeout(std::time::Duration::from_secs(60), cmd(&ctx, &["poll", "--watch"])).await.unwrap();
    assert!(!o.data.to_string().contains("\"error\":\""), "{:#}", o.data);
    let s = st(&ctx);
    let rec = s["docs"]["memory"]["scheduled_events"][0].clone();
    let rec = if rec.is_null() { s["_archive"][&mid]["memory"]["scheduled_events"][0].clone() } else { rec };
    assert_eq!(rec["settled"], true, "poll settled it without waiting a day: {s:#}");

    // update-run … failed, then list-state shows it (a fresh mission: the first one ended).
    cmd(&ctx, &["init", "Second", "Call", "Req"]).await;
    let s = st(&ctx);
    let (mid2, rid2) =
        (s["second"]["mission_id"].as_str().unwrap().to_string(), s["second"]["run_id"].as_str().unwrap().to_string());
    cmd(&ctx, &["update-run", &mid2, &rid2, "failed"]).await;
    let o = cmd(&ctx, &["list-state"]).await;
    let lines = crate::testing::text(&o);
    assert!(lines.contains("second: Second [failed]"), "{lines}");
}
