//! Configuration resolution (`docs/protocol.md#configuration`).
//!
//! Precedence, highest first: command-line flags, environment variables,
//! then `skill-config.json`. The config file is found by `--config PATH`,
//! then `$CLAWDTALK_CONFIG`, then `./skill-config.json`, then the user config
//! directory (`~/.config/clawdtalk/skill-config.json` on Linux).
//!
//! The environment is injected ([`Env`]) so tests never depend on the
//! process environment.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Default site root of the ClawdTalk service.
pub const DEFAULT_SERVER: &str = "https://clawdtalk.com";
/// Default OpenClaw/Clawdbot gateway.
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:18789";
/// Default agent id on the gateway.
pub const DEFAULT_AGENT_ID: &str = "main";
/// Default AgentPhone API base.
pub const DEFAULT_AGENTPHONE_URL: &str = "https://agentphone.app/api/v1";
/// File name of the skill configuration.
pub const CONFIG_FILE_NAME: &str = "skill-config.json";

/// A secret string (API key, token). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: only for putting on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The masked form: first 8 characters, `...`, last 4 (as telnyx_api.py's `check-key`).
    pub fn masked(&self) -> String {
        mask_key(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Keys are masked by the shared redaction module (first 8 … last 4).
pub use crate::redact::mask_key;

/// Mask a phone number for output and logs: the country calling code and
/// the last 4 digits, `+15005550006` → `+1 ***0006`, so the numbers of one
/// mission stay distinguishable without showing them whole.
///
/// The rule: an E.164 number (`+` and 8 to 15 digits) shows `+CC ***LAST4`,
/// where CC is its country calling code, whose length (1 to 3 digits) the
/// ITU assignment fixes by its first digits ([`calling_code_len`]). Anything
/// else longer than 6 characters shows `***LAST4`; shorter ones `***`.
pub fn mask_phone(number: &str) -> String {
    let n = number.trim();
    let chars: Vec<char> = n.chars().collect();
    let last4 = |c: &[char]| c[c.len().saturating_sub(4)..].iter().collect::<String>();
    if let Some(digits) = n.strip_prefix('+').filter(|d| (8..=15).contains(&d.len())) {
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            let cc = &digits[..calling_code_len(digits)];
            return format!("+{cc} ***{}", last4(&chars));
        }
    }
    if chars.len() <= 6 {
        return "***".to_string();
    }
    format!("***{}", last4(&chars))
}

/// The length of the country calling code at the start of `digits` (ITU-T
/// E.164 assignments): `1` (NANP) and `7` are one digit; the two-digit codes
/// are listed; every other code is three digits (e.g. 353, 420, 852).
fn calling_code_len(digits: &str) -> usize {
    const TWO_DIGIT: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49",
        "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84",
        "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    match digits.as_bytes().first() {
        Some(b'1' | b'7') => 1,
        _ if TWO_DIGIT.iter().any(|p| digits.starts_with(p)) => 2,
        _ => 3,
    }
}

/// Where values come from besides flags: a view of environment variables.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// A fixed environment, for tests.
#[derive(Default, Clone)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    pub fn with(mut self, k: &str, v: &str) -> Self {
        self.0.insert(k.to_string(), v.to_string());
        self
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned().filter(|v| !v.is_empty())
    }
}

/// Values given on the command line, which win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub api_key: Option<String>,
    pub api_url: Option<String>,
    pub config_path: Option<PathBuf>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// API key, if any was found. Commands that talk to the service call
    /// [`Config::require_key`].
    pub api_key: Option<Secret>,
    /// Where the key came from (for `check-key` and `status`).
    pub api_key_source: Option<String>,
    /// API base, ending in `/v1`, without trailing slash.
    pub api_url: String,
    /// Site root (API base without `/v1`), used for `/ws`.
    pub server: String,
    pub owner_name: Option<String>,
    /// The owner's own number (E.164), optional: texts and calls from it are
    /// the owner's, everyone else is a stranger to the approval throttle.
    pub owner_phone: Option<String>,
    pub agent_name: Option<String>,
    pub greeting: Option<String>,
    pub gateway_url: String,
    /// `gateway_url` was given (environment or file), not the default: voice
    /// routing has been set up (`status` reports it).
    pub gateway_configured: bool,
    pub gateway_token: Option<Secret>,
    pub agent_id: String,
    pub agentphone_api_key: Option<Secret>,
    pub agentphone_url: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    /// The whole config file as read (after `${ENV}` substitution), so
    /// features can read their own keys and writers can keep unknown keys.
    pub raw: Map<String, Value>,
}

