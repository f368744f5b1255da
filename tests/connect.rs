//! `clawdtalk connect`: the client against a stand-in `/ws` server, a
//! stand-in agent gateway and a recording HTTP API, all on 127.0.0.1:0.

mod common;
#[path = "common/standins.rs"]
mod standins;

use std::time::{Duration, Instant};

use clawdtalk::config::{Config, MapEnv, Overrides};
use clawdtalk::connect::{self, LinkState, Settings};
use common::{Recorder, Reply, TEST_KEY};
use serde_json::{json, Value};
use standins::{wait_for, GatewayStandIn, WsStandIn};
use tokio::sync::watch;

const GATEWAY_TOKEN: &str = "gw_secret_token_0123456789";

/// The client running in-process against the stand-ins.
struct Harness {
    ws: WsStandIn,
    gw: GatewayStandIn,
    api: Recorder,
    rt: tokio::runtime::Runtime,
    state: watch::Receiver<LinkState>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<clawdtalk::Result<()>>>,
    _dir: tempfile::TempDir,
}

fn config(api: &Recorder, gw: &GatewayStandIn, key: &str, extra: &Value) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = json!({
        "api_key": key,
        "server": format!("http://{}", api.addr),
        "gateway_url": gw.url(),
        "gateway_token": GATEWAY_TOKEN,
        "owner_name": "Ann",
        "agent_name": "Claw",
        "greeting": "Hi Ann, **Claw** here.",
        "reconnect_initial_secs": 0.05,
        "approval_poll_secs": 0.1,
        "approval_timeout_secs": 5,
    });
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    std::fs::write(dir.path().join("skill-config.json"), cfg.to_string()).unwrap();
    let c = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap();
    (dir, c)
}

impl Harness {
    fn start(extra: Value) -> Harness {
        Harness::start_with(TEST_KEY, extra, |_, _| {})
    }

    fn start_with(key: &str, extra: Value, prep: impl FnOnce(&WsStandIn, &Recorder)) -> Harness {
        let ws = WsStandIn::start(TEST_KEY);
        let gw = GatewayStandIn::start();
        let api = Recorder::start();
        prep(&ws, &api);
        let (dir, cfg) = config(&api, &gw, key, &extra);
        let mut settings = Settings::from_config(&cfg).unwrap();
        settings.ws_url = ws.ws_url();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (state_tx, state) = watch::channel(LinkState::default());
        let (stop, stop_rx) = watch::channel(false);
        let task = rt.spawn(connect::run(settings, state_tx, stop_rx));
        Harness { ws, gw, api, rt, state, stop, task: Some(task), _dir: dir }
    }

    fn connected(self) -> Harness {
        self.ws.wait_auths(1);
        self
    }

    /// Wait for the client to end on its own (within 10 s).
    fn ended(&mut self) -> clawdtalk::Result<()> {
        let task = self.task.take().unwrap();
        self.rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await })
            .expect("client ended")
            .unwrap()
    }

    fn approvals_posted(&self) -> Vec<Value> {
        self.api
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/approvals")
            .map(|r| r.json())
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), t).await });
        }
    }
}

fn approval_reply(id: &str, notified: u64, failed: u64) -> Reply {
    Reply::json(200, json!({"request_id": id, "devices_notified": notified, "devices_failed": failed}))
}

// ---------------------------------------------------------------- events

#[test]
fn auth_carries_the_key_and_the_configured_names() {
    let h = Harness::start(json!({})).connected();
    let auth = &h.ws.sent_of("auth")[0];
    assert_eq!(auth, &json!({"type":"auth","api_key":TEST_KEY,"owner_name":"Ann","agent_name":"Claw"}));
    assert!(h.state.borrow().connected);
}

