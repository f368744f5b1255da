//! The event journal: one NDJSON file per data directory
//! (`journal.ndjson`, see docs/journal.md) where every notable event (a
//! call placed, an SMS sent or received, an approval decided, a poll's
//! status change, an AgentPhone result) is appended as one line, for
//! `clawdtalk tail` and for scripts.
//!
//! Why a file and not a socket: cron's `poll`, the `connect` daemon, the
//! CLI and an MCP server all produce events, in different processes that
//! come and go, and `tail` must work while `connect` holds the service's
//! only WebSocket. A file they all append to needs no one to be running.
//!
//! Rules every writer keeps:
//! - appends and rotation happen under the one [`FileLock`] on the sidecar
//!   `journal.ndjson.lock` (never on the journal itself, which rotation
//!   renames away), so two writers never rotate twice or write into a file
//!   being renamed;
//! - each line goes out in one `write` on an `O_APPEND` descriptor (a short
//!   write is cut back off), so a reader never sees a torn line;
//! - the file is created 0600: it holds (masked) numbers and message text;
//! - numbers are masked ([`crate::config::mask_phone`]), text is bounded
//!   ([`MAX_TEXT`]) and has key shapes redacted, ids are bounded;
//! - appending never fails the caller's command: [`Journal::append`]
//!   logs a warning and counts the failure.

pub mod follow;
pub mod forget;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::clock::{Clock, SystemClock};
use crate::config::mask_phone;
use crate::redact::{cut, redact_shapes};
use crate::state::FileLock;

/// The journal's file name in the data directory.
pub const FILE_NAME: &str = "journal.ndjson";
/// Rotate when a line would take the journal past this size.
pub const MAX_BYTES: u64 = 5 * 1024 * 1024;
/// Rotated files kept (`journal.ndjson.1`, `journal.ndjson.2`).
pub const KEEP: usize = 2;
/// Bytes of message text kept per event (cut on a character boundary).
pub const MAX_TEXT: usize = 500;
/// The sidecar `forget` leaves when it rewrites the journal
/// (`journal.ndjson.rewritten`), so `tail --follow` does not show it again.
pub const REWRITTEN_MARK: &str = ".rewritten";
/// Bytes kept of an id or slug that came from the network.
pub const MAX_ID: usize = 128;

/// What an event is about (`--kind` filters on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Call,
    Sms,
    Approval,
    Poll,
    Mission,
    Agentphone,
    Report,
    /// The opt-out list changed (docs/optout.md).
    Optout,
    /// A kind written by a newer clawdtalk: kept, shown, never filtered on.
    #[serde(other)]
    Other,
}

impl Kind {
    /// Every kind `--kind` accepts.
    pub const ALL: &'static [Kind] = &[
        Kind::Call,
        Kind::Sms,
        Kind::Approval,
        Kind::Poll,
        Kind::Mission,
        Kind::Agentphone,
        Kind::Report,
        Kind::Optout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::Sms => "sms",
            Kind::Approval => "approval",
            Kind::Poll => "poll",
            Kind::Mission => "mission",
            Kind::Agentphone => "agentphone",
            Kind::Report => "report",
            Kind::Optout => "optout",
            Kind::Other => "other",
        }
    }

    /// The kind named `word` (`None` for anything else, `other` included).
    pub fn parse(word: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == word)
    }
}

/// One event as a producer describes it; [`Journal::append`] stamps the
/// time. Built through the setters, which mask, bound and redact, so a
/// producer cannot put a raw number or an unbounded text in the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: Kind,
    /// What happened, `noun.verb` (`sms.sent`, `call.ended`, `poll.change`).
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// Another id the event is about (a message, an approval request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An id, slug or status word as the journal keeps it: bounded, without
/// key shapes.
fn bounded_id(s: &str) -> String {
    cut(&redact_shapes(s.trim()), MAX_ID)
}

impl Entry {
    pub fn new(kind: Kind, event: &str) -> Entry {
        Entry {
            kind,
            event: bounded_id(event),
            mission: None,
            call_id: None,
            id: None,
            status: None,
            to: None,
            from: None,
            text: None,
        }
    }
    pub fn mission(mut self, slug: &str) -> Entry {
        self.mission = Some(bounded_id(slug));
        self
    }
    pub fn call_id(mut self, id: &str) -> Entry {
        self.call_id = Some(bounded_id(id));
        self
    }
    pub fn id(mut self, id: &str) -> Entry {
        self.id = Some(bounded_id(id));
        self
    }
    pub fn status(mut self, status: &str) -> Entry {
        self.status = Some(bounded_id(status));
        self
    }
    /// The number called or texted, masked.
    pub fn to(mut self, number: &str) -> Entry {
        self.to = Some(mask_phone(number));
        self
    }
    /// The caller or sender, masked.
    pub fn from(mut self, number: &str) -> Entry {
        self.from = Some(mask_phone(number));
        self
    }
    /// Message text or a one-line summary: key shapes redacted, at most
    /// [`MAX_TEXT`] bytes.
    pub fn text(mut self, text: &str) -> Entry {
        self.text = Some(cut(&redact_shapes(text), MAX_TEXT));
        self
    }
}

