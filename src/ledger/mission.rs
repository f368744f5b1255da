//! The high-level mission workflows (docs/protocol.md#workflows): `mission
//! init|setup-agent|complete` and the legacy words `init`, `setup-agent`,
//! `complete`.
//!
//! Each workflow is resumable and idempotent: every id is saved to the state
//! file the moment the service returns it, so when a step fails (network,
//! service error, crash) re-running the same command continues where it
//! stopped instead of creating a second mission, run or assistant.
//! Network requests are never made while the state file is locked.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{json, Map, Value};

use crate::api::assistants;
use crate::api::runs::{self, RunUpdate};
use crate::api::{agents, missions, phones, plan};
use crate::error::{Error, Result};
use crate::lifecycle::engine::bot_steps_left;
use crate::lifecycle::service::parse_plan;
use crate::output::Outcome;
use crate::state::{slugify, timestamp, FileLock, Found, MissionState, StateStore};
use crate::task::blocking;
use crate::validate;

use super::agentphone::retry_owed;
use super::assistant::AssistantRequest;
use super::claim::Claim;
use super::schedule::retry_unlogged;
use super::ClientSource;

/// Field of a mission entry holding the `init` steps not done yet (the plan
/// steps to post, and whether the run still has to be set running). Present
/// only while an `init` is unfinished; telnyx_api.py entries never have it.
const INIT_PENDING: &str = "init_pending";
/// Field recording the run the assistant was linked to (so a re-run of
/// `setup-agent` after a failed link links it, and never twice).
const LINKED_RUN: &str = "assistant_linked_run_id";
/// Field of [`INIT_PENDING`]: when the init that took the slug started
/// (RFC 3339), so a resumed init adopts only a mission created since.
const PENDING_SINCE: &str = "since";

/// What `init` needs: `init NAME INSTRUCTIONS REQUEST [STEPS_JSON]`.
#[derive(Debug, Clone, PartialEq)]
pub struct InitRequest {
    /// The mission's name; its slug keys the state file.
    pub name: String,
    pub instructions: String,
    /// The user's original request (the run's input).
    pub request: String,
    /// Plan steps as a JSON list (not yet validated).
    pub steps_json: Option<String>,
}

/// What `setup-agent` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupAgentRequest {
    /// Slug or mission id.
    pub mission: String,
    /// Start a state entry when the slug is unknown.
    pub create: bool,
    /// The assistant to create when the mission has none yet.
    pub assistant: AssistantRequest,
}

