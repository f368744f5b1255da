//! The high-level workflows of contract §2.2 (`mission init|setup-agent|
//! complete` and the legacy words `init`, `setup-agent`, `complete`) and the
//! automatic bookkeeping of scheduled calls and SMS.
//!
//! Each workflow is resumable and idempotent: every id is saved to the state
//! file the moment the service returns it, so when a step fails (network,
//! service error, crash) re-running the same command continues where it
//! stopped instead of creating a second mission, run or assistant.
//! Network requests are never made while the state file is locked.

use serde_json::{json, Map, Value};

use crate::api::assistants;
use crate::api::events::{self, NewEvent};
use crate::api::runs::{self, RunUpdate};
use crate::api::scheduled::{Channel, NewScheduledEvent};
use crate::api::{agents, missions, phones, plan, Client};
use crate::cli::assistant::AssistantCreateArgs;
use crate::cli::mission::{MissionCompleteArgs, MissionInitArgs, MissionSetupAgentArgs};
use crate::error::{Error, Result};
use crate::output::Outcome;
use crate::state::{
    slugify, timestamp, Found, LogClaim, MissionState, RecordKind, ScheduledEvent, StateStore, SCHEDULED_EVENT_LOGS,
};
use crate::validate;

use super::schedule::ScheduleRequest;
use super::Context;

/// Field of a mission entry holding the `init` steps not done yet (the plan
/// steps to post, and whether the run still has to be set running). Present
/// only while an `init` is unfinished; telnyx_api.py entries never have it.
const INIT_PENDING: &str = "init_pending";
/// Field recording the run the assistant was linked to (so a re-run of
/// `setup-agent` after a failed link links it, and never twice).
const LINKED_RUN: &str = "assistant_linked_run_id";

/// The agent id put on the run events clawdtalk logs itself.
const BOOKKEEPING_AGENT: &str = "clawdtalk";

