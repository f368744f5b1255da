//! The sandbox's in-memory data and the rules that play calls and SMS out
//! over time. States are computed lazily from timestamps when read (so
//! 10,000 scheduled events cost nothing while they wait); only the side
//! effects of an event ending (auto-sync of plan steps, `call.ended` pushes,
//! automatic approval decisions) go through the `due` queue.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// Sandbox seconds a call rings before it is answered.
pub const RING_SECONDS: i64 = 6;
/// Sandbox seconds from `scheduled_at` to the end of an answered call.
pub const CALL_SECONDS: i64 = 45;
/// Sandbox seconds from the end of a call until its insights are `completed`.
pub const INSIGHTS_SECONDS: i64 = 20;
/// Sandbox seconds an SMS stays `in_progress`.
pub const SMS_SECONDS: i64 = 2;
/// Sandbox seconds before an automatic approval decision (`[approve]`/`[deny]`).
pub const AUTO_DECISION_SECONDS: i64 = 2;

/// The owner's own phone (what `POST /v1/calls {}` dials).
pub const OWNER_NUMBER: &str = "+15550109999";

/// How a call to a number ends, decided by the magic numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Answered,
    Voicemail,
    Busy,
    NoAnswer,
    Failed,
}

impl Fate {
    /// The outcome of call attempt number `attempt` (1-based) to `to`.
    pub fn of_call(to: &str, attempt: u32) -> Fate {
        match to {
            "+15005550001" => Fate::Busy,
            "+15005550002" => Fate::NoAnswer,
            "+15005550003" => Fate::Failed,
            "+15005550004" => Fate::Voicemail,
            "+15005550005" if attempt <= 1 => Fate::Busy,
            _ => Fate::Answered,
        }
    }

    /// Whether an SMS to `to` is delivered.
    pub fn of_sms(to: &str) -> Fate {
        match to {
            "+15005550001" | "+15005550003" => Fate::Failed,
            _ => Fate::Answered,
        }
    }

    /// Sandbox seconds from the start of the call to its end.
    pub fn call_length(self) -> i64 {
        match self {
            Fate::Answered => CALL_SECONDS,
            Fate::Voicemail => 30,
            Fate::Busy => 4,
            Fate::NoAnswer => 30,
            Fate::Failed => 3,
        }
    }

    /// The person (or machine) picked up.
    pub fn connected(self) -> bool {
        matches!(self, Fate::Answered | Fate::Voicemail)
    }

    /// `call_status` once the call is over.
    pub fn final_call_status(self) -> &'static str {
        match self {
            Fate::Answered | Fate::Voicemail => "completed",
            Fate::Busy => "busy",
            Fate::NoAnswer => "no-answer",
            Fate::Failed => "failed",
        }
    }
}

/// `call` or `sms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Call,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Call => "call",
            Channel::Sms => "sms",
        }
    }
}

/// A scheduled call or SMS (`POST /assistants/{id}/events`).
#[derive(Debug, Clone)]
pub struct ScheduledEvent {
    pub id: String,
    pub assistant_id: String,
    pub channel: Channel,
    pub to: String,
    pub from: String,
    /// When the event starts, on the sandbox clock (a sandbox running fast
    /// plays an event scheduled by a real-clock client at once).
    pub scheduled_at: DateTime<Utc>,
    pub text_body: Option<String>,
    pub mission_id: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub fate: Fate,
    /// Attempt number for this assistant and number (1 = first).
    pub attempt: u32,
    pub conversation_id: String,
}

/// What an event looks like at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView {
    pub status: &'static str,
    pub call_status: Option<&'static str>,
    pub finished: bool,
}

impl ScheduledEvent {
    /// When the event reaches its terminal state.
    pub fn ends_at(&self) -> DateTime<Utc> {
        let secs = match self.channel {
            Channel::Call => self.fate.call_length(),
            Channel::Sms => SMS_SECONDS,
        };
        self.scheduled_at + Duration::seconds(secs)
    }

    /// The terminal state was a success (`completed`).
    pub fn succeeded(&self) -> bool {
        self.fate.connected()
    }

