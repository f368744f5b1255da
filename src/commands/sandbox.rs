//! `clawdtalk sandbox [options]` (serve the local emulator until Ctrl-C) and
//! `clawdtalk sandbox call-in QUESTION`.

use std::time::Duration;

use serde_json::json;

use crate::cli::sandbox::{CallInArgs, SandboxAction, SandboxArgs, SandboxServeArgs};
use crate::error::{Error, Result};
use crate::output::Outcome;
use crate::sandbox::{self, SandboxOptions};

use super::Context;

/// The key the banner suggests: any `cc_test_…` key works.
pub const SANDBOX_KEY: &str = "cc_test_sandbox0000000000";

pub async fn run(ctx: &Context, a: SandboxArgs) -> Result<Outcome> {
    match a.action {
        Some(SandboxAction::CallIn(c)) => call_in(ctx, c).await,
        None => serve(ctx, a.serve).await,
    }
}

/// The sandbox options from the command line; `--api-key` (global) is
/// accepted only when it was given as a flag, never from the environment.
pub fn options(ctx: &Context, a: &SandboxServeArgs) -> SandboxOptions {
    let api_key = match ctx.config.api_key_source.as_deref() {
        Some("--api-key") => ctx.config.api_key.as_ref().map(|k| k.expose().to_string()),
        _ => None,
    };
    SandboxOptions {
        port: a.port,
        speed: a.speed,
        api_key,
        auto_sync: a.auto_sync,
        rate_limit: a.rate_limit,
        fail_rate: a.fail_rate,
        seed: a.seed,
    }
}

/// Serve until Ctrl-C: print the URLs and the environment to export first.
pub async fn serve(ctx: &Context, a: SandboxServeArgs) -> Result<Outcome> {
    let opts = options(ctx, &a);
    let speed = opts.speed;
    let handle = sandbox::start(opts).await?;
    let banner = json!({
        "root_url": handle.root_url(),
        "api_url": handle.api_url(),
        "ws_url": format!("ws://{}/ws", handle.addr),
        "api_key": SANDBOX_KEY,
        "clock_url": handle.clock_url(),
        "agentphone_url": format!("{}{}", handle.root_url(), sandbox::agentphone::BASE_PATH),
        "agentphone_api_key": sandbox::agentphone::SANDBOX_KEY,
        "speed": speed,
    });
    let started = Outcome::data(&banner)
        .line(format!("ClawdTalk sandbox listening on {} (clock speed ×{speed})", handle.root_url()))
        .line(format!("export CLAWDTALK_API_URL={}", handle.api_url()))
        .line(format!("export CLAWDTALK_API_KEY={SANDBOX_KEY}"))
        .line(format!("export AGENTPHONE_API_URL={}{}", handle.root_url(), sandbox::agentphone::BASE_PATH))
        .line(format!("export AGENTPHONE_API_KEY={}", sandbox::agentphone::SANDBOX_KEY))
        .note("Control API under /_sandbox/ (see README, section Sandbox). Press Ctrl-C to stop.");
    ctx.printer.print(&started);
    tokio::signal::ctrl_c().await.map_err(|e| Error::failed(format!("cannot wait for Ctrl-C: {e}")))?;
    let requests = handle.shared.log.lock().map(|l| l.entries.len() as u64 + l.dropped).unwrap_or(0);
    handle.shutdown().await;
    Ok(Outcome::data(json!({"stopped": true, "requests": requests}))
        .note(format!("sandbox stopped after {requests} API requests")))
}

/// Ask a question through an inbound call on a running sandbox.
pub async fn call_in(ctx: &Context, a: CallInArgs) -> Result<Outcome> {
    let root = a.url.clone().unwrap_or_else(|| ctx.config.server.clone());
    let parsed = url::Url::parse(&root).map_err(|e| Error::usage(format!("--url {root:?} is not a URL: {e}")))?;
    let local = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]" | "::1"));
    if !local {
        return Err(Error::usage(format!(
            "call-in talks to a local sandbox, and {root} is not one: pass --url http://127.0.0.1:PORT (printed by `clawdtalk sandbox`)"
        )));
    }
    if a.question.trim().is_empty() {
        return Err(Error::usage("QUESTION must not be empty"));
    }
    let body = json!({"question": a.question, "timeout_seconds": a.timeout});
    let progress = ctx.progress();
    progress.set("calling in: waiting for the connected agent's answer…");
    let reply = sandbox::remote::post(&root, "call-in", &body, Duration::from_secs(a.timeout + 10)).await;
    progress.finish();
    let reply = reply?;
    let answer = reply.get("answer").and_then(|v| v.as_str()).unwrap_or_default().to_string();
    Ok(Outcome::data(&reply).line(answer))
}
