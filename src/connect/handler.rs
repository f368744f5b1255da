//! What the client does with each event. Quick events (greetings, approval
//! answers) are handled inline; anything that waits on the agent or on an
//! approval runs in its own task, so requests never wait for each other and
//! the socket keeps reading. Every answer goes through one channel to the
//! session's single writer.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::approval::{
    self, Approver, Cleared, Confirmation, Decision, NoDevices, Screened, Verdict, VoiceConfirmations,
};
use super::gateway::Gateway;
use super::protocol::{CallContext, CallEnded, ClientMessage, Event};
use super::speech::{self, MAX_SMS, MAX_SPOKEN};
use super::Settings;
use crate::api::{messages, Client};
use crate::config::mask_phone;
use crate::error::Result;

/// Shared by every request task.
pub struct Handler {
    settings: Settings,
    gateway: Gateway,
    api: Client,
    approver: Approver,
    confirmations: VoiceConfirmations,
    greeted: Mutex<Greeted>,
    out: UnboundedSender<ClientMessage>,
}

/// Calls already greeted, so `context_request` and `call.started` greet a
/// call once between them. Forgotten on `call.ended`; bounded (the oldest
/// go first) in case a server never sends it.
#[derive(Default)]
struct Greeted {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Greeted {
    const MAX: usize = 4096;

    /// `true` the first time a call is seen.
    fn first(&mut self, call_id: &str) -> bool {
        if self.set.contains(call_id) {
            return false;
        }
        if self.order.len() >= Self::MAX {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.set.insert(call_id.to_string());
        self.order.push_back(call_id.to_string());
        true
    }

    fn forget(&mut self, call_id: &str) {
        if self.set.remove(call_id) {
            self.order.retain(|c| c != call_id);
        }
    }
}

/// Where a request came from: decides how progress and refusals are delivered.
#[derive(Debug, Clone)]
enum Origin {
    Call { call_id: Option<String>, request_id: String },
    Walkie { session_key: String },
    Sms,
}

impl Origin {
    fn channel(&self) -> &'static str {
        match self {
            Origin::Call { .. } => "call",
            Origin::Walkie { .. } => "walkie",
            Origin::Sms => "sms",
        }
    }
    /// The conversation a spoken confirmation must come from.
    fn confirmation_key(&self) -> Option<String> {
        match self {
            Origin::Call { call_id: Some(c), .. } => Some(format!("call:{c}")),
            Origin::Walkie { session_key } => Some(format!("walkie:{session_key}")),
            _ => None,
        }
    }
}

/// How a routed request ended.
#[derive(Debug)]
enum Routed {
    /// The agent's reply (raw).
    Reply(String),
    /// Not done; the text says why (for the caller).
    Refused(String),
    /// The agent could not be reached.
    Failed(String),
}

impl Handler {
    pub fn new(settings: Settings, out: UnboundedSender<ClientMessage>) -> Result<Handler> {
        let api = Client::new(settings.api.clone())?;
        Ok(Handler {
            gateway: Gateway::new(&settings.gateway_url, settings.gateway_token.clone(), &settings.agent_id)?,
            approver: Approver::new(api.clone(), settings.approvals.clone()),
            api,
            confirmations: VoiceConfirmations::default(),
            greeted: Mutex::default(),
            out,
            settings,
        })
    }

    fn send(&self, m: ClientMessage) {
        tracing::debug!(kind = m.kind(), "queueing answer");
        // Fails only when the client is shutting down.
        let _ = self.out.send(m);
    }

