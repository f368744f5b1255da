//! `clawdtalk demo`: a whole parallel-sweep mission, offline. It starts a
//! sandbox in-process on a free port (fast clock) and runs the mission
//! through the same functions the commands use, against a temporary state
//! file (or `--state FILE`, which keeps it):
//!
//! 1. `init` with a plan (workflow), then the bot's own research step marked
//!    done (`plan update-step`);
//! 2. `setup-agent` (workflow): assistant, link to the run, caller id;
//! 3. three `schedule call --mission SLUG` (with the automatic bookkeeping);
//! 4. `poll` (the mission lifecycle) until the mission ends, following the
//!    sandbox clock, with retry delays shortened for the demo;
//! 5. `mission status`, the insights per target and the final run status.
//!
//! Each step's output is shown as the command would print it, after a
//! `$ clawdtalk …` line; with `--json` only the final document is printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::scheduled::Channel;
use crate::cli::demo::DemoArgs;
use crate::clock::{ServiceClock, SystemClock};
use crate::config::{Config, MapEnv, Overrides};
use crate::error::{Error, Result};
use crate::ledger::report::mission_status;
use crate::ledger::{self, AssistantRequest, InitRequest, ScheduleRequest, SetupAgentRequest};
use crate::lifecycle::record::{INSIGHTS, RESULT};
use crate::lifecycle::{poll_once, Policy, PollOptions};
use crate::output::{shell_word, Outcome, Printer, Progress};
use crate::sandbox::{self, SandboxHandle, SandboxOptions};
use crate::state::slugify;
use crate::state::{AttemptOutcome, ScheduledEvent};

use super::support::claim;
use super::Context;

const NAME: &str = "Roof repair quotes";
const INSTRUCTIONS: &str =
    "Call three roofers in parallel, ask each for a quote to repair a leaking roof, and compare.";
const REQUEST: &str = "Get me three quotes for fixing the roof";
const AGENT_NAME: &str = "Roof quote caller";
const AGENT_INSTRUCTIONS: &str =
    "Ask for a quote to repair a leaking roof this week, and the earliest date they can start.";
/// The bot's own step, done before the calls.
const RESEARCH_STEP: &str = "find_roofers";
const STEP: &str = "call_roofers";
/// +15005550006 answers, +15005550005 is busy once then answers,
/// +15005550004 goes to voicemail.
pub const TARGETS: [&str; 3] = ["+15005550006", "+15005550005", "+15005550004"];
/// Any `cc_test_…` key passes the sandbox.
const DEMO_KEY: &str = "cc_test_demo000000000000";
/// Retry delays for the demo (sandbox time): poll's defaults are 5–30 min.
const RETRY_DELAY: Duration = Duration::from_secs(120);
/// Real time between polls.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The demo gives up when the sandbox clock has run this long (whatever `--speed`).
const SANDBOX_DEADLINE_SECONDS: i64 = 3600;

pub async fn run(ctx: &Context, a: DemoArgs) -> Result<Outcome> {
    let started = Instant::now();
    // Only `--state` keeps a state file; `$CLAWDTALK_STATE_FILE` and the
    // user's own state file are never touched by the demo.
    let (state_path, temp) = match &ctx.state_override {
        Some(p) => (ctx.cwd.join(p), None),
        None => {
            let dir = TempDir::create().await?;
            (dir.0.join("missions_state.json"), Some(dir))
        }
    };
    let result = match sandbox::start(SandboxOptions { speed: a.speed, ..Default::default() }).await {
        Ok(sb) => {
            let r = tokio::select! {
                r = mission(ctx, &sb, &state_path, temp.is_none()) => r,
                () = interrupted() => Err(Error::failed("demo stopped (Ctrl-C)")),
            };
            sb.shutdown().await;
            r
        }
        Err(e) => Err(e),
    };
    if let Some(t) = temp {
        t.remove().await;
    }
    let (mut outcome, kept) = result?;
    let secs = started.elapsed().as_secs_f64();
    outcome.data["seconds"] = json!((secs * 10.0).round() / 10.0);
    let tail = if kept {
        format!("the state file {} is kept", state_path.display())
    } else {
        "its temporary state file is removed (`--state FILE` keeps it)".into()
    };
    Ok(outcome.line(format!("Demo finished in {secs:.1} s, offline against an in-process sandbox; {tail}.")))
}

