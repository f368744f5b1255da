//! `clawdtalk completions SHELL`, `clawdtalk man [COMMAND...]` and the
//! Markdown CLI reference (docs/cli.md): all generated from the clap
//! definitions, so they never drift from the CLI.

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
        Shell::PowerShell => clap_complete::Shell::PowerShell,
        Shell::Elvish => clap_complete::Shell::Elvish,
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

/// The man page (roff) of the whole CLI, or of one command given as the
/// words typed (`["schedule", "call"]` is the page `clawdtalk-schedule-call`).
/// Hidden commands (the telnyx_api.py words) have no page of their own.
pub fn man_page(path: &[String]) -> Result<String> {
    let mut root = Cli::command();
    // After `build()`, a subcommand's display name is `clawdtalk-<name>`
    // (`clawdtalk-schedule-call` for nested ones), which clap_mangen uses as
    // the page title.
    root.build();
    let mut cmd = root;
    for (depth, name) in path.iter().enumerate() {
        let found = cmd.get_subcommands().find(|c| c.get_name() == name && !c.is_hide_set()).cloned();
        cmd = match found {
            Some(sub) => sub,
            None => {
                let names: Vec<&str> = cmd
                    .get_subcommands()
                    .filter(|c| !c.is_hide_set() && c.get_name() != "help")
                    .map(|c| c.get_name())
                    .collect();
                let typed = path[..=depth].join(" ");
                let within = if depth == 0 { String::new() } else { format!(" {}", path[..depth].join(" ")) };
                let msg = if names.is_empty() {
                    format!("no command {typed:?}: `clawdtalk{within}` has no subcommands")
                } else {
                    format!("no command {typed:?}; man pages exist for `clawdtalk{within}` {}", names.join(", "))
                };
                return Err(Error::usage(msg));
            }
        };
    }
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| Error::failed(format!("cannot render the man page: {e}")))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `man [COMMAND...]`: roff on stdout (`clawdtalk man | man -l -`).
pub fn man(a: ManArgs) -> Result<Outcome> {
    let page = man_page(&a.command)?;
    let line = page.trim_end().to_string();
    Ok(Outcome::data(page).line(line))
}

/// The Markdown CLI reference kept in docs/cli.md: every visible command
/// with its description, usage, arguments, options and examples, in the
/// order `--help` lists them. A test regenerates it and compares, so the
/// page cannot drift from the parser.
pub fn cli_reference() -> String {
    let mut root = Cli::command();
    root.build();
    let mut out = String::from(
        "# Command-line reference\n\n\
         <!-- Generated from the clap definitions; do not edit by hand.\n     \
         Regenerate with: UPDATE_DOCS=1 cargo test --test docs -->\n\n\
         Every command of `clawdtalk`, as `clawdtalk <command> --help` shows it. The \
         telnyx_api.py command words (`create-mission`, `log-event`, ...) are accepted too \
         and are listed in [legacy-words.md](legacy-words.md).\n\n## Global options\n\n\
         Every command takes these.\n\n",
    );
    for arg in root.get_arguments().filter(|a| a.is_global_set()) {
        out.push_str(&arg_line(arg));
    }
    out.push('\n');
    for sub in visible_subcommands(&root) {
        command_section(&mut out, sub);
    }
    let end = out.trim_end().len();
    out.truncate(end);
    out.push('\n');
    out
}

/// Subcommands a user can see: not hidden, not clap's generated `help`.
fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|c| !c.is_hide_set() && c.get_name() != "help")
}

/// One command's section, then its subcommands' (depth first).
fn command_section(out: &mut String, cmd: &clap::Command) {
    // After `build()` the bin name is the path as typed (`clawdtalk schedule call`).
    let path = cmd.get_bin_name().unwrap_or(cmd.get_name());
    out.push_str(&format!("## `{path}`\n\n"));
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&format!("{}\n\n", about.to_string().trim()));
    }
    let usage = cmd.clone().render_usage().to_string();
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    out.push_str(&format!("```text\n{usage}\n```\n\n"));
    let (positionals, options): (Vec<_>, Vec<_>) = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version"))
        .partition(|a| a.is_positional());
    for (title, args) in [("Arguments", positionals), ("Options", options)] {
        if !args.is_empty() {
            out.push_str(&format!("{title}:\n\n"));
            for arg in args {
                out.push_str(&arg_line(arg));
            }
            out.push('\n');
        }
    }
    let subs: Vec<_> = visible_subcommands(cmd).collect();
    if !subs.is_empty() {
        out.push_str("Commands:\n\n");
        for sub in &subs {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push_str(&format!("- `{}`: {}\n", sub.get_name(), about.trim()));
        }
        out.push('\n');
    }
    if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        out.push_str(&format!("```text\n{}\n```\n\n", after.to_string().trim_end()));
    }
    for sub in subs {
        command_section(out, sub);
    }
}

