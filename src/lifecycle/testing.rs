//! Test support: an in-memory [`Service`] that plays calls out by their
//! magic number (…01 always busy, …05 busy on its first attempt), and a
//! state file with one mission.
#![cfg(test)]

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::engine::{EventSnapshot, InsightsSnapshot, PlanStep, RetryRequest};
use super::service::{ListedEvent, RunRef, Service};
use crate::error::{Error, Result};
use crate::state::{StateStore, SCHEDULED_EVENTS_KEY};

#[derive(Debug, Clone)]
pub struct FakeEvent {
    pub to: String,
    pub scheduled_at: String,
    pub step_id: Option<String>,
    pub status: String,
    pub call_status: Option<String>,
    pub conversation_id: Option<String>,
}

/// An in-memory service: events end by their number (…01 always busy,
/// …05 busy on the first attempt) once `play()` is called.
#[derive(Default)]
pub struct Fake {
    pub now: Mutex<Option<DateTime<Utc>>>,
    pub events: Mutex<Vec<(String, FakeEvent)>>,
    pub plan: Mutex<Vec<PlanStep>>,
    pub run: Mutex<String>,
    pub logs: Mutex<Vec<(String, String)>>,
    pub requests: Mutex<usize>,
    /// Accept the next schedule, then fail as if the reply was lost.
    pub lose_schedule_reply: Mutex<bool>,
    /// Every request fails with a network error.
    pub offline: Mutex<bool>,
    /// Logging fails (the other requests work).
    pub logs_down: Mutex<bool>,
    /// Setting plan steps fails.
    pub steps_down: Mutex<bool>,
}

impl Fake {
    pub fn new() -> Fake {
        let f = Fake::default();
        *f.run.lock().unwrap() = "running".into();
        *f.now.lock().unwrap() = Some(t("2026-01-01T12:00:00Z"));
        f
    }
    pub fn add(&self, id: &str, to: &str, step: &str) {
        self.events.lock().unwrap().push((
            id.into(),
            FakeEvent {
                to: to.into(),
                scheduled_at: "2026-01-01T11:59:00Z".into(),
                step_id: Some(step.into()),
                status: "pending".into(),
                call_status: None,
                conversation_id: None,
            },
        ));
    }
    /// Every due event plays out by its magic number.
    pub fn play(&self) {
        let now = self.now.lock().unwrap().unwrap();
        let mut evs = self.events.lock().unwrap();
        let tries: Vec<String> = evs.iter().map(|(_, e)| e.to.clone()).collect();
        for (id, e) in evs.iter_mut() {
            if e.status != "pending" || super::executor::parse_time(&e.scheduled_at).unwrap() > now {
                continue;
            }
            let attempt = tries.iter().filter(|t| **t == e.to).count();
            let busy = e.to.ends_with("01") || (e.to.ends_with("05") && attempt == 1);
            if busy {
                e.status = "failed".into();
                e.call_status = Some("busy".into());
            } else {
                e.status = "completed".into();
                e.call_status = Some("completed".into());
                e.conversation_id = Some(format!("conv-{id}"));
            }
        }
    }
    pub fn advance_by(&self, d: std::time::Duration) {
        let mut n = self.now.lock().unwrap();
        *n = Some(n.unwrap() + chrono::Duration::from_std(d).unwrap());
    }
    pub fn advance(&self, mins: i64) {
        let mut n = self.now.lock().unwrap();
        *n = Some(n.unwrap() + chrono::Duration::minutes(mins));
    }
    fn hit(&self) -> Result<()> {
        *self.requests.lock().unwrap() += 1;
        if *self.offline.lock().unwrap() {
            return Err(Error::Network("connection refused".into()));
        }
        Ok(())
    }
}

pub fn t(s: &str) -> DateTime<Utc> {
    super::executor::parse_time(s).unwrap()
}

