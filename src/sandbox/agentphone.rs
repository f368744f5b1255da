//! AgentPhone in the sandbox (docs/protocol.md#agentphone), under `/agentphone/api/v1`:
//! `POST /calls` and `GET /calls/{id}` with `x-api-key: ap_test_…`.
//!
//! A call plays out over the sandbox clock from its `created_at`: `queued`
//! for [`QUEUED_SECONDS`], `dialing` for [`RING_SECONDS`], `in_progress`
//! while the person talks, then `completed` (or `failed`/`canceled` straight
//! from `dialing`). The ClawdTalk magic numbers decide the end ([`Fate`]):
//!
//! | to | AgentPhone call |
//! |---|---|
//! | +15005550006, any other E.164 | `completed`, outcome `achieved`, with summary and transcript |
//! | +15005550001 | `failed`, `failure_reason` `busy` |
//! | +15005550002 | `failed`, `failure_reason` `no_answer` (nobody picked up: nothing to achieve) |
//! | +15005550003 | `failed`, `failure_reason` `network_error` |
//! | +15005550004 | `completed`, outcome `partial`: voicemail, a message was left |
//! | +15005550005 | `failed` `busy` on the first call to it, `achieved` on later ones |
//!
//! and numbers of its own script what only AgentPhone does:
//!
//! | to | |
//! |---|---|
//! | +15005550007 | `achieved`, but the first read after the end has no summary or transcript (the enrichment path) |
//! | +15005550009 | `canceled` while dialing |
//! | +15005550402 | 402, credits exhausted (nothing placed) |
//! | +15005550428 | 429 on the first request for it, accepted afterwards |
//! | +15005550429 | 429 on every request |
//!
//! Like the service, the sandbox allows [`CALLS_PER_MINUTE`] calls per
//! sandbox minute (429 with `Retry-After` beyond) and starts the account
//! with [`STARTING_CREDITS`] credits, one per call (402 when none are left).
//! Every request is recorded in `GET /_sandbox/requests`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use super::model::{rfc3339, Fate, RING_SECONDS};
use super::{body_object, ApiError, Shared};

/// Where the AgentPhone API is mounted (what `AGENTPHONE_API_URL` takes after the root).
pub const BASE_PATH: &str = "/agentphone/api/v1";
/// Keys the sandbox accepts.
pub const KEY_PREFIX: &str = "ap_test_";
/// The key `clawdtalk sandbox` prints (any `ap_test_…` key works).
pub const SANDBOX_KEY: &str = "ap_test_sandbox0000";
/// Credits a new sandbox account starts with (one per call).
pub const STARTING_CREDITS: i64 = 100;
/// AgentPhone's rate limit on placing calls.
pub const CALLS_PER_MINUTE: usize = 10;
/// Sandbox seconds a call stays `queued`.
pub const QUEUED_SECONDS: i64 = 2;

pub const LATE_TRANSCRIPT: &str = "+15005550007";
pub const CANCELED: &str = "+15005550009";
pub const CREDITS_EXHAUSTED: &str = "+15005550402";
pub const RATE_LIMITED_ONCE: &str = "+15005550428";
pub const RATE_LIMITED: &str = "+15005550429";

/// How an AgentPhone call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Through the ClawdTalk magic numbers.
    Fate(Fate),
    Canceled,
}

#[derive(Debug, Clone)]
struct ApCall {
    id: String,
    to: String,
    objective: String,
    business_name: Option<String>,
    website: Option<String>,
    created_at: DateTime<Utc>,
    end: End,
    /// Reads after the call ended (for the late-transcript number).
    reads_after_end: u32,
}

impl ApCall {
    fn dialing_at(&self) -> DateTime<Utc> {
        self.created_at + Duration::seconds(QUEUED_SECONDS)
    }
    /// When the person picked up (connected calls only).
    fn answered_at(&self) -> DateTime<Utc> {
        self.dialing_at() + Duration::seconds(RING_SECONDS)
    }
    fn ended_at(&self) -> DateTime<Utc> {
        match self.end {
            End::Fate(f) if f.connected() => self.answered_at() + Duration::seconds(f.call_length()),
            End::Fate(f) => self.dialing_at() + Duration::seconds(f.call_length()),
            End::Canceled => self.dialing_at() + Duration::seconds(3),
        }
    }
    fn connected(&self) -> bool {
        matches!(self.end, End::Fate(f) if f.connected())
    }

