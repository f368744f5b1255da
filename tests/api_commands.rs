//! Every API command, noun-verb and telnyx_api.py word, against a recording
//! server: method, path, raw query, raw body bytes (as Python's json.dumps
//! wrote them), auth and content-type headers, stdout and exit code.

mod common;

use common::{Recorded, Recorder, Reply, Sandboxed, TEST_KEY};
use predicates::prelude::PredicateBooleanExt;
use serde_json::{json, Value};

/// One expected request and the reply the server gives to it.
struct Exchange<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    /// Raw body bytes expected ("" = no body).
    body: &'a str,
    reply: Reply,
}

/// Run `args`, expect exit 0 with exactly `stdout`, and exactly one request
/// matching `ex` with the bearer key and JSON content type.
fn check(args: &[&str], ex: Exchange, stdout: &str) -> Recorded {
    let (r, out) = exchange(args, ex);
    assert_eq!(String::from_utf8_lossy(&out.stdout), stdout, "stdout of {args:?}");
    assert_eq!(out.status.code(), Some(0), "exit code of {args:?}; stderr: {}", String::from_utf8_lossy(&out.stderr));
    r
}

/// Like [`check`] with `--json`: stdout must be exactly one JSON document equal to `doc`.
fn check_json(args: &[&str], ex: Exchange, doc: Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (_, out) = exchange(&all, ex);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(got, doc, "--json output of {args:?}");
}

fn exchange(args: &[&str], ex: Exchange) -> (Recorded, std::process::Output) {
    let srv = Recorder::start();
    srv.on(ex.method, ex.path, vec![ex.reply]);
    let t = Sandboxed::new();
    let out = t.api(&srv.api_url()).args(args).output().unwrap();
    // `schedule` first samples the service clock (docs/protocol.md#service-clock).
    let r = srv.single_besides_clock_sample();
    assert_eq!(r.method, ex.method, "method of {args:?}");
    assert_eq!(r.path, ex.path, "path of {args:?}");
    assert_eq!(r.query, ex.query, "query of {args:?}");
    assert_eq!(String::from_utf8_lossy(&r.body), ex.body, "body of {args:?}");
    assert_eq!(r.header("authorization"), Some(format!("Bearer {TEST_KEY}").as_str()));
    assert_eq!(r.header("content-type"), Some("application/json"), "content-type of {args:?}");
    (r, out)
}

fn ok(body: Value) -> Reply {
    Reply::json(200, body)
}

fn ex<'a>(method: &'a str, path: &'a str, query: &'a str, body: &'a str, reply: Reply) -> Exchange<'a> {
    Exchange { method, path, query, body, reply }
}

/// An RFC 3339 time one hour ahead.
fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// ---------------------------------------------------------------- runs

