//! `clawdtalk status`: one screen of checks in three sections (missions
//! API, voice routing, gateway), each ✓ or ✗ with the fix, `?` for what
//! cannot be known and `-` for a part that was never set up.
//!
//! Voice routing is optional: many users only run missions. It counts as
//! set up when the configuration names a gateway (`gateway_url`, or
//! `$CLAWDTALK_GATEWAY_URL`) or `connect` has been started before (its
//! runtime directory exists); otherwise its checks are "not set up" and do
//! not fail the command, unless `--require connect`. Exit 1 when a check fails.

use serde::Serialize;
use serde_json::json;

use crate::api::missions;
use crate::cli::status::{Part, StatusArgs};
use crate::config::ProcessEnv;
use crate::connect::daemon::Runtime;
use crate::error::{Error, Result};
use crate::openclaw::{self, GatewayConfig};
use crate::output::Outcome;

use super::Context;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Fail,
    /// Not checked or not knowable here; never fails the command.
    Unknown,
    /// An optional part that was never set up; never fails the command.
    NotSetUp,
}

/// The sections of `status`, in order.
pub const SECTIONS: [&str; 3] = ["missions API", "voice routing", "gateway"];

/// One line of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    /// One of [`SECTIONS`].
    pub section: &'static str,
    pub status: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, section: SECTIONS[0], status: Verdict::Ok, detail: detail.into(), fix: None }
    }
    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, section: SECTIONS[0], status: Verdict::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
    fn unknown(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, section: SECTIONS[0], status: Verdict::Unknown, detail: detail.into(), fix: None }
    }
    fn not_set_up(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, section: SECTIONS[0], status: Verdict::NotSetUp, detail: detail.into(), fix: None }
    }
    fn within(mut self, section: &'static str) -> Check {
        self.section = section;
        self
    }
}

/// Render checks as aligned lines: mark, name, detail, then the fix
/// indented; a header line before each section when there is more than one.
pub fn render(checks: &[Check]) -> Vec<String> {
    let w = checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
    let sections: Vec<&str> = SECTIONS.iter().copied().filter(|s| checks.iter().any(|c| c.section == *s)).collect();
    let mut lines = Vec::new();
    for section in &sections {
        if sections.len() > 1 {
            if !lines.is_empty() {
                lines.push(String::new());
            }
            lines.push(capitalised(section));
        }
        for c in checks.iter().filter(|c| c.section == *section) {
            let mark = match c.status {
                Verdict::Ok => "✓",
                Verdict::Fail => "✗",
                Verdict::Unknown => "?",
                Verdict::NotSetUp => "-",
            };
            lines.push(format!("{mark} {:<w$}  {}", c.name, c.detail));
            if let Some(fix) = &c.fix {
                lines.push(format!("  {:<w$}  fix: {fix}", ""));
            }
        }
    }
    lines
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Whether voice routing has been set up: a gateway is configured, or
/// `connect` ran before with this configuration (it left its runtime directory).
pub fn voice_set_up(gateway_configured: bool, connect_ran_before: bool) -> bool {
    gateway_configured || connect_ran_before
}

/// `clawdtalk status [--offline] [--require connect]`.
pub async fn run(ctx: &Context, a: StatusArgs) -> Result<Outcome> {
    let mut checks = missions_api_checks(ctx, a.offline).await?;
    let required = a.require.contains(&Part::Connect);
    let runtime = Runtime::for_config(&ctx.config, &ProcessEnv);
    let ran_before = runtime.as_ref().is_ok_and(|rt| rt.dir.exists());
    if voice_set_up(ctx.config.gateway_configured, ran_before) || required {
        checks.push(connect_check(runtime).await.within(SECTIONS[1]));
        checks.extend(gateway_checks(ctx, a.offline).await?.into_iter().map(|c| c.within(SECTIONS[2])));
    } else {
        let why = "not set up (optional: only voice calls and SMS replies need it)";
        checks.push(
            Check::not_set_up("connect", format!("{why}; `clawdtalk connect start` sets it up")).within(SECTIONS[1]),
        );
        checks
            .push(Check::not_set_up("gateway", "not set up (no gateway_url in the configuration)").within(SECTIONS[2]));
    }

    let failed = checks.iter().filter(|c| c.status == Verdict::Fail).count();
    let mut o = Outcome::data(json!({"ok": failed == 0, "checks": checks}));
    for l in render(&checks) {
        o = o.line(l);
    }
    if failed > 0 {
        let s = if failed == 1 { "" } else { "s" };
        o = o.line(String::new()).line(format!("{failed} check{s} failed.")).with_exit_code(1);
    }
    Ok(o)
}

/// The missions API section: configuration file, key, service, state file.
async fn missions_api_checks(ctx: &Context, offline: bool) -> Result<Vec<Check>> {
    let cfg = &ctx.config;
    let mut checks = Vec::new();
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
    checks.push(service_check(ctx, offline).await?);
    checks.push(state_check(ctx).await);
    Ok(checks)
}

/// The gateway section: reachable, and allowing `sessions_send`.
async fn gateway_checks(ctx: &Context, offline: bool) -> Result<Vec<Check>> {
    let url = &ctx.config.gateway_url;
    let reach = if offline {
        Check::unknown("gateway", format!("{url} not checked (--offline)"))
    } else {
        match openclaw::probe(url).await {
            Ok(code) => Check::ok("gateway", format!("{url} answers (HTTP {code})")),
            Err(e) => Check::fail(
                "gateway",
                format!("{url} does not answer: {e}"),
                "start the gateway (`openclaw gateway start`), or fix gateway_url with `clawdtalk setup`",
            ),
        }
    };
    Ok(vec![reach, gateway_tools_check().await?])
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

/// The gateway config allows every tool clawdtalk calls (`sessions_send`,
/// and `sessions_history` for late replies).
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
            "no ~/.openclaw/openclaw.json or ~/.clawdbot/clawdbot.json: cannot tell whether sessions_send and sessions_history are allowed",
        ),
        Some(Err(e)) => Check::fail("gateway tools", e.to_string(), "fix the file's JSON"),
        Some(Ok(g)) if g.allows_tools() => {
            Check::ok("gateway tools", format!("{} allows {}", g.path.display(), openclaw::tools::named()))
        }
        Some(Ok(g)) => Check::fail(
            "gateway tools",
            format!("{} does not list {} in gateway.tools.allow", g.path.display(), g.missing_tools().join(", ")),
            "run `clawdtalk setup` (it offers to add it), then restart the gateway",
        ),
    })
}