/// `init NAME INSTRUCTIONS REQUEST [STEPS_JSON]`.
///
/// Lines as telnyx_api.py (`Created mission: …`, `Created run: …`,
/// `Created plan with N steps`, `Updated run …: running`, or `Resuming
/// existing mission: SLUG`), then `Mission slug: SLUG`.
///
/// Safe to retry and to race (docs/protocol.md#workflows): inits of one
/// state file take turns on `<state>.init.lock` (released by the kernel
/// when a holder dies), so concurrent inits of one name create one mission
/// and the later ones resume it. Before anything is sent the slug is taken
/// in the state file as a pending record with its start time, which also
/// proves the file can be written (a read-only or full disk fails here, exit
/// 5, and no mission is left orphaned). A pending record left by a crash is
/// resumed: the service's missions are listed and one of this name created
/// since the record's time is adopted; a new one is created only when there
/// is none, and an older mission of the same name is never adopted.
pub async fn init(
    client: &impl ClientSource,
    store: &StateStore,
    now: DateTime<Utc>,
    a: InitRequest,
) -> Result<Outcome> {
    let slug = slugify(&a.name);
    if slug.is_empty() {
        return Err(Error::usage(format!(
            "NAME {:?} has no letters or digits, so it gives no slug; use a descriptive name",
            a.name
        )));
    }
    let steps = a.steps_json.as_deref().map(plan_steps).transpose()?;
    if let Some(done) = resumed(&slug, store.read_async().await?.mission(&slug)) {
        return Ok(done);
    }
    let client = client.client()?;
    let _turn = init_turn(store, &slug).await?;
    let (existing, since) = take_slug(store, &slug, &a.name, now).await?;
    // Another init of this name finished while this one waited its turn.
    if let Some(done) = resumed(&slug, Some(&existing)) {
        return Ok(done);
    }
    let mut o = Outcome::default();
    let mission_id = existing.mission_id();
    let run_id = existing.run_id();
    let pending = existing.fields().get(INIT_PENDING).cloned();
    let mid = match mission_id {
        Some(mid) => mid,
        None => create_or_adopt(&client, store, &slug, &a, since, now, &mut o).await?,
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
            save(store, &slug, move |e| {
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
        save(store, &slug, |e| {
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
    save(store, &slug, move |e| {
        e.remove(INIT_PENDING);
        e.set("status", "running");
        e.touch(now);
    })
    .await?;
    o.data = json!({"slug": slug, "mission_id": mid, "run_id": rid, "resumed": false});
    Ok(o.line(format!("Mission slug: {slug}")))
}

/// The mission for a slug that has none saved: the one a crashed init of
/// this name created after `since` (never an older one), or a new one;
/// saved before anything else is created for it.
async fn create_or_adopt(
    client: &crate::api::Client,
    store: &StateStore,
    slug: &str,
    a: &InitRequest,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    o: &mut Outcome,
) -> Result<String> {
    let adopted = match since {
        Some(t) => adoptable(client, &a.name, t).await?,
        None => None,
    };
    let id = match adopted {
        Some(id) => {
            o.blocks.push(crate::output::Block::Line(format!(
                "Adopted mission: {id} (created by an init that stopped before saving it)"
            )));
            id
        }
        None => {
            let m = missions::create(client, &a.name, &a.instructions).await?;
            o.blocks.push(crate::output::Block::Line(format!("Created mission: {}", m.id)));
            m.id
        }
    };
    let (name, saved) = (a.name.clone(), id.clone());
    save(store, slug, move |e| {
        e.set("mission_name", name);
        e.set("mission_id", saved);
        e.set("created_at", timestamp(now));
    })
    .await?;
    Ok(id)
}

/// The answer for a slug whose init is complete (mission and run saved,
/// nothing pending): resumed, nothing sent.
fn resumed(slug: &str, entry: Option<&MissionState>) -> Option<Outcome> {
    let e = entry?;
    let (mid, rid) = (e.mission_id()?, e.run_id()?);
    if e.fields().contains_key(INIT_PENDING) {
        return None;
    }
    let data = json!({"slug": slug, "mission_id": mid, "run_id": rid, "resumed": true});
    Some(Outcome::data(data).line(format!("Resuming existing mission: {slug}")).line(format!("Mission slug: {slug}")))
}

/// How long an `init` waits for another `init` of the same state file to
/// finish before saying so. Creating a mission takes four requests; a
/// minute covers slow networks without leaving a caller hanging.
const INIT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// This init's turn: the exclusive `<state>.init.lock`, waited for (bounded).
async fn init_turn(store: &StateStore, slug: &str) -> Result<FileLock> {
    let path = store.init_lock_path();
    let held = blocking(move || FileLock::exclusive_within(&path, INIT_WAIT)).await?;
    held.ok_or_else(|| {
        Error::failed(format!(
            "mission '{slug}' is being created by another process (or another init is still running); run init \
             again"
        ))
    })
}

/// Under the state lock: the slug's entry as it is, and the start time of
/// an unfinished earlier init that had not saved a mission id (`None` when
/// this init starts afresh). An entry without a mission id is marked
/// pending with `now` before anything is sent; the write proves the state
/// file can be written.
async fn take_slug(
    store: &StateStore,
    slug: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(MissionState, Option<DateTime<Utc>>)> {
    let (slug, name) = (slug.to_string(), name.to_string());
    store
        .update_async(move |s| {
            let e = s.mission_or_create(&slug);
            let mut since = None;
            if e.mission_id().is_none() {
                let pending = e.fields().get(INIT_PENDING).and_then(|p| p.get(PENDING_SINCE)).cloned();
                since = pending.as_ref().and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                if e.get_str("mission_name").is_none() {
                    e.set("mission_name", name);
                }
                let mut marker = match e.fields().get(INIT_PENDING) {
                    Some(Value::Object(p)) => p.clone(),
                    _ => Map::new(),
                };
                if since.is_none() {
                    marker.insert(PENDING_SINCE.into(), json!(timestamp(now)));
                }
                e.set(INIT_PENDING, Value::Object(marker));
            }
            Ok((e.clone(), since.map(|t| t.with_timezone(&Utc))))
        })
        .await
}

/// A mission named `name` created at or after `since` (the earliest, when
/// several): the one a crashed init created and could not save. Missions
/// created before the pending record are someone else's and never adopted.
/// The service gives `created_at` in whole seconds, so `since` is compared
/// at that precision.
async fn adoptable(client: &crate::api::Client, name: &str, since: DateTime<Utc>) -> Result<Option<String>> {
    let since = since.trunc_subsecs(0);
    let created = |m: &crate::api::models::Mission| {
        m.extra
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let mut found: Vec<(DateTime<Utc>, String)> = missions::list(client)
        .await?
        .iter()
        .filter(|m| m.name.as_deref() == Some(name))
        .filter_map(|m| created(m).filter(|t| *t >= since).map(|t| (t, m.id.clone())))
        .collect();
    found.sort();
    Ok(found.into_iter().next().map(|(_, id)| id))
}

/// `STEPS_JSON` as a JSON list (its steps are the service's to check).
fn plan_steps(text: &str) -> Result<Value> {
    let v = validate::json_arg("STEPS_JSON", text)?;
    if !v.is_array() {
        return Err(Error::usage("STEPS_JSON must be a JSON list: [{\"step_id\",\"description\",\"sequence\"},...]"));
    }
    Ok(v)
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
/// the first available account number as the caller id
/// (docs/protocol.md#workflows: the number is not assigned to the assistant).
pub async fn setup_agent(
    client: &impl ClientSource,
    store: &StateStore,
    now: DateTime<Utc>,
    a: SetupAgentRequest,
) -> Result<Outcome> {
    // Everything is checked before anything is sent.
    let new = a.assistant.prepare()?;
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
    let client = client.client()?;
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
            save(store, &slug, move |e| e.set("assistant_id", id)).await?;
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
            save(store, &slug, move |e| e.set(LINKED_RUN, rid)).await?;
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
    save(store, &slug, move |e| {
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

/// `complete SLUG MID RID SUMMARY [PAYLOAD_JSON]` / `mission complete SLUG
/// SUMMARY [PAYLOAD_JSON] [--mission-id] [--run-id]`.
///
/// Marks the bot's own open plan steps `completed` ([`finish_bot_steps`]),
/// PATCHes the run `succeeded` with `result_summary` (+ `result_payload`),
/// then moves the mission to the archive (its memory stays readable). With
/// explicit ids it completes the run even when the slug is not in this
/// state file (a warning: the file may have been lost or be another one).
pub async fn complete(
    client: &impl ClientSource,
    store: &StateStore,
    claim: &Claim,
    now: DateTime<Utc>,
    r: CompleteRequest,
) -> Result<Outcome> {
    let payload = r.payload_json.as_deref().map(|t| validate::json_arg("PAYLOAD_JSON", t)).transpose()?;
    for (arg, v) in [("MISSION_ID", &r.mission_id), ("RUN_ID", &r.run_id)] {
        if let Some(v) = v {
            validate::plain_id(arg, v)?;
        }
    }
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
    let client = client.client()?;
    if let Some(Found::Active(slug)) = &found {
        // A run event that could not be logged earlier is logged before the run ends.
        o.notes.extend(retry_unlogged(&client, store, claim, slug, now).await);
        o.notes.extend(retry_owed(&client, store, claim, slug, now).await);
    }
    let mut steps_completed = Vec::new();
    if let (Some(Found::Active(_)), Some(m)) = (&found, &entry) {
        let (done, notes) = finish_bot_steps(&client, &mid, &rid, &m.scheduled_events()).await;
        o.notes.extend(notes);
        for step in &done {
            o = o.line(format!("Marked step {step} completed"));
        }
        steps_completed = done;
    }
    let update = RunUpdate {
        status: Some("succeeded".into()),
        result_summary: Some(r.summary.clone()),
        result_payload: payload.clone(),
    };
    runs::update(&client, &mid, &rid, &update).await?;
    o = o.line(format!("Updated run {rid}: succeeded"));
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
        "archived": found.is_some(), "steps_completed": steps_completed});
    Ok(o.line(format!("Mission '{label}' completed successfully")))
}

/// Mark the bot's own open plan steps `completed` before the run ends.
///
/// The bot's steps are the plan steps no tracked call or SMS belongs to
/// (e.g. "summarize the quotes": [`bot_steps_left`]); calling `complete` is
/// the bot saying its work is done, so they end `completed`, not `skipped`
/// (nothing was left undone) and not left `pending` under a succeeded run.
/// Steps with events are poll's and keep the status it gave them. Returns
/// the steps marked, and warnings: a plan that cannot be read or a step
/// that cannot be set does not stop the run from being completed.
async fn finish_bot_steps(
    client: &crate::api::Client,
    mid: &str,
    rid: &str,
    records: &[crate::state::ScheduledEvent],
) -> (Vec<String>, Vec<String>) {
    let plan = match plan::get(client, mid, rid).await {
        Ok(v) => parse_plan(&v),
        Err(Error::Api { status: 404, .. }) => Vec::new(),
        Err(e) => {
            return (
                Vec::new(),
                vec![format!("warning: could not read the plan ({e}); its steps were left as they were")],
            )
        }
    };
    let (mut done, mut notes) = (Vec::new(), Vec::new());
    for step in bot_steps_left(records, &plan) {
        match plan::update_step(client, mid, rid, &step, "completed").await {
            Ok(_) => done.push(step),
            Err(e) => notes.push(format!("warning: could not mark step {step} completed ({e})")),
        }
    }
    (done, notes)
}

/// After a run's status was set on the service (`run update`,
/// `update-run`): the active mission with that mission and run id records
/// it as its `status`, so `list-state` shows the run as it is, not as init
/// left it. Returns the slug, None when no active mission has that run.
pub async fn record_run_status(
    store: &StateStore,
    mission_id: &str,
    run_id: &str,
    status: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let (mid, rid, status) = (mission_id.to_string(), run_id.to_string(), status.to_string());
    store
        .update_async(move |st| {
            let slug = st
                .missions()
                .find(|(_, m)| m.mission_id().as_deref() == Some(&*mid) && m.run_id().as_deref() == Some(&*rid))
                .map(|(s, _)| s.to_string());
            if let Some(m) = slug.as_deref().and_then(|s| st.mission_mut(s)) {
                m.set("status", status);
                m.set("last_updated", timestamp(now));
            }
            Ok(slug)
        })
        .await
}