/// Resolves on Ctrl-C (never, when the signal cannot be watched).
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The context the demo's commands run in: the sandbox as the service (a
/// test key, no configuration file, no environment) and the demo's state file.
fn demo_context(ctx: &Context, sb: &SandboxHandle, state: &Path) -> Result<Context> {
    let overrides = Overrides { api_key: Some(DEMO_KEY.into()), api_url: Some(sb.api_url()), config_path: None };
    let config = Config::resolve_with_file(&overrides, &MapEnv::default(), None)?;
    // The sandbox's own clock, in memory: never mixed with the user's service clock.
    let clock = Arc::new(ServiceClock::new(Arc::new(SystemClock), &sb.api_url(), None));
    Ok(Context {
        config,
        clock: clock.clone(),
        service_clock: Some(clock),
        state_override: Some(state.to_path_buf()),
        config_path: None,
        interactive: false,
        journal: None,
        // The demo dials the sandbox's test numbers, never a phone: the
        // user's opt-out list is not the demo's.
        data_dir: None,
        ..ctx.clone()
    })
}

/// Shows each step as a terminal session would: `$ clawdtalk …`, then what
/// the command printed. Silent with `--json` (one document at the end).
struct Transcript {
    printer: Printer,
}

impl Transcript {
    fn command(&self, args: &[&str]) {
        if !self.printer.json {
            let words: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
            self.printer.print(&Outcome::default().line(format!("\n$ clawdtalk {}", words.join(" "))));
        }
    }

    fn show(&self, o: &Outcome) {
        if !self.printer.json {
            self.printer.print(o);
        }
    }
}

/// Returns the final outcome and whether the state file is kept.
async fn mission(ctx: &Context, sb: &SandboxHandle, state_path: &Path, kept: bool) -> Result<(Outcome, bool)> {
    let demo = demo_context(ctx, sb, state_path)?;
    let slug = slugify(NAME);
    if kept {
        // A mission left active by an interrupted demo belongs to a sandbox that is gone.
        let state = demo.state()?.read_async().await?;
        if state.mission(&slug).is_some() {
            return Err(Error::usage(format!(
                "the state file {} already has an active mission '{slug}' (from an interrupted demo?), whose \
                 sandbox is gone: remove it with `clawdtalk --state {} state remove {slug}`, or use another file",
                state_path.display(),
                state_path.display()
            )));
        }
    }
    let t = Transcript { printer: ctx.printer };
    t.show(&Outcome::default().line(format!(
        "ClawdTalk demo: a parallel-sweep mission against an in-process sandbox on {} (clock ×{}), no account \
         and no network.",
        sb.root_url(),
        sb.shared.clock.speed()
    )));

    let steps = json!([
        {"step_id": RESEARCH_STEP, "description": "Find three local roofers", "sequence": 1},
        {"step_id": STEP, "description": "Call them in parallel and ask for a quote", "sequence": 2},
    ])
    .to_string();
    t.command(&["init", NAME, INSTRUCTIONS, REQUEST, &steps]);
    let client = || demo.client();
    let store = demo.state()?;
    let req = InitRequest {
        name: NAME.into(),
        instructions: INSTRUCTIONS.into(),
        request: REQUEST.into(),
        steps_json: Some(steps.clone()),
    };
    let init = ledger::init(&client, &store, demo.now(), req).await?;
    t.show(&init);
    let field = |o: &Outcome, k: &str| o.data.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let (mission_id, run_id) = (field(&init, "mission_id"), field(&init, "run_id"));

    t.command(&["setup-agent", &slug, AGENT_NAME, AGENT_INSTRUCTIONS]);
    let req = SetupAgentRequest {
        mission: slug.clone(),
        create: false,
        assistant: AssistantRequest {
            name: AGENT_NAME.into(),
            instructions: AGENT_INSTRUCTIONS.into(),
            ..AssistantRequest::default()
        },
    };
    let agent = ledger::setup_agent(&client, &store, demo.now(), req).await?;
    t.show(&agent);

    // The research step is the bot's own work: it is done before the calls.
    t.command(&["plan", "update-step", &mission_id, &run_id, RESEARCH_STEP, "completed"]);
    crate::api::plan::update_step(&client()?, &mission_id, &run_id, RESEARCH_STEP, "completed").await?;
    t.show(&Outcome::default().line(format!("Updated step '{RESEARCH_STEP}': completed")));

    for to in TARGETS {
        t.command(&["schedule", "call", "--mission", &slug, "--to", to, "--at", "+1m", "--step", STEP]);
        let req = ScheduleRequest {
            assistant_id: String::new(),
            channel: Channel::Call,
            to: to.into(),
            from: String::new(),
            at: "+1m".into(),
            mission_id: None,
            run_id: None,
            step_id: Some(STEP.into()),
            mission: Some(slug.clone()),
            track: true,
        };
        let gate = demo.gate().await?;
        t.show(&ledger::schedule(&client, Some(&store), &claim(&demo), demo.now(), &req, &gate).await?);
    }

    let followed = poll_step(&t, ctx, &demo, sb, &slug, &mission_id).await?;

    t.command(&["mission", "status", &slug]);
    let status = mission_status(&store, || demo.api_service(), &slug).await?;
    t.show(&status);

    let outcome = summary(&demo, &mission_id, &status, &agent, &followed, sb, kept).await?;
    Ok((outcome, kept))
}