#[test]
fn context_request_gets_the_context_then_the_cleaned_greeting() {
    let h = Harness::start(json!({"memory": "Ann likes tea", "system_prompt": "Be brief."})).connected();
    h.ws.inject(json!({"type":"context_request","call_id":"c1"}));
    let greeting = h.ws.wait_msg("response", |m| m["call_id"] == "c1");
    let all = h.ws.received();
    let ctx_pos = all.iter().position(|m| m["type"] == "context_response").expect("context_response sent");
    let resp_pos = all.iter().position(|m| m["type"] == "response").unwrap();
    assert!(ctx_pos < resp_pos, "context first, then the greeting");
    assert_eq!(
        all[ctx_pos],
        json!({"type":"context_response","call_id":"c1","context":{"memory":"Ann likes tea","system_prompt":"Be brief."}})
    );
    assert_eq!(greeting["text"], "Hi Ann, Claw here.");
    // the call was greeted: call.started does not greet it again
    h.ws.inject(json!({"type":"call.started","call_id":"c1","direction":"inbound"}));
    h.ws.inject(json!({"type":"call.started","call_id":"c2","direction":"outbound"}));
    h.ws.inject(json!({"type":"call.started","call_id":"c3","direction":"inbound"}));
    h.ws.wait_msg("response", |m| m["call_id"] == "c3");
    std::thread::sleep(Duration::from_millis(100));
    let responses = h.ws.sent_of("response");
    assert_eq!(responses.iter().filter(|m| m["call_id"] == "c1").count(), 1);
    assert_eq!(responses.iter().filter(|m| m["call_id"] == "c2").count(), 0, "outbound calls are not greeted");
}

#[test]
fn deep_tool_request_reaches_the_agent_and_gets_exactly_one_cleaned_result() {
    let h = Harness::start(json!({})).connected();
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"r1","query":"markdown weather please","context":"caller is Ann"}));
    let result = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r1");
    assert_eq!(result["text"], "Sure! Here is the link.");
    let call = h.gw.wait_call(|_| true);
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {GATEWAY_TOKEN}").as_str()));
    assert_eq!(call.body["tool"], "sessions_send");
    assert_eq!(call.body["args"]["sessionKey"], "agent:main:main");
    assert_eq!(call.body["args"]["timeoutSeconds"], 90);
    assert!(call.message().starts_with("markdown weather please"));
    assert!(call.message().contains("caller is Ann"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(h.ws.sent_of("deep_tool_result").len(), 1, "exactly one result");
}

#[test]
fn long_agent_replies_are_cut_to_2000_characters() {
    let h = Harness::start(json!({})).connected();
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"r1","query":"long story"}));
    let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r1");
    let n = r["text"].as_str().unwrap().chars().count();
    assert!(n <= 2000 && n > 1900, "{n}");
}

#[test]
fn a_failing_agent_still_gets_the_caller_one_answer() {
    let h = Harness::start(json!({})).connected();
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"r1","query":"fail now"}));
    let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r1");
    assert!(r["text"].as_str().unwrap().contains("couldn't reach the agent"), "{r}");
}

#[test]
fn requests_in_flight_do_not_block_each_other() {
    let h = Harness::start(json!({})).connected();
    let t0 = Instant::now();
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"slow1","query":"slow one"}));
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"slow2","query":"slow two"}));
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c2","request_id":"fast","query":"quick one"}));
    h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "fast");
    assert!(t0.elapsed() < Duration::from_millis(1200), "the quick request waited for the slow ones");
    assert!(h.ws.sent_of("deep_tool_result").iter().all(|m| m["request_id"] == "fast"));
    h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "slow2");
    h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "slow1");
    assert!(t0.elapsed() < Duration::from_millis(2800), "the two slow requests ran at the same time");
}

#[test]
fn sms_received_is_answered_through_the_sms_api_within_1500_characters() {
    let h = Harness::start(json!({})).connected();
    h.ws.inject(json!({"type":"sms.received","from":"+15551234567","body":"tell me a long story","message_id":"m1"}));
    let send = wait_for("the SMS reply", Duration::from_secs(10), || {
        h.api.requests().into_iter().find(|r| r.method == "POST" && r.path == "/v1/messages/send")
    });
    let body = send.json();
    assert_eq!(body["to"], "+15551234567");
    let n = body["message"].as_str().unwrap().chars().count();
    assert!(n <= 1500 && n > 1400, "{n}");
    assert_eq!(send.header("authorization"), Some(format!("Bearer {TEST_KEY}").as_str()));
    let call = h.gw.wait_call(|_| true);
    assert_eq!(call.body["args"]["timeoutSeconds"], 60);
    assert!(call.message().contains("+15551234567") && call.message().contains("tell me a long story"));
}