/// One list item: `--name <VALUE>` (or `<NAME>`), its help, default,
/// possible values and environment variable.
fn arg_line(arg: &clap::Arg) -> String {
    let values: Vec<String> = arg.get_value_names().unwrap_or_default().iter().map(|v| format!("<{v}>")).collect();
    let mut name = match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("-{s}, --{l}"),
        (None, Some(l)) => format!("--{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, None) => String::new(),
    };
    let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
    if takes_value || arg.is_positional() {
        let v =
            if values.is_empty() { format!("<{}>", arg.get_id().as_str().to_uppercase()) } else { values.join(" ") };
        name = if name.is_empty() { v } else { format!("{name} {v}") };
        if arg.get_num_args().is_some_and(|n| n.max_values() > 1) {
            name.push_str("...");
        }
    }
    let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    let mut text = help.trim().replace('\n', " ");
    let possible: Vec<String> =
        arg.get_possible_values().iter().filter(|p| !p.is_hide_set()).map(|p| p.get_name().to_string()).collect();
    let is_bool = !takes_value && !arg.is_positional();
    if !possible.is_empty() && !is_bool {
        text.push_str(&format!(" [possible values: {}]", possible.join(", ")));
    }
    let defaults: Vec<String> = arg.get_default_values().iter().map(|d| d.to_string_lossy().into_owned()).collect();
    if !defaults.is_empty() && !is_bool {
        text.push_str(&format!(" [default: {}]", defaults.join(", ")));
    }
    if let Some(env) = arg.get_env() {
        text.push_str(&format!(" [env: {}]", env.to_string_lossy()));
    }
    format!("- `{name}`: {}\n", text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn help_of(line: &str) -> String {
        let args = std::iter::once("clawdtalk").chain(line.split_whitespace()).chain(["--help"]);
        match Cli::try_parse_from(args) {
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.to_string(),
            other => panic!("{line} --help did not print help: {other:?}"),
        }
    }

    #[test]
    fn every_shell_clap_complete_knows_has_a_script() {
        let s = completion_script(Shell::PowerShell);
        assert!(s.contains("Register-ArgumentCompleter") && s.contains("mission"), "{s}");
        assert!(completion_script(Shell::Elvish).contains("mission"));
        let parsed = Cli::try_parse_from(["clawdtalk", "completions", "powershell"]).unwrap();
        assert!(matches!(
            parsed.command,
            crate::cli::Command::Completions(CompletionsArgs { shell: Shell::PowerShell })
        ));
    }

    #[test]
    fn man_pages_for_nested_commands_are_titled_by_their_path() {
        let page = man_page(&words("schedule call")).unwrap();
        assert!(page.contains(".TH clawdtalk-schedule-call "), "{page}");
        assert!(page.contains("\\-\\-assistant"), "{page}");
        let parsed = Cli::try_parse_from(["clawdtalk", "man", "schedule", "call"]).unwrap();
        assert!(
            matches!(parsed.command, crate::cli::Command::Man(ManArgs { ref command }) if command == &words("schedule call"))
        );
        match man_page(&words("schedule nope")) {
            Err(Error::Usage(m)) => assert!(m.contains("`clawdtalk schedule` call, sms"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mission_help_says_what_a_mission_is_and_names_every_verb() {
        let help = help_of("mission");
        assert!(help.contains("A mission is one calling task"), "{help}");
        let root = Cli::command();
        let mission = root.find_subcommand("mission").unwrap();
        let about = mission.get_about().unwrap().to_string();
        let verbs: Vec<&str> = visible_subcommands(mission).map(|c| c.get_name()).collect();
        assert_eq!(verbs.len(), 11, "{verbs:?}");
        let listed = about.trim_start_matches("Missions:").trim().trim_end_matches('.');
        assert_eq!(listed.split(", ").collect::<Vec<_>>(), verbs, "{about}");
    }

    /// Each noun's one-line description names every verb it has, so the
    /// top-level `--help` never advertises fewer commands than exist.
    #[test]
    fn every_noun_about_names_all_its_subcommands() {
        let root = Cli::command();
        for noun in visible_subcommands(&root) {
            let about = noun.get_about().map(|a| a.to_string()).unwrap_or_default();
            for verb in visible_subcommands(noun) {
                let named =
                    about.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).any(|w| w == verb.get_name());
                assert!(named, "`{}` about {about:?} does not name `{}`", noun.get_name(), verb.get_name());
            }
        }
    }

    #[test]
    fn global_options_sit_under_their_own_heading_after_the_command_options() {
        let help = help_of("schedule call");
        let own = help.find("--assistant").unwrap();
        let to = help.find("--to <E164>").unwrap();
        let heading = help.find("Global options:").expect(&help);
        let json = help.find("--json").unwrap();
        let api_key = help.find("--api-key").unwrap();
        assert!(own < heading && to < heading && heading < json && heading < api_key, "{help}");
        for global in ["--api-url", "--config", "--state", "--verbose"] {
            assert!(help.find(global).unwrap() > heading, "{global} before the heading:\n{help}");
        }
    }

    #[test]
    fn the_cli_reference_covers_nested_commands_and_hides_the_legacy_words() {
        let md = cli_reference();
        for heading in ["## `clawdtalk schedule call`", "## `clawdtalk mission setup-agent`", "## Global options"] {
            assert!(md.contains(heading), "{heading}");
        }
        assert!(md.contains("- `--at <TIME>`: When: RFC 3339"), "options listed with their help");
        assert!(!md.contains("## `clawdtalk create-mission`"), "legacy words stay hidden");
        assert!(!md.contains("--poll-interval"), "hidden options stay hidden");
    }

    #[test]
    fn scripts_complete_the_nouns() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = completion_script(shell);
            assert!(s.contains("approval") && s.contains("sms"), "{shell:?}");
        }
    }

    #[test]
    fn man_pages_for_the_cli_and_one_command() {
        assert!(man_page(&[]).unwrap().contains(".TH clawdtalk"));
        let call = man_page(&words("call")).unwrap();
        assert!(call.contains("clawdtalk\\-call") && call.contains("\\-\\-purpose"), "{call}");
        assert!(matches!(man_page(&words("nope")), Err(Error::Usage(_))));
    }
}
