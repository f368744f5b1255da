//! The sandbox: a local ClawdTalk emulator (axum on tokio) serving the whole
//! wire contract from memory, so missions can be rehearsed, demoed and
//! tested end to end with no account, no network and no real phone ringing.
//!
//! - API routes under `/v1` (docs/protocol.md#http-api and #direct-calls-sms-and-approvals), `Authorization: Bearer
//!   cc_test_…` (or the configured key); `/ws` (docs/protocol.md#voice-websocket).
//! - A sandbox clock running `speed` times faster than real time; scheduled
//!   events and calls are played out lazily from their timestamps.
//! - Magic numbers decide outcomes (see [`model::Fate`]).
//! - A control API under `/_sandbox/` for tests and demos (see [`control`]).
//! - AgentPhone under `/agentphone/api/v1` ([`agentphone`]).
//! - With `--agent MODE`, a stand-in agent gateway under `/agent` ([`agent`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, oneshot, Notify};

use crate::error::{Error, Result};

pub mod agent;
pub mod agentphone;
pub mod api;
pub mod clock;
pub mod control;
pub mod direct;
pub mod model;
pub mod remote;
pub mod ws;

pub use clock::Clock;
pub use model::Data;

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// How many times faster than real time the sandbox clock runs.
    pub speed: f64,
    /// A key accepted in addition to every `cc_test_…` key.
    pub api_key: Option<String>,
    /// A finished event whose request had a `step_id` marks that plan step.
    pub auto_sync: bool,
    /// More than this many API requests a minute get 429.
    pub rate_limit: Option<u32>,
    /// This fraction of API requests get 503.
    pub fail_rate: f64,
    /// Seed for `fail_rate` (deterministic failures).
    pub seed: Option<u64>,
    /// Serve the stand-in agent gateway, answering this way ([`agent`]).
    pub agent: Option<agent::AgentMode>,
    /// The sandbox clock's time at start (default: the wall clock's).
    pub start: Option<chrono::DateTime<chrono::Utc>>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            port: 0,
            speed: 1.0,
            api_key: None,
            auto_sync: false,
            rate_limit: None,
            fail_rate: 0.0,
            seed: None,
            agent: None,
            start: None,
        }
    }
}

/// A frame for every `/ws` connection.
#[derive(Debug, Clone)]
pub enum WsCmd {
    /// Send this text to authenticated clients.
    Send(Arc<str>),
    /// Close every socket with this code.
    Drop(u16),
}

/// Most requests kept by the request log (the oldest are dropped first).
const REQUEST_LOG_CAP: usize = 50_000;

/// The request log of `GET /_sandbox/requests`.
#[derive(Debug, Default)]
pub struct RequestLog {
    pub entries: std::collections::VecDeque<Value>,
    pub dropped: u64,
}

/// State shared by every handler (the AgentPhone routes too).
pub struct Inner {
    pub opts: SandboxOptions,
    pub clock: Clock,
    data: RwLock<Data>,
    pub log: Mutex<RequestLog>,
    pub ws_tx: broadcast::Sender<WsCmd>,
    pub ws_received: Mutex<Vec<Value>>,
    /// What the stand-in agent received (`GET /agent/received`), oldest
    /// first, at most [`agent::MAX_RECEIVED`].
    pub agent_received: Mutex<Vec<Value>>,
    /// Woken whenever a /ws client sends something.
    pub ws_notify: Notify,
    pub ws_clients: AtomicUsize,
    /// Rate limit bucket: (last refill, tokens left).
    limiter: Mutex<(Instant, f64)>,
    rng: Mutex<StdRng>,
    /// Sandbox time (ms) of the next item in `Data::due` (cheap check per request).
    next_due: AtomicI64,
    /// The stand-in agent's session transcripts.
    transcripts: Mutex<agent::Transcripts>,
}

/// The shared state handle (`State<Shared>` in handlers).
pub type Shared = Arc<Inner>;

impl Inner {
    fn new(opts: SandboxOptions) -> Inner {
        let burst = f64::from(opts.rate_limit.unwrap_or(0));
        let rng = match opts.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Inner {
            clock: Clock::starting(opts.speed, opts.start),
            opts,
            data: RwLock::new(Data::default()),
            log: Mutex::new(RequestLog::default()),
            ws_tx: broadcast::channel(4096).0,
            ws_received: Mutex::new(Vec::new()),
            agent_received: Mutex::new(Vec::new()),
            ws_notify: Notify::new(),
            ws_clients: AtomicUsize::new(0),
            limiter: Mutex::new((Instant::now(), burst)),
            rng: Mutex::new(rng),
            next_due: AtomicI64::new(i64::MAX),
            transcripts: Mutex::default(),
        }
    }

