//! `clawdtalk skill print` and `clawdtalk skill install`: the skill file
//! that teaches an OpenClaw agent clawdtalk (library: [`crate::skill`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::support::home_dir;
use super::Context;
use crate::cli::skill::{SkillCommand, SkillInstallArgs};
use crate::error::Result;
use crate::output::{Block, Outcome};
use crate::skill::{self, Installed, Written};
use crate::task::blocking;

/// Run one `skill` subcommand.
pub async fn run(ctx: &Context, c: SkillCommand) -> Result<Outcome> {
    match c {
        SkillCommand::Print => Ok(print()),
        SkillCommand::Install(a) => install(ctx, a, home_dir()?, std::env::var_os("PATH")).await,
    }
}

/// `skill print`: SKILL.md as it is embedded in this binary.
fn print() -> Outcome {
    Outcome::data(skill::SKILL_MD).line(skill::SKILL_MD.trim_end())
}

/// `skill install [--dir DIR]` with the home directory and `PATH` handed in.
async fn install(ctx: &Context, a: SkillInstallArgs, home: PathBuf, path_var: Option<OsString>) -> Result<Outcome> {
    let dir = match a.dir {
        Some(d) => resolve(&d, &home, &ctx.cwd),
        None => skill::default_dir(&home),
    };
    let done = blocking(move || skill::install(&dir, &skill::skill_roots(&home), path_var)).await?;
    Ok(report(done))
}

/// A `--dir` as typed: `~/…` is the home directory (the shell does not
/// expand a quoted `~`), a relative path is under the working directory.
fn resolve(dir: &Path, home: &Path, cwd: &Path) -> PathBuf {
    let dir = crate::openclaw::expand_home(&dir.to_string_lossy(), home);
    if dir.is_absolute() {
        dir
    } else {
        cwd.join(dir)
    }
}

fn report(done: Installed) -> Outcome {
    let fields = done
        .files
        .iter()
        .map(|f| {
            let name = f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let what = match f.written {
                Written::Created => "created",
                Written::Updated => "updated",
                Written::Unchanged => "unchanged",
            };
            (name, format!("{what} ({})", f.mode))
        })
        .collect();
    let mut out = Outcome::data(&done)
        .line(format!("Installed the clawdtalk skill in {}", done.dir.display()))
        .block(Block::Fields(fields))
        .line("OpenClaw loads it in its next session.");
    for old in &done.old_skills {
        out = out.note(format!(
            "warning: the old {} skill is installed in {}: its instructions (python scripts/telnyx_api.py, \
             one cron job per call) conflict with this skill's. Remove that folder so the agent learns one way.",
            skill::OLD_SKILL,
            old.display()
        ));
    }
    if !done.binary_on_path {
        out = out.note(format!(
            "warning: `{}` is not on PATH: OpenClaw hides a skill whose required binary is missing \
             (install it, e.g. to ~/.local/bin, or add its folder to PATH)",
            skill::BINARY
        ));
    }
    out
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::cli::Command;
    use crate::testing::{parse, text, Harness};

    fn args(line: &[&str]) -> SkillInstallArgs {
        match parse(line) {
            Command::Skill(SkillCommand::Install(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn install_defaults_to_openclaws_managed_folder_and_warns_about_the_old_skill() {
        let h = Harness::start().await;
        let home = h.dir().join("home");
        std::fs::create_dir_all(home.join(".clawdbot/skills/clawdtalk-client")).unwrap();
        let out = install(&h.ctx(), args(&["skill", "install"]), home.clone(), None).await.unwrap();
        let dir = home.join(".openclaw/skills/clawdtalk");
        assert_eq!(std::fs::read_to_string(dir.join("SKILL.md")).unwrap(), skill::SKILL_MD);
        assert!(text(&out).contains("SKILL.md:") && text(&out).contains("created (0644)"), "{}", text(&out));
        assert_eq!(out.data["files"][1]["written"], "created");
        let notes = out.notes.join("\n");
        assert!(notes.contains("clawdtalk-client") && notes.contains(".clawdbot/skills"), "{notes}");
        assert!(notes.contains("not on PATH"), "{notes}");
        assert_eq!(out.exit_code, 0);

        let again = install(&h.ctx(), args(&["skill", "install"]), home, None).await.unwrap();
        assert!(text(&again).contains("unchanged (0644)") && !text(&again).contains("created"), "{}", text(&again));
    }

    #[tokio::test]
    async fn a_relative_or_tilde_dir_is_resolved_and_a_clean_machine_gets_no_warning() {
        let h = Harness::start().await;
        let home = h.dir().join("home");
        let bin = h.dir().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("clawdtalk"), "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("clawdtalk"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = Some(bin.into_os_string());
        let out =
            install(&h.ctx(), args(&["skill", "install", "--dir", "ws/skills/clawdtalk"]), home.clone(), path.clone())
                .await
                .unwrap();
        assert!(h.dir().join("ws/skills/clawdtalk/skill-config.example.json").is_file());
        assert!(out.notes.is_empty(), "{:?}", out.notes);
        install(&h.ctx(), args(&["skill", "install", "--dir", "~/elsewhere"]), home.clone(), path).await.unwrap();
        assert!(home.join("elsewhere/SKILL.md").is_file());
    }

    #[test]
    fn print_is_the_embedded_skill_file() {
        let out = print();
        assert_eq!(out.data, serde_json::Value::String(skill::SKILL_MD.to_string()));
        assert!(text(&out).starts_with("---\nname: clawdtalk\n"), "{}", text(&out));
    }
}