/// `init NAME INSTRUCTIONS REQUEST [STEPS_JSON]`.
///
/// Lines as telnyx_api.py (`Created mission: …`, `Created run: …`,
/// `Created plan with N steps`, `Updated run …: running`, or `Resuming
/// existing mission: SLUG`), then `Mission slug: SLUG`.
pub async fn init(ctx: &Context, a: MissionInitArgs) -> Result<Outcome> {
    let slug = slugify(&a.name);
    if slug.is_empty() {
        return Err(Error::usage(format!(
            "NAME {:?} has no letters or digits, so it gives no slug; use a descriptive name",
            a.name
        )));
    }
    let steps = match &a.steps_json {
        Some(t) => {
            let v = validate::json_arg("STEPS_JSON", t)?;
            if !v.is_array() {
                return Err(Error::usage(
                    "STEPS_JSON must be a JSON list: [{\"step_id\",\"description\",\"sequence\"},...]",
                ));
            }
            Some(v)
        }
        None => None,
    };
    let store = ctx.state()?;
    let state = store.read_async().await?;
    let existing = state.mission(&slug).cloned().unwrap_or_default();
    let mut o = Outcome::default();

    let mission_id = existing.mission_id();
    let run_id = existing.run_id();
    let pending = existing.fields().get(INIT_PENDING).cloned();
    if let (Some(mid), Some(rid), None) = (&mission_id, &run_id, &pending) {
        let data = json!({"slug": slug, "mission_id": mid, "run_id": rid, "resumed": true});
        return Ok(Outcome::data(data)
            .line(format!("Resuming existing mission: {slug}"))
            .line(format!("Mission slug: {slug}")));
    }

    let client = ctx.client()?;
    let now = ctx.now();
    let mid = match mission_id {
        Some(mid) => mid,
        None => {
            let m = missions::create(&client, &a.name, &a.instructions).await?;
            o = o.line(format!("Created mission: {}", m.id));
            let (name, id) = (a.name.clone(), m.id.clone());
            save(&store, &slug, move |e| {
                e.set("mission_name", name);
                e.set("mission_id", id);
                e.set("created_at", timestamp(now));
            })
            .await?;
            m.id
        }
    };
    let (rid, pending) = match (run_id, pending) {
        (Some(rid), Some(p)) => (rid, p),
        (Some(rid), None) => (rid, json!({"running": true})),
        (None, _) => {
            let run = runs::create(&client, &mid, &json!({"original_request": a.request})).await?;
            o = o.line(format!("Created run: {}", run.id));
            let mut p = json!({"running": true});
            if let Some(s) = &steps {
                p["steps"] = s.clone();
            }
            let (id, marker) = (run.id.clone(), p.clone());
            save(&store, &slug, move |e| {
                e.set("run_id", id);
                e.set(INIT_PENDING, marker);
            })
            .await?;
            (run.id, p)
        }
    };
    // A re-run may bring the steps the first attempt did not have.
    let plan_steps = pending.get("steps").cloned().or(steps).filter(|s| s.as_array().is_some_and(|l| !l.is_empty()));
    if let Some(steps) = plan_steps {
        plan::create(&client, &mid, &rid, &json!(steps)).await?;
        let n = steps.as_array().map_or(0, Vec::len);
        o = o.line(format!("Created plan with {n} steps"));
        save(&store, &slug, |e| {
            if let Some(Value::Object(p)) = e.fields().get(INIT_PENDING).cloned() {
                let mut p = p;
                p.remove("steps");
                e.set(INIT_PENDING, Value::Object(p));
            }
        })
        .await?;
    }
    runs::update(&client, &mid, &rid, &RunUpdate { status: Some("running".into()), ..Default::default() }).await?;
    o = o.line(format!("Updated run {rid}: running"));
    save(&store, &slug, move |e| {
        e.remove(INIT_PENDING);
        e.set("status", "running");
        e.touch(now);
    })
    .await?;
    o.data = json!({"slug": slug, "mission_id": mid, "run_id": rid, "resumed": false});
    Ok(o.line(format!("Mission slug: {slug}")))
}

/// Apply `f` to the active entry `slug`, creating it when absent (callers
/// only get here for a slug they decided to create or already resolved).
async fn save(store: &StateStore, slug: &str, f: impl FnOnce(&mut MissionState) + Send + 'static) -> Result<()> {
    let slug = slug.to_string();
    store
        .update_async(move |s| {
            f(s.mission_or_create(&slug));
            Ok(())
        })
        .await
}

