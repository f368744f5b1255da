//! The AgentPhone client (docs/protocol.md#agentphone): one call, one objective.
//!
//! It reuses the shared HTTP client ([`crate::api::Client`]) with AgentPhone's
//! `x-api-key` header and base URL, and with a retry policy of exactly one
//! retry 60 s after a 429 (AgentPhone allows 10 calls a minute; a second 429
//! stops) and the normal short backoff for a GET's 5xx or transport failure. Error replies are reworded so each guard rail of docs/protocol.md#agentphone says what
//! happened and what to do: 401 names the key setting, 402 says the credits
//! are exhausted, a second 429 says the rate limit still holds.

use std::time::Duration;

use serde_json::{json, Value};

use crate::api::{envelope, ApiPath, Client, ClientOptions, RetryPolicy};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::Progress;

pub mod models;

pub use models::{Call, CallRequest};

/// How long AgentPhone asks clients to wait after a 429 (its limit is per minute).
pub const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// A call just placed: the call (`call_id`, `status` `queued`, `created_at`)
/// and the credits left on the account, when the service says.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub call: Call,
    pub credits_remaining: Option<Value>,
}

/// The typed AgentPhone client.
#[derive(Debug, Clone)]
pub struct AgentPhone {
    client: Client,
    rate_limit_wait: Duration,
}

impl AgentPhone {
    /// Build the client from configuration. No AgentPhone key is a
    /// configuration error, before any request. `rate_limit_wait` is how long
    /// to wait after a 429 before the single retry ([`RATE_LIMIT_WAIT`] in
    /// normal use; tests shorten it).
    pub fn from_config(cfg: &Config, rate_limit_wait: Duration) -> Result<AgentPhone> {
        let key = cfg.agentphone_api_key.clone().ok_or_else(|| {
            Error::config(
                "no AgentPhone API key: set AGENTPHONE_API_KEY, or agentphone_api_key in skill-config.json \
                 (keys are created at https://agentphone.app/dashboard/api-keys)",
            )
        })?;
        let client = Client::new(ClientOptions {
            base_url: cfg.agentphone_url.clone(),
            api_key: key,
            connect_timeout: cfg.connect_timeout,
            request_timeout: cfg.request_timeout,
            retry: retry_policy(rate_limit_wait),
            key_header: Some("x-api-key"),
        })?
        .with_secrets_of(cfg);
        Ok(AgentPhone { client, rate_limit_wait })
    }

    /// The API base this client talks to.
    pub fn base_url(&self) -> &str {
        self.client.base_url()
    }

    /// `POST /calls`. The number must already be validated
    /// ([`crate::validate::phone`]); this is the last place before the wire.
    pub async fn create_call(&self, req: &CallRequest) -> Result<Placed> {
        let body = serde_json::to_value(req).map_err(|e| Error::failed(format!("cannot encode the call: {e}")))?;
        let reply = self.client.post(&ApiPath::new("/calls"), &body).await.map_err(|e| self.explain(e))?;
        let credits_remaining = reply.get("credits_remaining").filter(|v| !v.is_null()).cloned();
        let call = to_call(reply)?;
        Ok(Placed { call, credits_remaining })
    }

    /// `GET /calls/{id}`.
    pub async fn get_call(&self, call_id: &str) -> Result<Call> {
        let path = ApiPath::new("/calls").id("CALL_ID", call_id)?;
        let reply = self.client.get(&path, &[]).await.map_err(|e| self.explain(e))?;
        to_call(reply)
    }

    /// Reword the service errors that docs/protocol.md#agentphone gives a meaning to.
    fn explain(&self, e: Error) -> Error {
        let Error::Api { status, message, body } = e else { return e };
        let message = match status {
            400 => format!("AgentPhone refused the request as bad input: {message}"),
            401 | 403 => format!(
                "AgentPhone rejected the API key ({message}): check AGENTPHONE_API_KEY \
                 (or agentphone_api_key in skill-config.json)"
            ),
            402 => format!(
                "AgentPhone credits exhausted ({message}): stopped; add credits to the AgentPhone account, then retry"
            ),
            404 => format!("AgentPhone has no such call ({message})"),
            429 => format!(
                "AgentPhone rate limit (10 calls a minute) still exceeded after waiting {} s and retrying once \
                 ({message}): stopped; try again later",
                fmt_secs(self.rate_limit_wait)
            ),
            _ => format!("AgentPhone: {message}"),
        };
        Error::Api { status, message, body }
    }
}

/// AgentPhone's retries: a 429 is retried once, exactly `wait` (the
/// protocol's 60 s) after it, whatever `Retry-After` says (the limit is per
/// minute), and a second 429 stops; a GET's 5xx or transport failure gets the
/// normal short backoff (250 ms doubling, up to 3 attempts). A POST is retried
/// on a 5xx never, only after a 429 or a connection that failed before the
/// request was sent, so a call is never placed twice.
pub fn retry_policy(wait: Duration) -> RetryPolicy {
    RetryPolicy { rate_limit_wait: Some(wait), ..RetryPolicy::default() }
}

