//! The agent: the OpenClaw/Clawdbot gateway's `sessions_send` and `sessions_history` tools behind
//! `POST {gateway_url}/tools/invoke` (docs/protocol.md#the-gateway).
//!
//! [`Gateway::ask`] takes a [`Cleared`] message, never a plain string: the
//! only way to obtain one for a sensitive request is an approval (see
//! `approval`), so no code path can hand the agent an unapproved action.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

use super::approval::Cleared;
use super::reply::{self, Answer};
use crate::config::Secret;
use crate::error::{Error, Result};
use crate::openclaw::tools;
use crate::redact::{cut, sanitize_for_terminal, Redactor, MAX_ERROR_TEXT};

/// Gateway timeout for requests made during a call (deep tools, walkie, reports).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(90);
/// Gateway timeout for inbound SMS.
pub const SMS_TIMEOUT: Duration = Duration::from_secs(60);

/// Client of the local agent gateway.
#[derive(Debug, Clone)]
pub struct Gateway {
    http: reqwest::Client,
    invoke_url: String,
    token: Option<Secret>,
    agent_id: String,
    /// Removes the token (and key shapes) from gateway text before it
    /// reaches a log line or a caller's answer.
    redactor: Redactor,
}

impl Gateway {
    pub fn new(gateway_url: &str, token: Option<Secret>, agent_id: &str) -> Result<Gateway> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Every request carries the gateway token: a redirect would
            // replay it to wherever the Location points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("clawdtalk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::config(format!("cannot build the gateway HTTP client: {e}")))?;
        let redactor = Redactor::new(token.iter().map(|t| t.expose().to_string()));
        Ok(Gateway {
            http,
            invoke_url: format!("{}/tools/invoke", gateway_url.trim_end_matches('/')),
            token,
            agent_id: agent_id.to_string(),
            redactor,
        })
    }

    /// The agent's main session: `agent:{agent_id}:main`.
    pub fn main_session(&self) -> String {
        format!("agent:{}:main", self.agent_id)
    }

    /// Send a cleared message to a session and wait up to `timeout` for the
    /// agent's answer, read by [`reply::parse`] (a reply, or no reply yet, or
    /// none, or the run's error). Transport failures and refusals are errors.
    pub async fn ask(&self, message: Cleared, session_key: &str, timeout: Duration) -> Result<Answer> {
        let args =
            json!({"sessionKey": session_key, "message": message.message(), "timeoutSeconds": timeout.as_secs()});
        tracing::debug!(session = session_key, basis = message.basis(), "asking the agent");
        // the gateway waits up to timeoutSeconds for the agent; allow it a little more
        let value = self.invoke(tools::SESSIONS_SEND, args, timeout + Duration::from_secs(5)).await?;
        Ok(match reply::parse(&value) {
            Answer::Error(e) => Answer::Error(self.clean(&e)),
            other => other,
        })
    }

    /// The session's latest `limit` messages through the gateway's
    /// `sessions_history` tool (`role`, `content`, `timestamp`, maybe `runId`).
    pub async fn history(&self, session_key: &str, limit: usize) -> Result<Vec<Value>> {
        let args = json!({"sessionKey": session_key, "limit": limit});
        let value = self.invoke(tools::SESSIONS_HISTORY, args, Duration::from_secs(15)).await?;
        Ok(history_messages(&value))
    }

    /// `POST /tools/invoke` with `{tool, args}`: the JSON answer (a body that
    /// is not JSON comes back as a JSON string), or the refusal as an error.
    async fn invoke(&self, tool: &str, args: Value, timeout: Duration) -> Result<Value> {
        let body = json!({"tool": tool, "args": args});
        let mut req = self
            .http
            .post(&self.invoke_url)
            .header(CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(body.to_string());
        if let Some(t) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {}", t.expose()));
        }
        let resp = req.send().await.map_err(|e| {
            let what = if e.is_timeout() { "timed out" } else { "is unreachable" };
            Error::Network(format!("the agent gateway at {} {what}", self.invoke_url))
        })?;
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| self.clean(&String::from_utf8_lossy(v.as_bytes())))
                .unwrap_or_else(|| "nowhere (no Location header)".into());
            return Err(Error::Api {
                status: status.as_u16(),
                message: format!(
                    "the agent gateway redirected to {}; redirects are never followed (check gateway_url)",
                    cut(&location, 200)
                ),
                body: None,
            });
        }
        let bytes = resp.bytes().await.map_err(|e| Error::Network(format!("reading the gateway reply: {e}")))?;
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if !status.is_success() {
            let message = error_message(&value).map_or_else(|| format!("HTTP {status}"), |m| self.clean(&m));
            return Err(Error::Api { status: status.as_u16(), message, body: None });
        }
        if value.get("ok") == Some(&Value::Bool(false)) {
            return Err(Error::failed(format!(
                "the gateway refused {tool}: {}",
                error_message(&value).map_or_else(|| "no reason given".into(), |m| self.clean(&m))
            )));
        }
        Ok(value)
    }

    /// Gateway text fit for a log line or an answer: secrets removed,
    /// control characters escaped, cut to [`MAX_ERROR_TEXT`].
    fn clean(&self, text: &str) -> String {
        cut(&sanitize_for_terminal(&self.redactor.redact(text)), MAX_ERROR_TEXT)
    }
}

