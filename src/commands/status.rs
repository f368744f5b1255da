//! `clawdtalk status`: one screen of checks, each ✓ or ✗ with the fix, and
//! `?` for what cannot be known. Exit 1 when a check fails.

use serde::Serialize;
use serde_json::json;

use crate::api::missions;
use crate::cli::status::StatusArgs;
use crate::config::ProcessEnv;
use crate::connect::daemon::Runtime;
use crate::error::{Error, Result};
use crate::openclaw::{self, GatewayConfig};
use crate::output::Outcome;

use super::Context;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Fail,
    /// Not checked or not knowable here; never fails the command.
    Unknown,
}

/// One line of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, status: Verdict::Ok, detail: detail.into(), fix: None }
    }
    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, status: Verdict::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
    fn unknown(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, status: Verdict::Unknown, detail: detail.into(), fix: None }
    }
}

/// Render checks as aligned lines: mark, name, detail, then the fix indented.
pub fn render(checks: &[Check]) -> Vec<String> {
    let w = checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
    let mut lines = Vec::new();
    for c in checks {
        let mark = match c.status {
            Verdict::Ok => "✓",
            Verdict::Fail => "✗",
            Verdict::Unknown => "?",
        };
        lines.push(format!("{mark} {:<w$}  {}", c.name, c.detail));
        if let Some(fix) = &c.fix {
            lines.push(format!("  {:<w$}  fix: {fix}", ""));
        }
    }
    lines
}

/// `clawdtalk status [--offline]`.
pub async fn run(ctx: &Context, a: StatusArgs) -> Result<Outcome> {
    let cfg = &ctx.config;
    let mut checks = Vec::new();

    // Configuration file and key.
    match &cfg.file {
        Some(f) => checks.push(Check::ok("config", f.display().to_string())),
        None if cfg.api_key.is_some() => {
            checks.push(Check::ok("config", "no skill-config.json (settings come from flags and the environment)"))
        }
        None => checks.push(Check::fail(
            "config",
            "no skill-config.json found (--config, $CLAWDTALK_CONFIG, ./skill-config.json, user config dir)",
            "run `clawdtalk setup`",
        )),
    }
    match &cfg.api_key {
        Some(k) => checks.push(Check::ok(
            "api key",
            format!("{} (from {})", k.masked(), cfg.api_key_source.as_deref().unwrap_or("?")),
        )),
        None => checks.push(Check::fail(
            "api key",
            "not set",
            "run `clawdtalk setup --api-key KEY` (create a key at https://clawdtalk.com → Dashboard)",
        )),
    }

    // The service accepts the key.
    checks.push(service_check(ctx, a.offline).await?);

    // The connect daemon: running (it holds its instance lock) and connected.
    checks.push(connect_check(ctx).await);

    // The gateway: reachable, and allowing sessions_send.
    if a.offline {
        checks.push(Check::unknown("gateway", format!("{} not checked (--offline)", cfg.gateway_url)));
    } else {
        checks.push(match openclaw::probe(&cfg.gateway_url).await {
            Ok(code) => Check::ok("gateway", format!("{} answers (HTTP {code})", cfg.gateway_url)),
            Err(e) => Check::fail(
                "gateway",
                format!("{} does not answer: {e}", cfg.gateway_url),
                "start the gateway (`openclaw gateway start`), or fix gateway_url with `clawdtalk setup`",
            ),
        });
    }
    checks.push(gateway_tools_check().await?);

    // The mission state file: where it is, and the missions in progress.
    checks.push(state_check(ctx).await);

    let failed = checks.iter().filter(|c| c.status == Verdict::Fail).count();
    let mut o = Outcome::data(json!({"ok": failed == 0, "checks": checks}));
    for l in render(&checks) {
        o = o.line(l);
    }
    if failed > 0 {
        o = o.line(String::new()).line(format!("{failed} check(s) failed.")).with_exit_code(1);
    }
    Ok(o)
}

