//! What the client does with each event. Quick events (greetings, approval
//! answers) are handled inline. A request (deep tool, push-to-talk, SMS, a
//! call's end report) first takes a place in the bounded queue
//! ([`limits::Load`]), is screened ([`approval::screen`]) and, when it is a
//! stranger's sensitive request, passes the approval throttle — all before
//! anything slow starts, so a flood is refused at the cost of a counter.
//! Admitted requests run in their own task (the socket keeps reading) and
//! reach the gateway through at most `max_concurrent` slots. Every answer
//! goes through one channel to the session's single writer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::approval::{
    self, Approver, Cleared, Confirmation, Decision, NoDevices, Screened, Sensitive, Verdict, VoiceConfirmations,
};
use super::call_memory::CallMemory;
use super::gateway::Gateway;
use super::late::{self, LateCalls, Marker};
use super::limits::{Admission, Counts, Load, StrangerThrottle, ThrottleTicket, Throttled};
use super::protocol::{CallContext, CallEnded, ClientMessage, Event};
use super::reply::{self, Answer};
use super::report::{call_started, call_summary};
use super::speech::{self, MAX_SMS, MAX_SPOKEN};
use super::stop::{self, Keyword, StopDesk};
use super::Settings;
use crate::api::{messages, Client};
use crate::clock::{Clock as _, SystemClock};
use crate::config::mask_phone;
use crate::error::Result;
use crate::journal::{Entry, Kind};

/// What a caller or texter hears when the queue is full.
pub const BUSY: &str = "I'm busy right now, please try again in a moment.";
/// What a stranger hears when their sensitive request is throttled (no push is sent).
pub const THROTTLED: &str = "I can't pass that request on to the owner right now. Please try again later.";
/// The throttle key of callers whose number no call event named.
pub const UNIDENTIFIED_CALLER: &str = "unidentified caller";

/// Shared by every request task.
pub struct Handler {
    settings: Settings,
    gateway: Gateway,
    api: Client,
    approver: Approver,
    confirmations: VoiceConfirmations,
    greeted: Mutex<CallMemory<()>>,
    /// Who is on each call, from `call.started` (the owner or a stranger's number).
    parties: Mutex<CallMemory<Party>>,
    throttle: StrangerThrottle,
    load: Arc<Load>,
    /// Calls' ends and the late answers their reports wait for.
    late_calls: LateCalls,
    out: UnboundedSender<ClientMessage>,
    /// STOP and START by SMS (docs/optout.md#stop-by-sms).
    desk: StopDesk,
}

/// Who is asking. Only the owner is never throttled, and only the owner may
/// confirm a held request by voice (a stranger saying "yes" to their own
/// request would be no approval at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    Owner,
    /// A stranger, by the key their throttle counts under (their number).
    Stranger(String),
}

/// A number as the throttle and the owner check compare it: `+` and digits
/// only, so `+1 (555) 123-4567` and `+15551234567` are one number. Anything
/// that is not a number is kept (shortened) so it still has its own key.
fn number_key(raw: &str) -> String {
    let t = raw.trim();
    let canonical: String = t.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect();
    if canonical.len() >= 3 && t.chars().all(|c| c.is_ascii_digit() || "+ -().".contains(c)) {
        canonical
    } else {
        t.chars().take(32).collect()
    }
}

/// Where a request came from: decides how progress and refusals are delivered.
#[derive(Debug, Clone)]
enum Origin {
    Call { call_id: Option<String>, request_id: String },
    Walkie { request_id: String, session_key: String },
    Sms { from: String },
}

impl Origin {
    fn channel(&self) -> &'static str {
        match self {
            Origin::Call { .. } => "call",
            Origin::Walkie { .. } => "walkie",
            Origin::Sms { .. } => "sms",
        }
    }
    /// The conversation a spoken confirmation must come from.
    fn confirmation_key(&self) -> Option<String> {
        match self {
            Origin::Call { call_id: Some(c), .. } => Some(format!("call:{c}")),
            Origin::Walkie { session_key, .. } => Some(format!("walkie:{session_key}")),
            _ => None,
        }
    }
}

/// One request on its way to the agent.
#[derive(Debug)]
struct Request {
    origin: Origin,
    party: Party,
    session: String,
    timeout: Duration,
    /// When it arrived: the agent's answer is held (at most `timeout`) from here.
    started: tokio::time::Instant,
}

