//! An in-process sandbox on a free port, running in a background runtime,
//! with small blocking helpers for the API and the control API.

use reqwest::Method;
use serde_json::Value;

use clawdtalk::sandbox::SandboxHandle;
pub use clawdtalk::sandbox::SandboxOptions;

use super::TEST_KEY;

/// An answer: status, headers, JSON body (Null when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

pub struct TestSandbox {
    pub handle: Option<SandboxHandle>,
    /// `http://127.0.0.1:PORT`
    pub root: String,
    /// `http://127.0.0.1:PORT/v1`
    pub api: String,
    client: reqwest::Client,
    pub rt: tokio::runtime::Runtime,
}

impl TestSandbox {
    pub fn start() -> TestSandbox {
        TestSandbox::with(SandboxOptions::default())
    }

    pub fn with(opts: SandboxOptions) -> TestSandbox {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let handle = rt.block_on(clawdtalk::sandbox::start(opts)).expect("sandbox starts");
        TestSandbox {
            root: handle.root_url(),
            api: handle.api_url(),
            handle: Some(handle),
            client: reqwest::Client::new(),
            rt,
        }
    }

    /// A request with the test key; `path` from the root (e.g. `/v1/missions`).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call_as(Some(TEST_KEY), method, path, body)
    }

    /// A request with `key` (None: no Authorization header).
    pub fn call_as(&self, key: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Resp {
        let url = format!("{}{}", self.root, path);
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        self.rt.block_on(async {
            let mut rb = self.client.request(m, &url);
            if let Some(k) = key {
                rb = rb.bearer_auth(k);
            }
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            let r = rb.send().await.expect("request reaches the sandbox");
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let text = r.text().await.unwrap();
            let json =
                if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
            Resp { status, headers, json }
        })
    }

    /// A raw body (for malformed-JSON tests).
    pub fn call_raw(&self, method: &str, path: &str, body: &'static str) -> Resp {
        let url = format!("{}{}", self.root, path);
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        self.rt.block_on(async {
            let r = self
                .client
                .request(m, &url)
                .bearer_auth(TEST_KEY)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let json = r.json().await.unwrap_or(Value::Null);
            Resp { status, headers, json }
        })
    }

    /// GET a control route (`clock`, `state`, …), asserting 200.
    pub fn control_get(&self, route: &str) -> Value {
        let r = self.call_as(None, "GET", &format!("/_sandbox/{route}"), None);
        assert_eq!(r.status, 200, "GET /_sandbox/{route}: {:?}", r.json);
        r.json
    }

    /// POST a control route, asserting 200.
    pub fn control_post(&self, route: &str, body: Value) -> Value {
        let r = self.call_as(None, "POST", &format!("/_sandbox/{route}"), Some(body));
        assert_eq!(r.status, 200, "POST /_sandbox/{route}: {:?}", r.json);
        r.json
    }

    /// Move the sandbox clock forward.
    pub fn advance(&self, seconds: f64) {
        self.control_post("clock/advance", serde_json::json!({ "seconds": seconds }));
    }

    /// An RFC 3339 time `secs` seconds ahead of the real clock.
    pub fn in_secs(secs: i64) -> String {
        (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}