impl Service for Fake {
    async fn now(&self) -> Result<DateTime<Utc>> {
        self.hit()?;
        Ok(self.now.lock().unwrap().unwrap())
    }
    async fn get_event(&self, _a: &str, id: &str) -> Result<EventSnapshot> {
        self.hit()?;
        let evs = self.events.lock().unwrap();
        let (_, e) =
            evs.iter().find(|(i, _)| i == id).ok_or(Error::Api { status: 404, message: "no".into(), body: None })?;
        Ok(EventSnapshot {
            status: Some(e.status.clone()),
            call_status: e.call_status.clone(),
            conversation_id: e.conversation_id.clone(),
            retry_count: None,
        })
    }
    async fn list_events(&self, _a: &str) -> Result<Vec<ListedEvent>> {
        self.hit()?;
        Ok(self
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|(id, e)| ListedEvent {
                id: id.clone(),
                to: Some(e.to.clone()),
                scheduled_at: Some(e.scheduled_at.clone()),
                step_id: e.step_id.clone(),
            })
            .collect())
    }
    async fn schedule(&self, _run: &RunRef, req: &RetryRequest) -> Result<String> {
        self.hit()?;
        let mut evs = self.events.lock().unwrap();
        let id = format!("ev{}", evs.len() + 1);
        evs.push((
            id.clone(),
            FakeEvent {
                to: req.to.clone(),
                scheduled_at: req.scheduled_at.clone(),
                step_id: req.step_id.clone(),
                status: "pending".into(),
                call_status: None,
                conversation_id: None,
            },
        ));
        let mut lose = self.lose_schedule_reply.lock().unwrap();
        if *lose {
            *lose = false;
            return Err(Error::Network("connection reset".into()));
        }
        Ok(id)
    }
    async fn cancel_event(&self, _a: &str, id: &str) -> Result<()> {
        self.hit()?;
        if let Some((_, e)) = self.events.lock().unwrap().iter_mut().find(|(i, _)| i == id) {
            e.status = "cancelled".into();
        }
        Ok(())
    }
    async fn insights(&self, _c: &str) -> Result<InsightsSnapshot> {
        self.hit()?;
        Ok(InsightsSnapshot { status: "completed".into(), results: vec![json!("talked")] })
    }
    async fn run_status(&self, _run: &RunRef) -> Result<Option<String>> {
        self.hit()?;
        Ok(Some(self.run.lock().unwrap().clone()))
    }
    async fn plan(&self, _run: &RunRef) -> Result<Vec<PlanStep>> {
        self.hit()?;
        Ok(self.plan.lock().unwrap().clone())
    }
    async fn set_step(&self, _run: &RunRef, step: &str, status: &str) -> Result<()> {
        self.hit()?;
        if *self.steps_down.lock().unwrap() {
            return Err(Error::Api { status: 503, message: "down".into(), body: None });
        }
        if let Some(s) = self.plan.lock().unwrap().iter_mut().find(|s| s.step_id == step) {
            s.status = status.into();
        }
        Ok(())
    }
    async fn set_run(&self, _run: &RunRef, status: &str, _s: &str, _p: &Value) -> Result<()> {
        self.hit()?;
        *self.run.lock().unwrap() = status.into();
        Ok(())
    }
    async fn log(&self, _r: &RunRef, kind: &str, summary: &str, _s: Option<&str>, _p: &Value) -> Result<()> {
        self.hit()?;
        if *self.logs_down.lock().unwrap() {
            return Err(Error::Api { status: 503, message: "down".into(), body: None });
        }
        self.logs.lock().unwrap().push((kind.into(), summary.into()));
        Ok(())
    }
}

/// A state file with one mission tracking `events` (id, to) in step `calls`.
pub fn setup(dir: &std::path::Path, slug: &str, fake: &Fake, events: &[(&str, &str)]) -> StateStore {
    let store = StateStore::open(dir.join("state.json"));
    *fake.plan.lock().unwrap() = vec![PlanStep { step_id: "calls".into(), status: "pending".into() }];
    let recs: Vec<Value> = events
        .iter()
        .map(|(id, to)| {
            fake.add(id, to, "calls");
            json!({"event_id": id, "assistant_id": "a1", "channel": "call", "to": to,
                "scheduled_at": "2026-01-01T11:59:00Z", "step_id": "calls", "status": "pending"})
        })
        .collect();
    let slug = slug.to_string();
    store
        .update(move |st| {
            let m = st.mission_or_create(&slug);
            m.set("mission_id", format!("m-{slug}"));
            m.set("run_id", "r1");
            m.set("assistant_id", "a1");
            m.set("agent_phone", "+15550001111");
            m.memory_save(SCHEDULED_EVENTS_KEY, Value::Array(recs), Utc::now())
        })
        .unwrap();
    store
}
