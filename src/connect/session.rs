//! The connection loop: connect, authenticate, keep alive, reconnect.
//!
//! One writer task per socket drains a channel that every request task
//! feeds, so a slow request never holds the socket and several requests run
//! at once. The channel outlives the socket: answers produced while the
//! client reconnects are sent on the next socket.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::handler::Handler;
use super::limits::Counts;
use super::protocol::{ClientMessage, ServerMessage};
use super::Settings;
use crate::error::{Error, Result};

/// Close code the server uses when another client connected with the same key.
pub const CLOSE_TAKEN_OVER: u16 = 4000;
/// That many takeovers in a row mean a duplicate client is running.
pub const TAKEOVERS_BEFORE_STOP: u32 = 3;

/// The client's link state, published for `connect status` and tests.
#[derive(Debug, Clone, Serialize)]
pub struct LinkState {
    /// `starting`, `connecting`, `connected`, `waiting` (to reconnect), `stopped`.
    pub state: &'static str,
    pub connected: bool,
    /// Successful authentications so far.
    pub authentications: u64,
    /// Why the last connection ended or failed.
    pub last_error: Option<String>,
    pub since: DateTime<Utc>,
    /// What has been done with inbound messages (refreshed every second).
    pub counts: Counts,
}

impl Default for LinkState {
    fn default() -> Self {
        LinkState {
            state: "starting",
            connected: false,
            authentications: 0,
            last_error: None,
            since: Utc::now(),
            counts: Counts::default(),
        }
    }
}

/// How often the counts are copied into the link state (and so the status file).
const COUNTS_EVERY: Duration = Duration::from_secs(1);
/// How often changed counts are written to the log.
const COUNTS_LOGGED_EVERY: Duration = Duration::from_secs(60);

fn log_counts(c: &Counts, when: &str) {
    tracing::info!(
        received = c.received,
        processed = c.processed,
        refused = c.refused,
        refused_busy = c.refused_busy,
        refused_throttled = c.refused_throttled,
        in_flight = c.in_flight,
        peak_gateway = c.peak_gateway,
        "inbound messages {when}"
    );
}

/// Copy the handler's counts into the link state every second, and log
/// them every minute when they changed: a flood is visible in `connect
/// status` and in the log while it happens.
async fn publish_counts(handler: Arc<Handler>, state: watch::Sender<LinkState>) {
    let mut tick = tokio::time::interval(COUNTS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut logged = Counts::default();
    let mut last_log = Instant::now();
    loop {
        tick.tick().await;
        let c = handler.counts();
        state.send_if_modified(|s| {
            let changed = s.counts != c;
            s.counts = c;
            changed
        });
        if c != logged && last_log.elapsed() >= COUNTS_LOGGED_EVERY {
            log_counts(&c, "so far");
            logged = c;
            last_log = Instant::now();
        }
    }
}

fn publish(state: &watch::Sender<LinkState>, name: &'static str, error: Option<String>) {
    state.send_modify(|s| {
        s.state = name;
        s.connected = name == "connected";
        if name == "connected" {
            s.authentications += 1;
        }
        if error.is_some() {
            s.last_error = error;
        }
        s.since = Utc::now();
    });
}

/// How one connection ended.
#[derive(Debug)]
enum End {
    Shutdown,
    AuthError(String),
    RateLimited,
    Lost { authed: bool, code: Option<u16>, reason: String },
}

/// Exponential backoff with ±20 % jitter.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { initial, max, attempt: 0 }
    }
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
    pub fn next_delay(&mut self) -> Duration {
        let base = self.initial.saturating_mul(1u32 << self.attempt.min(20)).min(self.max);
        self.attempt += 1;
        base.mul_f64(rand::rng().random_range(0.8..1.2)).min(self.max)
    }
}

/// Run the client until `shutdown` turns true (`Ok`), the server refuses the
/// key, or a duplicate client is detected (`Err`, with a message that says
/// what to do).
pub async fn run(
    settings: Settings,
    state: watch::Sender<LinkState>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let outbox = Arc::new(Mutex::new(out_rx));
    let handler = Arc::new(Handler::new(settings.clone(), out_tx)?);
    let counter = tokio::spawn(publish_counts(Arc::clone(&handler), state.clone()));
    let result = run_loop(&settings, &handler, &outbox, &state, &mut shutdown).await;
    counter.abort();
    let c = handler.counts();
    state.send_modify(|s| s.counts = c);
    log_counts(&c, "in all");
    result
}