#[test]
fn walkie_request_gets_a_reply_or_an_error() {
    let h = Harness::start(json!({})).connected();
    h.ws.inject(json!({"type":"walkie_request","request_id":"w1","transcript":"what time is it","session_key":"agent:ops:main"}));
    let r = h.ws.wait_msg("walkie_response", |m| m["request_id"] == "w1");
    assert_eq!(r, json!({"type":"walkie_response","request_id":"w1","reply":"Echo: what time is it"}));
    assert_eq!(h.gw.wait_call(|_| true).body["args"]["sessionKey"], "agent:ops:main");
    h.ws.inject(json!({"type":"walkie_request","request_id":"w2","transcript":"fail please"}));
    let r = h.ws.wait_msg("walkie_response", |m| m["request_id"] == "w2");
    assert!(r["error"].is_string() && r.get("reply").is_none(), "{r}");
    assert_eq!(h.gw.wait_call(|c| c.message() == "fail please").body["args"]["sessionKey"], "agent:main:main");
}

#[test]
fn call_ended_reports_a_one_line_summary_to_the_agent() {
    let h = Harness::start(json!({})).connected();
    h.ws.inject(json!({"type":"call.ended","call_id":"c9","direction":"outbound","duration_seconds":95,
        "reason":"hangup","outcome":null,"to_number":"+15550001111","purpose":"book a table"}));
    h.ws.inject(json!({"type":"call.ended","call_id":"c10","direction":"outbound","outcome":"voicemail",
        "to_number":"+15550002222","voicemail_message":"Please call back"}));
    let done = h.gw.wait_call(|c| c.message().contains("c9") || c.message().contains("+15550001111"));
    assert_eq!(done.message(), "[ClawdTalk] Call to +15550001111 (purpose: book a table) completed after 1 min 35 s.");
    let vm = h.gw.wait_call(|c| c.message().contains("+15550002222"));
    assert_eq!(vm.message(), "[ClawdTalk] Left a voicemail for +15550002222: \"Please call back\"");
}

// ---------------------------------------------------------------- approvals

#[test]
fn an_approved_sensitive_request_reaches_the_agent() {
    let h = Harness::start_with(TEST_KEY, json!({}), |_, api| {
        api.on("POST", "/v1/approvals", vec![approval_reply("ap1", 1, 0)]);
        api.on("GET", "/v1/approvals/ap1", vec![Reply::json(200, json!({"status":"pending"}))]);
    })
    .connected();
    h.ws.inject(
        json!({"type":"deep_tool_request","call_id":"c1","request_id":"r1","query":"delete the repository prod-db"}),
    );
    let progress = h.ws.wait_msg("deep_tool_progress", |m| m["request_id"] == "r1");
    assert!(progress["text"].as_str().unwrap().contains("approval"), "{progress}");
    let posted = &h.approvals_posted()[0];
    assert_eq!(posted["action"], "delete the repository prod-db");
    assert_eq!(posted["require_biometric"], false);
    assert_eq!(posted["expires_in"], 5);
    assert!(h.gw.calls().is_empty(), "nothing reaches the agent before the decision");
    h.ws.inject(json!({"type":"approval.responded","request_id":"ap1","decision":"approved"}));
    let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r1");
    assert_eq!(r["text"], "Echo: delete the repository prod-db");
    assert_eq!(h.gw.calls().len(), 1);
}

#[test]
fn an_approval_found_by_polling_reaches_the_agent() {
    let h = Harness::start_with(TEST_KEY, json!({}), |_, api| {
        api.on("POST", "/v1/approvals", vec![approval_reply("ap2", 1, 0)]);
        api.on(
            "GET",
            "/v1/approvals/ap2",
            vec![Reply::json(200, json!({"status":"pending"})), Reply::json(200, json!({"status":"approved"}))],
        );
    })
    .connected();
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"r1","query":"push the release branch"}));
    let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r1");
    assert_eq!(r["text"], "Echo: push the release branch");
}

