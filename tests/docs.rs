//! The documentation stays true to the parser:
//!
//! - docs/cli.md is what `commands::docs::cli_reference()` generates from the
//!   clap definitions (regenerate with `UPDATE_DOCS=1 cargo test --test docs`);
//! - every `clawdtalk …` command line in a shell code block of README.md,
//!   docs/*.md or skill/SKILL.md, every `` `clawdtalk …` `` span in the
//!   prose of skill/SKILL.md (an agent copies those too), and every example
//!   in the `--help` texts, parses with clap. A line that is meant to fail
//!   carries a `# fails: <why>` comment and must fail;
//! - skill/SKILL.md's frontmatter is what OpenClaw reads: valid YAML, one
//!   line per key, `name`, `description` and a one-line JSON `metadata`
//!   naming the binary it requires.
//!
//! Which lines count: fenced blocks tagged `sh`, `bash`, `shell` or `console`.
//! In `console` blocks only lines after a `$ ` prompt are commands (the rest
//! is output); in the others every line is, `#` starts a comment, and a
//! trailing `\` continues the line. A command is a `clawdtalk` word (or a
//! path ending in `/clawdtalk`, or `cargo run [--release] --`) followed by
//! its arguments up to a shell operator (`|`, `;`, `&`, `&&`, `||`, `$(`, `)`);
//! redirections and `NAME=value` prefixes are skipped.

use std::fs;
use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use clawdtalk::cli::Cli;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ─── docs/cli.md is current ─────────────────────────────────────────────────

#[test]
fn cli_reference_in_docs_is_current() {
    let path = root().join("docs/cli.md");
    let generated = clawdtalk::commands::docs::cli_reference();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        fs::write(&path, &generated).unwrap();
        return;
    }
    let on_disk = fs::read_to_string(&path).unwrap_or_default();
    if on_disk != generated {
        let first = on_disk.lines().zip(generated.lines()).position(|(a, b)| a != b);
        let line = first.unwrap_or_else(|| on_disk.lines().count().min(generated.lines().count()));
        panic!(
            "docs/cli.md is out of date with the clap definitions (first difference at line {}).\n\
             Regenerate it with: UPDATE_DOCS=1 cargo test --test docs",
            line + 1
        );
    }
}

// ─── a small, strict shell splitter ─────────────────────────────────────────

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    /// A shell operator that ends a command (`|`, `;`, `&`, `&&`, `||`, `$(`, `)`).
    Op(&'static str),
    /// A redirection (`>`, `>>`, `<`, `2>`, `2>&1`); the word after it is its target.
    Redirect,
}

/// Splits one logical shell line into tokens and its trailing comment.
fn shell_split(line: &str) -> Result<(Vec<Token>, Option<String>), String> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    let flush = |word: &mut String, in_word: &mut bool, tokens: &mut Vec<Token>| {
        if *in_word {
            tokens.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            ' ' | '\t' => flush(&mut word, &mut in_word, &mut tokens),
            '#' if !in_word => {
                let comment: String = chars[i + 1..].iter().collect();
                return Ok((tokens, Some(comment.trim().to_string())));
            }
            '\'' => {
                in_word = true;
                let end = chars[i + 1..].iter().position(|&c| c == '\'').ok_or("unclosed single quote")?;
                word.extend(&chars[i + 1..i + 1 + end]);
                i += end + 1;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unclosed double quote".into()),
                        Some('"') => break,
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars[i + 1]);
                            i += 1;
                        }
                        Some(&c) => word.push(c),
                    }
                    i += 1;
                }
            }
            '\\' => {
                in_word = true;
                word.push(next.ok_or("a backslash ends the line")?);
                i += 1;
            }
            '$' if next == Some('(') => {
                flush(&mut word, &mut in_word, &mut tokens);
                tokens.push(Token::Op("$("));
                i += 1;
            }
            ')' | ';' => {
                flush(&mut word, &mut in_word, &mut tokens);
                tokens.push(Token::Op(if c == ')' { ")" } else { ";" }));
            }
            '|' | '&' => {
                flush(&mut word, &mut in_word, &mut tokens);
                if next == Some(c) {
                    tokens.push(Token::Op(if c == '|' { "||" } else { "&&" }));
                    i += 1;
                } else {
                    tokens.push(Token::Op(if c == '|' { "|" } else { "&" }));
                }
            }
            '>' | '<' => {
                // `2>` and `2>&1`: a lone fd digit before the arrow belongs to it.
                if word.len() == 1 && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                flush(&mut word, &mut in_word, &mut tokens);
                tokens.push(Token::Redirect);
                if next == Some('>') {
                    i += 1;
                }
                if chars.get(i + 1) == Some(&'&') {
                    // `>&1`: the target is the fd itself.
                    i += 2;
                    while chars.get(i).is_some_and(char::is_ascii_digit) {
                        i += 1;
                    }
                    tokens.push(Token::Word(String::new()));
                    continue;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
        i += 1;
    }
    flush(&mut word, &mut in_word, &mut tokens);
    Ok((tokens, None))
}

