//! Mission tools: start, schedule, status, results, complete, cancel (and
//! `mission_list` with `--all-tools`). Each is the library workflow the
//! `clawdtalk mission …` and `schedule` commands run (docs/mcp.md#tools).

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::guard::Ask;
use super::server::Server;
use crate::api::scheduled::Channel;
use crate::error::{Error, Result};
use crate::ledger::{self, AssistantRequest, CompleteRequest, InitRequest, ScheduleRequest, SetupAgentRequest};
use crate::lifecycle::cancel::cancel_mission_within;

/// One step of the mission's plan.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanStep {
    /// Short id, e.g. "calls".
    pub step_id: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartArgs {
    /// The mission's name; its slug (lowercase, dashes) names the mission in every other tool.
    pub name: String,
    /// What the mission is for, in a sentence or two.
    pub instructions: String,
    /// The user's original request.
    pub request: String,
    /// The plan (optional), e.g. [{"step_id":"calls","description":"Call three roofers"}].
    #[serde(default)]
    pub steps: Option<Vec<PlanStep>>,
    /// The voice assistant's system prompt for the calls (default: `instructions`).
    #[serde(default)]
    pub assistant_instructions: Option<String>,
    /// The first words on each call (default: the callee speaks first).
    #[serde(default)]
    pub greeting: Option<String>,
}