    fn status(&self, now: DateTime<Utc>) -> &'static str {
        if now < self.dialing_at() {
            "queued"
        } else if now >= self.ended_at() {
            match self.end {
                End::Fate(f) if f.connected() => "completed",
                End::Fate(_) => "failed",
                End::Canceled => "canceled",
            }
        } else if self.connected() && now >= self.answered_at() {
            "in_progress"
        } else {
            "dialing"
        }
    }

    /// The call as `GET /calls/{id}` shows it at `now` (counts the read).
    fn read(&mut self, now: DateTime<Utc>) -> Value {
        let status = self.status(now);
        let mut d = json!({
            "call_id": self.id, "status": status, "outcome": null, "summary": null, "transcript": null,
            "recording_url": null, "duration_seconds": null, "created_at": rfc3339(self.created_at),
            "to_phone_number": self.to, "objective": self.objective,
        });
        if let Some(b) = &self.business_name {
            d["business_name"] = json!(b);
        }
        if let Some(w) = &self.website {
            d["website"] = json!(w);
        }
        if !matches!(status, "completed" | "failed" | "canceled") {
            return d;
        }
        d["ended_at"] = json!(rfc3339(self.ended_at()));
        match self.end {
            End::Fate(f) if f.connected() => {
                self.reads_after_end += 1;
                let talk = (self.ended_at() - self.answered_at()).num_seconds();
                d["duration_seconds"] = json!(talk);
                d["recording_url"] = json!(format!("https://sandbox.agentphone.invalid/recordings/{}.mp3", self.id));
                let late = self.to == LATE_TRANSCRIPT && self.reads_after_end <= 1;
                let (outcome, summary, transcript) = self.result(f);
                d["outcome"] = json!(outcome);
                if !late {
                    d["summary"] = json!(summary);
                    d["transcript"] = json!(transcript);
                }
            }
            End::Fate(f) => {
                d["duration_seconds"] = json!(0);
                d["failure_reason"] = json!(match f {
                    Fate::Busy => "busy",
                    Fate::NoAnswer => "no_answer",
                    _ => "network_error",
                });
            }
            End::Canceled => {
                d["duration_seconds"] = json!(0);
                d["failure_reason"] = json!("canceled");
            }
        }
        d
    }

    /// Outcome, summary and transcript of a connected call.
    fn result(&self, f: Fate) -> (&'static str, String, String) {
        let callee = self.business_name.clone().unwrap_or_else(|| self.to.clone());
        if f == Fate::Voicemail {
            return (
                "partial",
                format!("Reached the voicemail of {callee}; left a message about: {}", self.objective),
                format!(
                    "Voicemail: You have reached {callee}. Please leave a message after the tone.\n\
                     Agent: Hello, this is an AI assistant calling about: {}. Please call back. Thank you.",
                    self.objective
                ),
            );
        }
        (
            "achieved",
            format!("Spoke with {callee} and achieved the objective: {}", self.objective),
            format!(
                "Agent: Hello, I'm an AI assistant calling about: {}.\n\
                 Callee: Sure, I can help with that.\n\
                 Agent: Thank you, that is everything I needed.\n\
                 Callee: You're welcome. Goodbye.",
                self.objective
            ),
        )
    }
}

/// The sandbox AgentPhone account: calls, credits, limits.
#[derive(Debug, Default)]
pub struct Account {
    calls: HashMap<String, ApCall>,
    next_id: u64,
    credits_used: i64,
    /// Calls placed per number (for +15005550005).
    attempts: HashMap<String, u32>,
    /// When recent calls were placed (for the per-minute limit).
    recent: VecDeque<DateTime<Utc>>,
    /// Numbers already refused once (for +15005550428).
    limited_once: HashSet<String>,
}

/// Why a request was refused: status, message, `Retry-After` seconds.
type Refusal = (StatusCode, String, Option<i64>);

impl Account {
    fn credits_remaining(&self) -> i64 {
        STARTING_CREDITS - self.credits_used
    }

    /// `POST /calls`: the 202 body, or the refusal.
    fn place(&mut self, now: DateTime<Utc>, body: &Map<String, Value>) -> Result<Value, Refusal> {
        let bad = |m: String| (StatusCode::BAD_REQUEST, m, None);
        let field = |k: &str| -> Result<Option<String>, Refusal> {
            match body.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
                Some(v) => Err(bad(format!("{k} must be a string, got {v}"))),
            }
        };
        let to = field("to_phone_number")?.ok_or_else(|| bad("to_phone_number is required (E.164)".into()))?;
        let to = crate::validate::phone("to_phone_number", &to).map_err(|e| bad(e.to_string()))?;
        let objective = field("objective")?.ok_or_else(|| bad("objective is required".into()))?;
        let business_name = field("business_name")?;
        let website = field("website")?;

