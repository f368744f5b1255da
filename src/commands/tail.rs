//! `clawdtalk tail`: the event journal ([`crate::journal`]) filtered,
//! printed as it is read, followed with `--follow`, and handed to a
//! command per event with `--exec`. It only reads the journal file, so it
//! runs beside `connect` (which holds the service's one WebSocket).

use std::process::Stdio;
use std::time::Duration;

use chrono::SecondsFormat;
use tokio::io::AsyncWriteExt;

use crate::cli::tail::TailArgs;
use crate::error::{Error, Result};
use crate::journal::follow::{parse_line, rotated_lines, Filter, Follower};
use crate::journal::{Kind, Record};
use crate::output::{counted, Outcome};
use crate::redact::sanitize_for_terminal;
use crate::validate;

use super::Context;

/// How often `--follow` looks at the journal: the latency from append to
/// print is at most this plus the read.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(100);
/// How long one `--exec` command may run before it is killed.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(ctx: &Context, a: TailArgs) -> Result<Outcome> {
    let filter = filter(ctx, &a)?;
    if a.exec.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(Error::usage("--exec is empty: give a shell command, e.g. --exec 'cat >> events.ndjson'"));
    }
    let journal = ctx.journal.clone().ok_or_else(|| {
        Error::state("cannot find a home directory for the event journal (docs/journal.md); set HOME")
    })?;
    // Opened before the old files are read, so nothing appended meanwhile is missed.
    let mut follower = Follower::new(journal.path());
    let j = journal.clone();
    let old = blocking(move || rotated_lines(&j)).await?;
    let mut sink = Sink { ctx, filter, exec: a.exec.as_deref(), shown: 0, skipped: 0, exec_failures: 0 };
    let mut open = sink.emit(old).await;
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    while open {
        let (f, lines) = blocking(move || {
            let lines = follower.poll();
            Ok((follower, lines))
        })
        .await?;
        follower = f;
        let lines = lines.map_err(|e| Error::state(format!("cannot read {}: {e}", journal.path().display())))?;
        open = sink.emit(lines).await;
        if !a.follow {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = &mut stop => break,
        }
    }
    Ok(sink.outcome(&journal.path().display().to_string()))
}

/// The filter of `--since`, `--mission` and `--kind` (bad values: exit 2).
pub fn filter(ctx: &Context, a: &TailArgs) -> Result<Filter> {
    let since = a.since.as_deref().map(|s| validate::since("--since", s, ctx.now())).transpose()?;
    let mission = a.mission.as_deref().map(|m| validate::plain_id("--mission", m)).transpose()?;
    let kinds = a
        .kind
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .map(|k| {
            Kind::parse(k).ok_or_else(|| {
                let valid: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                Error::usage(format!("--kind: unknown kind {k:?}; valid kinds are: {}", valid.join(", ")))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Filter { since, mission, kinds })
}

/// Run a short file read on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::failed(format!("the journal reader stopped: {e}")))?
        .map_err(|e| Error::state(format!("cannot read the event journal: {e}")))
}

/// Where matching events go: stdout, and `--exec`.
struct Sink<'a> {
    ctx: &'a Context,
    filter: Filter,
    exec: Option<&'a str>,
    shown: usize,
    skipped: usize,
    exec_failures: usize,
}

impl Sink<'_> {
    /// Print (and hand to `--exec`) the matching events of `lines`; `false`
    /// once stdout is closed.
    async fn emit(&mut self, lines: Vec<String>) -> bool {
        for raw in lines {
            let Some(record) = parse_line(&raw) else {
                self.skipped += 1;
                continue;
            };
            if !self.filter.matches(&record) {
                continue;
            }
            let shown = if self.ctx.printer.json { raw.clone() } else { human_line(&record) };
            if !self.ctx.printer.stream(&shown) {
                return false;
            }
            self.shown += 1;
            if let Some(cmd) = self.exec {
                if let Err(e) = exec(cmd, &raw).await {
                    self.exec_failures += 1;
                    self.ctx.printer.message(&format!("warning: --exec failed for {}: {e}", record.entry.event));
                }
            }
        }
        true
    }

    fn outcome(&self, path: &str) -> Outcome {
        let mut o = Outcome::streamed();
        if self.shown == 0 {
            o = o.note(format!("no events (the journal is {path})"));
        }
        if self.skipped > 0 {
            o = o.note(format!("{} skipped (not journal events)", counted(self.skipped, "line", "lines")));
        }
        if self.exec_failures > 0 {
            o = o.note(format!("--exec failed for {}", counted(self.exec_failures, "event", "events")));
        }
        o
    }
}