/// `setup-agent SLUG NAME INSTRUCTIONS [GREETING] [OPTIONS_JSON]`.
///
/// Reuses the assistant and number the state already has; otherwise creates
/// the assistant (saved at once), links it to the mission's run, and takes
/// the first available account number as the caller id (contract §2.2: the
/// number is not assigned to the assistant).
pub async fn setup_agent(ctx: &Context, a: MissionSetupAgentArgs) -> Result<Outcome> {
    // Everything is checked before anything is sent.
    let new = super::assistant::new_assistant(&AssistantCreateArgs {
        name: a.name.clone(),
        instructions: a.instructions.clone(),
        greeting: a.greeting.clone(),
        model: None,
        voice: None,
        features: None,
        tools: None,
        description: None,
        options: a.options_json.clone(),
    })?;
    let store = ctx.state()?;
    let state = store.read_async().await?;
    let slug = match state.find(&a.mission) {
        Some(Found::Active(slug)) => slug,
        Some(Found::Archived(_)) => return Err(state.active_slug(&a.mission).unwrap_err()),
        None if a.create => {
            let slug = slugify(&a.mission);
            if slug != a.mission || slug.is_empty() {
                return Err(Error::usage(format!(
                    "--create needs a slug (lowercase letters, digits and -): use '{slug}' instead of '{}'",
                    a.mission
                )));
            }
            slug
        }
        None => {
            return Err(Error::usage(format!(
                "{}. Run `clawdtalk init NAME INSTRUCTIONS REQUEST` first, or pass --create to set up an agent \
                 without a mission",
                state.unknown(&a.mission)
            )))
        }
    };
    let entry = state.mission(&slug).cloned().unwrap_or_default();
    if let (Some(aid), Some(phone)) = (entry.assistant_id(), entry.agent_phone()) {
        let data = json!({"slug": slug, "assistant_id": aid, "agent_phone": phone, "reused": true});
        return Ok(Outcome::data(data).line(format!("Using existing assistant: {aid}")));
    }
    let client = ctx.client()?;
    let mut o = Outcome::default();
    let aid = match entry.assistant_id() {
        Some(aid) => {
            o = o.line(format!("Using existing assistant: {aid}"));
            aid
        }
        None => {
            let created = assistants::create(&client, &new).await?;
            o = o.line(format!("Created assistant: {}", created.id));
            let id = created.id.clone();
            save(&store, &slug, move |e| e.set("assistant_id", id)).await?;
            created.id
        }
    };
    if let (Some(mid), Some(rid)) = (entry.mission_id(), entry.run_id()) {
        if entry.get_str(LINKED_RUN).as_deref() != Some(rid.as_str()) {
            match agents::link(&client, &mid, &rid, &aid).await {
                Ok(_) => o = o.line(format!("Linked agent {aid} to run {rid}")),
                // Already linked (an earlier attempt got through but its reply was lost).
                Err(Error::Api { status: 409, .. }) => {
                    o = o.note(format!("agent {aid} was already linked to run {rid}"))
                }
                Err(e) => return Err(e),
            }
            save(&store, &slug, move |e| e.set(LINKED_RUN, rid)).await?;
        }
    }
    let Some(phone) = phones::available(&client).await? else {
        return Err(Error::failed(format!(
            "no available phone number on the account: buy a dedicated number in the ClawdTalk dashboard, then \
             re-run setup-agent (assistant {aid} is saved and will be reused)"
        )));
    };
    o = o.line(format!("Found available: {}", phone.phone_number));
    let (num, pid) = (phone.phone_number.clone(), phone.id.clone());
    let now = ctx.now();
    save(&store, &slug, move |e| {
        e.set("agent_phone", num);
        e.set("phone_number_id", pid);
        e.touch(now);
    })
    .await?;
    o.data = json!({"slug": slug, "assistant_id": aid, "agent_phone": phone.phone_number,
        "phone_number_id": phone.id, "reused": false});
    Ok(o)
}

/// What `complete` needs, from either form.
#[derive(Debug, Clone)]
pub struct CompleteRequest {
    /// Slug or mission id.
    pub mission: String,
    pub mission_id: Option<String>,
    pub run_id: Option<String>,
    pub summary: String,
    pub payload_json: Option<String>,
}

impl From<MissionCompleteArgs> for CompleteRequest {
    fn from(a: MissionCompleteArgs) -> Self {
        CompleteRequest {
            mission: a.mission,
            mission_id: a.mission_id,
            run_id: a.run_id,
            summary: a.summary,
            payload_json: a.payload_json,
        }
    }
}