/// The clawdtalk argument vectors in one logical line (without the program
/// name), skipping other programs, redirections and `NAME=value` prefixes.
fn clawdtalk_commands(tokens: &[Token]) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for simple in tokens.split(|t| matches!(t, Token::Op(_))) {
        let mut words = Vec::new();
        let mut it = simple.iter();
        while let Some(t) = it.next() {
            match t {
                Token::Redirect => {
                    it.next();
                }
                Token::Word(w) => words.push(w.clone()),
                Token::Op(_) => {}
            }
        }
        let start = words.iter().position(|w| !is_assignment(w)).unwrap_or(words.len());
        let words = &words[start..];
        let Some(program) = words.first() else { continue };
        if program == "clawdtalk" || program.ends_with("/clawdtalk") {
            commands.push(words[1..].to_vec());
        } else if program == "cargo" && words.get(1).is_some_and(|w| w == "run") {
            if let Some(dash) = words.iter().position(|w| w == "--") {
                commands.push(words[dash + 1..].to_vec());
            }
        }
    }
    commands
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        None => false,
    }
}

// ─── documented command lines ───────────────────────────────────────────────

/// One command line found in the documentation, with where it was found.
#[derive(Debug)]
struct DocLine {
    place: String,
    text: String,
}

/// The logical command lines of the shell code blocks of one Markdown text.
fn markdown_command_lines(name: &str, text: &str) -> Vec<DocLine> {
    let mut found = Vec::new();
    let mut block: Option<String> = None;
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => Some(info.trim().to_string()),
            };
            pending = None;
            continue;
        }
        let Some(lang) = block.as_deref() else { continue };
        let console = lang == "console";
        if !(console || matches!(lang, "sh" | "bash" | "shell")) {
            continue;
        }
        let line = match pending.take() {
            Some((start, so_far)) => (start, format!("{so_far} {trimmed}")),
            None if console => match trimmed.strip_prefix("$ ") {
                Some(cmd) => (n + 1, cmd.to_string()),
                None => continue,
            },
            None => (n + 1, trimmed.to_string()),
        };
        match line.1.strip_suffix('\\') {
            Some(head) => pending = Some((line.0, head.to_string())),
            None => found.push(DocLine { place: format!("{name}:{}", line.0), text: line.1 }),
        }
    }
    found
}

/// The `` `clawdtalk …` `` spans in the prose of one Markdown text (outside
/// code blocks).
fn markdown_inline_commands(name: &str, text: &str) -> Vec<DocLine> {
    let mut found = Vec::new();
    let mut in_block = false;
    for (n, raw) in text.lines().enumerate() {
        if raw.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        for (i, span) in raw.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("clawdtalk ") {
                found.push(DocLine { place: format!("{name}:{}", n + 1), text: span.to_string() });
            }
        }
    }
    found
}

/// Every example line in the clap help texts: lines of the `after_help`
/// texts that start with `clawdtalk` (joined across `\`), and every
/// `` `clawdtalk …` `` span of an about, after_help or argument help.
fn help_command_lines() -> Vec<DocLine> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<DocLine>) {
        let place = format!("`{path} --help`");
        let mut texts: Vec<String> =
            [cmd.get_about(), cmd.get_long_about()].into_iter().flatten().map(|s| s.to_string()).collect();
        texts.extend(cmd.get_arguments().filter_map(|a| a.get_long_help().or(a.get_help())).map(|s| s.to_string()));
        if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
            let after = after.to_string();
            let mut pending = String::new();
            for line in after.lines() {
                let t = line.trim();
                if !pending.is_empty() || t.starts_with("clawdtalk ") {
                    pending = format!("{pending} {t}");
                    match pending.strip_suffix('\\') {
                        Some(head) => pending = head.to_string(),
                        None => out.push(DocLine { place: place.clone(), text: std::mem::take(&mut pending) }),
                    }
                }
            }
            texts.push(after);
        }
        for text in texts {
            for (i, span) in text.split('`').enumerate() {
                if i % 2 == 1 && span.starts_with("clawdtalk ") {
                    out.push(DocLine { place: place.clone(), text: span.to_string() });
                }
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), "clawdtalk", &mut out);
    out
}

