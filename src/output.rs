//! The one place that prints. Commands return an [`Outcome`] (data for
//! `--json` plus blocks for people); the binary hands it to a [`Printer`],
//! which decides once whether to print JSON or text, and whether to colour.
//!
//! Rules: with `--json`, stdout gets exactly one JSON document (a stream,
//! `tail`, gets one per line); everything else (notes, warnings, errors,
//! progress) goes to stderr.

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::Error;

/// What a command produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The document `--json` prints (the unwrapped object or list).
    pub data: Value,
    /// What a person sees on stdout.
    pub blocks: Vec<Block>,
    /// Messages for stderr (warnings, hints), printed in both modes.
    pub notes: Vec<String>,
    /// Exit code for a command that finished but wants a non-zero status
    /// (e.g. `status` when a check fails). 0 normally.
    pub exit_code: u8,
    /// Everything for stdout was already printed as it came
    /// ([`Printer::stream`]): only the notes and exit code are left.
    pub streamed: bool,
}

/// One piece of human output.
#[derive(Debug, Clone)]
pub enum Block {
    /// A line of text.
    Line(String),
    /// A table with a header row.
    Table(Table),
    /// Aligned `key: value` lines.
    Fields(Vec<(String, String)>),
    /// Pretty-printed JSON (what telnyx_api.py printed for most replies).
    Json(Value),
}

/// A table for list output.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table { headers: headers.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }
}

impl Outcome {
    /// An outcome whose JSON form is `data` and which shows nothing else.
    pub fn data(data: impl Serialize) -> Self {
        Outcome { data: serde_json::to_value(data).unwrap_or(Value::Null), ..Default::default() }
    }
    /// JSON `data`, shown to people as pretty JSON.
    pub fn json(data: impl Serialize) -> Self {
        let data = serde_json::to_value(data).unwrap_or(Value::Null);
        Outcome { blocks: vec![Block::Json(data.clone())], data, ..Default::default() }
    }
    pub fn line(mut self, s: impl Into<String>) -> Self {
        self.blocks.push(Block::Line(s.into()));
        self
    }
    pub fn block(mut self, b: Block) -> Self {
        self.blocks.push(b);
        self
    }
    pub fn table(mut self, t: Table) -> Self {
        self.blocks.push(Block::Table(t));
        self
    }
    pub fn note(mut self, s: impl Into<String>) -> Self {
        self.notes.push(s.into());
        self
    }
    /// An outcome whose stdout was streamed ([`Printer::stream`]).
    pub fn streamed() -> Self {
        Outcome { streamed: true, ..Default::default() }
    }
    pub fn with_exit_code(mut self, code: u8) -> Self {
        self.exit_code = code;
        self
    }
}

/// Output mode, decided once from flags and the environment.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
    pub color: bool,
    /// Prefix `poll` lines with an RFC 3339 time: stdout is not a terminal
    /// (a cron log, where lines of many runs follow each other).
    pub stamp: bool,
}

impl Printer {
    /// `json` from `--json`; colour only on a terminal and without `NO_COLOR`.
    pub fn new(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer { json, color: !no_color && std::io::stderr().is_terminal(), stamp: !std::io::stdout().is_terminal() }
    }