/// `complete SLUG MID RID SUMMARY [PAYLOAD_JSON]` / `mission complete SLUG
/// SUMMARY [PAYLOAD_JSON] [--mission-id] [--run-id]`.
///
/// PATCHes the run `succeeded` with `result_summary` (+ `result_payload`),
/// then moves the mission to the archive (its memory stays readable). With
/// explicit ids it completes the run even when the slug is not in this
/// state file (a warning: the file may have been lost or be another one).
pub async fn complete(ctx: &Context, r: CompleteRequest) -> Result<Outcome> {
    let payload = r.payload_json.as_deref().map(|t| validate::json_arg("PAYLOAD_JSON", t)).transpose()?;
    for (arg, v) in [("MISSION_ID", &r.mission_id), ("RUN_ID", &r.run_id)] {
        if let Some(v) = v {
            validate::plain_id(arg, v)?;
        }
    }
    let store = ctx.state()?;
    let state = store.read_async().await?;
    let mut o = Outcome::default();
    let (found, entry) = match state.lookup(&r.mission) {
        Ok((f, m)) => (Some(f), Some(m.clone())),
        Err(_) if r.mission_id.is_some() && r.run_id.is_some() => {
            o = o.note(format!(
                "warning: mission '{}' is not in the state file {}; completing run {} anyway",
                r.mission,
                store.path().display(),
                r.run_id.as_deref().unwrap_or_default()
            ));
            (None, None)
        }
        Err(e) => return Err(e),
    };
    let from_state = |k: &str| entry.as_ref().and_then(|m| m.get_str(k));
    let mid = r.mission_id.clone().or_else(|| from_state("mission_id"));
    let rid = r.run_id.clone().or_else(|| from_state("run_id"));
    let (Some(mid), Some(rid)) = (mid, rid) else {
        return Err(Error::usage(format!(
            "mission '{}' has no mission id and run id in the state file; pass them: --mission-id MID --run-id RID",
            r.mission
        )));
    };
    if let Some(m) = &entry {
        if m.mission_id().is_some_and(|s| s != mid) {
            o = o.note(format!(
                "warning: mission '{}' has mission id {} in the state file, not {mid}",
                r.mission,
                m.mission_id().unwrap_or_default()
            ));
        }
    }
    let client = ctx.client()?;
    if let Some(Found::Active(slug)) = &found {
        // A run event that could not be logged earlier is logged before the run ends.
        o.notes.extend(retry_unlogged(&client, &store, slug, ctx).await);
        o.notes.extend(super::agentphone::retry_owed(&client, &store, slug, ctx).await);
    }
    let update = RunUpdate {
        status: Some("succeeded".into()),
        result_summary: Some(r.summary.clone()),
        result_payload: payload.clone(),
    };
    runs::update(&client, &mid, &rid, &update).await?;
    o = o.line(format!("Updated run {rid}: succeeded"));
    let now = ctx.now();
    let label = match &found {
        Some(Found::Active(slug)) => {
            let mut fields = Map::new();
            fields.insert("status".into(), json!("succeeded"));
            fields.insert("result_summary".into(), json!(r.summary));
            if let Some(p) = &payload {
                fields.insert("result_payload".into(), p.clone());
            }
            fields.insert("completed_at".into(), json!(timestamp(now)));
            let s = slug.clone();
            store.update_async(move |st| Ok(st.archive(&s, fields, now))).await?;
            slug.clone()
        }
        Some(Found::Archived(_)) => {
            o = o.note(format!("mission '{}' was already archived", r.mission));
            entry.as_ref().and_then(|m| m.get_str("slug")).unwrap_or_else(|| r.mission.clone())
        }
        None => r.mission.clone(),
    };
    o.data = json!({"slug": label, "mission_id": mid, "run_id": rid, "status": "succeeded",
        "archived": found.is_some()});
    Ok(o.line(format!("Mission '{label}' completed successfully")))
}