/// What an admitted request will do.
#[derive(Debug)]
enum Plan {
    /// Not sensitive (or confirmed): straight to the agent.
    Ask(Cleared),
    /// Sensitive: the owner decides first. A stranger's carries their throttle slot.
    Approve(Sensitive, Option<ThrottleTicket>),
    /// Answered without the agent.
    Answer(String),
}

/// How a routed request ended.
#[derive(Debug)]
enum Routed {
    /// The agent's answer (a reply, no reply yet, none, an error) and what
    /// finds its late reply in the transcript.
    Answered(Answer, Marker),
    /// Not done; the text says why (for the caller).
    Refused(String),
    /// The agent could not be reached.
    Failed(String),
}

impl Routed {
    /// What a caller hears now (docs/protocol.md#the-gateway): never JSON,
    /// never an unconfirmed "Done.".
    fn spoken(&self) -> String {
        match self {
            Routed::Answered(a, _) => a.spoken(),
            Routed::Refused(t) | Routed::Failed(t) => speech::for_speech(t, MAX_SPOKEN).unwrap_or_else(|| t.clone()),
        }
    }
}

impl Handler {
    pub fn new(settings: Settings, out: UnboundedSender<ClientMessage>) -> Result<Handler> {
        let api = Client::new(settings.api.clone())?;
        let desk = StopDesk::new(api.clone(), settings.optout_dir.clone(), settings.journal.clone());
        Ok(Handler {
            gateway: Gateway::new(&settings.gateway_url, settings.gateway_token.clone(), &settings.agent_id)?,
            approver: Approver::new(api.clone(), settings.approvals.clone()),
            api,
            confirmations: VoiceConfirmations::default(),
            greeted: Mutex::default(),
            parties: Mutex::default(),
            throttle: StrangerThrottle::new(Arc::clone(&settings.clock)),
            load: Arc::new(Load::new(settings.max_concurrent, settings.max_queued, Arc::clone(&settings.clock))),
            late_calls: LateCalls::default(),
            out,
            desk,
            settings,
        })
    }

    /// What has been done with the inbound messages so far.
    pub fn counts(&self) -> Counts {
        self.load.counts()
    }

    /// Append to the event journal (docs/journal.md) off the socket's
    /// task; a journal that cannot be written is only a warning.
    fn record(&self, entry: Entry) {
        if let Some(j) = self.settings.journal.clone() {
            tokio::task::spawn_blocking(move || j.append(entry));
        }
    }

    fn send(&self, m: ClientMessage) {
        tracing::debug!(kind = m.kind(), "queueing answer");
        // Fails only when the client is shutting down.
        let _ = self.out.send(m);
    }