    /// Print one line now, while a command still runs (`poll --watch`):
    /// on stdout, flushed at once so a log gets it line by line (stderr
    /// with `--json`, whose stdout is the one document printed at the end).
    /// A spinner is hidden while the line is written.
    pub fn live(&self, progress: &Progress, line: &str) {
        progress.suspend(|| {
            if self.json {
                let _ = writeln!(std::io::stderr(), "{line}");
            } else {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        });
    }

    /// Print a command's outcome.
    pub fn print(&self, o: &Outcome) {
        let mut err = std::io::stderr().lock();
        for n in &o.notes {
            let _ = writeln!(err, "{n}");
        }
        drop(err);
        if o.streamed {
            return;
        }
        let mut out = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&o.data).unwrap_or_else(|_| "null".into()));
        } else {
            let _ = out.write_all(render_blocks(&o.blocks).as_bytes());
        }
        let _ = out.flush();
    }

    /// Print one line of a stream on stdout now, flushed (`tail`'s events).
    /// A stream is the one exception to "one JSON document": with `--json`
    /// each line is a JSON document of its own (NDJSON). `false` once
    /// stdout is closed (the reader went away: stop).
    pub fn stream(&self, line: &str) -> bool {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
    }

    /// Print an error: to stderr always; with `--json`, also an error document on stdout.
    pub fn error(&self, e: &Error) {
        let prefix = if self.color { "\x1b[31merror:\x1b[0m" } else { "error:" };
        // A message may carry a server's text: escape its control
        // characters. A service error is one line; our own messages keep
        // their line breaks.
        let text = match e {
            Error::Api { .. } => crate::redact::sanitize_for_terminal(&e.to_string()),
            _ => e.to_string().split('\n').map(crate::redact::sanitize_for_terminal).collect::<Vec<_>>().join("\n"),
        };
        let _ = writeln!(std::io::stderr(), "{prefix} {text}");
        if self.json {
            let mut doc = json!({"error": {"kind": e.kind(), "message": e.to_string(), "exit_code": e.exit_code()}});
            if let Error::Api { status, body, .. } = e {
                doc["error"]["status"] = json!(status);
                if let Some(b) = body {
                    doc["error"]["body"] = b.clone();
                }
            }
            let _ = writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }

    /// A message on stderr (progress lines, warnings) outside an outcome.
    pub fn message(&self, s: &str) {
        let _ = writeln!(std::io::stderr(), "{s}");
    }
}

/// Render human blocks to text (no trailing blank line).
pub fn render_blocks(blocks: &[Block]) -> String {
    let mut s = String::new();
    for b in blocks {
        match b {
            Block::Line(l) => {
                s.push_str(l);
                s.push('\n');
            }
            Block::Json(v) => {
                s.push_str(&serde_json::to_string_pretty(v).unwrap_or_default());
                s.push('\n');
            }
            Block::Fields(f) => {
                let w = f.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
                for (k, v) in f {
                    s.push_str(&format!("{:<w$}  {v}\n", format!("{k}:"), w = w + 1));
                }
            }
            Block::Table(t) => s.push_str(&render_table(t)),
        }
    }
    s
}

