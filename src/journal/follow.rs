//! Reading the journal: what is already there, and what is appended next
//! (`tail --follow`), across rotation. Readers take no lock: every line is
//! written whole in one `write`, so a reader only ever holds back a line
//! it has not yet seen the end of.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{Journal, Kind, Record};

/// Which events `tail` shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events of this mission (by slug).
    pub mission: Option<String>,
    /// Only events of these kinds (all when empty).
    pub kinds: Vec<Kind>,
}

impl Filter {
    pub fn matches(&self, r: &Record) -> bool {
        self.since.is_none_or(|t| r.ts >= t)
            && self.mission.as_ref().is_none_or(|m| r.entry.mission.as_deref() == Some(m.as_str()))
            && (self.kinds.is_empty() || self.kinds.contains(&r.entry.kind))
    }
}

/// The event on one journal line; `None` for a line that is not one (a
/// reader skips it rather than stop).
pub fn parse_line(line: &str) -> Option<Record> {
    serde_json::from_str(line).ok()
}

/// The lines of the rotated files, oldest first (what `tail` shows before
/// the current file). A file that vanishes meanwhile is skipped.
pub fn rotated_lines(journal: &Journal) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for p in journal.files().into_iter().filter(|p| p != journal.path()) {
        match fs::read(&p) {
            Ok(bytes) => out.extend(complete_lines(&bytes, &mut Vec::new())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Split `bytes` (after `partial`, the unfinished line of an earlier read)
/// into complete lines; what follows the last newline stays in `partial`.
fn complete_lines(bytes: &[u8], partial: &mut Vec<u8>) -> Vec<String> {
    partial.extend_from_slice(bytes);
    let Some(last) = partial.iter().rposition(|b| *b == b'\n') else {
        return Vec::new();
    };
    let rest = partial.split_off(last + 1);
    let lines = partial
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    *partial = rest;
    lines
}

/// Follows one journal file as it grows, is rotated away (renamed: the
/// rest of the old file is read, then the new one from its start) or is
/// truncated (read again from the start). A file rotated away twice
/// between two polls (5 MiB written within one poll interval) would have
/// the file in between skipped.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    /// (device, inode) of `file`.
    identity: (u64, u64),
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// A follower of `path` from its start (opened now when it exists, so
    /// nothing appended after this call is missed).
    pub fn new(path: &Path) -> Follower {
        let mut f = Follower { path: path.to_path_buf(), file: None, identity: (0, 0), offset: 0, partial: Vec::new() };
        f.open();
        f
    }

    fn open(&mut self) -> bool {
        match File::open(&self.path) {
            Ok(file) => {
                self.identity = file.metadata().map(|m| identity(&m)).unwrap_or_default();
                self.file = Some(file);
                self.offset = 0;
                self.partial.clear();
                true
            }
            Err(_) => false,
        }
    }

    /// The complete lines appended since the last call (the whole file on
    /// the first).
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        if self.file.is_none() && !self.open() {
            return Ok(Vec::new());
        }
        let mut out = self.drain()?;
        match fs::metadata(&self.path) {
            Ok(m) if identity(&m) != self.identity => {
                // Rotated: a writer may have finished a line in the old
                // file after the drain above and before the rename.
                out.extend(self.drain()?);
                if self.open() {
                    // `forget` rewrote it: it holds what was shown, masked.
                    if let Some(len) = rewritten_len(&self.path, self.identity) {
                        self.offset = len;
                    }
                    out.extend(self.drain()?);
                }
            }
            // Truncated: read it again from the start.
            Ok(m) if m.len() < self.offset && self.open() => out.extend(self.drain()?),
            // Renamed away and not created again yet: keep the old file.
            _ => {}
        }
        Ok(out)
    }

    /// Read the open file from `offset` to its end.
    fn drain(&mut self) -> io::Result<Vec<String>> {
        let Some(file) = self.file.as_mut() else {
            return Ok(Vec::new());
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        Ok(complete_lines(&buf, &mut self.partial))
    }
}

/// Where a follower goes on in `journal`, whose file now has `identity`,
/// when `forget` rewrote it (docs/journal.md#writers); `None` for any other
/// replacement (rotation). The mark beside the journal holds the new
/// file's `{"dev", "ino", "len"}` as written: it holds what a follower has
/// shown (masked), so the follower goes on from `len` instead of showing
/// it all again. Rotation removes the mark.
pub fn rewritten_len(journal: &Path, identity: (u64, u64)) -> Option<u64> {
    let mark = crate::state::write::sibling(journal, super::REWRITTEN_MARK);
    let v: serde_json::Value = serde_json::from_slice(&fs::read(mark).ok()?).ok()?;
    let field = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
    (identity != (0, 0) && (field("dev")?, field("ino")?) == identity).then(|| field("len")).flatten()
}

#[cfg(unix)]
pub(super) fn identity(m: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

/// Without inodes, rotation shows as the file shrinking.
#[cfg(not(unix))]
pub(super) fn identity(_m: &fs::Metadata) -> (u64, u64) {
    (0, 0)
}