    /// Handle one event; returns at once (slow work is spawned).
    pub fn dispatch(self: &Arc<Self>, event: Event) {
        tracing::info!(event = event.name(), "event received");
        match event {
            Event::ApprovalResponded { request_id, decision } => {
                tracing::info!(approval = %request_id, decision = %decision, "approval answered");
                self.approver.responded(&request_id, &decision);
            }
            Event::ContextRequest { call_id } => {
                self.send(ClientMessage::ContextResponse {
                    call_id: call_id.clone(),
                    context: CallContext {
                        memory: self.settings.memory.clone(),
                        system_prompt: self.settings.system_prompt.clone(),
                    },
                });
                self.greet_once(call_id);
            }
            Event::CallStarted { call_id, direction } => {
                if direction.as_deref() == Some("inbound") {
                    self.greet_once(call_id);
                }
            }
            Event::DeepToolRequest { call_id, request_id, query, context } => {
                let h = Arc::clone(self);
                tokio::spawn(async move { h.deep_tool(call_id, request_id, query, context).await });
            }
            Event::WalkieRequest { request_id, transcript, session_key } => {
                let h = Arc::clone(self);
                tokio::spawn(async move { h.walkie(request_id, transcript, session_key).await });
            }
            Event::SmsReceived { from, body, message_id } => {
                let h = Arc::clone(self);
                tokio::spawn(async move { h.sms(from, body, message_id).await });
            }
            Event::CallEnded(e) => {
                if let Some(c) = &e.call_id {
                    self.greeted.lock().unwrap_or_else(|p| p.into_inner()).forget(c);
                    self.confirmations.forget(&format!("call:{c}"));
                }
                let h = Arc::clone(self);
                tokio::spawn(async move { h.report_call(e).await });
            }
            Event::Malformed { name, request_id, reason } => {
                tracing::warn!(event = %name, request = %request_id, "malformed request ({reason}): answering with an apology");
                self.send(unreadable(&name, request_id));
            }
            Event::Unknown { name } => tracing::debug!(event = %name, "ignoring an unknown event"),
        }
    }

    /// Speak the greeting, unless this call already heard it.
    fn greet_once(&self, call_id: String) {
        if !self.greeted.lock().unwrap_or_else(|p| p.into_inner()).first(&call_id) {
            tracing::debug!(call = %call_id, "already greeted");
            return;
        }
        self.send(ClientMessage::Response { call_id, text: speech::for_speech(&self.settings.greeting, MAX_SPOKEN) });
    }

    async fn deep_tool(&self, call_id: Option<String>, request_id: String, query: String, context: Option<Value>) {
        if query.trim().is_empty() {
            tracing::warn!(request = %request_id, "deep_tool_request with an empty query: answering with an apology");
            return self.send(unreadable("deep_tool_request", request_id));
        }
        let mut message = query.clone();
        match &context {
            Some(Value::String(s)) if !s.trim().is_empty() => message.push_str(&format!("\n\nCall context: {s}")),
            Some(v @ Value::Object(m)) if !m.is_empty() => message.push_str(&format!("\n\nCall context: {v}")),
            _ => {}
        }
        let origin = Origin::Call { call_id, request_id: request_id.clone() };
        let session = self.gateway.main_session();
        let text = match self.route(&origin, &query, message, &session, self.settings.timings.call_timeout).await {
            Routed::Reply(t) | Routed::Refused(t) | Routed::Failed(t) => t,
        };
        // Exactly one result per request: this is the only place it is sent.
        self.send(ClientMessage::DeepToolResult { request_id, text: speech::for_speech(&text, MAX_SPOKEN) });
    }

    async fn walkie(&self, request_id: String, transcript: String, session_key: Option<String>) {
        if transcript.trim().is_empty() {
            tracing::warn!(request = %request_id, "walkie_request with an empty transcript: answering with an error");
            return self.send(unreadable("walkie_request", request_id));
        }
        let session = session_key.filter(|s| !s.is_empty()).unwrap_or_else(|| self.gateway.main_session());
        let origin = Origin::Walkie { session_key: session.clone() };
        let m = match self
            .route(&origin, &transcript, transcript.clone(), &session, self.settings.timings.call_timeout)
            .await
        {
            Routed::Reply(t) | Routed::Refused(t) => ClientMessage::WalkieResponse {
                request_id,
                reply: Some(speech::for_speech(&t, MAX_SPOKEN)),
                error: None,
            },
            Routed::Failed(t) => ClientMessage::WalkieResponse { request_id, reply: None, error: Some(t) },
        };
        self.send(m);
    }

    async fn sms(&self, from: String, body: String, message_id: Option<String>) {
        tracing::info!(from = %mask_phone(&from), message = message_id.as_deref().unwrap_or("-"), "SMS received");
        let message = format!("[SMS from {from}] {body}");
        let session = self.gateway.main_session();
        let reply = match self.route(&Origin::Sms, &body, message, &session, self.settings.timings.sms_timeout).await {
            Routed::Reply(t) | Routed::Refused(t) => speech::for_sms(&t, MAX_SMS),
            Routed::Failed(_) => return, // nothing useful to tell the sender; logged in route
        };
        match messages::send(&self.api, &from, &reply, &[]).await {
            Ok(_) => tracing::info!(to = %mask_phone(&from), "SMS reply sent"),
            Err(e) => tracing::warn!(to = %mask_phone(&from), "SMS reply failed: {e}"),
        }
    }