/// The service accepts the key (not checked offline or without a key).
async fn service_check(ctx: &Context, offline: bool) -> Result<Check> {
    let cfg = &ctx.config;
    if offline {
        return Ok(Check::unknown("service", "not checked (--offline)"));
    }
    if cfg.api_key.is_none() {
        return Ok(Check::unknown("service", "not checked (no API key)"));
    }
    let client = ctx.client()?;
    Ok(match missions::list(&client).await {
        Ok(_) => Check::ok("service", format!("key accepted by {}", cfg.api_url)),
        Err(Error::Api { status: status @ (401 | 403), message, .. }) => Check::fail(
            "service",
            format!("{} rejected the key (HTTP {status}: {message})", cfg.api_url),
            "create a new key at https://clawdtalk.com → Dashboard, then `clawdtalk setup --api-key KEY`",
        ),
        Err(e @ Error::Network(_)) => {
            Check::fail("service", e.to_string(), "check the network and `server` in skill-config.json")
        }
        Err(e) => Check::fail("service", e.to_string(), "try again later; if it persists, check `server`"),
    })
}

/// The gateway config allows `sessions_send` (the tool calls reach the agent through).
async fn gateway_tools_check() -> Result<Check> {
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    let gateway = home.as_deref().and_then(openclaw::find_gateway_config);
    let gateway = match gateway {
        None => None,
        Some(p) => Some(
            tokio::task::spawn_blocking(move || GatewayConfig::load(&p))
                .await
                .map_err(|e| Error::failed(format!("reading the gateway config failed: {e}")))?,
        ),
    };
    Ok(match gateway {
        None => Check::unknown(
            "gateway tools",
            "no ~/.openclaw/openclaw.json or ~/.clawdbot/clawdbot.json: cannot tell whether sessions_send is allowed",
        ),
        Some(Err(e)) => Check::fail("gateway tools", e.to_string(), "fix the file's JSON"),
        Some(Ok(g)) if g.allows_sessions_send() => {
            Check::ok("gateway tools", format!("{} allows sessions_send", g.path.display()))
        }
        Some(Ok(g)) => Check::fail(
            "gateway tools",
            format!("{} does not list sessions_send in gateway.tools.allow", g.path.display()),
            "run `clawdtalk setup` (it offers to add it), then restart the gateway",
        ),
    })
}

async fn connect_check(ctx: &Context) -> Check {
    let fix_start = "start it: `clawdtalk connect start` (voice calls and SMS replies need it)";
    let rt = match Runtime::for_config(&ctx.config, &ProcessEnv) {
        Ok(rt) => rt,
        Err(e) => return Check::fail("connect", e.to_string(), "set $CLAWDTALK_RUNTIME_DIR"),
    };
    let probe = rt.clone();
    let found = tokio::task::spawn_blocking(move || probe.running().map(|pid| (pid, probe.read_status())))
        .await
        .map_err(|e| Error::failed(format!("checking the connect daemon failed: {e}")))
        .and_then(|r| r);
    match found {
        Err(e) => Check::fail("connect", e.to_string(), "see `clawdtalk connect status`"),
        Ok((None, _)) => Check::fail("connect", "not running", fix_start),
        Ok((Some(pid), status)) => {
            let field = |k: &str| status.as_ref().and_then(|s| s.get(k)).and_then(|v| v.as_str()).map(str::to_string);
            let connected = status.as_ref().and_then(|s| s.get("connected")).and_then(|v| v.as_bool()) == Some(true);
            if connected {
                Check::ok(
                    "connect",
                    format!("running (pid {pid}), connected since {}", field("since").unwrap_or("?".into())),
                )
            } else {
                let why = match (field("state"), field("last_error")) {
                    (Some(st), Some(err)) => format!("{st}: {err}"),
                    (Some(st), None) => st,
                    (None, Some(err)) => err,
                    (None, None) => "no status yet".into(),
                };
                Check::fail(
                    "connect",
                    format!("running (pid {pid}) but not connected ({why})"),
                    format!("read its log ({}), or `clawdtalk connect restart`", rt.log_file().display()),
                )
            }
        }
    }
}

