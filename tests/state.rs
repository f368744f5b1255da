//! The state file and the `state`/`memory` commands, through the built
//! binary: concurrency, crash safety, compatibility with telnyx_api.py's
//! files, location rules, slug errors and the original output lines.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::Sandboxed;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("fixtures/python_state.json");

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// A sandbox whose state file (`$CLAWDTALK_STATE_FILE`) holds `body`.
fn with_state(body: &str) -> (Sandboxed, PathBuf) {
    let t = Sandboxed::new();
    let p = t.path().join("state.json");
    std::fs::write(&p, body).unwrap();
    (t, p)
}

fn cmd(t: &Sandboxed, p: &Path) -> assert_cmd::Command {
    let mut c = t.cmd();
    c.env("CLAWDTALK_STATE_FILE", p);
    c
}

#[test]
fn twenty_concurrent_writers_appending_25_items_each_lose_nothing() {
    let (t, p) = with_state(r#"{"race": {"mission_name": "Race", "memory": {}}}"#);
    let bin = assert_cmd::cargo::cargo_bin("clawdtalk");
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|w| {
                let (bin, p, home) = (bin.clone(), p.clone(), t.home());
                scope.spawn(move || {
                    let mut failed = Vec::new();
                    for i in 0..25 {
                        let out = std::process::Command::new(&bin)
                            .env_clear()
                            .env("HOME", &home)
                            .env("CLAWDTALK_STATE_FILE", &p)
                            .args(["append-memory", "race", "items", &format!("{{\"w\":{w},\"i\":{i}}}")])
                            .output()
                            .unwrap();
                        if !out.status.success() {
                            failed.push(String::from_utf8_lossy(&out.stderr).into_owned());
                        }
                    }
                    failed
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "{} processes failed: {:?}", failures.len(), failures.first());
    let items = read_json(&p)["race"]["memory"]["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 500);
    for w in 0..20 {
        for i in 0..25 {
            assert!(items.contains(&json!({"w": w, "i": i})), "item w={w} i={i} lost");
        }
    }
}

#[test]
fn a_writer_killed_at_random_moments_never_leaves_a_broken_file() {
    use rand::Rng;
    // A big file makes each write take long enough for kills to land mid-write.
    let items: Vec<Value> =
        (0..4000).map(|i| json!({"name": format!("Lead {i} — Müller"), "phone": "+15551234567", "i": i})).collect();
    let body = json!({"big": {"mission_name": "Big", "memory": {"leads": items}}}).to_string();
    let (t, p) = with_state(&body);
    let bin = assert_cmd::cargo::cargo_bin("clawdtalk");
    let spawn = || {
        std::process::Command::new(&bin)
            .env_clear()
            .env("HOME", t.home())
            .env("CLAWDTALK_STATE_FILE", &p)
            .args(["append-memory", "big", "leads", "{\"new\":true}"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long one whole append takes here, to spread the kills over it.
    let start = Instant::now();
    assert!(spawn().wait().unwrap().success());
    let full = start.elapsed();
    let mut rng = rand::rng();
    let mut last = 4001;
    let mut killed_running = 0;
    let mut round = 0;
    // Keep going until at least 50 kills landed on a writer that was still
    // running (timing on a busy machine varies), with a bound.
    while killed_running < 50 {
        round += 1;
        assert!(round <= 400, "only {killed_running} kills hit a running writer in 400 rounds");
        let mut child = spawn();
        std::thread::sleep(full.mul_f64(rng.random_range(0.0..0.9)));
        if child.try_wait().unwrap().is_none() {
            killed_running += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let text = std::fs::read(&p).unwrap();
        let v: Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("round {round}: state file does not parse after SIGKILL: {e}"));
        let n = v["big"]["memory"]["leads"].as_array().unwrap().len();
        assert!(n == last || n == last + 1, "round {round}: {last} items became {n}");
        last = n;
    }
    // The next writer works normally after all those kills.
    cmd(&t, &p).args(["append-memory", "big", "leads", "after"]).assert().success();
    assert_eq!(read_json(&p)["big"]["memory"]["leads"].as_array().unwrap().len(), last + 1);
}

#[test]
fn a_file_written_by_telnyx_api_py_loads_and_round_trips_byte_for_byte() {
    let (t, p) = with_state(FIXTURE);
    // A write that changes nothing but one memory key…
    cmd(&t, &p).args(["save-memory", "book-dentist", "k", "v"]).assert().success();
    let after = read_json(&p);
    let mut expected: Value = serde_json::from_str(FIXTURE).unwrap();
    expected["book-dentist"]["memory"]["k"] = json!("v");
    expected["book-dentist"]["last_updated"] = after["book-dentist"]["last_updated"].clone();
    // …keeps every other field, unknown ones included, and their order.
    assert_eq!(after, expected);
    assert_eq!(after["find-window-washers"]["owner_notes"], "added by hand");
    assert_eq!(after["find-window-washers"]["memory"]["scheduled_events"][0]["conversation_id"], "conv_9f8e");
}

#[test]
fn rewriting_a_python_file_gives_the_bytes_python_would_write() {
    let (t, p) = with_state(FIXTURE);
    cmd(&t, &p).args(["remove-state", "typo-entry"]).assert().success();
    // The fixture is exactly `json.dumps(state, indent=2)`; without its last
    // entry Python would write the same text with that block cut out.
    let cut = FIXTURE.find(",\n  \"typo-entry\"").unwrap();
    let expected = format!("{}\n}}", &FIXTURE[..cut]);
    assert_eq!(std::fs::read_to_string(&p).unwrap(), expected);
}

#[test]
fn legacy_state_words_print_the_original_lines() {
    let (t, p) = with_state(FIXTURE);
    cmd(&t, &p).arg("list-state").assert().success().stdout(
        "find-window-washers: Find Window Washers [unknown]\nbook-dentist: Book Dentist [running]\ntypo-entry: None [unknown]\n",
    );
    cmd(&t, &p).args(["get-memory", "find-window-washers", "budget"]).assert().success().stdout("400\n");
    cmd(&t, &p).args(["get-memory", "find-window-washers", "nothing"]).assert().success().stdout("No memory found\n");
    cmd(&t, &p).args(["get-memory", "book-dentist"]).assert().success().stdout("{}\n");
    let out = cmd(&t, &p).args(["get-memory", "find-window-washers", "call_results"]).assert().success();
    let shown: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(shown, json!({"+15551234567": {"quote": 350, "available": true}}));
    cmd(&t, &p)
        .args(["save-memory", "book-dentist", "slot", "{\"day\":\"Mon\"}"])
        .assert()
        .success()
        .stdout("Saved memory 'slot' for mission 'book-dentist'\n");
    cmd(&t, &p)
        .args(["append-memory", "find-window-washers", "budget", "450"])
        .assert()
        .success()
        .stdout("Appended to memory 'budget' for mission 'find-window-washers' (now 2 items)\n");
    let v = read_json(&p);
    assert_eq!(v["book-dentist"]["memory"]["slot"], json!({"day": "Mon"}));
    assert_eq!(v["find-window-washers"]["memory"]["budget"], json!(["400", "450"]));
    let out = cmd(&t, &p).args(["get-state", "book-dentist"]).assert().success();
    let shown: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(shown, v["book-dentist"]);
    cmd(&t, &p).args(["remove-state", "typo-entry"]).assert().success().stdout("Removed typo-entry from state\n");
    assert!(read_json(&p).get("typo-entry").is_none());
}

#[test]
fn every_slug_argument_also_accepts_the_mission_id() {
    let (t, p) = with_state(FIXTURE);
    let mid = "0b9d7e55-1c2a-4f3e-b8d7-6a5c4b3a2910";
    cmd(&t, &p)
        .args(["append-memory", mid, "notes", "hello"])
        .assert()
        .success()
        .stdout("Appended to memory 'notes' for mission 'book-dentist' (now 1 items)\n");
    cmd(&t, &p).args(["memory", "get", mid, "notes"]).assert().success().stdout("[\n  \"hello\"\n]\n");
    cmd(&t, &p).args(["state", "get", mid]).assert().success().stdout(contains("Book Dentist"));
    cmd(&t, &p).args(["state", "remove", mid]).assert().success().stdout("Removed book-dentist from state\n");
}

#[test]
fn unknown_slug_is_an_error_that_lists_known_slugs_and_suggests_the_closest() {
    let (t, p) = with_state(FIXTURE);
    for args in [
        vec!["get-state", "find-windw-washers"],
        vec!["get-memory", "find-windw-washers"],
        vec!["remove-state", "find-windw-washers"],
        vec!["state", "get", "find-windw-washers"],
    ] {
        cmd(&t, &p).args(&args).assert().code(2).stderr(
            contains("Did you mean 'find-window-washers'?")
                .and(contains("Known slugs: find-window-washers, book-dentist, typo-entry")),
        );
    }
    assert_eq!(std::fs::read_to_string(&p).unwrap(), FIXTURE);
}

#[test]
fn memory_writes_to_an_unknown_slug_need_create_and_say_the_exact_fix() {
    let (t, p) = with_state(FIXTURE);
    cmd(&t, &p).args(["save-memory", "book-dentst", "k", "some value"]).assert().code(2).stderr(
        contains("Did you mean 'book-dentist'?")
            .and(contains("clawdtalk save-memory --create book-dentst k 'some value'")),
    );
    cmd(&t, &p)
        .args(["memory", "append", "new-one", "k", "v"])
        .assert()
        .code(2)
        .stderr(contains("clawdtalk memory append --create new-one k v"));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), FIXTURE, "a refused write changed the file");
    cmd(&t, &p)
        .args(["append-memory", "--create", "new-one", "k", "v"])
        .assert()
        .success()
        .stdout("Appended to memory 'k' for mission 'new-one' (now 1 items)\n");
    assert_eq!(read_json(&p)["new-one"]["memory"]["k"], json!(["v"]));
    cmd(&t, &p)
        .args(["memory", "save", "--create", "Not A Slug", "k", "v"])
        .assert()
        .code(2)
        .stderr(contains("use 'not-a-slug'"));
}

#[test]
fn empty_state_file_error_says_how_to_start() {
    let t = Sandboxed::new();
    t.cmd().args(["get-state", "x"]).assert().code(2).stderr(contains("no active missions").and(contains("init")));
    t.cmd().arg("list-state").assert().success().stdout("");
}

#[test]
fn state_path_follows_flag_then_env_then_cwd_file_then_data_dir() {
    let t = Sandboxed::new();
    let data = t.home().join(".local/share/clawdtalk/missions_state.json");
    t.cmd().args(["state", "path"]).assert().success().stdout(format!("{}\n", data.display()));
    std::fs::write(t.work().join(".missions_state.json"), "{}").unwrap();
    let local = t.work().join(".missions_state.json");
    t.cmd()
        .args(["state", "path"])
        .assert()
        .success()
        .stdout(format!("{}\n", local.display()))
        .stderr(contains("working directory"));
    let env_file = t.path().join("env.json");
    t.cmd()
        .env("CLAWDTALK_STATE_FILE", &env_file)
        .args(["state", "path"])
        .assert()
        .success()
        .stdout(format!("{}\n", env_file.display()));
    t.cmd()
        .env("CLAWDTALK_STATE_FILE", &env_file)
        .args(["--state", "flag.json", "state", "path"])
        .assert()
        .success()
        .stdout(format!("{}\n", t.work().join("flag.json").display()));
}

#[test]
fn the_data_dir_file_is_shared_by_every_working_directory() {
    let t = Sandboxed::new();
    t.cmd().args(["save-memory", "--create", "shared", "k", "v"]).assert().success();
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    t.cmd().current_dir(&elsewhere).args(["get-memory", "shared", "k"]).assert().success().stdout("v\n");
    assert!(t.home().join(".local/share/clawdtalk/missions_state.json").is_file());
}

#[test]
fn state_list_shows_a_table_and_json() {
    let (t, p) = with_state(FIXTURE);
    cmd(&t, &p)
        .args(["state", "list"])
        .assert()
        .success()
        .stdout(contains("SLUG").and(contains("book-dentist         Book Dentist         running")));
    let out = cmd(&t, &p).args(["--json", "state", "list"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[0]["slug"], "find-window-washers");
    assert!(v[0].get("memory").is_none());
}

#[test]
fn a_memory_value_that_is_broken_json_is_refused_before_writing() {
    let (t, p) = with_state(FIXTURE);
    cmd(&t, &p)
        .args(["save-memory", "book-dentist", "k", "{broken"])
        .assert()
        .code(2)
        .stderr(contains("VALUE is not valid JSON"));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), FIXTURE);
}

#[test]
fn a_state_file_that_is_not_json_is_reported_with_exit_5_and_left_alone() {
    let (t, p) = with_state("{\"a\": {");
    cmd(&t, &p)
        .args(["save-memory", "a", "k", "v"])
        .assert()
        .code(5)
        .stderr(contains("not valid JSON").and(contains("state.json")));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\": {");
}

#[test]
fn readers_are_not_blocked_while_another_process_holds_the_write_lock() {
    use fs4::fs_std::FileExt;
    let (t, p) = with_state(FIXTURE);
    // Hold the sidecar lock as a writer in another process would.
    let lock_path = p.with_file_name("state.json.lock");
    let lock =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lock_path).unwrap();
    FileExt::lock_exclusive(&lock).unwrap();
    let quick = std::time::Duration::from_secs(20);
    cmd(&t, &p)
        .args(["memory", "get", "find-window-washers", "budget"])
        .timeout(quick)
        .assert()
        .code(0)
        .stdout("400\n");
    cmd(&t, &p).args(["get-memory", "find-window-washers", "budget"]).timeout(quick).assert().code(0).stdout("400\n");
    cmd(&t, &p).args(["state", "get", "book-dentist"]).timeout(quick).assert().code(0).stdout(contains("Book Dentist"));
    cmd(&t, &p).args(["list-state"]).timeout(quick).assert().code(0).stdout(contains("book-dentist: Book Dentist"));
    // The lock is the one writers take: a writer waits for it (and loses nothing).
    let mut writer = std::process::Command::new(assert_cmd::cargo::cargo_bin("clawdtalk"))
        .env_clear()
        .env("HOME", t.home())
        .env("CLAWDTALK_STATE_FILE", &p)
        .args(["append-memory", "book-dentist", "notes", "while locked"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let waited = writer.try_wait().unwrap().is_none();
    assert!(read_json(&p)["book-dentist"]["memory"].get("notes").is_none(), "a write went through the held lock");
    FileExt::unlock(&lock).unwrap();
    assert!(writer.wait().unwrap().success());
    assert!(waited, "the writer did not wait for the lock");
    assert_eq!(read_json(&p)["book-dentist"]["memory"]["notes"], json!(["while locked"]));
}