/// Log the run event for each of the mission's scheduled events whose
/// logging failed before (`logged: false`) and that no live command is
/// logging right now. Returns warnings for those that fail again (they stay
/// owed for the next command).
pub async fn retry_unlogged(client: &Client, store: &StateStore, slug: &str, ctx: &Context) -> Vec<String> {
    let now = ctx.now();
    // Most of the time nothing is owed: look before taking the lock (and
    // rewriting the file).
    let Ok(state) = store.read_async().await else { return Vec::new() };
    let owed = state.mission(slug).is_some_and(|m| m.scheduled_events().iter().any(|e| e.claimable(now)));
    if !owed {
        return Vec::new();
    }
    let claim = Claim::new(ctx);
    let (s, c) = (slug.to_string(), claim.clone());
    let claimed = store
        .update_async(move |st| {
            let Some(m) = st.mission_mut(&s) else { return Ok(None) };
            let (Some(mid), Some(rid)) = (m.mission_id(), m.run_id()) else { return Ok(None) };
            let until = c.until(now, m.scheduled_events().iter().filter(|e| e.claimable(now)).count());
            Ok(Some(((mid, rid), m.claim_unlogged(&c.owner, now, until)?)))
        })
        .await;
    match claimed {
        Ok(Some((run, retries))) => send_scheduled(client, store, slug, &claim, &run, Vec::new(), retries, ctx).await,
        Ok(None) => Vec::new(),
        Err(e) => vec![format!("warning: could not retry the run events still owed for mission '{slug}': {e}")],
    }
}

/// The run event summary for a scheduled event: `Scheduled call event_id=…`.
pub fn scheduled_summary(ev: &ScheduledEvent) -> String {
    let what = if ev.channel == "sms" { "SMS" } else { "call" };
    format!("Scheduled {what} event_id={}", ev.event_id)
}

/// This process's claim on the records whose run events it sends.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub(crate) owner: String,
    /// The longest one request may take: every attempt timing out, plus
    /// the backoff between them.
    per_request: chrono::Duration,
}

impl Claim {
    pub(crate) fn new(ctx: &Context) -> Claim {
        let attempts = crate::api::RetryPolicy::default().max_attempts;
        let per_request = ctx
            .config
            .request_timeout
            .checked_mul(attempts)
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .and_then(|d| d.checked_add(&chrono::Duration::minutes(1)))
            .unwrap_or(chrono::TimeDelta::MAX);
        Claim { owner: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()), per_request }
    }

    /// When a claim taken at `now` for `records` run events expires: after
    /// the slowest run of every request they need (one look at the run and
    /// one log each), and never sooner than 10 minutes. So a live claimer is
    /// never overtaken; a dead one's records are retried once it expires.
    pub(crate) fn until(&self, now: chrono::DateTime<chrono::Utc>, records: usize) -> chrono::DateTime<chrono::Utc> {
        let requests = i32::try_from(records.saturating_add(1)).unwrap_or(i32::MAX);
        let ttl = self.per_request.checked_mul(requests).unwrap_or(chrono::TimeDelta::MAX);
        now.checked_add_signed(ttl.max(chrono::Duration::minutes(10)))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }
}

/// The mission and run a record's run event goes to: the ones it was
/// scheduled with, else the mission's in the state file.
fn run_of(ev: &ScheduledEvent, state_run: &(String, String)) -> (String, String) {
    match (&ev.mission_id, &ev.run_id) {
        (Some(m), Some(r)) => (m.clone(), r.clone()),
        _ => state_run.clone(),
    }
}

/// One run event a record owes, claimed by this process (the claim helpers
/// of [`crate::state::RecordKind`]), ready to send.
#[derive(Debug, Clone)]
pub(crate) struct OwedEvent {
    /// The record's id (`event_id`, `call_id`).
    pub(crate) id: String,
    /// Which of the record's run events: the flag that marks it logged.
    pub(crate) flag: &'static str,
    /// The mission and run it goes to.
    pub(crate) run: (String, String),
    pub(crate) event: NewEvent,
    /// Never sent before (the record got it just now, under this claim):
    /// nothing to look for on the run first.
    pub(crate) fresh: bool,
}

