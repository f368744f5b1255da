//! What poll needs from the service, as a trait: the executor is written
//! against it so the crash and concurrency rules can be tested with an
//! in-memory service, and [`ApiService`] maps it onto `crate::api`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::engine::{EventSnapshot, InsightsSnapshot, PlanStep, RetryRequest};
use crate::error::Result;

/// A scheduled event as listed by the service (for adopting a retry that an
/// interrupted poll already scheduled).
#[derive(Debug, Clone, PartialEq)]
pub struct ListedEvent {
    pub id: String,
    pub to: Option<String>,
    pub scheduled_at: Option<String>,
    pub step_id: Option<String>,
}

/// Where a mission lives on the service.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRef {
    pub mission_id: String,
    pub run_id: String,
}

/// The service operations poll uses.
#[allow(async_fn_in_trait)]
pub trait Service {
    /// The service's current time (a sandbox runs its own clock).
    async fn now(&self) -> Result<DateTime<Utc>>;
    /// Service seconds per local second (a fast sandbox: more than 1), so
    /// `poll --watch` sleeps a service minute as a local one / speed.
    fn speed(&self) -> f64 {
        1.0
    }
    async fn get_event(&self, assistant_id: &str, event_id: &str) -> Result<EventSnapshot>;
    async fn list_events(&self, assistant_id: &str) -> Result<Vec<ListedEvent>>;
    /// Schedule the retry; returns the new event id.
    async fn schedule(&self, run: &RunRef, req: &RetryRequest) -> Result<String>;
    async fn cancel_event(&self, assistant_id: &str, event_id: &str) -> Result<()>;
    async fn insights(&self, conversation_id: &str) -> Result<InsightsSnapshot>;
    async fn run_status(&self, run: &RunRef) -> Result<Option<String>>;
    /// The plan's steps (empty when the run has no plan).
    async fn plan(&self, run: &RunRef) -> Result<Vec<PlanStep>>;
    async fn set_step(&self, run: &RunRef, step_id: &str, status: &str) -> Result<()>;
    async fn set_run(&self, run: &RunRef, status: &str, summary: &str, payload: &Value) -> Result<()>;
    async fn log(&self, run: &RunRef, kind: &str, summary: &str, step_id: Option<&str>, payload: &Value) -> Result<()>;
}

/// A shared service is a service (poll borrows one across a `--watch` loop).
impl<T: Service> Service for &T {
    async fn now(&self) -> Result<DateTime<Utc>> {
        (**self).now().await
    }
    fn speed(&self) -> f64 {
        (**self).speed()
    }
    async fn get_event(&self, assistant_id: &str, event_id: &str) -> Result<EventSnapshot> {
        (**self).get_event(assistant_id, event_id).await
    }
    async fn list_events(&self, assistant_id: &str) -> Result<Vec<ListedEvent>> {
        (**self).list_events(assistant_id).await
    }
    async fn schedule(&self, run: &RunRef, req: &RetryRequest) -> Result<String> {
        (**self).schedule(run, req).await
    }
    async fn cancel_event(&self, assistant_id: &str, event_id: &str) -> Result<()> {
        (**self).cancel_event(assistant_id, event_id).await
    }
    async fn insights(&self, conversation_id: &str) -> Result<InsightsSnapshot> {
        (**self).insights(conversation_id).await
    }
    async fn run_status(&self, run: &RunRef) -> Result<Option<String>> {
        (**self).run_status(run).await
    }
    async fn plan(&self, run: &RunRef) -> Result<Vec<PlanStep>> {
        (**self).plan(run).await
    }
    async fn set_step(&self, run: &RunRef, step_id: &str, status: &str) -> Result<()> {
        (**self).set_step(run, step_id, status).await
    }
    async fn set_run(&self, run: &RunRef, status: &str, summary: &str, payload: &Value) -> Result<()> {
        (**self).set_run(run, status, summary, payload).await
    }
    async fn log(&self, run: &RunRef, kind: &str, summary: &str, step_id: Option<&str>, payload: &Value) -> Result<()> {
        (**self).log(run, kind, summary, step_id, payload).await
    }
}

/// Steps from a plan reply: `{steps:[…]}`, `{plan:{steps}}` or a bare list;
/// each step's id in `step_id` or `id`.
pub fn parse_plan(v: &Value) -> Vec<PlanStep> {
    let list = crate::api::envelope::list(v, &["steps", "plan", "data"]);
    list.iter()
        .filter_map(|s| {
            let id = crate::api::envelope::id(s, &["step_id", "id"])?;
            let status = s.get("status").and_then(Value::as_str).unwrap_or("pending").to_string();
            Some(PlanStep { step_id: id, status })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plans_in_each_shape() {
        let want = vec![PlanStep { step_id: "a".into(), status: "pending".into() }];
        assert_eq!(parse_plan(&json!({"steps":[{"step_id":"a","status":"pending"}]})), want);
        assert_eq!(parse_plan(&json!([{"id":"a"}])), want);
        assert_eq!(parse_plan(&json!({"plan":{"steps":[{"step_id":"a"}]}})), want);
        assert!(parse_plan(&json!({})).is_empty());
    }
}
