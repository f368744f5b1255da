//! `clawdtalk connect`: the client against a stand-in `/ws` server, a
//! stand-in agent gateway and a recording HTTP API, all on 127.0.0.1:0.

mod common;
#[path = "common/standins.rs"]
mod standins;

use std::time::{Duration, Instant};

use clawdtalk::config::{Config, MapEnv, Overrides};
use clawdtalk::connect::{self, LinkState, Settings};
use common::sandbox::TestSandbox;
use common::{Recorder, Reply, Sandboxed, TEST_KEY};
use serde_json::{json, Value};
use standins::{wait_for, GatewayStandIn, WsStandIn};
use tokio::sync::watch;

const GATEWAY_TOKEN: &str = "gw_secret_token_0123456789";
/// The owner's number in every configuration here (`owner_phone`).
const OWNER_PHONE: &str = "+15550001111";

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
        "owner_phone": OWNER_PHONE,
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
fn each_call_is_greeted_once_whichever_of_call_started_and_context_request_comes_first() {
    let h = Harness::start(json!({})).connected();
    // call.started first, then context_request (twice)
    h.ws.inject(json!({"type":"call.started","call_id":"a","direction":"inbound"}));
    h.ws.wait_msg("response", |m| m["call_id"] == "a");
    h.ws.inject(json!({"type":"context_request","call_id":"a"}));
    h.ws.inject(json!({"type":"context_request","call_id":"a"}));
    // context_request first, then call.started
    h.ws.inject(json!({"type":"context_request","call_id":"b"}));
    h.ws.inject(json!({"type":"call.started","call_id":"b","direction":"inbound"}));
    // a marker: when its greeting is out, everything before it was handled
    h.ws.inject(json!({"type":"call.started","call_id":"marker","direction":"inbound"}));
    h.ws.wait_msg("response", |m| m["call_id"] == "marker");
    let contexts = h.ws.sent_of("context_response");
    assert_eq!(contexts.iter().filter(|m| m["call_id"] == "a").count(), 2, "every context_request is answered");
    assert_eq!(contexts.iter().filter(|m| m["call_id"] == "b").count(), 1);
    let greetings = h.ws.sent_of("response");
    assert_eq!(greetings.iter().filter(|m| m["call_id"] == "a").count(), 1, "{greetings:?}");
    assert_eq!(greetings.iter().filter(|m| m["call_id"] == "b").count(), 1, "{greetings:?}");
    // once the call ended, its id is forgotten (a new call may reuse it)
    h.ws.inject(json!({"type":"call.ended","call_id":"a","direction":"inbound"}));
    h.ws.inject(json!({"type":"context_request","call_id":"a"}));
    wait_for("a new greeting for a reused call id", Duration::from_secs(10), || {
        (h.ws.sent_of("response").iter().filter(|m| m["call_id"] == "a").count() == 2).then_some(())
    });
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
fn a_malformed_request_with_a_readable_id_gets_exactly_one_apology_and_never_reaches_the_agent() {
    let h = Harness::start(json!({})).connected();
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"no-query"}));
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":42,"query":{"what":"weather"}}));
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"blank","query":"  "}));
    h.ws.inject(json!({"type":"walkie_request","request_id":"w-bad","transcript":["delete","everything"]}));
    h.ws.inject(json!({"type":"walkie_request","request_id":"w-empty"}));
    // a request without any id cannot be answered; it is only logged
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1"}));
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"marker","query":"after the bad ones"}));
    h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "marker");
    for id in [json!("no-query"), json!("42"), json!("blank")] {
        let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == id);
        assert_eq!(r["text"], "Sorry, I couldn't understand that request. Could you say it again?");
    }
    for id in ["w-bad", "w-empty"] {
        let r = h.ws.wait_msg("walkie_response", |m| m["request_id"] == id);
        assert!(r.get("reply").is_none() && r["error"].as_str().unwrap().contains("couldn't understand"), "{r}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(h.ws.sent_of("deep_tool_result").len(), 4, "exactly one result each");
    assert_eq!(h.ws.sent_of("walkie_response").len(), 2);
    let asked: Vec<String> = h.gw.calls().iter().map(|c| c.message().to_string()).collect();
    assert_eq!(asked, ["after the bad ones"], "only the well-formed request reached the agent");
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
    refused_on_call(false, extra, prep, after_progress)
}

/// [`refused`] on call `c1`, which `call.started` names as the owner's when `owner`.
fn refused_on_call(
    owner: bool,
    extra: Value,
    prep: impl FnOnce(&Recorder),
    after_progress: impl FnOnce(&WsStandIn),
) -> (Harness, String) {
    let h = Harness::start_with(TEST_KEY, extra, |_, api| prep(api)).connected();
    if owner {
        h.ws.inject(json!({"type":"call.started","call_id":"c1","direction":"inbound","from":OWNER_PHONE}));
        h.ws.wait_msg("response", |m| m["call_id"] == "c1");
    }
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
    let (h, text) = refused_on_call(
        true,
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
fn a_follow_up_that_is_neither_yes_nor_no_drops_the_held_request_and_is_handled_as_a_new_one() {
    let (h, text) = refused_on_call(
        true,
        json!({}),
        |api| {
            api.on("POST", "/v1/approvals", vec![approval_reply("ap8", 0, 0)]);
        },
        |_| {},
    );
    assert!(text.contains("say yes to confirm"), "{text}");
    // a question of its own: answered by the agent, not swallowed
    h.ws.inject(
        json!({"type":"deep_tool_request","call_id":"c1","request_id":"r2","query":"what's the weather tomorrow"}),
    );
    let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r2");
    assert_eq!(r["text"], "Echo: what's the weather tomorrow");
    // the held request is gone: a late yes releases nothing
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"r3","query":"yes"}));
    h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r3");
    let asked: Vec<String> = h.gw.calls().iter().map(|c| c.message().to_string()).collect();
    assert_eq!(asked, ["what's the weather tomorrow", "yes"]);

    // held again; a sensitive follow-up needs an approval of its own
    h.ws.inject(
        json!({"type":"deep_tool_request","call_id":"c1","request_id":"r4","query":"delete the repository prod-db"}),
    );
    h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r4");
    h.ws.inject(
        json!({"type":"deep_tool_request","call_id":"c1","request_id":"r5","query":"no, delete the backups instead"}),
    );
    let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r5");
    assert!(r["text"].as_str().unwrap().contains("\"no, delete the backups instead\", say yes"), "{r}");
    let actions: Vec<Value> = h.approvals_posted().iter().map(|a| a["action"].clone()).collect();
    assert_eq!(
        actions,
        [
            json!("delete the repository prod-db"),
            json!("delete the repository prod-db"),
            json!("no, delete the backups instead")
        ]
    );
    // and a clear no answers without asking anyone
    h.ws.inject(json!({"type":"deep_tool_request","call_id":"c1","request_id":"r6","query":"No, don't delete them"}));
    let r = h.ws.wait_msg("deep_tool_result", |m| m["request_id"] == "r6");
    assert_eq!(r["text"], "OK, I won't do that.");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(h.gw.calls().len(), 2, "nothing sensitive reached the agent: {:?}", h.gw.calls());
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
    let h = Harness::start_with(TEST_KEY, json!({}), |_, api| {
        // each request gets its own approval, in the order they are posted
        api.on("POST", "/v1/approvals", vec![approval_reply("apA", 1, 0), approval_reply("apB", 1, 0)]);
        for id in ["apA", "apB"] {
            api.on("GET", &format!("/v1/approvals/{id}"), vec![Reply::json(200, json!({"status":"pending"}))]);
        }
    })
    .connected();
    h.ws.inject(json!({"type":"walkie_request","request_id":"w1","transcript":"merge the pull request"}));
    h.ws.inject(json!({"type":"sms.received","from":"+15551234567","body":"please pay the invoice"}));
    let posted = wait_for("two approval requests", Duration::from_secs(5), || {
        let p = h.approvals_posted();
        (p.len() == 2).then_some(p)
    });
    let id_of = |action: &str| {
        let i = posted.iter().position(|p| p["action"] == action).expect("an approval for each request");
        ["apA", "apB"][i]
    };
    let (walkie_id, sms_id) = (id_of("merge the pull request"), id_of("please pay the invoice"));
    assert!(posted.iter().any(|p| p["details"].as_str().unwrap().contains("push-to-talk")));
    assert!(posted.iter().any(|p| p["details"].as_str().unwrap().contains("by SMS")));
    let sms_sent = || {
        h.api.requests().into_iter().filter(|r| r.method == "POST" && r.path == "/v1/messages/send").collect::<Vec<_>>()
    };

    h.ws.inject(json!({"type":"approval.responded","request_id":walkie_id,"decision":"denied"}));
    let r = h.ws.wait_msg("walkie_response", |m| m["request_id"] == "w1");
    assert_eq!(r["reply"], "Ann declined that request, so I didn't do it.");
    std::thread::sleep(Duration::from_millis(300));
    assert!(sms_sent().is_empty(), "the SMS still waits for its own approval");

    h.ws.inject(json!({"type":"approval.responded","request_id":sms_id,"decision":"denied"}));
    let sent = wait_for("the SMS refusal", Duration::from_secs(10), || sms_sent().into_iter().next());
    let body = sent.json();
    assert_eq!(body["to"], "+15551234567");
    assert_eq!(body["message"], "Ann declined that request, so I didn't do it.");
    // both paths have finished: neither reached the agent
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sms_sent().len(), 1);
    assert_eq!(h.ws.sent_of("walkie_response").len(), 1);
    assert!(h.gw.calls().is_empty(), "{:?}", h.gw.calls());
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
fn a_normal_drop_between_takeovers_restarts_the_count() {
    // 4000, 4000, then a connection that stays up
    let h = Harness::start_with(TEST_KEY, json!({}), |ws, _| ws.shared.lock().unwrap().takeover = Some((4000, 2)));
    h.ws.wait_auths(3);
    // the next two sockets are taken over too; this one ends normally first
    h.ws.shared.lock().unwrap().takeover = Some((4000, 2));
    h.ws.drop_all(Some(1001));
    // 4000, 4000 again: four in all, but never three in a row
    h.ws.wait_auths(6);
    wait_for("connected again", Duration::from_secs(10), || h.state.borrow().connected.then_some(()));
    assert_eq!(h.state.borrow().state, "connected");
    assert!(h.task.as_ref().is_some_and(|t| !t.is_finished()), "the client is still running");
    // a third 4000 in a row stops it
    h.ws.drop_all(Some(4000));
    let mut h = h;
    let e = h.ended().unwrap_err();
    assert!(e.to_string().contains("another client is connected with the same API key"), "{e}");
    assert_eq!(h.ws.auths(), 6);
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

// ---------------------------------------------------------------- against the sandbox

/// The client in-process against the sandbox (`/ws` and `/v1` on one server).
struct OnSandbox {
    sb: TestSandbox,
    gw: GatewayStandIn,
    rt: tokio::runtime::Runtime,
    stop: watch::Sender<bool>,
    state: watch::Receiver<LinkState>,
    _dir: tempfile::TempDir,
}

impl OnSandbox {
    fn start() -> OnSandbox {
        let sb = TestSandbox::start();
        let gw = GatewayStandIn::start();
        let dir = tempfile::tempdir().unwrap();
        let cfg = json!({"api_key": TEST_KEY, "server": sb.root, "gateway_url": gw.url(), "owner_name": "Ann",
            "reconnect_initial_secs": 0.05, "approval_poll_secs": 0.1});
        std::fs::write(dir.path().join("skill-config.json"), cfg.to_string()).unwrap();
        let c = Config::resolve(&Overrides::default(), &MapEnv::default(), dir.path()).unwrap();
        let settings = Settings::from_config(&c).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (state_tx, state) = watch::channel(LinkState::default());
        let (stop, stop_rx) = watch::channel(false);
        rt.spawn(connect::run(settings, state_tx, stop_rx));
        let me = OnSandbox { sb, gw, rt, stop, state, _dir: dir };
        wait_for("the client to connect to the sandbox", Duration::from_secs(10), || {
            me.state.borrow().connected.then_some(())
        });
        me
    }

    fn received(&self) -> Vec<Value> {
        self.sb.control_get("ws/received")["messages"].as_array().cloned().unwrap_or_default()
    }

    fn wait_received(&self, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for("a message at the sandbox", Duration::from_secs(10), || self.received().into_iter().find(|m| pred(m)))
    }
}

impl Drop for OnSandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        std::thread::sleep(Duration::from_millis(50));
        let _ = &self.rt;
    }
}

