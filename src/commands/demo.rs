//! `clawdtalk demo`: a whole parallel-sweep mission, offline. It starts a
//! sandbox in-process on a free port (fast clock) and drives it through the
//! real client code (`crate::api`, the same typed client every command
//! uses): create the mission, run and plan, set up the calling agent,
//! schedule three calls, follow them to the end (retrying the busy one),
//! then print the insights and the final run status.
//!
//! The steps are separate functions (`init`, `setup_agent`, `schedule`,
//! `follow`, `finish`) so each can be replaced by the shared workflow
//! (`mission init`, `setup-agent`, `poll`) without touching the rest.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::api::assistants::{self, NewAssistant};
use crate::api::runs::{self, RunUpdate};
use crate::api::scheduled::{self, Channel, NewScheduledEvent};
use crate::api::{agents, insights, missions, phones, plan, Client, ClientOptions};
use crate::cli::sandbox::DemoArgs;
use crate::error::{Error, Result};
use crate::output::{Outcome, Progress, Table};
use crate::sandbox::{self, SandboxHandle, SandboxOptions};

use super::Context;

const NAME: &str = "Roof repair quotes";
const INSTRUCTIONS: &str =
    "Call three roofers in parallel, ask each for a quote to repair a leaking roof, and compare.";
const AGENT_INSTRUCTIONS: &str =
    "Ask for a quote to repair a leaking roof this week, and the earliest date they can start.";
const STEP: &str = "call_roofers";
const TARGETS: [&str; 3] = ["+15005550006", "+15005550005", "+15005550004"];
/// Retries per number for busy / no-answer / failed calls.
const MAX_RETRIES: u32 = 2;
/// Sandbox seconds before a busy number is called again (as poll does).
const RETRY_DELAY_SECONDS: i64 = 600;
/// The demo gives up after this much real time.
const DEADLINE: Duration = Duration::from_secs(60);

/// One number being called.
#[derive(Debug, Clone)]
struct Target {
    to: String,
    event_id: String,
    attempts: u32,
    status: String,
    call_status: Option<String>,
    conversation_id: Option<String>,
    outcome: Option<String>,
    insights: Option<Vec<Value>>,
}

impl Target {
    fn done(&self) -> bool {
        let terminal = self.status == "completed" || self.status == "failed";
        let retryable = self.status == "failed" && self.attempts <= MAX_RETRIES;
        terminal && !retryable && (self.conversation_id.is_none() || self.insights.is_some())
    }
}

/// Where the mission lives on the service.
struct Ids {
    mission_id: String,
    run_id: String,
    assistant_id: String,
    agent_phone: String,
}

pub async fn run(ctx: &Context, a: DemoArgs) -> Result<Outcome> {
    let started = Instant::now();
    let sb = sandbox::start(SandboxOptions { speed: a.speed, ..Default::default() }).await?;
    let client = demo_client(&sb)?;
    let progress = ctx.progress();
    progress.set(format!("sandbox on {} (clock ×{})", sb.root_url(), a.speed));
    let result = mission(&client, &sb, &progress).await;
    progress.finish();
    let elapsed = started.elapsed();
    sb.shutdown().await;
    let (ids, targets, run_status, summary) = result?;

    let mut t = Table::new(["NUMBER", "RESULT", "ATTEMPTS", "INSIGHT"]);
    for x in &targets {
        let result = match (&x.outcome, x.call_status.as_deref()) {
            (Some(o), _) => format!("{} ({o})", x.status),
            (None, Some(c)) if c != x.status => format!("{} ({c})", x.status),
            _ => x.status.clone(),
        };
        let insight = x
            .insights
            .as_ref()
            .and_then(|i| i.first())
            .map(|r| r.as_str().map(str::to_string).unwrap_or_else(|| r.to_string()))
            .unwrap_or_else(|| "-".into());
        t.row([x.to.clone(), result, x.attempts.to_string(), insight]);
    }
    let data = json!({
        "mission_id": ids.mission_id,
        "run_id": ids.run_id,
        "assistant_id": ids.assistant_id,
        "agent_phone": ids.agent_phone,
        "targets": targets.iter().map(|x| json!({
            "to": x.to, "status": x.status, "call_status": x.call_status, "outcome": x.outcome,
            "attempts": x.attempts, "conversation_id": x.conversation_id, "insights": x.insights,
        })).collect::<Vec<_>>(),
        "run_status": run_status,
        "result_summary": summary,
        "seconds": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
    });
    let ok = run_status == "succeeded";
    Ok(Outcome::data(data)
        .line(format!("Mission \"{NAME}\": {} / run {}", ids.mission_id, ids.run_id))
        .line(format!("Agent {} calling from {}", ids.assistant_id, ids.agent_phone))
        .table(t)
        .line(format!("Run status: {run_status} ({summary})"))
        .line(format!("Demo finished in {:.1} s, all offline against an in-process sandbox.", elapsed.as_secs_f64()))
        .with_exit_code(if ok { 0 } else { 1 }))
}