    /// Handle one event; returns at once (slow work is spawned, within the bounds).
    pub fn dispatch(self: &Arc<Self>, event: Event) {
        tracing::debug!(event = event.name(), "event received");
        self.load.received();
        match event {
            Event::ApprovalResponded { request_id, decision } => {
                tracing::info!(approval = %request_id, decision = %decision, "approval answered");
                self.approver.responded(&request_id, &decision);
                self.record(Entry::new(Kind::Approval, "approval.decided").id(&request_id).status(&decision));
                self.load.processed_inline();
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
                self.load.processed_inline();
            }
            Event::CallStarted { call_id, direction, parties } => {
                self.record(call_started(&call_id, direction.as_deref(), parties.other_party(direction.as_deref())));
                if let Some(number) = parties.other_party(direction.as_deref()) {
                    let party = self.party_of_number(number);
                    tracing::info!(call = %call_id, owner = party == Party::Owner, "call started");
                    self.parties.lock().unwrap_or_else(|p| p.into_inner()).remember(&call_id, party);
                }
                if direction.as_deref() == Some("inbound") {
                    self.greet_once(call_id);
                }
                self.load.processed_inline();
            }
            Event::DeepToolRequest { call_id, request_id, query, context } => {
                self.deep_tool(call_id, request_id, query, context)
            }
            Event::WalkieRequest { request_id, transcript, session_key } => {
                if transcript.trim().is_empty() {
                    tracing::warn!(request = %request_id, "walkie_request with an empty transcript: answering with an error");
                    self.send(unreadable("walkie_request", request_id));
                    return self.load.processed_inline();
                }
                let session = session_key.filter(|s| !s.is_empty()).unwrap_or_else(|| self.gateway.main_session());
                // Push-to-talk comes from the owner's own signed-in app.
                let req = Request {
                    origin: Origin::Walkie { request_id, session_key: session.clone() },
                    party: Party::Owner,
                    session,
                    timeout: self.settings.timings.call_timeout,
                    started: tokio::time::Instant::now(),
                };
                self.submit(req, &transcript, transcript.clone());
            }
            Event::SmsReceived { from, body, message_id } => {
                tracing::info!(from = %mask_phone(&from), message = message_id.as_deref().unwrap_or("-"), "SMS received");
                let mut entry = Entry::new(Kind::Sms, "sms.received").from(&from).text(&body);
                if let Some(id) = &message_id {
                    entry = entry.id(id);
                }
                self.record(entry);
                // An opt-out keyword is handled before anything else and never reaches the agent.
                if let Some(k) = stop::keyword(&body) {
                    let h = Arc::clone(self);
                    tokio::spawn(async move { h.keyword(k, from, body).await });
                    return;
                }
                self.sms(from, body);
            }
            Event::CallEnded(e) => {
                let mut entry = Entry::new(Kind::Call, "call.ended").text(&call_summary(&e));
                if let Some(c) = &e.call_id {
                    entry = entry.call_id(c);
                }
                self.record(entry);
                if let Some(c) = &e.call_id {
                    self.greeted.lock().unwrap_or_else(|p| p.into_inner()).forget(c);
                    self.parties.lock().unwrap_or_else(|p| p.into_inner()).forget(c);
                    self.confirmations.forget(&format!("call:{c}"));
                }
                let Some(admission) = self.load.admit() else {
                    tracing::warn!("busy: the call's end is not reported to the agent");
                    return self.load.refused_busy();
                };
                let h = Arc::clone(self);
                tokio::spawn(async move { h.report_call(e, admission).await });
            }
            Event::Malformed { name, request_id, reason } => {
                tracing::warn!(event = %name, request = %request_id, "malformed request ({reason}): answering with an apology");
                self.send(unreadable(&name, request_id));
                self.load.processed_inline();
            }
            Event::Unknown { name } => {
                tracing::debug!(event = %name, "ignoring an unknown event");
                self.load.processed_inline();
            }
        }
    }

    /// A `deep_tool_request`: the caller's query (and any call context) goes
    /// to the agent as the caller's party; an empty query gets an apology.
    fn deep_tool(self: &Arc<Self>, call_id: Option<String>, request_id: String, query: String, context: Option<Value>) {
        if query.trim().is_empty() {
            tracing::warn!(request = %request_id, "deep_tool_request with an empty query: answering with an apology");
            self.send(unreadable("deep_tool_request", request_id));
            return self.load.processed_inline();
        }
        let mut message = query.clone();
        match &context {
            Some(Value::String(s)) if !s.trim().is_empty() => message.push_str(&format!("\n\nCall context: {s}")),
            Some(v @ Value::Object(m)) if !m.is_empty() => message.push_str(&format!("\n\nCall context: {v}")),
            _ => {}
        }
        let party = self.party_of_call(call_id.as_deref());
        let origin = Origin::Call { call_id, request_id };
        let req = Request {
            origin,
            party,
            session: self.gateway.main_session(),
            timeout: self.settings.timings.call_timeout,
            started: tokio::time::Instant::now(),
        };
        self.submit(req, &query, message);
    }

    /// The owner when `number` is `owner_phone`, a stranger otherwise (and
    /// always when no `owner_phone` is configured: fail closed).
    /// An ordinary SMS: to the agent, within the bounds.
    fn sms(self: &Arc<Self>, from: String, body: String) {
        let message = format!("[SMS from {from}] {body}");
        let req = Request {
            party: self.party_of_number(&from),
            origin: Origin::Sms { from },
            session: self.gateway.main_session(),
            timeout: self.settings.timings.sms_timeout,
            started: tokio::time::Instant::now(),
        };
        self.submit(req, &body, message);
    }

