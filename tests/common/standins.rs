//! Stand-ins for `connect` tests and benchmarks: a WebSocket server playing
//! the ClawdTalk `/ws` side, and an agent gateway (`POST /tools/invoke`).
//! Each runs on its own runtime on 127.0.0.1:0.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// Poll `f` until it returns `Some`, or panic after `within`.
pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[derive(Clone, Debug)]
enum Ctl {
    /// Close every socket: with this close code, or abruptly when `None`.
    Drop(Option<u16>),
    /// Send all these frames, as fast as the socket takes them.
    Flood(Arc<Vec<String>>),
}

#[derive(Default)]
pub struct WsShared {
    /// Every text message clients sent, in order (auth included).
    pub received: Vec<Value>,
    /// Successful authentications.
    pub auths: usize,
    /// Times an authed client was accepted (instants), for reconnection timing.
    pub auth_times: Vec<Instant>,
    /// Answer the next N upgrade requests with HTTP 429.
    pub reject_429: usize,
    /// Close each new socket right after auth_ok with this code, N times.
    pub takeover: Option<(u16, usize)>,
    /// After auth, stop reading the socket (so pings are never answered).
    pub mute: bool,
    /// HTTP API requests (`/v1/...`) on the same address: (method, path, body).
    pub api: Vec<(String, String, Value)>,
}

/// The ClawdTalk `/ws` side.
pub struct WsStandIn {
    pub addr: SocketAddr,
    pub key: String,
    pub shared: Arc<Mutex<WsShared>>,
    events: broadcast::Sender<String>,
    ctl: broadcast::Sender<Ctl>,
    rt: tokio::runtime::Runtime,
}

#[derive(Clone)]
struct WsState {
    key: String,
    shared: Arc<Mutex<WsShared>>,
    events: broadcast::Sender<String>,
    ctl: broadcast::Sender<Ctl>,
}

impl WsStandIn {
    pub fn start(key: &str) -> WsStandIn {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let shared = Arc::new(Mutex::new(WsShared::default()));
        let (events, _) = broadcast::channel(4096);
        let (ctl, _) = broadcast::channel(16);
        let st = WsState { key: key.to_string(), shared: shared.clone(), events: events.clone(), ctl: ctl.clone() };
        let app = axum::Router::new().route("/ws", axum::routing::get(upgrade)).fallback(api).with_state(st);
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WsStandIn { addr, key: key.to_string(), shared, events, ctl, rt }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Send `{"type":"event","event":event}` to every authed client.
    pub fn inject(&self, event: Value) {
        let _ = self.events.send(json!({"type":"event","event":event}).to_string());
    }

    /// Send `{"type":"event","event":e}` for every `e` to every authed client, back to back.
    pub fn flood(&self, events: impl IntoIterator<Item = Value>) {
        let frames = events.into_iter().map(|e| json!({"type":"event","event":e}).to_string()).collect();
        let _ = self.ctl.send(Ctl::Flood(Arc::new(frames)));
    }

    /// API requests received with this method and path.
    pub fn api_requests(&self, method: &str, path: &str) -> Vec<Value> {
        let s = self.shared.lock().unwrap();
        s.api.iter().filter(|(m, p, _)| m == method && p == path).map(|(_, _, b)| b.clone()).collect()
    }

    /// Close every socket (with a close code, or abruptly).
    pub fn drop_all(&self, code: Option<u16>) {
        let _ = self.ctl.send(Ctl::Drop(code));
    }

    pub fn auths(&self) -> usize {
        self.shared.lock().unwrap().auths
    }

    pub fn received(&self) -> Vec<Value> {
        self.shared.lock().unwrap().received.clone()
    }

    /// Messages of one `type` the clients sent.
    pub fn sent_of(&self, kind: &str) -> Vec<Value> {
        self.received().into_iter().filter(|m| m["type"] == kind).collect()
    }

    /// Wait until a message of `kind` matching `pred` arrives.
    pub fn wait_msg(&self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(&format!("a {kind} message"), Duration::from_secs(10), || {
            self.sent_of(kind).into_iter().find(|m| pred(m))
        })
    }

    pub fn wait_auths(&self, n: usize) {
        wait_for(&format!("{n} authentications"), Duration::from_secs(10), || (self.auths() >= n).then_some(()));
    }
}

async fn upgrade(State(st): State<WsState>, ws: WebSocketUpgrade) -> Response {
    {
        let mut s = st.shared.lock().unwrap();
        if s.reject_429 > 0 {
            s.reject_429 -= 1;
            return (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
        }
    }
    ws.on_upgrade(move |socket| serve(socket, st))
}

async fn serve(mut socket: WebSocket, st: WsState) {
    let Some(Ok(Message::Text(auth))) = socket.recv().await else { return };
    let auth: Value = serde_json::from_str(&auth).unwrap_or(Value::Null);
    st.shared.lock().unwrap().received.push(auth.clone());
    if auth["type"] != "auth" || auth["api_key"] != st.key.as_str() {
        let _ = socket
            .send(Message::Text(json!({"type":"auth_error","message":"Invalid API key"}).to_string().into()))
            .await;
        let _ = socket.send(Message::Close(None)).await;
        return;
    }
    // subscribe before auth_ok so no event injected after the client is authed is missed
    let mut events = st.events.subscribe();
    let mut ctl = st.ctl.subscribe();
    let _ = socket.send(Message::Text(json!({"type":"auth_ok"}).to_string().into())).await;
    let (takeover, mute) = {
        let mut s = st.shared.lock().unwrap();
        s.auths += 1;
        s.auth_times.push(Instant::now());
        let t = match &mut s.takeover {
            Some((code, n)) if *n > 0 => {
                *n -= 1;
                Some(*code)
            }
            _ => None,
        };
        (t, s.mute)
    };
    if let Some(code) = takeover {
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: "replaced".into() }))).await;
        return;
    }
    if mute {
        // hold the socket without reading: pings go unanswered
        let _ = ctl.recv().await;
        return;
    }
    loop {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    st.shared.lock().unwrap().received.push(v);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            e = events.recv() => match e {
                Ok(text) => { let _ = socket.send(Message::Text(text.into())).await; }
                Err(_) => return,
            },
            c = ctl.recv() => match c {
                Ok(Ctl::Flood(frames)) => {
                    for f in frames.iter() {
                        if socket.send(Message::Text(f.clone().into())).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(Ctl::Drop(Some(code))) => {
                    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: "dropped".into() }))).await;
                    return;
                }
                _ => return,
            }
        }
    }
}

