//! Maps each telnyx_api.py command word onto its noun-verb command (the
//! same request types, run by [`super::run`]). Where telnyx_api.py printed
//! differently from the noun-verb form (lists, mostly), the legacy word
//! reprints the outcome with the original's lines: bots parse them.

use serde_json::Value;

use crate::cli::assistant::{AssistantCommand, AssistantCreateArgs, AssistantSpec};
use crate::cli::event::{EventCommand, EventLogArgs};
use crate::cli::legacy::{LegacyLogEventArgs, LegacyScheduleCallArgs, LegacyScheduleSmsArgs, LegacyScheduleTarget};
use crate::cli::memory::MemoryCommand;
use crate::cli::mission::{MissionCommand, MissionCompleteArgs};
use crate::cli::run::RunCommand;
use crate::cli::schedule::{ScheduleCallArgs, ScheduleCommand, ScheduleSmsArgs, ScheduleTarget, TrackArg};
use crate::cli::state::StateCommand;
use crate::cli::{agent::AgentCommand, insights::InsightsCommand, phone::PhoneCommand, plan::PlanCommand};
use crate::cli::{Command, LegacyCommand};
use crate::error::Result;
use crate::output::{Block, Outcome};

use super::support::{phone_status, step_looks_like_json};

/// Where a legacy word goes.
#[derive(Debug)]
pub enum Route {
    /// The noun-verb command, its outcome then reprinted as telnyx_api.py did.
    Noun(Command, Reprint),
    /// `save-memory`, `get-memory`, `append-memory`: the memory command,
    /// whose hints name the legacy word.
    Memory(MemoryCommand),
    /// `list-state`: the active missions as telnyx_api.py listed them.
    ListState,
}

/// How a legacy word reprints its noun-verb outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reprint {
    /// As the noun-verb command printed it.
    Same,
    Missions,
    Runs,
    Events,
    Assistants,
    Phones,
    ScheduledEvents,
}

/// The route of a legacy word. Fails only on the `log-event` mistake of a
/// JSON payload in the step's place (nothing is sent).
pub fn route(cmd: LegacyCommand) -> Result<Route> {
    use LegacyCommand as L;
    use Reprint as R;
    let (command, reprint) = match cmd {
        L::Init(a) => (Command::Mission(MissionCommand::Init(a)), R::Same),
        L::SetupAgent(a) => (Command::Mission(MissionCommand::SetupAgent(a)), R::Same),
        L::Complete(a) => {
            let args = MissionCompleteArgs {
                mission: a.mission,
                result: a.result,
                mission_id: Some(a.run.mission_id),
                run_id: Some(a.run.run_id),
            };
            (Command::Mission(MissionCommand::Complete(args)), R::Same)
        }
        L::ListState => return Ok(Route::ListState),
        L::GetState(a) => (Command::State(StateCommand::Get(a)), R::Same),
        L::RemoveState(a) => (Command::State(StateCommand::Remove(a)), R::Same),
        L::SaveMemory(a) => return Ok(Route::Memory(MemoryCommand::Save(a))),
        L::GetMemory(a) => return Ok(Route::Memory(MemoryCommand::Get(a))),
        L::AppendMemory(a) => return Ok(Route::Memory(MemoryCommand::Append(a))),

        L::CreateMission(a) => (Command::Mission(MissionCommand::Create(a)), R::Same),
        L::GetMission(a) => (Command::Mission(MissionCommand::Get(a)), R::Same),
        L::ListMissions => (Command::Mission(MissionCommand::List), R::Missions),

        L::CreateRun(a) => (Command::Run(RunCommand::Create(a)), R::Same),
        L::GetRun(a) => (Command::Run(RunCommand::Get(a)), R::Same),
        L::UpdateRun(a) => (Command::Run(RunCommand::Update(a)), R::Same),
        L::ListRuns(a) => (Command::Run(RunCommand::List(a)), R::Runs),

        L::CreatePlan(a) => (Command::Plan(PlanCommand::Create(a)), R::Same),
        L::GetPlan(a) => (Command::Plan(PlanCommand::Get(a)), R::Same),
        L::UpdateStep(a) => (Command::Plan(PlanCommand::UpdateStep(a)), R::Same),

        L::LogEvent(a) => (Command::Event(EventCommand::Log(log_event(a)?)), R::Same),
        L::ListEvents(a) => (Command::Event(EventCommand::List(a)), R::Events),

        L::CreateAssistant(a) => (Command::Assistant(AssistantCommand::Create(create_assistant(a))), R::Same),
        L::ListAssistants(a) => (Command::Assistant(AssistantCommand::List(a)), R::Assistants),
        L::GetAssistant(a) => (Command::Assistant(AssistantCommand::Get(a)), R::Same),
        L::UpdateAssistant(a) => (Command::Assistant(AssistantCommand::Update(a)), R::Same),
        L::GetConnectionId(a) => (Command::Assistant(AssistantCommand::ConnectionId(a)), R::Same),

        L::ListPhones(a) => (Command::Phone(PhoneCommand::List(a)), R::Phones),
        L::GetAvailablePhone => (Command::Phone(PhoneCommand::Available), R::Same),
        L::AssignPhone(a) => (Command::Phone(PhoneCommand::Assign(a)), R::Same),

        L::ScheduleCall(a) => (Command::Schedule(ScheduleCommand::Call(schedule_call(a))), R::Same),
        L::ScheduleSms(a) => (Command::Schedule(ScheduleCommand::Sms(schedule_sms(a))), R::Same),
        L::GetEvent(a) => (Command::Schedule(ScheduleCommand::Get(a)), R::Same),
        L::CancelScheduledEvent(a) => (Command::Schedule(ScheduleCommand::Cancel(a)), R::Same),
        L::ListEventsAssistant(a) => (Command::Schedule(ScheduleCommand::List(a)), R::ScheduledEvents),

        L::GetInsights(a) => (Command::Insights(InsightsCommand::Get(a)), R::Same),

        L::LinkAgent(a) => (Command::Agent(AgentCommand::Link(a)), R::Same),
        L::ListLinkedAgents(a) => (Command::Agent(AgentCommand::List(a)), R::Same),
        L::UnlinkAgent(a) => (Command::Agent(AgentCommand::Unlink(a)), R::Same),
    };
    Ok(Route::Noun(command, reprint))
}