#[test]
fn sandbox_call_in_is_greeted_and_answered_by_the_agent() {
    let s = OnSandbox::start();
    let out = s.sb.control_post("call-in", json!({"question": "what is on my calendar", "timeout_seconds": 10}));
    let text = out.to_string();
    assert!(text.contains("Echo: what is on my calendar"), "{out}");
    s.wait_received(|m| m["type"] == "context_response");
    s.wait_received(|m| m["type"] == "response" && m["text"].as_str().unwrap_or("").contains("Ann"));
}

#[test]
fn sandbox_sms_is_answered_through_the_sms_api() {
    let s = OnSandbox::start();
    s.sb.control_post("sms/inject", json!({"from": "+15557654321", "body": "are you there"}));
    let sent = wait_for("the SMS reply", Duration::from_secs(10), || {
        let v = s.sb.control_get("messages/sent");
        let list = v.get("messages").or(v.get("data")).and_then(Value::as_array).cloned().unwrap_or_default();
        list.into_iter().find(|m| m.to_string().contains("Echo: [SMS from +15557654321] are you there"))
    });
    assert!(sent.to_string().contains("+15557654321"), "{sent}");
}

/// The id of an approval still pending at the sandbox.
fn pending_approval(sb: &TestSandbox) -> Option<String> {
    let st = sb.control_get("state");
    let list = st["approvals"]
        .as_array()
        .cloned()
        .or_else(|| st["approvals"].as_object().map(|o| o.values().cloned().collect()))
        .unwrap_or_default();
    list.into_iter()
        .filter(|a| a["status"] == "pending")
        .find_map(|a| a.get("request_id").or(a.get("id")).and_then(Value::as_str).map(str::to_string))
}

