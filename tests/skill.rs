//! `clawdtalk skill` as a user runs it (isolated HOME), and skill/SKILL.md's
//! mission block run line by line, as written, by a real shell against the
//! sandbox: the lines an agent copies must work, not only parse.

mod common;

use std::path::Path;

use common::sandbox::{SandboxOptions, TestSandbox};
use common::{Sandboxed, TEST_KEY};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::Value;

fn skill_md() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("skill/SKILL.md")).unwrap()
}

#[test]
fn skill_print_is_skill_md() {
    let t = Sandboxed::new();
    let out = t.cmd().args(["skill", "print"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), skill_md());
}

#[test]
fn skill_install_twice_with_the_old_skill_present() {
    let t = Sandboxed::new();
    std::fs::create_dir_all(t.home().join(".openclaw/skills/clawdtalk-client")).unwrap();
    t.cmd()
        .args(["skill", "install"])
        .assert()
        .success()
        .stdout(contains("SKILL.md:").and(contains("created (0644)")))
        .stderr(contains("old clawdtalk-client skill is installed"));
    let dir = t.home().join(".openclaw/skills/clawdtalk");
    assert_eq!(std::fs::read_to_string(dir.join("SKILL.md")).unwrap(), skill_md());
    let out = t.cmd().args(["--json", "skill", "install"]).output().unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["files"][0]["written"], "unchanged", "{doc}");
    assert_eq!(doc["files"][1]["written"], "unchanged", "{doc}");
    assert_eq!(doc["old_skills"][0], t.home().join(".openclaw/skills/clawdtalk-client").display().to_string());
}

#[test]
fn skill_install_into_a_dangling_symlink_fails_with_exit_5() {
    let t = Sandboxed::new();
    let dir = t.path().join("skills/clawdtalk");
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(t.path().join("gone/SKILL.md"), dir.join("SKILL.md")).unwrap();
    #[cfg(unix)]
    t.cmd().args(["skill", "install", "--dir"]).arg(&dir).assert().code(5).stderr(contains("symlink"));
}

/// The first `sh` block of SKILL.md that starts a mission.
fn mission_block(text: &str) -> Vec<String> {
    let mut blocks = text.split("```sh\n").skip(1).map(|b| b.split("```").next().unwrap_or_default());
    let block = blocks.find(|b| b.contains("mission init")).expect("SKILL.md has a mission block");
    block.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect()
}

#[test]
fn skill_md_mission_block_runs_as_written_against_the_sandbox() {
    let sandbox = TestSandbox::with(SandboxOptions { speed: 600.0, ..SandboxOptions::default() });
    let t = Sandboxed::new();
    let exe = assert_cmd::cargo::cargo_bin("clawdtalk");
    let path = format!("{}:{}", exe.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let run = |line: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", t.home())
            .env("XDG_CONFIG_HOME", t.home().join(".config"))
            .env("XDG_DATA_HOME", t.home().join(".local/share"))
            .env("CLAWDTALK_API_URL", &sandbox.api)
            .env("CLAWDTALK_API_KEY", TEST_KEY)
            .current_dir(t.work())
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(out.status.success(), "`{line}` failed:\n{}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    };
    let lines = mission_block(&skill_md());
    assert!(lines.len() >= 6, "{lines:?}");
    let watch = "clawdtalk poll --watch --mission roof-repair-quotes";
    assert!(skill_md().contains(&format!("`{watch}`")), "SKILL.md lost `{watch}`");
    for line in &lines {
        if line.starts_with("clawdtalk mission status") {
            run(watch);
            let status: Value = serde_json::from_str(&run(line)).unwrap();
            assert_eq!(status["run_status"], "running", "{status}");
            assert_eq!(status["pending_events"], 0, "poll --watch followed every call: {status}");
            assert_eq!(status["targets"].as_array().map(Vec::len), Some(2), "{status}");
        } else {
            run(line);
        }
    }
    let done = run("clawdtalk --json mission status roof-repair-quotes");
    let done: Value = serde_json::from_str(&done).unwrap();
    assert_eq!((&done["run_status"], &done["archived"]), (&Value::from("succeeded"), &Value::Bool(true)), "{done}");
}