impl Config {
    /// Resolve from flags, the given environment and the config file.
    pub fn resolve(overrides: &Overrides, env: &dyn Env, cwd: &Path) -> Result<Config> {
        let file = find_config_file(overrides, env, cwd)?;
        Config::resolve_with_file(overrides, env, file)
    }

    /// Resolve from flags, the environment and the given config file (none:
    /// built-in defaults). `setup` uses it when the file it is about to
    /// create does not exist yet or cannot be read.
    pub fn resolve_with_file(overrides: &Overrides, env: &dyn Env, file: Option<PathBuf>) -> Result<Config> {
        let raw = match &file {
            Some(path) => load_config_file(path, env)?,
            None => Map::new(),
        };
        let s = |k: &str| raw.get(k).and_then(Value::as_str).map(str::to_string).filter(|v| !v.is_empty());

        let (api_key, api_key_source) = if let Some(k) = overrides.api_key.clone().filter(|k| !k.is_empty()) {
            (Some(k), Some("--api-key".to_string()))
        } else if let Some(k) = env.var("CLAWDTALK_API_KEY") {
            (Some(k), Some("$CLAWDTALK_API_KEY".to_string()))
        } else if let Some(k) = s("api_key") {
            let src = file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            (Some(k), Some(src))
        } else {
            (None, None)
        };

        let api_url = if let Some(u) = overrides.api_url.clone().filter(|u| !u.is_empty()) {
            trim_slash(&u)
        } else if let Some(u) = env.var("CLAWDTALK_API_URL") {
            trim_slash(&u)
        } else {
            let server = s("server").unwrap_or_else(|| DEFAULT_SERVER.to_string());
            format!("{}/v1", trim_slash(&server))
        };
        validate_url(&api_url, "API URL")?;
        let server = api_url.strip_suffix("/v1").map(str::to_string).unwrap_or_else(|| api_url.clone());

        let secs = |k: &str, env_name: &str, default: u64| -> Result<Duration> {
            let v = env.var(env_name).or_else(|| raw.get(k).map(|v| v.to_string().trim_matches('"').to_string()));
            match v {
                None => Ok(Duration::from_secs(default)),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|f| *f > 0.0)
                    .and_then(|f| Duration::try_from_secs_f64(f).ok())
                    .ok_or_else(|| Error::config(format!("{k} must be a positive number of seconds, got {v:?}"))),
            }
        };

