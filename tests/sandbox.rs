//! The sandbox: every route (status codes and envelopes), the clock, the
//! magic numbers, auth/404/422/429/503, /ws, the control API and the
//! `clawdtalk sandbox` / `call-in` / `demo` commands.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::sandbox::{SandboxOptions, TestSandbox};
use common::{Sandboxed, TEST_KEY};
use serde_json::{json, Value};

/// Mission + run + plan, returning (mission id, run id).
fn mission_with_plan(sb: &TestSandbox, steps: &[&str]) -> (String, String) {
    let m = sb.call("POST", "/v1/missions", Some(json!({"name": "Sweep", "instructions": "Call around"})));
    assert_eq!(m.status, 201);
    let mid = m.json["mission"]["id"].as_str().unwrap().to_string();
    let r = sb.call("POST", &format!("/v1/missions/{mid}/runs"), Some(json!({"input": {"original_request": "x"}})));
    assert_eq!(r.status, 201);
    let rid = r.json["data"]["run_id"].as_str().unwrap().to_string();
    let plan: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"step_id": s, "description": format!("step {s}"), "sequence": i + 1}))
        .collect();
    let p = sb.call("POST", &format!("/v1/missions/{mid}/runs/{rid}/plan"), Some(json!({ "steps": plan })));
    assert_eq!(p.status, 201, "{:?}", p.json);
    (mid, rid)
}

fn assistant(sb: &TestSandbox) -> String {
    let a = sb.call(
        "POST",
        "/v1/assistants",
        Some(json!({"name": "Caller", "instructions": "Ask for the best price on a roof repair"})),
    );
    assert_eq!(a.status, 201, "{:?}", a.json);
    a.json["id"].as_str().unwrap().to_string()
}

fn schedule_call(sb: &TestSandbox, aid: &str, to: &str, extra: Value) -> Value {
    let mut body =
        json!({"channel": "call", "to": to, "from": "+15550100002", "scheduled_at": TestSandbox::in_secs(61)});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let r = sb.call("POST", &format!("/v1/assistants/{aid}/events"), Some(body));
    assert_eq!(r.status, 201, "{:?}", r.json);
    r.json
}

fn event(sb: &TestSandbox, aid: &str, eid: &str) -> Value {
    let r = sb.call("GET", &format!("/v1/assistants/{aid}/events/{eid}"), None);
    assert_eq!(r.status, 200);
    r.json["event"].clone()
}

#[test]
fn mission_run_plan_events_and_agents_routes_answer_with_their_envelopes() {
    let sb = TestSandbox::start();
    let (mid, rid) = mission_with_plan(&sb, &["research", "calls"]);
    let base = format!("/v1/missions/{mid}/runs/{rid}");

    let m = sb.call("GET", &format!("/v1/missions/{mid}"), None);
    assert_eq!((m.status, m.json["data"]["name"].as_str()), (200, Some("Sweep")));
    let l = sb.call("GET", "/v1/missions?page%5Bsize%5D=20", None);
    assert_eq!(l.json["missions"][0]["id"], json!(mid));

    let runs = sb.call("GET", &format!("/v1/missions/{mid}/runs"), None);
    assert_eq!(runs.json["data"][0]["run_id"], json!(rid));
    assert_eq!(runs.json["data"][0]["status"], "pending");
    let up = sb.call("PATCH", &base, Some(json!({"status": "running"})));
    assert_eq!((up.status, up.json["data"]["status"].as_str()), (200, Some("running")));
    let done = sb.call(
        "PATCH",
        &base,
        Some(json!({"status": "succeeded", "result_summary": "ok", "result_payload": {"n": 1}})),
    );
    assert_eq!(done.json["data"]["result_payload"], json!({"n": 1}));
    assert_eq!(sb.call("GET", &base, None).json["data"]["result_summary"], "ok");

    let plan = sb.call("GET", &format!("{base}/plan"), None);
    assert_eq!(plan.json["data"].as_array().unwrap().len(), 2);
    assert_eq!(plan.json["data"][0]["status"], "pending");
    let st = sb.call("PATCH", &format!("{base}/plan/steps/research"), Some(json!({"status": "completed"})));
    assert_eq!((st.status, st.json["data"]["status"].as_str()), (200, Some("completed")));
    assert_eq!(sb.call("PATCH", &format!("{base}/plan/steps/nope"), Some(json!({"status": "completed"}))).status, 404);

    let ev = sb.call(
        "POST",
        &format!("{base}/events"),
        Some(json!({"type": "custom", "summary": "hello", "agent_id": "claude-code", "step_id": "calls", "payload": {"a": 1}})),
    );
    assert_eq!(ev.status, 201);
    assert_eq!(ev.json["data"]["summary"], "hello");
    let evs = sb.call("GET", &format!("{base}/events"), None);
    assert_eq!(evs.json["data"][0]["payload"], json!({"a": 1}));

    let link = sb.call("POST", &format!("{base}/agents"), Some(json!({"telnyx_agent_id": "assistant-1"})));
    assert_eq!(link.status, 201);
    assert_eq!(sb.call("GET", &format!("{base}/agents"), None).json["data"][0]["telnyx_agent_id"], "assistant-1");
    let un = sb.call("DELETE", &format!("{base}/agents/assistant-1"), None);
    assert_eq!((un.status, un.json.clone()), (204, Value::Null));
    assert_eq!(sb.call("DELETE", &format!("{base}/agents/assistant-1"), None).status, 404);
}

