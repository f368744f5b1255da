//! `/ws` (docs/protocol.md#voice-websocket): the voice-routing socket. A client authenticates
//! with `{"type":"auth","api_key"}` (`cc_test_…` or the configured key →
//! `auth_ok`, anything else → `auth_error` and close); afterwards it gets
//! every event the sandbox pushes (`{"type":"event","event":NAME,…}`).
//! Every message a client sends is recorded for `GET /_sandbox/ws/received`
//! (with the API key masked). Pings are answered; the control API can drop
//! every socket with a close code.

use std::sync::atomic::Ordering;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::{Shared, WsCmd};
use crate::config::mask_key;

pub async fn handler(ws: WebSocketUpgrade, State(s): State<Shared>) -> Response {
    ws.on_upgrade(move |socket| serve(s, socket))
}

/// Decrements the authenticated-client count when a connection ends.
struct AuthedGuard(Shared);

impl Drop for AuthedGuard {
    fn drop(&mut self) {
        self.0.ws_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve(s: Shared, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let mut cmds = s.ws_tx.subscribe();
    let mut authed: Option<AuthedGuard> = None;
    loop {
        tokio::select! {
            msg = rx.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Ping(p))) => {
                        if tx.send(Message::Pong(p)).await.is_err() { break; }
                        continue;
                    }
                    Some(Ok(Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                };
                let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                let kind = v.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                let key = v.get("api_key").and_then(Value::as_str).map(str::to_string);
                if let Some(k) = &key {
                    v["api_key"] = json!(mask_key(k));
                }
                s.ws_received.lock().unwrap_or_else(|e| e.into_inner()).push(v);
                s.ws_notify.notify_waiters();
                let reply = match kind.as_str() {
                    "auth" => {
                        if key.as_deref().is_some_and(|k| s.key_ok(k)) {
                            if authed.is_none() {
                                s.ws_clients.fetch_add(1, Ordering::Relaxed);
                                authed = Some(AuthedGuard(s.clone()));
                            }
                            json!({"type": "auth_ok"})
                        } else {
                            let m = json!({"type": "auth_error", "message": "invalid API key"});
                            let _ = tx.send(Message::Text(m.to_string().into())).await;
                            let _ = tx.send(Message::Close(Some(CloseFrame { code: 4001, reason: "invalid API key".into() }))).await;
                            break;
                        }
                    }
                    "ping" => json!({"type": "pong"}),
                    _ if authed.is_none() => json!({"type": "error", "message": "authenticate first: send {\"type\":\"auth\",\"api_key\":…}"}),
                    _ => continue,
                };
                if tx.send(Message::Text(reply.to_string().into())).await.is_err() {
                    break;
                }
            }
            cmd = cmds.recv() => match cmd {
                Ok(WsCmd::Send(text)) => {
                    if authed.is_some() && tx.send(Message::Text(text.as_ref().into())).await.is_err() {
                        break;
                    }
                }
                Ok(WsCmd::Drop(code)) => {
                    let _ = tx.send(Message::Close(Some(CloseFrame { code, reason: "closed by the sandbox".into() }))).await;
                    break;
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            },
        }
    }
}
