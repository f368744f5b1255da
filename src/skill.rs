//! The OpenClaw skill that teaches an agent to use clawdtalk: `skill/SKILL.md`
//! (embedded in the binary, so the instructions an agent reads always match
//! the binary it runs) and the configuration example, installed into a skill
//! folder where OpenClaw looks (`~/.openclaw/skills/clawdtalk` by default).
//!
//! Why the old `clawdtalk-client` skill matters: it teaches
//! `python scripts/telnyx_api.py`, one cron job per call and hand-kept
//! `scheduled_events`, which is exactly what the missions of this skill do
//! for the agent. With both installed, the agent reads two conflicting sets
//! of instructions, so installing reports every copy of the old skill found
//! in the folders OpenClaw loads skills from.
//!
//! Everything here is blocking file work: async callers use
//! [`crate::task::blocking`].

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::openclaw;
use crate::state::write::atomic_write;

/// The skill's instructions, as `clawdtalk skill print` prints them.
pub const SKILL_MD: &str = include_str!("../skill/SKILL.md");
/// The configuration example installed beside the skill.
pub const CONFIG_EXAMPLE: &str = include_str!("../skill-config.example.json");
/// The file name OpenClaw reads in a skill folder.
pub const SKILL_FILE: &str = "SKILL.md";
/// The configuration example's file name.
pub const CONFIG_EXAMPLE_FILE: &str = "skill-config.example.json";
/// The folder name of the old Python-based skill.
pub const OLD_SKILL: &str = "clawdtalk-client";
/// The binary the skill requires (its frontmatter's `requires.bins`).
pub const BINARY: &str = "clawdtalk";

/// SKILL.md is instructions, not secrets: readable by all, like any doc.
pub const SKILL_MODE: u32 = 0o644;
/// The configuration example is the template of a file that holds API
/// keys; a copy of it (`cp` keeps the source's mode) starts private.
pub const CONFIG_EXAMPLE_MODE: u32 = 0o600;

/// Where `skill install` writes without `--dir`: OpenClaw's managed skills
/// folder, which every agent on the machine sees.
pub fn default_dir(home: &Path) -> PathBuf {
    home.join(".openclaw/skills/clawdtalk")
}

/// The skill folders OpenClaw (and Clawdbot, its former name) loads skills
/// from: the managed folders under the home directory, the personal agent
/// skills, and the default agent's workspace skills (from the gateway
/// configuration, else `~/.openclaw/workspace`).
pub fn skill_roots(home: &Path) -> Vec<PathBuf> {
    let mut roots = vec![home.join(".openclaw/skills"), home.join(".clawdbot/skills"), home.join(".agents/skills")];
    let gateway = openclaw::find_gateway_config(home).and_then(|p| openclaw::GatewayConfig::load(&p).ok());
    if let Some(ws) = openclaw::workspace_dir(None, gateway.as_ref(), home) {
        roots.push(ws.join("skills"));
        roots.push(ws.join(".agents/skills"));
    }
    roots
}

/// How one file fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Written {
    Created,
    Updated,
    /// Same bytes and mode already there: nothing was written.
    Unchanged,
}

/// One installed file.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledFile {
    pub path: PathBuf,
    /// The mode in octal (`0644`).
    pub mode: String,
    pub written: Written,
}

/// What `install` did and found.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub dir: PathBuf,
    pub files: Vec<InstalledFile>,
    /// Folders holding the old `clawdtalk-client` skill.
    pub old_skills: Vec<PathBuf>,
    /// Whether `clawdtalk` is on `PATH`: OpenClaw hides a skill whose
    /// required binaries are missing.
    pub binary_on_path: bool,
}

/// Write SKILL.md and the configuration example into `dir` (created when
/// missing) through the one atomic write, and look for the old skill in
/// `roots` and beside `dir`. Idempotent: a file already holding the same
/// bytes and mode is left alone. A dangling symlink in place of a file is
/// refused (exit 5), never followed.
pub fn install(dir: &Path, roots: &[PathBuf], path_var: Option<OsString>) -> Result<Installed> {
    let files = [(SKILL_FILE, SKILL_MD, SKILL_MODE), (CONFIG_EXAMPLE_FILE, CONFIG_EXAMPLE, CONFIG_EXAMPLE_MODE)]
        .into_iter()
        .map(|(name, text, mode)| write_file(&dir.join(name), text.as_bytes(), mode))
        .collect::<Result<Vec<_>>>()?;
    let mut candidates: Vec<PathBuf> = roots.to_vec();
    candidates.extend(dir.parent().map(Path::to_path_buf));
    Ok(Installed {
        dir: dir.to_path_buf(),
        files,
        old_skills: old_skills(&candidates),
        binary_on_path: on_path(BINARY, path_var),
    })
}

/// The `clawdtalk-client` folders under `roots`, each once.
pub fn old_skills(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for dir in roots.iter().map(|r| r.join(OLD_SKILL)).filter(|d| d.is_dir()) {
        let key = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if !found.iter().any(|f| fs::canonicalize(f).unwrap_or_else(|_| f.clone()) == key) {
            found.push(dir);
        }
    }
    found
}