        let limited = |m: String, after: i64| (StatusCode::TOO_MANY_REQUESTS, m, Some(after));
        if to == RATE_LIMITED || (to == RATE_LIMITED_ONCE && self.limited_once.insert(to.clone())) {
            return Err(limited("Rate limit exceeded: 10 calls per minute (sandbox magic number)".into(), 60));
        }
        while self.recent.front().is_some_and(|t| now - *t >= Duration::seconds(60)) {
            self.recent.pop_front();
        }
        if self.recent.len() >= CALLS_PER_MINUTE {
            let after = self.recent.front().map(|t| 60 - (now - *t).num_seconds()).unwrap_or(60).max(1);
            return Err(limited(format!("Rate limit exceeded: {CALLS_PER_MINUTE} calls per minute"), after));
        }
        if to == CREDITS_EXHAUSTED || self.credits_remaining() <= 0 {
            return Err((
                StatusCode::PAYMENT_REQUIRED,
                "Insufficient credits: add credits to place calls".into(),
                None,
            ));
        }

        let attempt = {
            let n = self.attempts.entry(to.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let end = if to == CANCELED { End::Canceled } else { End::Fate(Fate::of_call(&to, attempt)) };
        self.next_id += 1;
        self.credits_used += 1;
        self.recent.push_back(now);
        let call = ApCall {
            id: format!("apc_{:06}", self.next_id),
            to,
            objective,
            business_name,
            website,
            created_at: now,
            end,
            reads_after_end: 0,
        };
        let reply = json!({
            "data": {"call_id": call.id, "status": "queued", "created_at": rfc3339(now)},
            "credits_remaining": self.credits_remaining(),
        });
        self.calls.insert(call.id.clone(), call);
        Ok(reply)
    }

    /// `GET /calls/{id}`.
    fn read(&mut self, now: DateTime<Utc>, id: &str) -> Option<Value> {
        self.calls.get_mut(id).map(|c| json!({"data": c.read(now)}))
    }
}

type Book = Arc<Mutex<Account>>;

/// The AgentPhone routes, nested by [`super::app`] under `/agentphone/api/v1`.
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/calls", post(create))
        .route("/calls/{id}", get(show))
        .fallback(unknown)
        .layer(Extension(Book::default()))
}

fn refuse(r: Refusal) -> Response {
    let (status, message, retry_after) = r;
    let mut resp = ApiError(status, message).into_response();
    if let Some(ra) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, ra);
    }
    resp
}

/// The `x-api-key` check (401 names the header and the test prefix).
fn authorized(headers: &HeaderMap) -> Result<(), Refusal> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if key.starts_with(KEY_PREFIX) && key.len() > KEY_PREFIX.len() {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            format!(
                "invalid or missing API key: send x-api-key: {KEY_PREFIX}… (any {KEY_PREFIX} key works in the sandbox)"
            ),
            None,
        ))
    }
}

/// Record the request for `GET /_sandbox/requests`, as the API gate does.
fn log(s: &Shared, method: &Method, uri: &OriginalUri, body: &Bytes, status: StatusCode) {
    let body_json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
    };
    s.record(json!({
        "method": method.as_str(),
        "path": uri.0.path(),
        "query": uri.0.query().unwrap_or_default(),
        "body": body_json,
        "status": status.as_u16(),
        "at": rfc3339(s.clock.now()),
    }));
}

async fn create(
    State(s): State<Shared>,
    Extension(book): Extension<Book>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = authorized(&headers)
        .and_then(|_| body_object(&body).map_err(|e| (StatusCode::BAD_REQUEST, e.1, None)))
        .and_then(|b| book.lock().unwrap_or_else(|e| e.into_inner()).place(s.clock.now(), &b));
    let resp = match result {
        Ok(v) => (StatusCode::ACCEPTED, axum::Json(v)).into_response(),
        Err(r) => refuse(r),
    };
    log(&s, &Method::POST, &uri, &body, resp.status());
    resp
}

async fn show(
    State(s): State<Shared>,
    Extension(book): Extension<Book>,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let resp = match authorized(&headers) {
        Err(r) => refuse(r),
        Ok(()) => match book.lock().unwrap_or_else(|e| e.into_inner()).read(s.clock.now(), &id) {
            Some(v) => axum::Json(v).into_response(),
            None => ApiError::not_found("call", &id).into_response(),
        },
    };
    log(&s, &Method::GET, &uri, &Bytes::new(), resp.status());
    resp
}