    pub fn view(&self, now: DateTime<Utc>) -> EventView {
        if now < self.scheduled_at {
            return EventView { status: "pending", call_status: None, finished: false };
        }
        if now < self.ends_at() {
            let call_status = match self.channel {
                Channel::Sms => None,
                Channel::Call
                    if now < self.scheduled_at + Duration::seconds(RING_SECONDS) || !self.fate.connected() =>
                {
                    Some("ringing")
                }
                Channel::Call => Some("in-progress"),
            };
            return EventView { status: "in_progress", call_status, finished: false };
        }
        let status = if self.succeeded() { "completed" } else { "failed" };
        let call_status = match self.channel {
            Channel::Call => Some(self.fate.final_call_status()),
            Channel::Sms => None,
        };
        EventView { status, call_status, finished: true }
    }

    /// The event as the service shows it at `now`.
    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        let v = self.view(now);
        let conversation =
            (v.finished && self.channel == Channel::Call && self.succeeded()).then(|| self.conversation_id.clone());
        let mut o = json!({
            "id": self.id,
            "assistant_id": self.assistant_id,
            "channel": self.channel.as_str(),
            "to": self.to,
            "from": self.from,
            "scheduled_at": rfc3339(self.scheduled_at),
            "status": v.status,
            "call_status": v.call_status,
            "retry_count": 0,
            "conversation_id": conversation,
            "mission_id": self.mission_id,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "created_at": rfc3339(self.created_at),
        });
        if let Some(t) = &self.text_body {
            o["text_body"] = json!(t);
        }
        if v.finished && self.channel == Channel::Call && self.fate == Fate::Voicemail {
            o["outcome"] = json!("voicemail");
        }
        o
    }

    /// The insights of this event's conversation at `now`, or None while the
    /// call has not ended (the conversation does not exist yet).
    pub fn insights(&self, now: DateTime<Utc>, instructions: &str) -> Option<Value> {
        if self.channel != Channel::Call || !self.succeeded() || now < self.ends_at() {
            return None;
        }
        let ready = now >= self.ends_at() + Duration::seconds(INSIGHTS_SECONDS);
        let result = if self.fate == Fate::Voicemail {
            format!("Reached the voicemail of {} and left a message. Instructions followed: {instructions}", self.to)
        } else {
            format!("Spoke with {} for {CALL_SECONDS} seconds. Instructions followed: {instructions}", self.to)
        };
        let insights = if ready { json!([{"insight_id": "summary", "result": result}]) } else { json!([]) };
        Some(json!({"data": [{
            "id": format!("ins_{}", self.conversation_id),
            "conversation_id": self.conversation_id,
            "status": if ready { "completed" } else { "in_progress" },
            "conversation_insights": insights,
            "created_at": rfc3339(self.ends_at()),
        }]}))
    }
}

/// A direct call (`POST /v1/calls`).
#[derive(Debug, Clone)]
pub struct DirectCall {
    pub id: String,
    pub to: String,
    pub from: String,
    pub greeting: Option<String>,
    pub purpose: Option<String>,
    pub created_at: DateTime<Utc>,
    pub fate: Fate,
    /// Ended early through `POST /v1/calls/{id}/end`: when and why.
    pub ended: Option<(DateTime<Utc>, String)>,
}

impl DirectCall {
    const INITIATING_SECONDS: i64 = 1;

    pub fn natural_end(&self) -> DateTime<Utc> {
        self.created_at + Duration::seconds(self.fate.call_length())
    }

    pub fn end_time(&self) -> DateTime<Utc> {
        match &self.ended {
            Some((t, _)) => (*t).min(self.natural_end()),
            None => self.natural_end(),
        }
    }

    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if now >= self.end_time() {
            return match &self.ended {
                Some((t, _)) if *t < self.natural_end() => {
                    if *t < self.created_at + Duration::seconds(RING_SECONDS) {
                        "canceled"
                    } else {
                        "completed"
                    }
                }
                _ => self.fate.final_call_status(),
            };
        }
        let elapsed = now - self.created_at;
        if elapsed < Duration::seconds(Self::INITIATING_SECONDS) {
            "initiating"
        } else if elapsed < Duration::seconds(RING_SECONDS) || !self.fate.connected() {
            "ringing"
        } else {
            "in-progress"
        }
    }

    pub fn reason(&self) -> &str {
        match &self.ended {
            Some((t, r)) if *t < self.natural_end() => r,
            _ => match self.fate {
                Fate::Answered => "hangup",
                Fate::Voicemail => "voicemail",
                Fate::Busy => "busy",
                Fate::NoAnswer => "no_answer",
                Fate::Failed => "failed",
            },
        }
    }

    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        let mut o = json!({
            "call_id": self.id,
            "id": self.id,
            "status": self.status(now),
            "direction": "outbound",
            "to": self.to,
            "from": self.from,
            "greeting": self.greeting,
            "purpose": self.purpose,
            "created_at": rfc3339(self.created_at),
        });
        if now >= self.end_time() {
            o["ended_at"] = json!(rfc3339(self.end_time()));
            o["duration_seconds"] = json!(self.duration_seconds());
            o["reason"] = json!(self.reason());
            if let Some(out) = self.outcome() {
                o["outcome"] = json!(out);
            }
        }
        o
    }

    pub fn duration_seconds(&self) -> i64 {
        let talk_start = self.created_at + Duration::seconds(RING_SECONDS);
        if self.fate.connected() && self.end_time() > talk_start {
            (self.end_time() - talk_start).num_seconds()
        } else {
            0
        }
    }

    pub fn outcome(&self) -> Option<&'static str> {
        match self.fate {
            Fate::Voicemail => Some("voicemail"),
            Fate::NoAnswer => Some("no_answer"),
            _ => None,
        }
    }
}

