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
    /// `Created plan with 1 steps`: telnyx_api.py said "steps" for any count.
    PlanCreated,
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

        L::CreatePlan(a) => (Command::Plan(PlanCommand::Create(a)), R::PlanCreated),
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
            Reprint::PlanCreated => {
                let blocks = o
                    .blocks
                    .into_iter()
                    .map(|b| match b {
                        Block::Line(l) if l.starts_with("Created plan with ") && l.ends_with(" step") => {
                            Block::Line(format!("{l}s"))
                        }
                        other => other,
                    })
                    .collect();
                Outcome { blocks, ..o }
            }
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

#[cfg(test)]
mod service_tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{parse, text, Harness, Reply};

    fn legacy(words: &[&str]) -> LegacyCommand {
        match parse(words) {
            Command::Legacy(c) => c,
            other => panic!("not a legacy word: {other:?}"),
        }
    }

    /// The noun-verb command and reprint a legacy word routes to.
    fn routed(words: &[&str]) -> (Command, Reprint) {
        match route(legacy(words)) {
            Ok(Route::Noun(c, r)) => (c, r),
            other => panic!("{words:?} does not route to a noun-verb command: {other:?}"),
        }
    }

    /// `legacy` becomes exactly the command `noun_verb` parses to.
    fn assert_same(legacy_words: &[&str], noun_verb: &[&str], reprint: Reprint) {
        let (command, r) = routed(legacy_words);
        assert_eq!(format!("{command:?}"), format!("{:?}", parse(noun_verb)), "{legacy_words:?}");
        assert_eq!(r, reprint, "{legacy_words:?}");
    }

    #[test]
    fn workflow_words_become_their_mission_verbs() {
        assert_same(
            &["init", "Roof", "Call roofers", "fix it"],
            &["mission", "init", "Roof", "Call roofers", "fix it"],
            Reprint::Same,
        );
        assert_same(
            &["setup-agent", "roof", "Bot", "Ask"],
            &["mission", "setup-agent", "roof", "Bot", "Ask"],
            Reprint::Same,
        );
        assert_same(
            &["complete", "roof", "m1", "r1", "Booked", "{}"],
            &["mission", "complete", "roof", "Booked", "{}", "--mission-id", "m1", "--run-id", "r1"],
            Reprint::Same,
        );
        assert_same(&["list-missions"], &["mission", "list"], Reprint::Missions);
    }

    #[test]
    fn schedule_words_become_schedule_verbs_with_flags() {
        assert_same(
            &["schedule-call", "a1", "+15551234567", "+15550001111", "+10m", "m1", "r1", "calls"],
            &[
                "schedule",
                "call",
                "--assistant",
                "a1",
                "--to",
                "+15551234567",
                "--from",
                "+15550001111",
                "--at",
                "+10m",
                "--mission-id",
                "m1",
                "--run-id",
                "r1",
                "--step",
                "calls",
            ],
            Reprint::Same,
        );
        // An empty step is no step.
        assert_same(
            &["schedule-sms", "a1", "+15551234567", "+15550001111", "+10m", "Hi", "m1", "r1", ""],
            &[
                "schedule",
                "sms",
                "--assistant",
                "a1",
                "--to",
                "+15551234567",
                "--from",
                "+15550001111",
                "--at",
                "+10m",
                "--mission-id",
                "m1",
                "--run-id",
                "r1",
                "--text",
                "Hi",
            ],
            Reprint::Same,
        );
    }

    #[test]
    fn log_event_step_dash_is_no_step_and_a_json_step_is_refused() {
        assert_same(
            &["log-event", "m1", "r1", "custom", "Got a quote", "-", r#"{"price": 1}"#],
            &["event", "log", "m1", "r1", "custom", "Got a quote", "--payload", r#"{"price": 1}"#],
            Reprint::Same,
        );
        let e = route(legacy(&["log-event", "m1", "r1", "custom", "Got a quote", r#"{"price": 1}"#])).unwrap_err();
        assert!(matches!(&e, Error::Usage(m) if m.contains("forgot the step id")), "{e:?}");
    }

    #[tokio::test]
    async fn a_legacy_word_sends_the_same_request_as_its_noun_verb_form() {
        let (old, new) = (Harness::start().await, Harness::start().await);
        for h in [&old, &new] {
            h.service.on("POST", "/v1/assistants/a1/events", vec![Reply::ok(json!({"data": {"id": "e1"}}))]);
        }
        let words = ["schedule-call", "a1", "+15551234567", "+15550001111", "+10m", "m1", "r1", "calls"];
        let o = crate::commands::run(&old.ctx(), parse(&words)).await.unwrap();
        let flags = [
            "schedule",
            "call",
            "--assistant",
            "a1",
            "--to",
            "+15551234567",
            "--from",
            "+15550001111",
            "--at",
            "+10m",
            "--mission-id",
            "m1",
            "--run-id",
            "r1",
            "--step",
            "calls",
        ];
        let n = crate::commands::run(&new.ctx(), parse(&flags)).await.unwrap();
        let (a, b) = (old.service.single(), new.service.single());
        assert_eq!((a.line(), a.json()), (b.line(), b.json()));
        assert_eq!(a.json()["scheduled_at"], "2026-01-01T12:10:00Z");
        assert_eq!(text(&o), text(&n));
    }

    #[tokio::test]
    async fn list_missions_reprints_the_list_as_telnyx_api_py_did() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/missions",
            vec![Reply::ok(json!({"data": [{"id": "m1", "name": "Roof"}, {"id": "m2"}]}))],
        );
        let o = crate::commands::run(&h.ctx(), parse(&["list-missions"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/missions");
        assert_eq!(text(&o), "m1: Roof\nm2: unnamed\n");
        assert!(o.notes.is_empty(), "{:?}", o.notes);
    }

    #[tokio::test]
    async fn a_refused_legacy_request_is_the_same_service_error() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/missions", vec![Reply::error(422, "name taken")]);
        let e = crate::commands::run(&h.ctx(), parse(&["create-mission", "Roof", "x"])).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 422, .. }), "{e:?}");
        assert_eq!(h.service.single().json(), json!({"name": "Roof", "instructions": "x"}));
    }

    #[tokio::test]
    async fn a_json_step_sends_nothing() {
        let h = Harness::start().await;
        let words = ["log-event", "m1", "r1", "custom", "s", r#"{"a": 1}"#];
        let e = crate::commands::run(&h.ctx(), parse(&words)).await.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e:?}");
        assert!(h.service.requests().is_empty());
    }
}
