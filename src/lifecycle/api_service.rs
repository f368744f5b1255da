//! [`Service`] over the typed ClawdTalk client (`crate::api`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::engine::{EventSnapshot, InsightsSnapshot, PlanStep, RetryRequest};
use super::service::{parse_plan, ListedEvent, RunRef, Service};
use std::sync::Arc;

use crate::api::Client;
use crate::clock::{Clock, ServiceClock, SystemClock};
use crate::error::{Error, Result};

/// The real service through `crate::api`, on the service's clock
/// (docs/protocol.md#service-clock).
pub struct ApiService {
    pub client: Client,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// The service clock behind `clock`, when there is one: refreshed with
    /// one cheap request when its sample is missing or old, and its speed
    /// paces `poll --watch`.
    pub service_clock: Option<Arc<ServiceClock>>,
}

impl ApiService {
    /// `client` should already feed `service_clock` (`Context::client`).
    pub fn new(client: Client, clock: Arc<dyn Clock>, service_clock: Option<Arc<ServiceClock>>) -> ApiService {
        ApiService { client, clock, service_clock }
    }

    /// From configuration (a configuration error without an API key), on a
    /// service clock of its own kept in memory.
    pub fn from_config(cfg: &crate::config::Config) -> Result<ApiService> {
        let sc = Arc::new(ServiceClock::new(Arc::new(SystemClock), &cfg.api_url, None));
        let client = Client::from_config(cfg)?.with_clock(sc.clone());
        Ok(ApiService::new(client, sc.clone(), Some(sc)))
    }
}

impl Service for ApiService {
    async fn now(&self) -> Result<DateTime<Utc>> {
        if self.service_clock.as_ref().is_some_and(|sc| sc.needs_sample()) {
            self.client.sample_clock().await?;
        }
        Ok(self.clock.now())
    }

    fn speed(&self) -> f64 {
        self.service_clock.as_ref().map_or(1.0, |sc| sc.speed())
    }

    async fn get_event(&self, assistant_id: &str, event_id: &str) -> Result<EventSnapshot> {
        let e = crate::api::scheduled::get(&self.client, assistant_id, event_id).await?;
        Ok(EventSnapshot {
            status: e.status,
            call_status: e.call_status,
            conversation_id: e.conversation_id,
            retry_count: Some(u64::from(e.retry_count)),
        })
    }

    async fn list_events(&self, assistant_id: &str) -> Result<Vec<ListedEvent>> {
        let list = crate::api::scheduled::list(&self.client, assistant_id).await?;
        Ok(list
            .into_iter()
            .map(|e| ListedEvent { id: e.id, to: e.to, scheduled_at: e.scheduled_at, step_id: e.step_id })
            .collect())
    }

    async fn schedule(&self, run: &RunRef, req: &RetryRequest) -> Result<String> {
        use crate::api::scheduled::{Channel, NewScheduledEvent};
        let assistant = req.assistant_id.as_deref().ok_or_else(|| Error::state("the event has no assistant_id"))?;
        let from = req.from.clone().ok_or_else(|| {
            Error::state("no caller number for the retry: the mission has no agent_phone (run setup-agent)")
        })?;
        let channel =
            if req.channel == "sms" { Channel::Sms(req.text.clone().unwrap_or_default()) } else { Channel::Call };
        let new = NewScheduledEvent {
            channel,
            to: req.to.clone(),
            from,
            scheduled_at: req.scheduled_at.clone(),
            mission_id: Some(run.mission_id.clone()),
            run_id: Some(run.run_id.clone()),
            step_id: req.step_id.clone(),
        };
        Ok(crate::api::scheduled::create(&self.client, assistant, &new).await?.id)
    }

    async fn cancel_event(&self, assistant_id: &str, event_id: &str) -> Result<()> {
        match crate::api::scheduled::cancel(&self.client, assistant_id, event_id).await {
            Err(Error::Api { status: 404, .. }) => Ok(()), // already gone
            other => other,
        }
    }

    async fn insights(&self, conversation_id: &str) -> Result<InsightsSnapshot> {
        let all = crate::api::insights::get(&self.client, conversation_id).await?;
        let results = crate::api::insights::completed_results(&all);
        let status = if all.iter().any(|i| i.is_completed()) {
            "completed".to_string()
        } else {
            all.first().and_then(|i| i.status.clone()).unwrap_or_else(|| "pending".into())
        };
        Ok(InsightsSnapshot { status, results })
    }

    async fn run_status(&self, run: &RunRef) -> Result<Option<String>> {
        Ok(crate::api::runs::get(&self.client, &run.mission_id, &run.run_id).await?.status)
    }

    async fn plan(&self, run: &RunRef) -> Result<Vec<PlanStep>> {
        match crate::api::plan::get(&self.client, &run.mission_id, &run.run_id).await {
            Ok(v) => Ok(parse_plan(&v)),
            Err(Error::Api { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn set_step(&self, run: &RunRef, step_id: &str, status: &str) -> Result<()> {
        crate::api::plan::update_step(&self.client, &run.mission_id, &run.run_id, step_id, status).await?;
        Ok(())
    }

    async fn set_run(&self, run: &RunRef, status: &str, summary: &str, payload: &Value) -> Result<()> {
        let u = crate::api::runs::RunUpdate {
            status: Some(status.into()),
            result_summary: Some(summary.into()),
            result_payload: Some(payload.clone()),
        };
        crate::api::runs::update(&self.client, &run.mission_id, &run.run_id, &u).await?;
        Ok(())
    }

    async fn log(&self, run: &RunRef, kind: &str, summary: &str, step_id: Option<&str>, payload: &Value) -> Result<()> {
        let e = crate::api::events::NewEvent {
            kind: kind.into(),
            summary: summary.into(),
            agent_id: Some(crate::api::events::DEFAULT_AGENT_ID.into()),
            step_id: step_id.map(Into::into),
            payload: (!payload.is_null()).then(|| payload.clone()),
        };
        crate::api::events::log(&self.client, &run.mission_id, &run.run_id, &e).await?;
        Ok(())
    }
}
