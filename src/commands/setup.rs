//! `clawdtalk setup`: write `skill-config.json` (API key, server, names,
//! gateway details) and, with consent, allow `sessions_send` on the gateway.
//!
//! Interactive on a terminal (the key is read without echo); fully
//! non-interactive for agents with `--api-key`, `--server`, `--yes`,
//! `--no-gateway-edit`. It never loses anything: unknown keys of
//! `skill-config.json` are kept, and the gateway config changes only in
//! `gateway.tools.allow`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::api::{missions, Client, ClientOptions, RetryPolicy};
use crate::cli::setup::SetupArgs;
use crate::config::{self, Secret};
use crate::error::{Error, Result};
use crate::openclaw::{self, GatewayConfig};
use crate::output::{Outcome, Prompt};
use crate::task::blocking;

use super::Context;

/// What setup found on disk before asking anything.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Where the configuration will be written.
    pub target: PathBuf,
    /// The current configuration file, as written (no `${ENV}` substitution),
    /// when it exists and parses.
    pub existing: Option<Map<String, Value>>,
    /// Why the current file could not be used, when it exists but does not parse.
    pub existing_error: Option<String>,
    pub gateway: Option<GatewayConfig>,
    pub gateway_error: Option<String>,
    pub workspace: Option<PathBuf>,
    pub owner_name: Option<String>,
    pub agent_name: Option<String>,
}

/// Where `setup` writes: `--config`, `$CLAWDTALK_CONFIG`, `./skill-config.json`
/// when present, else the user config directory — the same order in which
/// every command looks for the file, so what setup writes is what they read.
pub fn target_path(flag: Option<&Path>, env_path: Option<String>, cwd: &Path) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = env_path {
        return Ok(PathBuf::from(p));
    }
    let local = cwd.join(config::CONFIG_FILE_NAME);
    if local.is_file() {
        return Ok(local);
    }
    config::user_config_file().ok_or_else(|| {
        Error::config("cannot find a user config directory: pass --config PATH to choose where to write")
    })
}

/// Read everything setup needs (blocking).
pub fn discover(target: PathBuf, home: &Path, workspace: Option<&Path>) -> Found {
    let mut f = Found { target, ..Default::default() };
    if f.target.is_file() {
        match std::fs::read_to_string(&f.target).map_err(|e| e.to_string()).and_then(|t| {
            match serde_json::from_str::<Value>(&t) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Err("it does not hold a JSON object".to_string()),
                Err(e) => Err(format!("it is not valid JSON ({e})")),
            }
        }) {
            Ok(m) => f.existing = Some(m),
            Err(e) => f.existing_error = Some(e),
        }
    }
    if let Some(p) = openclaw::find_gateway_config(home) {
        match GatewayConfig::load(&p) {
            Ok(g) => f.gateway = Some(g),
            Err(e) => f.gateway_error = Some(e.to_string()),
        }
    }
    f.workspace = openclaw::workspace_dir(workspace, f.gateway.as_ref(), home);
    if let Some(w) = &f.workspace {
        (f.owner_name, f.agent_name) = openclaw::names_from_workspace(w);
    }
    f
}

/// The result of trying the key against the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    Accepted,
    /// 401/403, with the service's message.
    Rejected(String),
    /// The service could not be asked (network) or answered oddly.
    Unverified(String),
}

impl KeyCheck {
    fn word(&self) -> &'static str {
        match self {
            KeyCheck::Accepted => "accepted",
            KeyCheck::Rejected(_) => "rejected",
            KeyCheck::Unverified(_) => "unverified",
        }
    }
}

/// One cheap authenticated request (`GET /missions`). Short timeouts and a
/// single attempt: setup should say "cannot check" quickly when offline.
pub async fn check_key(api_url: &str, key: &Secret) -> KeyCheck {
    let client = Client::new(ClientOptions {
        base_url: api_url.to_string(),
        api_key: key.clone(),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        retry: RetryPolicy { max_attempts: 1, ..RetryPolicy::default() },
        key_header: None,
    });
    let client = match client {
        Ok(c) => c,
        Err(e) => return KeyCheck::Rejected(e.to_string()),
    };
    match missions::list(&client).await {
        Ok(_) => KeyCheck::Accepted,
        Err(Error::Api { status: 401 | 403, message, .. }) => KeyCheck::Rejected(message),
        Err(e @ Error::Api { .. }) => KeyCheck::Unverified(e.to_string()),
        Err(e) => KeyCheck::Unverified(e.to_string()),
    }
}

/// A string value of the file as written, unless empty.
fn existing_str(found: &Found, key: &str) -> Option<String> {
    found.existing.as_ref()?.get(key)?.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// `${NAME}` → the variable's value (what the key really is), else as is.
fn substituted(v: &str) -> Option<String> {
    match v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(name) => std::env::var(name).ok().filter(|s| !s.is_empty()),
        None => Some(v.to_string()),
    }
}