#[test]
fn assistant_phone_and_event_routes_answer_with_their_envelopes() {
    let sb = TestSandbox::start();
    let aid = assistant(&sb);
    let g = sb.call("GET", &format!("/v1/assistants/{aid}"), None);
    assert_eq!(g.json["assistant"]["instructions"], "Ask for the best price on a roof repair");
    assert_eq!(g.json["assistant"]["model"], "openai/gpt-4o");
    let p = sb.call("PATCH", &format!("/v1/assistants/{aid}"), Some(json!({"greeting": "Hi"})));
    assert_eq!(p.json["assistant"]["greeting"], "Hi");
    let l = sb.call("GET", "/v1/assistants?pageSize=25&page=1&name=call", None);
    assert_eq!(l.json["data"][0]["id"], json!(aid));
    assert_eq!(l.json["meta"]["total_results"], 1);
    assert_eq!(l.json["meta"]["total_pages"], 1);
    assert_eq!(sb.call("GET", "/v1/assistants?name=nobody", None).json["data"], json!([]));
    let c = sb.call("GET", &format!("/v1/assistants/{aid}/connection-id?feature=messaging"), None);
    assert!(c.json["connection_id"].as_str().unwrap().starts_with("conn_msg_"));
    assert_eq!(sb.call("GET", &format!("/v1/assistants/{aid}/connection-id?feature=fax"), None).status, 422);

    let phones = sb.call("GET", "/v1/numbers/account-phones", None);
    assert_eq!(phones.json["data"].as_array().unwrap().len(), 3);
    let avail = sb.call("GET", "/v1/numbers/account-phones/available", None);
    let pid = avail.json["phone"]["id"].as_str().unwrap().to_string();
    let asg = sb.call(
        "PATCH",
        &format!("/v1/numbers/account-phones/{pid}"),
        Some(json!({"connection_id": "c1", "type": "voice"})),
    );
    assert_eq!(asg.json["data"]["connection_id"], "c1");
    assert_ne!(sb.call("GET", "/v1/numbers/account-phones/available", None).json["phone"]["id"], json!(pid));
    sb.call_as(
        None,
        "PUT",
        "/_sandbox/phones",
        Some(json!({"phones": [{"phone_number": "+15550100001", "connection_id": "x"}]})),
    );
    assert!(sb.call("GET", "/v1/numbers/account-phones/available", None).json.get("phone").is_none());

    let e = schedule_call(&sb, &aid, "+15005550006", json!({}));
    assert_eq!((e["status"].as_str(), e["retry_count"].as_i64()), (Some("pending"), Some(0)));
    let eid = e["id"].as_str().unwrap();
    let sms = sb.call(
        "POST",
        &format!("/v1/assistants/{aid}/events"),
        Some(json!({"channel": "sms", "to": "+15005550006", "from": "+15550100002", "scheduled_at": TestSandbox::in_secs(90), "text_body": "hi"})),
    );
    assert_eq!(sms.status, 201);
    let list = sb.call("GET", &format!("/v1/assistants/{aid}/events"), None);
    assert_eq!(list.json["events"].as_array().unwrap().len(), 2);
    let del = sb.call("DELETE", &format!("/v1/assistants/{aid}/events/{eid}"), None);
    assert_eq!((del.status, del.json.clone()), (204, Value::Null));
    assert_eq!(sb.call("GET", &format!("/v1/assistants/{aid}/events/{eid}"), None).status, 404);
}

#[test]
fn scheduled_call_plays_out_on_the_sandbox_clock_and_gets_insights() {
    let sb = TestSandbox::start();
    let aid = assistant(&sb);
    let e = schedule_call(&sb, &aid, "+15005550006", json!({}));
    let eid = e["id"].as_str().unwrap();
    assert_eq!(event(&sb, &aid, eid)["status"], "pending");
    sb.advance(62.0);
    let ringing = event(&sb, &aid, eid);
    assert_eq!((ringing["status"].as_str(), ringing["call_status"].as_str()), (Some("in_progress"), Some("ringing")));
    sb.advance(10.0);
    assert_eq!(event(&sb, &aid, eid)["call_status"], "in-progress");
    assert_eq!(event(&sb, &aid, eid)["conversation_id"], Value::Null);
    sb.advance(40.0);
    let done = event(&sb, &aid, eid);
    assert_eq!((done["status"].as_str(), done["call_status"].as_str()), (Some("completed"), Some("completed")));
    let conv = done["conversation_id"].as_str().unwrap();
    let early = sb.call("GET", &format!("/v1/missions/conversations/{conv}/insights"), None);
    assert_eq!(early.json["data"][0]["status"], "in_progress");
    sb.advance(30.0);
    let ins = sb.call("GET", &format!("/v1/missions/conversations/{conv}/insights"), None);
    assert_eq!(ins.json["data"][0]["status"], "completed");
    let result = ins.json["data"][0]["conversation_insights"][0]["result"].as_str().unwrap();
    assert!(result.contains("+15005550006") && result.contains("roof repair"), "{result}");
    assert_eq!(sb.call("GET", "/v1/missions/conversations/conv_nope/insights", None).status, 404);
    let clock = sb.control_get("clock");
    assert_eq!(clock["advanced_seconds"], 142.0);
}

#[test]
fn each_magic_number_ends_as_documented() {
    let sb = TestSandbox::start();
    let aid = assistant(&sb);
    let numbers = [
        "+15005550006",
        "+15005550001",
        "+15005550002",
        "+15005550003",
        "+15005550004",
        "+15005550005",
        "+15551234567",
    ];
    let ids: Vec<String> =
        numbers.iter().map(|n| schedule_call(&sb, &aid, n, json!({}))["id"].as_str().unwrap().to_string()).collect();
    let second_5 = schedule_call(&sb, &aid, "+15005550005", json!({}))["id"].as_str().unwrap().to_string();
    let second_1 = schedule_call(&sb, &aid, "+15005550001", json!({}))["id"].as_str().unwrap().to_string();
    sb.advance(300.0);
    let got: Vec<(String, String)> = ids
        .iter()
        .chain([&second_5, &second_1])
        .map(|id| {
            let e = event(&sb, &aid, id);
            (e["status"].as_str().unwrap().to_string(), e["call_status"].as_str().unwrap().to_string())
        })
        .collect();
    let want = [
        ("completed", "completed"),
        ("failed", "busy"),
        ("failed", "no-answer"),
        ("failed", "failed"),
        ("completed", "completed"),
        ("failed", "busy"),
        ("completed", "completed"),
        ("completed", "completed"), // +15005550005, second attempt
        ("failed", "busy"),         // +15005550001, every attempt
    ];
    let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(got, want);
    assert_eq!(event(&sb, &aid, &ids[4])["outcome"], "voicemail");

    // SMS: +15005550001 and +15005550003 fail, everything else completes.
    for (to, want) in [
        ("+15005550006", "completed"),
        ("+15005550001", "failed"),
        ("+15005550002", "completed"),
        ("+15005550003", "failed"),
        ("+15005550004", "completed"),
        ("+15005550005", "completed"),
    ] {
        let r = sb.call(
            "POST",
            &format!("/v1/assistants/{aid}/events"),
            Some(json!({"channel": "sms", "to": to, "from": "+15550100002", "scheduled_at": TestSandbox::in_secs(60), "text_body": "hi"})),
        );
        let id = r.json["id"].as_str().unwrap().to_string();
        sb.advance(400.0);
        assert_eq!(event(&sb, &aid, &id)["status"], want, "sms to {to}");
    }
    let summary = sb.control_get("events/summary");
    assert_eq!(summary["total"], 15);
}

