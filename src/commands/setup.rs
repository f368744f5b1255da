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
use crate::openclaw::{self, tools, GatewayConfig};
use crate::output::{Outcome, Prompt};
use crate::task::blocking;

use super::support::home_dir;
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
    let phone_flag = a.owner_phone.as_deref().map(|p| crate::validate::phone("--owner-phone", p)).transpose()?;
    let server = a.server.as_deref().map(server_flag).transpose()?;
    let home = home_dir()?;
    let target = target_path(ctx.config_path.as_deref(), std::env::var("CLAWDTALK_CONFIG").ok(), &ctx.cwd)?;
    let found = {
        let (home, ws) = (home.clone(), a.workspace.clone());
        blocking(move || Ok(discover(target, &home, ws.as_deref()))).await?
    };
    let mut notes: Vec<String> = Vec::new();
    let target_shown = shown(&found.target, &home);

    // 1. Reconfiguring an existing file needs consent.
    if !reconfigure(&found, &target_shown, interactive, a.yes).await? {
        return Ok(Outcome::data(json!({"config_file": found.target, "changed": false}))
            .line("Setup cancelled: nothing changed. `clawdtalk status` shows the current configuration."));
    }

    // 2. The API key.
    let key_raw = api_key(ctx, &found, interactive).await?;
    let key = substituted(&key_raw).map(Secret::new);
    if let Some(k) = &key {
        if !k.expose().starts_with("cc_") {
            notes.push(format!("warning: {} does not look like a ClawdTalk key (cc_live_… or cc_test_…)", k.masked()));
        }
    }

    // 3. Server, and the live check of the key.
    let (server, api_url) = server_to_save(server, &ctx.config.api_url, existing_str(&found, "server"), &mut notes);
    let check = match &key {
        Some(k) => check_key(&api_url, k).await,
        None => KeyCheck::Unverified(format!("{key_raw} is not set in the environment")),
    };
    let masked = key.as_ref().map(Secret::masked).unwrap_or_else(|| key_raw.clone());
    let key_line = key_verdict(&check, &masked, &api_url, a.force, interactive, &mut notes).await?;

    // 4. Names.
    let (owner, agent) = names(&a, &found, interactive).await?;
    let owner_phone = owner_phone(phone_flag, &found, interactive).await?;
    let greeting = existing_str(&found, "greeting").unwrap_or_else(|| match &owner {
        Some(o) => format!("Hey {o}, what's up?"),
        None => "Hey, what's up?".to_string(),
    });

    // 5. The gateway.
    let Gateway { state: gateway_state, lines: gateway_lines, url: gateway_url, token: gateway_token, agent_id } =
        gateway(&found, &home, &a, interactive, &mut notes).await?;

    // 6. Write skill-config.json, keeping every key it already had.
    let entries = [
        ("api_key", Some(key_raw.clone())),
        ("server", Some(server.clone())),
        ("owner_name", owner.clone()),
        ("agent_name", agent.clone()),
        ("owner_phone", owner_phone.clone()),
        ("greeting", Some(greeting.clone())),
        ("gateway_url", gateway_url.clone()),
        ("gateway_token", gateway_token.clone()),
        ("agent_id", agent_id.clone()),
    ];
    write_config(&found, entries).await?;

    let names = names_line(owner.as_deref(), agent.as_deref());
    let mut o = Outcome::data(json!({
        "config_file": found.target,
        "changed": true,
        "api_key": masked,
        "key_check": check.word(),
        "server": server,
        "owner_name": owner,
        "agent_name": agent,
        "owner_phone": owner_phone,
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

/// `--server` as given: an http(s) site root, without a trailing `/`.
fn server_flag(s: &str) -> Result<String> {
    let s = s.trim().trim_end_matches('/').to_string();
    match url::Url::parse(&s) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(s),
        _ => Err(Error::usage(format!("--server {s:?} is not an http(s) URL"))),
    }
}

/// Ask before reconfiguring an existing (or unusable) config file: on a
/// terminal a question, otherwise `--yes` or a usage error. `false`: the
/// user declined (nothing changes).
async fn reconfigure(found: &Found, target_shown: &str, interactive: bool, yes: bool) -> Result<bool> {
    if found.existing.is_none() && found.existing_error.is_none() {
        return Ok(true);
    }
    let what = match &found.existing_error {
        Some(e) => format!("{target_shown} exists but cannot be used: {e}"),
        None => format!("Configuration already exists: {target_shown}"),
    };
    if interactive {
        let q = if found.existing_error.is_some() { "Replace it (a backup is kept)?" } else { "Reconfigure?" };
        let q = q.to_string();
        return ask(move |p| {
            p.say(&what);
            p.confirm(&q, false)
        })
        .await;
    }
    if !yes {
        return Err(Error::usage(format!("{what}; pass --yes to reconfigure it (its other keys are kept)")));
    }
    Ok(true)
}

/// The API key to save, as given (`--api-key`, `$CLAWDTALK_API_KEY`), asked
/// for on a terminal, or the one the file already has.
async fn api_key(ctx: &Context, found: &Found, interactive: bool) -> Result<String> {
    let flag_key = match ctx.config.api_key_source.as_deref() {
        Some("--api-key") | Some("$CLAWDTALK_API_KEY") => ctx.config.api_key.clone(),
        _ => None,
    };
    let old_key = existing_str(found, "api_key").filter(|k| k != "YOUR_API_KEY_HERE");
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
            old_key
        } else {
            Some(answer)
        }
    } else {
        old_key
    };
    let Some(key_raw) = key_raw else {
        return Err(Error::usage("no API key: pass --api-key KEY (create one at https://clawdtalk.com → Dashboard)"));
    };
    if key_raw.chars().any(char::is_whitespace) {
        return Err(Error::usage("the API key contains spaces; paste it again exactly as shown on the Dashboard"));
    }
    Ok(key_raw)
}

