//! Approvals that fail closed.
//!
//! The defect this module exists to prevent: a client whose approval wait
//! failed internally and fell through to acting. Here the agent can only be
//! reached with a [`Cleared`] message (`Gateway::ask` takes nothing else),
//! and a `Cleared` can only be made in this module, in exactly these ways:
//! - [`screen`] found no sensitive pattern in the text;
//! - [`Approver::decide`] got the decision `approved` from the service;
//! - the caller confirmed by voice after the service reported that the owner
//!   has no approval device, *and* the configuration asks for that;
//! - the client's own reports (`call.ended` summaries), which carry no request.
//!
//! Every other outcome — denied, timeout, expired, no device reached, an
//! HTTP error, a malformed reply, a dropped socket — yields
//! [`Verdict::Refused`], which holds no `Cleared` and so cannot act.
//!
//! ```compile_fail
//! // A Cleared cannot be built outside this module: this does not compile.
//! let c = clawdtalk::connect::approval::Cleared { message: String::new(), basis: "approved" };
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::api::models::ApprovalRequest;
use crate::api::{approvals, Client};

pub use super::screen::{Patterns, DEFAULT_PATTERNS};

/// Plain lower-case words, for reading a spoken yes or no (not for screening:
/// see [`super::screen`]).
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// A message the agent may receive. Its fields are private: see the module
/// documentation for the only ways one comes to exist.
#[derive(Debug)]
pub struct Cleared {
    message: String,
    basis: &'static str,
}

impl Cleared {
    /// The text for the agent.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Why it was cleared (`not_sensitive`, `approved`, `confirmed_by_voice`, `report`), for logs.
    pub fn basis(&self) -> &'static str {
        self.basis
    }
    /// The client's own report to the agent (a `call.ended` summary): it
    /// asks for no action and comes from no caller request.
    pub(crate) fn report(text: String) -> Cleared {
        Cleared { message: text, basis: "report" }
    }
}

/// A request that needs the owner's approval before the agent may see it.
#[derive(Debug)]
pub struct Sensitive {
    message: String,
    /// What the approval asks about (the caller's words, shortened).
    action: String,
    /// The pattern that matched.
    pub matched: String,
}

impl Sensitive {
    pub fn action(&self) -> &str {
        &self.action
    }
}

/// The result of screening a request.
#[derive(Debug)]
pub enum Screened {
    Clear(Cleared),
    Sensitive(Sensitive),
}

/// Screen `message` (what the agent would receive: the request plus our own
/// framing, such as the SMS sender), judging by `request` — the caller's own
/// words, which is also what the owner is asked about.
///
/// A request too long to scan ([`super::screen::MAX_SCREENED_CHARS`]) is held
/// as sensitive: when in doubt, hold.
pub fn screen(patterns: &Patterns, request: &str, message: String) -> Screened {
    let matched = if request.chars().nth(super::screen::MAX_SCREENED_CHARS).is_some() {
        Some("an unusually long request")
    } else {
        patterns.find(request)
    };
    match matched {
        None => Screened::Clear(Cleared { message, basis: "not_sensitive" }),
        Some(p) => Screened::Sensitive(Sensitive {
            action: super::speech::truncate(request.trim(), 300),
            matched: p.to_string(),
            message,
        }),
    }
}

/// How an approval ended. Only `Approved` lets the request through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Denied,
    Timeout,
    Expired,
    /// The owner has no approval device (0 notified, 0 failed).
    NoDevices,
    /// Every push failed (0 notified, some failed).
    NoDevicesReached,
    /// Anything that went wrong: it counts as a refusal.
    Error(String),
}