#[test]
fn sandbox_denied_approval_never_reaches_the_agent_and_approved_does() {
    let s = OnSandbox::start();
    for (rid, decision) in [("deny1", "denied"), ("ok1", "approved")] {
        let before = s.gw.calls().len();
        s.sb.control_post(
            "ws/inject",
            json!({"event": {"event": "deep_tool_request", "call_id": "c1",
            "request_id": rid, "query": "delete the repository prod-db"}}),
        );
        s.wait_received(|m| m["type"] == "deep_tool_progress" && m["request_id"] == rid);
        let id = wait_for("the pending approval", Duration::from_secs(5), || pending_approval(&s.sb));
        s.sb.control_post(&format!("approvals/{id}/decide"), json!({"decision": decision}));
        let r = s.wait_received(|m| m["type"] == "deep_tool_result" && m["request_id"] == rid);
        std::thread::sleep(Duration::from_millis(200));
        if decision == "denied" {
            assert!(r["text"].as_str().unwrap().contains("declined"), "{r}");
            assert_eq!(s.gw.calls().len(), before, "a denied request reached the agent");
        } else {
            assert_eq!(r["text"], "Echo: delete the repository prod-db");
            assert_eq!(s.gw.calls().len(), before + 1);
        }
    }
}

#[test]
fn sandbox_drop_is_followed_by_a_new_authenticated_connection() {
    let s = OnSandbox::start();
    s.sb.control_post("ws/drop", json!({"code": 1012}));
    wait_for("re-authentication", Duration::from_secs(10), || (s.state.borrow().authentications >= 2).then_some(()));
}

