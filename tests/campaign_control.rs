//! Campaign control end to end (docs/campaigns.md#pause-and-resume): the
//! built binary against the in-process sandbox, its clock started on a
//! Monday at 15:00 UTC (10:00 in New York). A batch of four targets is
//! paused, resumed, played out by poll (two fail), and its failed targets
//! retried after poll ended and archived the mission.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{json, Value};

use common::campaign::{clawdtalk, kill_when, rand_ms, run_json, state_file, sweep_mission};
use common::sandbox::{SandboxOptions, TestSandbox};
use common::Sandboxed;

const START: &str = "2026-01-05T15:00:00Z";
/// Answered, voicemail (answered), network failure, busy: the last two fail.
const NUMBERS: [&str; 4] = ["+15005550006", "+15005550004", "+15005550003", "+15005550001"];

struct World {
    sb: TestSandbox,
    env: Sandboxed,
    aid: String,
    mid: String,
    rid: String,
}

impl World {
    /// A mission with a run, a plan step `calls` and an assistant, in the state file.
    fn new() -> World {
        let start = DateTime::parse_from_rfc3339(START).unwrap().with_timezone(&Utc);
        let sb = TestSandbox::with(SandboxOptions { speed: 5.0, start: Some(start), ..SandboxOptions::default() });
        let env = Sandboxed::new();
        let aid = sweep_mission(&sb, &env);
        let st: Value = serde_json::from_slice(&std::fs::read(state_file(&env)).unwrap()).unwrap();
        let (mid, rid) = (
            st["sweep"]["mission_id"].as_str().unwrap().to_string(),
            st["sweep"]["run_id"].as_str().unwrap().to_string(),
        );
        let steps = json!({"steps": [{"step_id": "calls", "description": "Call", "sequence": 1}]});
        assert!(sb.call("POST", &format!("/v1/missions/{mid}/runs/{rid}/plan"), Some(steps)).status < 300);
        sb.call("PATCH", &format!("/v1/missions/{mid}/runs/{rid}"), Some(json!({"status": "running"})));
        World { sb, env, aid, mid, rid }
    }

    fn state_file(&self) -> PathBuf {
        state_file(&self.env)
    }

    fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.state_file()).unwrap()).unwrap()
    }

    /// `clawdtalk --json ARGS…` against the sandbox; its JSON output.
    fn run(&self, args: &[&str]) -> Value {
        let mut c = clawdtalk(&self.env, &self.sb);
        c.args(args);
        run_json(c)
    }

    /// The sandbox's events of the assistant: (to, scheduled_at, status).
    fn events(&self) -> Vec<(String, String, String)> {
        let r = self.sb.call("GET", &format!("/v1/assistants/{}/events", self.aid), None);
        let list = r.json.get("events").or_else(|| r.json.get("data")).and_then(Value::as_array).cloned();
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        list.unwrap_or_default().iter().map(|e| (s(&e["to"]), s(&e["scheduled_at"]), s(&e["status"]))).collect()
    }

    /// Move the sandbox clock; the clients' remembered sample of it
    /// (`clock.json` in the data dir, docs/protocol.md#service-clock) is
    /// dropped, as a real service's clock never jumps.
    fn advance(&self, seconds: f64) {
        self.sb.advance(seconds);
        let _ = std::fs::remove_file(self.env.home().join(".local/share/clawdtalk/clock.json"));
    }

    fn targets(&self, archived: bool) -> Vec<Value> {
        let st = self.state();
        let m = if archived {
            st["_archive"].as_object().unwrap().values().next().unwrap().clone()
        } else {
            st["sweep"].clone()
        };
        m["memory"]["targets"].as_array().cloned().unwrap_or_default()
    }

    fn run_status(&self) -> String {
        let r = self.sb.call("GET", &format!("/v1/missions/{}/runs/{}", self.mid, self.rid), None);
        r.json["data"]["status"].as_str().or_else(|| r.json["status"].as_str()).unwrap_or_default().to_string()
    }
}

fn per_number(evs: &[(String, String, String)]) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for (to, _, _) in evs {
        *n.entry(to.clone()).or_default() += 1;
    }
    n
}

/// Inside 09:00–17:00 Monday to Friday in New York.
fn in_window(at: &str) -> bool {
    let local = DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&chrono_tz::America::New_York);
    (9..17).contains(&local.hour()) && local.weekday().num_days_from_monday() < 5
}