    async fn report_call(&self, e: CallEnded) {
        let line = call_summary(&e);
        tracing::info!(call = e.call_id.as_deref().unwrap_or("-"), "reporting the call's end to the agent");
        let session = self.gateway.main_session();
        if let Err(err) = self.gateway.ask(Cleared::report(line), &session, self.settings.timings.call_timeout).await {
            tracing::warn!("could not report the call's end to the agent: {err}");
        }
    }

    /// Screen a request, get approval when it is sensitive, and ask the agent
    /// only with a [`Cleared`] message.
    async fn route(&self, origin: &Origin, request: &str, message: String, session: &str, timeout: Duration) -> Routed {
        if let Some(key) = origin.confirmation_key() {
            match self.confirmations.answer(&key, request) {
                Some(Confirmation::Confirmed(cleared)) => {
                    tracing::info!(channel = origin.channel(), "request confirmed by voice");
                    return self.ask(cleared, session, timeout).await;
                }
                Some(Confirmation::Declined) => {
                    tracing::info!(channel = origin.channel(), "request declined by voice: nothing done");
                    return Routed::Refused("OK, I won't do that.".to_string());
                }
                Some(Confirmation::Other) => {
                    // fail closed: the held request is gone; this one is screened on its own
                    tracing::info!(channel = origin.channel(), "no confirmation: held request dropped");
                }
                None => {}
            }
        }
        let sensitive = match approval::screen(&self.settings.approvals.patterns, request, message) {
            Screened::Clear(cleared) => return self.ask(cleared, session, timeout).await,
            Screened::Sensitive(s) => s,
        };
        tracing::info!(channel = origin.channel(), pattern = %sensitive.matched, "sensitive request: asking for approval");
        let owner = self.settings.owner_name.as_deref().unwrap_or("the owner");
        if let Origin::Call { request_id, .. } = origin {
            self.send(ClientMessage::DeepToolProgress {
                request_id: request_id.clone(),
                text: format!("That needs {owner}'s approval. I've sent a request to their phone; one moment please."),
            });
        }
        let id = match origin {
            Origin::Call { call_id, .. } => call_id.clone(),
            Origin::Walkie { session_key } => Some(session_key.clone()),
            Origin::Sms => None,
        };
        let details = approval::details(origin.channel(), id.as_deref(), &sensitive);
        match self.approver.decide(sensitive, details).await {
            Verdict::Approved(cleared) => {
                tracing::info!(channel = origin.channel(), "approved: passing the request to the agent");
                self.ask(cleared, session, timeout).await
            }
            Verdict::Refused { decision, request } => {
                tracing::info!(channel = origin.channel(), decision = decision.word(), "not approved: nothing done");
                if let Decision::Error(e) = &decision {
                    tracing::warn!("approval failed (treated as a refusal): {e}");
                }
                let key = origin.confirmation_key();
                match (&decision, self.settings.approvals.no_devices, key) {
                    (Decision::NoDevices, NoDevices::ConfirmByVoice, Some(key)) => {
                        let text = format!(
                            "I couldn't reach any approval device. If you want me to go ahead with \"{}\", say yes \
                             to confirm.",
                            request.action()
                        );
                        self.confirmations.hold(&key, request);
                        Routed::Refused(text)
                    }
                    _ => Routed::Refused(refusal_text(&decision, owner)),
                }
            }
        }
    }

