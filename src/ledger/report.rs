//! Reports on a mission's books: its targets (each number in a step, its
//! attempts folded together) and the `mission status` overview.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::error::Result;
use crate::lifecycle::engine::PlanStep;
use crate::lifecycle::record::{FAILED_TARGETS, INSIGHTS, RESULT};
use crate::lifecycle::service::{RunRef, Service};
use crate::output::{Block, Outcome, Table};
use crate::redact::sanitize_for_terminal;
use crate::state::{Found, ScheduledEvent, StateStore};

/// One target (a number in a step): its attempts folded together.
#[derive(Debug, Clone, serde::Serialize)]
struct Target {
    step_id: Option<String>,
    channel: String,
    to: String,
    status: String,
    call_status: Option<String>,
    attempts: u32,
    outcome: Option<String>,
    event_id: String,
    insights: Option<String>,
}

fn summarize(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let s = s.replace('\n', " ");
    if s.chars().count() > 70 {
        format!("{}…", s.chars().take(70).collect::<String>())
    } else {
        s
    }
}

fn targets(records: &[ScheduledEvent], insights: Option<&Value>) -> Vec<Target> {
    let mut by: BTreeMap<(Option<String>, String, String), Vec<&ScheduledEvent>> = BTreeMap::new();
    for r in records {
        by.entry((r.step_id.clone(), r.channel.clone(), r.to.clone())).or_default().push(r);
    }
    by.into_values()
        .filter_map(|mut rs| {
            rs.sort_by_key(|r| r.attempt);
            let last = *rs.last()?;
            let insight = rs.iter().rev().find_map(|r| {
                let e = insights?.get(&r.event_id)?;
                let first = e.get("results").and_then(Value::as_array).and_then(|a| a.first()).map(summarize);
                Some(first.unwrap_or_else(|| format!("({})", e["status"].as_str().unwrap_or("pending"))))
            });
            Some(Target {
                step_id: last.step_id.clone(),
                channel: last.channel.clone(),
                to: last.to.clone(),
                status: last.status.clone(),
                call_status: last.call_status.clone(),
                attempts: last.attempt,
                outcome: last
                    .outcome
                    .and_then(|o| serde_json::to_value(o).ok())
                    .and_then(|v| v.as_str().map(String::from)),
                event_id: last.event_id.clone(),
                insights: insight,
            })
        })
        .collect()
}

/// A mission at a glance (`mission status SLUG`): the run and plan as the
/// service has them (when `service` can be built and asked; else a note and
/// the local state), each target's attempts folded together, and what is
/// still pending. `key` is a slug or mission id, active or archived.
pub async fn mission_status<S: Service>(
    store: &StateStore,
    service: impl FnOnce() -> Result<S>,
    key: &str,
) -> Result<Outcome> {
    let state = store.read_async().await?;
    let (found, m) = state.lookup(key)?;
    let archived = matches!(found, Found::Archived(_));
    let slug = match &found {
        Found::Active(s) => s.clone(),
        Found::Archived(_) => m.get_str("slug").unwrap_or_else(|| key.to_string()),
    };
    let records = m.scheduled_events();
    let result = m.memory_get(RESULT).cloned();
    let mut notes = Vec::new();

    // The run and plan as the service has them, when it can be asked.
    let mut run_status = None;
    let mut plan: Option<Vec<PlanStep>> = None;
    if let (Some(mission_id), Some(run_id)) = (m.mission_id(), m.run_id()) {
        match service() {
            Ok(svc) => {
                let run = RunRef { mission_id, run_id };
                match futures_util::future::join(svc.run_status(&run), svc.plan(&run)).await {
                    (Ok(rs), Ok(p)) => {
                        run_status = rs;
                        plan = Some(p);
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        notes.push(format!("the service could not be asked ({e}); showing the local state"))
                    }
                }
            }
            Err(e) => notes.push(format!("{e}; showing the local state only")),
        }
    }
    let run_status = run_status
        .or_else(|| result.as_ref().and_then(|r| r["status"].as_str().map(String::from)))
        .or_else(|| m.status())
        .unwrap_or_else(|| "unknown".into());
    let steps: Vec<Value> = match &plan {
        Some(p) => p
            .iter()
            .map(|s| {
                let n = records.iter().filter(|r| r.step_id.as_deref() == Some(s.step_id.as_str())).count();
                json!({"step_id": s.step_id, "status": s.status, "events": n})
            })
            .collect(),
        None => {
            let mut ids: Vec<&str> = records.iter().filter_map(|r| r.step_id.as_deref()).collect();
            ids.dedup();
            ids.iter().map(|s| json!({"step_id": s, "status": "unknown", "events": 0})).collect()
        }
    };
    let ts = targets(&records, m.memory_get(INSIGHTS));
    let pending = records.iter().filter(|r| !r.settled).count();
    let failed = m.memory_get(FAILED_TARGETS).cloned().unwrap_or(json!([]));
    let calls = agentphone_calls(m.memory_get(super::agentphone::MEMORY_KEY));
    let unsent = unsent_reports(m);

    let data = json!({
        "slug": slug, "mission_id": m.mission_id(), "run_id": m.run_id(), "archived": archived,
        "run_status": run_status, "steps": steps, "targets": ts, "pending_events": pending,
        "failed_targets": failed, "result": result, "agentphone_calls": calls, "unsent_reports": unsent,
    });
    let mut o = Outcome::data(data);
    o.blocks = status_blocks(&slug, archived, &run_status, pending, result.as_ref(), &steps, &ts);
    o.blocks.extend(agentphone_blocks(&calls));
    if !unsent.is_empty() {
        let mut lines = vec![String::new(), "reports to the agent not sent:".to_string()];
        for r in &unsent {
            let how = if r["status"] == "unsent" { "given up" } else { "the next poll tries again" };
            let clean = |k: &str| sanitize_for_terminal(r[k].as_str().unwrap_or("-"));
            lines.push(format!("  report={}: {} ({how})", clean("id"), clean("error")));
        }
        o.blocks.push(Block::Line(lines.join("\n")));
    }
    if ts.is_empty() && calls.is_empty() {
        o = o.line("").line("no scheduled calls or SMS tracked for this mission");
    }
    for n in notes {
        o = o.note(n);
    }
    Ok(o)
}

