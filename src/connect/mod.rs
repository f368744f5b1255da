//! `clawdtalk connect`: the voice-routing WebSocket client (docs/protocol.md#voice-websocket).
//!
//! Inbound calls, SMS and push-to-talk reach the user's own agent through
//! this client: the ClawdTalk server sends events on a long-lived WebSocket,
//! the client relays each request to the local OpenClaw/Clawdbot gateway
//! ([`gateway`]) and answers on the socket (or by SMS).
//!
//! - [`protocol`]: the messages, as types.
//! - [`session`]: the connection loop (auth, keep-alive, reconnection), one
//!   writer task fed by a channel so no request can block the socket.
//! - [`handler`]: one task per admitted request; screening ([`screen`]) and
//!   approvals in between ([`approval`]), which fail closed by construction.
//! - [`limits`]: the bounds a flood or a stranger meets (queue, gateway
//!   requests in flight, approval throttle) and the counters.
//! - [`daemon`]: runtime files, the single-instance lock, background start/stop.
//! - [`speech`]: text cleaned for the caller's ears.
//! - [`reply`]: what a `sessions_send` answer means (a reply, or no reply
//!   yet, or none) and what the caller is told; [`late`]: the late reply,
//!   looked for with `sessions_history`; [`report`]: the call's end report.

pub mod approval;
mod call_memory;
pub mod daemon;
pub mod gateway;
pub mod handler;
pub mod late;
pub mod limits;
pub mod protocol;
pub mod reply;
pub mod report;
pub mod screen;
pub mod session;
pub mod speech;
pub mod stop;
pub mod trim;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::api::ClientOptions;
use crate::config::{Config, Secret};
use crate::error::{Error, Result};
use approval::{ApprovalSettings, NoDevices, Patterns};
use limits::{Clock, SystemClock};

pub use session::{run, LinkState};

/// Intervals of the connection loop. Injectable so tests run in milliseconds;
/// the defaults are docs/protocol.md#voice-websocket's.
#[derive(Debug, Clone)]
pub struct Timings {
    /// A WebSocket ping this often…
    pub ping_interval: Duration,
    /// …and the socket is dropped when no pong comes within this.
    pub pong_timeout: Duration,
    /// First reconnection delay (jittered), doubling up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Wait after the server answered 429 to the connection.
    pub rate_limit_wait: Duration,
    /// Time allowed to open the socket and receive `auth_ok`.
    pub connect_timeout: Duration,
    /// Gateway timeout for call requests (deep tools, walkie, reports).
    pub call_timeout: Duration,
    /// Gateway timeout for inbound SMS.
    pub sms_timeout: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(180),
            rate_limit_wait: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            call_timeout: gateway::CALL_TIMEOUT,
            sms_timeout: gateway::SMS_TIMEOUT,
        }
    }
}

/// Everything the connect client needs, resolved from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ws(s)://server/ws`.
    pub ws_url: String,
    pub api_key: Secret,
    /// The HTTP API (approvals, SMS replies).
    pub api: ClientOptions,
    pub owner_name: Option<String>,
    /// The owner's number (E.164): texts from it, and calls that name it,
    /// are the owner's; anyone else is a stranger to the approval throttle.
    pub owner_phone: Option<String>,
    pub agent_name: Option<String>,
    /// Spoken at the start of a call.
    pub greeting: String,
    /// `context_response.context.system_prompt`.
    pub system_prompt: String,
    /// `context_response.context.memory`.
    pub memory: String,
    pub gateway_url: String,
    pub gateway_token: Option<Secret>,
    pub agent_id: String,
    pub approvals: ApprovalSettings,
    pub timings: Timings,
    /// Gateway requests in flight at most (`max_concurrent_requests`, default 4).
    pub max_concurrent: usize,
    /// Admitted requests waiting beyond those (`max_queued_requests`, default 64);
    /// past that a caller hears "busy" and a texter gets at most one such SMS an hour.
    pub max_queued: usize,
    /// The time source of the throttles (a test seam).
    pub clock: Arc<dyn Clock>,
    /// Where calls, SMS and approval decisions are recorded for `tail`
    /// (docs/journal.md); `None`: nowhere. Not from the config file: the
    /// command that runs the daemon hands its own in.
    pub journal: Option<Arc<crate::journal::Journal>>,
    /// The data directory of the opt-out list (docs/optout.md): STOP adds
    /// to it, and no SMS reply goes to a number on it. `None`: no list. Not
    /// from the config file: the command that runs the daemon hands it in.
    pub optout_dir: Option<std::path::PathBuf>,
}

