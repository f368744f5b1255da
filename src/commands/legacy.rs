//! Maps each telnyx_api.py command word onto the noun-verb handler.
//! Where telnyx_api.py printed differently from the noun-verb form (lists,
//! mostly), the legacy word keeps the original's lines: bots parse them.

use serde_json::Value;

use crate::api::scheduled::Channel;
use crate::cli::assistant::AssistantCreateArgs;
use crate::cli::event::EventLogArgs;
use crate::cli::legacy::{
    LegacyCreateAssistantArgs, LegacyLogEventArgs, LegacyScheduleCallArgs, LegacyScheduleSmsArgs,
};
use crate::cli::LegacyCommand;
use crate::error::Result;
use crate::output::{Block, Outcome};

use super::run as runs;
use super::schedule::{self, ScheduleRequest};
use super::{agent, assistant, event, insights, memory, mission, phone, plan, state, workflow, Context};

pub async fn run(ctx: &Context, cmd: LegacyCommand) -> Result<Outcome> {
    use LegacyCommand as L;
    match cmd {
        L::Init(a) => workflow::init(ctx, a).await,
        L::SetupAgent(a) => workflow::setup_agent(ctx, a).await,
        L::Complete(a) => {
            let r = workflow::CompleteRequest {
                mission: a.mission,
                mission_id: Some(a.mission_id),
                run_id: Some(a.run_id),
                summary: a.summary,
                payload_json: a.payload_json,
            };
            workflow::complete(ctx, r).await
        }
        L::ListState => state::list_legacy(ctx).await,
        L::GetState(a) => state::get(ctx, a).await,
        L::RemoveState(a) => state::remove(ctx, a).await,
        L::SaveMemory(a) => memory::save(ctx, a, "save-memory").await,
        L::GetMemory(a) => memory::get(ctx, a).await,
        L::AppendMemory(a) => memory::append(ctx, a, "append-memory").await,

        L::CreateMission(a) => mission::create(ctx, a).await,
        L::GetMission(a) => mission::get(ctx, a).await,
        L::ListMissions => Ok(relines(mission::list(ctx).await?, |m| {
            format!("{}: {}", py_str(m.get("id")), m.get("name").and_then(Value::as_str).unwrap_or("unnamed"))
        })),

        L::CreateRun(a) => runs::create(ctx, a).await,
        L::GetRun(a) => runs::get(ctx, a).await,
        L::UpdateRun(a) => runs::update(ctx, a).await,
        L::ListRuns(a) => Ok(relines(runs::list(ctx, a).await?, |r| {
            format!("{}: {}", py_str(r.get("run_id").or_else(|| r.get("id"))), py_str(r.get("status")))
        })),

        L::CreatePlan(a) => plan::create(ctx, a).await,
        L::GetPlan(a) => plan::get(ctx, a).await,
        L::UpdateStep(a) => plan::update_step(ctx, a).await,

        L::LogEvent(a) => log_event(ctx, a).await,
        L::ListEvents(a) => Ok(relines(event::list(ctx, a).await?, |e| {
            format!("[{}] {}", py_str(e.get("type")), py_str(e.get("summary")))
        })),

        L::CreateAssistant(a) => assistant::create(ctx, create_assistant_args(a)).await,
        L::ListAssistants(a) => {
            let o = assistant::list(ctx, a).await?;
            let page = o.notes.first().cloned().unwrap_or_default();
            let o = relines(o, |x| {
                format!(
                    "{}: {} (model={}, features={})",
                    py_str(x.get("id")),
                    x.get("name").and_then(Value::as_str).unwrap_or("unnamed"),
                    x.get("model").and_then(Value::as_str).unwrap_or_default(),
                    py_list(x.get("enabled_features")),
                )
            });
            // telnyx_api.py printed a blank line before the paging line on stderr.
            Ok(Outcome { notes: vec![format!("\n{page}")], ..o })
        }
        L::GetAssistant(a) => assistant::get(ctx, a).await,
        L::UpdateAssistant(a) => assistant::update(ctx, a).await,
        L::GetConnectionId(a) => assistant::connection_id(ctx, a).await,

        L::ListPhones => Ok(relines(phone::list(ctx).await?, |p| {
            let available = p.get("connection_id").is_none_or(|c| !crate::api::envelope::truthy(c));
            format!("{}: {} [{}]", py_str(p.get("id")), py_str(p.get("phone_number")), phone::status(available))
        })),
        L::GetAvailablePhone => phone::available(ctx).await,
        L::AssignPhone(a) => phone::assign(ctx, a).await,

        L::ScheduleCall(a) => schedule_call(ctx, a).await,
        L::ScheduleSms(a) => schedule_sms(ctx, a).await,
        L::GetEvent(a) => schedule::get(ctx, a).await,
        L::CancelScheduledEvent(a) => schedule::cancel(ctx, a).await,
        L::ListEventsAssistant(a) => Ok(relines(schedule::list(ctx, a).await?, |e| {
            let mut line = format!("{}: {}", py_str(e.get("id")), py_str(e.get("status")));
            if let Some(c) = e.get("call_status").and_then(Value::as_str).filter(|c| !c.is_empty()) {
                line.push_str(&format!(", call_status={c}"));
            }
            line
        })),

        L::GetInsights(a) => insights::get(ctx, a).await,

        L::LinkAgent(a) => agent::link(ctx, a).await,
        L::ListLinkedAgents(a) => agent::list(ctx, a).await,
        L::UnlinkAgent(a) => agent::unlink(ctx, a).await,
    }
}