impl Gateway {
    /// Send a message to the agent's main session without waiting for the
    /// agent (`timeoutSeconds: 0`): the gateway queues the run and answers
    /// at once, `{"runId", "status": "accepted"}` (docs/protocol.md#the-gateway).
    /// For poll's reports to the agent. Ok when the gateway took it; a
    /// refusal (`ok: false`, an HTTP error, a status `error`/`forbidden`)
    /// or no answer within `timeout` is an error.
    pub async fn notify(&self, message: Cleared, timeout: Duration) -> Result<()> {
        let session = self.main_session();
        tracing::debug!(session = %session, basis = message.basis(), "notifying the agent");
        let args = json!({"sessionKey": session, "message": message.message(), "timeoutSeconds": 0});
        // The one request path: redirects refused, HTTP errors and `ok: false` are errors.
        let value = self.invoke("sessions_send", args, timeout).await?;
        // The tool's own status, in `details` or in the text of `content[0]`.
        let text = value.pointer("/result/content/0/text").and_then(Value::as_str);
        let inner = text.and_then(|t| serde_json::from_str::<Value>(t).ok());
        let tool_status = value
            .pointer("/result/details/status")
            .or_else(|| inner.as_ref().and_then(|v| v.get("status")))
            .and_then(Value::as_str);
        if let Some(s @ ("error" | "forbidden")) = tool_status {
            let why = inner.as_ref().and_then(|v| v.get("error")).and_then(Value::as_str).unwrap_or(s);
            return Err(Error::failed(format!("the gateway refused sessions_send: {}", self.clean(why))));
        }
        Ok(())
    }
}

fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    e.get("message").and_then(Value::as_str).or_else(|| e.as_str()).map(str::to_string)
}

/// The messages of a `sessions_history` answer: `result.details.messages`,
/// the JSON in `result.content[0].text`, `result.messages` or `messages`;
/// none when the answer has no such list.
pub fn history_messages(v: &Value) -> Vec<Value> {
    let r = v.get("result").unwrap_or(v);
    let from_text = r
        .pointer("/content/0/text")
        .and_then(Value::as_str)
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|p| p.get("messages").cloned());
    [r.pointer("/details/messages").cloned(), from_text, r.get("messages").cloned()]
        .into_iter()
        .flatten()
        .find_map(|m| m.as_array().cloned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_messages_are_found_in_every_documented_position() {
        let msgs = json!([{"role":"assistant","content":[{"type":"text","text":"hi"}]}]);
        let text = json!({"messages": msgs}).to_string();
        assert_eq!(history_messages(&json!({"result":{"details":{"messages":msgs}}})).len(), 1);
        assert_eq!(history_messages(&json!({"result":{"content":[{"type":"text","text":text}]}})).len(), 1);
        assert_eq!(history_messages(&json!({"messages":msgs})).len(), 1);
        assert!(history_messages(&json!({"result":{"details":{"messages":"no"}}})).is_empty());
        assert!(history_messages(&json!("text")).is_empty());
    }

    /// A loopback gateway answering every request with `reply`; returns
    /// its URL and the number of requests it saw.
    async fn loopback(reply: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_redirect_from_the_gateway_is_refused_and_the_token_never_replayed() {
        let (target, hits) = loopback("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
        let redirect: &'static str = Box::leak(
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}/steal\r\ncontent-length: 0\r\n\r\n")
                .into_boxed_str(),
        );
        let (gw_url, _) = loopback(redirect).await;
        let gw = Gateway::new(&gw_url, Some(Secret::new("gw-token-0123456789")), "main").unwrap();
        let e = gw.ask(Cleared::report("hi".into()), "agent:main:main", Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 307, .. }), "{e:?}");
        assert!(e.to_string().contains("redirects are never followed"), "{e}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "the redirect target was never asked");
    }

    #[tokio::test]
    async fn gateway_error_text_is_redacted_before_anyone_sees_it() {
        let reply =
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: 74\r\n\r\n\
                     {\"error\": {\"message\": \"bad token gw-token-0123456789 key cc_live_abcdef\"}}";
        let (gw_url, _) = loopback(reply).await;
        let gw = Gateway::new(&gw_url, Some(Secret::new("gw-token-0123456789")), "main").unwrap();
        let e = gw.ask(Cleared::report("hi".into()), "agent:main:main", Duration::from_secs(5)).await.unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("gw-token-0123456789") && !text.contains("cc_live_abcdef"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}