    async fn ask(&self, cleared: Cleared, session: &str, timeout: Duration) -> Routed {
        match self.gateway.ask(cleared, session, timeout).await {
            Ok(reply) => Routed::Reply(reply),
            Err(e) => {
                tracing::warn!("the agent did not answer: {e}");
                Routed::Failed("Sorry, I couldn't reach the agent right now. Please try again in a moment.".into())
            }
        }
    }
}

/// What the caller hears when a request could not be read.
pub const UNREADABLE: &str = "Sorry, I couldn't understand that request. Could you say it again?";

/// The one answer to a request that could not be read (nothing reaches the agent).
fn unreadable(event: &str, request_id: String) -> ClientMessage {
    if event == "walkie_request" {
        ClientMessage::WalkieResponse { request_id, reply: None, error: Some(UNREADABLE.to_string()) }
    } else {
        ClientMessage::DeepToolResult { request_id, text: UNREADABLE.to_string() }
    }
}

/// What the caller hears when a sensitive request was not approved.
fn refusal_text(d: &Decision, owner: &str) -> String {
    match d {
        Decision::Denied => format!("{owner} declined that request, so I didn't do it."),
        Decision::Timeout => "I didn't get an approval in time, so I didn't do it.".to_string(),
        Decision::Expired => "The approval request expired, so I didn't do it.".to_string(),
        Decision::NoDevices => format!("{owner} has no approval device set up, so I can't do that."),
        Decision::NoDevicesReached => format!("I couldn't reach {owner}'s devices for approval, so I didn't do it."),
        Decision::Approved | Decision::Error(_) => "I couldn't get approval for that, so I didn't do it.".to_string(),
    }
}

/// The one-line report of a finished call, prefixed `[ClawdTalk] `.
pub fn call_summary(e: &CallEnded) -> String {
    let inbound = e.direction.as_deref() == Some("inbound");
    let number = if inbound { e.from_number.as_deref() } else { e.to_number.as_deref() }
        .or(e.to_number.as_deref())
        .unwrap_or("the callee");
    let purpose = e
        .purpose
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!(" (purpose: {})", p.trim()))
        .unwrap_or_default();
    let body = match e.outcome.as_deref() {
        Some("voicemail") => match e.voicemail_message.as_deref().filter(|m| !m.trim().is_empty()) {
            Some(m) => format!("Left a voicemail for {number}{purpose}: \"{}\"", m.trim()),
            None => format!("Left a voicemail for {number}{purpose}."),
        },
        Some("voicemail_failed") => {
            format!("Call to {number}{purpose} reached voicemail, but leaving the message failed.")
        }
        Some("no_answer") => format!("Call to {number}{purpose} was not answered."),
        Some("fax") => format!("Call to {number}{purpose} reached a fax machine; nothing was said."),
        _ => {
            let who = if inbound { format!("Call from {number}") } else { format!("Call to {number}") };
            let duration = e.duration_seconds.map(|d| format!(" after {}", human_duration(d))).unwrap_or_default();
            let reason = e
                .reason
                .as_deref()
                .filter(|r| !r.is_empty() && !["completed", "normal", "hangup", "normal_clearing"].contains(r))
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            format!("{who}{purpose} completed{duration}{reason}.")
        }
    };
    format!("[ClawdTalk] {body}")
}

fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match (s / 60, s % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeted_calls_are_remembered_once_forgotten_on_request_and_bounded() {
        let mut g = Greeted::default();
        assert!(g.first("c1"));
        assert!(!g.first("c1"));
        g.forget("c1");
        assert!(g.first("c1"), "a forgotten call is new again");
        for i in 0..Greeted::MAX {
            g.first(&format!("x{i}"));
        }
        assert_eq!(g.set.len(), Greeted::MAX);
        assert_eq!(g.order.len(), Greeted::MAX);
        assert!(g.first("c1"), "the oldest call was dropped to stay within the bound");
        assert!(!g.first(&format!("x{}", Greeted::MAX - 1)), "recent calls are kept");
    }

    fn ended(outcome: Option<&str>) -> CallEnded {
        CallEnded {
            call_id: Some("c1".into()),
            direction: Some("outbound".into()),
            duration_seconds: Some(125.0),
            to_number: Some("+15551234567".into()),
            outcome: outcome.map(str::to_string),
            voicemail_message: Some("Call me back".into()),
            ..Default::default()
        }
    }

    #[test]
    fn call_summaries_say_what_happened_in_one_line() {
        assert_eq!(call_summary(&ended(None)), "[ClawdTalk] Call to +15551234567 completed after 2 min 5 s.");
        assert_eq!(
            call_summary(&ended(Some("voicemail"))),
            "[ClawdTalk] Left a voicemail for +15551234567: \"Call me back\""
        );
        assert_eq!(call_summary(&ended(Some("no_answer"))), "[ClawdTalk] Call to +15551234567 was not answered.");
        assert!(call_summary(&ended(Some("fax"))).contains("fax machine"));
        assert!(call_summary(&ended(Some("voicemail_failed"))).contains("leaving the message failed"));
        let mut e = ended(None);
        e.purpose = Some("book a table".into());
        e.duration_seconds = Some(42.0);
        assert_eq!(call_summary(&e), "[ClawdTalk] Call to +15551234567 (purpose: book a table) completed after 42 s.");
    }
}