    /// STOP: on the opt-out list, confirmed once. START from a number on
    /// the list: off it, confirmed; from anyone else, an ordinary SMS.
    async fn keyword(self: Arc<Self>, k: Keyword, from: String, body: String) {
        let _turn = self.desk.turn().await;
        match k {
            Keyword::Stop => {
                self.desk.stop(&from).await;
            }
            Keyword::Start => match self.desk.start(&from).await {
                Ok(true) => {}
                Ok(false) => return self.sms(from, body),
                Err(e) => tracing::error!(from = %mask_phone(&from), "cannot take a number off the opt-out list: {e}"),
            },
        }
        self.load.processed_inline();
    }

    fn party_of_number(&self, number: &str) -> Party {
        let key = number_key(number);
        match &self.settings.owner_phone {
            Some(owner) if number_key(owner) == key => Party::Owner,
            _ => Party::Stranger(key),
        }
    }

    /// Who is on a call: as `call.started` named them, or an unidentified
    /// stranger (one shared throttle for all of them) when no event did.
    fn party_of_call(&self, call_id: Option<&str>) -> Party {
        call_id
            .and_then(|c| self.parties.lock().unwrap_or_else(|p| p.into_inner()).get(c).cloned())
            .unwrap_or_else(|| Party::Stranger(UNIDENTIFIED_CALLER.to_string()))
    }

    /// Speak the greeting, unless this call already heard it.
    fn greet_once(&self, call_id: String) {
        if !self.greeted.lock().unwrap_or_else(|p| p.into_inner()).remember(&call_id, ()) {
            tracing::debug!(call = %call_id, "already greeted");
            return;
        }
        if let Some(text) = speech::for_speech(&self.settings.greeting, MAX_SPOKEN) {
            self.send(ClientMessage::Response { call_id, text });
        }
    }

    /// Admit, screen and throttle a request at once (no waiting), then run
    /// what remains in a task that holds the request's place in the queue.
    /// `request` is the caller's own words (what is screened and what the
    /// owner is asked about); `message` is what the agent would receive.
    fn submit(self: &Arc<Self>, req: Request, request: &str, message: String) {
        let Some(admission) = self.load.admit() else {
            tracing::warn!(channel = req.origin.channel(), "busy: the queue is full, request refused");
            self.load.refused_busy();
            return self.refuse_now(&req, BUSY);
        };
        let plan = match self.plan(&req, request, message) {
            Ok(plan) => plan,
            Err(why) => {
                tracing::info!(channel = req.origin.channel(), ?why, "stranger throttled: no approval pushed");
                admission.refused_throttled();
                return self.refuse_now(&req, THROTTLED);
            }
        };
        let h = Arc::clone(self);
        tokio::spawn(async move { h.carry_out(req, plan, admission).await });
    }

    /// A held voice confirmation first, then screening, then the throttle.
    fn plan(&self, req: &Request, request: &str, message: String) -> std::result::Result<Plan, Throttled> {
        if let Some(key) = req.origin.confirmation_key() {
            match self.confirmations.answer(&key, request) {
                Some(Confirmation::Confirmed(cleared)) => {
                    tracing::info!(channel = req.origin.channel(), "request confirmed by voice");
                    return Ok(Plan::Ask(cleared));
                }
                Some(Confirmation::Declined) => {
                    tracing::info!(channel = req.origin.channel(), "request declined by voice: nothing done");
                    return Ok(Plan::Answer("OK, I won't do that.".to_string()));
                }
                Some(Confirmation::Other) => {
                    // fail closed: the held request is gone; this one is screened on its own
                    tracing::info!(channel = req.origin.channel(), "no confirmation: held request dropped");
                }
                None => {}
            }
        }
        let sensitive = match approval::screen(&self.settings.approvals.patterns, request, message) {
            Screened::Clear(cleared) => return Ok(Plan::Ask(cleared)),
            Screened::Sensitive(s) => s,
        };
        let ticket = match &req.party {
            Party::Owner => None,
            Party::Stranger(key) => Some(self.throttle.admit(key)?),
        };
        Ok(Plan::Approve(sensitive, ticket))
    }