#[test]
fn auto_sync_marks_plan_steps_only_when_enabled() {
    for auto_sync in [true, false] {
        let sb = TestSandbox::with(SandboxOptions { auto_sync, ..Default::default() });
        let (mid, rid) = mission_with_plan(&sb, &["good", "bad"]);
        let aid = assistant(&sb);
        let link = json!({"mission_id": mid, "run_id": rid});
        let mut good = link.clone();
        good["step_id"] = json!("good");
        let mut bad = link;
        bad["step_id"] = json!("bad");
        schedule_call(&sb, &aid, "+15005550006", good);
        schedule_call(&sb, &aid, "+15005550003", bad);
        sb.advance(200.0);
        let plan = sb.call("GET", &format!("/v1/missions/{mid}/runs/{rid}/plan"), None).json["data"].clone();
        let statuses: Vec<&str> = plan.as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
        let want = if auto_sync { vec!["completed", "failed"] } else { vec!["pending", "pending"] };
        assert_eq!(statuses, want, "auto_sync={auto_sync}");
    }
}

#[test]
fn refusals_401_404_400_and_422_carry_an_error_message() {
    let sb = TestSandbox::with(SandboxOptions { api_key: Some("cc_live_given_key_1234".into()), ..Default::default() });
    let no_key = sb.call_as(None, "GET", "/v1/missions", None);
    assert_eq!(no_key.status, 401);
    assert!(no_key.json["error"]["message"].as_str().unwrap().contains("cc_test_"));
    assert_eq!(sb.call_as(Some("cc_live_wrong"), "GET", "/v1/missions", None).status, 401);
    assert_eq!(sb.call_as(Some("cc_live_given_key_1234"), "GET", "/v1/missions", None).status, 200);

    for path in [
        "/v1/missions/nope",
        "/v1/missions/nope/runs",
        "/v1/assistants/nope",
        "/v1/calls/nope",
        "/v1/approvals/nope",
        "/v1/nothing-here",
    ] {
        let r = sb.call("GET", path, None);
        assert_eq!(r.status, 404, "{path}");
        assert!(r.json["error"]["message"].is_string(), "{path}: {:?}", r.json);
    }
    assert_eq!(sb.call_raw("POST", "/v1/missions", "{not json").status, 400);
    assert_eq!(sb.call_raw("POST", "/v1/missions", "[1,2]").status, 400);
    let missing = sb.call("POST", "/v1/missions", Some(json!({"name": "x"})));
    assert_eq!(missing.status, 422);
    assert!(missing.json["error"]["message"].as_str().unwrap().contains("instructions"));

    let (mid, rid) = mission_with_plan(&sb, &["a"]);
    let bad_status = sb.call("PATCH", &format!("/v1/missions/{mid}/runs/{rid}"), Some(json!({"status": "done"})));
    assert_eq!(bad_status.status, 422);
    assert!(bad_status.json["error"]["message"].as_str().unwrap().contains("succeeded"));
    let bad_type = sb.call(
        "POST",
        &format!("/v1/missions/{mid}/runs/{rid}/events"),
        Some(json!({"type": "weird", "summary": "s"})),
    );
    assert_eq!(bad_type.status, 422);

    let aid = assistant(&sb);
    let ev = |when: &str, to: &str| {
        sb.call(
            "POST",
            &format!("/v1/assistants/{aid}/events"),
            Some(json!({"channel": "call", "to": to, "from": "+15550100002", "scheduled_at": when})),
        )
    };
    let past = ev(&TestSandbox::in_secs(-120), "+15005550006");
    assert_eq!(past.status, 422);
    assert!(past.json["error"]["message"].as_str().unwrap().contains("past"));
    let soon = ev(&TestSandbox::in_secs(30), "+15005550006");
    assert_eq!(soon.status, 422, "less than a minute ahead, as the service: {:?}", soon.json);
    assert!(soon.json["error"]["message"].as_str().unwrap().contains("less than one minute ahead"));
    assert_eq!(ev(&TestSandbox::in_secs(61), "+15005550006").status, 201);
    assert_eq!(ev("tomorrow at noon", "+15005550006").status, 422);
    assert_eq!(ev(&TestSandbox::in_secs(120), "5551234").status, 422);
    let unknown_tool = sb.call(
        "POST",
        "/v1/assistants",
        Some(json!({"name": "n", "instructions": "i", "tools": [{"type": "laser"}]})),
    );
    assert_eq!(unknown_tool.status, 422);
}