impl Decision {
    /// The outcome word (docs/protocol.md#direct-calls-sms-and-approvals).
    pub fn word(&self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Denied => "denied",
            Decision::Timeout => "timeout",
            Decision::Expired => "expired",
            Decision::NoDevices => "no_devices",
            Decision::NoDevicesReached => "no_devices_reached",
            Decision::Error(_) => "error",
        }
    }

    /// A status or decision word from the service. `None` for `pending`.
    /// Only the exact word `approved` approves; anything unknown is an error.
    pub fn from_word(w: &str) -> Option<Decision> {
        match w.trim().to_ascii_lowercase().as_str() {
            "pending" => None,
            "approved" => Some(Decision::Approved),
            "denied" | "rejected" | "declined" => Some(Decision::Denied),
            "expired" => Some(Decision::Expired),
            "timeout" => Some(Decision::Timeout),
            other => Some(Decision::Error(format!("unknown approval status {other:?}"))),
        }
    }
}

/// The result of asking for approval.
#[derive(Debug)]
pub enum Verdict {
    Approved(Cleared),
    Refused { decision: Decision, request: Sensitive },
}

/// What to do when the owner has no approval device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDevices {
    /// Ask the caller to confirm by voice; act only on a clear "yes".
    ConfirmByVoice,
    /// Refuse.
    Deny,
}

/// Approval settings (skill-config.json: `approval_patterns`,
/// `approval_timeout_secs`, `approval_poll_secs`, `approval_no_devices`,
/// `approval_require_biometric`).
#[derive(Debug, Clone)]
pub struct ApprovalSettings {
    pub patterns: Patterns,
    pub timeout: Duration,
    pub poll_interval: Duration,
    pub no_devices: NoDevices,
    pub require_biometric: bool,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            patterns: Patterns::defaults(),
            timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            no_devices: NoDevices::ConfirmByVoice,
            require_biometric: false,
        }
    }
}

/// Decisions pushed on the socket, waiting for the approval that asked.
#[derive(Default)]
struct Inbox {
    waiting: HashMap<String, oneshot::Sender<Decision>>,
    /// Decisions that arrived before their waiter registered (bounded).
    early: HashMap<String, Decision>,
}

/// Asks the service for approvals and waits for the owner's decision.
#[derive(Clone)]
pub struct Approver {
    api: Client,
    settings: ApprovalSettings,
    inbox: Arc<Mutex<Inbox>>,
}

impl Approver {
    pub fn new(api: Client, settings: ApprovalSettings) -> Approver {
        Approver { api, settings, inbox: Arc::default() }
    }

    pub fn settings(&self) -> &ApprovalSettings {
        &self.settings
    }

    /// An `approval.responded` event: resolve the waiting approval at once.
    pub fn responded(&self, request_id: &str, decision: &str) {
        let Some(d) = Decision::from_word(decision) else { return };
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        match inbox.waiting.remove(request_id) {
            Some(tx) => {
                let _ = tx.send(d);
            }
            None => {
                if inbox.early.len() >= 256 {
                    inbox.early.clear();
                }
                inbox.early.insert(request_id.to_string(), d);
            }
        }
    }

    /// Ask the owner and wait. The one place an approval becomes a [`Cleared`].
    pub async fn decide(&self, request: Sensitive, details: String) -> Verdict {
        let decision = self.obtain(&request, details).await;
        match decision {
            Decision::Approved => Verdict::Approved(Cleared { message: request.message, basis: "approved" }),
            decision => Verdict::Refused { decision, request },
        }
    }