    /// Answer a refused request without the agent: on the socket for calls
    /// and push-to-talk; by SMS at most once an hour per number (and within a
    /// total), otherwise silently.
    fn refuse_now(&self, req: &Request, text: &str) {
        match &req.origin {
            Origin::Call { request_id, .. } => {
                self.send(ClientMessage::DeepToolResult { request_id: request_id.clone(), text: text.to_string() })
            }
            Origin::Walkie { request_id, .. } => self.send(ClientMessage::WalkieResponse {
                request_id: request_id.clone(),
                reply: None,
                error: Some(text.to_string()),
            }),
            Origin::Sms { from } => {
                if self.load.busy_sms_allowed(&number_key(from)) {
                    let (api, to, text) = (self.api.clone(), from.clone(), text.to_string());
                    let optout_dir = self.settings.optout_dir.clone();
                    tokio::spawn(async move {
                        if !stop::may_text(optout_dir, &to).await {
                            return;
                        }
                        if let Err(e) = messages::send(&api, &to, &text, &[]).await {
                            tracing::warn!(to = %mask_phone(&to), "busy SMS reply failed: {e}");
                        }
                    });
                } else {
                    tracing::debug!(from = %mask_phone(from), "refused SMS dropped without a reply");
                }
            }
        }
    }

    /// The slow part of an admitted request; `admission` is released (and
    /// the request counted as processed) when it ends.
    async fn carry_out(self: Arc<Self>, req: Request, plan: Plan, admission: Admission) {
        let routed = match plan {
            Plan::Ask(cleared) => self.ask(cleared, &req.session, req.timeout).await,
            Plan::Approve(sensitive, ticket) => {
                let routed = self.approve(&req, sensitive).await;
                drop(ticket);
                routed
            }
            Plan::Answer(text) => Routed::Refused(text),
        };
        self.answer(&req, routed).await;
        drop(admission);
    }

    /// Deliver the one answer to a request. No reply yet: the late reply is
    /// looked for ([`Handler::answer_late`]).
    async fn answer(&self, req: &Request, routed: Routed) {
        let routed = match routed {
            Routed::Answered(a, marker) if a.is_not_yet() => {
                tracing::info!(channel = req.origin.channel(), shape = a.word(), "no reply yet: looking for it");
                return self.answer_late(req, marker).await;
            }
            other => other,
        };
        match &req.origin {
            // Exactly one result per request: sent here, or by answer_late.
            Origin::Call { request_id, .. } => {
                self.send(ClientMessage::DeepToolResult { request_id: request_id.clone(), text: routed.spoken() })
            }
            Origin::Walkie { request_id, .. } => {
                let failed = matches!(routed, Routed::Failed(_) | Routed::Answered(Answer::Error(_), _));
                let text = routed.spoken();
                let (reply, error) = if failed { (None, Some(text)) } else { (Some(text), None) };
                self.send(ClientMessage::WalkieResponse { request_id: request_id.clone(), reply, error });
            }
            Origin::Sms { from } => {
                let reply = match &routed {
                    Routed::Answered(a, _) => a.sms(),
                    Routed::Refused(t) => speech::for_sms(t, MAX_SMS),
                    Routed::Failed(_) => None, // nothing useful to tell the sender; logged in ask
                };
                let Some(reply) = reply else {
                    return tracing::info!(from = %mask_phone(from), "no reply to send: the sender is sent nothing");
                };
                self.text(from, &reply, "SMS reply").await;
            }
        }
    }

    /// Send an SMS through the outbound gate (never to an opted-out
    /// number, docs/optout.md); a failure is logged (the number masked).
    async fn text(&self, to: &str, body: &str, what: &str) -> bool {
        if !stop::may_text(self.settings.optout_dir.clone(), to).await {
            return false;
        }
        match messages::send(&self.api, to, body, &[]).await {
            Ok(_) => {
                tracing::info!(to = %mask_phone(to), "{what} sent");
                true
            }
            Err(e) => {
                tracing::warn!(to = %mask_phone(to), "{what} failed: {e}");
                false
            }
        }
    }