/// `log-event MID RID TYPE SUMMARY STEP [PAYLOAD_JSON]`: STEP `-` means no
/// step; a STEP that looks like JSON is the forgotten-argument mistake.
async fn log_event(ctx: &Context, a: LegacyLogEventArgs) -> Result<Outcome> {
    if a.step_id.trim_start().starts_with(['{', '[']) {
        return Err(event::step_looks_like_json(&a.step_id));
    }
    let step = (a.step_id != "-" && !a.step_id.is_empty()).then_some(a.step_id);
    let args = EventLogArgs {
        mission_id: a.mission_id,
        run_id: a.run_id,
        kind: a.kind,
        summary: a.summary,
        step,
        payload: a.payload_json,
        agent_id: crate::api::events::DEFAULT_AGENT_ID.to_string(),
    };
    event::log(ctx, args).await
}

/// `create-assistant NAME INSTR [GREETING] [OPTIONS_JSON]` as the noun-verb arguments.
fn create_assistant_args(a: LegacyCreateAssistantArgs) -> AssistantCreateArgs {
    AssistantCreateArgs {
        name: a.name,
        instructions: a.instructions,
        greeting: a.greeting,
        model: None,
        voice: None,
        features: None,
        tools: None,
        description: None,
        options: a.options_json,
    }
}

/// `schedule-call AID TO FROM AT MID RID [STEP]`.
async fn schedule_call(ctx: &Context, a: LegacyScheduleCallArgs) -> Result<Outcome> {
    let req = ScheduleRequest {
        assistant_id: a.assistant_id,
        channel: Channel::Call,
        to: a.to,
        from: a.from,
        at: a.scheduled_at,
        mission_id: Some(a.mission_id),
        run_id: Some(a.run_id),
        step_id: a.step_id.filter(|s| !s.is_empty()),
        mission: None,
        track: !a.no_track,
    };
    schedule::schedule_and_report(ctx, req).await
}

/// `schedule-sms AID TO FROM AT TEXT [MID] [RID] [STEP]`.
async fn schedule_sms(ctx: &Context, a: LegacyScheduleSmsArgs) -> Result<Outcome> {
    let req = ScheduleRequest {
        assistant_id: a.assistant_id,
        channel: Channel::Sms(a.text),
        to: a.to,
        from: a.from,
        at: a.scheduled_at,
        mission_id: a.mission_id.filter(|s| !s.is_empty()),
        run_id: a.run_id.filter(|s| !s.is_empty()),
        step_id: a.step_id.filter(|s| !s.is_empty()),
        mission: None,
        track: !a.no_track,
    };
    schedule::schedule_and_report(ctx, req).await
}

/// Replace the human output of a list outcome by one line per item (the
/// `--json` document is unchanged), and drop its summary notes.
fn relines(o: Outcome, line: impl Fn(&Value) -> String) -> Outcome {
    let blocks =
        o.data.as_array().map(|items| items.iter().map(|i| Block::Line(line(i))).collect()).unwrap_or_default();
    Outcome { blocks, notes: Vec::new(), ..o }
}

/// A value as Python's `str()` showed it in an f-string: `None` when absent.
fn py_str(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "None".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
        Some(other) => other.to_string(),
    }
}

/// A list of strings as Python's `str(list)`: `['telephony', 'messaging']`.
fn py_list(v: Option<&Value>) -> String {
    let items = v.and_then(Value::as_array).cloned().unwrap_or_default();
    let shown: Vec<String> = items
        .iter()
        .map(|i| match i {
            Value::String(s) => format!("'{s}'"),
            other => py_str(Some(other)),
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_str_and_list_reprs() {
        assert_eq!(py_str(None), "None");
        assert_eq!(py_str(Some(&json!("x"))), "x");
        assert_eq!(py_list(Some(&json!(["telephony", "messaging"]))), "['telephony', 'messaging']");
        assert_eq!(py_list(None), "[]");
    }
}