#[test]
fn fast_clock_still_accepts_what_real_clients_send() {
    let sb = TestSandbox::with(SandboxOptions { speed: 1000.0, ..Default::default() });
    std::thread::sleep(std::time::Duration::from_millis(300)); // the sandbox clock is now ~5 min ahead
    let aid = assistant(&sb);
    // 61 s ahead on the real clock is already behind the sandbox clock: accepted, and played at once.
    let e = schedule_call(&sb, &aid, "+15005550006", json!({}));
    let eid = e["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if event(&sb, &aid, &eid)["status"] == "completed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the call never completed at speed 1000");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn rate_limit_answers_429_with_retry_after_and_spares_the_control_api() {
    let sb = TestSandbox::with(SandboxOptions { rate_limit: Some(3), ..Default::default() });
    for _ in 0..3 {
        assert_eq!(sb.call("GET", "/v1/missions", None).status, 200);
    }
    let r = sb.call("GET", "/v1/missions", None);
    assert_eq!(r.status, 429);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    sb.control_get("clock");
    let reqs = sb.control_get("requests");
    let statuses: Vec<u64> =
        reqs["requests"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![200, 200, 200, 429]);
}

#[test]
fn fail_rate_answers_503_deterministically_with_a_seed_and_never_on_control_routes() {
    let all = TestSandbox::with(SandboxOptions { fail_rate: 1.0, ..Default::default() });
    let r = all.call("POST", "/v1/missions", Some(json!({"name": "n", "instructions": "i"})));
    assert_eq!(r.status, 503);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("fail-rate"));
    assert_eq!(all.control_get("state")["missions"], json!([]), "a failed request changes nothing");

    let pattern = || {
        let sb = TestSandbox::with(SandboxOptions { fail_rate: 0.5, seed: Some(42), ..Default::default() });
        (0..20).map(|_| sb.call("GET", "/v1/missions", None).status).collect::<Vec<_>>()
    };
    let a = pattern();
    assert_eq!(a, pattern());
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
}

#[test]
fn direct_calls_sms_and_approvals_routes() {
    let sb = TestSandbox::start();
    let c = sb.call(
        "POST",
        "/v1/calls",
        Some(json!({"to": "+15005550006", "greeting": "Hi", "context": {"purpose": "book"}})),
    );
    assert_eq!(c.status, 201);
    assert_eq!(c.json["status"], "initiating");
    let cid = c.json["call_id"].as_str().unwrap().to_string();
    sb.advance(10.0);
    assert_eq!(sb.call("GET", &format!("/v1/calls/{cid}"), None).json["status"], "in-progress");
    let end = sb.call("POST", &format!("/v1/calls/{cid}/end"), Some(json!({"reason": "user_ended"})));
    assert_eq!((end.status, end.json["reason"].as_str()), (200, Some("user_ended")));
    assert_eq!(sb.call("POST", &format!("/v1/calls/{cid}/end"), Some(json!({}))).status, 409);
    let owner = sb.call("POST", "/v1/calls", Some(json!({})));
    assert_eq!(owner.json["to"], "+15550109999");
    assert_eq!(
        sb.call("POST", "/v1/calls", Some(json!({"to": "911"}))).json["error"]["message"]
            .as_str()
            .map(|m| m.contains("emergency")),
        Some(true)
    );

    let sent = sb.call(
        "POST",
        "/v1/messages/send",
        Some(json!({"to": "+15005550006", "message": "hello", "media_urls": ["https://x/y.jpg"]})),
    );
    assert_eq!(sent.status, 200);
    assert!(sent.json["id"].is_string() && sent.json["from"].is_string());
    assert_eq!(sb.call("POST", "/v1/messages/send", Some(json!({"to": "nope", "message": "x"}))).status, 422);
    sb.control_post("sms/inject", json!({"from": "+15005550006", "body": "reply!"}));
    let list = sb.call("GET", "/v1/messages?limit=20&contact=%2B15005550006", None);
    assert_eq!(list.json["pagination"]["total"], 2);
    assert_eq!(list.json["messages"][0]["direction"], "inbound");
    assert_eq!(sb.call("GET", "/v1/messages?direction=outbound", None).json["messages"].as_array().unwrap().len(), 1);
    let threads = sb.call("GET", "/v1/messages/conversations", None);
    assert_eq!(
        threads.json["conversations"][0],
        json!({"contact": "+15005550006", "last_message": "reply!", "last_message_at": threads.json["conversations"][0]["last_message_at"], "direction": "inbound"})
    );
    let outbox = sb.control_get("messages/sent");
    assert_eq!(outbox["messages"][0]["body"], "hello");

    let a = sb.call(
        "POST",
        "/v1/approvals",
        Some(json!({"action": "Deploy to prod", "require_biometric": false, "expires_in": 60, "details": "x"})),
    );
    assert_eq!(a.status, 201);
    assert_eq!((a.json["devices_notified"].as_u64(), a.json["devices_failed"].as_u64()), (Some(1), Some(0)));
    let id = a.json["request_id"].as_str().unwrap().to_string();
    assert_eq!(sb.call("GET", &format!("/v1/approvals/{id}"), None).json["status"], "pending");
    sb.control_post(&format!("approvals/{id}/decide"), json!({"decision": "approved"}));
    assert_eq!(sb.call("GET", &format!("/v1/approvals/{id}"), None).json["status"], "approved");
    let exp = sb.call("POST", "/v1/approvals", Some(json!({"action": "Pay", "expires_in": 5})));
    sb.advance(6.0);
    assert_eq!(
        sb.call("GET", &format!("/v1/approvals/{}", exp.json["request_id"].as_str().unwrap()), None).json["status"],
        "expired"
    );
    let deny = sb.call("POST", "/v1/approvals", Some(json!({"action": "Delete repo [deny]"})));
    sb.advance(3.0);
    assert_eq!(
        sb.call("GET", &format!("/v1/approvals/{}", deny.json["request_id"].as_str().unwrap()), None).json["status"],
        "denied"
    );
    let none = sb.call("POST", "/v1/approvals", Some(json!({"action": "x [no_devices]"})));
    assert_eq!((none.json["devices_notified"].as_u64(), none.json["devices_failed"].as_u64()), (Some(0), Some(0)));
    let unreached = sb.call("POST", "/v1/approvals", Some(json!({"action": "x [no_devices_reached]"})));
    assert_eq!(
        (unreached.json["devices_notified"].as_u64(), unreached.json["devices_failed"].as_u64()),
        (Some(0), Some(1))
    );
    sb.control_post("approvals/devices", json!({"notified": 2, "failed": 1}));
    assert_eq!(sb.call("POST", "/v1/approvals", Some(json!({"action": "y"}))).json["devices_notified"], 2);

    let reqs = sb.control_get("requests");
    let first = &reqs["requests"][0];
    assert_eq!((first["method"].as_str(), first["path"].as_str()), (Some("POST"), Some("/v1/calls")));
    assert_eq!(first["body"]["context"]["purpose"], "book");
}