    /// No reply yet (docs/protocol.md#the-gateway): the caller hears the
    /// truth and the transcript is watched for the real answer, which goes
    /// where it can still be heard: in the request's own result while it is
    /// held (at most `timeout` from the request), then (at most another
    /// `timeout`) spoken on the live call, else texted to the owner. An SMS
    /// sender gets the late answer by SMS (looked for at most `timeout`), or
    /// nothing. Journaled as `reply.late` / `reply.missing`; a call's report
    /// waits for it.
    async fn answer_late(&self, req: &Request, marker: Marker) {
        let late_end = tokio::time::Instant::now() + req.timeout;
        let held_until = (req.started + req.timeout).min(late_end);
        let fetch = |until| late::fetch(&self.gateway, &self.load, &req.session, &marker, until);
        let (kind, call_id) = match &req.origin {
            Origin::Call { call_id, .. } => (Kind::Call, call_id.clone()),
            Origin::Walkie { .. } => (Kind::Call, None),
            Origin::Sms { .. } => (Kind::Sms, None),
        };
        let report = call_id.as_deref().map(|c| self.late_calls.watch(c));
        let needle = marker.needle();
        let journal = |event: &str, status: &str, text: &str| {
            let mut e = Entry::new(kind, event).status(status).text(text);
            if let Some(c) = &call_id {
                e = e.call_id(c);
            }
            if let Origin::Sms { from } = &req.origin {
                e = e.from(from);
            }
            self.record(e);
        };
        let found = match &req.origin {
            Origin::Sms { from } => match fetch(late_end).await {
                Some(reply) => {
                    if let Some(body) = speech::for_sms(&reply, MAX_SMS) {
                        self.text(from, &body, "late SMS reply").await;
                    }
                    return journal("reply.late", "sms", &reply);
                }
                None => return journal("reply.missing", "sms", &needle),
            },
            Origin::Call { request_id, .. } => {
                self.send(ClientMessage::DeepToolProgress {
                    request_id: request_id.clone(),
                    text: reply::HOLDING.into(),
                });
                let found = fetch(held_until).await;
                let text = found.as_deref().map_or_else(|| reply::STILL_WAITING.to_string(), spoken);
                self.send(ClientMessage::DeepToolResult { request_id: request_id.clone(), text });
                match found {
                    // the call ended while the result was held: nobody heard it
                    Some(r) if call_id.as_deref().is_some_and(|c| self.late_calls.is_ended(c)) => {
                        let how = self.deliver_late(call_id.as_deref(), &r).await;
                        Some((r, how))
                    }
                    other => other.map(|r| (r, "result")),
                }
            }
            Origin::Walkie { request_id, .. } => {
                let found = fetch(held_until).await;
                let reply = Some(found.as_deref().map_or_else(|| reply::STILL_WAITING.to_string(), spoken));
                self.send(ClientMessage::WalkieResponse { request_id: request_id.clone(), reply, error: None });
                found.map(|r| (r, "result"))
            }
        };
        let found = match found {
            Some(f) => Some(f),
            // after the request's result: at most another `timeout`
            None => match fetch(tokio::time::Instant::now() + req.timeout).await {
                Some(r) => {
                    let how = self.deliver_late(call_id.as_deref(), &r).await;
                    Some((r, how))
                }
                None => None,
            },
        };
        let line = match &found {
            Some((r, how)) => {
                journal("reply.late", how, r);
                format!("Late reply to \"{needle}\" ({how}): {}", speech::truncate(r, MAX_SMS))
            }
            None => {
                journal("reply.missing", "none", &needle);
                format!("No reply came to \"{needle}\".")
            }
        };
        if let Some(tx) = report {
            let _ = tx.send(line);
        }
    }

