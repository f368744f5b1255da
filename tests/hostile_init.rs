//! `init` is safe to retry and to race (docs/protocol.md#workflows): many
//! inits of one name create one mission, an unwritable state file stops it
//! before any request, and a pending record left by a crash is resumed by
//! adopting the mission it created, never an older one of the same name.

mod common;

use std::path::Path;

use common::sandbox::TestSandbox;
use common::Sandboxed;
use serde_json::{json, Value};

/// The sandbox's missions named `name`.
fn missions_named(sb: &TestSandbox, name: &str) -> Vec<Value> {
    let list = sb.call("GET", "/v1/missions?page[size]=100", None).json;
    let all = list["missions"].as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|m| m["name"] == name).collect()
}

fn init(t: &Sandboxed, sb: &TestSandbox, state: &Path, name: &str) -> assert_cmd::Command {
    let mut c = t.api(&sb.api);
    c.env("CLAWDTALK_STATE_FILE", state).args(["--json", "init", name, "Call and compare", "Need quotes"]);
    c
}

fn stdout_json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn six_concurrent_inits_of_one_name_create_one_mission_and_all_report_it() {
    let sb = TestSandbox::start();
    for round in 0..3 {
        let t = Sandboxed::new();
        let state = t.path().join("state.json");
        let name = format!("Race round {round}");
        let outs = common::run_at_once((0..6).map(|_| init(&t, &sb, &state, &name)).collect());
        let ids: Vec<Value> = outs.iter().map(|o| stdout_json(o)["mission_id"].clone()).collect();
        let on_service = missions_named(&sb, &name);
        assert_eq!(on_service.len(), 1, "round {round}: {on_service:?}");
        assert!(ids.iter().all(|id| *id == on_service[0]["id"]), "round {round}: {ids:?}");
        let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert_eq!(saved[format!("race-round-{round}")]["mission_id"], on_service[0]["id"]);
        let created = outs.iter().filter(|o| stdout_json(o)["resumed"] == false).count();
        assert_eq!(created, 1, "exactly one init created it, the others resumed it");
    }
}

#[test]
fn an_unwritable_state_location_stops_init_before_any_request() {
    let sb = TestSandbox::start();
    let t = Sandboxed::new();
    // A regular file where the state directory should be: no user, root
    // included, can create the state file there.
    let blocker = t.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let out = init(&t, &sb, &blocker.join("state.json"), "Orphan check").output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout_json(&out)["error"]["exit_code"], 5);
    assert!(missions_named(&sb, "Orphan check").is_empty(), "no orphan mission");
}

#[cfg(unix)]
#[test]
fn a_read_only_state_directory_stops_init_before_any_request() {
    use std::os::unix::fs::PermissionsExt;
    let sb = TestSandbox::start();
    let t = Sandboxed::new();
    let dir = t.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(dir.join("probe"), "").is_ok() {
        eprintln!("skipped: this user (root?) can write to a read-only directory");
        return;
    }
    for _ in 0..2 {
        let out = init(&t, &sb, &dir.join("state.json"), "Read only").output().unwrap();
        assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(missions_named(&sb, "Read only").is_empty(), "retries leave no orphan missions");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A state file as an init leaves it when it dies between creating the
/// mission on the service and saving its id.
fn crashed_state(state: &Path, slug: &str, name: &str, since: &str) {
    let body = json!({ slug: {"mission_name": name, "init_pending": {"since": since}} });
    std::fs::write(state, serde_json::to_vec_pretty(&body).unwrap()).unwrap();
}

#[test]
fn an_init_after_a_crash_adopts_the_mission_the_crashed_init_created() {
    let sb = TestSandbox::start();
    let t = Sandboxed::new();
    let state = t.path().join("state.json");
    crashed_state(&state, "crash-test", "Crash Test", "2000-01-01T00:00:00.000000Z");
    let made = sb.call("POST", "/v1/missions", Some(json!({"name": "Crash Test", "instructions": "i"}))).json;
    let id = made["mission"]["id"].clone();
    let out = init(&t, &sb, &state, "Crash Test").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout_json(&out)["mission_id"], id);
    assert_eq!(missions_named(&sb, "Crash Test").len(), 1, "adopted, not duplicated");
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["crash-test"]["mission_id"], id);
    assert_eq!(saved["crash-test"]["status"], "running");
    assert!(saved["crash-test"].get("init_pending").is_none());
}

#[test]
fn an_older_mission_of_the_same_name_is_never_adopted() {
    let sb = TestSandbox::start();
    let t = Sandboxed::new();
    let state = t.path().join("state.json");
    let old = sb.call("POST", "/v1/missions", Some(json!({"name": "Old Name", "instructions": "i"}))).json;
    let old_id = old["mission"]["id"].clone();
    let created: chrono::DateTime<chrono::Utc> = old["mission"]["created_at"].as_str().unwrap().parse().unwrap();
    let since = (created + chrono::Duration::seconds(2)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    crashed_state(&state, "old-name", "Old Name", &since);
    let out = init(&t, &sb, &state, "Old Name").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new_id = stdout_json(&out)["mission_id"].clone();
    assert_ne!(new_id, old_id);
    assert_eq!(missions_named(&sb, "Old Name").len(), 2, "the old one is left alone, one new one is made");
}