/// Whether an executable file `name` is in one of the `PATH` folders.
pub fn on_path(name: &str, path_var: Option<OsString>) -> bool {
    path_var.is_some_and(|p| std::env::split_paths(&p).any(|d| is_executable(&d.join(name))))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file() || p.with_extension("exe").is_file()
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<InstalledFile> {
    let existing = fs::read(path).ok();
    let written = match existing {
        Some(old) if old == bytes && has_mode(path, mode) => Written::Unchanged,
        Some(_) => Written::Updated,
        None => Written::Created,
    };
    if written != Written::Unchanged {
        atomic_write(path, bytes, Some(mode))
            .map_err(|e| Error::file(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(InstalledFile { path: path.to_path_buf(), mode: format!("{mode:04o}"), written })
}

#[cfg(unix)]
fn has_mode(path: &Path, mode: u32) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o777 == mode)
}

/// Elsewhere there are no mode bits to compare: equal bytes are enough.
#[cfg(not(unix))]
fn has_mode(_path: &Path, _mode: u32) -> bool {
    true
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn install_writes_both_files_with_their_modes_then_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("skills/clawdtalk");
        let first = install(&dir, &[], None).unwrap();
        assert_eq!(first.files.iter().map(|f| f.written).collect::<Vec<_>>(), [Written::Created, Written::Created]);
        assert_eq!(fs::read_to_string(dir.join(SKILL_FILE)).unwrap(), SKILL_MD);
        assert_eq!(fs::read_to_string(dir.join(CONFIG_EXAMPLE_FILE)).unwrap(), CONFIG_EXAMPLE);
        assert_eq!((mode(&dir.join(SKILL_FILE)), mode(&dir.join(CONFIG_EXAMPLE_FILE))), (0o644, 0o600));
        let second = install(&dir, &[], None).unwrap();
        assert!(second.files.iter().all(|f| f.written == Written::Unchanged), "{second:?}");
    }

    #[test]
    fn an_edited_or_loosened_file_is_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        install(tmp.path(), &[], None).unwrap();
        fs::write(tmp.path().join(SKILL_FILE), "old instructions").unwrap();
        fs::set_permissions(tmp.path().join(CONFIG_EXAMPLE_FILE), fs::Permissions::from_mode(0o666)).unwrap();
        let again = install(tmp.path(), &[], None).unwrap();
        assert_eq!(again.files.iter().map(|f| f.written).collect::<Vec<_>>(), [Written::Updated, Written::Updated]);
        assert_eq!(fs::read_to_string(tmp.path().join(SKILL_FILE)).unwrap(), SKILL_MD);
        assert_eq!(mode(&tmp.path().join(CONFIG_EXAMPLE_FILE)), 0o600);
    }

    #[test]
    fn a_dangling_symlink_in_place_of_skill_md_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let link = tmp.path().join(SKILL_FILE);
        symlink(tmp.path().join("nowhere/SKILL.md"), &link).unwrap();
        let err = install(tmp.path(), &[], None).unwrap_err();
        assert_eq!(err.exit_code(), 5, "{err}");
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert!(!tmp.path().join("nowhere").exists());
    }

    #[test]
    fn the_old_skill_is_found_in_any_root_and_beside_the_target_once() {
        let tmp = tempfile::tempdir().unwrap();
        let managed = tmp.path().join(".openclaw/skills");
        fs::create_dir_all(managed.join(OLD_SKILL)).unwrap();
        let legacy = tmp.path().join(".clawdbot/skills");
        fs::create_dir_all(legacy.join(OLD_SKILL)).unwrap();
        let done = install(&managed.join("clawdtalk"), &[managed.clone(), legacy.clone()], None).unwrap();
        assert_eq!(done.old_skills, [managed.join(OLD_SKILL), legacy.join(OLD_SKILL)]);
        let clean = tempfile::tempdir().unwrap();
        assert!(install(&clean.path().join("x"), &[clean.path().to_path_buf()], None).unwrap().old_skills.is_empty());
    }

    #[test]
    fn skill_roots_include_the_gateways_workspace() {
        let home = tempfile::tempdir().unwrap();
        let ws = home.path().join("ws");
        fs::create_dir_all(&ws).unwrap();
        fs::create_dir_all(home.path().join(".openclaw")).unwrap();
        let gw = format!(r#"{{"agents":{{"defaults":{{"workspace":"{}"}}}}}}"#, ws.display());
        fs::write(home.path().join(".openclaw/openclaw.json"), gw).unwrap();
        let roots = skill_roots(home.path());
        assert!(
            roots.contains(&ws.join("skills")) && roots.contains(&home.path().join(".openclaw/skills")),
            "{roots:?}"
        );
    }

    #[test]
    fn on_path_needs_an_executable_file() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join(BINARY);
        fs::write(&bin, "").unwrap();
        let path = Some(OsString::from(format!("/nonexistent:{}", tmp.path().display())));
        assert!(!on_path(BINARY, path.clone()), "not executable yet");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(on_path(BINARY, path));
        assert!(!on_path(BINARY, None));
    }
}