    /// A late answer after the request's result: spoken on the call while
    /// it is live, else texted to `owner_phone`. Returns how it went.
    async fn deliver_late(&self, call_id: Option<&str>, reply: &str) -> &'static str {
        if let Some(c) = call_id.filter(|c| !self.late_calls.is_ended(c)) {
            self.send(ClientMessage::Response { call_id: c.to_string(), text: spoken(reply) });
            return "spoken";
        }
        let Some(owner) = self.settings.owner_phone.clone() else {
            tracing::warn!("a late reply arrived after the call, but no owner_phone is set to text it to");
            return "undelivered";
        };
        let body = speech::for_sms(reply, MAX_SMS).unwrap_or_else(|| reply::HOLDING.to_string());
        if self.text(&owner, &body, "late reply to the owner").await {
            "texted to the owner"
        } else {
            "undelivered"
        }
    }

    async fn report_call(&self, e: CallEnded, admission: Admission) {
        let mut line = call_summary(&e);
        if let Some(c) = &e.call_id {
            // the late answers still looked for on this call (each bounded by its own deadline)
            let pending = self.late_calls.end(c);
            let bound = self.settings.timings.call_timeout * 2 + Duration::from_secs(5);
            for late in late::collect(pending, bound).await {
                line.push(' ');
                line.push_str(&late);
            }
        }
        tracing::info!(call = e.call_id.as_deref().unwrap_or("-"), "reporting the call's end to the agent");
        let session = self.gateway.main_session();
        let _slot = self.load.gateway_slot().await;
        match self.gateway.ask(Cleared::report(line), &session, self.settings.timings.call_timeout).await {
            Ok(a) => tracing::debug!(shape = a.word(), "the call's end was reported to the agent"),
            Err(err) => tracing::warn!("could not report the call's end to the agent: {err}"),
        }
        drop(admission);
    }

    /// Ask the owner about a sensitive request; the agent sees it only if approved.
    async fn approve(&self, req: &Request, sensitive: Sensitive) -> Routed {
        let origin = &req.origin;
        tracing::info!(channel = origin.channel(), pattern = %sensitive.matched, owner = req.party == Party::Owner,
            "sensitive request: asking for approval");
        let owner = self.settings.owner_name.as_deref().unwrap_or("the owner");
        if let Origin::Call { request_id, .. } = origin {
            self.send(ClientMessage::DeepToolProgress {
                request_id: request_id.clone(),
                text: format!("That needs {owner}'s approval. I've sent a request to their phone; one moment please."),
            });
        }
        let id = match origin {
            Origin::Call { call_id, .. } => call_id.clone(),
            Origin::Walkie { session_key, .. } => Some(session_key.clone()),
            Origin::Sms { .. } => None,
        };
        let mut details = approval::details(origin.channel(), id.as_deref(), &sensitive);
        if let Party::Stranger(who) = &req.party {
            details.push_str(&format!(" It comes from {}, not from the owner's number.", mask_phone(who)));
        }
        match self.approver.decide(sensitive, details).await {
            Verdict::Approved(cleared) => {
                tracing::info!(channel = origin.channel(), "approved: passing the request to the agent");
                self.ask(cleared, &req.session, req.timeout).await
            }
            Verdict::Refused { decision, request } => {
                tracing::info!(channel = origin.channel(), decision = decision.word(), "not approved: nothing done");
                if let Decision::Error(e) = &decision {
                    tracing::warn!("approval failed (treated as a refusal): {e}");
                }
                // Only the owner may stand in for a missing approval device.
                let key = origin.confirmation_key().filter(|_| req.party == Party::Owner);
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

    /// The one place a request reaches the gateway: within a gateway slot.
    async fn ask(&self, cleared: Cleared, session: &str, timeout: Duration) -> Routed {
        let _slot = self.load.gateway_slot().await;
        let mut marker = Marker {
            message: cleared.message().to_string(),
            run_id: None,
            sent_at_ms: SystemClock.now().timestamp_millis(),
        };
        match self.gateway.ask(cleared, session, timeout).await {
            Ok(answer) => {
                marker.run_id = answer.run_id().map(str::to_string);
                Routed::Answered(answer, marker)
            }
            Err(e) => {
                tracing::warn!("the agent did not answer: {e}");
                Routed::Failed(AGENT_UNREACHABLE.into())
            }
        }
    }
}

/// A late reply as the caller hears it.
fn spoken(reply: &str) -> String {
    Answer::Reply(reply.to_string()).spoken()
}

/// What the caller hears when the gateway did not answer (the reason is
/// logged; `sandbox call-in` recognises this text to fail with it).
pub const AGENT_UNREACHABLE: &str = "Sorry, I couldn't reach the agent right now. Please try again in a moment.";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_their_digits_and_anything_else_keeps_its_own_short_key() {
        assert_eq!(number_key(" +1 (555) 123-4567 "), "+15551234567");
        assert_eq!(number_key("+15551234567"), "+15551234567");
        assert_eq!(number_key("alice"), "alice");
        assert_eq!(number_key(&"x".repeat(1000)).len(), 32);
    }
}