#[test]
fn direct_calls_end_by_magic_number_and_count_attempts_per_number() {
    let sb = TestSandbox::start();
    let place = |to: &str| {
        let c = sb.call("POST", "/v1/calls", Some(json!({"to": to})));
        assert_eq!(c.status, 201, "{to}: {:?}", c.json);
        c.json["call_id"].as_str().unwrap().to_string()
    };
    let cases = [
        ("+15005550006", "completed", None),
        ("+15005550001", "busy", None),
        ("+15005550002", "no-answer", Some("no_answer")),
        ("+15005550003", "failed", None),
        ("+15005550004", "completed", Some("voicemail")),
        ("+15005550005", "busy", None),
        ("+15551234567", "completed", None),
        // Second attempts: +15005550005 answers now, +15005550001 never does.
        ("+15005550005", "completed", None),
        ("+15005550001", "busy", None),
    ];
    let ids: Vec<String> = cases.iter().map(|(to, _, _)| place(to)).collect();
    sb.advance(60.0);
    for (id, (to, status, outcome)) in ids.iter().zip(cases) {
        let c = sb.call("GET", &format!("/v1/calls/{id}"), None);
        assert_eq!(c.status, 200);
        assert_eq!(c.json["status"], status, "call to {to}: {:?}", c.json);
        assert_eq!(c.json["outcome"].as_str(), outcome, "call to {to}");
        assert!(c.json["ended_at"].is_string(), "call to {to} has ended");
    }
    // Attempts are per number: a new number's first call is busy even now.
    let other = place("+15005550005");
    assert_eq!(sb.call("GET", &format!("/v1/calls/{other}"), None).json["status"], "initiating");
}

#[test]
fn direct_sms_is_delivered_or_failed_by_magic_number() {
    let sb = TestSandbox::start();
    let cases = [
        ("+15005550006", "delivered"),
        ("+15005550001", "failed"),
        ("+15005550002", "delivered"),
        ("+15005550003", "failed"),
        ("+15005550004", "delivered"),
        ("+15005550005", "delivered"),
        ("+15551234567", "delivered"),
    ];
    for (to, _) in cases {
        let r = sb.call("POST", "/v1/messages/send", Some(json!({"to": to, "message": "hi"})));
        assert_eq!((r.status, r.json["status"].as_str()), (200, Some("queued")), "{to}: {:?}", r.json);
    }
    for (to, want) in cases {
        let l = sb.call("GET", &format!("/v1/messages?contact={}", to.replace('+', "%2B")), None);
        assert_eq!(l.json["pagination"]["total"], 1, "{to}: {:?}", l.json);
        assert_eq!(l.json["messages"][0]["status"], want, "SMS to {to}");
    }
    let sent = sb.control_get("messages/sent");
    let failed: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "failed")
        .map(|m| m["to"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["+15005550001", "+15005550003"]);
}

#[test]
fn unknown_ids_get_404_on_writes_too() {
    let sb = TestSandbox::start();
    let aid = assistant(&sb);
    let cases = [
        ("POST", "/v1/calls/call_nope/end".to_string(), Some(json!({"reason": "x"}))),
        ("PATCH", "/v1/numbers/account-phones/phone_nope".to_string(), Some(json!({"connection_id": "c1"}))),
        ("DELETE", format!("/v1/assistants/{aid}/events/event_nope"), None),
        ("DELETE", "/v1/assistants/assistant_nope/events/event_nope".to_string(), None),
    ];
    for (method, path, body) in cases {
        let r = sb.call(method, &path, body);
        assert_eq!(r.status, 404, "{method} {path}: {:?}", r.json);
        assert_eq!(r.json["error"]["code"], "not_found", "{method} {path}");
        assert!(r.json["error"]["message"].as_str().unwrap().contains("nope"), "{method} {path}: {:?}", r.json);
    }
    // A phone that exists is not changed by the refused assignment.
    assert_eq!(sb.call("GET", "/v1/numbers/account-phones/available", None).json["phone"]["id"], "phone_00000002");
}

#[test]
fn bad_message_queries_and_approval_bodies_get_422_and_create_nothing() {
    let sb = TestSandbox::start();
    for q in ["direction=sideways", "limit=0", "limit=201", "limit=ten"] {
        let r = sb.call("GET", &format!("/v1/messages?{q}"), None);
        assert_eq!(r.status, 422, "{q}: {:?}", r.json);
        assert!(r.json["error"]["message"].is_string(), "{q}");
    }
    let sideways = sb.call("GET", "/v1/messages?direction=sideways", None);
    assert!(sideways.json["error"]["message"].as_str().unwrap().contains("inbound, outbound"));
    for (body, field) in [
        (json!({}), "action"),
        (json!({"action": ""}), "action"),
        (json!({"action": 5}), "action"),
        (json!({"action": "Deploy", "require_biometric": "yes"}), "require_biometric"),
        (json!({"action": "Deploy", "expires_in": 0}), "expires_in"),
        (json!({"action": "Deploy", "expires_in": 86_401}), "expires_in"),
        (json!({"action": "Deploy", "expires_in": "soon"}), "expires_in"),
    ] {
        let r = sb.call("POST", "/v1/approvals", Some(body.clone()));
        assert_eq!(r.status, 422, "{body}: {:?}", r.json);
        assert!(r.json["error"]["message"].as_str().unwrap().contains(field), "{body}: {:?}", r.json);
    }
    assert_eq!(sb.call_raw("POST", "/v1/approvals", "[\"Deploy\"]").status, 400);
    assert_eq!(sb.control_get("state")["approvals"].as_array().map(Vec::len), Some(0));
}

