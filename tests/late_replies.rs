//! Late replies on a live call: `connect` in-process against an in-process
//! sandbox serving the stand-in agent in `pending` mode, with a short call
//! timeout, so the request's result is given before the agent answers and
//! the answer is then spoken on the call (docs/protocol.md#the-gateway).

mod common;

use std::time::{Duration, Instant};

use clawdtalk::config::{Config, MapEnv, Overrides};
use clawdtalk::connect::{self, LinkState, Settings};
use clawdtalk::sandbox::agent::{AgentMode, GATEWAY_TOKEN};
use common::sandbox::{SandboxOptions, TestSandbox};
use common::TEST_KEY;
use serde_json::{json, Value};
use tokio::sync::watch;

fn until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn a_reply_that_comes_after_the_requests_result_is_spoken_on_the_live_call() {
    let sb = TestSandbox::with(SandboxOptions { agent: Some(AgentMode::Pending), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({"api_key": TEST_KEY, "server": sb.root, "gateway_url": format!("{}/agent", sb.root),
                     "gateway_token": GATEWAY_TOKEN, "greeting": "Hi."});
    std::fs::write(dir.path().join("skill-config.json"), cfg.to_string()).unwrap();
    let cfg = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap();
    let mut settings = Settings::from_config(&cfg).unwrap();
    settings.ws_url = format!("{}/ws", sb.root.replacen("http://", "ws://", 1));
    settings.timings.call_timeout = Duration::from_secs(1);
    let (state_tx, _state) = watch::channel(LinkState::default());
    let (stop, stop_rx) = watch::channel(false);
    let task = sb.rt.spawn(connect::run(settings, state_tx, stop_rx));
    until("connect", Duration::from_secs(10), || (sb.control_get("ws/received")["clients"] == 1).then_some(()));

    let inject = |event: Value| sb.control_post("ws/inject", json!({ "event": event }));
    inject(json!({"event": "call.started", "call_id": "c-live", "direction": "inbound", "from": "+15550109999"}));
    inject(
        json!({"event": "deep_tool_request", "call_id": "c-live", "request_id": "r-1", "query": "are the lights on"}),
    );
    let sent =
        |ty: &'static str| move |m: &Value| m["type"] == ty && (m["request_id"] == "r-1" || m["call_id"] == "c-live");
    let received = || sb.control_get("ws/received")["messages"].as_array().cloned().unwrap_or_default();
    let result = until("the request's result", Duration::from_secs(10), || {
        received().into_iter().find(sent("deep_tool_result"))
    });
    assert_eq!(result["text"], "It still hasn't answered. If it does, I'll pass the answer on.");
    let progress: Vec<Value> = received().into_iter().filter(sent("deep_tool_progress")).collect();
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0]["text"], "I've asked; it's still working on it.");

    // The agent answers now, while the call is still live.
    sb.control_post("agent/reply", json!({"text": "**Yes**, the lights are on."}));
    let spoken = until("the late reply on the call", Duration::from_secs(5), || {
        received().into_iter().find(|m| sent("response")(m) && m["text"] != "Hi.")
    });
    assert_eq!(spoken["text"], "Yes, the lights are on.", "cleaned for speech");
    assert!(sb.control_get("messages/sent")["messages"].as_array().unwrap().is_empty(), "nothing texted: it was heard");
    let _ = stop.send(true);
    let _ = sb.rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
}