#[test]
fn pause_resume_poll_and_retry_failed_each_target_exactly_once() {
    let w = World::new();
    let csv = format!("phone,name\n{}\n", NUMBERS.map(|n| format!("{n},x")).join("\n"));
    let file = w.env.path().join("targets.csv");
    std::fs::write(&file, csv).unwrap();
    let file = file.display().to_string();
    let batch = ["schedule", "batch", "--mission", "sweep", "--file", &file, "--step", "calls"];
    let pacing = ["--default-tz", "America/New_York", "--concurrency", "3", "--start", "2026-01-05T15:10:00Z"];
    let done = w.run(&[&batch[..], &pacing[..]].concat());
    assert_eq!(done["totals"]["created"], 4, "{:#}", done["totals"]);

    // Pause: every event cancelled on the service, every target paused.
    let paused = w.run(&["mission", "pause", "sweep"]);
    assert_eq!(paused["paused"].as_array().map(Vec::len), Some(4), "{paused:#}");
    assert!(w.events().is_empty(), "cancelled on the sandbox: {:?}", w.events());
    assert!(w.targets(false).iter().all(|t| t["status"] == "paused"), "{:#?}", w.targets(false));
    let again = w.run(&["mission", "pause", "sweep"]);
    assert_eq!((again["paused"].as_array().map(Vec::len), again["already_paused"].as_u64()), (Some(0), Some(4)));
    let status = w.run(&["mission", "status", "sweep"]);
    assert_eq!(status["campaign"]["counts"]["paused"], 4, "{:#}", status["campaign"]);

    // Resume: one new event per target, inside its window, from --start.
    let resume = ["mission", "resume", "sweep", "--start", "2026-01-05T15:20:00Z", "--concurrency", "3"];
    let resumed = w.run(&resume);
    assert_eq!(resumed["totals"]["created"], 4, "{resumed:#}");
    let evs = w.events();
    assert_eq!(per_number(&evs).values().copied().collect::<Vec<_>>(), [1, 1, 1, 1], "{evs:?}");
    assert!(evs.iter().all(|(_, at, _)| in_window(at) && at.as_str() >= "2026-01-05T15:20:00Z"), "{evs:?}");
    assert!(w.targets(false).iter().all(|t| t["status"] == "scheduled"));
    // Each new event follows its paused one (the same attempt); the paused one is closed as cancelled.
    let recs = w.state()["sweep"]["memory"]["scheduled_events"].as_array().cloned().unwrap();
    assert_eq!(recs.len(), 8);
    for old in &recs[..4] {
        assert_eq!((old["paused"].as_bool(), old["outcome"].as_str()), (None, Some("cancelled")), "{old:#}");
        let next = recs.iter().find(|r| r["retry_of"] == old["event_id"]).unwrap();
        assert_eq!((next["to"].as_str(), next["attempt"].as_u64()), (old["to"].as_str(), None), "{next:#}");
    }
    assert_eq!(w.run(&resume)["totals"]["created"], 0, "resuming again creates nothing");
    assert_eq!(w.events().len(), 4);

    // The calls play out: two are answered, two fail for good; poll ends the run and archives.
    w.advance(3600.0);
    for _ in 0..6 {
        w.run(&["poll", "--max-retries", "0"]);
        if w.state().get("sweep").is_none() {
            break;
        }
        w.advance(60.0);
    }
    assert!(w.state().get("sweep").is_none(), "archived: {:#}", w.state());
    assert_eq!(w.run_status(), "succeeded");

    // Retry the failed ones: reopened, one new event each, exactly once.
    let retry = ["mission", "retry", "sweep", "--failed", "--start", "2026-01-05T17:00:00Z"];
    let retried = w.run(&retry);
    assert_eq!(retried["totals"]["created"], 2, "{retried:#}");
    assert_eq!(retried["retry"]["reopened"], true);
    assert_eq!(retried["retry"]["run_reopened"], true);
    assert_eq!(w.run_status(), "running");
    let st = w.state();
    assert!(st["sweep"]["memory"]["previous_result"]["result"]["status"].is_string(), "{:#}", st["sweep"]);
    // The new attempt is the failed one's next: attempt 2, `retry_of` it.
    let recs = st["sweep"]["memory"]["scheduled_events"].as_array().cloned().unwrap();
    let failed: Vec<&Value> = recs.iter().filter(|r| r["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{recs:#?}");
    for f in failed {
        let next = recs.iter().find(|r| r["retry_of"] == f["event_id"]).unwrap();
        assert_eq!((next["attempt"].as_u64(), next["status"].as_str()), (Some(2), Some("pending")), "{next:#}");
        assert_eq!(next["scheduled_at"], "2026-01-05T17:00:00Z");
    }
    let evs = w.events();
    let n = per_number(&evs);
    assert_eq!((n[NUMBERS[0]], n[NUMBERS[1]], n[NUMBERS[2]], n[NUMBERS[3]]), (1, 1, 2, 2), "{evs:?}");
    let again = w.run(&retry);
    assert_eq!(again["totals"]["created"], 0, "{again:#}");
    assert_eq!(w.events().len(), evs.len(), "retrying again creates nothing");
    let status = w.run(&["mission", "status", "sweep"]);
    let counts = &status["campaign"]["counts"];
    assert_eq!((counts["done"].as_u64(), counts["scheduled"].as_u64()), (Some(2), Some(2)), "{counts:#}");
    assert_eq!(status["campaign"]["next_slot"], "2026-01-05T17:00:00Z");

    // Each step that changed something left one journal line; the re-runs none.
    let journal = std::fs::read_to_string(w.env.home().join(".local/share/clawdtalk/journal.ndjson")).unwrap();
    let campaign: Vec<(String, String)> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"].as_str().is_some_and(|ev| ev.starts_with("campaign.")))
        .map(|e| (e["event"].as_str().unwrap().to_string(), e["text"].as_str().unwrap_or_default().to_string()))
        .collect();
    let want = [
        ("campaign.scheduled", "4 created, 0 adopted, 0 failed"),
        ("campaign.paused", "4 events paused"),
        ("campaign.resumed", "4 created, 0 adopted, 0 failed"),
        ("campaign.retried", "2 created, 0 adopted, 0 failed"),
    ];
    assert_eq!(campaign, want.map(|(a, b)| (a.to_string(), b.to_string())), "{journal}");
}

#[test]
fn a_resume_killed_at_random_points_and_run_again_gives_each_paused_target_exactly_one_event() {
    let w = World::new();
    let csv: String = (0..40).map(|i| format!("+1555010{:04},t{i}\n", 3000 + i)).collect();
    let file = w.env.path().join("targets.csv");
    std::fs::write(&file, format!("phone,name\n{csv}")).unwrap();
    let file = file.display().to_string();
    let batch = ["schedule", "batch", "--mission", "sweep", "--file", &file, "--step", "calls"];
    let pacing = ["--default-tz", "America/New_York", "--concurrency", "5", "--start", "2026-01-05T15:10:00Z"];
    assert_eq!(w.run(&[&batch[..], &pacing[..]].concat())["totals"]["created"], 40);
    assert_eq!(w.run(&["mission", "pause", "sweep"])["paused"].as_array().map(Vec::len), Some(40));
    assert!(w.events().is_empty());

    // SIGKILL a resume at a random moment of its start, then as soon as
    // the service holds a random number of its events.
    let resume = ["mission", "resume", "sweep", "--start", "2026-01-05T15:20:00Z", "--concurrency", "5"];
    let mut partial = 0;
    for at_least in [None, Some(1usize), Some(10), Some(20), Some(30)] {
        let mut c = clawdtalk(&w.env, &w.sb);
        let mut child = c.args(resume).stdout(std::process::Stdio::null()).spawn().unwrap();
        let goal = at_least.map(|n| n + (rand_ms() as usize) % 4);
        kill_when(&mut child, goal, || w.events().len());
        let n = w.events().len();
        partial += usize::from(n > 0 && n < 40);
        assert!(per_number(&w.events()).values().all(|&k| k == 1), "never two for a number: {:?}", w.events());
    }
    assert!(partial >= 2, "the kills landed mid-resume");
    let done = w.run(&resume);
    let evs = w.events();
    assert_eq!(evs.len(), 40, "{:#}", done["totals"]);
    assert!(per_number(&evs).values().all(|&k| k == 1), "{evs:?}");
    assert!(evs.iter().all(|(_, at, _)| in_window(at)), "{evs:?}");
    let targets = w.targets(false);
    assert_eq!(targets.iter().filter(|t| t["status"] == "scheduled").count(), 40, "{targets:#?}");
    assert_eq!(w.run(&resume)["totals"]["created"], 0, "resuming again creates nothing");
}
