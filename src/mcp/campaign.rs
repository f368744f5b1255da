//! Campaign control tools (`--all-tools`): `mission_pause`,
//! `mission_resume` and `mission_retry_failed`, the library calls
//! `clawdtalk mission pause|resume|retry --failed` make
//! (docs/campaigns.md#pause-and-resume). Resume and retry dial people, so
//! they ask the owner first like `mission_schedule` (docs/mcp.md#approval-guard).

use std::time::Duration as StdDuration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::guard::Ask;
use super::server::Server;
use crate::campaign::control::{self, Pacing};
use crate::campaign::{report, retry};
use crate::error::{Error, Result};

/// How long a tool waits for a running poll (the tool call answers within 25 s).
const LOCK_WAIT: StdDuration = StdDuration::from_secs(15);

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseArgs {
    /// Mission slug or mission id.
    pub mission: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlArgs {
    /// Mission slug or mission id.
    pub mission: String,
    /// First slot: RFC 3339, or relative like "+5m" (at least 60 s ahead). Default "+2m".
    #[serde(default)]
    pub start: Option<String>,
    /// At most this many calls start in one slot (1-100). Default 5.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Seconds between slots. Default 120.
    #[serde(default)]
    pub stagger_seconds: Option<u32>,
    /// At most this many targets get a new event.
    #[serde(default)]
    pub max_calls: Option<u32>,
}

#[tool_router(router = campaign_router, vis = "pub(crate)")]
impl Server {
    /// Pause a campaign (targets of `clawdtalk schedule batch`): its events that have not started are
    /// cancelled and recorded as paused, never failed; poll does not end the mission while it is paused.
    /// Pausing twice changes nothing.
    #[tool(annotations(
        title = "Pause a campaign",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn mission_pause(&self, Parameters(a): Parameters<PauseArgs>) -> CallToolResult {
        self.finish(self.pause(a).await)
    }

    /// Resume a paused campaign: each paused target gets a new event in its next open calling window.
    /// Asks the owner's approval first. Resuming again creates nothing.
    #[tool(annotations(
        title = "Resume a campaign",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn mission_resume(&self, Parameters(a): Parameters<ControlArgs>) -> CallToolResult {
        self.finish(self.control_guarded("mission_resume", "resume the paused targets", a).await)
    }

    /// Give each failed target of a campaign one new attempt (reopening a mission poll already ended).
    /// Asks the owner's approval first. Exactly once per round: calling again creates nothing.
    #[tool(annotations(
        title = "Retry a campaign's failed targets",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn mission_retry_failed(&self, Parameters(a): Parameters<ControlArgs>) -> CallToolResult {
        self.finish(self.control_guarded("mission_retry_failed", "call the failed targets again", a).await)
    }
}

impl Server {
    async fn pause(&self, a: PauseArgs) -> Result<Value> {
        let store = self.env.state()?;
        // Unknown or archived slugs fail here, before any client is built.
        store.read_async().await?.active_slug(&a.mission)?;
        let r = control::pause(&self.env.api_service()?, &store, &a.mission, LOCK_WAIT).await?;
        self.env.record(report::pause_journal_entry(&r.slug, r.paused.len()).into_iter().collect()).await;
        serde_json::to_value(&r).map_err(|e| Error::failed(e.to_string()))
    }

    /// Check the arguments, then ask the owner (or not) and run `tool`.
    async fn control_guarded(&self, tool: &str, what: &str, a: ControlArgs) -> Result<Value> {
        self.pacing(&a).await?;
        self.env.state()?.read_async().await?.lookup(&a.mission)?;
        let ask = Ask {
            action: format!("Let your agent {what} of mission '{}'", a.mission),
            details: format!("{what}, first slot {}", a.start.as_deref().unwrap_or("+2m")),
            mission: Some(a.mission.clone()),
        };
        let args = serde_json::to_value(&a).map_err(|e| Error::failed(e.to_string()))?;
        self.guarded(tool, args, ask).await
    }

    fn pacing_parts(a: &ControlArgs) -> Result<(u32, chrono::Duration)> {
        use crate::cli::bounds::{MAX_BATCH_CALLS, MAX_CONCURRENCY};
        let concurrency = a.concurrency.unwrap_or(5);
        if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
            return Err(Error::usage(format!("concurrency: give 1 to {MAX_CONCURRENCY}")));
        }
        if a.max_calls.is_some_and(|n| !(1..=MAX_BATCH_CALLS).contains(&n)) {
            return Err(Error::usage(format!("max_calls: give 1 to {MAX_BATCH_CALLS}")));
        }
        let stagger = a.stagger_seconds.unwrap_or(120);
        if stagger == 0 {
            return Err(Error::usage("stagger_seconds: give at least 1"));
        }
        Ok((concurrency, chrono::Duration::seconds(i64::from(stagger))))
    }

    async fn pacing(&self, a: &ControlArgs) -> Result<Pacing> {
        let (concurrency, stagger) = Self::pacing_parts(a)?;
        let now = self.env.service_now().await;
        Ok(Pacing {
            start: crate::validate::when_time(a.start.as_deref().unwrap_or("+2m"), now)?,
            concurrency,
            stagger,
            max_calls: a.max_calls,
            daily_cap: self.env.daily_cap()?,
            gate: self.env.gate().await?,
            lock_wait: LOCK_WAIT,
        })
    }

    /// `mission_resume`, approved (or `--no-approval`).
    pub(crate) async fn resume_now(&self, a: ControlArgs) -> Result<Value> {
        let pacing = self.pacing(&a).await?;
        let (store, now) = (self.env.state()?, self.env.service_now().await);
        let slug = store.read_async().await?.active_slug(&a.mission)?;
        let (entries, done) =
            control::resume(&self.env.client()?, &store, &self.env.claim(), &slug, pacing, now).await?;
        self.env.record(report::journal_entry("campaign.resumed", &slug, &done).into_iter().collect()).await;
        let mut data = report::outcome(&entries, Some(&done), "call").data;
        data["slug"] = json!(slug);
        Ok(data)
    }

    /// `mission_retry_failed`, approved (or `--no-approval`).
    pub(crate) async fn retry_now(&self, a: ControlArgs) -> Result<Value> {
        let pacing = self.pacing(&a).await?;
        let (store, now) = (self.env.state()?, self.env.service_now().await);
        let svc = self.env.api_service()?;
        let (r, entries, done) =
            retry::retry_failed(&svc, &self.env.client()?, &store, &self.env.claim(), &a.mission, pacing, now).await?;
        self.env.record(report::journal_entry("campaign.retried", &r.slug, &done).into_iter().collect()).await;
        let mut data = report::outcome(&entries, Some(&done), "call").data;
        data["retry"] = serde_json::to_value(&r).map_err(|e| Error::failed(e.to_string()))?;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(concurrency: Option<u32>, stagger: Option<u32>) -> ControlArgs {
        ControlArgs { mission: "m".into(), start: None, concurrency, stagger_seconds: stagger, max_calls: None }
    }

    #[test]
    fn pacing_defaults_to_the_batchs_and_refuses_what_would_never_place() {
        assert_eq!(Server::pacing_parts(&args(None, None)).unwrap(), (5, chrono::Duration::minutes(2)));
        assert!(Server::pacing_parts(&args(Some(0), None)).is_err());
        assert!(Server::pacing_parts(&args(Some(101), None)).is_err());
        assert!(Server::pacing_parts(&args(None, Some(0))).is_err());
    }

    #[test]
    fn max_calls_is_bounded_as_on_the_command_line() {
        let with = |n| ControlArgs { max_calls: Some(n), ..args(None, None) };
        assert!(Server::pacing_parts(&with(0)).is_err());
        assert!(Server::pacing_parts(&with(100_001)).is_err());
        assert!(Server::pacing_parts(&with(100_000)).is_ok());
    }
}
