//! The install path without Rust: the release workflow and `install.sh`
//! agree on asset names, the workflow follows the hardening rules, and
//! `install.sh` installs, verifies and stays idempotent, end to end from a
//! local directory of assets (`CLAWDTALK_INSTALL_FROM`). The workflow itself
//! only runs on a tag; this is what can be checked here.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn install_sh(args: &[&str]) -> Output {
    Command::new("sh").arg(root().join("install.sh")).args(args).output().expect("sh runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn workflow(name: &str) -> Yaml {
    let text = fs::read_to_string(root().join(".github/workflows").join(name)).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn install_targets() -> BTreeSet<String> {
    stdout(&install_sh(&["--list-targets"])).lines().map(String::from).collect()
}

#[test]
fn release_workflow_builds_exactly_the_targets_install_sh_knows() {
    let wf = workflow("release.yml");
    let include = wf["jobs"]["build"]["strategy"]["matrix"]["include"].as_vec().expect("a build matrix");
    let built: BTreeSet<String> = include.iter().map(|e| e["target"].as_str().unwrap().to_string()).collect();
    assert_eq!(built, install_targets());
    for target in &built {
        assert_eq!(stdout(&install_sh(&["--asset-name", target])), format!("clawdtalk-{target}.tar.gz"));
    }
    // The workflow names its assets through install.sh, never by itself.
    let steps = wf["jobs"]["build"]["steps"].as_vec().unwrap();
    let package = steps.iter().find(|s| s["name"].as_str() == Some("Package")).expect("a Package step");
    assert!(package["run"].as_str().unwrap().contains("sh install.sh --asset-name \"$TARGET\""));
    // Static Linux and both macOS architectures.
    for t in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl", "x86_64-apple-darwin", "aarch64-apple-darwin"]
    {
        assert!(built.contains(t), "{t} is not built");
    }
}

#[test]
fn release_workflow_runs_ci_first_and_publishes_checksums() {
    let wf = workflow("release.yml");
    assert_eq!(wf["on"]["push"]["tags"][0].as_str(), Some("v*"));
    assert_eq!(wf["jobs"]["build"]["needs"].as_str(), Some("ci"));
    let ci_steps = wf["jobs"]["ci"]["steps"].as_vec().unwrap();
    assert!(ci_steps.iter().any(|s| s["run"].as_str() == Some("bash .ci/run")));
    let publish = wf["jobs"]["release"]["steps"].as_vec().unwrap();
    let text: Vec<&str> = publish.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(text.iter().any(|r| r.contains("sha256sum clawdtalk-*.tar.gz > SHA256SUMS")));
    assert!(text.iter().any(|r| r.contains("dist/SHA256SUMS") && r.contains("install.sh")));
    let build = wf["jobs"]["build"]["steps"].as_vec().unwrap();
    assert!(build.iter().filter_map(|s| s["run"].as_str()).any(|r| r.contains("--profile dist")));
}

#[test]
fn workflows_pin_actions_grant_least_permissions_and_keep_no_credentials() {
    for name in ["ci.yml", "release.yml"] {
        let wf = workflow(name);
        let top = &wf["permissions"];
        assert!(!top.is_badvalue(), "{name}: no top-level permissions");
        let jobs = wf["jobs"].as_hash().unwrap();
        for (job_name, job) in jobs {
            let job_name = job_name.as_str().unwrap();
            let perms = if job["permissions"].is_badvalue() { top } else { &job["permissions"] };
            if let Some(h) = perms.as_hash() {
                for (scope, level) in h {
                    let write = level.as_str() == Some("write");
                    assert!(
                        !write
                            || (name == "release.yml" && job_name == "release" && scope.as_str() == Some("contents")),
                        "{name}/{job_name}: {scope:?} is write"
                    );
                }
            }
            for step in job["steps"].as_vec().unwrap() {
                let Some(uses) = step["uses"].as_str() else { continue };
                let sha = uses.rsplit('@').next().unwrap();
                assert!(
                    sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                    "{name}: {uses} is not pinned by commit"
                );
                if uses.starts_with("actions/checkout@") {
                    assert_eq!(
                        step["with"]["persist-credentials"].as_bool(),
                        Some(false),
                        "{name}/{job_name}: checkout keeps credentials"
                    );
                }
            }
        }
    }
}

/// A directory of release assets as the workflow would publish them, plus
/// SHA256SUMS: this machine's asset holds `binary` as `clawdtalk`; the others
/// hold a small stand-in (packing a debug binary four times is slow).
fn assets(dir: &Path, binary: &Path) {
    let host = stdout(&install_sh(&["--detect-target"]));
    let mut sums = String::new();
    for target in install_targets() {
        let stage = dir.join(format!("stage-{target}"));
        fs::create_dir_all(&stage).unwrap();
        if target == host {
            fs::copy(binary, stage.join("clawdtalk")).unwrap();
        } else {
            fs::write(stage.join("clawdtalk"), format!("#!/bin/sh\necho {target}\n")).unwrap();
        }
        let asset = stdout(&install_sh(&["--asset-name", &target]));
        let packed = Command::new("sh")
            .arg("-c")
            .arg("tar -cf - -C \"$1\" clawdtalk | gzip -1 > \"$2\"")
            .arg("pack")
            .arg(&stage)
            .arg(dir.join(&asset))
            .status()
            .unwrap();
        assert!(packed.success());
        let sum = Command::new("sha256sum").arg(dir.join(&asset)).output().unwrap();
        let hex = stdout(&sum).split_whitespace().next().unwrap().to_string();
        sums.push_str(&format!("{hex}  {asset}\n"));
        fs::remove_dir_all(stage).unwrap();
    }
    fs::write(dir.join("SHA256SUMS"), sums).unwrap();
}

fn install_from(from: &Path, prefix: &Path) -> Output {
    Command::new("sh")
        .arg(root().join("install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .env("CLAWDTALK_INSTALL_FROM", from)
        .output()
        .unwrap()
}

#[test]
fn install_sh_installs_the_machines_asset_verified_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("assets");
    fs::create_dir_all(&from).unwrap();
    assets(&from, Path::new(env!("CARGO_BIN_EXE_clawdtalk")));
    let prefix = dir.path().join("prefix");

    let first = install_from(&from, &prefix);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let installed = prefix.join("bin/clawdtalk");
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert!(stdout(&version).starts_with("clawdtalk "), "{}", stdout(&version));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&installed).unwrap().permissions().mode() & 0o777, 0o755);
    let before = fs::metadata(&installed).unwrap().modified().unwrap();

    let again = install_from(&from, &prefix);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to do"));
    assert_eq!(fs::metadata(&installed).unwrap().modified().unwrap(), before, "a second run rewrote the binary");
    assert_eq!(fs::read_dir(prefix.join("bin")).unwrap().count(), 1, "leftover files beside the binary");
}