/// The documentation files whose shell blocks are checked.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("skill/SKILL.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// What is wrong with one documented line, if anything; how many clawdtalk
/// commands it held goes to `count`.
fn check_line(line: &DocLine, count: &mut usize) -> Option<String> {
    let (tokens, comment) = match shell_split(&line.text) {
        Ok(split) => split,
        Err(e) => return Some(format!("{}: cannot split `{}`: {e}", line.place, line.text)),
    };
    let expect_failure = comment.as_deref().is_some_and(|c| c.starts_with("fails:"));
    for args in clawdtalk_commands(&tokens) {
        *count += 1;
        let argv = std::iter::once("clawdtalk".to_string()).chain(args);
        let result = Cli::try_parse_from(argv);
        let parsed = match &result {
            Ok(_) => true,
            Err(e) => matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion),
        };
        match (parsed, expect_failure, result) {
            (true, false, _) | (false, true, _) => {}
            (true, true, _) => return Some(format!("{}: `{}` is marked `# fails:` but parses", line.place, line.text)),
            (false, false, Err(e)) => {
                let first = e.to_string().lines().next().unwrap_or_default().to_string();
                return Some(format!("{}: `{}` does not parse ({:?}): {first}", line.place, line.text, e.kind()));
            }
            (false, false, Ok(_)) => unreachable!("parsed is true for Ok"),
        }
    }
    None
}

fn check_all(lines: &[DocLine]) -> (usize, Vec<String>) {
    let mut count = 0;
    let problems = lines.iter().filter_map(|l| check_line(l, &mut count)).collect();
    (count, problems)
}

#[test]
fn every_command_line_in_readme_and_docs_parses() {
    let mut lines = Vec::new();
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(root()).unwrap_or(Path::new("?")).display().to_string();
        lines.extend(markdown_command_lines(&name, &text));
    }
    let (count, problems) = check_all(&lines);
    assert!(problems.is_empty(), "documented command lines that clap rejects:\n{}", problems.join("\n"));
    assert!(count >= 60, "only {count} clawdtalk command lines found: is the extractor still finding them?");
}

#[test]
fn every_help_example_parses() {
    let lines = help_command_lines();
    let (count, problems) = check_all(&lines);
    assert!(problems.is_empty(), "--help examples that clap rejects:\n{}", problems.join("\n"));
    assert!(count >= 12, "only {count} --help examples found");
}

#[test]
fn readme_keeps_the_quick_start_commands() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    for needle in ["cargo run --release -- demo", "cargo test"] {
        assert!(readme.contains(needle), "README lost `{needle}`");
    }
}

#[test]
fn docs_cite_no_file_outside_the_repository() {
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        for needle in ["shared/", "clawdtalk-contract", "contract §"] {
            assert!(!text.contains(needle), "{} cites `{needle}`", file.display());
        }
    }
}

// ─── the checker itself can fail ────────────────────────────────────────────

fn md(text: &str) -> Vec<DocLine> {
    markdown_command_lines("t.md", text)
}

