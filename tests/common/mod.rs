//! Test support: a recording HTTP server on 127.0.0.1:0 and a builder for
//! the `clawdtalk` binary with an isolated environment (no user config, no
//! state file, nothing from the developer's shell).
#![allow(dead_code)]

pub mod campaign;
pub mod missions;
pub mod raw;
pub mod sandbox;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub const TEST_KEY: &str = "cc_test_0123456789abcdef";

/// One request the recorder received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Raw query string (percent-encoded), empty when none.
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body parsed as JSON (Null when empty).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).expect("request body is JSON")
        }
    }
    /// Query pairs, percent-decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes()).into_owned().collect()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// A canned reply: status and JSON body (or raw text).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply { status, body: body.to_string(), headers: vec![] }
    }
    pub fn empty(status: u16) -> Reply {
        Reply { status, body: String::new(), headers: vec![] }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

#[derive(Default)]
struct Shared {
    requests: Vec<Recorded>,
    /// (METHOD, path) → queue of replies; the last one repeats.
    routes: HashMap<(String, String), Vec<Reply>>,
}

/// A local HTTP server that records every request and answers from a script.
/// Unscripted requests get `200 {}`.
pub struct Recorder {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    _rt: tokio::runtime::Runtime,
}

impl Recorder {
    pub fn start() -> Recorder {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = axum::Router::new().fallback(record).with_state(shared.clone());
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Recorder { addr, shared, _rt: rt }
    }

    /// The API base (`http://127.0.0.1:PORT/v1`).
    pub fn api_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Script replies for `METHOD path` (path without query, including `/v1`).
    /// Replies are used in order; the last repeats.
    pub fn on(&self, method: &str, path: &str, replies: Vec<Reply>) {
        self.shared.lock().unwrap().routes.insert((method.to_string(), path.to_string()), replies);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// The only request received besides at most one sample of the
    /// service clock (`GET /v1/missions?page[size]=1`, made first by a
    /// command that needs the service's time and has no recent sample).
    pub fn single_besides_clock_sample(&self) -> Recorded {
        let mut r = self.requests();
        if r.len() == 2 && r[0].method == "GET" && r[0].path == "/v1/missions" && r[0].query == "page[size]=1" {
            r.remove(0);
        }
        assert_eq!(r.len(), 1, "expected exactly one request, got {r:#?}");
        r.into_iter().next().unwrap()
    }

    /// The only request received; panics when there were none or several.
    pub fn single(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(r.len(), 1, "expected exactly one request, got {r:#?}");
        r.into_iter().next().unwrap()
    }
}

async fn record(
    State(shared): State<Arc<Mutex<Shared>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: body.to_vec(),
    };
    let mut s = shared.lock().unwrap();
    s.requests.push(rec);
    let key = (method.to_string(), uri.path().to_string());
    let reply = match s.routes.get_mut(&key) {
        Some(q) if q.len() > 1 => q.remove(0),
        Some(q) if q.len() == 1 => q[0].clone(),
        _ => Reply::json(200, serde_json::json!({})),
    };
    let mut resp = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    resp.headers_mut().insert("content-type", "application/json".parse().unwrap());
    for (k, v) in reply.headers {
        resp.headers_mut().insert(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    resp
}

/// An isolated home for one test: HOME, XDG dirs and the working directory
/// all point inside a temporary directory.
pub struct Sandboxed {
    pub dir: tempfile::TempDir,
}

impl Sandboxed {
    pub fn new() -> Sandboxed {
        Sandboxed { dir: tempfile::tempdir().unwrap() }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn home(&self) -> PathBuf {
        let h = self.dir.path().join("home");
        std::fs::create_dir_all(&h).unwrap();
        h
    }
    pub fn work(&self) -> PathBuf {
        let w = self.dir.path().join("work");
        std::fs::create_dir_all(&w).unwrap();
        w
    }

    /// The `clawdtalk` binary with a clean environment, run in `work()`.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("clawdtalk").unwrap();
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("XDG_DATA_HOME", self.home().join(".local/share"))
            .env("NO_COLOR", "1")
            .current_dir(self.work());
        c
    }

    /// `cmd()` pointed at `api_url` with the test key.
    pub fn api(&self, api_url: &str) -> assert_cmd::Command {
        let mut c = self.cmd();
        c.env("CLAWDTALK_API_URL", api_url).env("CLAWDTALK_API_KEY", TEST_KEY);
        c
    }
}

/// Run `cmds` at the same moment (each from its own thread, all released
/// by one barrier) and assert each succeeded: for tests of concurrent
/// writers.
pub fn run_at_once(cmds: Vec<assert_cmd::Command>) -> Vec<std::process::Output> {
    let start = std::sync::Barrier::new(cmds.len());
    let outs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = cmds
            .into_iter()
            .map(|mut c| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    c.output().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    }
    outs
}
