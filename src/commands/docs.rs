//! `clawdtalk completions bash|zsh|fish` and `clawdtalk man [COMMAND]`:
//! generated from the clap definitions, so they never drift from the CLI.

use clap::CommandFactory;

use crate::cli::docs::{CompletionsArgs, ManArgs, Shell};
use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::output::Outcome;

/// The completion script for `shell`, as text.
pub fn completion_script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    let gen = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(gen, &mut cmd, "clawdtalk", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// `completions SHELL`: the script on stdout (source it, or save it where
/// the shell looks for completions; README shows where).
pub fn completions(a: CompletionsArgs) -> Result<Outcome> {
    let script = completion_script(a.shell);
    let line = script.trim_end().to_string();
    Ok(Outcome::data(script).line(line))
}

/// The man page (roff) of the whole CLI, or of one command (`clawdtalk-call`).
pub fn man_page(command: Option<&str>) -> Result<String> {
    let mut root = Cli::command();
    root.build();
    let cmd = match command {
        None => root,
        Some(name) => {
            let found = root.get_subcommands().find(|c| c.get_name() == name && !c.is_hide_set()).cloned();
            let sub = found.ok_or_else(|| {
                let names: Vec<&str> =
                    root.get_subcommands().filter(|c| !c.is_hide_set()).map(|c| c.get_name()).collect();
                Error::usage(format!("no command {name:?}; man pages exist for: {}", names.join(", ")))
            })?;
            // After `build()`, a subcommand's display name is `clawdtalk-<name>`,
            // which clap_mangen uses as the page title.
            sub
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| Error::failed(format!("cannot render the man page: {e}")))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `man [COMMAND]`: roff on stdout (`clawdtalk man | man -l -`).
pub fn man(a: ManArgs) -> Result<Outcome> {
    let page = man_page(a.command.as_deref())?;
    let line = page.trim_end().to_string();
    Ok(Outcome::data(page).line(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_complete_the_nouns() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = completion_script(shell);
            assert!(s.contains("approval") && s.contains("sms"), "{shell:?}");
        }
    }

    #[test]
    fn man_pages_for_the_cli_and_one_command() {
        assert!(man_page(None).unwrap().contains(".TH clawdtalk"));
        let call = man_page(Some("call")).unwrap();
        assert!(call.contains("clawdtalk\\-call") && call.contains("\\-\\-purpose"), "{call}");
        assert!(matches!(man_page(Some("nope")), Err(Error::Usage(_))));
    }
}