    async fn obtain(&self, request: &Sensitive, details: String) -> Decision {
        let req = ApprovalRequest {
            action: request.action.clone(),
            require_biometric: self.settings.require_biometric,
            expires_in: self.settings.timeout.as_secs().max(1),
            details: Some(details),
        };
        let created = match approvals::create(&self.api, &req).await {
            Ok(c) => c,
            Err(e) => return Decision::Error(format!("cannot request approval: {e}")),
        };
        match (created.devices_notified, created.devices_failed) {
            (0, 0) => return Decision::NoDevices,
            (0, _) => return Decision::NoDevicesReached,
            _ => {}
        }
        let id = created.request_id;
        tracing::info!(approval = %id, "waiting for the owner's approval");
        let (tx, mut rx) = oneshot::channel();
        {
            let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(d) = inbox.early.remove(&id) {
                return d;
            }
            inbox.waiting.insert(id.clone(), tx);
        }
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let mut poll = tokio::time::interval(self.settings.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await; // the first tick is immediate; the socket usually answers first
        let decision = loop {
            tokio::select! {
                d = &mut rx => break d.unwrap_or_else(|_| Decision::Error("approval wait cancelled".into())),
                _ = tokio::time::sleep_until(deadline) => break Decision::Timeout,
                _ = poll.tick() => match approvals::get(&self.api, &id).await {
                    Ok(a) => if let Some(d) = Decision::from_word(a.status.as_deref().unwrap_or("unknown")) { break d },
                    Err(e) => break Decision::Error(format!("cannot read the approval status: {e}")),
                },
            }
        };
        self.inbox.lock().unwrap_or_else(|p| p.into_inner()).waiting.remove(&id);
        decision
    }
}

/// Requests waiting for the caller to confirm by voice (no approval device).
#[derive(Default)]
pub struct VoiceConfirmations {
    pending: Mutex<HashMap<String, (Sensitive, Instant)>>,
}

/// How long a voice confirmation stays open.
pub const VOICE_CONFIRM_WINDOW: Duration = Duration::from_secs(120);

impl VoiceConfirmations {
    /// Remember `request` until the same conversation (`key`) confirms.
    pub fn hold(&self, key: &str, request: Sensitive) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.retain(|_, (_, at)| at.elapsed() < VOICE_CONFIRM_WINDOW);
        p.insert(key.to_string(), (request, Instant::now()));
    }

    /// The next request on a conversation (`key`) that has a held request.
    /// The held request is released only by a clear yes; a clear no or
    /// anything else discards it. `None` when nothing was held.
    pub fn answer(&self, key: &str, answer: &str) -> Option<Confirmation> {
        let (request, at) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(key)?;
        if at.elapsed() >= VOICE_CONFIRM_WINDOW {
            return None;
        }
        Some(if is_confirmation(answer) {
            Confirmation::Confirmed(Cleared { message: request.message, basis: "confirmed_by_voice" })
        } else if is_refusal(answer, &request.action) {
            Confirmation::Declined
        } else {
            Confirmation::Other
        })
    }