    /// Read access to the data (a poisoned lock is recovered: the data is
    /// plain values, always consistent between statements).
    pub fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The stand-in agent's transcripts (a poisoned lock is recovered).
    pub fn transcripts(&self) -> std::sync::MutexGuard<'_, agent::Transcripts> {
        self.transcripts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the data. Call [`Inner::rearm`] after scheduling due items.
    pub fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Record the time of the next due item after `Data::schedule`.
    pub fn rearm(&self, data: &Data) {
        self.next_due.store(data.next_due(), Ordering::Relaxed);
    }

    /// Whether `key` is accepted (every `cc_test_…` key, or the configured one).
    pub fn key_ok(&self, key: &str) -> bool {
        key.starts_with("cc_test_") || self.opts.api_key.as_deref().is_some_and(|k| !k.is_empty() && k == key)
    }

    /// Send an event to every authenticated /ws client (flat, as the service
    /// does: `{"type":"event","event":NAME, ...fields}`).
    pub fn push_event(&self, name: &str, fields: Value) {
        let mut m = Map::new();
        m.insert("type".into(), json!("event"));
        m.insert("event".into(), json!(name));
        if let Value::Object(f) = fields {
            for (k, v) in f {
                if k != "type" && k != "event" {
                    m.insert(k, v);
                }
            }
        }
        self.push_raw(&Value::Object(m));
    }

    /// Send any JSON frame to authenticated /ws clients.
    pub fn push_raw(&self, msg: &Value) {
        let _ = self.ws_tx.send(WsCmd::Send(Arc::from(msg.to_string())));
    }

    /// Apply everything that became due on the sandbox clock: auto-sync of
    /// plan steps, `call.ended` and automatic approval decisions.
    pub fn settle(&self) {
        let now = self.clock.now();
        if now.timestamp_millis() < self.next_due.load(Ordering::Relaxed) {
            return;
        }
        let mut pushes: Vec<(&'static str, Value)> = Vec::new();
        {
            let mut d = self.write();
            for due in d.take_due(now) {
                api::on_due(&mut d, &self.opts, due, &mut pushes);
            }
            self.rearm(&d);
        }
        for (name, fields) in pushes {
            self.push_event(name, fields);
        }
    }

    fn record(&self, entry: Value) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.entries.len() >= REQUEST_LOG_CAP {
            log.entries.pop_front();
            log.dropped += 1;
        }
        log.entries.push_back(entry);
    }

    /// `Some(retry_after_seconds)` when this request is over the rate limit:
    /// a bucket of N requests refilled at N a minute (a burst of N, then one
    /// every 60/N s), so `Retry-After` is the wait for the next free one.
    fn over_rate_limit(&self) -> Option<u64> {
        let limit = f64::from(self.opts.rate_limit?);
        let mut l = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let tokens = (l.1 + now.duration_since(l.0).as_secs_f64() * limit / 60.0).min(limit);
        *l = (now, tokens);
        if tokens >= 1.0 {
            l.1 = tokens - 1.0;
            return None;
        }
        Some(((1.0 - tokens) * 60.0 / limit).ceil().max(1.0) as u64)
    }

    fn injected_failure(&self) -> bool {
        if self.opts.fail_rate <= 0.0 {
            return false;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.random::<f64>() < self.opts.fail_rate
    }
}

/// An error answer with the service's envelope: `{"error":{"code","message"}}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, format!("{what} {id:?} not found"))
    }
    pub fn unprocessable(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::UNPROCESSABLE_ENTITY, msg.into())
    }
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = match self.0.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            404 => "not_found",
            409 => "conflict",
            422 => "unprocessable_entity",
            429 => "rate_limited",
            503 => "service_unavailable",
            _ => "error",
        };
        (self.0, axum::Json(json!({"error": {"code": code, "message": self.1}}))).into_response()
    }
}

/// Handler result.
pub type ApiResult = std::result::Result<Response, ApiError>;

