//! `clawdtalk connect run|start|stop|restart|status|watchdog`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::cli::connect::{ConnectCommand, ConnectRunArgs, ConnectStatusArgs};
use crate::cli::Command;
use crate::config::ProcessEnv;
use crate::connect::daemon::{self, Runtime, Stopped};
use crate::connect::{self, LinkState, Settings};
use crate::error::{Error, Result};
use crate::output::{Block, Outcome};
use crate::task::blocking;

use super::Context;

/// How long `start` watches the new process before reporting.
const START_WATCH: Duration = Duration::from_secs(5);

pub async fn run(ctx: &Context, c: ConnectCommand) -> Result<Outcome> {
    match c {
        ConnectCommand::Run(a) => foreground(ctx, a).await,
        ConnectCommand::Start => start(ctx).await,
        ConnectCommand::Stop => stop(ctx).await,
        ConnectCommand::Restart => {
            let stopped = stop(ctx).await?;
            let started = start(ctx).await?;
            Ok(Outcome {
                blocks: stopped.blocks.into_iter().chain(started.blocks).collect(),
                data: json!({"stop": stopped.data, "start": started.data}),
                ..Default::default()
            })
        }
        ConnectCommand::Status(a) => status(ctx, a).await,
        ConnectCommand::Watchdog => watchdog(ctx).await,
    }
}

/// Logging wanted by a command: the default level and an optional file.
/// `connect run` logs at info (it is a service); everything else at warn.
pub struct LogSetup {
    pub default_level: &'static str,
    pub file: Option<PathBuf>,
}

pub fn log_setup(c: &Command) -> LogSetup {
    match c {
        Command::Connect(ConnectCommand::Run(a)) => LogSetup { default_level: "info", file: a.log_file.clone() },
        _ => LogSetup { default_level: "warn", file: None },
    }
}

fn runtime(ctx: &Context) -> Result<Runtime> {
    Runtime::for_config(&ctx.config, &ProcessEnv)
}

