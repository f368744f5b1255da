//! Erasing a number from the journal (`clawdtalk forget`,
//! docs/optout.md#forgetting-a-number). The journal keeps numbers masked
//! (`+1 ***0006`), so a line whose `to` or `from` is the number's masked
//! form is about that person and is removed whole (its message text
//! with it; another number with the same country code and last four digits
//! goes too: erasing errs on the side of erasing). The number written in
//! full anywhere else in a line is replaced by its masked form.
//!
//! Each file (the journal and its rotated copies) is rewritten under the
//! journal's lock, so no append or rotation runs meanwhile, with the one
//! atomic write: a reader sees the old file or the new one.

use std::fs;
use std::io;

use serde::Serialize;
use serde_json::Value;

use super::Journal;
use crate::redact::erase_number;
use crate::state::write::atomic_write;
use crate::state::FileLock;

/// What was erased from the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JournalErased {
    /// Lines about the number, removed.
    pub lines_removed: usize,
    /// Other occurrences of the number, masked.
    pub values_masked: usize,
}

impl Journal {
    /// Remove the lines about `number` (E.164; `masked` its masked form)
    /// and mask it everywhere else, in every file of the journal.
    pub fn forget(&self, number: &str, masked: &str) -> io::Result<JournalErased> {
        let _lock = FileLock::exclusive(&self.lock_path()).map_err(|e| io::Error::other(e.to_string()))?;
        let mut erased = JournalErased::default();
        for path in self.files() {
            let bytes = fs::read(&path)?;
            let text = String::from_utf8_lossy(&bytes);
            let mut out = String::with_capacity(text.len());
            let mut changed = false;
            for line in text.lines() {
                if about(line, masked) {
                    erased.lines_removed += 1;
                    changed = true;
                    continue;
                }
                let (new, n) = erase_number(line, number, masked);
                erased.values_masked += n;
                changed |= n > 0;
                out.push_str(&new);
                out.push('\n');
            }
            if changed {
                atomic_write(&path, out.as_bytes(), Some(0o600))?;
                if path == self.path() {
                    mark_rewritten(&path, out.len() as u64)?;
                }
            }
        }
        Ok(erased)
    }
}

/// Write the mark of `forget` for the journal just rewritten with `len`
/// bytes (under the lock: nothing was appended since); see
/// [`super::follow::rewritten_len`].
fn mark_rewritten(path: &std::path::Path, len: u64) -> io::Result<()> {
    let (dev, ino) = super::follow::identity(&fs::metadata(path)?);
    let mark = serde_json::json!({"dev": dev, "ino": ino, "len": len}).to_string();
    let at = crate::state::write::sibling(path, super::REWRITTEN_MARK);
    atomic_write(&at, mark.as_bytes(), Some(0o600))
}

/// The line's `to` or `from` is the masked number.
fn about(line: &str, masked: &str) -> bool {
    if !line.contains(masked) {
        return false;
    }
    match serde_json::from_str::<Value>(line) {
        Ok(v) => {
            v.get("to").and_then(Value::as_str) == Some(masked) || v.get("from").and_then(Value::as_str) == Some(masked)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Entry, Kind};
    use super::*;

    #[test]
    fn lines_about_the_number_go_and_it_is_masked_elsewhere_in_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path().join("journal.ndjson")).with_limits(400, 2);
        j.append(Entry::new(Kind::Sms, "sms.received").from("+15005550006").text("my address is 1 Main St"));
        j.append(Entry::new(Kind::Sms, "sms.sent").to("+15005550004").text("ask +15005550006 too"));
        for i in 0..6 {
            j.append(Entry::new(Kind::Call, "call.placed").to("+15005550004").call_id(&format!("c{i}")));
        }
        j.append(Entry::new(Kind::Call, "call.placed").to("+15005550006").call_id("c9"));
        assert!(j.files().len() > 1, "rotated");
        let e = j.forget("+15005550006", "+1 ***0006").unwrap();
        assert_eq!(e, JournalErased { lines_removed: 2, values_masked: 1 });
        let all: String = j.files().iter().map(|p| fs::read_to_string(p).unwrap()).collect();
        assert!(!all.contains("5005550006") && !all.contains("***0006\"") && !all.contains("Main St"), "{all}");
        assert_eq!(all.lines().count(), 7, "other lines stay: {all}");
        assert!(all.contains("ask +1 ***0006 too"));
    }

    #[cfg(unix)]
    #[test]
    fn a_follower_goes_on_after_a_forget_without_showing_the_journal_again() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path().join("journal.ndjson"));
        j.append(Entry::new(Kind::Sms, "sms.sent").to("+15005550004").text("call +15005550006"));
        j.append(Entry::new(Kind::Call, "call.placed").to("+15005550006"));
        let mut f = super::super::follow::Follower::new(j.path());
        assert_eq!(f.poll().unwrap().len(), 2);
        j.forget("+15005550006", "+1 ***0006").unwrap();
        j.append(Entry::new(Kind::Call, "call.placed").call_id("after"));
        let lines = f.poll().unwrap();
        assert_eq!(lines.len(), 1, "only what came after: {lines:?}");
        assert!(lines[0].contains("after"));
        // A rotation later is still followed from the new file's start.
        let j = j.with_limits(1, 2);
        j.append(Entry::new(Kind::Call, "call.placed").call_id("rotated"));
        let lines = f.poll().unwrap();
        assert!(lines.iter().any(|l| l.contains("rotated")), "{lines:?}");
    }
}