#[test]
fn create_run_posts_input_and_prints_the_run_id() {
    let body = r#"{"input": {"original_request": "Find window washers", "n": 2.0}}"#;
    for args in [
        vec!["create-run", "mis_1", r#"{"original_request":"Find window washers","n":2.0}"#],
        vec!["run", "create", "mis_1", r#"{"original_request":"Find window washers","n":2.0}"#],
    ] {
        check(
            &args,
            ex(
                "POST",
                "/v1/missions/mis_1/runs",
                "",
                body,
                ok(json!({"data": {"run_id": "run_1", "status": "pending"}})),
            ),
            "Created run: run_1\n",
        );
    }
}

#[test]
fn create_run_accepts_top_level_reply_with_id() {
    check(
        &["create-run", "mis_1", "{}"],
        ex("POST", "/v1/missions/mis_1/runs", "", r#"{"input": {}}"#, ok(json!({"id": "run_2"}))),
        "Created run: run_2\n",
    );
}

#[test]
fn get_run_prints_the_unwrapped_run() {
    for args in [vec!["get-run", "m", "r"], vec!["run", "get", "m", "r"]] {
        check(
            &args,
            ex("GET", "/v1/missions/m/runs/r", "", "", ok(json!({"data": {"id": "r", "status": "running"}}))),
            "{\n  \"id\": \"r\",\n  \"status\": \"running\"\n}\n",
        );
    }
}

#[test]
fn update_run_patches_status() {
    for args in [vec!["update-run", "m", "r", "running"], vec!["run", "update", "m", "r", "running"]] {
        check(
            &args,
            ex("PATCH", "/v1/missions/m/runs/r", "", r#"{"status": "running"}"#, ok(json!({"data": {}}))),
            "Updated run r: running\n",
        );
    }
}

#[test]
fn run_update_with_result_sends_summary_and_payload_in_order() {
    check(
        &["run", "update", "m", "r", "succeeded", "--summary", "Booked", "--payload", r#"{"price":120}"#],
        ex(
            "PATCH",
            "/v1/missions/m/runs/r",
            "",
            r#"{"status": "succeeded", "result_summary": "Booked", "result_payload": {"price": 120}}"#,
            ok(json!({"data": {"run_id": "r", "status": "succeeded"}})),
        ),
        "Updated run r: succeeded\n",
    );
}

#[test]
fn list_runs_prints_lines_legacy_and_a_table_noun() {
    let reply = json!({"data": [{"run_id": "r1", "status": "running"}, {"run_id": "r2", "status": "failed"}]});
    check(
        &["list-runs", "m"],
        ex("GET", "/v1/missions/m/runs", "", "", ok(reply.clone())),
        "r1: running\nr2: failed\n",
    );
    check(
        &["run", "list", "m"],
        ex("GET", "/v1/missions/m/runs", "", "", ok(reply.clone())),
        "RUN_ID  STATUS\nr1      running\nr2      failed\n",
    );
    check_json(
        &["run", "list", "m"],
        ex("GET", "/v1/missions/m/runs", "", "", ok(reply)),
        json!([{"id": "r1", "run_id": "r1", "status": "running"}, {"id": "r2", "run_id": "r2", "status": "failed"}]),
    );
}

// ---------------------------------------------------------------- plan

#[test]
fn create_plan_posts_steps_and_counts_them() {
    let steps = r#"[{"step_id":"call_1","description":"Call Acme","sequence":1},{"step_id":"sum","description":"Résumé","sequence":2}]"#;
    let body = r#"{"steps": [{"step_id": "call_1", "description": "Call Acme", "sequence": 1}, {"step_id": "sum", "description": "R\u00e9sum\u00e9", "sequence": 2}]}"#;
    for args in [vec!["create-plan", "m", "r", steps], vec!["plan", "create", "m", "r", steps]] {
        check(
            &args,
            ex("POST", "/v1/missions/m/runs/r/plan", "", body, ok(json!({"data": {"steps": []}}))),
            "Created plan with 2 steps\n",
        );
    }
}

#[test]
fn one_step_is_a_step_except_in_the_legacy_words() {
    let steps = r#"[{"step_id":"a","description":"A","sequence":1}]"#;
    let body = r#"{"steps": [{"step_id": "a", "description": "A", "sequence": 1}]}"#;
    let reply = || ok(json!({"data": {"steps": []}}));
    check(
        &["plan", "create", "m", "r", steps],
        ex("POST", "/v1/missions/m/runs/r/plan", "", body, reply()),
        "Created plan with 1 step\n",
    );
    // telnyx_api.py's exact line.
    check(
        &["create-plan", "m", "r", steps],
        ex("POST", "/v1/missions/m/runs/r/plan", "", body, reply()),
        "Created plan with 1 steps\n",
    );
}

#[test]
fn get_plan_prints_data() {
    // The service (and the sandbox) answer `{"data": [steps…]}`.
    let reply = json!({"data": [{"step_id": "a", "status": "pending"}, {"step_id": "b", "status": "completed"}]});
    let steps = reply["data"].clone();
    for args in [vec!["get-plan", "m", "r"], vec!["plan", "get", "m", "r"]] {
        check(
            &args,
            ex("GET", "/v1/missions/m/runs/r/plan", "", "", ok(reply.clone())),
            "[\n  {\n    \"step_id\": \"a\",\n    \"status\": \"pending\"\n  },\n  {\n    \"step_id\": \"b\",\n    \"status\": \"completed\"\n  }\n]\n",
        );
        check_json(&args, ex("GET", "/v1/missions/m/runs/r/plan", "", "", ok(reply.clone())), steps.clone());
    }
    // An object under `.data` is unwrapped too; an empty plan is an empty list.
    check(
        &["get-plan", "m", "r"],
        ex("GET", "/v1/missions/m/runs/r/plan", "", "", ok(json!({"data": {"steps": [{"step_id": "a"}]}}))),
        "{\n  \"steps\": [\n    {\n      \"step_id\": \"a\"\n    }\n  ]\n}\n",
    );
    check(&["plan", "get", "m", "r"], ex("GET", "/v1/missions/m/runs/r/plan", "", "", ok(json!({"data": []}))), "[]\n");
}

#[test]
fn create_plan_json_is_the_step_list_under_data() {
    let steps = r#"[{"step_id":"a","description":"A","sequence":1}]"#;
    let reply = json!({"data": [{"step_id": "a", "description": "A", "sequence": 1, "status": "pending"}]});
    for args in [vec!["create-plan", "m", "r", steps], vec!["plan", "create", "m", "r", steps]] {
        check_json(
            &args,
            ex(
                "POST",
                "/v1/missions/m/runs/r/plan",
                "",
                r#"{"steps": [{"step_id": "a", "description": "A", "sequence": 1}]}"#,
                ok(reply.clone()),
            ),
            reply["data"].clone(),
        );
    }
}

#[test]
fn update_step_patches_the_step() {
    for args in [
        vec!["update-step", "m", "r", "call_1", "completed"],
        vec!["plan", "update-step", "m", "r", "call_1", "completed"],
    ] {
        check(
            &args,
            ex("PATCH", "/v1/missions/m/runs/r/plan/steps/call_1", "", r#"{"status": "completed"}"#, ok(json!({}))),
            "Updated step 'call_1': completed\n",
        );
    }
}

// ---------------------------------------------------------------- events

#[test]
fn log_event_with_step_and_payload_matches_python_bytes() {
    check(
        &["log-event", "m", "r", "custom", "Got a quote: 120 €", "call_1", r#"{"price": 120, "ok": true}"#],
        ex(
            "POST",
            "/v1/missions/m/runs/r/events",
            "",
            r#"{"type": "custom", "summary": "Got a quote: 120 \u20ac", "agent_id": "claude-code", "step_id": "call_1", "payload": {"price": 120, "ok": true}}"#,
            ok(json!({"data": {"id": "ev_1"}})),
        ),
        "Logged event: Got a quote: 120 €\n",
    );
}

#[test]
fn log_event_dash_step_leaves_step_out() {
    check(
        &["log-event", "m", "r", "message", "-hello-", "-"],
        ex(
            "POST",
            "/v1/missions/m/runs/r/events",
            "",
            r#"{"type": "message", "summary": "-hello-", "agent_id": "claude-code"}"#,
            ok(json!({})),
        ),
        "Logged event: -hello-\n",
    );
}

#[test]
fn event_log_noun_form_uses_flags() {
    check(
        &["event", "log", "m", "r", "step_started", "Calling", "--step", "call_1", "--payload", "[1, 2]"],
        ex(
            "POST",
            "/v1/missions/m/runs/r/events",
            "",
            r#"{"type": "step_started", "summary": "Calling", "agent_id": "claude-code", "step_id": "call_1", "payload": [1, 2]}"#,
            ok(json!({"data": {"id": "ev_2"}})),
        ),
        "Logged event: Calling\n",
    );
}

#[test]
fn list_events_prints_type_and_summary() {
    let reply = json!({"data": [{"type": "custom", "summary": "a", "step_id": "s1"}, {"summary": "b"}]});
    check(
        &["list-events", "m", "r"],
        ex("GET", "/v1/missions/m/runs/r/events", "", "", ok(reply.clone())),
        "[custom] a\n[None] b\n",
    );
    check(
        &["event", "list", "m", "r"],
        ex("GET", "/v1/missions/m/runs/r/events", "", "", ok(reply)),
        "TYPE    STEP  SUMMARY\ncustom  s1    a\n        -     b\n",
    );
}

// ---------------------------------------------------------------- assistants

const DEFAULT_TOOLS: &str = r#"[{"type": "hangup", "hangup": {"description": "To be used whenever the conversation has ended and it would be appropriate to hangup the call."}}, {"type": "send_dtmf", "send_dtmf": {}}]"#;

#[test]
fn create_assistant_sends_contract_defaults() {
    let body = format!(
        r#"{{"name": "Acme caller", "model": "openai/gpt-4o", "instructions": "Ask for a quote.", "greeting": "", "voice": "Rime.ArcanaV3.astra", "tools": {DEFAULT_TOOLS}, "enabled_features": ["telephony", "messaging"]}}"#
    );
    for args in [
        vec!["create-assistant", "Acme caller", "Ask for a quote."],
        vec!["assistant", "create", "Acme caller", "Ask for a quote."],
    ] {
        check(
            &args,
            ex("POST", "/v1/assistants", "", &body, ok(json!({"assistant": {"id": "ast_1"}}))),
            "Created assistant: ast_1\n",
        );
    }
}

#[test]
fn create_assistant_applies_greeting_and_options_json() {
    let body = r#"{"name": "R", "model": "m2", "instructions": "I", "greeting": "Hello!", "voice": "v2", "tools": [{"type": "send_message", "send_message": {}}], "enabled_features": ["telephony"], "description": "front desk"}"#;
    let opts = r#"{"features":["telephony"],"model":"m2","voice":"v2","tools":[{"type":"send_message","send_message":{}}],"description":"front desk"}"#;
    check(
        &["create-assistant", "R", "I", "Hello!", opts],
        ex("POST", "/v1/assistants", "", body, ok(json!({"id": "ast_2"}))),
        "Created assistant: ast_2\n",
    );
    check(
        &[
            "assistant",
            "create",
            "R",
            "I",
            "Hello!",
            "--model",
            "m2",
            "--voice",
            "v2",
            "--features",
            "telephony",
            "--tools",
            r#"[{"type":"send_message","send_message":{}}]"#,
            "--description",
            "front desk",
        ],
        ex("POST", "/v1/assistants", "", body, ok(json!({"data": {"assistant_id": "ast_3"}}))),
        "Created assistant: ast_3\n",
    );
}

#[test]
fn list_assistants_sends_python_query_and_prints_lines() {
    let reply = json!({
        "assistants": [{"id": "a1", "name": "One", "model": "openai/gpt-4o", "enabled_features": ["telephony", "messaging"]}],
        "meta": {"total_results": 7, "total_pages": 3}
    });
    let srv_ex = || ex("GET", "/v1/assistants", "pageSize=10&page=2&name=Pool%20%26%20Spa", "", ok(reply.clone()));
    let (_, out) = exchange(&["list-assistants", "--name=Pool & Spa", "--page=2", "--size=10"], srv_ex());
    assert_eq!(out.status.code(), Some(0), "list-assistants exit code");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a1: One (model=openai/gpt-4o, features=['telephony', 'messaging'])\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "\nPage 2/3 (7 total)\n");
    let (_, out) = exchange(&["assistant", "list", "--name", "Pool & Spa", "--page", "2", "--size", "10"], srv_ex());
    assert_eq!(out.status.code(), Some(0), "assistant list exit code");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ID  NAME  MODEL          FEATURES\na1  One   openai/gpt-4o  telephony,messaging\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Page 2/3 (7 total)\n");
}

#[test]
fn list_assistants_defaults_and_data_envelope() {
    check(
        &["list-assistants"],
        ex("GET", "/v1/assistants", "pageSize=25&page=1", "", ok(json!({"data": [{"assistant_id": "a9"}]}))),
        "a9: unnamed (model=, features=[])\n",
    );
}

#[test]
fn get_assistant_prints_it() {
    for args in [vec!["get-assistant", "a1"], vec!["assistant", "get", "a1"]] {
        check(
            &args,
            ex("GET", "/v1/assistants/a1", "", "", ok(json!({"assistant": {"id": "a1", "name": "One"}}))),
            "{\n  \"id\": \"a1\",\n  \"name\": \"One\"\n}\n",
        );
    }
}

#[test]
fn update_assistant_sends_updates_as_is() {
    for args in [
        vec!["update-assistant", "a1", r#"{"greeting":"Hi","tools":[]}"#],
        vec!["assistant", "update", "a1", r#"{"greeting":"Hi","tools":[]}"#],
    ] {
        check(
            &args,
            ex(
                "PATCH",
                "/v1/assistants/a1",
                "",
                r#"{"greeting": "Hi", "tools": []}"#,
                ok(json!({"assistant": {"id": "a1"}})),
            ),
            "Updated assistant a1\n",
        );
    }
}

#[test]
fn get_connection_id_defaults_to_telephony() {
    for args in [vec!["get-connection-id", "a1"], vec!["assistant", "connection-id", "a1"]] {
        check(
            &args,
            ex("GET", "/v1/assistants/a1/connection-id", "feature=telephony", "", ok(json!({"connection_id": "c1"}))),
            "Connection ID: c1\n",
        );
    }
    check(
        &["get-connection-id", "a1", "messaging"],
        ex("GET", "/v1/assistants/a1/connection-id", "feature=messaging", "", ok(json!({"connection_id": "c2"}))),
        "Connection ID: c2\n",
    );
}

#[test]
fn missing_connection_id_exits_1_with_the_original_message() {
    let (_, out) = exchange(
        &["get-connection-id", "a1", "messaging"],
        ex("GET", "/v1/assistants/a1/connection-id", "feature=messaging", "", ok(json!({}))),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "No connection ID found for messaging\n");
}

// ---------------------------------------------------------------- phones

#[test]
fn list_phones_marks_available_and_assigned() {
    let reply = json!({"data": [
        {"id": "p1", "phone_number": "+15550001111"},
        {"id": "p2", "phone_number": "+15550002222", "connection_id": "c1"}
    ]});
    check(
        &["list-phones"],
        ex("GET", "/v1/numbers/account-phones", "", "", ok(reply.clone())),
        "p1: +15550001111 [available]\np2: +15550002222 [assigned]\n",
    );
    check(
        &["phone", "list"],
        ex("GET", "/v1/numbers/account-phones", "", "", ok(reply)),
        "ID  NUMBER        STATUS\np1  +15550001111  available\np2  +15550002222  assigned\n",
    );
}

#[test]
fn get_available_phone_prints_the_number() {
    for args in [vec!["get-available-phone"], vec!["phone", "available"]] {
        check(
            &args,
            ex(
                "GET",
                "/v1/numbers/account-phones/available",
                "",
                "",
                ok(json!({"phone": {"id": "p1", "phone_number": "+15550001111"}})),
            ),
            "Found available: +15550001111\n",
        );
    }
}

#[test]
fn no_available_phone_exits_1_and_says_to_buy_one() {
    let (_, out) =
        exchange(&["get-available-phone"], ex("GET", "/v1/numbers/account-phones/available", "", "", ok(json!({}))));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ERROR: No available phone numbers found\n") && err.contains("Buy a dedicated number"),
        "{err}"
    );
}

#[test]
fn assign_phone_patches_connection_and_type() {
    for args in [vec!["assign-phone", "p1", "c1"], vec!["phone", "assign", "p1", "c1"]] {
        check(
            &args,
            ex(
                "PATCH",
                "/v1/numbers/account-phones/p1",
                "",
                r#"{"connection_id": "c1", "type": "voice"}"#,
                ok(json!({})),
            ),
            "Assigned phone number p1\n",
        );
    }
    check(
        &["assign-phone", "p1", "c1", "sms"],
        ex("PATCH", "/v1/numbers/account-phones/p1", "", r#"{"connection_id": "c1", "type": "sms"}"#, ok(json!({}))),
        "Assigned phone number p1\n",
    );
}

// ---------------------------------------------------------------- scheduled events

#[test]
fn schedule_call_legacy_sends_python_body() {
    let at = in_an_hour();
    let body = format!(
        r#"{{"channel": "call", "to": "+15551234567", "from": "+15559876543", "scheduled_at": "{at}", "mission_id": "m", "run_id": "r", "step_id": "call_1"}}"#
    );
    check(
        &["schedule-call", "a1", "+15551234567", "+15559876543", &at, "m", "r", "call_1"],
        ex("POST", "/v1/assistants/a1/events", "", &body, ok(json!({"event": {"id": "ev_1", "status": "pending"}}))),
        "Scheduled call: ev_1\n",
    );
    let body = format!(
        r#"{{"channel": "call", "to": "+15551234567", "from": "+15559876543", "scheduled_at": "{at}", "mission_id": "m", "run_id": "r"}}"#
    );
    check(
        &["schedule-call", "a1", "+15551234567", "+15559876543", &at, "m", "r"],
        ex("POST", "/v1/assistants/a1/events", "", &body, ok(json!({"id": "ev_2"}))),
        "Scheduled call: ev_2\n",
    );
}

#[test]
fn schedule_call_noun_form_with_flags() {
    let at = in_an_hour();
    let body = format!(
        r#"{{"channel": "call", "to": "+15551234567", "from": "+15559876543", "scheduled_at": "{at}", "mission_id": "m", "run_id": "r", "step_id": "s"}}"#
    );
    let args = [
        "schedule",
        "call",
        "--assistant",
        "a1",
        "--to",
        "+15551234567",
        "--from",
        "+15559876543",
        "--at",
        &at,
        "--mission-id",
        "m",
        "--run-id",
        "r",
        "--step",
        "s",
    ];
    check(
        &args,
        ex("POST", "/v1/assistants/a1/events", "", &body, ok(json!({"event": {"id": "ev_3"}}))),
        "Scheduled call: ev_3\n",
    );
}

#[test]
fn schedule_call_relative_time_becomes_rfc3339_about_five_minutes_ahead() {
    let srv = Recorder::start();
    srv.on("POST", "/v1/assistants/a1/events", vec![ok(json!({"id": "ev_4"}))]);
    let t = Sandboxed::new();
    let before = chrono::Utc::now();
    t.api(&srv.api_url())
        .args([
            "schedule",
            "call",
            "--assistant",
            "a1",
            "--to",
            "+15551234567",
            "--from",
            "+15559876543",
            "--at",
            "+5m",
        ])
        .assert()
        .success()
        .stdout("Scheduled call: ev_4\n");
    let body = srv.single_besides_clock_sample().json();
    let at = chrono::DateTime::parse_from_rfc3339(body["scheduled_at"].as_str().unwrap()).unwrap();
    let ahead = at.with_timezone(&chrono::Utc) - before;
    assert!(ahead >= chrono::Duration::seconds(298) && ahead <= chrono::Duration::seconds(310), "{ahead}");
    assert!(body["scheduled_at"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("mission_id").is_none(), "no mission fields unless given: {body}");
}

#[test]
fn schedule_sms_sends_text_body_and_optional_ids() {
    let at = in_an_hour();
    let body = format!(
        r#"{{"channel": "sms", "to": "+15551234567", "from": "+15559876543", "scheduled_at": "{at}", "text_body": "Running late \u2014 10 min"}}"#
    );
    check(
        &["schedule-sms", "a1", "+15551234567", "+15559876543", &at, "Running late — 10 min"],
        ex("POST", "/v1/assistants/a1/events", "", &body, ok(json!({"event": {"id": "sms_1"}}))),
        "Scheduled SMS: sms_1\n",
    );
    let body = format!(
        r#"{{"channel": "sms", "to": "+15551234567", "from": "+15559876543", "scheduled_at": "{at}", "text_body": "Hi", "mission_id": "m", "run_id": "r", "step_id": "s"}}"#
    );
    check(
        &["schedule-sms", "a1", "+15551234567", "+15559876543", &at, "Hi", "m", "r", "s"],
        ex("POST", "/v1/assistants/a1/events", "", &body, ok(json!({"id": "sms_2"}))),
        "Scheduled SMS: sms_2\n",
    );
    let args = [
        "schedule",
        "sms",
        "--assistant",
        "a1",
        "--to",
        "+15551234567",
        "--from",
        "+15559876543",
        "--at",
        &at,
        "--text",
        "Hi",
        "--mission-id",
        "m",
        "--run-id",
        "r",
        "--step",
        "s",
    ];
    check(
        &args,
        ex("POST", "/v1/assistants/a1/events", "", &body, ok(json!({"id": "sms_3"}))),
        "Scheduled SMS: sms_3\n",
    );
}

#[test]
fn get_event_prints_status_line_with_call_details() {
    let reply = json!({"event": {"id": "ev_1", "status": "completed", "call_status": "no-answer", "conversation_id": "conv_1", "retry_count": 2}});
    for args in [vec!["get-event", "a1", "ev_1"], vec!["schedule", "get", "a1", "ev_1"]] {
        check(
            &args,
            ex("GET", "/v1/assistants/a1/events/ev_1", "", "", ok(reply.clone())),
            "Status: completed, call_status: no-answer, conversation_id: conv_1, retry_count: 2\n",
        );
    }
    check(
        &["get-event", "a1", "ev_2"],
        ex("GET", "/v1/assistants/a1/events/ev_2", "", "", ok(json!({"id": "ev_2", "retry_count": 0}))),
        "Status: unknown\n",
    );
    check_json(
        &["schedule", "get", "a1", "ev_1"],
        ex("GET", "/v1/assistants/a1/events/ev_1", "", "", ok(reply)),
        json!({"id": "ev_1", "status": "completed", "call_status": "no-answer", "conversation_id": "conv_1", "retry_count": 2}),
    );
}

#[test]
fn cancel_scheduled_event_deletes_it() {
    for args in [vec!["cancel-scheduled-event", "a1", "ev_1"], vec!["schedule", "cancel", "a1", "ev_1"]] {
        check(
            &args,
            ex("DELETE", "/v1/assistants/a1/events/ev_1", "", "", Reply::empty(204)),
            "Deleted scheduled event: ev_1\n",
        );
    }
}

#[test]
fn list_events_assistant_prints_id_status_and_call_status() {
    let reply = json!({"events": [
        {"id": "e1", "status": "completed", "call_status": "completed", "channel": "call", "scheduled_at": "2030-01-01T00:00:00Z", "to": "+15551234567"},
        {"id": "e2", "status": "pending", "channel": "sms"}
    ]});
    check(
        &["list-events-assistant", "a1"],
        ex("GET", "/v1/assistants/a1/events", "", "", ok(reply.clone())),
        "e1: completed, call_status=completed\ne2: pending\n",
    );
    check(
        &["schedule", "list", "a1"],
        ex("GET", "/v1/assistants/a1/events", "", "", ok(reply)),
        "ID  CHANNEL  STATUS     CALL_STATUS  SCHEDULED_AT          TO\n\
         e1  call     completed  completed    2030-01-01T00:00:00Z  +15551234567\n\
         e2  sms      pending    -            -                     -\n",
    );
}

// ---------------------------------------------------------------- insights

#[test]
fn get_insights_prints_completed_results_only() {
    let reply = json!({"data": [
        {"status": "completed", "conversation_insights": [{"result": "Quoted $120"}, {"result": {"price": 120}}]},
        {"status": "in_progress", "conversation_insights": [{"result": "not yet"}]}
    ]});
    for args in [vec!["get-insights", "conv_1"], vec!["insights", "get", "conv_1"]] {
        check(
            &args,
            ex("GET", "/v1/missions/conversations/conv_1/insights", "", "", ok(reply.clone())),
            "Insight: Quoted $120\nInsight: {\"price\":120}\n",
        );
    }
}

// ---------------------------------------------------------------- run agents

#[test]
fn link_agent_posts_telnyx_agent_id() {
    for args in [vec!["link-agent", "m", "r", "a1"], vec!["agent", "link", "m", "r", "a1"]] {
        check(
            &args,
            ex("POST", "/v1/missions/m/runs/r/agents", "", r#"{"telnyx_agent_id": "a1"}"#, ok(json!({"data": {}}))),
            "Linked agent a1 to run r\n",
        );
    }
}

#[test]
fn list_linked_agents_prints_agent_lines() {
    for args in [vec!["list-linked-agents", "m", "r"], vec!["agent", "list", "m", "r"]] {
        check(
            &args,
            ex(
                "GET",
                "/v1/missions/m/runs/r/agents",
                "",
                "",
                ok(json!({"data": [{"telnyx_agent_id": "a1"}, {"telnyx_agent_id": "a2"}]})),
            ),
            "Agent: a1\nAgent: a2\n",
        );
    }
}

#[test]
fn unlink_agent_deletes_the_link() {
    for args in [vec!["unlink-agent", "m", "r", "a1"], vec!["agent", "unlink", "m", "r", "a1"]] {
        check(
            &args,
            ex("DELETE", "/v1/missions/m/runs/r/agents/a1", "", "", Reply::empty(204)),
            "Unlinked agent a1 from run r\n",
        );
    }
}

// ---------------------------------------------------------------- missions (query and bytes)

#[test]
fn list_missions_sends_raw_bracket_query_like_urllib() {
    check(&["list-missions"], ex("GET", "/v1/missions", "page[size]=20", "", ok(json!({"data": []}))), "");
    check(
        &["mission", "list"],
        ex("GET", "/v1/missions", "page[size]=20", "", ok(json!({"missions": []}))),
        "ID  NAME\n",
    );
}

#[test]
fn create_mission_body_bytes_match_python() {
    check(
        &["create-mission", "Café run", "Call \"them\"\n"],
        ex(
            "POST",
            "/v1/missions",
            "",
            r#"{"name": "Caf\u00e9 run", "instructions": "Call \"them\"\n"}"#,
            ok(json!({"mission": {"id": "mis_1"}})),
        ),
        "Created mission: mis_1\n",
    );
}

// ---------------------------------------------------------------- --json everywhere

#[test]
fn json_flag_prints_exactly_the_unwrapped_document() {
    check_json(
        &["create-run", "m", "{}"],
        ex("POST", "/v1/missions/m/runs", "", r#"{"input": {}}"#, ok(json!({"data": {"run_id": "r1"}}))),
        json!({"id": "r1", "run_id": "r1"}),
    );
    check_json(
        &["schedule", "cancel", "a1", "ev_1"],
        ex("DELETE", "/v1/assistants/a1/events/ev_1", "", "", Reply::empty(204)),
        json!({"id": "ev_1", "assistant_id": "a1", "cancelled": true}),
    );
    check_json(
        &["list-linked-agents", "m", "r"],
        ex("GET", "/v1/missions/m/runs/r/agents", "", "", ok(json!({"data": [{"telnyx_agent_id": "a1"}]}))),
        json!([{"telnyx_agent_id": "a1"}]),
    );
    check_json(
        &["update-step", "m", "r", "s1", "skipped"],
        ex("PATCH", "/v1/missions/m/runs/r/plan/steps/s1", "", r#"{"status": "skipped"}"#, Reply::empty(200)),
        json!({"step_id": "s1", "status": "skipped"}),
    );
    check_json(
        &["get-insights", "c"],
        ex(
            "GET",
            "/v1/missions/conversations/c/insights",
            "",
            "",
            ok(json!({"data": [{"status": "completed", "conversation_insights": [{"result": "x"}]}]})),
        ),
        json!([{"status": "completed", "conversation_insights": [{"result": "x"}]}]),
    );
}

#[test]
fn service_errors_show_status_and_message_for_api_commands() {
    let srv = Recorder::start();
    srv.on(
        "PATCH",
        "/v1/missions/m/runs/r/plan/steps/nope",
        vec![Reply::json(404, json!({"error": {"message": "step not found"}}))],
    );
    let t = Sandboxed::new();
    let out = t.api(&srv.api_url()).args(["update-step", "m", "r", "nope", "completed"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("404") && err.contains("step not found"), "{err}");
}

// ---------------------------------------------------------------- check-key

#[test]
fn check_key_live_proves_a_good_key_with_one_get() {
    let srv = Recorder::start();
    srv.on("GET", "/v1/missions", vec![ok(json!({"missions": []}))]);
    let t = Sandboxed::new();
    let out = t.api(&srv.api_url()).args(["check-key", "--live"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("API key configured: cc_test_...cdef\nKey accepted by {}\n", srv.api_url())
    );
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/v1/missions", "page[size]=20"));
    assert!(r.body.is_empty());
    assert_eq!(r.header("authorization"), Some(format!("Bearer {TEST_KEY}").as_str()));
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(TEST_KEY), "the key is shown in full");
    }
}

#[test]
fn check_key_live_with_a_refused_key_exits_1_and_never_shows_the_key() {
    // The sandbox refuses any key that is not a test key, as the service does.
    let sb = common::sandbox::TestSandbox::start();
    let bad = "cc_live_not_a_real_key_9876";
    let t = Sandboxed::new();
    let out = t
        .cmd()
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", bad)
        .args(["check-key", "--live"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "", "nothing on stdout for a failed check");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stdout.contains(bad) && !stderr.contains(bad), "the key is shown in full: {stdout} {stderr}");
    let out = t
        .cmd()
        .env("CLAWDTALK_API_URL", &sb.api)
        .env("CLAWDTALK_API_KEY", bad)
        .args(["--json", "check-key", "--live"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!((doc["error"]["exit_code"].as_i64(), doc["error"]["status"].as_i64()), (Some(1), Some(401)));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(bad));
}

// ---------------------------------------------------------------- configuration

/// A key ending in `tail` (so the masked form tells the keys apart).
fn key(tail: &str) -> String {
    format!("cc_test_config_key_{tail}")
}

fn write_config(path: &std::path::Path, body: Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body.to_string()).unwrap();
}

/// `--json check-key` on `c`: (masked key, where the key came from).
fn which_key(c: &mut assert_cmd::Command) -> (String, String) {
    let out = c.args(["--json", "check-key"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    (doc["key"].as_str().unwrap().to_string(), doc["source"].as_str().unwrap().to_string())
}

#[test]
fn config_file_search_order_is_flag_then_env_then_cwd_then_user_dir() {
    let t = Sandboxed::new();
    let user = t.home().join(".config/clawdtalk/skill-config.json");
    let local = t.work().join("skill-config.json");
    let by_env = t.path().join("env-config.json");
    let by_flag = t.path().join("flag-config.json");
    write_config(&user, json!({"api_key": key("user")}));
    assert_eq!(which_key(&mut t.cmd()), ("cc_test_...user".into(), user.display().to_string()));
    write_config(&local, json!({"api_key": key("locl")}));
    assert_eq!(which_key(&mut t.cmd()), ("cc_test_...locl".into(), local.display().to_string()));
    write_config(&by_env, json!({"api_key": key("envv")}));
    assert_eq!(
        which_key(t.cmd().env("CLAWDTALK_CONFIG", &by_env)),
        ("cc_test_...envv".into(), by_env.display().to_string())
    );
    write_config(&by_flag, json!({"api_key": key("flag")}));
    assert_eq!(
        which_key(t.cmd().env("CLAWDTALK_CONFIG", &by_env).arg("--config").arg(&by_flag)),
        ("cc_test_...flag".into(), by_flag.display().to_string())
    );
    // The environment's key beats every file.
    let (masked, source) = which_key(t.cmd().env("CLAWDTALK_API_KEY", key("kenv")).arg("--config").arg(&by_flag));
    assert_eq!((masked.as_str(), source.as_str()), ("cc_test_...kenv", "$CLAWDTALK_API_KEY"));
    // A named file that does not exist is a configuration error, not a fallback.
    for c in [
        t.cmd().arg("--config").arg(t.path().join("nope.json")).arg("check-key"),
        t.cmd().env("CLAWDTALK_CONFIG", t.path().join("nope.json")).arg("check-key"),
    ] {
        c.assert().code(3).stdout("").stderr(predicates::str::contains("nope.json"));
    }
}

#[test]
fn the_user_config_dir_follows_xdg_config_home_else_home() {
    let t = Sandboxed::new();
    // No XDG_CONFIG_HOME: ~/.config.
    let home_cfg = t.home().join(".config/clawdtalk/skill-config.json");
    write_config(&home_cfg, json!({"api_key": key("home")}));
    assert_eq!(
        which_key(t.cmd().env_remove("XDG_CONFIG_HOME")),
        ("cc_test_...home".into(), home_cfg.display().to_string())
    );
    // XDG_CONFIG_HOME set elsewhere: that directory, not ~/.config.
    let xdg = t.path().join("xdg");
    let xdg_cfg = xdg.join("clawdtalk/skill-config.json");
    write_config(&xdg_cfg, json!({"api_key": key("xdgh")}));
    assert_eq!(
        which_key(t.cmd().env("XDG_CONFIG_HOME", &xdg)),
        ("cc_test_...xdgh".into(), xdg_cfg.display().to_string())
    );
}

#[test]
fn env_references_in_the_config_file_are_resolved_and_used_on_the_wire() {
    let srv = Recorder::start();
    srv.on("GET", "/v1/missions", vec![ok(json!({"missions": []}))]);
    let t = Sandboxed::new();
    write_config(&t.work().join("skill-config.json"), json!({"api_key": "${MY_CT_KEY}", "server": "${MY_CT_SERVER}"}));
    t.cmd()
        .env("MY_CT_KEY", key("wire"))
        .env("MY_CT_SERVER", format!("http://{}", srv.addr))
        .args(["check-key", "--live"])
        .assert()
        .code(0)
        .stdout(format!("API key configured: cc_test_...wire\nKey accepted by {}\n", srv.api_url()));
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/v1/missions", "page[size]=20"));
    assert_eq!(r.header("authorization"), Some(format!("Bearer {}", key("wire")).as_str()));
}

#[test]
fn a_request_the_server_never_answers_times_out_with_exit_4() {
    use common::raw::{Act, RawServer};
    let srv = RawServer::start(vec![Act::Hang]);
    let t = Sandboxed::new();
    // $CLAWDTALK_TIMEOUT; a POST is not retried after a timeout (it may have been applied).
    t.api(&srv.api_url())
        .env("CLAWDTALK_TIMEOUT", "1")
        .args(["create-mission", "a", "b"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(4)
        .stdout("")
        .stderr(predicates::str::contains("POST").and(predicates::str::contains("timed out")));
    assert_eq!(srv.requests().len(), 1);
    // request_timeout_secs in the config file; a GET is retried, up to 3 attempts.
    let cfg = t.path().join("timeout.json");
    write_config(&cfg, json!({"request_timeout_secs": 1}));
    t.api(&srv.api_url())
        .env("CLAWDTALK_CONFIG", &cfg)
        .args(["get-mission", "m1"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(4)
        .stderr(predicates::str::contains("GET").and(predicates::str::contains("timed out")));
    assert_eq!(srv.requests().len(), 4);
    // A timeout that is not a positive number is a configuration error (exit 3), nothing sent.
    for bad in ["0", "soon", "-1"] {
        t.api(&srv.api_url()).env("CLAWDTALK_TIMEOUT", bad).args(["get-mission", "m1"]).assert().code(3);
    }
    write_config(&cfg, json!({"request_timeout_secs": 1e300}));
    t.api(&srv.api_url()).env("CLAWDTALK_CONFIG", &cfg).args(["get-mission", "m1"]).assert().code(3);
    assert_eq!(srv.requests().len(), 4);
}

// ---------------------------------------------------------------- --json: one document, every read-only command

/// Run `args` with `--json` and return stdout parsed as its only JSON value.
fn one_json_document(mut c: assert_cmd::Command, args: &[&str]) -> Value {
    let out = c.arg("--json").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} failed: stdout {stdout}; stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {stdout}"));
    assert_eq!(docs.len(), 1, "{args:?}: stdout holds {} JSON documents: {stdout}", docs.len());
    docs.into_iter().next().unwrap()
}

#[test]
fn json_on_every_read_only_command_prints_exactly_one_document() {
    use common::sandbox::TestSandbox;
    let sb = TestSandbox::start();
    let id = |v: &Value, env: &str, keys: &[&str]| -> String {
        keys.iter()
            .find_map(|k| v[env][*k].as_str().or_else(|| v[*k].as_str()))
            .unwrap_or_else(|| panic!("no id in {v}"))
            .to_string()
    };
    let m = sb.call("POST", "/v1/missions", Some(json!({"name": "Json", "instructions": "i"}))).json;
    let mid = id(&m, "mission", &["id", "mission_id"]);
    let r = sb.call("POST", &format!("/v1/missions/{mid}/runs"), Some(json!({"input": {}}))).json;
    let rid = id(&r, "data", &["run_id", "id"]);
    let steps = json!({"steps": [{"step_id": "s1", "description": "d", "sequence": 1}]});
    assert_eq!(sb.call("POST", &format!("/v1/missions/{mid}/runs/{rid}/plan"), Some(steps)).status, 201);
    let ev = json!({"type": "custom", "summary": "hello"});
    sb.call("POST", &format!("/v1/missions/{mid}/runs/{rid}/events"), Some(ev));
    let a = sb.call("POST", "/v1/assistants", Some(json!({"name": "A", "instructions": "I"}))).json;
    let aid = id(&a, "assistant", &["id"]);
    sb.call("POST", &format!("/v1/missions/{mid}/runs/{rid}/agents"), Some(json!({"telnyx_agent_id": aid})));
    let at = TestSandbox::in_secs(61);
    let call = json!({"channel": "call", "to": "+15005550006", "from": "+15550001111", "scheduled_at": at});
    let e = sb.call("POST", &format!("/v1/assistants/{aid}/events"), Some(call)).json;
    let eid = id(&e, "event", &["id"]);
    sb.advance(400.0);
    let conv = sb.call("GET", &format!("/v1/assistants/{aid}/events/{eid}"), None).json["event"]["conversation_id"]
        .as_str()
        .expect("a finished call has a conversation id")
        .to_string();
    let direct = sb.call("POST", "/v1/calls", Some(json!({"to": "+15005550006"}))).json;
    let call_id = direct["call_id"].as_str().or_else(|| direct["data"]["call_id"].as_str()).unwrap().to_string();
    let ap = sb.call("POST", "/v1/approvals", Some(json!({"action": "Deploy"}))).json;
    let approval = ["id", "request_id"]
        .iter()
        .find_map(|k| ap[*k].as_str().or_else(|| ap["data"][*k].as_str()))
        .unwrap_or_else(|| panic!("no approval id in {ap}"))
        .to_string();

    let t = Sandboxed::new();
    let state = t.path().join("state.json");
    let body = json!({"json": {"mission_name": "Json", "mission_id": mid, "run_id": rid, "assistant_id": aid,
        "memory": {"leads": ["a"], "note": "n"}}});
    std::fs::write(&state, body.to_string()).unwrap();
    let (mid, rid, aid, eid) = (mid.as_str(), rid.as_str(), aid.as_str(), eid.as_str());
    let cases: Vec<Vec<&str>> = vec![
        // noun-verb
        vec!["mission", "get", mid],
        vec!["mission", "list"],
        vec!["run", "get", mid, rid],
        vec!["run", "list", mid],
        vec!["plan", "get", mid, rid],
        vec!["event", "list", mid, rid],
        vec!["assistant", "list"],
        vec!["assistant", "get", aid],
        vec!["assistant", "connection-id", aid],
        vec!["phone", "list"],
        vec!["phone", "available"],
        vec!["schedule", "get", aid, eid],
        vec!["schedule", "list", aid],
        vec!["insights", "get", &conv],
        vec!["agent", "list", mid, rid],
        vec!["call", "status", &call_id],
        vec!["sms", "list"],
        vec!["sms", "conversations"],
        vec!["approval", "status", &approval],
        vec!["check-key"],
        vec!["check-key", "--live"],
        vec!["state", "list"],
        vec!["state", "list", "--all"],
        vec!["state", "get", "json"],
        vec!["state", "path"],
        vec!["memory", "get", "json"],
        vec!["memory", "get", "json", "leads"],
        vec!["memory", "get", "json", "note"],
        vec!["mission", "status", "json"],
        // telnyx_api.py words
        vec!["get-mission", mid],
        vec!["list-missions"],
        vec!["get-run", mid, rid],
        vec!["list-runs", mid],
        vec!["get-plan", mid, rid],
        vec!["list-events", mid, rid],
        vec!["list-assistants"],
        vec!["get-assistant", aid],
        vec!["get-connection-id", aid],
        vec!["list-phones"],
        vec!["get-available-phone"],
        vec!["get-event", aid, eid],
        vec!["list-events-assistant", aid],
        vec!["get-insights", &conv],
        vec!["list-linked-agents", mid, rid],
        vec!["list-state"],
        vec!["get-state", "json"],
        vec!["get-memory", "json"],
        vec!["get-memory", "json", "note"],
    ];
    for args in &cases {
        let mut c = t.api(&sb.api);
        c.env("CLAWDTALK_STATE_FILE", &state);
        let doc = one_json_document(c, args);
        assert!(!doc.is_null(), "{args:?} printed null");
    }
    // Spot checks that the document is the unwrapped object or list.
    let get = |args: &[&str]| {
        let mut c = t.api(&sb.api);
        c.env("CLAWDTALK_STATE_FILE", &state);
        one_json_document(c, args)
    };
    assert_eq!(get(&["get-mission", mid])["id"], mid);
    assert_eq!(get(&["get-plan", mid, rid])[0]["step_id"], "s1");
    assert_eq!(get(&["get-memory", "json", "leads"]), json!(["a"]));
}