/// 200 with a JSON body.
pub fn ok(v: Value) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

/// 201 with a JSON body.
pub fn created(v: Value) -> ApiResult {
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

/// 204, empty body.
pub fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The request body as a JSON object (400 with the parser's message otherwise).
pub fn body_object(body: &Bytes) -> std::result::Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body must be a JSON object; it was empty"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::bad_request(format!("the request body must be a JSON object, got {other}"))),
        Err(e) => Err(ApiError::bad_request(format!("the request body is not valid JSON: {e}"))),
    }
}

/// A required non-empty string field (422 naming it otherwise).
pub fn req_str(b: &Map<String, Value>, field: &str) -> std::result::Result<String, ApiError> {
    match b.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(ApiError::unprocessable(format!("{field} is required (a non-empty string)")))
        }
        Some(v) => Err(ApiError::unprocessable(format!("{field} must be a string, got {v}"))),
    }
}

/// An optional string field (422 when present with another type).
pub fn opt_str(b: &Map<String, Value>, field: &str) -> std::result::Result<Option<String>, ApiError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ApiError::unprocessable(format!("{field} must be a string, got {v}"))),
    }
}

/// An E.164 number field, checked like the service does.
pub fn e164(field: &str, v: &str) -> std::result::Result<String, ApiError> {
    crate::validate::phone(field, v).map_err(|e| ApiError::unprocessable(e.to_string()))
}

/// The gate in front of every API route: record the request, then
/// authenticate, rate-limit and inject failures (in that order), so that a
/// refused request never changes any state.
async fn gate(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, 4 << 20).await {
        Ok(b) => b,
        Err(_) => return ApiError(StatusCode::PAYLOAD_TOO_LARGE, "request body too large".into()).into_response(),
    };
    let body_json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let method = parts.method.to_string();
    // Nested routers see the path without `/v1`: record the original one.
    let path = match parts.extensions.get::<axum::extract::OriginalUri>() {
        Some(o) => o.0.path().to_string(),
        None => parts.uri.path().to_string(),
    };
    let query = parts.uri.query().unwrap_or_default().to_string();

    let key = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .unwrap_or_default();
    let response = if !s.key_ok(key) {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "invalid or missing API key: send Authorization: Bearer cc_test_… (any cc_test_ key works in the sandbox)"
                .into(),
        )
        .into_response()
    } else if let Some(retry_after) = s.over_rate_limit() {
        let mut r = ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate limit of {} requests a minute exceeded", s.opts.rate_limit.unwrap_or_default()),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    } else if s.injected_failure() {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, "sandbox: injected failure (--fail-rate)".into()).into_response()
    } else {
        s.settle();
        next.run(Request::from_parts(parts, Body::from(bytes))).await
    };
    s.record(json!({
        "method": method,
        "path": path,
        "query": query,
        "body": body_json,
        "status": response.status().as_u16(),
        "at": model::rfc3339(s.clock.now()),
    }));
    response
}

/// Every reply says the sandbox's own time in `Date` (not the machine's:
/// hyper adds one only when none is set) and its speed in `X-Clock-Speed`,
/// so a client follows a fast sandbox with no setting at all
/// (docs/protocol.md#service-clock).
async fn clock_headers(State(s): State<Shared>, mut r: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&crate::clock::http_date(s.clock.now())) {
        r.headers_mut().insert(header::DATE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&s.clock.speed().to_string()) {
        r.headers_mut().insert(crate::clock::SPEED_HEADER, v);
    }
    r
}

async fn not_found(req: Request) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no such route: {} {}", req.method(), req.uri().path()))
}

/// The whole application for a shared state.
pub fn app(shared: Shared) -> Router {
    let v1 = api::router()
        .merge(direct::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate));
    Router::new()
        .nest("/v1", v1)
        .route("/ws", axum::routing::get(ws::handler))
        .nest("/_sandbox", control::router())
        // AgentPhone (docs/protocol.md#agentphone): src/sandbox/agentphone.rs.
        .nest(agentphone::BASE_PATH, agentphone::router())
        .nest(agent::BASE_PATH, agent::router())
        .fallback(not_found)
        .layer(axum::middleware::map_response_with_state(shared.clone(), clock_headers))
        .with_state(shared)
}