/// An SMS sent through `POST /v1/messages/send` or injected as inbound.
#[derive(Debug, Clone)]
pub struct Sms {
    pub id: String,
    pub direction: &'static str,
    pub from: String,
    pub to: String,
    pub body: String,
    pub media_urls: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub status: &'static str,
}

impl Sms {
    /// The other party of the conversation.
    pub fn contact(&self) -> &str {
        if self.direction == "inbound" {
            &self.from
        } else {
            &self.to
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "direction": self.direction,
            "from": self.from,
            "to": self.to,
            "body": self.body,
            "media_urls": self.media_urls,
            "status": self.status,
            "created_at": rfc3339(self.created_at),
        })
    }
}

/// An approval request (`POST /v1/approvals`).
#[derive(Debug, Clone)]
pub struct Approval {
    pub id: String,
    pub action: String,
    pub details: Option<Value>,
    pub require_biometric: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decision: Option<String>,
    pub devices_notified: u32,
    pub devices_failed: u32,
}

impl Approval {
    pub fn status(&self, now: DateTime<Utc>) -> String {
        match &self.decision {
            Some(d) => d.clone(),
            None if now >= self.expires_at => "expired".into(),
            None => "pending".into(),
        }
    }

    /// The decision the action text asks for (`[approve]` / `[deny]`), if any.
    pub fn auto_decision(&self) -> Option<&'static str> {
        let a = self.action.to_ascii_lowercase();
        if a.contains("[deny]") {
            Some("denied")
        } else if a.contains("[approve]") {
            Some("approved")
        } else {
            None
        }
    }

    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        json!({
            "request_id": self.id,
            "id": self.id,
            "status": self.status(now),
            "action": self.action,
            "details": self.details,
            "require_biometric": self.require_biometric,
            "devices_notified": self.devices_notified,
            "devices_failed": self.devices_failed,
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.expires_at),
        })
    }
}

/// A run with its plan, event log and linked agents.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub obj: Map<String, Value>,
    pub plan: Vec<Map<String, Value>>,
    pub events: Vec<Value>,
    pub agents: Vec<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Mission {
    pub obj: Map<String, Value>,
    pub runs: BTreeMap<String, Run>,
}

#[derive(Debug, Clone, Default)]
pub struct Assistant {
    pub obj: Map<String, Value>,
    pub events: BTreeMap<String, ScheduledEvent>,
}

/// Something that must happen at a sandbox time (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    EventEnd { assistant_id: String, event_id: String },
    CallEnd { call_id: String },
    ApprovalDecision { id: String },
}

/// Everything the sandbox knows. Ids carry a tag of this sandbox (so that
/// a state file used against several sandbox runs never sees one id twice)
/// and a zero-padded counter (so that the BTreeMaps list things in creation
/// order).
#[derive(Debug)]
pub struct Data {
    /// Six hex digits, random per sandbox.
    instance: String,
    next_id: u64,
    pub missions: BTreeMap<String, Mission>,
    pub assistants: BTreeMap<String, Assistant>,
    /// conversation id → (assistant id, event id)
    pub conversations: HashMap<String, (String, String)>,
    /// (assistant id, number) → call attempts scheduled so far
    pub attempts: HashMap<(String, String), u32>,
    /// number → direct calls (`POST /v1/calls`) placed so far
    pub direct_attempts: HashMap<String, u32>,
    pub phones: Vec<Map<String, Value>>,
    pub calls: BTreeMap<String, DirectCall>,
    pub messages: Vec<Sms>,
    pub approvals: BTreeMap<String, Approval>,
    /// Device counts for new approvals (scriptable through the control API).
    pub devices: (u32, u32),
    pub due: BinaryHeap<Reverse<(i64, Due)>>,
}