/// Step 4: `poll --watch` as the demo runs it (shortened retry delays),
/// with the changes it made.
async fn poll_step(
    t: &Transcript,
    ctx: &Context,
    demo: &Context,
    sb: &SandboxHandle,
    slug: &str,
    mission_id: &str,
) -> Result<Followed> {
    let delay = RETRY_DELAY.as_secs() / 60;
    t.command(&[
        "poll",
        "--watch",
        "--mission",
        slug,
        "--busy-delay",
        &delay.to_string(),
        "--no-answer-delay",
        &delay.to_string(),
        "--failed-delay",
        &delay.to_string(),
    ]);
    let progress = ctx.progress();
    let followed = follow(demo, sb, slug, mission_id, &progress).await;
    progress.finish();
    let followed = followed?;
    let mut poll_out = Outcome::default();
    for c in &followed.changes {
        poll_out = poll_out.line(format!("{slug}: {c}"));
    }
    t.show(&poll_out.line(format!("{} polls; mission ended: {}", followed.polls, followed.ended)));
    Ok(followed)
}

/// What following the mission with poll gave.
struct Followed {
    polls: usize,
    changes: Vec<String>,
    /// The run's final status, as poll set it.
    ended: String,
}

/// Poll (the mission lifecycle, following the sandbox clock) until the
/// mission ends, showing each target's progress.
async fn follow(
    demo: &Context,
    sb: &SandboxHandle,
    slug: &str,
    mission_id: &str,
    progress: &Progress,
) -> Result<Followed> {
    let store = demo.state()?;
    let service = demo.api_service()?;
    let opts = PollOptions {
        notify: None,
        mission: Some(slug.to_string()),
        policy: Policy {
            busy_delay: RETRY_DELAY,
            no_answer_delay: RETRY_DELAY,
            failed_delay: RETRY_DELAY,
            ..Policy::default()
        },
        concurrency: 8,
        optout_dir: demo.data_dir.clone(),
    };
    let deadline = sb.shared.clock.now() + chrono::Duration::seconds(SANDBOX_DEADLINE_SECONDS);
    let mut out = Followed { polls: 0, changes: Vec::new(), ended: String::new() };
    loop {
        match poll_once(&store, || Ok(&service), &opts).await {
            Ok(report) => {
                for m in report.missions {
                    out.changes.extend(m.changes);
                    if let Some(e) = m.error {
                        progress.set(format!("poll: {e} (nothing lost: trying again)"));
                    }
                    if let Some(status) = m.ended {
                        out.ended = status;
                    }
                }
            }
            // A transient failure: the next poll starts over.
            Err(e @ (Error::Network(_) | Error::Api { .. })) => {
                progress.set(format!("poll failed ({e}); trying again"))
            }
            Err(e) => return Err(e),
        }
        out.polls += 1;
        let state = store.read_async().await?;
        let (found, m) = state.lookup(mission_id)?;
        let records = m.scheduled_events();
        progress.set(progress_line(&records));
        if matches!(found, crate::state::Found::Archived(_)) {
            return Ok(out);
        }
        if !records.is_empty() && records.iter().all(|r| r.settled) {
            // Every call settled but the mission did not end: say what poll said.
            return Err(Error::failed(format!(
                "the calls are done but the mission did not end ({})",
                out.changes.last().cloned().unwrap_or_default()
            )));
        }
        if sb.shared.clock.now() > deadline {
            return Err(Error::failed(format!(
                "the demo mission did not end within {} sandbox minutes",
                SANDBOX_DEADLINE_SECONDS / 60
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// One line with each target's latest attempt, e.g.
/// `calls: …0006 in-progress, …0005 pending (attempt 2), …0004 ringing`.
pub fn progress_line(records: &[ScheduledEvent]) -> String {
    let mut parts = Vec::new();
    for to in TARGETS {
        let Some(r) = records.iter().filter(|r| r.to == to).max_by_key(|r| r.attempt) else { continue };
        let state = match (r.outcome, r.status.as_str()) {
            (Some(AttemptOutcome::Succeeded), _) if r.settled => "done".to_string(),
            (Some(AttemptOutcome::Succeeded), _) => "insights…".to_string(),
            (Some(AttemptOutcome::Retrying), _) => {
                format!("{}, retry scheduled", r.call_status.as_deref().unwrap_or(&r.status))
            }
            (Some(AttemptOutcome::Failed), _) => format!("failed ({})", r.call_status.as_deref().unwrap_or("-")),
            (Some(AttemptOutcome::Cancelled), _) => "cancelled".to_string(),
            (None, "completed") => "completed".to_string(),
            (None, status) => r.call_status.clone().unwrap_or_else(|| status.to_string()),
        };
        let attempt = if r.attempt > 1 { format!(" (attempt {})", r.attempt) } else { String::new() };
        // The last four digits are enough to tell the three apart.
        let tail: String = to.chars().skip(to.chars().count().saturating_sub(4)).collect();
        parts.push(format!("…{tail} {state}{attempt}"));
    }
    format!("calls: {}", parts.join(", "))
}

/// The final outcome: the insights per target, the run status, and the
/// JSON document (mission, targets, insights, result, retries).
async fn summary(
    demo: &Context,
    mission_id: &str,
    status: &Outcome,
    agent: &Outcome,
    followed: &Followed,
    sb: &SandboxHandle,
    kept: bool,
) -> Result<Outcome> {
    let state = demo.state()?.read_async().await?;
    let (_, m) = state.lookup(mission_id)?;
    let records = m.scheduled_events();
    let saved = m.memory_get(INSIGHTS).cloned().unwrap_or(json!({}));
    let result = m.memory_get(RESULT).cloned().unwrap_or(Value::Null);
    let retries = records.iter().filter(|r| r.retry_of.is_some()).count();
    let run_status = status.data["run_status"].as_str().unwrap_or("unknown").to_string();

    let mut o = Outcome::default().line("").line("Insights:");
    let mut insights = Vec::new();
    for to in TARGETS {
        let results: Vec<Value> = saved
            .as_object()
            .into_iter()
            .flat_map(|all| all.values())
            .filter(|e| e["to"] == to)
            .flat_map(|e| e["results"].as_array().cloned().unwrap_or_default())
            .collect();
        let text: Vec<String> =
            results.iter().map(|r| r.as_str().map(str::to_string).unwrap_or_else(|| r.to_string())).collect();
        o = o.line(format!("  {to}  {}", if text.is_empty() { "-".into() } else { text.join(" / ") }));
        insights.push(json!({"to": to, "results": results}));
    }
    let reason = result["reason"].as_str().unwrap_or_default();
    o = o.line(format!("Run status: {run_status} ({reason})"));
    o.data = json!({
        "sandbox": {"root_url": sb.root_url(), "speed": sb.shared.clock.speed()},
        "slug": status.data["slug"],
        "mission_id": status.data["mission_id"],
        "run_id": status.data["run_id"],
        "assistant_id": agent.data["assistant_id"],
        "agent_phone": agent.data["agent_phone"],
        "run_status": run_status,
        "result": result,
        "steps": status.data["steps"],
        "targets": status.data["targets"],
        "insights": insights,
        "retries": retries,
        "polls": followed.polls,
        "state_file": kept.then(|| demo.state().map(|s| s.path().display().to_string()).unwrap_or_default()),
    });
    if run_status != "succeeded" {
        o = o.with_exit_code(1);
    }
    Ok(o)
}

/// A private temporary directory for the demo's state file, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    async fn create() -> Result<TempDir> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let mut last = None;
        for i in 0..16u32 {
            let dir = base.join(format!("clawdtalk-demo-{}-{nanos}-{i}", std::process::id()));
            let mut b = tokio::fs::DirBuilder::new();
            #[cfg(unix)]
            b.mode(0o700);
            match b.create(&dir).await {
                Ok(()) => return Ok(TempDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => {
                    return Err(Error::state(format!(
                        "cannot create a temporary directory in {} for the demo's state file: {e} (pass --state FILE)",
                        base.display()
                    )))
                }
            }
        }
        Err(Error::state(format!(
            "cannot create a temporary directory in {}: {}",
            base.display(),
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    async fn remove(self) {
        let _ = tokio::fs::remove_dir_all(&self.0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RetryIntent;

    fn rec(id: &str, to: &str, attempt: u32) -> ScheduledEvent {
        let mut r = ScheduledEvent::new(id, to, "2030-01-01T00:00:00Z", Some(STEP));
        r.attempt = attempt;
        r
    }

    #[test]
    fn progress_shows_the_retry_as_pending_not_the_busy_first_attempt() {
        let mut busy = rec("e5", "+15005550005", 1);
        busy.status = "failed".into();
        busy.call_status = Some("busy".into());
        busy.outcome = Some(AttemptOutcome::Retrying);
        busy.retry = Some(RetryIntent { attempt: 2, scheduled_at: "x".into(), event_id: Some("e5b".into()) });
        let mut retry = rec("e5b", "+15005550005", 2);
        retry.retry_of = Some("e5".into());
        let mut ringing = rec("e6", "+15005550006", 1);
        ringing.status = "in_progress".into();
        ringing.call_status = Some("ringing".into());
        let line = progress_line(&[ringing, busy.clone(), retry]);
        assert_eq!(line, "calls: …0006 ringing, …0005 pending (attempt 2)");
        assert_eq!(progress_line(&[busy]), "calls: …0005 busy, retry scheduled");
    }

    #[test]
    fn progress_says_done_only_once_insights_are_in() {
        let mut r = rec("e4", "+15005550004", 1);
        r.status = "completed".into();
        r.call_status = Some("completed".into());
        r.outcome = Some(AttemptOutcome::Succeeded);
        assert_eq!(progress_line(std::slice::from_ref(&r)), "calls: …0004 insights…");
        r.settled = true;
        assert_eq!(progress_line(&[r]), "calls: …0004 done");
    }
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use crate::testing::{parse, Harness};

    fn args(words: &[&str]) -> DemoArgs {
        match parse(&[&["demo"], words].concat()) {
            crate::cli::Command::Demo(a) => a,
            other => panic!("not a demo command: {other:?}"),
        }
    }

    /// The demo talks only to its own sandbox: the configured service (the
    /// fake) hears nothing, and the mission ends succeeded in the state file
    /// the context names.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_runs_offline_and_never_calls_the_configured_service() {
        let h = Harness::start().await.json();
        // The demo schedules from the context's clock while its sandbox
        // starts its own clock at the real time: the two must agree.
        h.clock.set(chrono::Utc::now());
        let o = run(&h.ctx(), args(&["--speed", "2000"])).await.unwrap();
        assert!(h.service.requests().is_empty(), "{:?}", h.service.lines());
        assert_eq!(o.data["run_status"], "succeeded", "{}", o.data);
        assert_eq!(o.data["targets"].as_array().map(Vec::len), Some(3));
        assert_eq!(o.exit_code, 0);
        assert!(h.state().archived().next().is_some(), "the finished mission is archived in the kept state file");
    }

    #[tokio::test]
    async fn a_speed_that_is_not_positive_is_refused_before_the_demo_starts() {
        use clap::Parser;
        let e = crate::cli::Cli::try_parse_from(["clawdtalk", "demo", "--speed", "0"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(e.to_string().contains("above 0"), "{e}");
    }
}