async fn unknown(State(s): State<Shared>, method: Method, uri: OriginalUri, body: Bytes) -> Response {
    let resp =
        ApiError(StatusCode::NOT_FOUND, format!("no such AgentPhone route: {method} {}", uri.0.path())).into_response();
    log(&s, &method, &uri, &body, resp.status());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn place(a: &mut Account, to: &str) -> Result<Value, Refusal> {
        let body = json!({"to_phone_number": to, "objective": "Book a table"});
        a.place(t0(), body.as_object().unwrap())
    }

    fn read_at(a: &mut Account, id: &str, secs: i64) -> Value {
        a.read(t0() + Duration::seconds(secs), id).unwrap()["data"].clone()
    }

    #[test]
    fn achieved_call_walks_the_lifecycle() {
        let mut a = Account::default();
        let r = place(&mut a, "+15005550006").unwrap();
        assert_eq!(r["credits_remaining"], STARTING_CREDITS - 1);
        let id = r["data"]["call_id"].as_str().unwrap().to_string();
        let stages: Vec<Value> = [0, 3, 10, 100].iter().map(|s| read_at(&mut a, &id, *s)["status"].clone()).collect();
        assert_eq!(stages, vec![json!("queued"), json!("dialing"), json!("in_progress"), json!("completed")]);
        let d = read_at(&mut a, &id, 100);
        assert_eq!(d["outcome"], "achieved");
        assert!(d["summary"].as_str().unwrap().contains("Book a table"));
        assert!(d["transcript"].as_str().unwrap().starts_with("Agent:"));
        assert_eq!(d["duration_seconds"], 45);
    }

    #[test]
    fn magic_numbers_decide_the_end() {
        let mut a = Account::default();
        for (to, status, extra) in [
            ("+15005550001", "failed", json!("busy")),
            ("+15005550002", "failed", json!("no_answer")),
            ("+15005550003", "failed", json!("network_error")),
            ("+15005550009", "canceled", json!("canceled")),
        ] {
            let id = place(&mut a, to).unwrap()["data"]["call_id"].as_str().unwrap().to_string();
            let d = read_at(&mut a, &id, 100);
            assert_eq!((d["status"].clone(), d["failure_reason"].clone()), (json!(status), extra), "{to}");
        }
        let id = place(&mut a, "+15005550004").unwrap()["data"]["call_id"].as_str().unwrap().to_string();
        assert_eq!(read_at(&mut a, &id, 100)["outcome"], "partial");
    }

    #[test]
    fn late_transcript_is_missing_on_the_first_read_after_the_end_only() {
        let mut a = Account::default();
        let id = place(&mut a, LATE_TRANSCRIPT).unwrap()["data"]["call_id"].as_str().unwrap().to_string();
        assert_eq!(read_at(&mut a, &id, 100)["transcript"], Value::Null);
        assert!(read_at(&mut a, &id, 101)["transcript"].is_string());
    }

    #[test]
    fn credits_and_rate_limits_refuse_with_their_status() {
        let mut a = Account::default();
        assert_eq!(place(&mut a, CREDITS_EXHAUSTED).unwrap_err().0, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(place(&mut a, RATE_LIMITED).unwrap_err().0, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(place(&mut a, RATE_LIMITED).unwrap_err().0, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(place(&mut a, RATE_LIMITED_ONCE).unwrap_err().0, StatusCode::TOO_MANY_REQUESTS);
        assert!(place(&mut a, RATE_LIMITED_ONCE).is_ok());
        for _ in 1..CALLS_PER_MINUTE {
            place(&mut a, "+15005550006").unwrap();
        }
        let (status, _, retry_after) = place(&mut a, "+15005550006").unwrap_err();
        assert_eq!((status, retry_after), (StatusCode::TOO_MANY_REQUESTS, Some(60)));
        a.credits_used = STARTING_CREDITS;
        a.recent.clear();
        assert_eq!(place(&mut a, "+15005550006").unwrap_err().0, StatusCode::PAYMENT_REQUIRED);
    }

    #[test]
    fn bad_input_is_400() {
        let mut a = Account::default();
        assert_eq!(place(&mut a, "911").unwrap_err().0, StatusCode::BAD_REQUEST);
        let e = a.place(t0(), json!({"to_phone_number": "+15005550006"}).as_object().unwrap()).unwrap_err();
        assert!(e.1.contains("objective"));
    }
}