// ---------------------------------------------------------------- the binary

const SECRET_KEY: &str = "cc_test_SECRETKEY_9f8e7d6c5b4a";

fn binary_config(home: &Sandboxed, server: &str, gw: &GatewayStandIn, key: &str) -> std::path::PathBuf {
    let cfg = json!({"api_key": key, "server": server, "gateway_url": gw.url(), "gateway_token": GATEWAY_TOKEN,
        "reconnect_initial_secs": 0.05, "owner_phone": OWNER_PHONE});
    let p = home.path().join("skill-config.json");
    std::fs::write(&p, cfg.to_string()).unwrap();
    p
}

#[test]
fn connect_run_stops_with_exit_3_on_auth_error() {
    let sb = TestSandbox::start();
    let gw = GatewayStandIn::start();
    let home = Sandboxed::new();
    let cfg = binary_config(&home, &sb.root, &gw, "not_a_valid_key_000000");
    let out = home
        .cmd()
        .env("CLAWDTALK_CONFIG", &cfg)
        .args(["connect", "run"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the API key"));
}

#[test]
fn connect_run_stops_after_three_takeovers_by_the_sandbox_saying_another_client_uses_the_key() {
    let sb = TestSandbox::start();
    let gw = GatewayStandIn::start();
    let home = Sandboxed::new();
    let cfg = binary_config(&home, &sb.root, &gw, TEST_KEY);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"))
        .env_clear()
        .env("HOME", home.home())
        .env("XDG_DATA_HOME", home.home().join(".local/share"))
        .env("CLAWDTALK_CONFIG", &cfg)
        .args(["connect", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let auths = || {
        let r = sb.control_get("ws/received");
        let n = r["messages"].as_array().map_or(0, |m| m.iter().filter(|m| m["type"] == "auth").count());
        (n, r["clients"].as_u64().unwrap_or(0))
    };
    for n in 1..=3 {
        wait_for(&format!("authentication {n}"), Duration::from_secs(15), || (auths() == (n, 1)).then_some(()));
        sb.control_post("ws/drop", json!({"code": 4000}));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another client is connected with the same API key"), "{stderr}");
    assert_eq!(auths().0, 3, "no fourth connection");
}

#[test]
fn the_log_never_holds_the_key_the_token_or_full_phone_numbers() {
    let sb = TestSandbox::start();
    let gw = GatewayStandIn::start();
    let home = Sandboxed::new();
    let cfg = binary_config(&home, &sb.root, &gw, SECRET_KEY);
    let log = home.path().join("connect.log");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"))
        .env_clear()
        .env("HOME", home.home())
        .env("XDG_DATA_HOME", home.home().join(".local/share"))
        .env("CLAWDTALK_CONFIG", &cfg)
        .args(["-v", "connect", "run", "--log-file"])
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the client to connect", Duration::from_secs(15), || {
        (sb.control_get("ws/received")["clients"].as_u64() == Some(1)).then_some(())
    });
    let inject = |event: Value| sb.control_post("ws/inject", json!({ "event": event }));
    let result_of = |rid: &str| {
        wait_for("a deep_tool_result", Duration::from_secs(10), || {
            sb.control_get("ws/received")["messages"]
                .as_array()?
                .iter()
                .find(|m| m["type"] == "deep_tool_result" && m["request_id"] == rid)
                .cloned()
        })
    };
    sb.control_post("sms/inject", json!({"from": "+15551234567", "body": "hello there"}));
    inject(json!({"event": "call.ended", "call_id": "c1", "direction": "outbound",
        "to_number": "+15559876543", "outcome": "no_answer"}));
    gw.wait_call(|c| c.message().contains("not answered"));
    wait_for("the SMS reply", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).ok().filter(|l| l.contains("SMS reply")).map(|_| ())
    });
    // deep tool requests carrying a number and a secret: plain, failing at the agent
    inject(json!({"event": "deep_tool_request", "call_id": "c2", "request_id": "d1",
        "query": format!("what is the status of +15551234567, code {SECRET_KEY}")}));
    result_of("d1");
    inject(json!({"event": "deep_tool_request", "call_id": "c2", "request_id": "d2",
        "query": format!("fail to call +15551234567 with {GATEWAY_TOKEN}")}));
    result_of("d2");
    // approvals: denied, approved, and confirmed by voice when no device answers
    for (rid, decision) in [("a1", "denied"), ("a2", "approved")] {
        inject(json!({"event": "deep_tool_request", "call_id": "c3", "request_id": rid,
            "query": format!("send the code {SECRET_KEY} to +15551234567")}));
        let id = wait_for("the pending approval", Duration::from_secs(10), || pending_approval(&sb));
        sb.control_post(&format!("approvals/{id}/decide"), json!({ "decision": decision }));
        result_of(rid);
    }
    // only the owner may confirm by voice: c4 is the owner's call
    inject(json!({"event": "call.started", "call_id": "c4", "direction": "inbound", "from": OWNER_PHONE}));
    inject(json!({"event": "deep_tool_request", "call_id": "c4", "request_id": "v1",
        "query": "delete the contact +15551234567 [no_devices]"}));
    assert!(result_of("v1")["text"].as_str().unwrap().contains("say yes"));
    inject(json!({"event": "deep_tool_request", "call_id": "c4", "request_id": "v2", "query": "yes"}));
    result_of("v2");
    // malformed messages whose fields hold a number or a secret
    inject(json!({"event": "sms.received", "from": 15551234567u64, "body": SECRET_KEY}));
    inject(json!({"event": "deep_tool_request", "call_id": "c5", "request_id": "m1", "query": 15551234567u64}));
    inject(
        json!({"event": "deep_tool_request", "call_id": "c5", "request_id": {"token": GATEWAY_TOKEN}, "query": "x"}),
    );
    inject(json!({"event": "approval.responded", "request_id": [SECRET_KEY], "decision": "approved"}));
    inject(json!({"event": "call.started", "call_id": "c6", "direction": 15551234567u64}));
    sb.control_post("ws/inject", json!({"message": format!("{SECRET_KEY} +15551234567")}));
    assert!(result_of("m1")["text"].as_str().unwrap().contains("couldn't understand"));
    wait_for("the malformed messages logged", Duration::from_secs(10), || {
        let t = std::fs::read_to_string(&log).ok()?;
        (t.matches("malformed").count() >= 5).then_some(())
    });
    // SAFETY-free: SIGTERM through kill(1) for a graceful stop
    let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("+1 ***4567"), "masked number expected in:\n{text}");
    for secret in [SECRET_KEY, GATEWAY_TOKEN, "+15551234567", "15551234567", "SECRETKEY", "gw_secret"] {
        assert!(!text.contains(secret), "{secret} leaked into the log:\n{text}");
    }
    assert!(text.contains("DEBUG"), "-v logs at debug level");
}

