//! Late replies (docs/protocol.md#the-gateway): when `sessions_send` answers
//! "no reply yet" (accepted, pending, timeout), the real answer is looked
//! for in the session's transcript with the gateway's `sessions_history`
//! tool, polling with backoff until a deadline, each fetch within one of
//! the bounded gateway slots ([`Load::gateway_slot`]).
//!
//! The answer is the first assistant message after our request: after the
//! message carrying our run id when the transcript has run ids, else after
//! the last user message that contains what we sent, else the first one
//! stamped after we sent it.
//!
//! [`LateCalls`] remembers, per call, whether it has ended and the late
//! answers still being looked for, so the call's report to the agent can
//! wait for them and include them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::DateTime;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::gateway::Gateway;
use super::limits::Load;
use super::reply::is_reply_text;

/// First wait before looking at the transcript; doubled after each look…
pub const FIRST_POLL: Duration = Duration::from_millis(250);
/// …up to this.
pub const MAX_POLL: Duration = Duration::from_secs(5);
/// Messages asked for per look.
pub const HISTORY_LIMIT: usize = 50;
/// Clock difference allowed between us and the gateway when matching by time.
const SKEW_MS: i64 = 2_000;
/// Characters of the request used to recognise it in the transcript.
const NEEDLE_CHARS: usize = 120;

/// What identifies our request in a session's transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The message sent (its first line is looked for).
    pub message: String,
    /// The gateway's run id, when its answer named one.
    pub run_id: Option<String>,
    /// When it was sent (Unix milliseconds, our clock).
    pub sent_at_ms: i64,
}

impl Marker {
    /// The request's first line, cut: how it is recognised and named in reports.
    pub fn needle(&self) -> String {
        self.message
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .chars()
            .take(NEEDLE_CHARS)
            .collect()
    }
}

/// A transcript message's text: `content` as a string, or the `text` of
/// its `{type:"text"}` parts, or a `text` field.
pub fn message_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str).is_none_or(|t| t == "text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => m.get("text").and_then(Value::as_str).unwrap_or_default().to_string(),
    }
}

fn role(m: &Value) -> Option<&str> {
    m.get("role").and_then(Value::as_str)
}

/// A message's time in Unix milliseconds (a number, or an RFC 3339 string).
fn timestamp_ms(m: &Value) -> Option<i64> {
    match m.get("timestamp").or_else(|| m.get("createdAt"))? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis()),
        _ => None,
    }
}

/// The first assistant reply after our request, if the transcript has one.
pub fn pick(messages: &[Value], marker: &Marker) -> Option<String> {
    let by_run = marker
        .run_id
        .as_deref()
        .and_then(|r| messages.iter().position(|m| m.get("runId").and_then(Value::as_str) == Some(r)));
    let needle = marker.needle();
    let by_text = || {
        (!needle.is_empty())
            .then(|| messages.iter().rposition(|m| role(m) == Some("user") && message_text(m).contains(&needle)))
            .flatten()
    };
    let after: Box<dyn Iterator<Item = &Value>> = match by_run.or_else(by_text) {
        Some(i) => Box::new(messages.iter().skip(i)),
        None => Box::new(messages.iter().filter(|m| timestamp_ms(m).is_some_and(|t| t >= marker.sent_at_ms - SKEW_MS))),
    };
    after
        .filter(|m| role(m) == Some("assistant"))
        .map(message_text)
        .find(|t| is_reply_text(t))
        .map(|t| t.trim().to_string())
}

/// Look for the late answer until `until`: a first look after
/// [`FIRST_POLL`], then at doubling intervals up to [`MAX_POLL`].
pub async fn fetch(gateway: &Gateway, load: &Load, session: &str, marker: &Marker, until: Instant) -> Option<String> {
    let mut wait = FIRST_POLL;
    loop {
        let now = Instant::now();
        if now >= until {
            return None;
        }
        tokio::time::sleep(wait.min(until - now)).await;
        let looked = {
            let _slot = load.gateway_slot().await;
            gateway.history(session, HISTORY_LIMIT).await
        };
        match looked {
            Ok(messages) => {
                if let Some(reply) = pick(&messages, marker) {
                    return Some(reply);
                }
            }
            Err(e) => tracing::debug!("sessions_history failed (looking again): {e}"),
        }
        wait = (wait * 2).min(MAX_POLL);
    }
}

/// Calls kept at most (the oldest is forgotten first).
const MAX_CALLS: usize = 4096;