/// Questions on the terminal block on input: ask them off the async runtime.
async fn ask<T: Send + 'static>(f: impl FnOnce(Prompt) -> Result<T> + Send + 'static) -> Result<T> {
    blocking(move || f(Prompt)).await
}

fn home_dir() -> Result<PathBuf> {
    directories::BaseDirs::new()
        .map(|b| b.home_dir().to_path_buf())
        .ok_or_else(|| Error::config("cannot find the home directory (set HOME)"))
}

/// `~/…` for paths under the home directory (shorter, and no user name in logs).
fn shown(p: &Path, home: &Path) -> String {
    match p.strip_prefix(home) {
        Ok(rel) => format!("~/{}", rel.display()),
        Err(_) => p.display().to_string(),
    }
}

fn gateway_cli(path: &Path) -> &'static str {
    if path.to_string_lossy().contains(".clawdbot") {
        "clawdbot"
    } else {
        "openclaw"
    }
}

/// `clawdtalk setup`.
pub async fn run(ctx: &Context, a: SetupArgs) -> Result<Outcome> {
    let interactive = ctx.interactive && !a.yes;
    let server = match &a.server {
        Some(s) => {
            let s = s.trim().trim_end_matches('/').to_string();
            match url::Url::parse(&s) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Some(s),
                _ => return Err(Error::usage(format!("--server {s:?} is not an http(s) URL"))),
            }
        }
        None => None,
    };
    let home = home_dir()?;
    let target = target_path(ctx.config_path.as_deref(), std::env::var("CLAWDTALK_CONFIG").ok(), &ctx.cwd)?;
    let found = {
        let (home, ws) = (home.clone(), a.workspace.clone());
        blocking(move || Ok(discover(target, &home, ws.as_deref()))).await?
    };
    let mut notes: Vec<String> = Vec::new();
    let target_shown = shown(&found.target, &home);

    // 1. Reconfiguring an existing file needs consent.
    if found.existing.is_some() || found.existing_error.is_some() {
        let what = match &found.existing_error {
            Some(e) => format!("{target_shown} exists but cannot be used: {e}"),
            None => format!("Configuration already exists: {target_shown}"),
        };
        if interactive {
            let q = if found.existing_error.is_some() { "Replace it (a backup is kept)?" } else { "Reconfigure?" };
            let q = q.to_string();
            let yes = ask(move |p| {
                p.say(&what);
                p.confirm(&q, false)
            })
            .await?;
            if !yes {
                return Ok(Outcome::data(json!({"config_file": found.target, "changed": false}))
                    .line("Setup cancelled: nothing changed. `clawdtalk status` shows the current configuration."));
            }
        } else if !a.yes {
            return Err(Error::usage(format!("{what}; pass --yes to reconfigure it (its other keys are kept)")));
        }
    }

    // 2. The API key.
    let flag_key = match ctx.config.api_key_source.as_deref() {
        Some("--api-key") | Some("$CLAWDTALK_API_KEY") => ctx.config.api_key.clone(),
        _ => None,
    };
    let old_key = existing_str(&found, "api_key").filter(|k| k != "YOUR_API_KEY_HERE");
    let key_raw: Option<String> = if let Some(k) = flag_key {
        Some(k.expose().to_string())
    } else if interactive {
        let has_old = old_key.is_some();
        let answer = ask(move |p| {
            p.say("To get a key: sign in at https://clawdtalk.com, set up your phone in Settings, then create a key on the Dashboard.");
            let q = if has_old { "API key (Enter keeps the current one)" } else { "API key" };
            p.secret(q)
        })
        .await?;
        if answer.is_empty() {
            old_key.clone()
        } else {
            Some(answer)
        }
    } else {
        old_key.clone()
    };
    let Some(key_raw) = key_raw else {
        return Err(Error::usage("no API key: pass --api-key KEY (create one at https://clawdtalk.com → Dashboard)"));
    };
    if key_raw.chars().any(char::is_whitespace) {
        return Err(Error::usage("the API key contains spaces; paste it again exactly as shown on the Dashboard"));
    }
    let key = substituted(&key_raw).map(Secret::new);
    if let Some(k) = &key {
        if !k.expose().starts_with("cc_") {
            notes.push(format!("warning: {} does not look like a ClawdTalk key (cc_live_… or cc_test_…)", k.masked()));
        }
    }

    // 3. Server, and the live check of the key.
    let server =
        server.or_else(|| existing_str(&found, "server")).unwrap_or_else(|| config::DEFAULT_SERVER.to_string());
    let api_url = if a.server.is_some() { format!("{server}/v1") } else { ctx.config.api_url.clone() };
    let check = match &key {
        Some(k) => check_key(&api_url, k).await,
        None => KeyCheck::Unverified(format!("{key_raw} is not set in the environment")),
    };
    let masked = key.as_ref().map(Secret::masked).unwrap_or_else(|| key_raw.clone());
    let key_line = match &check {
        KeyCheck::Accepted => format!("✓ API key {masked} accepted by {api_url}"),
        KeyCheck::Rejected(why) => {
            // `--yes` answers the reconfigure and gateway questions; only
            // `--force` saves a key the service has refused.
            let save_anyway = if a.force {
                true
            } else if interactive {
                let why = why.clone();
                ask(move |p| {
                    p.say(&format!("The service rejected this key: {why}"));
                    p.confirm("Save it anyway?", false)
                })
                .await?
            } else {
                false
            };
            if !save_anyway {
                return Err(Error::failed(format!(
                    "the service rejected the API key {masked} ({why}); nothing was saved. \
                     Check the key at https://clawdtalk.com → Dashboard, or pass --force to save it anyway"
                )));
            }
            notes.push(format!("warning: the service rejected the API key ({why}); saved anyway"));
            format!("✗ API key {masked} rejected by {api_url} (saved anyway)")
        }
        KeyCheck::Unverified(why) => {
            notes.push(format!(
                "warning: could not check the API key ({why}); saved anyway — run `clawdtalk status` once online"
            ));
            format!("! API key {masked} saved without checking (the service could not be reached)")
        }
    };

    // 4. Names.
    let mut owner = a.owner_name.clone().or(found.owner_name.clone()).or_else(|| existing_str(&found, "owner_name"));
    let mut agent = a.agent_name.clone().or(found.agent_name.clone()).or_else(|| existing_str(&found, "agent_name"));
    if interactive {
        let (o, g) = (owner.clone(), agent.clone());
        let (o, g) = ask(move |p| {
            let o = p.ask("Your name (the agent greets you with it)", o.as_deref())?;
            let g = p.ask("Agent name (Enter to skip)", g.as_deref())?;
            Ok((o, g))
        })
        .await?;
        let nonblank = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        owner = nonblank(o);
        agent = nonblank(g);
    }
    let greeting = existing_str(&found, "greeting").unwrap_or_else(|| match &owner {
        Some(o) => format!("Hey {o}, what's up?"),
        None => "Hey, what's up?".to_string(),
    });

    // 5. The gateway.
    let mut gateway_state = "not_found";
    let mut gateway_lines: Vec<String> = Vec::new();
    let (mut gateway_url, mut gateway_token, mut agent_id) =
        (existing_str(&found, "gateway_url"), existing_str(&found, "gateway_token"), existing_str(&found, "agent_id"));
    if let Some(err) = &found.gateway_error {
        notes.push(format!("warning: {err}; gateway settings were left as they were"));
        gateway_state = "unreadable";
    }
    if let Some(gw) = found.gateway.clone() {
        let path_shown = shown(&gw.path, &home);
        gateway_url = Some(gw.gateway_url());
        gateway_token = gw.token().or(gateway_token);
        agent_id = Some(gw.default_agent_id());
        gateway_lines.push(format!(
            "✓ Gateway {} (agent {}, token {}) from {path_shown}",
            gw.gateway_url(),
            gw.default_agent_id(),
            if gw.token().is_some() { "set" } else { "not set" }
        ));
        let (state, line, note) = sessions_send_step(&gw, &path_shown, &a, interactive).await?;
        gateway_state = state;
        gateway_lines.push(line);
        notes.extend(note);
    } else if found.gateway_error.is_none() {
        notes.push(format!(
            "warning: no gateway config found (~/{} or ~/{}); voice calls need the OpenClaw gateway",
            openclaw::GATEWAY_CONFIG_CANDIDATES[0],
            openclaw::GATEWAY_CONFIG_CANDIDATES[1]
        ));
    }

    // 6. Write skill-config.json, keeping every key it already had.
    let mut map = found.existing.clone().unwrap_or_default();
    let mut set = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            map.insert(k.to_string(), Value::String(v));
        }
    };
    set("api_key", Some(key_raw.clone()));
    set("server", Some(server.clone()));
    set("owner_name", owner.clone());
    set("agent_name", agent.clone());
    set("greeting", Some(greeting.clone()));
    set("gateway_url", gateway_url.clone());
    set("gateway_token", gateway_token.clone());
    set("agent_id", agent_id.clone());
    {
        let (target, map, backup) = (found.target.clone(), map.clone(), found.existing_error.is_some());
        blocking(move || {
            if backup {
                let bak = target.with_extension("json.bak");
                std::fs::copy(&target, &bak).map_err(|e| {
                    Error::config(format!("cannot back up {} to {}: {e}", target.display(), bak.display()))
                })?;
            }
            config::save_config_file(&target, &map)
        })
        .await?;
    }

    let names = match (&owner, &agent) {
        (None, None) => "! No names found (set owner_name/agent_name, or pass --owner-name/--agent-name)".to_string(),
        _ => format!(
            "✓ Owner {}, agent {}",
            owner.as_deref().unwrap_or("(not set)"),
            agent.as_deref().unwrap_or("(not set)")
        ),
    };
    let mut o = Outcome::data(json!({
        "config_file": found.target,
        "changed": true,
        "api_key": masked,
        "key_check": check.word(),
        "server": server,
        "owner_name": owner,
        "agent_name": agent,
        "greeting": greeting,
        "gateway_url": gateway_url,
        "gateway_token_set": gateway_token.is_some(),
        "agent_id": agent_id,
        "gateway_config": found.gateway.as_ref().map(|g| g.path.clone()),
        "sessions_send": gateway_state,
        "workspace": found.workspace,
    }))
    .line(key_line)
    .line(names);
    for l in gateway_lines {
        o = o.line(l);
    }
    o.notes = notes;
    Ok(o.line(format!("Saved {target_shown} (mode 0600)"))
        .line("Next: `clawdtalk connect start` for voice calls, then `clawdtalk status`."))
}