/// Reports to the agent that have not reached it (docs/missions.md#reports-to-the-agent):
/// given up, or owed after a failed attempt.
fn unsent_reports(m: &crate::state::MissionState) -> Vec<Value> {
    m.unsent_reports()
        .iter()
        .map(|r| json!({"id": r.id, "kind": r.kind, "status": r.status, "attempts": r.attempts, "error": r.error}))
        .collect()
}

/// The AgentPhone calls booked to the mission (`agentphone call --mission`),
/// as recorded in its memory: id, number, status, outcome and a one-line
/// summary each, in the order they were made.
fn agentphone_calls(records: Option<&Value>) -> Vec<Value> {
    let Some(list) = records.and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(Value::as_object)
        .map(|r| {
            let s = |k: &str| r.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(Value::Null);
            let summary = r.get("summary").filter(|v| !v.is_null()).map(summarize);
            json!({"call_id": s("call_id"), "to": s("to"), "status": s("status"), "outcome": s("outcome"),
                "failure_reason": s("failure_reason"), "summary": summary})
        })
        .collect()
}

/// The table of AgentPhone calls (nothing when there are none).
fn agentphone_blocks(calls: &[Value]) -> Vec<Block> {
    if calls.is_empty() {
        return Vec::new();
    }
    let cell = |v: &Value, k: &str| v[k].as_str().filter(|s| !s.is_empty()).unwrap_or("-").to_string();
    let mut t = Table::new(["AGENTPHONE CALL", "TO", "STATUS", "OUTCOME", "SUMMARY"]);
    for c in calls {
        let outcome = c["outcome"].as_str().or(c["failure_reason"].as_str()).unwrap_or("-").to_string();
        t.row([cell(c, "call_id"), cell(c, "to"), cell(c, "status"), outcome, cell(c, "summary")]);
    }
    vec![Block::Line(String::new()), Block::Table(t)]
}

/// The human form of `mission status`: the fields, the plan's steps, the targets.
fn status_blocks(
    slug: &str,
    archived: bool,
    run_status: &str,
    pending: usize,
    result: Option<&Value>,
    steps: &[Value],
    ts: &[Target],
) -> Vec<Block> {
    let mut fields = vec![
        ("mission".to_string(), format!("{slug}{}", if archived { " (archived)" } else { "" })),
        ("run".to_string(), run_status.to_string()),
        ("pending events".to_string(), pending.to_string()),
    ];
    if let Some(r) = result {
        fields.push(("result".into(), r["reason"].as_str().unwrap_or_default().to_string()));
    }
    let mut o = Outcome::default().block(Block::Fields(fields));
    if !steps.is_empty() {
        let mut t = Table::new(["STEP", "STATUS", "EVENTS"]);
        for s in steps {
            t.row([
                s["step_id"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
                s["events"].to_string(),
            ]);
        }
        o = o.line("").table(t);
    }
    if !ts.is_empty() {
        let mut t = Table::new(["STEP", "TO", "STATUS", "CALL STATUS", "ATTEMPTS", "INSIGHTS"]);
        for x in ts {
            t.row([
                x.step_id.clone().unwrap_or_else(|| "-".into()),
                // Local output for the owner: the full number is theirs to see.
                x.to.clone(),
                x.outcome.clone().unwrap_or_else(|| x.status.clone()),
                x.call_status.clone().unwrap_or_else(|| "-".into()),
                x.attempts.to_string(),
                x.insights.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        o = o.line("").table(t);
    }
    o.blocks
}