impl Default for Data {
    fn default() -> Self {
        let phone = |id: &str, n: &str, conn: Option<&str>| {
            let mut m = Map::new();
            m.insert("id".into(), json!(id));
            m.insert("phone_number".into(), json!(n));
            if let Some(c) = conn {
                m.insert("connection_id".into(), json!(c));
            }
            m
        };
        Data {
            instance: format!("{:06x}", rand::random::<u32>() & 0xff_ffff),
            next_id: 0,
            missions: BTreeMap::new(),
            assistants: BTreeMap::new(),
            conversations: HashMap::new(),
            attempts: HashMap::new(),
            direct_attempts: HashMap::new(),
            phones: vec![
                phone("phone_00000001", "+15550100001", Some("conn_owner")),
                phone("phone_00000002", "+15550100002", None),
                phone("phone_00000003", "+15550100003", None),
            ],
            calls: BTreeMap::new(),
            messages: Vec::new(),
            approvals: BTreeMap::new(),
            devices: (1, 0),
            due: BinaryHeap::new(),
        }
    }
}

impl Data {
    /// A new id `prefix_TAG_NNNNNNNN` (TAG: this sandbox's).
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{}_{:08}", self.instance, self.next_id)
    }

    pub fn schedule(&mut self, at: DateTime<Utc>, due: Due) {
        self.due.push(Reverse((at.timestamp_millis(), due)));
    }

    /// Sandbox time (ms) of the next due item, `i64::MAX` when none.
    pub fn next_due(&self) -> i64 {
        self.due.peek().map(|Reverse((t, _))| *t).unwrap_or(i64::MAX)
    }

    /// Take every item due at or before `now`.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let now = now.timestamp_millis();
        let mut out = Vec::new();
        while let Some(Reverse((t, _))) = self.due.peek() {
            if *t > now {
                break;
            }
            if let Some(Reverse((_, d))) = self.due.pop() {
                out.push(d);
            }
        }
        out
    }

    pub fn run_mut(&mut self, mission_id: &str, run_id: &str) -> Option<&mut Run> {
        self.missions.get_mut(mission_id)?.runs.get_mut(run_id)
    }

    pub fn event(&self, assistant_id: &str, event_id: &str) -> Option<&ScheduledEvent> {
        self.assistants.get(assistant_id)?.events.get(event_id)
    }

    /// Count one more call attempt to `to` by `assistant_id`; returns its number.
    pub fn next_attempt(&mut self, assistant_id: &str, to: &str) -> u32 {
        let n = self.attempts.entry((assistant_id.to_string(), to.to_string())).or_insert(0);
        *n += 1;
        *n
    }

    /// Count one more direct call to `to`; returns its number.
    pub fn next_direct_attempt(&mut self, to: &str) -> u32 {
        let n = self.direct_attempts.entry(to.to_string()).or_insert(0);
        *n += 1;
        *n
    }
}

