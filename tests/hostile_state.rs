//! The state file under attack and across versions, through the binary:
//! planted and dangling symlinks, private modes, empty slugs and keys,
//! corrupt local files (exit 5), and a top level that holds nothing but
//! missions (telnyx_api.py lists every top-level key as one).

mod common;

use std::path::{Path, PathBuf};

use common::sandbox::TestSandbox;
use common::Sandboxed;
use serde_json::Value;

fn with_state(body: &str) -> (Sandboxed, PathBuf) {
    let t = Sandboxed::new();
    let p = t.path().join("state.json");
    std::fs::write(&p, body).unwrap();
    (t, p)
}

fn cmd(t: &Sandboxed, state: &Path) -> assert_cmd::Command {
    let mut c = t.cmd();
    c.env("CLAWDTALK_STATE_FILE", state);
    c
}

const ONE: &str = r#"{"roof": {"mission_name": "Roof", "memory": {}}}"#;

#[cfg(unix)]
#[test]
fn a_symlink_planted_at_state_json_tmp_is_never_followed() {
    let (t, p) = with_state(ONE);
    let victim = t.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let planted = t.path().join("state.json.tmp");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    cmd(&t, &p).args(["save-memory", "roof", "k", "v"]).assert().success();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "the symlink's target is untouched");
    assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_file(), "state.json stays a regular file");
    assert!(std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink(), "the planted link is left alone");
    let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    assert_eq!(v["roof"]["memory"]["k"], "v");
}

#[cfg(unix)]
#[test]
fn a_dangling_state_symlink_is_refused_with_exit_5_and_kept() {
    let t = Sandboxed::new();
    let link = t.path().join("state.json");
    let gone = t.path().join("moved-away.json");
    std::os::unix::fs::symlink(&gone, &link).unwrap();
    let out = cmd(&t, &link).args(["save-memory", "roof", "k", "v"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "not replaced by a file");
    assert!(!gone.exists(), "nothing created where it points");
}

#[cfg(unix)]
#[test]
fn a_state_file_created_by_the_binary_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let t = Sandboxed::new();
    let p = t.path().join("new/state.json");
    cmd(&t, &p).args(["memory", "save", "roof", "phone", "+15551234567", "--create"]).assert().success();
    assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn an_empty_slug_or_memory_key_is_refused_and_nothing_written() {
    let (t, p) = with_state(ONE);
    for args in [
        &["save-memory", "", "k", "v"][..],
        &["save-memory", "roof", "", "v"],
        &["append-memory", "roof", "  ", "v"],
        &["memory", "save", "", "k", "v", "--create"],
        &["memory", "get", "roof", ""],
    ] {
        let out = cmd(&t, &p).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(std::fs::read_to_string(&p).unwrap(), ONE);
}

#[test]
fn corrupt_local_files_exit_5_not_1() {
    let (t, p) = with_state("{\"roof\": ");
    let out = cmd(&t, &p).args(["--json", "memory", "get", "roof"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((doc["error"]["kind"].as_str(), doc["error"]["exit_code"].as_u64()), (Some("state"), Some(5)));
    let dup = r#"{"roof": {"memory": {}}, "roof": {"memory": {}}}"#;
    std::fs::write(&p, dup).unwrap();
    cmd(&t, &p).args(["save-memory", "roof", "k", "v"]).assert().code(5);
    let cfg = t.path().join("skill-config.json");
    std::fs::write(&cfg, "[1, 2]").unwrap();
    let out = t.cmd().env("CLAWDTALK_CONFIG", &cfg).args(["--json", "mission", "get", "m1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "file");
}

/// Every top-level key is a mission slug, or the archive (which
/// telnyx_api.py's list-state shows as one extra line and otherwise skips).
fn assert_only_missions_at_the_top(state: &Path, when: &str) {
    let v: Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    for (k, entry) in v.as_object().unwrap() {
        if k == "_archive" {
            assert!(entry.is_object(), "{when}: _archive is an object keyed by mission id");
            continue;
        }
        let slug_like = !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        assert!(slug_like && entry.is_object(), "{when}: top-level key {k:?} is not a mission: {entry}");
    }
}

#[test]
fn after_every_workflow_the_state_file_holds_only_missions_at_the_top_level() {
    let sb = TestSandbox::start();
    let t = Sandboxed::new();
    let state = t.path().join("state.json");
    let run = |args: &[&str]| {
        let out = t
            .api(&sb.api)
            .env("CLAWDTALK_STATE_FILE", &state)
            .env("AGENTPHONE_API_URL", format!("{}/agentphone/api/v1", sb.root))
            .env("AGENTPHONE_API_KEY", "ap_test_0123456789abcdef")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_only_missions_at_the_top(&state, &format!("after {args:?}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["init", "Roof Repair", "Get quotes", "Three quotes"]);
    run(&["init", "Second One", "i", "r"]);
    run(&["setup-agent", "roof-repair", "Roof Agent", "Get quotes"]);
    run(&["schedule", "call", "--mission", "roof-repair", "--to", "+15005550001", "--at", "+2m"]);
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let ev = &saved["roof-repair"]["memory"]["scheduled_events"][0];
    let (aid, eid) = (ev["assistant_id"].as_str().unwrap().to_string(), ev["event_id"].as_str().unwrap().to_string());
    run(&["poll"]);
    run(&["schedule", "cancel", &aid, &eid]);
    run(&["agentphone", "call", "--to", "+15005550006", "--objective", "Book", "--mission", "roof-repair"]);
    run(&["save-memory", "roof-repair", "note", "{\"a\": 1}"]);
    run(&["mission", "complete", "second-one", "done"]);
    run(&["poll"]);
    let v: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["roof-repair", "_archive"]);
}