        // The environment beats the file, as for the key: `clawdtalk sandbox
        // --agent echo` prints both to export.
        let gateway_env = env.var("CLAWDTALK_GATEWAY_URL");
        if let Some(u) = &gateway_env {
            validate_url(&trim_slash(u), "CLAWDTALK_GATEWAY_URL")?;
        }
        let gateway_url = gateway_env.or_else(|| s("gateway_url"));
        Ok(Config {
            api_key: api_key.map(Secret::new),
            api_key_source,
            api_url,
            server,
            owner_name: s("owner_name"),
            owner_phone: match s("owner_phone") {
                None => None,
                Some(p) => Some(crate::validate::phone("owner_phone", &p).map_err(|e| Error::config(e.to_string()))?),
            },
            agent_name: s("agent_name"),
            greeting: s("greeting"),
            gateway_url: trim_slash(&gateway_url.clone().unwrap_or_else(|| DEFAULT_GATEWAY_URL.to_string())),
            gateway_configured: gateway_url.is_some(),
            gateway_token: env.var("CLAWDTALK_GATEWAY_TOKEN").or_else(|| s("gateway_token")).map(Secret::new),
            agent_id: s("agent_id").unwrap_or_else(|| DEFAULT_AGENT_ID.to_string()),
            agentphone_api_key: env.var("AGENTPHONE_API_KEY").or_else(|| s("agentphone_api_key")).map(Secret::new),
            agentphone_url: trim_slash(
                &env.var("AGENTPHONE_API_URL")
                    .or_else(|| s("agentphone_url"))
                    .unwrap_or_else(|| DEFAULT_AGENTPHONE_URL.to_string()),
            ),
            connect_timeout: secs("connect_timeout_secs", "CLAWDTALK_CONNECT_TIMEOUT", 10)?,
            request_timeout: secs("request_timeout_secs", "CLAWDTALK_TIMEOUT", 60)?,
            file,
            raw,
        })
    }

    /// The API key, or a configuration error that says how to provide one.
    pub fn require_key(&self) -> Result<&Secret> {
        self.api_key.as_ref().ok_or_else(|| {
            Error::config(
                "no ClawdTalk API key: set CLAWDTALK_API_KEY, pass --api-key, or run `clawdtalk setup` \
                 (writes api_key to skill-config.json)",
            )
        })
    }

    /// `notify_agent` of the config file: whether `poll` sends mission
    /// reports to the agent (docs/missions.md#reports-to-the-agent); on
    /// unless set to `false`.
    pub fn notify_agent(&self) -> Result<bool> {
        match self.raw.get("notify_agent") {
            None | Some(Value::Null) => Ok(true),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            Some(other) => Err(Error::config(format!("notify_agent must be true or false, got {other}"))),
        }
    }

    /// A string value of the config file (after `${ENV}` substitution).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.raw.get(key).and_then(Value::as_str)
    }

    /// `daily_call_cap`: the most calls scheduled for one day across all
    /// missions (docs/configuration.md); `None` when not set.
    pub fn daily_call_cap(&self) -> Result<Option<u32>> {
        match self.raw.get("daily_call_cap") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| Error::config(format!("daily_call_cap must be a positive whole number, got {v}"))),
        }
    }

    /// `timezone`: the owner's IANA zone (docs/configuration.md), where a
    /// day of `daily_call_cap` is a calendar day; `None`: the local zone.
    pub fn owner_timezone(&self) -> Result<Option<chrono_tz::Tz>> {
        match self.get_str("timezone").map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(z) => z
                .parse()
                .map(Some)
                .map_err(|_| Error::config(format!("timezone {z:?} is not an IANA time zone (e.g. Europe/Paris)"))),
        }
    }
}

fn trim_slash(s: &str) -> String {
    s.trim().trim_end_matches('/').to_string()
}

fn validate_url(u: &str, what: &str) -> Result<()> {
    match url::Url::parse(u) {
        Ok(parsed) if parsed.scheme() == "http" || parsed.scheme() == "https" => Ok(()),
        _ => Err(Error::config(format!("{what} {u:?} is not an http(s) URL"))),
    }
}

/// The per-user directories of clawdtalk (config, data, runtime files),
/// named once for every caller. None without a home directory.
pub fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("com", "clawdtalk", "clawdtalk")
}

/// The default per-user config file location.
pub fn user_config_file() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join(CONFIG_FILE_NAME))
}

/// Find the config file by the documented search order. An explicitly named
/// file (flag or `$CLAWDTALK_CONFIG`) that does not exist is an error; the
/// implicit locations are simply skipped.
pub fn find_config_file(overrides: &Overrides, env: &dyn Env, cwd: &Path) -> Result<Option<PathBuf>> {
    if let Some(p) = &overrides.config_path {
        return explicit(p, "--config");
    }
    if let Some(p) = env.var("CLAWDTALK_CONFIG") {
        return explicit(Path::new(&p), "$CLAWDTALK_CONFIG");
    }
    let local = cwd.join(CONFIG_FILE_NAME);
    if local.is_file() {
        return Ok(Some(local));
    }
    Ok(user_config_file().filter(|p| p.is_file()))
}