/// Run one sensitive request whose approval does not end in `approved`;
/// assert the agent never sees it and return what the caller heard.
fn refused(extra: Value, prep: impl FnOnce(&Recorder), after_progress: impl FnOnce(&WsStandIn)) -> (Harness, String) {
    let h = Harness::start_with(TEST_KEY, extra, |_, api| prep(api)).connected();
    h.ws.inject(
        json!({"type":"deep_tool_request","call_id":"c1","request_id":"r1","query":"delete the repository prod-db"}),
    );
    after_progress(&h.ws);
    let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r1");
    std::thread::sleep(Duration::from_millis(300));
    assert!(h.gw.calls().is_empty(), "a refused request reached the agent: {:?}", h.gw.calls());
    assert_eq!(h.ws.sent_of("deep_tool_result").len(), 1);
    let text = r["text"].as_str().unwrap().to_string();
    (h, text)
}

fn pending(api: &Recorder, id: &str) {
    api.on("POST", "/v1/approvals", vec![approval_reply(id, 1, 0)]);
    api.on("GET", &format!("/v1/approvals/{id}"), vec![Reply::json(200, json!({"status":"pending"}))]);
}

#[test]
fn a_denied_sensitive_request_never_reaches_the_agent() {
    let (_h, text) = refused(
        json!({}),
        |api| pending(api, "ap3"),
        |ws| {
            ws.wait_msg("deep_tool_progress", |_| true);
            ws.inject(json!({"type":"approval.responded","request_id":"ap3","decision":"denied"}));
        },
    );
    assert_eq!(text, "Ann declined that request, so I didn't do it.");
}

#[test]
fn a_timed_out_approval_never_reaches_the_agent() {
    let t0 = Instant::now();
    let (_h, text) = refused(json!({"approval_timeout_secs": 0.6}), |api| pending(api, "ap4"), |_| {});
    assert_eq!(text, "I didn't get an approval in time, so I didn't do it.");
    assert!(t0.elapsed() >= Duration::from_millis(600));
}

#[test]
fn an_expired_approval_or_an_api_error_never_reaches_the_agent() {
    let (_h, text) = refused(
        json!({}),
        |api| {
            api.on("POST", "/v1/approvals", vec![approval_reply("ap5", 1, 0)]);
            api.on("GET", "/v1/approvals/ap5", vec![Reply::json(200, json!({"status":"expired"}))]);
        },
        |_| {},
    );
    assert_eq!(text, "The approval request expired, so I didn't do it.");
    let (_h, text) = refused(
        json!({}),
        |api| {
            api.on("POST", "/v1/approvals", vec![Reply::json(500, json!({"error":{"message":"boom"}}))]);
        },
        |_| {},
    );
    assert_eq!(text, "I couldn't get approval for that, so I didn't do it.");
    let (_h, text) = refused(
        json!({}),
        |api| {
            api.on("POST", "/v1/approvals", vec![approval_reply("ap6", 1, 0)]);
            api.on("GET", "/v1/approvals/ap6", vec![Reply::json(404, json!({"error":{"message":"gone"}}))]);
        },
        |_| {},
    );
    assert_eq!(text, "I couldn't get approval for that, so I didn't do it.");
    let (_h, text) = refused(
        json!({}),
        |api| {
            api.on("POST", "/v1/approvals", vec![approval_reply("ap7", 0, 2)]);
        },
        |_| {},
    );
    assert_eq!(text, "I couldn't reach Ann's devices for approval, so I didn't do it.");
}

#[test]
fn with_no_approval_device_the_caller_is_asked_to_confirm_by_voice() {
    let (h, text) = refused(
        json!({}),
        |api| {
            api.on("POST", "/v1/approvals", vec![approval_reply("ap8", 0, 0)]);
        },
        |_| {},
    );
    assert!(text.contains("say yes to confirm") && text.contains("delete the repository prod-db"), "{text}");
    // a confirmation on another call does nothing; a clear yes on this call acts
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c2","request_id":"r2","query":"yes"}));
    h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r2");
    assert_eq!(h.gw.calls().len(), 1);
    assert_eq!(h.gw.calls()[0].message(), "yes");
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"r3","query":"Yes, go ahead"}));
    let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r3");
    assert_eq!(r["text"], "Echo: delete the repository prod-db");
}

#[test]
fn with_no_approval_device_and_deny_configured_nothing_is_done() {
    let (h, text) = refused(
        json!({"approval_no_devices": "deny"}),
        |api| {
            api.on("POST", "/v1/approvals", vec![approval_reply("ap9", 0, 0)]);
        },
        |_| {},
    );
    assert_eq!(text, "Ann has no approval device set up, so I can't do that.");
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"r2","query":"yes confirm"}));
    h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r2");
    assert_eq!(h.gw.calls()[0].message(), "yes confirm", "the held request was not released");
}

