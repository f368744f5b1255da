//! Test support for running commands beside their code: an in-process fake
//! HTTP service that records every request and answers from a script, and a
//! [`Harness`] that builds a [`Context`] around it (fixed clock, temporary
//! state file, clients pointed at the fake with short retry delays, a JSON or
//! human printer). The integration tests in `tests/` have their own recorder
//! for the binary; this one runs inside the test's own runtime.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::agentphone::AgentPhone;
use crate::api::{Client, RetryPolicy};
use crate::cli::{Cli, Command};
use crate::clock::FixedClock;
use crate::commands::{ClientFactory, Context, ProgressStyle};
use crate::config::{Config, MapEnv, Overrides};
use crate::output::{render_blocks, Outcome, Printer};

/// The ClawdTalk key every harness context carries.
pub const TEST_KEY: &str = "cc_test_0123456789abcdef";
/// The AgentPhone key every harness context carries.
pub const AGENTPHONE_KEY: &str = "ap_test_0123456789abcdef";
/// Where the fake serves the ClawdTalk API.
pub const API_PREFIX: &str = "/v1";
/// Where the fake serves the AgentPhone API.
pub const AGENTPHONE_PREFIX: &str = "/agentphone/v1";
/// The time a harness clock starts at.
pub const NOW: &str = "2026-01-01T12:00:00Z";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw query string, empty when none.
    pub query: String,
    /// Header names lower-case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON (`Null` when empty or not JSON, which a test comparing
    /// it to an expected document reports as a mismatch).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Query pairs, percent-decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes()).into_owned().collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// `"METHOD /path"`, for comparing sequences of requests at a glance.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A scripted reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply { status, body: body.to_string(), headers: Vec::new() }
    }

    /// `200` with `body`.
    pub fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }

    /// An error envelope the way the service sends one.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, json!({"error": {"message": message}}))
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

#[derive(Default)]
struct Script {
    requests: Vec<Recorded>,
    /// (METHOD, path) → replies used in order; the last one repeats.
    routes: HashMap<(String, String), Vec<Reply>>,
}

/// An HTTP server on 127.0.0.1:0, spawned on the test's runtime, that
/// records every request and answers from a script per (method, path);
/// anything unscripted gets `200 {}`.
pub struct FakeService {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeService {
    pub async fn start() -> FakeService {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = axum::Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeService { addr, script, server }
    }

    /// The ClawdTalk API base (`http://127.0.0.1:PORT/v1`).
    pub fn api_url(&self) -> String {
        format!("http://{}{API_PREFIX}", self.addr)
    }

    /// The AgentPhone API base.
    pub fn agentphone_url(&self) -> String {
        format!("http://{}{AGENTPHONE_PREFIX}", self.addr)
    }

    /// Script the replies to `METHOD path` (the full path, prefix included;
    /// no query). They are used in order and the last one repeats.
    pub fn on(&self, method: &str, path: &str, replies: Vec<Reply>) {
        self.lock().routes.insert((method.to_string(), path.to_string()), replies);
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The only request received; panics when there were none or several.
    pub fn single(&self) -> Recorded {
        let mut r = self.requests();
        assert_eq!(r.len(), 1, "expected exactly one request, got {r:#?}");
        r.remove(0)
    }

    /// `"METHOD /path"` of every request so far.
    pub fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::line).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeService {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut s = script.lock().unwrap_or_else(|p| p.into_inner());
        s.requests.push(Recorded {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body: body.to_vec(),
        });
        match s.routes.get_mut(&(method.to_string(), uri.path().to_string())) {
            Some(q) if q.len() > 1 => q.remove(0),
            Some(q) if !q.is_empty() => q[0].clone(),
            _ => Reply::ok(json!({})),
        }
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, reply.body).into_response();
    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// Clients from the configuration with retries that wait milliseconds, not
/// seconds, so error paths (5xx, 429) stay fast.
#[derive(Debug, Clone, Copy)]
pub struct QuickRetries;

/// The retry policy [`QuickRetries`] gives every client.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        rate_limit_wait: None,
    }
}

impl ClientFactory for QuickRetries {
    fn clawdtalk(&self, config: &Config) -> crate::Result<Client> {
        Ok(Client::from_config(config)?.with_retry(quick_retry()))
    }