fn explicit(p: &Path, from: &str) -> Result<Option<PathBuf>> {
    if p.is_file() {
        Ok(Some(p.to_path_buf()))
    } else {
        Err(Error::config(format!("config file {} (from {from}) does not exist", p.display())))
    }
}

/// Write `bytes` to `path` atomically with permission bits `mode` on Unix,
/// creating the parent directory: [`crate::state::write::atomic_write`], so
/// a reader never sees a half-written file and a symlink planted next to it
/// is never followed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    crate::state::write::atomic_write(path, bytes, Some(mode))
        .map_err(|e| Error::file(format!("cannot write {}: {e}", path.display())))
}

/// Save a skill configuration (pretty JSON, mode 0600: it holds the API key).
pub fn save_config_file(path: &Path, map: &Map<String, Value>) -> Result<()> {
    let mut text = serde_json::to_string_pretty(map)
        .map_err(|e| Error::config(format!("cannot encode the configuration: {e}")))?;
    text.push('\n');
    write_atomic(path, text.as_bytes(), 0o600)
}

/// Read a config file and replace `${NAME}` string values from the environment.
pub fn load_config_file(path: &Path, env: &dyn Env) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::file(format!("cannot read config file {}: {e}", path.display())))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Error::file(format!(
            "config file {} is not valid JSON (line {}, column {}): {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    match value {
        Value::Object(mut map) => {
            for v in map.values_mut() {
                substitute_env(v, env);
            }
            Ok(map)
        }
        _ => Err(Error::file(format!("config file {} must hold a JSON object", path.display()))),
    }
}