#[test]
fn sensitive_sms_and_walkie_requests_need_approval_too() {
    let h = Harness::start_with(TEST_KEY, json!({}), |_, api| pending(api, "ap10")).connected();
    h.ws.inject(json!({"type":"walkie_request","request_id":"w1","transcript":"merge the pull request"}));
    h.ws.inject(json!({"type":"sms.received","from":"+15551234567","body":"please pay the invoice"}));
    wait_for("two approval requests", Duration::from_secs(5), || (h.approvals_posted().len() == 2).then_some(()));
    h.ws.inject(json!({"type":"approval.responded","request_id":"ap10","decision":"denied"}));
    let r = wait_for("walkie or sms answer", Duration::from_secs(10), || {
        h.ws.sent_of("walkie_response").into_iter().next()
    });
    assert!(r["reply"].as_str().unwrap().contains("didn't"), "{r}");
    assert!(h.gw.calls().is_empty());
}

// ---------------------------------------------------------------- liveness

#[test]
fn the_client_reconnects_and_authenticates_again_after_the_server_drops_the_socket() {
    let h = Harness::start(json!({})).connected();
    h.ws.drop_all(None);
    h.ws.wait_auths(2);
    h.ws.drop_all(Some(1011));
    h.ws.wait_auths(3);
    assert_eq!(h.ws.sent_of("auth").len(), 3);
    wait_for("connected state", Duration::from_secs(5), || h.state.borrow().connected.then_some(()));
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"after","query":"still there?"}));
    h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "after");
}

#[test]
fn a_missing_pong_drops_the_socket_and_reconnects() {
    let h = Harness::start_with(TEST_KEY, json!({"ping_interval_secs": 0.2, "pong_timeout_secs": 0.2}), |ws, _| {
        ws.shared.lock().unwrap().mute = true;
    });
    h.ws.wait_auths(1);
    h.ws.wait_auths(2);
    let err = h.state.borrow().last_error.clone().unwrap_or_default();
    assert!(err.contains("no pong"), "{err}");
}

#[test]
fn answered_pings_keep_the_connection() {
    let h = Harness::start(json!({"ping_interval_secs": 0.1, "pong_timeout_secs": 0.3})).connected();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(h.ws.auths(), 1, "the connection was dropped although pongs came");
}

#[test]
fn auth_error_stops_without_retrying() {
    let mut h = Harness::start_with("cc_test_wrongkey000000", json!({}), |_, _| {});
    let e = h.ended().unwrap_err();
    assert_eq!(e.exit_code(), 3);
    assert!(e.to_string().contains("refused the API key (Invalid API key)"), "{e}");
    assert_eq!(h.ws.sent_of("auth").len(), 1, "a bad key is not retried");
}

#[test]
fn three_takeovers_in_a_row_stop_with_a_duplicate_client_message() {
    let mut h = Harness::start_with(TEST_KEY, json!({}), |ws, _| ws.shared.lock().unwrap().takeover = Some((4000, 3)));
    let e = h.ended().unwrap_err();
    assert!(e.to_string().contains("another client is connected with the same API key"), "{e}");
    assert_eq!(h.ws.auths(), 3);
}

#[test]
fn a_takeover_followed_by_a_normal_drop_does_not_count_as_a_duplicate() {
    let h = Harness::start_with(TEST_KEY, json!({}), |ws, _| ws.shared.lock().unwrap().takeover = Some((4000, 2)));
    h.ws.wait_auths(3);
    h.ws.drop_all(Some(1001));
    h.ws.wait_auths(4);
    assert!(h.state.borrow().state != "stopped");
}

#[test]
fn a_429_on_connect_waits_before_retrying() {
    let h = Harness::start_with(TEST_KEY, json!({"rate_limit_wait_secs": 0.7}), |ws, _| {
        ws.shared.lock().unwrap().reject_429 = 1;
    });
    let t0 = Instant::now();
    h.ws.wait_auths(1);
    assert!(t0.elapsed() >= Duration::from_millis(550), "reconnected after {:?}", t0.elapsed());
}
