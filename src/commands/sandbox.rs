//! `clawdtalk sandbox [options]` (serve the local emulator until Ctrl-C) and
//! `clawdtalk sandbox call-in QUESTION`.

use std::time::Duration;

use serde_json::json;

use crate::cli::sandbox::{CallInArgs, SandboxAction, SandboxArgs, SandboxServeArgs};
use crate::config::ProcessEnv;
use crate::connect::daemon::Runtime;
use crate::connect::handler::AGENT_UNREACHABLE;
use crate::error::{Error, Result};
use crate::output::Outcome;
use crate::sandbox::{self, SandboxOptions};
use crate::task::blocking;

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
        agent: a.agent,
        start: a.start,
    }
}

/// Serve until Ctrl-C: print the URLs and the environment to export first.
pub async fn serve(ctx: &Context, a: SandboxServeArgs) -> Result<Outcome> {
    let opts = options(ctx, &a);
    let (speed, agent) = (opts.speed, opts.agent);
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
    let mut banner = banner;
    let mut started = Outcome::default()
        .line(format!("ClawdTalk sandbox listening on {} (clock speed ×{speed})", handle.root_url()))
        .line(format!("export CLAWDTALK_API_URL={}", handle.api_url()))
        .line(format!("export CLAWDTALK_API_KEY={SANDBOX_KEY}"))
        .line(format!("export AGENTPHONE_API_URL={}{}", handle.root_url(), sandbox::agentphone::BASE_PATH))
        .line(format!("export AGENTPHONE_API_KEY={}", sandbox::agentphone::SANDBOX_KEY));
    if let Some(mode) = agent {
        banner["agent"] = json!(mode.word());
        banner["gateway_url"] = json!(handle.gateway_url());
        banner["gateway_token"] = json!(sandbox::agent::GATEWAY_TOKEN);
        started = started
            .line(format!("export CLAWDTALK_GATEWAY_URL={}", handle.gateway_url()))
            .line(format!("export CLAWDTALK_GATEWAY_TOKEN={}", sandbox::agent::GATEWAY_TOKEN))
            .note(format!(
                "Stand-in agent ({mode}) at {}: run `clawdtalk connect start`, then `clawdtalk sandbox call-in \"hello\"`.",
                handle.gateway_url()
            ));
    }
    started.data = banner;
    let started = started.note("Control API under /_sandbox/ (see docs/sandbox.md). Press Ctrl-C to stop.");
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
    if answer == AGENT_UNREACHABLE || answer.trim().is_empty() {
        return Err(unanswered(ctx, &answer).await);
    }
    Ok(Outcome::data(&reply).line(answer))
}

/// The error for a call-in the agent did not answer: `connect` reached the
/// sandbox but not the gateway behind it. The reason is in connect's log;
/// the last such line of this configuration's log is quoted when there is one.
async fn unanswered(ctx: &Context, answer: &str) -> Error {
    let log = Runtime::for_config(&ctx.config, &ProcessEnv).ok().map(|rt| rt.log_file());
    let reason = match &log {
        Some(path) => {
            let path = path.clone();
            blocking(move || Ok(last_gateway_failure(&std::fs::read_to_string(path).unwrap_or_default())))
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    let heard = if answer.trim().is_empty() { "nothing".to_string() } else { format!("{answer:?}") };
    let why = match reason {
        Some(r) => format!("connect logged: {r}"),
        None => "connect's log says why (`clawdtalk connect status` shows its last lines)".to_string(),
    };
    Error::failed(format!(
        "the call reached `clawdtalk connect`, but the agent behind it did not answer (the caller heard {heard}); \
         {why}. Check gateway_url and gateway_token (`clawdtalk status`), or run `clawdtalk sandbox --agent echo` \
         for a stand-in agent"
    ))
}

/// The last "the agent did not answer" reason in a connect log, bounded to one line.
fn last_gateway_failure(log: &str) -> Option<String> {
    const MARK: &str = "the agent did not answer: ";
    let line = log.lines().rev().find(|l| l.contains(MARK))?;
    let reason = &line[line.find(MARK)? + MARK.len()..];
    Some(crate::redact::sanitize_for_terminal(&reason.chars().take(300).collect::<String>()))
}

#[cfg(test)]
mod service_tests {
    use serde_json::json;

    use super::*;
    use crate::cli::sandbox::CallInArgs;
    use crate::testing::{text, Harness, Reply};

    fn ask(url: &str, question: &str) -> CallInArgs {
        CallInArgs { question: question.to_string(), url: Some(url.to_string()), timeout: 5 }
    }

    #[tokio::test]
    async fn call_in_posts_the_question_and_prints_the_answer() {
        let h = Harness::start().await;
        h.service.on("POST", "/_sandbox/call-in", vec![Reply::ok(json!({"answer": "Tuesday at 9"}))]);
        let root = format!("http://{}", h.service.addr);
        let o = call_in(&h.ctx(), ask(&root, "When is the roofer coming?")).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /_sandbox/call-in");
        assert_eq!(r.json(), json!({"question": "When is the roofer coming?", "timeout_seconds": 5}));
        assert_eq!(text(&o), "Tuesday at 9\n");
    }

    #[tokio::test]
    async fn call_in_to_a_remote_host_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = call_in(&h.ctx(), ask("https://clawdtalk.com", "hi")).await.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e:?}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn a_sandbox_without_a_connected_agent_is_a_service_error() {
        let h = Harness::start().await;
        h.service.on("POST", "/_sandbox/call-in", vec![Reply::error(409, "no agent connected")]);
        let root = format!("http://{}", h.service.addr);
        let e = call_in(&h.ctx(), ask(&root, "hi")).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 409, .. }), "{e:?}");
        assert_eq!(e.exit_code(), 1);
    }
}
