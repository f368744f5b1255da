//! The agent's own files, which `setup` and `status` read: the OpenClaw /
//! Clawdbot gateway configuration and the workspace's `USER.md` and
//! `IDENTITY.md`.
//!
//! What is read from the gateway configuration (every key optional):
//! - `gateway.port` (number or numeric string; default 18789) → `gateway_url`
//!   `http://127.0.0.1:<port>` (the gateway listens on loopback);
//! - `gateway.auth.token` → `gateway_token`;
//! - the default agent id: the `id` of the `agents.list[]` entry with
//!   `"default": true`, else `agents.default` when it is a string, else
//!   `agents.list[0].id`, else `main`;
//! - the workspace: that agent's `workspace`, else `agents.defaults.workspace`
//!   (a leading `~/` is the home directory);
//! - `gateway.tools.allow` (a list of tool names): voice routing needs every
//!   tool in [`tools::NEEDED`] there (`sessions_send`, and `sessions_history`
//!   for late replies: docs/protocol.md#the-gateway). It is the only key `setup` changes,
//!   and only with consent; every other key and their order are kept.
//!
//! Everything here is blocking file work: async callers use `spawn_blocking`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Gateway port when the configuration does not name one.
pub const DEFAULT_GATEWAY_PORT: u16 = 18789;
/// The gateway tools clawdtalk calls (docs/protocol.md#the-gateway).
pub mod tools {
    /// Asks the agent and waits for its reply.
    pub const SESSIONS_SEND: &str = "sessions_send";
    /// Reads a session's transcript: where a late reply is found.
    pub const SESSIONS_HISTORY: &str = "sessions_history";
    /// Every tool clawdtalk calls: `status` checks and `setup` allows each.
    pub const NEEDED: &[&str] = &[SESSIONS_SEND, SESSIONS_HISTORY];

    /// The tools, named for a message: `sessions_send, sessions_history`.
    pub fn named() -> String {
        NEEDED.join(", ")
    }

    /// The config patch that allows them all, for a message.
    pub fn allow_example() -> String {
        let list: Vec<String> = NEEDED.iter().map(|t| format!("\"{t}\"")).collect();
        format!("{{\"gateway\":{{\"tools\":{{\"allow\":[{}]}}}}}}", list.join(","))
    }
}

/// Where the gateway configuration may live, relative to the home directory,
/// in the order they are tried (OpenClaw is the current name of Clawdbot).
pub const GATEWAY_CONFIG_CANDIDATES: &[&str] = &[".openclaw/openclaw.json", ".clawdbot/clawdbot.json"];

/// The first gateway configuration file that exists under `home`.
pub fn find_gateway_config(home: &Path) -> Option<PathBuf> {
    GATEWAY_CONFIG_CANDIDATES.iter().map(|rel| home.join(rel)).find(|p| p.is_file())
}

/// A gateway configuration file as read.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub path: PathBuf,
    /// The whole document (an object), key order preserved.
    pub doc: Map<String, Value>,
    /// False when the file only parsed after dropping `//` comments (JSON5
    /// style): it is then read but never rewritten, since rewriting would lose
    /// the comments.
    pub plain_json: bool,
}