/// The WebSocket URL for a site root: `http`→`ws`, `https`→`wss`, plus `/ws`.
pub fn ws_url(server: &str) -> Result<String> {
    let s = server.trim_end_matches('/');
    let rest = if let Some(r) = s.strip_prefix("https://") {
        format!("wss://{r}")
    } else if let Some(r) = s.strip_prefix("http://") {
        format!("ws://{r}")
    } else {
        return Err(Error::config(format!("server {server:?} is not an http(s) URL")));
    };
    Ok(format!("{rest}/ws"))
}

impl Settings {
    /// Resolve from the configuration (skill-config.json keys documented in docs/connect.md).
    pub fn from_config(cfg: &Config) -> Result<Settings> {
        let api = ClientOptions::from_config(cfg)?;
        let raw = &cfg.raw;
        let secs = |k: &str, default: Duration| -> Result<Duration> {
            match raw.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|f| *f > 0.0 && f.is_finite())
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        Error::config(format!("{k} in skill-config.json must be a positive number of seconds"))
                    }),
            }
        };
        let patterns = approval_patterns(raw)?;
        let count = |k: &str, default: usize, min: usize| -> Result<usize> {
            match raw.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (min..=limits::MAX_SETTING).contains(n))
                    .ok_or_else(|| {
                        Error::config(format!(
                            "{k} in skill-config.json must be a whole number from {min} to {}",
                            limits::MAX_SETTING
                        ))
                    }),
            }
        };
        let no_devices = no_devices(raw)?;
        let defaults = Timings::default();
        let approval_defaults = ApprovalSettings::default();
        let owner = cfg.owner_name.clone();
        let agent = cfg.agent_name.clone();
        let greeting = cfg.greeting.clone().unwrap_or_else(|| match &owner {
            Some(o) => format!("Hi {o}, it's {}. How can I help?", agent.as_deref().unwrap_or("your assistant")),
            None => "Hello! How can I help?".to_string(),
        });
        let system_prompt = cfg.get_str("system_prompt").map(str::to_string).unwrap_or_else(|| {
            format!(
                "You are {}, the voice assistant of {}. You are speaking on a phone call: keep answers short and \
                 conversational, without markdown. For anything that needs tools, files, messages or actions, \
                 use the deep tool.",
                agent.as_deref().unwrap_or("an AI assistant"),
                owner.as_deref().unwrap_or("your owner")
            )
        });
        Ok(Settings {
            ws_url: ws_url(&cfg.server)?,
            api_key: api.api_key.clone(),
            api,
            owner_name: owner,
            owner_phone: cfg.owner_phone.clone(),
            agent_name: agent,
            greeting,
            system_prompt,
            memory: cfg.get_str("memory").unwrap_or_default().to_string(),
            gateway_url: cfg.gateway_url.clone(),
            gateway_token: cfg.gateway_token.clone(),
            agent_id: cfg.agent_id.clone(),
            approvals: ApprovalSettings {
                patterns,
                timeout: secs("approval_timeout_secs", approval_defaults.timeout)?,
                poll_interval: secs("approval_poll_secs", approval_defaults.poll_interval)?,
                no_devices,
                require_biometric: raw.get("approval_require_biometric").and_then(Value::as_bool).unwrap_or(false),
            },
            timings: Timings {
                ping_interval: secs("ping_interval_secs", defaults.ping_interval)?,
                pong_timeout: secs("pong_timeout_secs", defaults.pong_timeout)?,
                backoff_initial: secs("reconnect_initial_secs", defaults.backoff_initial)?,
                backoff_max: secs("reconnect_max_secs", defaults.backoff_max)?,
                rate_limit_wait: secs("rate_limit_wait_secs", defaults.rate_limit_wait)?,
                connect_timeout: cfg.connect_timeout.max(defaults.connect_timeout),
                call_timeout: defaults.call_timeout,
                sms_timeout: defaults.sms_timeout,
            },
            max_concurrent: count("max_concurrent_requests", limits::DEFAULT_MAX_CONCURRENT, 1)?,
            max_queued: count("max_queued_requests", limits::DEFAULT_MAX_QUEUED, 0)?,
            clock: Arc::new(SystemClock),
            journal: None,
            optout_dir: None,
        })
    }
}

/// `approval_patterns` from skill-config.json: a list, a comma-separated
/// string, or absent for the defaults; anything else is a configuration error.
fn approval_patterns(raw: &Map<String, Value>) -> Result<Patterns> {
    match raw.get("approval_patterns") {
        None | Some(Value::Null) => Ok(Patterns::defaults()),
        Some(Value::Array(a)) => {
            let list: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            if list.len() != a.len() {
                return Err(Error::config("approval_patterns in skill-config.json must be a list of strings"));
            }
            Ok(Patterns::new(&list))
        }
        Some(Value::String(s)) => Ok(Patterns::new(&s.split(',').map(str::trim).collect::<Vec<_>>())),
        Some(_) => Err(Error::config("approval_patterns in skill-config.json must be a list of strings")),
    }
}