/// A GET with an optional bearer key, from a test thread: (status, JSON body).
fn get_json(url: &str, key: Option<&str>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut rb = reqwest::Client::new().get(url);
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        let r = rb.send().await.expect("the sandbox answers");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    })
}

/// `clawdtalk ARGS` as a child process in a clean environment, with its stdout to read.
fn sandbox_child(t: &Sandboxed, args: &[&str]) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"))
        .args(args)
        .env_clear()
        .env("HOME", t.home())
        .current_dir(t.work())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// `clawdtalk sandbox ARGS` as a child process; returns it with the root URL it printed.
fn spawn_sandbox(t: &Sandboxed, args: &[&str]) -> (std::process::Child, String) {
    let (child, mut out) = sandbox_child(t, args);
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let root = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();
    // Keep reading (and discarding) the rest so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, root)
}

fn stop(mut child: std::process::Child) {
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn sandbox_command_accepts_the_given_api_key_and_refuses_other_live_keys() {
    let t = Sandboxed::new();
    let (child, root) = spawn_sandbox(&t, &["sandbox", "--port", "0", "--api-key", "mykey"]);
    let api = format!("{root}/v1");
    let with_key = |key: &str| {
        let mut c = t.cmd();
        c.env("CLAWDTALK_API_URL", &api).env("CLAWDTALK_API_KEY", key).args(["mission", "create", "N", "I"]);
        c.output().unwrap()
    };
    let ok = with_key("mykey");
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("Created mission: "));
    assert_eq!(with_key(TEST_KEY).status.code(), Some(0), "test keys still pass");
    let refused = with_key("cc_live_someone_else");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{}", String::from_utf8_lossy(&refused.stderr));
    assert_eq!(get_json(&format!("{api}/missions"), Some("mykeyX")).0, 401);
    assert_eq!(get_json(&format!("{api}/missions"), Some("mykey")).0, 200);
    // The refused request created nothing: two missions, from the two accepted keys.
    let state = get_json(&format!("{root}/_sandbox/state"), None).1;
    assert_eq!(state["missions"].as_array().map(Vec::len), Some(2), "{state}");
    stop(child);
}