/// RFC 3339 UTC with a `Z`, second precision (what the service shows).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2030-01-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn call(to: &str, attempt: u32) -> ScheduledEvent {
        ScheduledEvent {
            id: "ev_1".into(),
            assistant_id: "a".into(),
            channel: Channel::Call,
            to: to.into(),
            from: "+15550100002".into(),
            scheduled_at: t0(),
            text_body: None,
            mission_id: None,
            run_id: None,
            step_id: None,
            created_at: t0() - Duration::minutes(5),
            fate: Fate::of_call(to, attempt),
            attempt,
            conversation_id: "conv_1".into(),
        }
    }

    fn at(s: i64) -> DateTime<Utc> {
        t0() + Duration::seconds(s)
    }

    #[test]
    fn answered_call_goes_pending_ringing_in_progress_completed() {
        let e = call("+15005550006", 1);
        let seq: Vec<_> = [-1, 0, RING_SECONDS, CALL_SECONDS]
            .iter()
            .map(|s| {
                let v = e.view(at(*s));
                (v.status, v.call_status)
            })
            .collect();
        assert_eq!(
            seq,
            vec![
                ("pending", None),
                ("in_progress", Some("ringing")),
                ("in_progress", Some("in-progress")),
                ("completed", Some("completed"))
            ]
        );
        assert_eq!(e.to_json(at(CALL_SECONDS - 1))["conversation_id"], Value::Null);
        assert_eq!(e.to_json(at(CALL_SECONDS))["conversation_id"], "conv_1");
    }

    #[test]
    fn magic_numbers_decide_terminal_call_status() {
        let end = |to: &str, attempt| {
            let e = call(to, attempt);
            let v = e.view(at(100));
            (v.status, v.call_status.unwrap_or("-"))
        };
        assert_eq!(end("+15005550006", 1), ("completed", "completed"));
        assert_eq!(end("+15005550001", 3), ("failed", "busy"));
        assert_eq!(end("+15005550002", 2), ("failed", "no-answer"));
        assert_eq!(end("+15005550003", 1), ("failed", "failed"));
        assert_eq!(end("+15005550004", 1), ("completed", "completed"));
        assert_eq!(end("+15005550005", 1), ("failed", "busy"));
        assert_eq!(end("+15005550005", 2), ("completed", "completed"));
        assert_eq!(end("+447700900123", 1), ("completed", "completed"));
        assert_eq!(call("+15005550004", 1).to_json(at(100))["outcome"], "voicemail");
    }

    #[test]
    fn sms_magic_numbers() {
        assert_eq!(Fate::of_sms("+15005550001"), Fate::Failed);
        assert_eq!(Fate::of_sms("+15005550003"), Fate::Failed);
        for n in ["+15005550006", "+15005550002", "+15005550004", "+15005550005", "+15551234567"] {
            assert_eq!(Fate::of_sms(n), Fate::Answered, "{n}");
        }
    }

    #[test]
    fn insights_wait_then_name_number_and_instructions() {
        let e = call("+15005550006", 1);
        assert!(e.insights(at(CALL_SECONDS - 1), "ask about prices").is_none());
        let early = e.insights(at(CALL_SECONDS), "ask about prices").unwrap();
        assert_eq!(early["data"][0]["status"], "in_progress");
        let done = e.insights(at(CALL_SECONDS + INSIGHTS_SECONDS), "ask about prices").unwrap();
        assert_eq!(done["data"][0]["status"], "completed");
        let r = done["data"][0]["conversation_insights"][0]["result"].as_str().unwrap();
        assert!(r.contains("+15005550006") && r.contains("ask about prices"), "{r}");
        assert!(call("+15005550001", 1).insights(at(500), "x").is_none());
    }

    #[test]
    fn ids_are_in_creation_order_and_differ_between_sandboxes() {
        let mut d = Data::default();
        let ids: Vec<String> = (0..12).map(|_| d.new_id("mission")).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let others: Vec<String> = (0..4).map(|_| Data::default().new_id("mission")).collect();
        assert!(others.iter().any(|o| *o != ids[0]), "{others:?}");
    }

    #[test]
    fn due_queue_returns_items_in_time_order() {
        let mut d = Data::default();
        d.schedule(at(10), Due::CallEnd { call_id: "b".into() });
        d.schedule(at(5), Due::CallEnd { call_id: "a".into() });
        assert_eq!(d.next_due(), at(5).timestamp_millis());
        assert_eq!(d.take_due(at(7)), vec![Due::CallEnd { call_id: "a".into() }]);
        assert_eq!(d.take_due(at(20)).len(), 1);
        assert_eq!(d.next_due(), i64::MAX);
    }

    #[test]
    fn direct_call_ended_early_is_completed_with_reason() {
        let mut c = DirectCall {
            id: "c".into(),
            to: "+15005550006".into(),
            from: OWNER_NUMBER.into(),
            greeting: None,
            purpose: None,
            created_at: t0(),
            fate: Fate::Answered,
            ended: None,
        };
        assert_eq!(c.status(at(0)), "initiating");
        assert_eq!(c.status(at(2)), "ringing");
        assert_eq!(c.status(at(10)), "in-progress");
        c.ended = Some((at(20), "user_ended".into()));
        assert_eq!(c.status(at(21)), "completed");
        assert_eq!(c.reason(), "user_ended");
        assert_eq!(c.duration_seconds(), 20 - RING_SECONDS);
    }
}
