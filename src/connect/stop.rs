//! STOP by SMS (docs/optout.md#stop-by-sms): an inbound SMS whose whole
//! text is an opt-out keyword puts its sender on the opt-out list before
//! anything else sees it (it never reaches the agent), and the sender gets
//! the confirmation carriers expect, once. START or UNSTOP from a number on
//! the list takes it off again, with its own confirmation.
//!
//! The confirmation is the one text that goes to an opted-out number, so it
//! is sent here directly and never through the outbound gate.

use std::path::PathBuf;

use crate::api::{messages, Client};
use crate::config::mask_phone;
use crate::error::Result;
use crate::journal::{Entry, Journal, Kind};
use crate::state::optout::{OptOut, OptOutList, SOURCE_SMS_STOP};
use crate::task::blocking;

/// The opt-out keywords (CTIA's and the carriers' list).
pub const STOP_WORDS: &[&str] = &["STOP", "STOP ALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL"];
/// The keywords that take a number off the list again.
pub const START_WORDS: &[&str] = &["START", "UNSTOP"];
/// The reply to a STOP (the wording carriers' opt-out rules expect).
pub const STOP_CONFIRMATION: &str = "You have successfully been unsubscribed. You will not receive any more \
                                     messages from this number. Reply START to resubscribe.";
/// The reply to a START from a number on the list.
pub const START_CONFIRMATION: &str =
    "You have successfully been re-subscribed to messages from this number. Reply STOP to unsubscribe.";

/// May an SMS reply go to `number`? The outbound gate
/// ([`crate::outbound`]): a valid number that has not opted out. A refusal
/// is logged (masked) and the reply dropped.
pub async fn may_text(optout_dir: Option<PathBuf>, number: &str) -> bool {
    match crate::outbound::check_async("from", number, optout_dir).await {
        Ok(_) => true,
        // The error names the number in full: logged only when it is the list's own.
        Err(e) if e.exit_code() == 5 => {
            tracing::warn!(to = %mask_phone(number), "SMS reply not sent: {e}");
            false
        }
        Err(_) => {
            tracing::info!(to = %mask_phone(number), "SMS reply not sent: not a valid number, or it has opted out");
            false
        }
    }
}

/// What an SMS's text asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
}

/// The keyword `body` is as a whole: trimmed, any ASCII case, words
/// separated by any whitespace (`" stop  all\n"`). Anything more (`"stop
/// calling me"`, `"STOP!"`) is an ordinary message.
pub fn keyword(body: &str) -> Option<Keyword> {
    // The longest keyword with generous room between its words; anything
    // longer is an ordinary message, never split into words here.
    let body = body.trim();
    if body.len() > 64 {
        return None;
    }
    let words: Vec<&str> = body.split_whitespace().collect();
    let is = |list: &[&str]| {
        list.iter().any(|k| {
            let kw: Vec<&str> = k.split(' ').collect();
            kw.len() == words.len() && kw.iter().zip(&words).all(|(a, b)| a.eq_ignore_ascii_case(b))
        })
    };
    if is(STOP_WORDS) {
        Some(Keyword::Stop)
    } else if is(START_WORDS) {
        Some(Keyword::Start)
    } else {
        None
    }
}

/// What is needed to act on a keyword.
pub struct StopDesk {
    api: Client,
    /// The data directory of the opt-out list; `None`: no list to keep.
    optout_dir: Option<PathBuf>,
    journal: Option<std::sync::Arc<Journal>>,
    /// Keywords are honoured even when the queue is full (a STOP must never
    /// be dropped), so a flood of them is handled a few at a time instead.
    turns: tokio::sync::Semaphore,
    /// Numbers opted out whose confirmation could not be sent (this run):
    /// their next STOP tries again, so the one confirmation is not lost.
    unconfirmed: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl StopDesk {
    pub fn new(api: Client, optout_dir: Option<PathBuf>, journal: Option<std::sync::Arc<Journal>>) -> StopDesk {
        StopDesk { api, optout_dir, journal, turns: tokio::sync::Semaphore::new(2), unconfirmed: Default::default() }
    }

    /// Wait for a turn (see `turns`).
    pub async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.turns.acquire().await.ok()
    }

    /// Act on a STOP from `from`: on the list (new entries only) and one
    /// confirmation. Returns whether a confirmation was sent.
    pub async fn stop(&self, from: &str) -> bool {
        use crate::clock::Clock;
        // Stamped like the journal's events: this machine's clock.
        let now = crate::clock::SystemClock.now();
        let Some(number) = self.number(from) else { return false };
        let Some(dir) = self.optout_dir.clone() else {
            tracing::error!(from = %mask_phone(&number), "STOP received but there is no data directory for the opt-out list");
            return false;
        };
        let entry = OptOut::new(&number, "texted STOP", SOURCE_SMS_STOP, now);
        let added = blocking(move || OptOutList::in_dir(&dir).add(entry)).await;
        match added {
            Ok(true) => {
                tracing::info!(from = %mask_phone(&number), "opted out by SMS");
                self.record(Entry::new(Kind::Optout, "optout.added").from(&number).status(SOURCE_SMS_STOP)).await;
                self.confirm_stop(&number).await
            }
            Ok(false) if self.pending().remove(&number) => self.confirm_stop(&number).await,
            Ok(false) => {
                tracing::info!(from = %mask_phone(&number), "STOP from a number already opted out: no second reply");
                false
            }
            Err(e) => {
                // Not confirmed: nothing was recorded. The list is broken, so
                // the gate sends nothing to anyone until it is fixed.
                tracing::error!(from = %mask_phone(&number), "cannot record an opt-out: {e}");
                false
            }
        }
    }