/// The ClawdTalk HTTP API on the same address as `/ws` (what the binary
/// uses): records each request; approvals stay pending, SMS are accepted.
async fn api(
    State(st): State<WsState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    let path = uri.path().to_string();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = {
        let mut s = st.shared.lock().unwrap();
        s.api.push((method.to_string(), path.clone(), value));
        s.api.len()
    };
    let reply = match (method.as_str(), path.as_str()) {
        ("POST", "/v1/approvals") => {
            json!({"request_id": format!("ap{n}"), "devices_notified": 1, "devices_failed": 0})
        }
        ("GET", p) if p.starts_with("/v1/approvals/") => json!({"status": "pending"}),
        ("POST", "/v1/messages/send") => json!({"id": format!("m{n}"), "from": "+15550000000"}),
        _ => json!({}),
    };
    Json(reply).into_response()
}

/// One request the gateway stand-in received.
#[derive(Debug, Clone)]
pub struct GatewayCall {
    pub authorization: Option<String>,
    pub body: Value,
}

impl GatewayCall {
    pub fn message(&self) -> &str {
        self.body["args"]["message"].as_str().unwrap_or_default()
    }
}

/// The agent gateway. It answers `{"ok":true,"result":{"details":{"reply":"Echo: MESSAGE"}}}`;
/// a message containing `slow` waits 1.5 s first, `markdown` gets a markdown reply,
/// `long` a 3,000-character reply, `fail` HTTP 500. [`GatewayStandIn::start_slow`]
/// makes every answer wait; the most requests ever in flight at once are counted.
pub struct GatewayStandIn {
    pub addr: SocketAddr,
    st: Arc<GwState>,
    rt: tokio::runtime::Runtime,
}

#[derive(Default)]
struct GwState {
    calls: Mutex<Vec<GatewayCall>>,
    delay: Duration,
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
}

impl GatewayStandIn {
    pub fn start() -> GatewayStandIn {
        GatewayStandIn::start_slow(Duration::ZERO)
    }

    /// Every answer waits `delay`.
    pub fn start_slow(delay: Duration) -> GatewayStandIn {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let st = Arc::new(GwState { delay, ..Default::default() });
        let app = axum::Router::new().route("/tools/invoke", axum::routing::post(invoke)).with_state(st.clone());
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GatewayStandIn { addr, st, rt }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<GatewayCall> {
        self.st.calls.lock().unwrap().clone()
    }

    /// The most requests that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.st.max_in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn wait_call(&self, pred: impl Fn(&GatewayCall) -> bool) -> GatewayCall {
        wait_for("a gateway call", Duration::from_secs(10), || self.calls().into_iter().find(|c| pred(c)))
    }
}

async fn invoke(State(st): State<Arc<GwState>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    use std::sync::atomic::Ordering::SeqCst;
    let now = st.in_flight.fetch_add(1, SeqCst) + 1;
    st.max_in_flight.fetch_max(now, SeqCst);
    let r = answer(&st, headers, body).await;
    st.in_flight.fetch_sub(1, SeqCst);
    r
}

async fn answer(st: &GwState, headers: HeaderMap, body: Value) -> Response {
    let call = GatewayCall {
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string),
        body,
    };
    let message = call.message().to_string();
    st.calls.lock().unwrap().push(call);
    if !st.delay.is_zero() {
        tokio::time::sleep(st.delay).await;
    }
    if message.contains("slow") {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    if message.contains("fail") {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error":{"message":"agent crashed"}}))).into_response();
    }
    let reply = if message.contains("markdown") {
        "**Sure!**\nHere is [the link](https://example.com).".to_string()
    } else if message.contains("long") {
        "blah ".repeat(600)
    } else {
        format!("Echo: {message}")
    };
    Json(json!({"ok": true, "result": {"details": {"reply": reply}}})).into_response()
}