#[derive(Debug, Default)]
struct CallLate {
    ended: bool,
    /// One line per late answer looked for on this call, for its report.
    lines: Vec<oneshot::Receiver<String>>,
}

/// Per call: has it ended, and the report lines of its late answers.
#[derive(Debug, Default)]
pub struct LateCalls {
    inner: Mutex<(HashMap<String, CallLate>, VecDeque<String>)>,
}

impl LateCalls {
    fn with<R>(&self, call_id: &str, f: impl FnOnce(&mut CallLate) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *g;
        if !map.contains_key(call_id) {
            while map.len() >= MAX_CALLS {
                match order.pop_front() {
                    Some(oldest) => {
                        map.remove(&oldest);
                    }
                    None => break,
                }
            }
            order.push_back(call_id.to_string());
        }
        f(map.entry(call_id.to_string()).or_default())
    }

    /// A late answer is being looked for on this call: its report line goes here.
    pub fn watch(&self, call_id: &str) -> oneshot::Sender<String> {
        let (tx, rx) = oneshot::channel();
        self.with(call_id, |c| c.lines.push(rx));
        tx
    }

    pub fn is_ended(&self, call_id: &str) -> bool {
        self.with(call_id, |c| c.ended)
    }

    /// The call ended: the report lines to wait for.
    pub fn end(&self, call_id: &str) -> Vec<oneshot::Receiver<String>> {
        self.with(call_id, |c| {
            c.ended = true;
            std::mem::take(&mut c.lines)
        })
    }
}

/// The report lines, each waited for at most until `bound` from now (a
/// look that outlives it is left out).
pub async fn collect(lines: Vec<oneshot::Receiver<String>>, bound: Duration) -> Vec<String> {
    let until = Instant::now() + bound;
    let mut out = Vec::new();
    for rx in lines {
        if let Ok(Ok(line)) = tokio::time::timeout_at(until, rx).await {
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn marker(run: Option<&str>) -> Marker {
        Marker {
            message: "what is on my calendar\n\nCall context: {}".into(),
            run_id: run.map(str::to_string),
            sent_at_ms: 10_000,
        }
    }

    fn msg(role: &str, text: &str, ts: i64) -> Value {
        json!({"role": role, "content": [{"type": "text", "text": text}], "timestamp": ts})
    }

    #[test]
    fn the_answer_is_the_first_assistant_message_after_our_request() {
        let h = vec![
            msg("user", "what is on my calendar", 1_000),
            msg("assistant", "old answer", 1_100),
            msg("user", "[SMS] unrelated", 9_000),
            msg("assistant", "unrelated answer", 9_100),
            msg("user", "what is on my calendar\n\nCall context: {}", 10_000),
            msg("assistant", "HEARTBEAT_OK", 10_500),
            msg("assistant", "Two meetings.", 11_000),
            msg("assistant", "Anything else?", 12_000),
        ];
        assert_eq!(pick(&h, &marker(None)).as_deref(), Some("Two meetings."));
        assert_eq!(pick(&h[..6], &marker(None)), None, "not there yet");
    }

    #[test]
    fn a_run_id_in_the_transcript_wins_over_text_and_time() {
        let mut h = vec![msg("user", "what is on my calendar", 10_000), msg("assistant", "wrong", 10_100)];
        let mut mine = msg("assistant", "right", 10_200);
        mine["runId"] = json!("run-7");
        h.push(mine);
        assert_eq!(pick(&h, &marker(Some("run-7"))).as_deref(), Some("right"));
    }

    #[test]
    fn without_our_text_the_first_reply_stamped_after_sending_is_taken() {
        let h = vec![
            msg("assistant", "before", 1_000),
            json!({"role": "assistant", "content": "after", "timestamp": "1970-01-01T00:00:11Z"}),
        ];
        assert_eq!(pick(&h, &marker(None)).as_deref(), Some("after"));
        assert_eq!(pick(&[json!({"role": "assistant"}), json!(null), json!(7)], &marker(None)), None);
    }

    #[tokio::test]
    async fn a_call_report_waits_for_its_late_lines_and_knows_the_call_ended() {
        let calls = LateCalls::default();
        let tx = calls.watch("c1");
        assert!(!calls.is_ended("c1"));
        let lines = calls.end("c1");
        assert!(calls.is_ended("c1"));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send("Late reply.".into());
        });
        assert_eq!(collect(lines, Duration::from_secs(5)).await, vec!["Late reply.".to_string()]);
        let _never = calls.watch("c2");
        assert!(collect(calls.end("c2"), Duration::from_millis(20)).await.is_empty(), "bounded");
    }
}