/// Make sure the gateway allows `sessions_send`: nothing to do, add it
/// (with consent: asked on a terminal, `--yes` otherwise, never with
/// `--no-gateway-edit`), or say how to add it by hand. Returns the state word
/// for `--json`, the line to show, and a warning when the edit failed.
async fn sessions_send_step(
    gw: &GatewayConfig,
    path_shown: &str,
    a: &SetupArgs,
    interactive: bool,
) -> Result<(&'static str, String, Option<String>)> {
    if gw.allows_sessions_send() {
        return Ok(("allowed", "✓ The gateway allows sessions_send".to_string(), None));
    }
    let cli = gateway_cli(&gw.path);
    let manual = format!(
        "add \"sessions_send\" to gateway.tools.allow in {path_shown} \
         (e.g. `{cli} config patch '{{\"gateway\":{{\"tools\":{{\"allow\":[\"sessions_send\"]}}}}}}'`), then restart the gateway"
    );
    let consent = if a.no_gateway_edit {
        false
    } else if interactive {
        let q = format!("Add sessions_send to gateway.tools.allow in {path_shown}? Voice calls need it");
        ask(move |p| p.confirm(&q, true)).await?
    } else {
        a.yes
    };
    if !consent {
        let why = if a.no_gateway_edit { "left unchanged (--no-gateway-edit)" } else { "left unchanged" };
        return Ok(("not_allowed", format!("✗ The gateway does not allow sessions_send ({why}): {manual}"), None));
    }
    let mut edited = gw.clone();
    match blocking(move || edited.allow_sessions_send().and_then(|_| edited.save())).await {
        Ok(()) => Ok((
            "added",
            format!("✓ Added sessions_send to gateway.tools.allow in {path_shown}: restart the gateway (`{cli} gateway restart`)"),
            None,
        )),
        Err(e) => Ok((
            "not_allowed",
            format!("✗ The gateway does not allow sessions_send: {manual}"),
            Some(format!("warning: {e}")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_follows_the_lookup_order() {
        let d = tempfile::tempdir().unwrap();
        let flag = d.path().join("a.json");
        assert_eq!(target_path(Some(&flag), Some("/env.json".into()), d.path()).unwrap(), flag);
        assert_eq!(target_path(None, Some("/env.json".into()), d.path()).unwrap(), PathBuf::from("/env.json"));
        std::fs::write(d.path().join("skill-config.json"), "{}").unwrap();
        assert_eq!(target_path(None, None, d.path()).unwrap(), d.path().join("skill-config.json"));
    }

    #[test]
    fn discover_reads_gateway_workspace_names_and_bad_existing_files() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path();
        std::fs::create_dir_all(home.join(".openclaw/ws")).unwrap();
        std::fs::write(
            home.join(".openclaw/openclaw.json"),
            r#"{"gateway":{"port":19999},"agents":{"list":[{"id":"main","default":true,"workspace":"~/.openclaw/ws"}]}}"#,
        )
        .unwrap();
        std::fs::write(home.join(".openclaw/ws/USER.md"), "- **Name:** Alex (he/him)\n").unwrap();
        std::fs::write(home.join(".openclaw/ws/IDENTITY.md"), "- Name: Claw — a helpful lobster\n").unwrap();
        let target = home.join("skill-config.json");
        std::fs::write(&target, "{not json").unwrap();
        let f = discover(target, home, None);
        assert_eq!(f.gateway.as_ref().unwrap().port(), 19999);
        assert_eq!((f.owner_name.as_deref(), f.agent_name.as_deref()), (Some("Alex"), Some("Claw")));
        assert!(f.existing.is_none() && f.existing_error.is_some());
    }
}