/// A client for the in-process sandbox with a test key (no configuration is read).
fn demo_client(sb: &SandboxHandle) -> Result<Client> {
    Client::new(ClientOptions {
        base_url: sb.api_url(),
        api_key: crate::config::Secret::new("cc_test_demo000000000000"),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        retry: crate::api::RetryPolicy::default(),
        key_header: None,
    })
}

type MissionResult = (Ids, Vec<Target>, String, String);

async fn mission(client: &Client, sb: &SandboxHandle, progress: &Progress) -> Result<MissionResult> {
    progress.set("init: mission, run and plan");
    let (mission_id, run_id) = init(client).await?;
    progress.set("setup-agent: assistant and caller number");
    let (assistant_id, agent_phone) = setup_agent(client, &mission_id, &run_id).await?;
    let ids = Ids { mission_id, run_id, assistant_id, agent_phone };
    progress.set("scheduling three calls");
    let mut targets = Vec::new();
    for to in TARGETS {
        let event_id = schedule(client, sb, &ids, to, 65).await?;
        targets.push(Target {
            to: to.to_string(),
            event_id,
            attempts: 1,
            status: "pending".into(),
            call_status: None,
            conversation_id: None,
            outcome: None,
            insights: None,
        });
    }
    plan::update_step(client, &ids.mission_id, &ids.run_id, STEP, "in_progress").await?;
    follow(client, sb, &ids, &mut targets, progress).await?;
    let (status, summary) = finish(client, &ids, &targets).await?;
    Ok((ids, targets, status, summary))
}

/// `init`: mission, run (input = the original request), plan, run `running`.
async fn init(client: &Client) -> Result<(String, String)> {
    let m = missions::create(client, NAME, INSTRUCTIONS).await?;
    let r =
        runs::create(client, &m.id, &json!({"original_request": "Get me three quotes for fixing the roof"})).await?;
    let steps = json!([
        {"step_id": "find_roofers", "description": "Find three local roofers", "sequence": 1},
        {"step_id": STEP, "description": "Call them in parallel and ask for a quote", "sequence": 2},
    ]);
    plan::create(client, &m.id, &r.id, &steps).await?;
    runs::update(client, &m.id, &r.id, &RunUpdate { status: Some("running".into()), ..Default::default() }).await?;
    // The bot's own research step: done before the calls.
    plan::update_step(client, &m.id, &r.id, "find_roofers", "completed").await?;
    Ok((m.id, r.id))
}

/// `setup-agent`: assistant, linked to the run; the available number is the caller id.
async fn setup_agent(client: &Client, mission_id: &str, run_id: &str) -> Result<(String, String)> {
    let a = assistants::create(client, &NewAssistant::new("Roof quote caller", AGENT_INSTRUCTIONS)).await?;
    agents::link(client, mission_id, run_id, &a.id).await?;
    let phone = phones::available(client)
        .await?
        .ok_or_else(|| Error::failed("the sandbox offered no available phone number"))?;
    Ok((a.id, phone.phone_number))
}