/// The line saying how the key check went; a rejected key is saved only
/// with `--force` or the user's consent (else the error, nothing saved).
async fn key_verdict(
    check: &KeyCheck,
    masked: &str,
    api_url: &str,
    force: bool,
    interactive: bool,
    notes: &mut Vec<String>,
) -> Result<String> {
    Ok(match check {
        KeyCheck::Accepted => format!("✓ API key {masked} accepted by {api_url}"),
        KeyCheck::Rejected(why) => {
            // `--yes` answers the reconfigure and gateway questions; only
            // `--force` saves a key the service has refused.
            let save_anyway = if force {
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
    })
}

/// The owner's and agent's names: flags, the workspace files, the config
/// file; on a terminal, confirmed or changed by the user.
async fn names(a: &SetupArgs, found: &Found, interactive: bool) -> Result<(Option<String>, Option<String>)> {
    let owner = a.owner_name.clone().or(found.owner_name.clone()).or_else(|| existing_str(found, "owner_name"));
    let agent = a.agent_name.clone().or(found.agent_name.clone()).or_else(|| existing_str(found, "agent_name"));
    if !interactive {
        return Ok((owner, agent));
    }
    let (o, g) = ask(move |p| {
        let o = p.ask("Your name (the agent greets you with it)", owner.as_deref())?;
        let g = p.ask("Agent name (Enter to skip)", agent.as_deref())?;
        Ok((o, g))
    })
    .await?;
    let nonblank = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    Ok((nonblank(o), nonblank(g)))
}

/// The owner's own number (`owner_phone`): the flag (already checked),
/// else the config file's; on a terminal offered, and asked again until it
/// is E.164 or left blank (skipped). Why: without it every SMS and call is
/// a stranger's, so the owner's own requests meet the stranger throttle.
async fn owner_phone(flag: Option<String>, found: &Found, interactive: bool) -> Result<Option<String>> {
    let current = flag.or_else(|| existing_str(found, "owner_phone"));
    if !interactive {
        return Ok(current);
    }
    ask(move |p| loop {
        let answer = p.ask("Your own phone number, E.164 like +15551234567 (Enter to skip)", current.as_deref())?;
        let answer = answer.trim();
        if answer.is_empty() {
            return Ok(None);
        }
        match crate::validate::phone("owner_phone", answer) {
            Ok(n) => return Ok(Some(n)),
            Err(e) => p.say(&e.to_string()),
        }
    })
    .await
}

/// What setup learned of the OpenClaw gateway.
struct Gateway {
    /// The `sessions_send` state word.
    state: &'static str,
    lines: Vec<String>,
    url: Option<String>,
    token: Option<String>,
    agent_id: Option<String>,
}

/// The gateway's URL, token and default agent (from its config, else as
/// the config file had them), and whether it allows `sessions_send`.
async fn gateway(
    found: &Found,
    home: &Path,
    a: &SetupArgs,
    interactive: bool,
    notes: &mut Vec<String>,
) -> Result<Gateway> {
    let mut gateway_state = "not_found";
    let mut gateway_lines: Vec<String> = Vec::new();
    let (mut gateway_url, mut gateway_token, mut agent_id) =
        (existing_str(found, "gateway_url"), existing_str(found, "gateway_token"), existing_str(found, "agent_id"));
    if let Some(err) = &found.gateway_error {
        notes.push(format!("warning: {err}; gateway settings were left as they were"));
        gateway_state = "unreadable";
    }
    if let Some(gw) = found.gateway.clone() {
        let path_shown = shown(&gw.path, home);
        gateway_url = Some(gw.gateway_url());
        gateway_token = gw.token().or(gateway_token);
        agent_id = Some(gw.default_agent_id());
        gateway_lines.push(format!(
            "✓ Gateway {} (agent {}, token {}) from {path_shown}",
            gw.gateway_url(),
            gw.default_agent_id(),
            if gw.token().is_some() { "set" } else { "not set" }
        ));
        let (state, line, note) = sessions_send_step(&gw, &path_shown, a, interactive).await?;
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

    Ok(Gateway { state: gateway_state, lines: gateway_lines, url: gateway_url, token: gateway_token, agent_id })
}

/// The server to save and the API base the key is checked against: they
/// must name the same service, or the key is paired with a server it was
/// never shown to. `--server S` checks against `S/v1`. Without it the check
/// uses the resolved API base (`--api-url`, `$CLAWDTALK_API_URL`, else the
/// file's server), and the server saved is that base without its `/v1`
/// (docs/protocol.md#configuration). A base not ending in `/v1` names no
/// server root: the current (or default) server is kept, with a warning.
fn server_to_save(
    flag: Option<String>,
    resolved_api_url: &str,
    existing: Option<String>,
    notes: &mut Vec<String>,
) -> (String, String) {
    if let Some(server) = flag {
        let api_url = format!("{server}/v1");
        return (server, api_url);
    }
    let api_url = resolved_api_url.trim_end_matches('/').to_string();
    if let Some(root) = api_url.strip_suffix("/v1") {
        return (root.to_string(), api_url.clone());
    }
    let kept = existing.unwrap_or_else(|| config::DEFAULT_SERVER.to_string());
    notes.push(format!(
        "warning: the key was checked against {api_url}, which does not end in /v1; saved server {kept} \
         (pass --server URL to choose the one to save)"
    ));
    (kept, api_url)
}

/// The line saying which names were saved.
fn names_line(owner: Option<&str>, agent: Option<&str>) -> String {
    match (owner, agent) {
        (None, None) => "! No names found (set owner_name/agent_name, or pass --owner-name/--agent-name)".to_string(),
        _ => format!("✓ Owner {}, agent {}", owner.unwrap_or("(not set)"), agent.unwrap_or("(not set)")),
    }
}

/// Write the config file (mode 0600) with `entries` set (absent ones are
/// left as they were, like every key the file already had), backing up an
/// unusable file first.
async fn write_config<const N: usize>(found: &Found, entries: [(&str, Option<String>); N]) -> Result<()> {
    let mut map = found.existing.clone().unwrap_or_default();
    for (k, v) in entries {
        if let Some(v) = v {
            map.insert(k.to_string(), Value::String(v));
        }
    }
    let (target, backup) = (found.target.clone(), found.existing_error.is_some());
    blocking(move || {
        if backup {
            let bak = target.with_extension("json.bak");
            std::fs::copy(&target, &bak)
                .map_err(|e| Error::file(format!("cannot back up {} to {}: {e}", target.display(), bak.display())))?;
        }
        config::save_config_file(&target, &map)
    })
    .await
}

/// Make sure the gateway allows every tool clawdtalk calls
/// (`openclaw::tools::NEEDED`): nothing to do, add the missing ones
/// (with consent: asked on a terminal, `--yes` otherwise, never with
/// `--no-gateway-edit`), or say how to add them by hand. Returns the state
/// word for `--json`, the line to show, and a warning when the edit failed.
async fn sessions_send_step(
    gw: &GatewayConfig,
    path_shown: &str,
    a: &SetupArgs,
    interactive: bool,
) -> Result<(&'static str, String, Option<String>)> {
    let all = tools::named();
    if gw.allows_tools() {
        return Ok(("allowed", format!("✓ The gateway allows {all}"), None));
    }
    let missing = gw.missing_tools().join(", ");
    let cli = gateway_cli(&gw.path);
    let manual = format!(
        "add {missing} to gateway.tools.allow in {path_shown} \
         (e.g. `{cli} config patch '{}'`), then restart the gateway",
        tools::allow_example()
    );
    let consent = if a.no_gateway_edit {
        false
    } else if interactive {
        let q = format!("Add {missing} to gateway.tools.allow in {path_shown}? Voice calls need it");
        ask(move |p| p.confirm(&q, true)).await?
    } else {
        a.yes
    };
    if !consent {
        let why = if a.no_gateway_edit { "left unchanged (--no-gateway-edit)" } else { "left unchanged" };
        return Ok(("not_allowed", format!("✗ The gateway does not allow {missing} ({why}): {manual}"), None));
    }
    let mut edited = gw.clone();
    match blocking(move || edited.allow_tools().and_then(|_| edited.save())).await {
        Ok(()) => Ok((
            "added",
            format!("✓ Added {missing} to gateway.tools.allow in {path_shown}: restart the gateway (`{cli} gateway restart`)"),
            None,
        )),
        Err(e) => Ok((
            "not_allowed",
            format!("✗ The gateway does not allow {missing}: {manual}"),
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

#[cfg(test)]
mod service_tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{parse, text, Harness, Reply, TEST_KEY};

    fn args(words: &[&str]) -> SetupArgs {
        match parse(&[&["setup"], words].concat()) {
            crate::cli::Command::Setup(a) => a,
            other => panic!("not a setup command: {other:?}"),
        }
    }

    /// A context that writes its configuration into the harness directory.
    fn ctx(h: &Harness) -> Context {
        Context { config_path: Some(h.dir().join("skill-config.json")), ..h.ctx() }
    }

    #[tokio::test]
    async fn the_key_check_is_one_authenticated_mission_list() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::ok(json!({"data": []}))]);
        assert_eq!(check_key(&h.service.api_url(), &Secret::new(TEST_KEY)).await, KeyCheck::Accepted);
        let r = h.service.single();
        assert_eq!(r.line(), "GET /v1/missions");
        assert_eq!(r.header("authorization"), Some(format!("Bearer {TEST_KEY}").as_str()));
    }

    #[tokio::test]
    async fn a_server_error_leaves_the_key_unverified_after_one_attempt() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::error(503, "maintenance")]);
        let check = check_key(&h.service.api_url(), &Secret::new(TEST_KEY)).await;
        assert!(matches!(&check, KeyCheck::Unverified(m) if m.contains("maintenance")), "{check:?}");
        assert_eq!(h.service.requests().len(), 1);
    }

    #[tokio::test]
    async fn an_accepted_key_is_saved_with_the_server() {
        let h = Harness::start().await;
        let o = run(&ctx(&h), args(&["--yes", "--no-gateway-edit", "--owner-name", "Alex"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/missions");
        assert!(text(&o).starts_with("✓ API key cc_test_"), "{}", text(&o));
        assert_eq!(o.data["key_check"], "accepted");
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(h.dir().join("skill-config.json")).unwrap()).unwrap();
        assert_eq!((saved["api_key"].as_str(), saved["owner_name"].as_str()), (Some(TEST_KEY), Some("Alex")));
    }

    #[tokio::test]
    async fn without_server_the_root_of_the_verified_api_base_is_saved() {
        let h = Harness::start().await;
        let o = run(&ctx(&h), args(&["--yes", "--no-gateway-edit"])).await.unwrap();
        let root = h.service.api_url().trim_end_matches("/v1").to_string();
        assert!(text(&o).contains(&format!("accepted by {root}/v1")), "{}", text(&o));
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(h.dir().join("skill-config.json")).unwrap()).unwrap();
        assert_eq!(saved["server"].as_str(), Some(root.as_str()), "{saved}");
        assert_ne!(saved["server"], config::DEFAULT_SERVER);
        assert_eq!(o.data["server"], root);
    }

    #[test]
    fn the_saved_server_and_the_checked_base_always_agree() {
        let mut notes = Vec::new();
        let flag = server_to_save(Some("https://x.test".into()), "http://127.0.0.1:9/v1", None, &mut notes);
        assert_eq!(flag, ("https://x.test".to_string(), "https://x.test/v1".to_string()));
        let env = server_to_save(None, "http://127.0.0.1:9/v1", Some("https://old.test".into()), &mut notes);
        assert_eq!(env, ("http://127.0.0.1:9".to_string(), "http://127.0.0.1:9/v1".to_string()));
        assert!(notes.is_empty());
        let odd = server_to_save(None, "http://127.0.0.1:9/api", None, &mut notes);
        assert_eq!(odd.0, config::DEFAULT_SERVER);
        assert!(notes[0].contains("does not end in /v1"), "{notes:?}");
    }

    #[tokio::test]
    async fn a_rejected_key_is_not_saved_without_force() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::error(401, "invalid key")]);
        let e = run(&ctx(&h), args(&["--yes", "--no-gateway-edit"])).await.unwrap_err();
        assert!(matches!(&e, Error::Failed(m) if m.contains("rejected the API key") && m.contains("--force")), "{e:?}");
        assert!(!h.dir().join("skill-config.json").exists());
    }

    #[tokio::test]
    async fn owner_phone_is_saved_from_the_flag() {
        let h = Harness::start().await;
        let o = run(&ctx(&h), args(&["--yes", "--no-gateway-edit", "--owner-phone", " +15551234567 "])).await.unwrap();
        assert_eq!(o.data["owner_phone"], "+15551234567");
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(h.dir().join("skill-config.json")).unwrap()).unwrap();
        assert_eq!(saved["owner_phone"], "+15551234567");
    }

    #[tokio::test]
    async fn a_bad_owner_phone_is_refused_before_anything_is_sent_or_written() {
        let h = Harness::start().await;
        for bad in ["911", "5551234567", ""] {
            let e = run(&ctx(&h), args(&["--yes", "--no-gateway-edit", "--owner-phone", bad])).await.unwrap_err();
            assert!(matches!(&e, Error::Usage(m) if m.contains("--owner-phone")), "{bad}: {e:?}");
        }
        assert!(h.service.requests().is_empty());
        assert!(!h.dir().join("skill-config.json").exists());
    }
}