#[test]
fn rate_limited_burst_of_commands_all_succeed_and_each_create_lands_once() {
    let t = Sandboxed::new();
    // 60 a minute: a burst of 60, then one a second (Retry-After: 1).
    let (child, root) = spawn_sandbox(&t, &["sandbox", "--rate-limit", "60"]);
    let api = format!("{root}/v1");
    let n = 66;
    for i in 0..n {
        let out = t.api(&api).args(["mission", "create", &format!("Burst {i}"), "I"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "command {i}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("Created mission: "), "command {i}");
    }
    let reqs = get_json(&format!("{root}/_sandbox/requests"), None).1;
    let creates: Vec<&Value> = reqs["requests"].as_array().unwrap().iter().filter(|r| r["method"] == "POST").collect();
    let refused = creates.iter().filter(|r| r["status"] == 429).count();
    assert!(refused > 0, "the burst went over the limit (else this proves nothing)");
    let mut names: Vec<&str> =
        creates.iter().filter(|r| r["status"] == 201).map(|r| r["body"]["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), n, "{refused} refusals retried, each applied once");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n, "no create applied twice");
    let state = get_json(&format!("{root}/_sandbox/state"), None).1;
    assert_eq!(state["missions"].as_array().map(Vec::len), Some(n));
    stop(child);
}

mod ws {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    async fn connect(root: &str, key: &str) -> (Socket, Value) {
        let url = format!("{}/ws", root.replace("http://", "ws://"));
        let (mut s, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        s.send(Message::Text(json!({"type": "auth", "api_key": key, "owner_name": "Ann"}).to_string().into()))
            .await
            .unwrap();
        let first = next_json(&mut s).await;
        (s, first)
    }

    async fn next_json(s: &mut Socket) -> Value {
        loop {
            let m = tokio::time::timeout(std::time::Duration::from_secs(5), s.next()).await.expect("a frame in time");
            match m {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
                Some(Ok(Message::Close(f))) => return json!({"closed": f.map(|f| u16::from(f.code))}),
                Some(Ok(_)) => continue,
                other => return json!({"ended": format!("{other:?}")}),
            }
        }
    }

    #[test]
    fn auth_events_pings_recording_and_drop() {
        let sb = TestSandbox::start();
        let root = sb.root.clone();
        sb.rt.block_on(async {
            let (mut bad, reply) = connect(&root, "cc_live_nope").await;
            assert_eq!(reply["type"], "auth_error");
            assert!(next_json(&mut bad).await.get("closed").is_some());

            let (mut s, reply) = connect(&root, TEST_KEY).await;
            assert_eq!(reply, json!({"type": "auth_ok"}));
            s.send(Message::Text(json!({"type": "ping"}).to_string().into())).await.unwrap();
            assert_eq!(next_json(&mut s).await, json!({"type": "pong"}));
            s.send(Message::Ping(vec![1, 2].into())).await.unwrap();
            loop {
                match s.next().await {
                    Some(Ok(Message::Pong(p))) => {
                        assert_eq!(p.as_ref(), &[1, 2]);
                        break;
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("no pong: {other:?}"),
                }
            }
        });
        let received = sb.control_get("ws/received");
        assert_eq!(received["messages"].as_array().unwrap().len(), 3, "two auths and a ping: {received}");
        let auths: Vec<&Value> =
            received["messages"].as_array().unwrap().iter().filter(|m| m["type"] == "auth").collect();
        assert!(
            auths.iter().all(|m| !m["api_key"].as_str().unwrap().contains("0123456789abcdef")),
            "keys are masked: {auths:?}"
        );
        sb.rt.block_on(async {
            // The socket from above is gone (dropped with the block); connect a fresh one.
            let (mut s, _) = connect(&root, TEST_KEY).await;
            let c = reqwest::Client::new();
            let inj = c
                .post(format!("{root}/_sandbox/ws/inject"))
                .json(&json!({"event": {"event": "sms.received", "from": "+15005550006", "body": "hi", "message_id": "m1"}}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            assert_eq!(inj["sent_to"], 1);
            assert_eq!(
                next_json(&mut s).await,
                json!({"type": "event", "event": "sms.received", "from": "+15005550006", "body": "hi", "message_id": "m1"})
            );
            let a = c
                .post(format!("{root}/v1/approvals"))
                .bearer_auth(TEST_KEY)
                .json(&json!({"action": "Merge the PR"}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            let id = a["request_id"].as_str().unwrap();
            c.post(format!("{root}/_sandbox/approvals/{id}/decide")).json(&json!({"decision": "denied"})).send().await.unwrap();
            assert_eq!(
                next_json(&mut s).await,
                json!({"type": "event", "event": "approval.responded", "request_id": id, "decision": "denied"})
            );
            c.post(format!("{root}/_sandbox/ws/drop")).json(&json!({"code": 4000})).send().await.unwrap();
            assert_eq!(next_json(&mut s).await, json!({"closed": 4000}));
        });
    }

    #[test]
    fn finished_calls_push_call_ended() {
        let sb = TestSandbox::start();
        let root = sb.root.clone();
        let aid = assistant(&sb);
        sb.rt.block_on(async {
            let (mut s, _) = connect(&root, TEST_KEY).await;
            let c = reqwest::Client::new();
            c.post(format!("{root}/v1/assistants/{aid}/events"))
                .bearer_auth(TEST_KEY)
                .json(&json!({"channel": "call", "to": "+15005550004", "from": "+15550100002", "scheduled_at": TestSandbox::in_secs(61)}))
                .send()
                .await
                .unwrap();
            c.post(format!("{root}/_sandbox/clock/advance")).json(&json!({"seconds": 120})).send().await.unwrap();
            let ended = next_json(&mut s).await;
            assert_eq!((ended["event"].as_str(), ended["outcome"].as_str()), (Some("call.ended"), Some("voicemail")));
            assert_eq!(ended["to_number"], "+15005550004");
        });
    }

    /// A stand-in for `clawdtalk connect`: answers context_request and
    /// deep_tool_request the way the contract says.
    async fn fake_connect(root: String) {
        let (mut s, _) = connect(&root, TEST_KEY).await;
        loop {
            let m = next_json(&mut s).await;
            match m["event"].as_str() {
                Some("context_request") => {
                    let cid = m["call_id"].clone();
                    s.send(Message::Text(json!({"type": "context_response", "call_id": cid, "context": {"memory": "", "system_prompt": ""}}).to_string().into())).await.unwrap();
                    s.send(Message::Text(
                        json!({"type": "response", "call_id": cid, "text": "Hello!"}).to_string().into(),
                    ))
                    .await
                    .unwrap();
                }
                Some("deep_tool_request") => {
                    let rid = m["request_id"].clone();
                    let answer = format!("You asked: {}", m["query"].as_str().unwrap());
                    s.send(Message::Text(
                        json!({"type": "deep_tool_progress", "request_id": rid, "text": "thinking"}).to_string().into(),
                    ))
                    .await
                    .unwrap();
                    s.send(Message::Text(
                        json!({"type": "deep_tool_result", "request_id": rid, "text": answer}).to_string().into(),
                    ))
                    .await
                    .unwrap();
                }
                Some(_) => {}
                None => return,
            }
        }
    }

    #[test]
    fn call_in_command_prints_the_connected_clients_answer() {
        let sb = TestSandbox::start();
        let t = Sandboxed::new();
        // Nobody connected: a clear refusal.
        t.cmd()
            .args(["sandbox", "call-in", "anyone?", "--url", &sb.root])
            .assert()
            .failure()
            .stderr(predicates::str::contains("clawdtalk connect"));
        let client = sb.rt.spawn(fake_connect(sb.root.clone()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while sb.control_get("ws/received")["clients"] != 1 {
            assert!(std::time::Instant::now() < deadline, "fake client never authenticated");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        t.cmd()
            .args(["sandbox", "call-in", "What is on my calendar?", "--url", &sb.root])
            .assert()
            .success()
            .stdout("You asked: What is on my calendar?\n");
        client.abort();
        t.cmd().args(["sandbox", "call-in", "x", "--url", "https://clawdtalk.com"]).assert().code(2);
    }
}

#[test]
fn sandbox_command_prints_the_exports_and_stops_cleanly_on_ctrl_c() {
    let t = Sandboxed::new();
    let (mut child, mut out) = sandbox_child(&t, &["sandbox", "--speed", "10"]);
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim_end().to_string());
    }
    assert!(lines[0].starts_with("ClawdTalk sandbox listening on http://127.0.0.1:"), "{lines:?}");
    let api_url = lines[1].strip_prefix("export CLAWDTALK_API_URL=").expect("export line").to_string();
    assert!(api_url.ends_with("/v1"));
    assert!(lines[2].starts_with("export CLAWDTALK_API_KEY=cc_test_"));
    assert!(lines[3].starts_with("export AGENTPHONE_API_URL="), "nothing to export for the clock: {lines:?}");
    let clock_url = format!("{}/_sandbox/clock", api_url.strip_suffix("/v1").unwrap());
    let clock = get_json(&clock_url, None).1;
    assert_eq!(clock["speed"], 10.0, "the control API still shows the sandbox clock: {clock}");
    assert!(clock["now"].as_str().is_some_and(|n| chrono::DateTime::parse_from_rfc3339(n).is_ok()), "{clock}");

    // The printed environment works for the real client.
    t.api(&api_url)
        .args(["mission", "create", "N", "I"])
        .assert()
        .success()
        .stdout(predicates::str::starts_with("Created mission: "));

    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `clawdtalk demo ARGS` in the test's environment with its own TMPDIR:
/// (exit status, stdout, stderr).
fn demo(t: &Sandboxed, args: &[&str]) -> (Option<i32>, String, String) {
    let tmp = t.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = t.cmd().env("TMPDIR", &tmp).arg("demo").args(args).output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn demo_runs_init_setup_agent_schedule_and_poll_to_a_succeeded_run() {
    let t = Sandboxed::new();
    let (code, stdout, stderr) = demo(&t, &[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    // The real commands ran, in order, each printing what it prints.
    let steps = [
        "$ clawdtalk init 'Roof repair quotes' ",
        "Mission slug: roof-repair-quotes",
        "$ clawdtalk setup-agent roof-repair-quotes ",
        "Linked agent ",
        "$ clawdtalk plan update-step ",
        "$ clawdtalk schedule call --mission roof-repair-quotes --to +15005550006 ",
        "$ clawdtalk schedule call --mission roof-repair-quotes --to +15005550005 ",
        "$ clawdtalk schedule call --mission roof-repair-quotes --to +15005550004 ",
        "$ clawdtalk poll --watch --mission roof-repair-quotes",
        "$ clawdtalk mission status roof-repair-quotes",
        "Insights:",
        "Run status: succeeded (",
    ];
    let mut at = 0;
    for s in steps {
        let found = stdout[at..].find(s).unwrap_or_else(|| panic!("{s:?} missing (in order) from:\n{stdout}"));
        at += found + s.len();
    }
    assert_eq!(stdout.matches("Scheduled call: ").count(), 3, "{stdout}");
    // The bookkeeping of `schedule call --mission` ran too.
    assert_eq!(stderr.matches("in mission 'roof-repair-quotes' memory (scheduled_events)").count(), 3, "{stderr}");

    // Insights per target, each naming its number.
    let insights: Vec<&str> =
        stdout.lines().skip_while(|l| *l != "Insights:").skip(1).take_while(|l| l.starts_with("  ")).collect();
    assert_eq!(insights.len(), 3, "{stdout}");
    for (line, n) in insights.iter().zip(["+15005550006", "+15005550005", "+15005550004"]) {
        let text = line.trim_start().strip_prefix(n).unwrap_or_else(|| panic!("{line}"));
        assert!(text.contains(n), "the insight names {n}: {line}");
    }
    assert!(insights[2].contains("voicemail"), "{}", insights[2]);

    // Progress while waiting (plain lines off a terminal); after the busy
    // first attempt the line shows the retry, not the stale `busy`.
    let progress: Vec<&str> = stderr.lines().filter(|l| l.starts_with("calls: ")).collect();
    assert!(progress.len() >= 2, "{stderr}");
    assert!(progress.iter().any(|l| l.contains("…0005 pending (attempt 2)")), "{progress:#?}");
    assert!(!progress.iter().any(|l| l.contains("busy (attempt 2)")), "{progress:#?}");
    assert_eq!(progress.last().copied(), Some("calls: …0006 done, …0005 done (attempt 2), …0004 done"));
}

#[test]
fn demo_json_is_one_document_with_three_targets_their_insights_and_one_retry() {
    let t = Sandboxed::new();
    let (code, stdout, stderr) = demo(&t, &["--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(v["run_status"], "succeeded");
    assert_eq!(v["result"]["status"], "succeeded");
    assert_eq!(v["retries"], 1);
    assert_eq!(v["state_file"], Value::Null);
    let targets = v["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3);
    let attempts: Vec<(String, u64)> =
        targets.iter().map(|x| (x["to"].as_str().unwrap().to_string(), x["attempts"].as_u64().unwrap())).collect();
    assert_eq!(
        attempts,
        [("+15005550004".to_string(), 1), ("+15005550005".to_string(), 2), ("+15005550006".to_string(), 1)]
    );
    assert!(targets.iter().all(|x| x["outcome"] == "succeeded"), "{targets:#?}");
    for i in v["insights"].as_array().unwrap() {
        let n = i["to"].as_str().unwrap();
        let r = i["results"].as_array().unwrap();
        assert!(r.len() == 1 && r[0].as_str().unwrap().contains(n), "{i}");
    }
    assert_eq!(v["steps"].as_array().unwrap().iter().filter(|s| s["status"] == "completed").count(), 2);
}

#[test]
fn demo_leaves_no_files_behind_unless_given_a_state_file() {
    let t = Sandboxed::new();
    let (code, _, stderr) = demo(&t, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(entries(&t.work()), Vec::<String>::new(), "nothing in the working directory");
    assert_eq!(entries(&t.path().join("tmp")), Vec::<String>::new(), "the temporary state file is removed");
    assert!(!t.home().join(".local").exists(), "the user's state file is never touched");

    // `--state FILE` keeps it: the mission is archived there, memory and all.
    let (code, stdout, stderr) = demo(&t, &["--state", "demo.json"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("demo.json is kept"), "{stdout}");
    let state: Value = serde_json::from_slice(&std::fs::read(t.work().join("demo.json")).unwrap()).unwrap();
    let archived: Vec<&Value> = state["_archive"].as_object().unwrap().values().collect();
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["memory"]["insights"].as_object().unwrap().len(), 3);
    assert_eq!(archived[0]["memory"]["result"]["status"], "succeeded");

    // A second run with the same file adds a second archived mission.
    let (code, _, stderr) = demo(&t, &["--state", "demo.json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let state: Value = serde_json::from_slice(&std::fs::read(t.work().join("demo.json")).unwrap()).unwrap();
    assert_eq!(state["_archive"].as_object().unwrap().len(), 2, "{state:#}");

    // A mission an interrupted demo left active (its sandbox is gone) is not resumed.
    let stale = json!({"roof-repair-quotes": {"mission_name": "Roof repair quotes", "mission_id": "mission_x_1",
        "run_id": "run_x_2", "memory": {}}});
    std::fs::write(t.work().join("stale.json"), stale.to_string()).unwrap();
    let (code, stdout, stderr) = demo(&t, &["--state", "stale.json"]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(stderr.contains("state remove roof-repair-quotes"), "{stderr}");
}