    /// The numbers whose STOP confirmation is still owed.
    fn pending(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.unconfirmed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send the STOP confirmation; on failure remember it is owed.
    async fn confirm_stop(&self, number: &str) -> bool {
        let sent = self.confirm(number, STOP_CONFIRMATION, "optout.confirmed").await;
        if !sent {
            let mut owed = self.pending();
            if owed.len() < 10_000 {
                owed.insert(number.to_string());
            }
        }
        sent
    }

    /// Act on a START from `from`: `false` when it was not on the list (an
    /// ordinary message then); otherwise off the list and confirmed.
    pub async fn start(&self, from: &str) -> Result<bool> {
        let (Some(number), Some(dir)) = (self.number(from), self.optout_dir.clone()) else { return Ok(false) };
        let n = number.clone();
        if blocking(move || OptOutList::in_dir(&dir).remove(&n)).await?.is_none() {
            return Ok(false);
        }
        tracing::info!(from = %mask_phone(&number), "re-subscribed by SMS");
        self.record(Entry::new(Kind::Optout, "optout.removed").from(&number).status("sms-start")).await;
        self.confirm(&number, START_CONFIRMATION, "optout.confirmed").await;
        Ok(true)
    }

    /// The sender as an E.164 number, or `None` (nothing can be kept for it).
    fn number(&self, from: &str) -> Option<String> {
        match crate::validate::phone("from", from) {
            Ok(n) => Some(n),
            Err(_) => {
                tracing::warn!("keyword SMS from a sender that is not an E.164 number: nothing kept, no reply");
                None
            }
        }
    }

    async fn confirm(&self, number: &str, text: &str, event: &str) -> bool {
        match messages::send(&self.api, number, text, &[]).await {
            Ok(_) => {
                self.record(Entry::new(Kind::Optout, event).to(number)).await;
                true
            }
            Err(e) => {
                tracing::warn!(to = %mask_phone(number), "opt-out confirmation failed: {e}");
                false
            }
        }
    }

    async fn record(&self, entry: Entry) {
        if let Some(j) = self.journal.clone() {
            let _ = tokio::task::spawn_blocking(move || j.append(entry)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_keywords_match_whole_messages_only() {
        for s in ["STOP", "stop", " Stop\n", "stop all", "STOP \t ALL", "unsubscribe", "End", "quit", "CANCEL"] {
            assert_eq!(keyword(s), Some(Keyword::Stop), "{s:?}");
        }
        assert_eq!(keyword(&format!("{}stop{}", " ".repeat(200), "\n".repeat(200))), Some(Keyword::Stop));
        for s in ["start", " UNSTOP "] {
            assert_eq!(keyword(s), Some(Keyword::Start), "{s:?}");
        }
        for s in
            ["", "STOP!", "stop calling me", "please stop", "all stop", "stopp", "ſtop", "STOP ALL NOW", "cancel it"]
        {
            assert_eq!(keyword(s), None, "{s:?}");
        }
    }

    /// A keyword in random ASCII case.
    fn any_case(word: &'static str) -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<bool>(), word.len()).prop_map(move |up| {
            word.chars().zip(up).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect()
        })
    }

    fn space() -> impl Strategy<Value = String> {
        proptest::collection::vec(prop_oneof![Just(' '), Just('\t'), Just('\n'), Just('\r')], 0..4)
            .prop_map(|v| v.into_iter().collect())
    }

    #[tokio::test]
    async fn stop_adds_once_confirms_once_and_a_lost_confirmation_is_sent_on_the_next_stop() {
        use crate::testing::{Harness, Reply};
        let h = Harness::start().await;
        let path = "/v1/messages/send";
        h.service.on("POST", path, vec![Reply::error(400, "carrier down"), Reply::ok(serde_json::json!({"id": "m1"}))]);
        let desk = StopDesk::new(h.ctx().client().unwrap(), Some(h.dir().to_path_buf()), None);
        assert!(!desk.stop("+15005550006").await, "the first confirmation failed");
        let list = OptOutList::in_dir(h.dir());
        assert_eq!(list.find("+15005550006").unwrap().unwrap().source, SOURCE_SMS_STOP, "opted out all the same");
        assert!(desk.stop("+15005550006").await, "the owed confirmation goes with the next STOP");
        assert!(!desk.stop("+15005550006").await, "and only once");
        let sends = h.service.requests().into_iter().filter(|r| r.path == path).count();
        assert_eq!(sends, 2);
        assert!(!desk.stop("not a number").await);
    }

    /// One of `words` in random ASCII case.
    fn cased(words: &'static [&'static str]) -> impl Strategy<Value = String> {
        (0..words.len()).prop_flat_map(move |i| any_case(words[i]))
    }

    proptest! {
        #[test]
        fn any_case_and_whitespace_around_a_stop_word_matches(
            kw in cased(STOP_WORDS),
            lead in space(),
            trail in space(),
            gap in space().prop_map(|s| format!(" {s}")),
        ) {
            let body = format!("{lead}{}{trail}", kw.replace(' ', &gap));
            prop_assert_eq!(keyword(&body), Some(Keyword::Stop), "{:?}", body);
        }

        #[test]
        fn a_stop_word_with_another_word_is_an_ordinary_message(
            kw in cased(STOP_WORDS),
            extra in "[a-zA-Z0-9!?.,']{1,12}",
            before in any::<bool>(),
            lead in space(),
        ) {
            // The one sentence that is still a keyword: STOP followed by ALL.
            prop_assume!(before || !(kw.eq_ignore_ascii_case("stop") && extra.eq_ignore_ascii_case("all")));
            let body = if before { format!("{lead}{extra} {kw}") } else { format!("{lead}{kw} {extra}") };
            prop_assert_eq!(keyword(&body), None, "{:?}", body);
        }
    }
}