/// Schedule one call `delay` sandbox seconds from the sandbox's now (at least
/// a minute ahead of the real clock too, since the sandbox clock runs ahead).
async fn schedule(client: &Client, sb: &SandboxHandle, ids: &Ids, to: &str, delay: i64) -> Result<String> {
    let at: DateTime<Utc> = sb.shared.clock.now() + chrono::Duration::seconds(delay);
    let e = NewScheduledEvent {
        channel: Channel::Call,
        to: to.to_string(),
        from: ids.agent_phone.clone(),
        scheduled_at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        mission_id: Some(ids.mission_id.clone()),
        run_id: Some(ids.run_id.clone()),
        step_id: Some(STEP.to_string()),
    };
    Ok(scheduled::create(client, &ids.assistant_id, &e).await?.id)
}

/// Poll every event until each number is settled: reschedule retryable
/// failures, fetch insights of completed calls until they are final.
async fn follow(
    client: &Client,
    sb: &SandboxHandle,
    ids: &Ids,
    targets: &mut [Target],
    progress: &Progress,
) -> Result<()> {
    let deadline = Instant::now() + DEADLINE;
    while !targets.iter().all(Target::done) {
        if Instant::now() > deadline {
            return Err(Error::failed("the demo mission did not finish within 60 s"));
        }
        for t in targets.iter_mut().filter(|t| !t.done()) {
            let e = scheduled::get(client, &ids.assistant_id, &t.event_id).await?;
            t.status = e.status.clone().unwrap_or_else(|| "pending".into());
            t.call_status = e.call_status.clone();
            t.conversation_id = e.conversation_id.clone();
            t.outcome = e.extra.get("outcome").and_then(Value::as_str).map(str::to_string);
            if t.status == "failed" && t.attempts <= MAX_RETRIES {
                t.event_id = schedule(client, sb, ids, &t.to, RETRY_DELAY_SECONDS).await?;
                t.attempts += 1;
                t.status = "pending".into();
                continue;
            }
            if let Some(conv) = t.conversation_id.clone() {
                let found = insights::get(client, &conv).await?;
                let results = insights::completed_results(&found);
                if !results.is_empty() {
                    t.insights = Some(results);
                }
            }
        }
        let line: Vec<String> = targets
            .iter()
            .map(|t| {
                let state = match (t.status.as_str(), t.call_status.as_deref()) {
                    (_, _) if t.done() => "done".to_string(),
                    ("completed", _) => "insights…".to_string(),
                    (_, Some(c)) => c.to_string(),
                    (s, None) => s.to_string(),
                };
                let retry = if t.attempts > 1 { format!(" (attempt {})", t.attempts) } else { String::new() };
                // Only the last four digits: enough to tell the three apart.
                let tail: String = t.to.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
                format!("…{tail} {state}{retry}")
            })
            .collect();
        progress.set(format!("calls: {}", line.join(", ")));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Close the calls step and the run, like `mission complete`.
async fn finish(client: &Client, ids: &Ids, targets: &[Target]) -> Result<(String, String)> {
    let reached = targets.iter().filter(|t| t.status == "completed").count();
    let step_status = if reached > 0 { "completed" } else { "failed" };
    plan::update_step(client, &ids.mission_id, &ids.run_id, STEP, step_status).await?;
    let run_status = if reached > 0 { "succeeded" } else { "failed" };
    let summary = format!("{reached} of {} roofers reached", targets.len());
    let payload =
        json!({ "quotes": targets.iter().map(|t| json!({"to": t.to, "insights": t.insights})).collect::<Vec<_>>() });
    let u = RunUpdate {
        status: Some(run_status.into()),
        result_summary: Some(summary.clone()),
        result_payload: Some(payload),
    };
    runs::update(client, &ids.mission_id, &ids.run_id, &u).await?;
    let r = runs::get(client, &ids.mission_id, &ids.run_id).await?;
    Ok((r.status.unwrap_or_else(|| run_status.to_string()), summary))
}