/// The call object from either envelope (`.data` or top level).
fn to_call(reply: Value) -> Result<Call> {
    let mut obj = envelope::one(reply, &["data", "call"]);
    // Tolerate `id` in place of `call_id`.
    if obj.get("call_id").is_none() {
        if let Some(id) = envelope::id(&obj, &["id"]) {
            obj["call_id"] = json!(id);
        }
    }
    envelope::decode(obj, "AgentPhone call")
}

/// Seconds without a trailing `.0` (`60`, `0.2`).
pub fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

/// How to wait for a call to end.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Between two polls while the call runs (10 s).
    pub interval: Duration,
    /// Give up after this long (5 minutes); the call goes on at AgentPhone.
    pub timeout: Duration,
    /// Between the extra polls for a missing transcript or summary (2 s).
    pub enrich_interval: Duration,
    /// How many extra polls (2).
    pub enrich_polls: u32,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(300),
            enrich_interval: Duration::from_secs(2),
            enrich_polls: 2,
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Waited {
    /// The last state seen.
    pub call: Call,
    /// The timeout passed before the call reached a terminal status.
    pub timed_out: bool,
}

/// Poll `GET /calls/{id}` every `interval`, starting from `first` (the call
/// as just placed, so the first poll comes one interval later: requests count
/// against AgentPhone's per-minute limit), until a terminal status or the
/// timeout, showing the lifecycle stage on `progress`. A completed call
/// missing its transcript or summary is polled `enrich_polls` more times,
/// `enrich_interval` apart (AgentPhone writes them a moment after the end).
pub async fn wait(ap: &AgentPhone, first: &Call, opts: &WaitOptions, progress: &Progress) -> Result<Waited> {
    let call_id = first.call_id.as_str();
    let deadline = tokio::time::Instant::now() + opts.timeout;
    let mut call = first.clone();
    loop {
        progress.set(format!("AgentPhone call {call_id}: {}", call.stage()));
        if call.is_terminal() {
            break;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            progress.finish();
            return Ok(Waited { call, timed_out: true });
        }
        tokio::time::sleep(opts.interval.min(deadline - now)).await;
        call = ap.get_call(call_id).await?;
    }
    for _ in 0..opts.enrich_polls {
        if !call.lacks_enrichment() {
            break;
        }
        progress.set(format!("AgentPhone call {call_id}: completed, waiting for the transcript and summary"));
        tokio::time::sleep(opts.enrich_interval).await;
        call = ap.get_call(call_id).await?;
    }
    progress.finish();
    Ok(Waited { call, timed_out: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_is_read_from_data_or_top_level() {
        let c = to_call(json!({"data": {"call_id": "c1", "status": "queued"}, "credits_remaining": 4})).unwrap();
        assert_eq!((c.call_id.as_str(), c.status.as_str()), ("c1", "queued"));
        let c = to_call(json!({"id": "c2", "status": "dialing"})).unwrap();
        assert_eq!(c.call_id, "c2");
        assert!(to_call(json!({"data": {"status": "queued"}})).is_err());
    }

    #[test]
    fn rate_limit_waits_the_full_window_even_when_retry_after_is_shorter_and_retries_once() {
        let p = retry_policy(RATE_LIMIT_WAIT);
        assert_eq!(RATE_LIMIT_WAIT, Duration::from_secs(60));
        for retry_after in [None, Some(Duration::from_secs(1)), Some(Duration::from_secs(30))] {
            assert_eq!(p.rate_limit_delay(1, 0, retry_after), Some(RATE_LIMIT_WAIT), "{retry_after:?}");
            assert_eq!(p.rate_limit_delay(2, 1, retry_after), None, "a second 429 stops");
        }
        // The test override is the window itself.
        let short = retry_policy(Duration::from_millis(300));
        assert_eq!(short.rate_limit_delay(1, 0, Some(Duration::from_secs(60))), Some(Duration::from_millis(300)));
    }

    #[test]
    fn server_errors_and_transport_failures_use_the_short_backoff_not_the_rate_limit_window() {
        let p = retry_policy(RATE_LIMIT_WAIT);
        assert_eq!(p.max_attempts, RetryPolicy::default().max_attempts);
        for attempt in 1..p.max_attempts {
            let d = p.backoff(attempt, None);
            assert!(d < Duration::from_secs(2), "attempt {attempt}: {d:?}");
        }
        assert!(p.backoff(1, None) >= Duration::from_millis(250));
    }

    #[test]
    fn no_key_is_a_config_error_naming_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::resolve(&Default::default(), &crate::config::MapEnv::default(), dir.path()).unwrap();
        let e = AgentPhone::from_config(&cfg, RATE_LIMIT_WAIT).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("AGENTPHONE_API_KEY"), "{e}");
    }

    #[test]
    fn seconds_format_without_trailing_zero() {
        assert_eq!(fmt_secs(Duration::from_secs(60)), "60");
        assert_eq!(fmt_secs(Duration::from_millis(200)), "0.2");
    }
}