impl GatewayConfig {
    /// Read and parse a gateway configuration file.
    pub fn load(path: &Path) -> Result<GatewayConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("cannot read the gateway config {}: {e}", path.display())))?;
        let (value, plain_json) = match serde_json::from_str::<Value>(&text) {
            Ok(v) => (v, true),
            Err(e) => match serde_json::from_str::<Value>(&strip_line_comments(&text)) {
                Ok(v) => (v, false),
                Err(_) => {
                    return Err(Error::config(format!(
                        "the gateway config {} is not valid JSON (line {}, column {}): {e}",
                        path.display(),
                        e.line(),
                        e.column()
                    )))
                }
            },
        };
        match value {
            Value::Object(doc) => Ok(GatewayConfig { path: path.to_path_buf(), doc, plain_json }),
            _ => Err(Error::config(format!("the gateway config {} must hold a JSON object", path.display()))),
        }
    }

    fn at(&self, pointer: &str) -> Option<&Value> {
        let mut cur: Option<&Value> = None;
        for (i, part) in pointer.split('/').filter(|p| !p.is_empty()).enumerate() {
            cur = if i == 0 { self.doc.get(part) } else { cur?.get(part) };
        }
        cur
    }

    /// `gateway.port`, or 18789.
    pub fn port(&self) -> u16 {
        match self.at("/gateway/port") {
            Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_GATEWAY_PORT)
    }

    /// The gateway URL the skill should call (loopback, the configured port).
    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// `gateway.auth.token`, when set.
    pub fn token(&self) -> Option<String> {
        self.at("/gateway/auth/token").and_then(Value::as_str).map(str::to_string).filter(|t| !t.is_empty())
    }

    fn agents(&self) -> Vec<&Map<String, Value>> {
        self.at("/agents/list")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default()
    }

    /// The default agent's id (see the module documentation for the order).
    pub fn default_agent_id(&self) -> String {
        let id = |a: &Map<String, Value>| a.get("id").and_then(Value::as_str).map(str::to_string);
        let agents = self.agents();
        agents
            .iter()
            .find(|a| a.get("default").and_then(Value::as_bool) == Some(true))
            .and_then(|a| id(a))
            .or_else(|| self.at("/agents/default").and_then(Value::as_str).map(str::to_string))
            .or_else(|| agents.first().and_then(|a| id(a)))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| crate::config::DEFAULT_AGENT_ID.to_string())
    }

    /// The default agent's workspace directory, when the file names one.
    pub fn workspace(&self, home: &Path) -> Option<PathBuf> {
        let agent = self.default_agent_id();
        let own = self
            .agents()
            .into_iter()
            .find(|a| a.get("id").and_then(Value::as_str) == Some(agent.as_str()))
            .and_then(|a| a.get("workspace"))
            .and_then(Value::as_str);
        let ws = own.or_else(|| self.at("/agents/defaults/workspace").and_then(Value::as_str))?;
        Some(expand_home(ws, home))
    }

    /// The tools of [`tools::NEEDED`] that `gateway.tools.allow` does not list.
    pub fn missing_tools(&self) -> Vec<&'static str> {
        let listed = self.at("/gateway/tools/allow").and_then(Value::as_array);
        tools::NEEDED
            .iter()
            .copied()
            .filter(|need| !listed.is_some_and(|l| l.iter().any(|t| t.as_str() == Some(need))))
            .collect()
    }

    /// Whether `gateway.tools.allow` lists every tool clawdtalk calls.
    pub fn allows_tools(&self) -> bool {
        self.missing_tools().is_empty()
    }

    /// Add the missing tools of [`tools::NEEDED`] to `gateway.tools.allow`,
    /// creating the objects on the way when missing and touching nothing
    /// else. Returns false when all were already there. Refuses (rather than
    /// guess) when one of those keys holds something of another type.
    pub fn allow_tools(&mut self) -> Result<bool> {
        let missing = self.missing_tools();
        if missing.is_empty() {
            return Ok(false);
        }
        let shape_error = |what: &str| {
            Error::config(format!(
                "cannot add {} to {}: {what} is not what it should be; add it by hand",
                missing.join(", "),
                self.path.display()
            ))
        };
        let gateway = self.doc.entry("gateway").or_insert_with(|| Value::Object(Map::new()));
        let tools = gateway
            .as_object_mut()
            .ok_or_else(|| shape_error("`gateway` (an object)"))?
            .entry("tools")
            .or_insert_with(|| Value::Object(Map::new()));
        let allow = tools
            .as_object_mut()
            .ok_or_else(|| shape_error("`gateway.tools` (an object)"))?
            .entry("allow")
            .or_insert_with(|| Value::Array(Vec::new()));
        allow
            .as_array_mut()
            .ok_or_else(|| shape_error("`gateway.tools.allow` (a list)"))?
            .extend(missing.iter().map(|t| Value::String(t.to_string())));
        Ok(true)
    }

    /// Write the document back in place (atomically, keeping the file's
    /// permissions). Refuses for files with comments, which it would lose.
    pub fn save(&self) -> Result<()> {
        if !self.plain_json {
            return Err(Error::config(format!(
                "{} has comments, which rewriting would lose; edit it by hand",
                self.path.display()
            )));
        }
        let mut text = serde_json::to_string_pretty(&self.doc)
            .map_err(|e| Error::failed(format!("cannot encode the gateway config: {e}")))?;
        text.push('\n');
        let mode = file_mode(&self.path);
        crate::config::write_atomic(&self.path, text.as_bytes(), mode.unwrap_or(0o600))
    }
}

#[cfg(unix)]
fn file_mode(p: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).ok().map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn file_mode(_: &Path) -> Option<u32> {
    None
}