/// Render a table with columns padded to the widest cell.
pub fn render_table(t: &Table) -> String {
    let cols = t.headers.len().max(t.rows.iter().map(Vec::len).max().unwrap_or(0));
    let mut widths = vec![0usize; cols];
    for row in std::iter::once(&t.headers).chain(t.rows.iter()) {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for row in std::iter::once(&t.headers).chain(t.rows.iter()) {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                let pad = widths[i] - c.chars().count();
                line.push_str(c);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// Progress for anything that waits (calls, polls, approvals). On a terminal
/// it is an indicatif spinner on stderr; otherwise each new message is one
/// plain line on stderr, so logs and bots see progress without control codes.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: std::sync::Mutex<String>,
    quiet: bool,
}

impl Progress {
    /// `terminal`: draw a spinner; `quiet`: print nothing at all.
    pub fn new(terminal: bool, quiet: bool) -> Progress {
        let bar = (terminal && !quiet).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        Progress { bar, last: std::sync::Mutex::new(String::new()), quiet }
    }

    /// A progress that prints nothing (tests, library callers).
    pub fn hidden() -> Progress {
        Progress::new(false, true)
    }

    /// Show `msg` as the current stage.
    pub fn set(&self, msg: impl Into<String>) {
        let msg = msg.into();
        if let Some(b) = &self.bar {
            b.set_message(msg);
            return;
        }
        if self.quiet {
            return;
        }
        if let Ok(mut last) = self.last.lock() {
            if *last != msg {
                let _ = writeln!(std::io::stderr(), "{msg}");
                *last = msg;
            }
        }
    }

    /// Show `done` of `total` with `msg`: on a terminal the spinner becomes
    /// a progress bar (position `done`, length `total`, message `msg`);
    /// otherwise one plain line `done/total msg` when it changed.
    pub fn count(&self, done: u64, total: u64, msg: impl Into<String>) {
        let msg = msg.into();
        if let Some(b) = &self.bar {
            if b.length() != Some(total) {
                if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{bar:24}] {pos}/{len} {msg}") {
                    b.set_style(style.progress_chars("=> "));
                }
                b.set_length(total);
            }
            b.set_position(done);
            b.set_message(msg);
            return;
        }
        self.set(format!("{done}/{total} {msg}"));
    }

    /// Run `f` (which prints) with the spinner hidden, so lines and the
    /// spinner never share a terminal line.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    /// Stop the spinner (leaves no line behind).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The lifecycle's progress (`poll --watch`) shown by this printer.
impl crate::lifecycle::Progress for Progress {
    fn set(&self, msg: String) {
        Progress::set(self, msg);
    }
    fn count(&self, done: u64, total: u64, msg: String) {
        Progress::count(self, done, total, msg);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Questions asked on a terminal (interactive `setup`): prompts go to
/// stderr and answers come from stdin, except secrets, which are read from
/// the terminal itself without echo. Only used when stdin and stderr are
/// terminals. Blocking: async callers run it under `spawn_blocking`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prompt;

impl Prompt {
    /// A line of information between questions.
    pub fn say(&self, msg: &str) {
        let _ = writeln!(std::io::stderr(), "{msg}");
    }

    /// Ask for a line; Enter gives `default` (shown in brackets).
    pub fn ask(&self, question: &str, default: Option<&str>) -> crate::Result<String> {
        let shown = match default {
            Some(d) if !d.is_empty() => format!("{question} [{d}]: "),
            _ => format!("{question}: "),
        };
        let answer = self.read_line(&shown)?;
        Ok(if answer.is_empty() { default.unwrap_or_default().to_string() } else { answer })
    }

    /// A yes/no question; Enter gives `default`.
    pub fn confirm(&self, question: &str, default: bool) -> crate::Result<bool> {
        let hint = if default { "Y/n" } else { "y/N" };
        loop {
            let answer = self.read_line(&format!("{question} ({hint}): "))?.to_lowercase();
            match answer.as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => self.say("Please answer y or n."),
            }
        }
    }

    /// Ask for a secret without echoing it.
    pub fn secret(&self, question: &str) -> crate::Result<String> {
        rpassword::prompt_password(format!("{question}: "))
            .map(|s| s.trim().to_string())
            .map_err(|e| Error::usage(format!("cannot read from the terminal: {e}")))
    }

    fn read_line(&self, prompt: &str) -> crate::Result<String> {
        let mut err = std::io::stderr();
        let _ = write!(err, "{prompt}");
        let _ = err.flush();
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => Err(Error::usage("no answer: the input ended (run with --yes to answer every question yes)")),
            Ok(_) => Ok(line.trim().to_string()),
            Err(e) => Err(Error::usage(format!("cannot read the answer: {e}"))),
        }
    }
}

/// `n` and the noun in the right number: "1 step", "2 steps", "0 retries"
/// (`one` and `many` are both given, so irregular plurals need no rules).
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One argument of a copy-pasteable shell command (a hint, a crontab line,
/// the demo's transcript): as it is when it is plainly safe, else in single
/// quotes (an empty argument too, so it is not lost).
pub fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("+15005550006"), "+15005550006");
        assert_eq!(shell_word("/tmp/a-b_c.json"), "/tmp/a-b_c.json");
        assert_eq!(shell_word("it's here"), r"'it'\''s here'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn counts_use_the_singular_only_for_one() {
        assert_eq!(counted(1, "step", "steps"), "1 step");
        assert_eq!(counted(0, "step", "steps"), "0 steps");
        assert_eq!(counted(2, "retry", "retries"), "2 retries");
    }

    #[test]
    fn table_columns_align() {
        let mut t = Table::new(["ID", "NAME"]);
        t.row(["m1", "short"]);
        t.row(["mission-long", "x"]);
        assert_eq!(render_table(&t), "ID            NAME\nm1            short\nmission-long  x\n");
    }

    #[test]
    fn fields_align() {
        let s = render_blocks(&[Block::Fields(vec![("a".into(), "1".into()), ("long".into(), "2".into())])]);
        assert_eq!(s, "a:     1\nlong:  2\n");
    }
}