/// `approval_no_devices`: what to do when the owner has no device to approve on.
fn no_devices(raw: &Map<String, Value>) -> Result<NoDevices> {
    match raw.get("approval_no_devices").and_then(Value::as_str) {
        None | Some("confirm_by_voice") | Some("voice") => Ok(NoDevices::ConfirmByVoice),
        Some("deny") => Ok(NoDevices::Deny),
        Some(other) => Err(Error::config(format!(
            "approval_no_devices in skill-config.json must be \"confirm_by_voice\" or \"deny\", got {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MapEnv, Overrides};

    #[test]
    fn ws_url_follows_the_scheme() {
        assert_eq!(ws_url("https://clawdtalk.com/").unwrap(), "wss://clawdtalk.com/ws");
        assert_eq!(ws_url("http://127.0.0.1:9").unwrap(), "ws://127.0.0.1:9/ws");
        assert!(ws_url("ftp://x").is_err());
    }

    #[test]
    fn settings_from_an_empty_config_have_the_contract_timings() {
        // no configuration file at all: only the key, from the environment
        let env = MapEnv::default().with("CLAWDTALK_API_KEY", "cc_test_0123456789abcdef");
        let cfg = Config::resolve_with_file(&Overrides::default(), &env, None).unwrap();
        let t = Settings::from_config(&cfg).unwrap().timings;
        assert_eq!(t.ping_interval, Duration::from_secs(30));
        assert_eq!(t.pong_timeout, Duration::from_secs(10));
        assert_eq!(t.rate_limit_wait, Duration::from_secs(60));
        assert_eq!(t.backoff_initial, Duration::from_secs(1));
        assert_eq!(t.backoff_max, Duration::from_secs(180));
        assert_eq!(t.call_timeout, Duration::from_secs(90));
        assert_eq!(t.sms_timeout, Duration::from_secs(60));
        // the backoff those give: about 1 s first, never above 180 s, reaching it
        let mut b = session::Backoff::new(t.backoff_initial, t.backoff_max);
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200), "{first:?}");
        let later: Vec<Duration> = (0..20).map(|_| b.next_delay()).collect();
        assert!(later.iter().all(|d| *d <= Duration::from_secs(180)), "{later:?}");
        assert!(later.last().unwrap() >= &Duration::from_secs(144), "{later:?}");
    }

    #[test]
    fn settings_read_approval_keys_and_refuse_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("skill-config.json"),
            r#"{"api_key":"cc_test_x1234567890","approval_patterns":["launch"],"approval_no_devices":"deny",
               "approval_timeout_secs":2.5,"owner_name":"Ann"}"#,
        )
        .unwrap();
        let cfg = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap();
        let s = Settings::from_config(&cfg).unwrap();
        assert_eq!(s.ws_url, "wss://clawdtalk.com/ws");
        assert_eq!(s.approvals.no_devices, NoDevices::Deny);
        assert_eq!(s.approvals.timeout, Duration::from_millis(2500));
        assert!(s.approvals.patterns.find("launch it").is_some());
        assert!(s.approvals.patterns.find("delete it").is_none());
        assert!(s.greeting.contains("Ann"));

        std::fs::write(dir.path().join("skill-config.json"), r#"{"api_key":"k","approval_no_devices":"allow"}"#)
            .unwrap();
        let cfg = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap();
        assert_eq!(Settings::from_config(&cfg).unwrap_err().exit_code(), 3);
    }

    #[test]
    fn settings_read_the_bounds_and_the_owner_phone_and_refuse_bad_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let write = |body: &str| std::fs::write(dir.path().join("skill-config.json"), body).unwrap();
        let load = || {
            let cfg = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap();
            Settings::from_config(&cfg)
        };
        write(r#"{"api_key":"k"}"#);
        let s = load().unwrap();
        assert_eq!((s.max_concurrent, s.max_queued, s.owner_phone), (4, 64, None));
        write(r#"{"api_key":"k","max_concurrent_requests":2,"max_queued_requests":"10","owner_phone":"+15551234567"}"#);
        let s = load().unwrap();
        assert_eq!((s.max_concurrent, s.max_queued), (2, 10));
        assert_eq!(s.owner_phone.as_deref(), Some("+15551234567"));
        for bad in [r#"0"#, r#"-1"#, r#""many""#, r#"1e9"#, r#"100000"#] {
            write(&format!(r#"{{"api_key":"k","max_concurrent_requests":{bad}}}"#));
            assert_eq!(load().unwrap_err().exit_code(), 3, "{bad}");
        }
    }
}