    fn agentphone(&self, config: &Config, rate_limit_wait: Duration) -> crate::Result<AgentPhone> {
        AgentPhone::from_config(config, rate_limit_wait)
    }
}

/// A context around a [`FakeService`]: both services' URLs and keys point
/// at the fake, the clock stands at [`NOW`], the state file lives in a
/// temporary directory (which is also the working directory), progress is
/// hidden, nothing is interactive.
pub struct Harness {
    pub service: FakeService,
    pub clock: Arc<FixedClock>,
    dir: tempfile::TempDir,
    json: bool,
    with_key: bool,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness {
            service: FakeService::start().await,
            clock: Arc::new(FixedClock::new(time(NOW))),
            dir: tempfile::tempdir().expect("temporary directory"),
            json: false,
            with_key: true,
        }
    }

    /// Contexts print JSON (`--json`).
    pub fn json(mut self) -> Harness {
        self.json = true;
        self
    }

    /// Contexts carry neither key (the configuration error paths).
    pub fn without_keys(mut self) -> Harness {
        self.with_key = false;
        self
    }

    /// The mission state file the contexts use (not created until written).
    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("missions_state.json")
    }

    /// The temporary directory (the contexts' working directory).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Put mission `slug` in the state file with every field of `fields`
    /// (a JSON object) set on it, as an earlier command would have left it.
    pub fn seed(&self, slug: &str, fields: Value) {
        let slug = slug.to_string();
        let fields = fields.as_object().cloned().unwrap_or_default();
        self.ctx()
            .state()
            .expect("state file location")
            .update(move |st| {
                let m = st.mission_or_create(&slug);
                for (k, v) in fields {
                    m.set(&k, v);
                }
                Ok(())
            })
            .expect("seed the state file");
    }

    /// The state file as the commands left it.
    pub fn state(&self) -> crate::state::State {
        self.ctx().state().expect("state file location").read().expect("read the state file")
    }

    /// The event journal the commands append to.
    pub fn journal_path(&self) -> std::path::PathBuf {
        self.dir.path().join("journal.ndjson")
    }

    /// The journal's events as the commands left them.
    pub fn journal(&self) -> Vec<crate::journal::Record> {
        std::fs::read_to_string(self.journal_path())
            .unwrap_or_default()
            .lines()
            .map(|l| crate::journal::follow::parse_line(l).expect("a journal line"))
            .collect()
    }

    /// A context for one command run.
    pub fn ctx(&self) -> Context {
        let mut env = MapEnv::default().with("AGENTPHONE_API_URL", &self.service.agentphone_url());
        if self.with_key {
            env = env.with("AGENTPHONE_API_KEY", AGENTPHONE_KEY);
        }
        let overrides = Overrides {
            api_key: self.with_key.then(|| TEST_KEY.to_string()),
            api_url: Some(self.service.api_url()),
            config_path: None,
        };
        let mut config = Config::resolve_with_file(&overrides, &env, None).expect("test configuration");
        // Anything that probes the gateway probes the fake instead.
        config.gateway_url = format!("http://{}", self.service.addr);
        Context {
            config,
            printer: Printer { json: self.json, color: false, stamp: false },
            clock: self.clock.clone(),
            service_clock: None,
            clients: Arc::new(QuickRetries),
            progress: ProgressStyle::Hidden,
            state_override: Some(self.state_path()),
            config_path: None,
            cwd: self.dir.path().to_path_buf(),
            interactive: false,
            journal: Some(Arc::new(crate::journal::Journal::at(self.journal_path()))),
            data_dir: Some(self.dir.path().to_path_buf()),
        }
    }
}

/// An RFC 3339 time.
pub fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("RFC 3339 time").with_timezone(&Utc)
}

/// What a person would see on stdout for `o`.
pub fn text(o: &Outcome) -> String {
    render_blocks(&o.blocks)
}

/// The command `clawdtalk ARGS…` parses to (clap's defaults filled in, as
/// a user would get them); panics with clap's message when it does not parse.
pub fn parse(args: &[&str]) -> Command {
    use clap::Parser;
    match Cli::try_parse_from(std::iter::once("clawdtalk").chain(args.iter().copied())) {
        Ok(cli) => cli.command,
        Err(e) => panic!("clawdtalk {args:?} does not parse: {e}"),
    }
}