/// `~/x` → `<home>/x`; anything else as is.
pub fn expand_home(p: &str, home: &Path) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if p == "~" => home.to_path_buf(),
        None => PathBuf::from(p),
    }
}

/// The workspace to read `USER.md`/`IDENTITY.md` from: the one given, the
/// gateway's, then `~/.openclaw/workspace`, then `~/clawd` (Clawdbot's).
pub fn workspace_dir(given: Option<&Path>, gateway: Option<&GatewayConfig>, home: &Path) -> Option<PathBuf> {
    if let Some(g) = given {
        return Some(g.to_path_buf());
    }
    if let Some(w) = gateway.and_then(|g| g.workspace(home)) {
        return Some(w);
    }
    [home.join(".openclaw/workspace"), home.join("clawd")].into_iter().find(|p| p.is_dir())
}

/// Labels that name the owner in `USER.md`, most specific first.
pub const OWNER_LABELS: &[&str] = &["what to call them", "preferred name", "name"];
/// Labels that name the agent in `IDENTITY.md`.
pub const AGENT_LABELS: &[&str] = &["name"];

/// The name on the first `LABEL: value` line for the first label that has
/// one, e.g. `- **Name:** Alex (he/him)` → `Alex`. Only the name is kept:
/// the value stops at a bracket, a dash with spaces around it, a comma,
/// semicolon or pipe. Template placeholders (empty, or only a bracketed
/// hint like `_(optional)_`) give nothing.
pub fn name_from_markdown(text: &str, labels: &[&str]) -> Option<String> {
    labels.iter().find_map(|label| text.lines().find_map(|line| labelled_value(line, label)))
}

fn labelled_value(line: &str, label: &str) -> Option<String> {
    let cleaned: String = line.chars().filter(|c| !matches!(c, '*' | '`')).collect();
    let body = cleaned.trim_start().trim_start_matches(['-', '+', '•', '>', '#']).trim_start();
    let lower = body.to_lowercase();
    if !lower.starts_with(label) {
        return None;
    }
    // `label` is ASCII, so its byte length is a char boundary of `body`.
    let rest = body[label.len()..].trim_start();
    let value = rest.strip_prefix(':')?;
    name_only(value)
}

fn name_only(value: &str) -> Option<String> {
    let v = value.trim();
    let mut end = v.len();
    for sep in [" (", "(", " [", " — ", " –", " - ", ",", ";", " |", " / "] {
        if let Some(i) = v.find(sep) {
            end = end.min(i);
        }
    }
    for dash in ['—', '–'] {
        if let Some(i) = v.find(dash) {
            end = end.min(i);
        }
    }
    let name = v[..end].trim().trim_matches(|c: char| matches!(c, '"' | '\'' | '_' | '.')).trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The owner's and the agent's names from a workspace (each optional).
pub fn names_from_workspace(dir: &Path) -> (Option<String>, Option<String>) {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    let owner = read("USER.md").and_then(|t| name_from_markdown(&t, OWNER_LABELS));
    let agent = read("IDENTITY.md").and_then(|t| name_from_markdown(&t, AGENT_LABELS));
    (owner, agent)
}

/// Whether something answers HTTP at the gateway URL (any status counts:
/// the gateway's root may well be 404). Returns the status code.
pub async fn probe(gateway_url: &str) -> Result<u16> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .timeout(std::time::Duration::from_secs(4))
        // A probe only needs a status; following a redirect could take it
        // (and the user's trust in the answer) to another host.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::failed(format!("cannot build the HTTP client: {e}")))?;
    match client.get(gateway_url).send().await {
        Ok(resp) => Ok(resp.status().as_u16()),
        Err(e) if e.is_timeout() => Err(Error::Network("timed out".into())),
        Err(e) if e.is_connect() => Err(Error::Network("connection refused or unreachable".into())),
        Err(e) => Err(Error::Network(e.to_string())),
    }
}