async fn run_loop(
    settings: &Settings,
    handler: &Arc<Handler>,
    outbox: &Outbox,
    state: &watch::Sender<LinkState>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let t = settings.timings.clone();
    let mut backoff = Backoff::new(t.backoff_initial, t.backoff_max);
    let mut takeovers = 0u32;
    tracing::info!(url = %settings.ws_url, "starting the ClawdTalk connect client");
    loop {
        publish(state, "connecting", None);
        let end = session(settings, handler, outbox, state, shutdown).await;
        let wait = match end {
            End::Shutdown => {
                publish(state, "stopped", None);
                tracing::info!("stopped");
                return Ok(());
            }
            End::AuthError(msg) => {
                publish(state, "stopped", Some(format!("auth_error: {msg}")));
                return Err(Error::config(format!(
                    "the ClawdTalk server refused the API key ({msg}); not retrying. Check api_key in \
                     skill-config.json or $CLAWDTALK_API_KEY (`clawdtalk check-key --live`)"
                )));
            }
            End::RateLimited => {
                tracing::warn!("the server is rate limiting connections (429); waiting {:?}", t.rate_limit_wait);
                publish(state, "waiting", Some("rate limited (429)".into()));
                t.rate_limit_wait
            }
            End::Lost { authed, code, reason } => {
                if authed {
                    backoff.reset();
                }
                if code == Some(CLOSE_TAKEN_OVER) {
                    takeovers += 1;
                    if takeovers >= TAKEOVERS_BEFORE_STOP {
                        publish(state, "stopped", Some("duplicate client".into()));
                        return Err(Error::failed(format!(
                            "the server closed the connection {TAKEOVERS_BEFORE_STOP} times in a row with code 4000: \
                             another client is connected with the same API key. Stop the other client (another \
                             `clawdtalk connect` or the Node.js ws-client) or give each its own key"
                        )));
                    }
                } else {
                    takeovers = 0;
                }
                let delay = backoff.next_delay();
                tracing::warn!(code, "connection lost: {reason}; reconnecting in {} ms", delay.as_millis());
                publish(state, "waiting", Some(reason));
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(shutdown) => {
                publish(state, "stopped", None);
                return Ok(());
            }
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Outbox = Arc<Mutex<mpsc::UnboundedReceiver<ClientMessage>>>;

async fn open(settings: &Settings) -> std::result::Result<Ws, End> {
    let lost = |reason: String| End::Lost { authed: false, code: None, reason };
    let t = settings.timings.connect_timeout;
    let mut ws = match tokio::time::timeout(t, tokio_tungstenite::connect_async(settings.ws_url.as_str())).await {
        Err(_) => return Err(lost(format!("connecting timed out after {t:?}"))),
        Ok(Err(tungstenite::Error::Http(resp))) if resp.status().as_u16() == 429 => return Err(End::RateLimited),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            return Err(lost(format!("the server answered HTTP {} to the WebSocket upgrade", resp.status())))
        }
        Ok(Err(e)) => return Err(lost(format!("cannot connect: {e}"))),
        Ok(Ok((ws, _))) => ws,
    };
    let auth = ClientMessage::Auth {
        api_key: settings.api_key.clone(),
        owner_name: settings.owner_name.clone(),
        agent_name: settings.agent_name.clone(),
    };
    if let Err(e) = ws.send(Message::text(auth.to_json())).await {
        return Err(lost(format!("cannot send auth: {e}")));
    }
    let deadline = Instant::now() + t;
    loop {
        let next = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(lost("no auth answer from the server".into())),
            Ok(None) => return Err(lost("the server closed the socket during auth".into())),
            Ok(Some(Err(e))) => return Err(lost(format!("socket error during auth: {e}"))),
            Ok(Some(Ok(m))) => m,
        };
        match next {
            Message::Text(text) => match ServerMessage::parse(&text) {
                Ok(ServerMessage::AuthOk) => return Ok(ws),
                Ok(ServerMessage::AuthError { message }) => return Err(End::AuthError(message)),
                _ => tracing::debug!("ignoring a message before auth_ok"),
            },
            Message::Close(frame) => {
                return Err(End::Lost {
                    authed: false,
                    code: frame.as_ref().map(|f| u16::from(f.code)),
                    reason: "the server closed the socket during auth".into(),
                })
            }
            _ => {}
        }
    }
}

async fn session(
    settings: &Settings,
    handler: &Arc<Handler>,
    outbox: &Outbox,
    state: &watch::Sender<LinkState>,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let ws = tokio::select! {
        r = open(settings) => match r { Ok(ws) => ws, Err(end) => return end },
        _ = stopped(shutdown) => return End::Shutdown,
    };
    tracing::info!("connected and authenticated");
    publish(state, "connected", None);
    // Start-up is over: its code and tables need not stay mapped while idle.
    let released = super::trim::release_startup_pages();
    if released > 0 {
        tracing::debug!(bytes = released, "released the start-up pages of the executable");
    }
    let (sink, mut stream) = ws.split();
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let mut writer = tokio::spawn(writer(sink, Arc::clone(outbox), ctl_rx));

    let t = &settings.timings;
    let mut ping = tokio::time::interval_at(Instant::now() + t.ping_interval, t.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pong_deadline: Option<Instant> = None;
    let lost = |code: Option<u16>, reason: String| End::Lost { authed: true, code, reason };
    let end = loop {
        tokio::select! {
            _ = stopped(shutdown) => {
                let _ = ctl_tx.send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "client shutting down".into(),
                })));
                drop(ctl_tx);
                // let the writer flush the close frame, briefly
                let _ = tokio::time::timeout(Duration::from_secs(2), &mut writer).await;
                return End::Shutdown;
            }
            _ = ping.tick() => {
                let _ = ctl_tx.send(Message::Ping(Default::default()));
                pong_deadline.get_or_insert(Instant::now() + t.pong_timeout);
            }
            _ = sleep_until_opt(pong_deadline) => {
                break lost(None, format!("no pong within {:?}", t.pong_timeout));
            }
            _ = &mut writer => break lost(None, "the socket could not be written".into()),
            msg = stream.next() => match msg {
                None => break lost(None, "the server closed the socket".into()),
                Some(Err(e)) => break lost(None, format!("socket error: {e}")),
                Some(Ok(Message::Pong(_))) => pong_deadline = None,
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    break lost(code, format!("the server closed the socket (code {})", code.map_or("none".into(), |c| c.to_string())));
                }
                Some(Ok(Message::Text(text))) => match ServerMessage::parse(&text) {
                    Ok(ServerMessage::Event(e)) => handler.dispatch(*e),
                    Ok(ServerMessage::Ping) => { let _ = ctl_tx.send(Message::text(ClientMessage::Pong.to_json())); }
                    Ok(ServerMessage::Pong) => pong_deadline = None,
                    Ok(ServerMessage::AuthError { message }) => break End::AuthError(message),
                    Ok(ServerMessage::AuthOk) => {}
                    Ok(ServerMessage::Other { kind }) => tracing::debug!(kind = %kind, "ignoring a message"),
                    Err(why) => tracing::warn!("ignoring a message: {why}"),
                },
                // tungstenite answers pings itself
                Some(Ok(_)) => {}
            },
        }
    };
    writer.abort();
    end
}

/// Resolves when shutdown is asked for (never, if nobody can ask any more).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The only task that writes to the socket: control frames first, then answers.
async fn writer(
    mut sink: futures_util::stream::SplitSink<Ws, Message>,
    outbox: Outbox,
    mut ctl: mpsc::UnboundedReceiver<Message>,
) {
    let mut out = outbox.lock().await;
    loop {
        let msg = tokio::select! {
            biased;
            c = ctl.recv() => match c { Some(m) => m, None => break },
            m = out.recv() => match m {
                Some(m) => {
                    tracing::debug!(kind = m.kind(), "sending");
                    Message::text(m.to_json())
                }
                None => break,
            },
        };
        let closing = matches!(msg, Message::Close(_));
        if let Err(e) = sink.send(msg).await {
            tracing::debug!("write failed: {e}");
            break;
        }
        if closing {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_near_one_second_doubles_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(180));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200), "{first:?}");
        let second = b.next_delay();
        assert!(second >= Duration::from_millis(1600) && second <= Duration::from_millis(2400), "{second:?}");
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(180));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1200));
    }
}
