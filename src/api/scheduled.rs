//! Scheduled calls and SMS of an assistant: `/assistants/{aid}/events[/{eid}]`.
//!
//! With `mission_id`, `run_id` and `step_id` set, the service itself marks
//! the plan step completed when the call or SMS finishes, and the run
//! succeeded once all its scheduled events are terminal.

use serde_json::{Map, Value};

use super::models::ScheduledEvent;
use super::{envelope, ApiPath, Client};
use crate::error::Result;

const ENVELOPE: &[&str] = &["event", "data"];
const ID_ALIASES: &[&str] = &["event_id"];

/// Call or SMS.
#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    Call,
    /// An SMS with this text.
    Sms(String),
}

/// A call or SMS to schedule. Numbers are E.164, `scheduled_at` RFC 3339
/// UTC at least a minute ahead (the caller validates; see `validate`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewScheduledEvent {
    pub channel: Channel,
    pub to: String,
    pub from: String,
    pub scheduled_at: String,
    pub mission_id: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
}

impl NewScheduledEvent {
    /// The body in telnyx_api.py's key order. Call: `channel, to, from,
    /// scheduled_at, mission_id, run_id[, step_id]`; SMS: `channel, to, from,
    /// scheduled_at, text_body[, mission_id][, run_id][, step_id]`.
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        let channel = match self.channel {
            Channel::Call => "call",
            Channel::Sms(_) => "sms",
        };
        m.insert("channel".into(), channel.into());
        m.insert("to".into(), self.to.clone().into());
        m.insert("from".into(), self.from.clone().into());
        m.insert("scheduled_at".into(), self.scheduled_at.clone().into());
        if let Channel::Sms(text) = &self.channel {
            m.insert("text_body".into(), text.clone().into());
        }
        for (k, v) in [("mission_id", &self.mission_id), ("run_id", &self.run_id), ("step_id", &self.step_id)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                m.insert(k.to_string(), v.clone().into());
            }
        }
        Value::Object(m)
    }
}

fn events_path(assistant_id: &str) -> Result<ApiPath> {
    Ok(ApiPath::new("/assistants").id("ASSISTANT_ID", assistant_id)?.lit("events"))
}

/// Schedule a call or SMS; returns the created event.
pub async fn create(c: &Client, assistant_id: &str, e: &NewScheduledEvent) -> Result<ScheduledEvent> {
    let reply = c.post(&events_path(assistant_id)?, &e.body()).await?;
    envelope::object(reply, ENVELOPE, ID_ALIASES, "scheduled event")
}

/// Fetch one scheduled event (the poll engine's view of a call).
pub async fn get(c: &Client, assistant_id: &str, event_id: &str) -> Result<ScheduledEvent> {
    let reply = c.get(&events_path(assistant_id)?.id("EVENT_ID", event_id)?, &[]).await?;
    envelope::object(reply, ENVELOPE, ID_ALIASES, "scheduled event")
}

/// Cancel (delete) a scheduled event.
pub async fn cancel(c: &Client, assistant_id: &str, event_id: &str) -> Result<()> {
    c.delete(&events_path(assistant_id)?.id("EVENT_ID", event_id)?).await?;
    Ok(())
}

/// Every scheduled event of an assistant.
pub async fn list(c: &Client, assistant_id: &str) -> Result<Vec<ScheduledEvent>> {
    let reply = c.get(&events_path(assistant_id)?, &[]).await?;
    envelope::objects(&reply, &["events", "data"], ID_ALIASES, "scheduled event")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(channel: Channel) -> NewScheduledEvent {
        NewScheduledEvent {
            channel,
            to: "+15551234567".into(),
            from: "+15559876543".into(),
            scheduled_at: "2030-01-01T00:00:00Z".into(),
            mission_id: Some("m".into()),
            run_id: Some("r".into()),
            step_id: None,
        }
    }

    #[test]
    fn call_and_sms_bodies_keep_python_key_order() {
        let call = String::from_utf8(super::super::body_bytes(&ev(Channel::Call).body())).unwrap();
        assert_eq!(
            call,
            r#"{"channel": "call", "to": "+15551234567", "from": "+15559876543", "scheduled_at": "2030-01-01T00:00:00Z", "mission_id": "m", "run_id": "r"}"#
        );
        let mut sms = ev(Channel::Sms("hi".into()));
        sms.run_id = None;
        sms.step_id = Some("s1".into());
        let sms = String::from_utf8(super::super::body_bytes(&sms.body())).unwrap();
        assert_eq!(
            sms,
            r#"{"channel": "sms", "to": "+15551234567", "from": "+15559876543", "scheduled_at": "2030-01-01T00:00:00Z", "text_body": "hi", "mission_id": "m", "step_id": "s1"}"#
        );
    }
}