/// One journal line: the time, then the entry's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339 UTC, milliseconds.
    #[serde(serialize_with = "rfc3339_millis")]
    pub ts: DateTime<Utc>,
    #[serde(flatten)]
    pub entry: Entry,
}

fn rfc3339_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl Record {
    /// The line as written (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Handle on one journal file. Cheap to share (`Arc`); opens nothing until
/// used.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    clock: Arc<dyn Clock>,
    failures: AtomicU64,
}

impl Journal {
    /// The journal at `path`, rotated at [`MAX_BYTES`], on the system clock.
    pub fn at(path: impl Into<PathBuf>) -> Journal {
        Journal {
            path: path.into(),
            max_bytes: MAX_BYTES,
            keep: KEEP,
            clock: Arc::new(SystemClock),
            failures: AtomicU64::new(0),
        }
    }

    /// The journal of the user data directory (beside the default state
    /// file and `clock.json`); `None` without a home directory.
    pub fn default_path() -> Option<PathBuf> {
        crate::config::project_dirs().map(|d| d.data_dir().join(FILE_NAME))
    }

    /// Rotate at `max_bytes`, keeping `keep` old files (at least one).
    pub fn with_limits(mut self, max_bytes: u64, keep: usize) -> Journal {
        self.max_bytes = max_bytes.max(1);
        self.keep = keep.max(1);
        self
    }

    /// Stamp events from `clock` (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Journal {
        self.clock = clock;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sidecar lock file appends and rotation hold.
    pub fn lock_path(&self) -> PathBuf {
        crate::state::write::sibling(&self.path, ".lock")
    }

    /// The `n`th rotated file (`journal.ndjson.1` is the newest).
    pub fn rotated(&self, n: usize) -> PathBuf {
        crate::state::write::sibling(&self.path, &format!(".{n}"))
    }

    /// Every file of the journal that exists, oldest first.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = (1..=self.keep).rev().map(|n| self.rotated(n)).filter(|p| p.is_file()).collect();
        if self.path.is_file() {
            v.push(self.path.clone());
        }
        v
    }

    /// Appends that failed since this handle was made.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Append `entry`, stamped now. Never fails: a journal that cannot be
    /// written must not fail the call or SMS it records; the failure is
    /// logged and counted ([`Journal::failures`]).
    pub fn append(&self, entry: Entry) {
        self.append_all(vec![entry]);
    }

    /// Append several entries, stamped now, under one hold of the lock and
    /// one open of the file (a poll that saw a thousand changes records
    /// them in milliseconds). Each line is still one `write`. Never fails,
    /// as [`Journal::append`].
    pub fn append_all(&self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        if let Err(e) = self.try_append_all(entries) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("cannot write the event journal {}: {e}", self.path.display());
        }
    }

    /// Append `entry`, stamped now, under the lock; rotate first when the
    /// line would take the file past its cap.
    pub fn try_append(&self, entry: Entry) -> io::Result<()> {
        self.try_append_all(vec![entry])
    }

    fn try_append_all(&self, entries: Vec<Entry>) -> io::Result<()> {
        let now = self.clock.now();
        let _lock = FileLock::exclusive(&self.lock_path()).map_err(|e| io::Error::other(e.to_string()))?;
        let mut size = match fs::metadata(&self.path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        let mut file = open_append(&self.path)?;
        for entry in entries {
            let mut line = Record { ts: now, entry }.to_line().into_bytes();
            line.push(b'\n');
            if size > 0 && size + line.len() as u64 > self.max_bytes {
                self.rotate()?;
                file = open_append(&self.path)?;
                size = 0;
            }
            write_line(&file, &line)?;
            size += line.len() as u64;
        }
        Ok(())
    }

    /// Shift the rotated files up by one (the oldest is dropped) and move
    /// the journal to `.1`. Called under the lock.
    fn rotate(&self) -> io::Result<()> {
        // A `forget` mark names the file being renamed away (docs/journal.md#writers).
        let _ = fs::remove_file(crate::state::write::sibling(&self.path, REWRITTEN_MARK));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        fs::rename(&self.path, self.rotated(1))
    }
}

/// Open for appending, created 0600 (with its directory).
fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// `line` in one `write`; a short write is cut back off so the file never
/// ends in half a line.
fn write_line(mut file: &File, line: &[u8]) -> io::Result<()> {
    match file.write(line) {
        Ok(n) if n == line.len() => Ok(()),
        Ok(n) => {
            if let Ok(m) = file.metadata() {
                let _ = file.set_len(m.len().saturating_sub(n as u64));
            }
            Err(io::Error::new(io::ErrorKind::WriteZero, "short write (disk full?)"))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