/// Replace a string of the exact form `${NAME}` by the variable's value when set.
fn substitute_env(v: &mut Value, env: &dyn Env) {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                if let Some(val) = env.var(name) {
                    *s = val;
                }
            }
        }
        Value::Object(m) => m.values_mut().for_each(|v| substitute_env(v, env)),
        Value::Array(a) => a.iter_mut().for_each(|v| substitute_env(v, env)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join(CONFIG_FILE_NAME);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), r#"{"api_key":"cc_live_fromfile0000","server":"https://example.com/"}"#);
        let env = MapEnv::default().with("CLAWDTALK_API_KEY", "cc_live_fromenv00000");
        let c = Config::resolve(&Overrides::default(), &env, dir.path()).unwrap();
        assert_eq!(c.api_key.unwrap().expose(), "cc_live_fromenv00000");
        assert_eq!(c.api_url, "https://example.com/v1");
        assert_eq!(c.server, "https://example.com");
        let o = Overrides { api_key: Some("cc_live_flag".into()), ..Default::default() };
        let c = Config::resolve(&o, &env, dir.path()).unwrap();
        assert_eq!(c.api_key.unwrap().expose(), "cc_live_flag");
    }

    #[test]
    fn env_api_url_is_the_full_base() {
        let dir = tempfile::tempdir().unwrap();
        let env = MapEnv::default().with("CLAWDTALK_API_URL", "http://127.0.0.1:9/v1/");
        let c = Config::resolve(&Overrides::default(), &env, dir.path()).unwrap();
        assert_eq!(c.api_url, "http://127.0.0.1:9/v1");
        assert_eq!(c.server, "http://127.0.0.1:9");
    }

    #[test]
    fn env_references_are_substituted() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), r#"{"api_key":"${MY_KEY}","gateway_token":"${UNSET_VAR}"}"#);
        let env = MapEnv::default().with("MY_KEY", "cc_live_substituted1");
        let c = Config::resolve(&Overrides::default(), &env, dir.path()).unwrap();
        assert_eq!(c.api_key.unwrap().expose(), "cc_live_substituted1");
        assert_eq!(c.gateway_token.unwrap().expose(), "${UNSET_VAR}");
    }

    #[test]
    fn reports_to_the_agent_are_on_unless_notify_agent_is_false() {
        let notify = |json: &str| {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), json);
            Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap().notify_agent()
        };
        assert!(notify("{}").unwrap());
        assert!(notify(r#"{"notify_agent": true}"#).unwrap());
        assert!(!notify(r#"{"notify_agent": false}"#).unwrap());
        assert!(!notify(r#"{"notify_agent": "false"}"#).unwrap());
        let e = notify(r#"{"notify_agent": "nope"}"#).unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
    }

    #[test]
    fn defaults_without_any_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap();
        assert!(c.api_key.is_none());
        assert_eq!(c.gateway_url, DEFAULT_GATEWAY_URL);
        assert!(!c.gateway_configured);
        assert_eq!(c.agent_id, "main");
        assert!(matches!(c.require_key(), Err(Error::Config(_))));
    }

    #[test]
    fn the_gateway_from_the_environment_beats_the_file_and_counts_as_configured() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), r#"{"gateway_url":"http://127.0.0.1:1","gateway_token":"file"}"#);
        let c = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap();
        assert!(c.gateway_configured);
        let env = MapEnv::default()
            .with("CLAWDTALK_GATEWAY_URL", "http://127.0.0.1:2/agent/")
            .with("CLAWDTALK_GATEWAY_TOKEN", "env");
        let c = Config::resolve(&Overrides::default(), &env, dir.path()).unwrap();
        assert_eq!((c.gateway_url.as_str(), c.gateway_token.unwrap().expose()), ("http://127.0.0.1:2/agent", "env"));
        let bad = MapEnv::default().with("CLAWDTALK_GATEWAY_URL", "ftp://x");
        assert!(matches!(Config::resolve(&Overrides::default(), &bad, dir.path()), Err(Error::Config(_))));
    }

    #[test]
    fn owner_phone_must_be_e164_and_a_bad_one_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), r#"{"owner_phone":"+15551234567"}"#);
        let c = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap();
        assert_eq!(c.owner_phone.as_deref(), Some("+15551234567"));
        for bad in ["5551234567", "+1 555 123 4567", "owner", "+911"] {
            write(dir.path(), &serde_json::json!({ "owner_phone": bad }).to_string());
            let e = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap_err();
            assert_eq!(e.exit_code(), 3, "{bad}: {e}");
            assert!(e.to_string().contains("owner_phone"), "{e}");
        }
    }

    #[test]
    fn missing_explicit_config_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let o = Overrides { config_path: Some(dir.path().join("nope.json")), ..Default::default() };
        let e = Config::resolve(&o, &MapEnv::default(), dir.path()).unwrap_err();
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn invalid_json_config_names_the_position() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "{\"api_key\": }");
        let e = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn masked_numbers_keep_the_country_code_and_the_last_four_digits() {
        assert_eq!(mask_phone("+15005550006"), "+1 ***0006");
        assert_eq!(mask_phone("+447911123456"), "+44 ***3456");
        assert_eq!(mask_phone("+79161234567"), "+7 ***4567");
        assert_eq!(mask_phone("+353861234567"), "+353 ***4567");
        assert_eq!(mask_phone("+4915123456789"), "+49 ***6789");
        assert_eq!(mask_phone("+85291234567"), "+852 ***4567");
        // Not E.164: only the tail, and nothing of a short value.
        assert_eq!(mask_phone("5551234567"), "***4567");
        assert_eq!(mask_phone("+1555"), "***");
        // The three demo targets stay distinguishable.
        let shown: std::collections::HashSet<String> =
            ["+15005550006", "+15005550002", "+15005550003"].iter().map(|n| mask_phone(n)).collect();
        assert_eq!(shown.len(), 3);
    }

    #[test]
    fn masks() {
        assert_eq!(mask_key("cc_live_abcdefghijklmnop"), "cc_live_...mnop");
        assert_eq!(mask_phone("+15551234567"), "+1 ***4567");
        assert!(!format!("{:?}", Secret::new("cc_live_abcdefghijklmnop")).contains("efgh"));
    }
}