/// A running sandbox. Dropping it stops the server too.
pub struct SandboxHandle {
    pub addr: SocketAddr,
    pub shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT` (the site root, `server` in skill-config.json).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1` (what `CLAWDTALK_API_URL` takes).
    pub fn api_url(&self) -> String {
        format!("{}/v1", self.root_url())
    }

    /// The sandbox clock for tests and demos (`GET` → `{"now": …}`). Clients
    /// need not read it: every reply carries the same time in `Date`.
    pub fn clock_url(&self) -> String {
        format!("{}/_sandbox/clock", self.root_url())
    }

    /// The stand-in agent's `gateway_url` (answers only with `--agent`).
    pub fn gateway_url(&self) -> String {
        format!("{}{}", self.root_url(), agent::BASE_PATH)
    }

    /// Stop serving: close /ws sockets (1001), stop accepting, wait for the server task.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    fn stop_now(&mut self) {
        let _ = self.shared.ws_tx.send(WsCmd::Drop(1001));
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Start a sandbox on 127.0.0.1 (`opts.port`, 0 = free port).
pub async fn start(opts: SandboxOptions) -> Result<SandboxHandle> {
    if !(0.0..=1.0).contains(&opts.fail_rate) {
        return Err(Error::usage(format!("--fail-rate must be between 0 and 1, got {}", opts.fail_rate)));
    }
    if !(opts.speed.is_finite() && opts.speed > 0.0) {
        return Err(Error::usage(format!("--speed must be a positive number, got {}", opts.speed)));
    }
    if opts.rate_limit == Some(0) {
        return Err(Error::usage("--rate-limit must be at least 1 request a minute"));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| Error::failed(format!("cannot listen on 127.0.0.1:{}: {e}", opts.port)))?;
    let addr = listener.local_addr().map_err(|e| Error::failed(format!("cannot read the listening address: {e}")))?;
    let shared: Shared = Arc::new(Inner::new(opts));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let app = app(shared.clone());
    let ticker_state = shared.clone();
    let task = tokio::spawn(async move {
        // The ticker plays out due side effects (pushes on /ws, auto-sync)
        // even when nobody is asking.
        let ticker = tokio::spawn(async move {
            let mut iv = tokio::time::interval(std::time::Duration::from_millis(50));
            loop {
                iv.tick().await;
                ticker_state.settle();
            }
        });
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
        ticker.abort();
    });
    Ok(SandboxHandle { addr, shared, stop: Some(stop_tx), task: Some(task) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_keys_and_configured_key_pass() {
        let s = Inner::new(SandboxOptions { api_key: Some("cc_live_custom".into()), ..Default::default() });
        assert!(s.key_ok("cc_test_abc"));
        assert!(s.key_ok("cc_live_custom"));
        assert!(!s.key_ok("cc_live_other"));
        assert!(!s.key_ok(""));
    }

    #[test]
    fn rate_limit_allows_a_burst_of_n_then_says_when_the_next_is_free() {
        let s = Inner::new(SandboxOptions { rate_limit: Some(2), ..Default::default() });
        assert!(s.over_rate_limit().is_none());
        assert!(s.over_rate_limit().is_none());
        // 2 a minute: the next request is free in (at most) 30 s.
        assert_eq!(s.over_rate_limit(), Some(30));
        let fast = Inner::new(SandboxOptions { rate_limit: Some(600), ..Default::default() });
        for _ in 0..600 {
            assert!(fast.over_rate_limit().is_none());
        }
        assert_eq!(fast.over_rate_limit(), Some(1));
        std::thread::sleep(std::time::Duration::from_millis(150)); // 600 a minute: one every 100 ms
        assert!(fast.over_rate_limit().is_none());
    }

    #[test]
    fn seeded_fail_rate_is_deterministic() {
        let draw = || {
            let s = Inner::new(SandboxOptions { fail_rate: 0.5, seed: Some(7), ..Default::default() });
            (0..64).map(|_| s.injected_failure()).collect::<Vec<_>>()
        };
        let a = draw();
        assert_eq!(a, draw());
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }

    #[test]
    fn body_errors_say_what_is_wrong() {
        assert!(body_object(&Bytes::from_static(b"")).unwrap_err().1.contains("empty"));
        assert!(body_object(&Bytes::from_static(b"{")).unwrap_err().1.contains("not valid JSON"));
        assert!(body_object(&Bytes::from_static(b"[1]")).unwrap_err().1.contains("object"));
    }
}