/// Send the run events this process claimed for records of `kind`, then
/// settle the claims in one update: sent ones are marked logged, failed
/// ones released for the next command. Those not `fresh` may have been
/// sent by a command that failed or died before marking them, so their run
/// is checked first and an event already there (same type and summary) is
/// only marked, not sent again. `retried_by` says in the notes which
/// command retries what is still owed. Returns notes for stderr.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_claimed(
    client: &Client,
    store: &StateStore,
    slug: &str,
    kind: &'static RecordKind,
    claim: &Claim,
    owed: Vec<OwedEvent>,
    retried_by: &str,
    ctx: &Context,
) -> Vec<String> {
    let mut notes = Vec::new();
    let mut settled: Vec<(String, &'static str, bool)> = Vec::new();
    let (fresh, retries): (Vec<OwedEvent>, Vec<OwedEvent>) = owed.into_iter().partition(|o| o.fresh);
    let mut to_send = Vec::new();
    let mut runs: Vec<(String, String)> = retries.iter().map(|o| o.run.clone()).collect();
    runs.sort();
    runs.dedup();
    for run in runs {
        let group: Vec<&OwedEvent> = retries.iter().filter(|o| o.run == run).collect();
        match events::list(client, &run.0, &run.1).await {
            Ok(logged) => {
                for o in group {
                    let there = logged.iter().any(|l| {
                        l.kind.as_deref() == Some(o.event.kind.as_str())
                            && l.summary.as_deref() == Some(o.event.summary.as_str())
                    });
                    if there {
                        settled.push((o.id.clone(), o.flag, true));
                    } else {
                        to_send.push(o.clone());
                    }
                }
            }
            Err(e) => {
                notes.push(format!(
                    "warning: could not check run {} for the {} run event(s) still owed ({e}); they are kept in \
                     the state file and retried by {retried_by}",
                    run.1,
                    group.len()
                ));
                settled.extend(group.iter().map(|o| (o.id.clone(), o.flag, false)));
            }
        }
    }
    to_send.extend(fresh);
    for o in &to_send {
        let (mid, rid) = &o.run;
        match events::log(client, mid, rid, &o.event).await {
            Ok(_) => settled.push((o.id.clone(), o.flag, true)),
            Err(e) => {
                notes.push(format!(
                    "warning: could not log \"{}\" to run {rid} ({e}); it is kept in the state file and retried by \
                     {retried_by}",
                    o.event.summary
                ));
                settled.push((o.id.clone(), o.flag, false));
            }
        }
    }
    if settled.is_empty() {
        return notes;
    }
    let (s, owner, now) = (slug.to_string(), claim.owner.clone(), ctx.now());
    let marked = store
        .update_async(move |st| {
            if let Some(m) = st.lookup_mut(&s) {
                for (id, flag, logged) in &settled {
                    m.settle_log(kind, id, flag, &owner, *logged, now);
                }
            }
            Ok(())
        })
        .await;
    if let Err(e) = marked {
        notes.push(format!(
            "warning: the run events were handled but the state file could not be updated ({e}); a later command \
             finds them on the run and does not send them again"
        ));
    }
    notes
}

/// Who retries a scheduled event's run event that is still owed.
const SCHEDULED_RETRIED_BY: &str = "the next schedule or complete for this mission";

/// Send the run events of the scheduled events this process claimed
/// ([`send_claimed`]): `fresh` were scheduled just now (never sent).
#[allow(clippy::too_many_arguments)]
async fn send_scheduled(
    client: &Client,
    store: &StateStore,
    slug: &str,
    claim: &Claim,
    state_run: &(String, String),
    fresh: Vec<ScheduledEvent>,
    retries: Vec<ScheduledEvent>,
    ctx: &Context,
) -> Vec<String> {
    let owed = |ev: &ScheduledEvent, fresh: bool| OwedEvent {
        id: ev.event_id.clone(),
        flag: SCHEDULED_EVENT_LOGS.logs[0].flag,
        run: run_of(ev, state_run),
        event: scheduled_event(ev),
        fresh,
    };
    let mut all: Vec<OwedEvent> = retries.iter().map(|e| owed(e, false)).collect();
    all.extend(fresh.iter().map(|e| owed(e, true)));
    send_claimed(client, store, slug, &SCHEDULED_EVENT_LOGS, claim, all, SCHEDULED_RETRIED_BY, ctx).await
}

/// The `custom` run event for `ev`.
fn scheduled_event(ev: &ScheduledEvent) -> NewEvent {
    NewEvent {
        kind: "custom".into(),
        summary: scheduled_summary(ev),
        agent_id: Some(BOOKKEEPING_AGENT.into()),
        step_id: ev.step_id.clone(),
        payload: Some(json!({"event_id": ev.event_id, "channel": ev.channel, "to": ev.to,
            "scheduled_at": ev.scheduled_at, "assistant_id": ev.assistant_id})),
    }
}

/// Complete a schedule request from the state file and decide where the
/// event is recorded. With `--mission KEY` (slug or mission id; an unknown
/// one is an error before anything is sent) the empty assistant and caller
/// id and the absent mission and run ids come from that mission; explicit
/// ids that are not the mission's are refused (the event would be recorded
/// for one run and scheduled for another), unless `--no-track`. Without
/// it, a request carrying a mission id and run id is recorded in the active
/// mission with that mission id *and* run id, when the state file has one
/// (a state file that cannot be read only means nothing is recorded; a
/// mission whose run differs is left alone, with a note). Returns the slug
/// to record in, or `None` (also always with `--no-track`), and notes.
pub async fn resolve_schedule(ctx: &Context, req: &mut ScheduleRequest) -> Result<(Option<String>, Vec<String>)> {
    if let Some(key) = req.mission.clone() {
        let state = ctx.state()?.read_async().await?;
        let slug = state.active_slug(&key)?;
        let Some(m) = state.mission(&slug) else { return Err(state.unknown(&key)) };
        let missing = |what: &str, flag: &str| {
            Error::usage(format!(
                "mission '{slug}' has no {what} in the state file: pass {flag}, or run \
                 `clawdtalk setup-agent {slug} NAME INSTRUCTIONS` first"
            ))
        };
        if req.assistant_id.is_empty() {
            req.assistant_id = m.assistant_id().ok_or_else(|| missing("assistant_id", "--assistant"))?;
        }
        if req.from.is_empty() {
            req.from = m.agent_phone().ok_or_else(|| missing("agent_phone", "--from"))?;
        }
        if req.mission_id.is_none() && req.run_id.is_none() {
            req.mission_id = m.mission_id();
            req.run_id = m.run_id();
        } else if req.track && (req.mission_id != m.mission_id() || req.run_id != m.run_id()) {
            let show = |v: Option<String>| v.unwrap_or_else(|| "none".into());
            return Err(Error::usage(format!(
                "mission '{slug}' has mission id {} and run id {} in the state file, not {} and {}: drop \
                 --mission-id/--run-id (they come from the mission), or pass --no-track",
                show(m.mission_id()),
                show(m.run_id()),
                show(req.mission_id.clone()),
                show(req.run_id.clone())
            )));
        }
        return Ok((req.track.then_some(slug), Vec::new()));
    }
    let (true, Some(mid), Some(rid)) = (req.track, &req.mission_id, &req.run_id) else { return Ok((None, Vec::new())) };
    let Ok(store) = ctx.state() else { return Ok((None, Vec::new())) };
    let Ok(state) = store.read_async().await else { return Ok((None, Vec::new())) };
    let same_mission: Vec<(&str, &MissionState)> =
        state.missions().filter(|(_, m)| m.mission_id().as_deref() == Some(mid.as_str())).collect();
    if let Some((slug, _)) = same_mission.iter().find(|(_, m)| m.run_id().as_deref() == Some(rid.as_str())) {
        return Ok((Some(slug.to_string()), Vec::new()));
    }
    let notes = same_mission
        .iter()
        .map(|(slug, m)| {
            format!(
                "note: not recorded in mission '{slug}': its run in the state file is {}, not {rid} (use \
                 --mission {slug} to schedule for its run)",
                m.run_id().unwrap_or_else(|| "not set".into())
            )
        })
        .collect();
    Ok((None, notes))
}

/// Record a scheduled call or SMS in the mission's memory (first, so it is
/// never lost), then log the `custom` run event "Scheduled call
/// event_id=…"; a failed log is kept (`logged: false`) and retried by the
/// next schedule or complete. Never fails: the event is scheduled either
/// way, so problems are returned as notes for stderr.
pub async fn track_scheduled(
    ctx: &Context,
    slug: &str,
    assistant_id: &str,
    sent: &NewScheduledEvent,
    created: &crate::api::models::ScheduledEvent,
) -> Vec<String> {
    let (channel, text) = match &sent.channel {
        Channel::Call => ("call", None),
        Channel::Sms(t) => ("sms", Some(t.clone())),
    };
    let ev = ScheduledEvent {
        event_id: created.id.clone(),
        assistant_id: Some(assistant_id.to_string()),
        channel: channel.into(),
        to: sent.to.clone(),
        scheduled_at: sent.scheduled_at.clone(),
        step_id: sent.step_id.clone(),
        text,
        status: created.status.clone().unwrap_or_else(|| "pending".into()),
        from: Some(sent.from.clone()),
        mission_id: sent.mission_id.clone(),
        run_id: sent.run_id.clone(),
        logged: Some(false),
        ..ScheduledEvent::default()
    };
    match record_and_log(ctx, slug, ev).await {
        Ok(notes) => notes,
        Err(e) => vec![format!("warning: the event is scheduled but could not be recorded in the state file: {e}")],
    }
}

/// Under the lock: record `ev` already claimed by this process (so no
/// concurrent command sends its run event) and claim the mission's other
/// owed records; then send them all and settle the claims.
async fn record_and_log(ctx: &Context, slug: &str, ev: ScheduledEvent) -> Result<Vec<String>> {
    let store = ctx.state()?;
    let now = ctx.now();
    let claim = Claim::new(ctx);
    let (s, c, mut rec) = (slug.to_string(), claim.clone(), ev.clone());
    let claimed = store
        .update_async(move |st| {
            if st.mission(&s).is_none() {
                return Err(st.unknown(&s));
            }
            let Some(m) = st.mission_mut(&s) else { return Ok(None) };
            let (Some(mid), Some(rid)) = (m.mission_id(), m.run_id()) else {
                m.upsert_scheduled_event(&rec, now)?;
                return Ok(None);
            };
            let until = c.until(now, 1 + m.scheduled_events().iter().filter(|e| e.claimable(now)).count());
            let retries = m.claim_unlogged(&c.owner, now, until)?;
            rec.log_claim = Some(LogClaim { owner: c.owner.clone(), until: timestamp(until) });
            m.upsert_scheduled_event(&rec, now)?;
            Ok(Some(((mid, rid), rec, retries)))
        })
        .await?;
    let mut notes = vec![format!("Recorded {} in mission '{slug}' memory (scheduled_events)", ev.event_id)];
    match claimed {
        Some((run, rec, retries)) => {
            notes.extend(send_scheduled(&ctx.client()?, &store, slug, &claim, &run, vec![rec], retries, ctx).await)
        }
        None => notes.push(format!("mission '{slug}' has no run id in the state file: no run event was logged")),
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeDelta, Utc};

    #[test]
    fn a_claim_lasts_for_every_request_it_covers_and_at_least_ten_minutes() {
        let c = Claim { owner: "1-a".into(), per_request: Duration::minutes(4) };
        let now = Utc::now();
        assert_eq!(c.until(now, 1) - now, Duration::minutes(10));
        assert_eq!(c.until(now, 4) - now, Duration::minutes(20));
        let huge = Claim { owner: "1-a".into(), per_request: TimeDelta::MAX };
        assert_eq!(huge.until(now, 3), chrono::DateTime::<Utc>::MAX_UTC);
    }
}