async fn connect_check(runtime: Result<Runtime>) -> Check {
    let fix_start = "start it: `clawdtalk connect start` (voice calls and SMS replies need it)";
    let rt = match runtime {
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

    /// A context whose configuration names a gateway (voice routing set up).
    fn voice_ctx(h: &Harness) -> Context {
        let mut ctx = h.ctx();
        ctx.config.gateway_configured = true;
        ctx
    }

    #[tokio::test]
    async fn missions_only_users_pass_with_voice_routing_not_set_up() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::ok(json!({"data": []}))]);
        let o = run(&h.ctx(), args(&[])).await.unwrap();
        assert_eq!(o.exit_code, 0, "{}", crate::testing::text(&o));
        assert_eq!(o.data["ok"], true);
        assert_eq!(check(&o, "connect")["status"], "not_set_up");
        assert_eq!(check(&o, "connect")["section"], "voice routing");
        assert_eq!(check(&o, "gateway")["status"], "not_set_up");
        // Nothing probed the gateway.
        assert!(!h.service.lines().contains(&"GET /".to_string()), "{:?}", h.service.lines());
        let t = crate::testing::text(&o);
        assert!(t.starts_with("Missions API\n✓ config"), "{t}");
        assert!(t.contains("\n\nVoice routing\n- connect  not set up"), "{t}");
    }

    #[tokio::test]
    async fn require_connect_fails_when_voice_routing_is_not_running() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::ok(json!({"data": []}))]);
        let o = run(&h.ctx(), args(&["--require", "connect"])).await.unwrap();
        assert_eq!(check(&o, "connect")["status"], "fail");
        assert_eq!(check(&o, "connect")["detail"], "not running");
        assert_eq!(o.exit_code, 1);
        assert!(crate::testing::text(&o).ends_with("\n1 check failed.\n"), "{}", crate::testing::text(&o));
    }

    #[tokio::test]
    async fn a_configured_gateway_makes_voice_routing_count() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::ok(json!({"data": []}))]);
        let o = run(&voice_ctx(&h), args(&[])).await.unwrap();
        assert_eq!(check(&o, "connect")["status"], "fail");
        assert_eq!(o.exit_code, 1);
    }

    #[test]
    fn voice_routing_is_set_up_by_a_gateway_url_or_an_earlier_connect() {
        assert!(!voice_set_up(false, false));
        assert!(voice_set_up(true, false));
        assert!(voice_set_up(false, true));
    }

    #[tokio::test]
    async fn an_accepted_key_and_an_answering_gateway_pass() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::ok(json!({"data": []}))]);
        let o = run(&voice_ctx(&h), args(&[])).await.unwrap();
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
        let o = run(&voice_ctx(&h), args(&["--offline"])).await.unwrap();
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