#[test]
fn install_sh_refuses_an_asset_whose_checksum_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("assets");
    fs::create_dir_all(&from).unwrap();
    assets(&from, Path::new(env!("CARGO_BIN_EXE_clawdtalk")));
    // Tamper with the asset this machine would pick.
    let target = stdout(&install_sh(&["--detect-target"]));
    let asset = from.join(stdout(&install_sh(&["--asset-name", &target])));
    let mut bytes = fs::read(&asset).unwrap();
    bytes.extend_from_slice(b"tampered");
    fs::write(&asset, bytes).unwrap();
    let prefix = dir.path().join("prefix");

    let out = install_from(&from, &prefix);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checksum mismatch") && err.contains("refusing"), "{err}");
    assert!(!prefix.join("bin/clawdtalk").exists(), "a tampered binary was installed");
}

#[test]
fn install_sh_refuses_an_asset_missing_from_the_checksum_list() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("assets");
    fs::create_dir_all(&from).unwrap();
    assets(&from, Path::new(env!("CARGO_BIN_EXE_clawdtalk")));
    fs::write(from.join("SHA256SUMS"), "").unwrap();
    let out = install_from(&from, &dir.path().join("prefix"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lists no"));
}

#[test]
fn install_sh_names_an_unknown_target_and_bad_usage() {
    let out = install_sh(&["--target", "sparc-sun-solaris", "--prefix", "/nonexistent"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no release asset for sparc-sun-solaris"));
    assert_eq!(install_sh(&["--bogus"]).status.code(), Some(2));
}

#[test]
fn package_metadata_is_ready_for_the_registry() {
    let toml = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for key in ["license = ", "repository = ", "keywords = ", "categories = ", "include = ", "readme = "] {
        assert!(toml.contains(key), "Cargo.toml has no {key}");
    }
    assert!(root().join("LICENSE").exists());
}