/// Call or text.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChannelName {
    Call,
    Sms,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleArgs {
    /// Mission slug (from mission_start) or mission id.
    pub mission: String,
    /// "call" or "sms".
    pub channel: ChannelName,
    /// E.164 numbers, e.g. ["+15551234567"]; one event each.
    pub targets: Vec<String>,
    /// When: RFC 3339, or relative like "+5m" (at least 60 s ahead). Default "+2m".
    #[serde(default)]
    pub at: Option<String>,
    /// The SMS text (channel "sms" only).
    #[serde(default)]
    pub text: Option<String>,
    /// The plan step these events belong to.
    #[serde(default)]
    pub step: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MissionArgs {
    /// Mission slug or mission id.
    pub mission: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelArgs {
    /// Mission slug or mission id.
    pub mission: String,
    /// Cancel only what has not started; the run stays open.
    #[serde(default)]
    pub pending_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteArgs {
    /// Mission slug or mission id.
    pub mission: String,
    /// The result in a sentence, for the owner.
    pub summary: String,
    /// Structured result (optional), any JSON object.
    #[serde(default)]
    pub payload: Option<Value>,
}

impl ScheduleArgs {
    /// One library request per target.
    fn requests(&self) -> Result<Vec<ScheduleRequest>> {
        if self.targets.is_empty() {
            return Err(Error::usage("targets: give at least one E.164 number, e.g. [\"+15551234567\"]"));
        }
        let channel = match (self.channel, &self.text) {
            (ChannelName::Call, None) => Channel::Call,
            (ChannelName::Call, Some(_)) => {
                return Err(Error::usage("text: only an SMS has a text; leave it out for calls"))
            }
            (ChannelName::Sms, Some(t)) if !t.trim().is_empty() => Channel::Sms(t.clone()),
            (ChannelName::Sms, _) => return Err(Error::usage("text: an SMS needs its text")),
        };
        Ok(self
            .targets
            .iter()
            .map(|to| ScheduleRequest {
                assistant_id: String::new(),
                channel: channel.clone(),
                to: to.clone(),
                from: String::new(),
                at: self.at.clone().unwrap_or_else(|| "+2m".into()),
                mission_id: None,
                run_id: None,
                step_id: self.step.clone(),
                mission: Some(self.mission.clone()),
                track: true,
            })
            .collect())
    }
}

#[tool_router(router = mission_router, vis = "pub(crate)")]
impl Server {
    /// Start a mission, or resume the one of this name: creates the mission, its run and plan, a voice
    /// assistant and a caller-id number. Safe to call again with the same name (nothing is created twice).
    /// Returns the slug the other mission tools take.
    #[tool(annotations(
        title = "Start a mission",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn mission_start(&self, Parameters(a): Parameters<StartArgs>) -> CallToolResult {
        self.finish(self.start(a).await)
    }

    /// Schedule calls or texts for a mission, one event per target number, booked to the mission so
    /// `clawdtalk poll` follows them. Asks the owner's approval first (one approval for all targets) unless
    /// the server runs with --no-approval; undecided within ~20 s it returns {"status":"pending","handle":…}:
    /// call approval_status with the handle later and the events are scheduled then, exactly once.
    #[tool(annotations(
        title = "Schedule mission calls or SMS",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn mission_schedule(&self, Parameters(a): Parameters<ScheduleArgs>) -> CallToolResult {
        self.finish(self.schedule_guarded(a).await)
    }

    /// A mission at a glance: the run and its steps on the service, each target's call or SMS status,
    /// how many are still pending, and operations waiting for the owner's approval. Call it until
    /// pending_events is 0 (a `clawdtalk poll` cron job moves the mission on).
    #[tool(annotations(
        title = "Mission status",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn mission_status(&self, Parameters(a): Parameters<MissionArgs>) -> CallToolResult {
        self.finish(self.status(a).await)
    }

    /// What a mission found: the insights of its calls (per target), its result, and its whole memory.
    /// Completed missions too.
    #[tool(annotations(
        title = "Mission results",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn mission_results(&self, Parameters(a): Parameters<MissionArgs>) -> CallToolResult {
        self.finish(self.results(a).await)
    }

    /// End a mission by hand: marks the bot's open steps completed, the run succeeded with this summary,
    /// and archives the mission (its memory stays readable).
    #[tool(annotations(
        title = "Complete a mission",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn mission_complete(&self, Parameters(a): Parameters<CompleteArgs>) -> CallToolResult {
        self.finish(self.complete(a).await)
    }

    /// Cancel a mission: its scheduled calls and texts that have not started are cancelled, the run is
    /// set cancelled (unless pending_only) and the mission archived once nothing is under way.
    #[tool(annotations(
        title = "Cancel a mission",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn mission_cancel(&self, Parameters(a): Parameters<CancelArgs>) -> CallToolResult {
        self.finish(self.cancel(a).await)
    }

    /// The missions in the state file: slug, name, status (active and archived).
    #[tool(annotations(
        title = "List missions",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn mission_list(&self) -> CallToolResult {
        self.finish(self.list().await)
    }
}

impl Server {
    async fn start(&self, a: StartArgs) -> Result<Value> {
        let steps_json = match &a.steps {
            Some(steps) => {
                let list: Vec<Value> = steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| json!({"step_id": s.step_id, "description": s.description, "sequence": i + 1}))
                    .collect();
                Some(Value::Array(list).to_string())
            }
            None => None,
        };
        let store = self.env.state()?;
        let client = || self.env.client();
        let init =
            InitRequest { name: a.name.clone(), instructions: a.instructions.clone(), request: a.request, steps_json };
        let started = ledger::init(&client, &store, self.env.now(), init).await?;
        let slug = started.data["slug"]
            .as_str()
            .ok_or_else(|| Error::failed("mission_start: the mission has no slug"))?
            .to_string();
        let assistant = AssistantRequest {
            name: a.name,
            instructions: a.assistant_instructions.unwrap_or(a.instructions),
            greeting: a.greeting,
            ..AssistantRequest::default()
        };
        let agent = SetupAgentRequest { mission: slug.clone(), create: false, assistant };
        let equipped = ledger::setup_agent(&client, &store, self.env.now(), agent).await?;
        Ok(json!({"slug": slug, "mission": started.data, "agent": equipped.data}))
    }

    /// Check every target, then ask the owner (or not) and schedule.
    async fn schedule_guarded(&self, a: ScheduleArgs) -> Result<Value> {
        let store = self.env.state()?;
        let now = self.env.now();
        let gate = self.env.gate().await?;
        let mut numbers = Vec::new();
        for req in a.requests()? {
            ledger::schedule::precheck(Some(&store), &req, now, &gate).await?;
            numbers.push(gate.check("targets", &req.to)?);
        }
        let what = if a.channel == ChannelName::Call { "call" } else { "text" };
        let ask = Ask {
            action: format!("Let your agent {what} {} number(s) for mission '{}'", numbers.len(), a.mission),
            details: format!("{what} {} at {}", numbers.join(", "), a.at.as_deref().unwrap_or("+2m")),
            mission: Some(a.mission.clone()),
        };
        let args = serde_json::to_value(&a).map_err(|e| Error::failed(e.to_string()))?;
        self.guarded("mission_schedule", args, ask).await
    }

    /// Schedule every target now (approved): one result per target.
    pub(crate) async fn schedule_now(&self, a: ScheduleArgs) -> Result<Value> {
        let store = self.env.state()?;
        let now = self.env.service_now().await;
        let claim = self.env.claim();
        let gate = self.env.gate().await?;
        let client = || self.env.client();
        let mut results = Vec::new();
        let mut failed = 0;
        for req in a.requests()? {
            match ledger::schedule(&client, Some(&store), &claim, now, &req, &gate).await {
                Ok(o) => results.push(json!({"to": req.to, "scheduled": o.data, "notes": o.notes})),
                Err(e) => {
                    failed += 1;
                    results.push(json!({"to": req.to, "error": self.env.redact(&e.to_string())}))
                }
            }
        }
        if failed == results.len() {
            return Err(Error::failed(format!("nothing was scheduled: {}", Value::Array(results))));
        }
        Ok(json!({"mission": a.mission, "scheduled": results.len() - failed, "failed": failed, "events": results}))
    }

    async fn status(&self, a: MissionArgs) -> Result<Value> {
        let store = self.env.state()?;
        let o = ledger::report::mission_status(&store, || self.env.api_service(), &a.mission).await?;
        let mut data = o.data;
        let slug = data["slug"].as_str().map(str::to_string);
        let waiting: Vec<Value> = self
            .pending()?
            .all()
            .await?
            .into_iter()
            .filter(|(_, op)| {
                op["mission"].as_str().is_some() && op["mission"].as_str() == slug.as_deref().or(Some(&a.mission))
            })
            .map(|(handle, op)| json!({"handle": handle, "tool": op["tool"], "stage": op["stage"]}))
            .collect();
        let campaign = crate::campaign::status::campaign_of(&store.read_async().await?, &a.mission);
        if let Value::Object(m) = &mut data {
            m.insert("approvals".into(), Value::Array(waiting));
            // docs/campaigns.md#status: a campaign's counts by state and next slot.
            if let Some(c) = campaign {
                m.insert("campaign".into(), serde_json::to_value(&c).map_err(|e| Error::failed(e.to_string()))?);
            }
            if !o.notes.is_empty() {
                m.insert("notes".into(), json!(o.notes));
            }
        }
        Ok(data)
    }

    async fn results(&self, a: MissionArgs) -> Result<Value> {
        let store = self.env.state()?;
        let memory = ledger::memory::read(&store, &a.mission, None).await?;
        let state = store.read_async().await?;
        let (_, m) = state.lookup(&a.mission)?;
        Ok(json!({
            "mission": a.mission,
            "status": m.status(),
            "insights": memory.get("insights").cloned().unwrap_or(json!({})),
            "result": memory.get("result").cloned().unwrap_or(Value::Null),
            "memory": memory,
        }))
    }

    async fn complete(&self, a: CompleteArgs) -> Result<Value> {
        let req = CompleteRequest {
            mission: a.mission,
            mission_id: None,
            run_id: None,
            summary: a.summary,
            payload_json: a.payload.map(|p| p.to_string()),
        };
        let client = || self.env.client();
        let o = ledger::complete(&client, &self.env.state()?, &self.env.claim(), self.env.now(), req).await?;
        Ok(with_notes(o.data, o.notes))
    }

    async fn cancel(&self, a: CancelArgs) -> Result<Value> {
        let store = self.env.state()?;
        // Unknown or archived slugs fail here, before any client is built.
        store.read_async().await?.active_slug(&a.mission)?;
        let svc = self.env.api_service()?;
        // A poll holding the lock is waited for up to 15 s (the tool call
        // answers within 25 s); longer, the error says to try again.
        let wait = std::time::Duration::from_secs(15);
        let r = cancel_mission_within(&svc, &store, &a.mission, a.pending_only, wait).await?;
        serde_json::to_value(&r).map_err(|e| Error::failed(e.to_string()))
    }

    async fn list(&self) -> Result<Value> {
        let state = self.env.state()?.read_async().await?;
        let row = |slug: &str, m: &crate::state::MissionState, archived: bool| json!({"slug": slug, "name": m.mission_name(), "status": m.status(), "archived": archived});
        let mut rows: Vec<Value> = state.missions().map(|(s, m)| row(s, m, false)).collect();
        rows.extend(state.archived().map(|(s, m)| row(s, m, true)));
        Ok(json!({"missions": rows}))
    }
}

/// `data` with the notes the CLI prints on stderr (warnings, hints).
pub(crate) fn with_notes(mut data: Value, notes: Vec<String>) -> Value {
    if notes.is_empty() {
        return data;
    }
    match &mut data {
        Value::Object(m) => {
            m.insert("notes".into(), json!(notes));
            data
        }
        _ => json!({"result": data, "notes": notes}),
    }
}