#[test]
fn a_bogus_documented_line_is_caught() {
    let (_, problems) = check_all(&md("```sh\nclawdtalk connect &      # backgrounded\n```\n"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("t.md:2") && problems[0].contains("does not parse"), "{problems:?}");
    let (_, problems) = check_all(&md("```bash\nclawdtalk mission frobnicate x\n```\n"));
    assert_eq!(problems.len(), 1);
    let (_, problems) = check_all(&md("```sh\nclawdtalk call --wiat\n```\n"));
    assert_eq!(problems.len(), 1);
}

#[test]
fn a_line_marked_as_failing_must_fail() {
    let (count, problems) = check_all(&md("```sh\nclawdtalk connect   # fails: needs a subcommand\n```\n"));
    assert_eq!((count, problems.len()), (1, 0), "{problems:?}");
    let (_, problems) = check_all(&md("```sh\nclawdtalk connect run   # fails: wrongly marked\n```\n"));
    assert_eq!(problems.len(), 1, "{problems:?}");
}

#[test]
fn console_output_is_not_parsed_but_prompts_are() {
    let text = "```console\n$ clawdtalk state list\nclawdtalk frobnicate (output)\n$ clawdtalk frobnicate\n```\n";
    let lines = md(text);
    assert_eq!(
        lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["clawdtalk state list", "clawdtalk frobnicate"]
    );
    assert_eq!(check_all(&lines).1.len(), 1);
}

#[test]
fn other_blocks_and_prose_are_left_alone() {
    let text = "clawdtalk frobnicate\n```text\nclawdtalk frobnicate\n```\n```ini\nExecStart=clawdtalk x\n```\n";
    assert!(md(text).is_empty());
}

#[test]
fn continuations_pipes_substitutions_and_redirections_are_understood() {
    let text = "```sh\nclawdtalk schedule call --assistant a --to +15551234567 \\\n    --from +15559876543 --at +5m\n\
                id=$(clawdtalk approval request \"Pay invoice #42\" --no-wait); clawdtalk approval status \"$id\"\n\
                clawdtalk man schedule call | man -l -\n\
                clawdtalk completions bash > ~/.local/share/bash-completion/completions/clawdtalk 2>&1\n\
                CLAWDTALK_STATE_FILE=/tmp/s.json /usr/local/bin/clawdtalk state list --all\n\
                cargo run --release -- demo\n```\n";
    let lines = md(text);
    assert_eq!(lines.len(), 6, "{lines:?}");
    let (count, problems) = check_all(&lines);
    assert_eq!((count, problems), (7, Vec::<String>::new()));
}

#[test]
fn the_splitter_follows_shell_quoting() {
    let (tokens, comment) = shell_split(r#"clawdtalk a 'b c' "d \"e\" $f" g\ h '' x#y # note"#).unwrap();
    let words: Vec<Token> =
        ["clawdtalk", "a", "b c", "d \"e\" $f", "g h", "", "x#y"].iter().map(|w| Token::Word(w.to_string())).collect();
    assert_eq!(tokens, words);
    assert_eq!(comment.as_deref(), Some("note"));
    assert!(shell_split("clawdtalk 'open").is_err());
    assert!(shell_split("clawdtalk \"open").is_err());
}

#[test]
fn help_examples_are_found() {
    let lines = help_command_lines();
    assert!(lines.iter().any(|l| l.place == "`clawdtalk schedule call --help`"
        && l.text.contains("--mission-id mis_abc --run-id run_def --step call_1")));
    assert!(lines.iter().any(|l| l.text == "clawdtalk poll --cron-line"));
}

// ─── skill/SKILL.md ─────────────────────────────────────────────────────────

fn skill_md() -> String {
    fs::read_to_string(root().join("skill/SKILL.md")).unwrap()
}

/// The frontmatter lines of a SKILL.md (between the opening and closing `---`).
fn frontmatter(text: &str) -> Result<Vec<&str>, String> {
    let mut lines = text.lines();
    if lines.next() != Some("---") {
        return Err("SKILL.md must start with a `---` line".into());
    }
    let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "---").collect();
    if block.len() + 1 >= text.lines().count() {
        return Err("the frontmatter has no closing `---`".into());
    }
    Ok(block)
}

/// What is wrong with a SKILL.md frontmatter for OpenClaw, if anything.
fn frontmatter_problems(text: &str) -> Vec<String> {
    use yaml_rust2::{Yaml, YamlLoader};
    let lines = match frontmatter(text) {
        Ok(l) => l,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    // OpenClaw's embedded parser reads one `key: value` per line.
    for l in &lines {
        if l.starts_with(char::is_whitespace) || !l.contains(": ") {
            problems.push(format!("frontmatter line {l:?} is not a one-line `key: value`"));
        }
    }
    let doc = match YamlLoader::load_from_str(&lines.join("\n")) {
        Ok(docs) if docs.len() == 1 => docs.into_iter().next().unwrap_or(Yaml::Null),
        Ok(docs) => return vec![format!("the frontmatter holds {} YAML documents", docs.len())],
        Err(e) => return vec![format!("the frontmatter is not valid YAML: {e}")],
    };
    for key in ["name", "description"] {
        if doc[key].as_str().is_none_or(|v| v.trim().is_empty()) {
            problems.push(format!("`{key}` is missing or empty"));
        }
    }
    if doc["name"].as_str() != Some("clawdtalk") {
        problems.push(format!("`name` is {:?}, not clawdtalk", doc["name"]));
    }
    let metadata_line = lines.iter().find_map(|l| l.strip_prefix("metadata: ")).unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(metadata_line) {
        Ok(m) if m["openclaw"]["requires"]["bins"] == serde_json::json!(["clawdtalk"]) => {}
        Ok(m) => problems.push(format!("metadata.openclaw.requires.bins is not [\"clawdtalk\"]: {m}")),
        Err(e) => problems.push(format!("`metadata` is not a one-line JSON object: {e}")),
    }
    problems
}

#[test]
fn skill_md_frontmatter_is_what_openclaw_reads() {
    let problems = frontmatter_problems(&skill_md());
    assert!(problems.is_empty(), "skill/SKILL.md frontmatter:\n{}", problems.join("\n"));
}

#[test]
fn a_broken_frontmatter_is_caught() {
    let good = "---\nname: clawdtalk\ndescription: Calls.\nmetadata: {\"openclaw\":{\"requires\":{\"bins\":[\"clawdtalk\"]}}}\n---\n# x\n";
    assert_eq!(frontmatter_problems(good), Vec::<String>::new());
    for (bad, why) in [
        (good.replace("name: clawdtalk\n", ""), "`name` is missing"),
        (good.replace("description: Calls.", "description: ''"), "`description` is missing"),
        (good.replace("---\n# x", "# x"), "no closing"),
        (good.replace("metadata: {\"openclaw\"", "metadata:\n  {\"openclaw\""), "not a one-line"),
        (good.replace("[\"clawdtalk\"]", "[\"python3\"]"), "requires.bins"),
        (good.replace("Calls.", "[unclosed"), "not valid YAML"),
    ] {
        let problems = frontmatter_problems(&bad).join("\n");
        assert!(problems.contains(why), "{why}: {problems}\n{bad}");
    }
}

#[test]
fn every_clawdtalk_span_in_skill_md_prose_parses() {
    let lines = markdown_inline_commands("skill/SKILL.md", &skill_md());
    let (count, problems) = check_all(&lines);
    assert!(problems.is_empty(), "SKILL.md spans that clap rejects:\n{}", problems.join("\n"));
    assert!(count >= 10, "only {count} `clawdtalk …` spans found in SKILL.md");
    let (_, problems) = check_all(&markdown_inline_commands("t.md", "Run `clawdtalk mission frobnicate x`.\n"));
    assert_eq!(problems.len(), 1, "a bogus span is caught");
}

#[test]
fn skill_md_teaches_the_one_cron_line_and_every_command_it_names_exists() {
    let text = skill_md();
    let (count, problems) = check_all(&markdown_command_lines("skill/SKILL.md", &text));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(count >= 8, "only {count} command lines in SKILL.md's code blocks");
    for needle in ["clawdtalk poll --cron-line", "schedule call --mission", "mission complete", "clawdtalk demo"] {
        assert!(text.contains(needle), "SKILL.md lost `{needle}`");
    }
    for old in ["telnyx_api.py", "scheduled_events"] {
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("python") && l.contains(old)),
            "SKILL.md teaches the old `{old}` way"
        );
    }
}

/// SKILL.md teaches `clawdtalk mcp` as the alternative to the commands,
/// with the approval guard, now that the server exists (docs/mcp.md).
#[test]
fn skill_md_teaches_the_mcp_server_as_the_alternative() {
    assert!(Cli::command().find_subcommand("mcp").is_some());
    let text = skill_md();
    assert!(!text.contains("is planned but does not exist yet"), "SKILL.md still calls MCP planned");
    let section = text.split("## MCP").nth(1).expect("SKILL.md has an MCP section");
    for needle in ["clawdtalk mcp", "--tools", "approval", "pending", "approval_status"] {
        assert!(section.contains(needle), "the MCP section of SKILL.md does not mention {needle:?}");
    }
}