/// `connect run`: hold the instance lock, publish the status file, run until SIGTERM/SIGINT.
async fn foreground(ctx: &Context, _a: ConnectRunArgs) -> Result<Outcome> {
    let settings = Settings {
        journal: ctx.journal.clone(),
        optout_dir: ctx.data_dir.clone(),
        ..Settings::from_config(&ctx.config)?
    };
    let rt = runtime(ctx)?;
    let lock = {
        let rt = rt.clone();
        blocking(move || rt.acquire()).await?
    };
    if ctx.config.gateway_token.is_none() {
        tracing::warn!("no gateway_token configured: calling the gateway without authorization");
    }
    let (state_tx, state_rx) = watch::channel(LinkState::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(stop_on_signal(stop_tx));
    let meta = json!({"pid": std::process::id(), "server": ctx.config.server, "ws_url": settings.ws_url});
    let writer = tokio::spawn(write_status(rt, state_rx, meta));
    let result = connect::run(settings, state_tx, stop_rx).await;
    let _ = writer.await;
    drop(lock);
    if let Err(e) = &result {
        tracing::error!("{e}");
    }
    result.map(|_| Outcome::default().note("clawdtalk connect stopped"))
}

async fn stop_on_signal(stop: watch::Sender<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::warn!("cannot listen for signals");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("stop signal received");
    let _ = stop.send(true);
}

/// Mirror the link state into the status file for `connect status`.
async fn write_status(rt: Runtime, mut rx: watch::Receiver<LinkState>, meta: Value) {
    loop {
        let doc = status_doc(&rx.borrow_and_update(), &meta);
        let r = rt.clone();
        if let Err(e) = blocking(move || r.write_status(&doc)).await {
            tracing::warn!("{e}");
        }
        if rx.changed().await.is_err() {
            break;
        }
    }
    let doc = status_doc(&rx.borrow(), &meta);
    let _ = blocking(move || rt.write_status(&doc)).await;
}

fn status_doc(s: &LinkState, meta: &Value) -> Value {
    let mut doc = serde_json::to_value(s).unwrap_or_else(|_| json!({}));
    if let (Value::Object(d), Value::Object(m)) = (&mut doc, meta) {
        d.extend(m.clone());
    }
    doc
}

/// What `start` found.
enum Started {
    Already(u32),
    Connected(u32),
    Connecting(u32),
}

/// `-v` flags given to this process, forwarded to the background client.
fn verbosity_from_argv() -> usize {
    std::env::args()
        .skip(1)
        .take_while(|a| a != "--")
        .map(|a| match a.as_str() {
            "--verbose" => 1,
            s if s.len() > 1 && s.starts_with('-') && !s.starts_with("--") && s[1..].chars().all(|c| c == 'v') => {
                s.len() - 1
            }
            _ => 0,
        })
        .sum()
}

async fn launch(ctx: &Context) -> Result<Started> {
    // Refuse bad configuration here, where the user sees it, not in the log.
    let settings = Settings::from_config(&ctx.config)?;
    let rt = runtime(ctx)?;
    let r = rt.clone();
    if let Some(pid) = blocking(move || r.running()).await? {
        return Ok(Started::Already(pid));
    }
    let exe = std::env::current_exe().map_err(|e| Error::failed(format!("cannot find the clawdtalk binary: {e}")))?;
    let mut args = Vec::new();
    if let Some(f) = &ctx.config.file {
        args.extend([
            "--config".to_string(),
            std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()).display().to_string(),
        ]);
    }
    args.extend(std::iter::repeat_n("-v".to_string(), verbosity_from_argv().min(2)));
    args.extend(["connect", "run", "--log-file"].map(String::from));
    args.push(rt.log_file().display().to_string());
    // The key goes through the environment, never the command line (visible in `ps`).
    let env = vec![
        ("CLAWDTALK_API_KEY", settings.api_key.expose().to_string()),
        ("CLAWDTALK_API_URL", ctx.config.api_url.clone()),
    ];
    let (r, cwd) = (rt.clone(), ctx.cwd.clone());
    let mut child = blocking(move || r.spawn_detached(&exe, &args, &env, &cwd)).await?;
    let pid = child.id();
    let began = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(Some(code)) = child.try_wait() {
            let tail = rt.log_tail(5).join("\n");
            return Err(Error::failed(format!("clawdtalk connect exited at once ({code}). Last log lines:\n{tail}")));
        }
        let st = rt.read_status();
        let ours = st.as_ref().and_then(|s| s.get("pid")).and_then(Value::as_u64) == Some(u64::from(pid));
        if ours && st.as_ref().and_then(|s| s.get("connected")) == Some(&Value::Bool(true)) {
            return Ok(Started::Connected(pid));
        }
        if began.elapsed() >= START_WATCH {
            return Ok(Started::Connecting(pid));
        }
    }
}

async fn start(ctx: &Context) -> Result<Outcome> {
    let rt = runtime(ctx)?;
    let log = rt.log_file().display().to_string();
    Ok(match launch(ctx).await? {
        Started::Already(pid) => Outcome::data(json!({"running": true, "pid": pid, "started": false}))
            .line(format!("clawdtalk connect is already running (pid {pid})")),
        Started::Connected(pid) => {
            Outcome::data(json!({"running": true, "pid": pid, "started": true, "connected": true, "log": log}))
                .line(format!("clawdtalk connect started (pid {pid}), connected to {}", ctx.config.server))
                .line(format!("Log: {log}"))
        }
        Started::Connecting(pid) => {
            Outcome::data(json!({"running": true, "pid": pid, "started": true, "connected": false, "log": log}))
                .line(format!("clawdtalk connect started (pid {pid}), still connecting to {}", ctx.config.server))
                .line(format!("Log: {log}"))
        }
    })
}