/// One event for people: time, event, then what it is about; every part
/// escaped for the terminal (texts and ids come from strangers).
pub fn human_line(r: &Record) -> String {
    let e = &r.entry;
    let mut parts = vec![r.ts.to_rfc3339_opts(SecondsFormat::Secs, true), format!("{:<16}", e.event)];
    let fields = [
        ("mission", &e.mission),
        ("call", &e.call_id),
        ("id", &e.id),
        ("status", &e.status),
        ("to", &e.to),
        ("from", &e.from),
    ];
    parts.extend(fields.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))));
    if let Some(t) = &e.text {
        parts.push(format!("“{t}”"));
    }
    sanitize_for_terminal(parts.join(" ").trim_end())
}

/// Run `cmd` with `sh -c`, `line` (and a newline) on its stdin, its output
/// on our stderr (stdout is the event stream); at most [`EXEC_TIMEOUT`].
async fn exec(cmd: &str, line: &str) -> std::result::Result<(), String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(std::io::stderr()))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin is fine.
        let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
    }
    match tokio::time::timeout(EXEC_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("the command ended with {status}")),
        Ok(Err(e)) => Err(format!("cannot wait for the command: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("the command ran longer than {} s and was stopped", EXEC_TIMEOUT.as_secs()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Entry, Journal};
    use crate::testing::{parse, Harness};

    fn args(words: &[&str]) -> TailArgs {
        match parse(&[&["tail"], words].concat()) {
            crate::cli::Command::Tail(a) => a,
            other => panic!("not tail: {other:?}"),
        }
    }

    fn seed(h: &Harness) -> Journal {
        let j = Journal::at(h.journal_path()).with_clock(h.clock.clone());
        j.try_append(Entry::new(Kind::Sms, "sms.received").from("+15551234567").text("hi\x1b[31m")).unwrap();
        j.try_append(Entry::new(Kind::Call, "call.placed").mission("roof").call_id("c1")).unwrap();
        j.try_append(Entry::new(Kind::Poll, "poll.change").mission("roof").text("step done")).unwrap();
        j
    }

    #[tokio::test]
    async fn exec_runs_once_per_matching_event_with_the_event_on_stdin() {
        let h = Harness::start().await;
        seed(&h);
        let out = h.dir().join("got.ndjson");
        let cmd = format!("cat >> '{}'", out.display());
        let o = run(&h.ctx(), args(&["--mission", "roof", "--exec", &cmd])).await.unwrap();
        assert!(o.streamed && o.notes.is_empty(), "{:?}", o.notes);
        let got = std::fs::read_to_string(&out).unwrap();
        let events: Vec<String> = got.lines().map(|l| parse_line(l).unwrap().entry.event).collect();
        assert_eq!(events, ["call.placed", "poll.change"]);
    }

    #[tokio::test]
    async fn a_failing_exec_is_reported_and_the_next_event_still_runs() {
        let h = Harness::start().await;
        seed(&h);
        let count = h.dir().join("count");
        let cmd = format!("echo x >> '{}'; exit 3", count.display());
        let o = run(&h.ctx(), args(&["--exec", &cmd])).await.unwrap();
        assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3);
        assert_eq!(o.notes, ["--exec failed for 3 events"]);
    }

    #[tokio::test]
    async fn an_unknown_kind_or_a_bad_since_is_bad_input() {
        let h = Harness::start().await;
        for bad in [&["--kind", "call,fax"][..], &["--since", "yesterday"], &["--exec", " "]] {
            let e = run(&h.ctx(), args(bad)).await.unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad:?}: {e:?}");
        }
    }

    #[tokio::test]
    async fn the_filter_reads_since_mission_and_kinds() {
        let h = Harness::start().await;
        let f = filter(&h.ctx(), &args(&["--since", "10m", "--mission", "roof", "--kind", "call,sms"])).unwrap();
        assert_eq!(f.since, Some(h.ctx().now() - chrono::Duration::minutes(10)));
        assert_eq!(f.mission.as_deref(), Some("roof"));
        assert_eq!(f.kinds, [Kind::Call, Kind::Sms]);
    }

    #[tokio::test]
    async fn human_lines_show_the_event_and_escape_what_strangers_sent() {
        let h = Harness::start().await;
        seed(&h);
        let lines: Vec<String> = h.journal().iter().map(human_line).collect();
        assert!(lines[0].contains("sms.received") && lines[0].contains("from=+1 ***4567"), "{}", lines[0]);
        assert!(lines[0].contains("hi\\x1b[31m") && !lines[0].contains('\x1b'), "{}", lines[0]);
        assert!(lines[1].contains("mission=roof call=c1"), "{}", lines[1]);
    }
}