impl Reprint {
    /// The noun-verb outcome as the legacy word prints it.
    pub fn apply(self, o: Outcome) -> Outcome {
        match self {
            Reprint::Same => o,
            Reprint::Missions => relines(o, |m| {
                format!("{}: {}", py_str(m.get("id")), m.get("name").and_then(Value::as_str).unwrap_or("unnamed"))
            }),
            Reprint::Runs => relines(o, |r| {
                format!("{}: {}", py_str(r.get("run_id").or_else(|| r.get("id"))), py_str(r.get("status")))
            }),
            Reprint::Events => relines(o, |e| format!("[{}] {}", py_str(e.get("type")), py_str(e.get("summary")))),
            Reprint::Assistants => {
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
                Outcome { notes: vec![format!("\n{page}")], ..o }
            }
            Reprint::Phones => relines(o, |p| {
                let available = p.get("connection_id").is_none_or(|c| !crate::api::envelope::truthy(c));
                format!("{}: {} [{}]", py_str(p.get("id")), py_str(p.get("phone_number")), phone_status(available))
            }),
            Reprint::ScheduledEvents => relines(o, |e| {
                let mut line = format!("{}: {}", py_str(e.get("id")), py_str(e.get("status")));
                if let Some(c) = e.get("call_status").and_then(Value::as_str).filter(|c| !c.is_empty()) {
                    line.push_str(&format!(", call_status={c}"));
                }
                line
            }),
        }
    }
}

/// `log-event MID RID TYPE SUMMARY STEP [PAYLOAD_JSON]`: STEP `-` means no
/// step; a STEP that looks like JSON is the forgotten-argument mistake.
fn log_event(a: LegacyLogEventArgs) -> Result<EventLogArgs> {
    if a.step_id.trim_start().starts_with(['{', '[']) {
        return Err(step_looks_like_json(&a.step_id));
    }
    let step = (a.step_id != "-" && !a.step_id.is_empty()).then_some(a.step_id);
    Ok(EventLogArgs {
        run: a.run,
        what: a.what,
        step,
        payload: a.payload_json,
        agent_id: crate::api::events::DEFAULT_AGENT_ID.to_string(),
    })
}

/// `create-assistant NAME INSTR [GREETING] [OPTIONS_JSON]` as the noun-verb arguments.
fn create_assistant(a: AssistantSpec) -> AssistantCreateArgs {
    AssistantCreateArgs {
        identity: a.identity,
        model: None,
        voice: None,
        features: None,
        tools: None,
        description: None,
        options: a.options_json,
    }
}

/// `schedule-call AID TO FROM AT MID RID [STEP]`.
fn schedule_call(a: LegacyScheduleCallArgs) -> ScheduleCallArgs {
    ScheduleCallArgs {
        target: ScheduleTarget {
            mission_id: Some(a.run.mission_id),
            run_id: Some(a.run.run_id),
            step: a.step_id.filter(|s| !s.is_empty()),
            ..target(a.target, a.track)
        },
    }
}

/// `schedule-sms AID TO FROM AT TEXT [MID] [RID] [STEP]`.
fn schedule_sms(a: LegacyScheduleSmsArgs) -> ScheduleSmsArgs {
    ScheduleSmsArgs {
        target: ScheduleTarget {
            mission_id: a.mission_id.filter(|s| !s.is_empty()),
            run_id: a.run_id.filter(|s| !s.is_empty()),
            step: a.step_id.filter(|s| !s.is_empty()),
            ..target(a.target, a.track)
        },
        text: a.text,
    }
}

/// The noun-verb target of `AID TO FROM AT` (no mission, run or step yet).
fn target(t: LegacyScheduleTarget, track: TrackArg) -> ScheduleTarget {
    ScheduleTarget {
        assistant: Some(t.assistant_id),
        to: t.to,
        from: Some(t.from),
        at: t.scheduled_at,
        mission_id: None,
        run_id: None,
        step: None,
        mission: None,
        track,
    }
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