async fn stop(ctx: &Context) -> Result<Outcome> {
    let rt = runtime(ctx)?;
    Ok(match blocking(move || rt.stop(daemon::STOP_GRACE)).await? {
        Stopped::NotRunning => {
            Outcome::data(json!({"stopped": false, "running": false})).line("clawdtalk connect is not running")
        }
        Stopped::Stopped { pid, forced } => {
            Outcome::data(json!({"stopped": true, "pid": pid, "forced": forced})).line(if forced {
                format!("clawdtalk connect stopped (pid {pid}, killed after {} s)", daemon::STOP_GRACE.as_secs())
            } else {
                format!("clawdtalk connect stopped (pid {pid})")
            })
        }
    })
}

async fn watchdog(ctx: &Context) -> Result<Outcome> {
    match launch(ctx).await? {
        Started::Already(pid) => Ok(Outcome::data(json!({"running": true, "pid": pid, "restarted": false}))),
        Started::Connected(pid) | Started::Connecting(pid) => {
            tracing::info!(pid, "watchdog restarted clawdtalk connect");
            Ok(Outcome::data(json!({"running": true, "pid": pid, "restarted": true})))
        }
    }
}

async fn status(ctx: &Context, a: ConnectStatusArgs) -> Result<Outcome> {
    let rt = runtime(ctx)?;
    let r = rt.clone();
    let pid = blocking(move || r.running()).await?;
    let st = if pid.is_some() { rt.read_status() } else { None };
    let field = |k: &str| st.as_ref().and_then(|s| s.get(k)).cloned().unwrap_or(Value::Null);
    let connected = field("connected") == Value::Bool(true);
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()).unwrap_or_default();
    let gw = daemon::check_gateway(&home);
    let tail = rt.log_tail(a.lines);
    let ws = connect::ws_url(&ctx.config.server).unwrap_or_default();

    let mut fields = vec![(
        "running".to_string(),
        match pid {
            Some(p) => format!("yes (pid {p})"),
            None => "no".to_string(),
        },
    )];
    let conn = match (pid, connected) {
        (None, _) => "no".to_string(),
        (Some(_), true) => format!("yes (since {})", field("since").as_str().unwrap_or("?")),
        (Some(_), false) => {
            let state = field("state");
            let err = field("last_error");
            format!(
                "no ({}{})",
                state.as_str().unwrap_or("unknown"),
                err.as_str().map(|e| format!(": {e}")).unwrap_or_default()
            )
        }
    };
    fields.push(("connected".into(), conn));
    fields.push(("server".into(), ws.clone()));
    fields.push((
        "gateway".into(),
        match gw.allowed {
            Some(true) => format!("{} allowed ({})", crate::openclaw::tools::named(), ctx.config.gateway_url),
            Some(false) => format!("tools NOT allowed: {}", gw.detail),
            None => format!("unknown: {}", gw.detail),
        },
    ));
    if let Some(c) = st.as_ref().and_then(|s| s.get("counts")).filter(|c| c.is_object()) {
        let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
        fields.push((
            "messages".into(),
            format!(
                "{} received, {} processed, {} refused ({} busy, {} throttled), {} in flight",
                n("received"),
                n("processed"),
                n("refused"),
                n("refused_busy"),
                n("refused_throttled"),
                n("in_flight")
            ),
        ));
    }
    fields.push(("log".into(), rt.log_file().display().to_string()));
    let mut o = Outcome::data(json!({
        "running": pid.is_some(),
        "pid": pid,
        "connected": connected,
        "state": field("state"),
        "since": field("since"),
        "last_error": field("last_error"),
        "counts": field("counts"),
        "server": ctx.config.server,
        "ws_url": ws,
        "runtime_dir": rt.dir,
        "log_file": rt.log_file(),
        "gateway": {"url": ctx.config.gateway_url, "config_file": gw.file, "tools_allowed": gw.allowed, "detail": gw.detail},
        "log_tail": tail,
    }))
    .block(Block::Fields(fields));
    if !tail.is_empty() {
        o = o.line("").line(format!("Last {} log lines:", tail.len()));
        for l in &tail {
            o = o.line(format!("  {l}"));
        }
    }
    if pid.is_none() {
        o = o.with_exit_code(1);
    }
    Ok(o)
}