/// Stops a background client when a test ends, even on failure.
struct StopOnDrop<'a>(&'a Sandboxed, std::path::PathBuf);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .cmd()
            .env("CLAWDTALK_CONFIG", &self.1)
            .args(["connect", "stop"])
            .timeout(Duration::from_secs(15))
            .output();
    }
}

/// `clawdtalk ARGS` for the client of `cfg`, given `secs` to finish.
fn daemon_cmd(home: &Sandboxed, cfg: &std::path::Path, secs: u64, args: &[&str]) -> assert_cmd::Command {
    let mut c = home.cmd();
    c.env("CLAWDTALK_CONFIG", cfg).args(args).timeout(Duration::from_secs(secs));
    c
}

fn status_json(home: &Sandboxed, cfg: &std::path::Path) -> (i32, Value) {
    let out = home.cmd().env("CLAWDTALK_CONFIG", cfg).args(["--json", "connect", "status"]).output().unwrap();
    (out.status.code().unwrap_or(-1), serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn start_status_watchdog_and_stop_manage_one_background_client() {
    let sb = TestSandbox::start();
    let gw = GatewayStandIn::start();
    let home = Sandboxed::new();
    let cfg = binary_config(&home, &sb.root, &gw, TEST_KEY);
    std::fs::create_dir_all(home.home().join(".openclaw")).unwrap();
    std::fs::write(home.home().join(".openclaw/openclaw.json"), r#"{"gateway":{"tools":{"allow":["exec"]}}}"#).unwrap();
    let _guard = StopOnDrop(&home, cfg.clone());
    let cmd = |args: &[&str]| daemon_cmd(&home, &cfg, 20, args);

    let (code, st) = status_json(&home, &cfg);
    assert_eq!((code, st["running"].clone()), (1, json!(false)));

    let out = cmd(&["connect", "start"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("clawdtalk connect started (pid") && stdout.contains("connected"), "{stdout}");

    let (code, st) = status_json(&home, &cfg);
    assert_eq!(code, 0, "{st}");
    assert_eq!(st["running"], true);
    assert_eq!(st["connected"], true);
    let pid = st["pid"].as_u64().unwrap();
    assert_eq!(st["gateway"]["tools_allowed"], false);
    let detail = st["gateway"]["detail"].as_str().unwrap();
    assert!(detail.contains("\"allow\":[\"sessions_send\",\"sessions_history\"]"), "{detail}");
    let human = String::from_utf8_lossy(&cmd(&["connect", "status"]).output().unwrap().stdout).to_string();
    assert!(human.contains(&format!("yes (pid {pid})")) && human.contains("NOT allowed"), "{human}");
    assert!(human.contains("connected and authenticated"), "last log lines shown: {human}");

    // a second start does not start a second client
    let out = cmd(&["connect", "start"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("already running (pid {pid})")));
    // nor does a second `run` in the foreground: the lock refuses it
    let out = cmd(&["connect", "run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));

    // the client crashes: its pid file stays behind, the lock does not
    let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    wait_for("the killed client to be gone", Duration::from_secs(5), || {
        (status_json(&home, &cfg).0 == 1).then_some(())
    });
    let out = cmd(&["connect", "watchdog"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "watchdog is silent: {}", String::from_utf8_lossy(&out.stdout));
    let (code, st) = status_json(&home, &cfg);
    assert_eq!(code, 0);
    let new_pid = st["pid"].as_u64().unwrap();
    assert_ne!(new_pid, pid);
    // watchdog leaves a running client alone
    cmd(&["connect", "watchdog"]).assert().success();
    assert_eq!(status_json(&home, &cfg).1["pid"].as_u64(), Some(new_pid));

    let out = cmd(&["connect", "stop"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("stopped (pid {new_pid})")));
    let (code, st) = status_json(&home, &cfg);
    assert_eq!((code, st["running"].clone()), (1, json!(false)));
    assert!(!std::path::Path::new(st["runtime_dir"].as_str().unwrap()).join("connect.pid").exists());
    let out = cmd(&["connect", "stop"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
}

#[test]
fn after_the_log_rotates_the_background_clients_stderr_still_lands_in_the_current_log() {
    use clawdtalk::connect::daemon::LOG_MAX_BYTES;
    let sb = TestSandbox::start();
    let gw = GatewayStandIn::start();
    let home = Sandboxed::new();
    let cfg = binary_config(&home, &sb.root, &gw, TEST_KEY);
    let _guard = StopOnDrop(&home, cfg.clone());
    let cmd = |args: &[&str]| daemon_cmd(&home, &cfg, 20, args);
    let out = cmd(&["-v", "connect", "start"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = std::path::PathBuf::from(status_json(&home, &cfg).1["log_file"].as_str().unwrap());
    let rotated = log.with_file_name("connect.log.1");
    // An unknown event is logged with its name (at info, and again at debug):
    // 32 KiB names fill the real 1 MiB log in a few dozen events.
    let name = "x".repeat(32 * 1024);
    wait_for("the log to rotate", Duration::from_secs(60), || {
        sb.control_post("ws/inject", json!({"event": {"event": name}}));
        rotated.exists().then_some(())
    });
    sb.control_post("ws/inject", json!({"event": {"event": "after.rotation"}}));
    wait_for("a line after rotation", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).ok().filter(|t| t.contains("after.rotation")).map(|_| ())
    });
    let out = cmd(&["connect", "stop"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // the client's last words go to stderr (the final note): in the current log, not in .1
    let current = std::fs::read_to_string(&log).unwrap();
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(current.contains("clawdtalk connect stopped"), "final note missing from the current log");
    assert!(!old.contains("clawdtalk connect stopped"), "the final note went to the rotated file");
    assert!(std::fs::metadata(&log).unwrap().len() <= LOG_MAX_BYTES);
    assert!(std::fs::metadata(&rotated).unwrap().len() <= LOG_MAX_BYTES);
}

/// Where the stand-in below keeps its lock (its presence makes the test body run).
const LOCK_HOLDER_DIR: &str = "CLAWDTALK_TEST_LOCK_HOLDER_DIR";

/// The body of a stand-in process for `stop_kills_a_client_that_ignores_sigterm…`:
/// this test binary, started again, holds a client's instance lock and pid file
/// and ignores SIGTERM, like a client stuck in its shutdown.
#[test]
#[ignore = "a stand-in process, started by stop_kills_a_client_that_ignores_sigterm_after_the_grace_period"]
fn standin_lock_holder_ignoring_sigterm() {
    let Some(dir) = std::env::var_os(LOCK_HOLDER_DIR) else { return };
    // SAFETY: setting a signal's disposition has no memory-safety preconditions.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    let rt = clawdtalk::connect::daemon::Runtime { dir: dir.into() };
    let _lock = rt.acquire().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// Kills a child process when a test ends, even on failure.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn stop_kills_a_client_that_ignores_sigterm_after_the_grace_period() {
    use std::os::unix::process::ExitStatusExt;
    let gw = GatewayStandIn::start();
    let home = Sandboxed::new();
    let cfg = binary_config(&home, "http://127.0.0.1:9", &gw, TEST_KEY);
    let dir = status_json(&home, &cfg).1["runtime_dir"].as_str().unwrap().to_string();
    let mut holder = KillOnDrop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["standin_lock_holder_ignoring_sigterm", "--exact", "--ignored"])
            .env(LOCK_HOLDER_DIR, &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = u64::from(holder.0.id());
    wait_for("the stand-in to hold the lock", Duration::from_secs(10), || {
        (status_json(&home, &cfg).1["pid"].as_u64() == Some(pid)).then_some(())
    });
    let out = home
        .cmd()
        .env("CLAWDTALK_CONFIG", &cfg)
        .args(["connect", "stop"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("clawdtalk connect stopped (pid {pid}, killed after 5 s)"));
    let status = holder.0.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let (code, st) = status_json(&home, &cfg);
    assert_eq!((code, st["running"].clone()), (1, json!(false)));
    assert!(!std::path::Path::new(&dir).join("connect.pid").exists(), "the pid file is removed");
}

#[test]
fn restart_replaces_the_background_client_with_a_new_connected_one() {
    let sb = TestSandbox::start();
    let gw = GatewayStandIn::start();
    let home = Sandboxed::new();
    let cfg = binary_config(&home, &sb.root, &gw, TEST_KEY);
    let _guard = StopOnDrop(&home, cfg.clone());
    let cmd = |args: &[&str]| daemon_cmd(&home, &cfg, 30, args);
    cmd(&["connect", "start"]).assert().success();
    let old = status_json(&home, &cfg).1["pid"].as_u64().unwrap();
    let out = cmd(&["--json", "connect", "restart"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["stop"], json!({"stopped": true, "pid": old, "forced": false}));
    let new = doc["start"]["pid"].as_u64().unwrap();
    assert_ne!(new, old);
    assert_eq!(doc["start"]["connected"], true, "{doc}");
    let (code, st) = status_json(&home, &cfg);
    assert_eq!((code, st["pid"].as_u64(), st["connected"].clone()), (0, Some(new), json!(true)));
    // gone, or a zombie nobody has reaped yet (it was detached from `connect start`)
    let state = std::fs::read_to_string(format!("/proc/{old}/stat")).unwrap_or_default();
    let state = state.rsplit(')').next().unwrap_or_default().trim_start().chars().next();
    assert!(matches!(state, None | Some('Z') | Some('X')), "the old client is still running: {state:?}");
    let received = sb.control_get("ws/received");
    let auths = received["messages"].as_array().unwrap().iter().filter(|m| m["type"] == "auth").count();
    assert_eq!((auths, received["clients"].as_u64()), (2, Some(1)), "one new authenticated connection");
}