/// Drop `//` line comments outside strings (OpenClaw accepts JSON5-style files).
fn strip_line_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let (mut in_str, mut escaped, mut cut) = (false, false, line.len());
        let bytes = line.as_bytes();
        for i in 0..bytes.len() {
            match bytes[i] {
                _ if escaped => escaped = false,
                b'\\' if in_str => escaped = true,
                b'"' => in_str = !in_str,
                b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => {
                    cut = i;
                    break;
                }
                _ => {}
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gw(v: Value) -> GatewayConfig {
        GatewayConfig { path: PathBuf::from("/x/openclaw.json"), doc: v.as_object().unwrap().clone(), plain_json: true }
    }

    #[test]
    fn names_keep_only_the_name() {
        assert_eq!(name_from_markdown("**Name:** Alex (he/him)", OWNER_LABELS).as_deref(), Some("Alex"));
        assert_eq!(name_from_markdown("- Name: Claw — a helpful lobster", AGENT_LABELS).as_deref(), Some("Claw"));
        assert_eq!(name_from_markdown("- **Name:** PAL-01 (the pal)", AGENT_LABELS).as_deref(), Some("PAL-01"));
        assert_eq!(name_from_markdown("- **Name:** Mary Jane, engineer", OWNER_LABELS).as_deref(), Some("Mary Jane"));
        assert_eq!(name_from_markdown("Name: Bo - a bot", AGENT_LABELS).as_deref(), Some("Bo"));
    }

    #[test]
    fn preferred_label_wins_and_placeholders_are_skipped() {
        let user = "# USER.md\n- **Name:** Alexandra Smith\n- **What to call them:** Alex\n";
        assert_eq!(name_from_markdown(user, OWNER_LABELS).as_deref(), Some("Alex"));
        let template = "- **Name:**\n- **What to call them:** _(optional)_\n";
        assert_eq!(name_from_markdown(template, OWNER_LABELS), None);
        assert_eq!(name_from_markdown("Nickname: Z\nNamespace: y", AGENT_LABELS), None);
    }

    #[test]
    fn gateway_values_with_defaults() {
        let g = gw(json!({}));
        assert_eq!((g.port(), g.token(), g.default_agent_id()), (18789, None, "main".to_string()));
        let g = gw(json!({"gateway": {"port": 19001, "auth": {"token": "tok"}},
                          "agents": {"list": [{"id": "a"}, {"id": "b", "default": true, "workspace": "~/ws"}]}}));
        assert_eq!(g.gateway_url(), "http://127.0.0.1:19001");
        assert_eq!(g.token().as_deref(), Some("tok"));
        assert_eq!(g.default_agent_id(), "b");
        assert_eq!(g.workspace(Path::new("/home/u")), Some(PathBuf::from("/home/u/ws")));
        let g =
            gw(json!({"gateway": {"port": "18800"}, "agents": {"default": "ops", "defaults": {"workspace": "/w"}}}));
        assert_eq!((g.port(), g.default_agent_id()), (18800, "ops".to_string()));
        assert_eq!(g.workspace(Path::new("/h")), Some(PathBuf::from("/w")));
        assert_eq!(gw(json!({"agents": {"list": [{"id": "first"}]}})).default_agent_id(), "first");
    }

    #[test]
    fn allowing_the_tools_adds_sessions_send_and_sessions_history_and_touches_only_the_allow_list() {
        let mut g = gw(json!({"z": 1, "gateway": {"port": 1, "tools": {"allow": ["web"]}}, "a": [1]}));
        assert_eq!(g.missing_tools(), vec!["sessions_send", "sessions_history"]);
        assert!(g.allow_tools().unwrap());
        assert_eq!(
            Value::Object(g.doc.clone()),
            json!({"z": 1, "gateway": {"port": 1, "tools": {"allow": ["web", "sessions_send", "sessions_history"]}}, "a": [1]})
        );
        assert!(!g.allow_tools().unwrap(), "second time is a no-op");
        let mut g = gw(json!({"gateway": {"tools": {"allow": "all"}}}));
        assert!(g.allow_tools().is_err());
        let mut g = gw(json!({}));
        g.allow_tools().unwrap();
        assert!(g.allows_tools());
    }

    #[test]
    fn a_gateway_allowing_only_sessions_send_is_missing_sessions_history_and_setup_adds_just_that() {
        let mut g = gw(json!({"gateway": {"tools": {"allow": ["sessions_send"]}}}));
        assert!(!g.allows_tools());
        assert_eq!(g.missing_tools(), vec!["sessions_history"]);
        assert!(g.allow_tools().unwrap());
        assert_eq!(g.at("/gateway/tools/allow"), Some(&json!(["sessions_send", "sessions_history"])));
    }

    #[test]
    fn commented_files_are_read_but_not_rewritten() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("openclaw.json");
        std::fs::write(&p, "{\n  // port\n  \"gateway\": {\"port\": 1234, \"url\": \"http://x\"}\n}\n").unwrap();
        let g = GatewayConfig::load(&p).unwrap();
        assert_eq!(g.port(), 1234);
        assert!(!g.plain_json);
        assert!(g.save().is_err());
    }
}