    pub fn forget(&self, key: &str) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// What the next request did to a held one.
#[derive(Debug)]
pub enum Confirmation {
    /// A clear yes: the held request, cleared.
    Confirmed(Cleared),
    /// A clear no: the held request is discarded, nothing else was asked.
    Declined,
    /// Neither: the held request is discarded and the answer is a request of
    /// its own, to be screened like any other.
    Other,
}

/// A clear spoken "no" to `action`: a refusing word, and nothing else but
/// filler words and words of the action itself ("no, don't delete it").
/// Anything more is a new request, so it is not swallowed.
pub fn is_refusal(answer: &str, action: &str) -> bool {
    const REFUSING: [&str; 12] =
        ["no", "nope", "nah", "not", "don", "dont", "never", "cancel", "stop", "abort", "forget", "nevermind"];
    const FILLER: [&str; 41] = [
        "t", "do", "it", "that", "this", "them", "those", "these", "one", "anything", "please", "thanks", "thank",
        "you", "i", "ve", "changed", "my", "mind", "ok", "okay", "oh", "actually", "sorry", "wait", "anymore", "need",
        "want", "to", "go", "ahead", "the", "s", "just", "leave", "let", "about", "thing", "way", "all", "any",
    ];
    let w = words(answer);
    let held = words(action);
    w.iter().any(|t| REFUSING.contains(&t.as_str()))
        && w.iter().all(|t| REFUSING.contains(&t.as_str()) || FILLER.contains(&t.as_str()) || held.contains(t))
}

/// A clear spoken "yes": a confirming word and no negation.
pub fn is_confirmation(answer: &str) -> bool {
    let w = words(answer);
    let has = |x: &str| w.iter().any(|t| t == x);
    let negated = ["no", "not", "don", "dont", "never", "cancel", "stop", "wait"].iter().any(|x| has(x));
    let yes = ["yes", "yeah", "yep", "confirm", "confirmed", "approve", "approved"].iter().any(|x| has(x))
        || answer.to_lowercase().contains("go ahead");
    yes && !negated
}

/// The details shown with an approval request: where it came from and why it needs approval.
pub fn details(channel: &str, id: Option<&str>, request: &Sensitive) -> String {
    let from = match (channel, id) {
        ("call", Some(id)) => format!("during call {id}"),
        ("walkie", Some(key)) => format!("by push-to-talk ({key})"),
        ("sms", _) => "by SMS".to_string(),
        (c, _) => format!("by {c}"),
    };
    format!("Requested {from}; it needs approval because it mentions \"{}\".", request.matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_patterns_catch_destructive_requests_with_inflections() {
        let p = Patterns::defaults();
        for t in [
            "Delete the repository prod-db",
            "please send an email to Bob",
            "push my changes and merge the PR",
            "deploying to production now",
            "pay the invoice",
            "buy two tickets",
            "transfer $500 to savings",
            "commit the fix",
            "write to the config file",
            "what's in my GitHub repositories",
            "remove the file",
            "Deletion of all logs",
            "committed yet?",
        ] {
            assert!(p.find(t).is_some(), "{t} should need approval");
        }
        for t in ["what's the weather tomorrow", "read me my calendar", "how many steps did I walk", "the report"] {
            assert_eq!(p.find(t), None, "{t} should not need approval");
        }
    }

    #[test]
    fn configured_patterns_replace_defaults() {
        let p = Patterns::new(&["launch rocket"]);
        assert_eq!(p.find("please LAUNCH the rocket"), None);
        assert_eq!(p.find("launch rocket now"), Some("launch rocket"));
        assert_eq!(p.find("delete everything"), None);
    }

    #[test]
    fn screening_a_harmless_request_clears_it_and_a_sensitive_one_does_not() {
        let p = Patterns::defaults();
        assert!(
            matches!(screen(&p, "weather?", "weather?".into()), Screened::Clear(c) if c.basis() == "not_sensitive")
        );
        assert!(matches!(screen(&p, "delete prod", "delete prod".into()), Screened::Sensitive(_)));
    }

    #[test]
    fn only_the_exact_word_approved_approves() {
        assert_eq!(Decision::from_word("approved"), Some(Decision::Approved));
        assert_eq!(Decision::from_word("pending"), None);
        for w in ["denied", "expired", "timeout", "approve", "yes", "", "APPROVED-ish"] {
            assert_ne!(Decision::from_word(w), Some(Decision::Approved), "{w}");
        }
    }

    #[test]
    fn voice_confirmation_needs_a_clear_yes_on_the_same_conversation() {
        let held = || {
            let Screened::Sensitive(s) = screen(&Patterns::defaults(), "delete x", "delete x".into()) else { panic!() };
            s
        };
        let v = VoiceConfirmations::default();
        v.hold("call:1", held());
        assert!(v.answer("call:2", "yes").is_none());
        assert!(matches!(v.answer("call:1", "no, don't do it"), Some(Confirmation::Declined)));
        assert!(v.answer("call:1", "yes").is_none(), "a refusal discards the held request");
        v.hold("call:1", held());
        assert!(matches!(v.answer("call:1", "what's the weather tomorrow"), Some(Confirmation::Other)));
        assert!(v.answer("call:1", "yes").is_none(), "anything but a clear yes discards the held request");
        v.hold("call:1", held());
        let Some(Confirmation::Confirmed(c)) = v.answer("call:1", "Yes, go ahead") else { panic!() };
        assert_eq!((c.message(), c.basis()), ("delete x", "confirmed_by_voice"));
        assert!(!is_confirmation("yes but wait"));
    }

    #[test]
    fn a_clear_no_is_short_of_anything_new() {
        let action = "delete the repository prod-db";
        for no in [
            "no",
            "No thanks",
            "nope",
            "cancel that",
            "No, don't delete the repository",
            "never mind",
            "stop",
            "no, don't delete them",
        ] {
            assert!(is_refusal(no, action), "{no}");
        }
        for other in ["what's the weather", "No, delete the backups instead", "yes", "read my calendar", ""] {
            assert!(!is_refusal(other, action), "{other}");
        }
    }
}