async fn state_check(ctx: &Context) -> Check {
    let loc = match ctx.state_location() {
        Ok(l) => l,
        Err(e) => return Check::fail("state", e.to_string(), "pass --state FILE or set CLAWDTALK_STATE_FILE"),
    };
    let shown = loc.path.display().to_string();
    if !loc.path.exists() {
        return Check::ok("state", format!("{shown} (not created yet; no missions)"));
    }
    let state = match ctx.state() {
        Ok(store) => store.read_async().await,
        Err(e) => Err(e),
    };
    match state {
        Ok(state) => {
            let slugs: Vec<&str> = state.missions().map(|(slug, _)| slug).collect();
            let list = match slugs.len() {
                0 => "no active missions".to_string(),
                n if n <= 5 => format!("{n} active: {}", slugs.join(", ")),
                n => format!("{n} active: {}, …", slugs[..5].join(", ")),
            };
            Check::ok("state", format!("{shown} ({list})"))
        }
        Err(e) => Check::fail(
            "state",
            format!("{shown}: {e}"),
            "repair the file's JSON (or move it aside); `clawdtalk state path` shows which file is used",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_marks_and_indents_fixes() {
        let lines = render(&[Check::ok("api key", "k"), Check::fail("gateway", "down", "start it")]);
        assert_eq!(lines, vec!["✓ api key  k", "✗ gateway  down", "           fix: start it"]);
    }
}

#[cfg(test)]
mod service_tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::testing::{parse, Harness, Reply};

    fn args(words: &[&str]) -> StatusArgs {
        match parse(&[&["status"], words].concat()) {
            crate::cli::Command::Status(a) => a,
            other => panic!("not a status command: {other:?}"),
        }
    }

    /// The check named `name` in the JSON document.
    fn check(o: &Outcome, name: &str) -> Value {
        let checks = o.data["checks"].as_array().cloned().unwrap_or_default();
        checks.into_iter().find(|c| c["name"] == name).unwrap_or(Value::Null)
    }

    #[tokio::test]
    async fn an_accepted_key_and_an_answering_gateway_pass() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::ok(json!({"data": []}))]);
        let o = run(&h.ctx(), args(&[])).await.unwrap();
        let lines = h.service.lines();
        assert!(lines.contains(&"GET /v1/missions".to_string()), "{lines:?}");
        // The gateway probe reached the fake (the harness's gateway URL).
        assert!(lines.contains(&"GET /".to_string()), "{lines:?}");
        assert_eq!(check(&o, "service")["status"], "ok");
        assert_eq!(check(&o, "gateway")["status"], "ok");
        assert_eq!(check(&o, "api key")["status"], "ok");
    }

    #[tokio::test]
    async fn a_rejected_key_fails_with_the_fix_and_exit_1() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::error(401, "invalid key")]);
        let o = run(&h.ctx(), args(&[])).await.unwrap();
        let service = check(&o, "service");
        assert_eq!(service["status"], "fail");
        assert!(service["detail"].as_str().unwrap_or_default().contains("rejected the key (HTTP 401"), "{service}");
        assert!(service["fix"].as_str().unwrap_or_default().contains("clawdtalk setup --api-key"), "{service}");
        assert_eq!(o.exit_code, 1);
        assert_eq!(o.data["ok"], false);
    }

    #[tokio::test]
    async fn offline_sends_nothing_and_leaves_the_network_checks_unknown() {
        let h = Harness::start().await;
        let o = run(&h.ctx(), args(&["--offline"])).await.unwrap();
        assert!(h.service.requests().is_empty());
        assert_eq!(check(&o, "service")["status"], "unknown");
        assert_eq!(check(&o, "gateway")["status"], "unknown");
    }

    #[tokio::test]
    async fn no_key_fails_without_asking_the_service() {
        let h = Harness::start().await.without_keys();
        let o = run(&h.ctx(), args(&[])).await.unwrap();
        assert!(!h.service.lines().contains(&"GET /v1/missions".to_string()));
        assert_eq!(check(&o, "api key")["status"], "fail");
        assert_eq!(check(&o, "service")["status"], "unknown");
        assert_eq!(o.exit_code, 1);
    }
}
