//! The opt-out (suppression) list, `optout.json` in the data directory
//! (docs/optout.md): the numbers clawdtalk must never call or text again,
//! global across missions.
//!
//! Why its own file and not the state file: the list outlives missions
//! (archived, deleted, forgotten) and `forget` erases a number everywhere
//! else but must leave the entry here, or the next campaign would dial it.
//! It keeps only what it needs to keep refusing: the number, why, where the
//! request came from (`cli` or `sms-stop`) and when.
//!
//! Writers (`optout add|remove`, the `connect` daemon on a STOP) take the
//! one [`FileLock`] on `optout.json.lock` and replace the file with the one
//! [`atomic_write`] (0600); readers (the outbound gate, `poll`) take no lock
//! and never see a partial file. A file that cannot be read or parsed is an
//! error (exit 5): the gate fails closed rather than sending to a number it
//! cannot check.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::redact::cut;

use super::lock::FileLock;
use super::time::timestamp;
use super::write::{atomic_write, sibling};

/// The list's file name in the data directory.
pub const FILE_NAME: &str = "optout.json";
/// Bytes of a reason kept.
pub const MAX_REASON: usize = 200;
/// `source` of an entry added with `clawdtalk optout add`.
pub const SOURCE_CLI: &str = "cli";
/// `source` of an entry added because the number texted STOP.
pub const SOURCE_SMS_STOP: &str = "sms-stop";

/// One opted-out number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    /// E.164.
    pub number: String,
    #[serde(default)]
    pub reason: String,
    /// [`SOURCE_CLI`] or [`SOURCE_SMS_STOP`].
    #[serde(default)]
    pub source: String,
    /// When it was added (the state file's timestamp format).
    #[serde(default)]
    pub at: String,
}

impl OptOut {
    /// An entry for `number` (already validated), stamped `now`; the reason
    /// is trimmed and bounded.
    pub fn new(number: &str, reason: &str, source: &str, now: DateTime<Utc>) -> OptOut {
        OptOut {
            number: number.to_string(),
            reason: cut(reason.trim(), MAX_REASON),
            source: source.into(),
            at: timestamp(now),
        }
    }
}

/// The file's shape: `{"version": 1, "numbers": [...]}`, sorted by number.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ListFile {
    #[serde(default = "version")]
    version: u32,
    #[serde(default)]
    numbers: Vec<OptOut>,
}

fn version() -> u32 {
    1
}

/// Handle on the list in one data directory. Opens nothing until used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutList {
    path: PathBuf,
}

impl OptOutList {
    /// The list of the data directory `dir`.
    pub fn in_dir(dir: &Path) -> OptOutList {
        OptOutList { path: dir.join(FILE_NAME) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sidecar lock writers hold.
    pub fn lock_path(&self) -> PathBuf {
        sibling(&self.path, ".lock")
    }

    /// Every entry, keyed by number. A missing file is an empty list.
    pub fn read(&self) -> Result<BTreeMap<String, OptOut>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.broken(&e.to_string())),
        };
        let file: ListFile =
            serde_json::from_slice(&bytes).map_err(|e| self.broken(&format!("not valid JSON: {e}")))?;
        Ok(file.numbers.into_iter().map(|o| (o.number.clone(), o)).collect())
    }

    /// The entry for `number`, if it is on the list.
    pub fn find(&self, number: &str) -> Result<Option<OptOut>> {
        Ok(self.read()?.remove(number))
    }

    /// Add `entry` under the lock. An entry already there is kept as it is
    /// (its first reason and time); returns whether `entry` was new.
    pub fn add(&self, entry: OptOut) -> Result<bool> {
        self.update(|all| {
            if all.contains_key(&entry.number) {
                return false;
            }
            all.insert(entry.number.clone(), entry);
            true
        })
    }

    /// Remove `number` under the lock; returns the entry it had.
    pub fn remove(&self, number: &str) -> Result<Option<OptOut>> {
        let mut removed = None;
        self.update(|all| {
            removed = all.remove(number);
            removed.is_some()
        })?;
        Ok(removed)
    }

    /// Read, change and (when `change` says so) write back, under the lock.
    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, OptOut>) -> bool) -> Result<bool> {
        let _lock = FileLock::exclusive(&self.lock_path())?;
        let mut all = self.read()?;
        if !change(&mut all) {
            return Ok(false);
        }
        let file = ListFile { version: version(), numbers: all.into_values().collect() };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::file(e.to_string()))?;
        bytes.push(b'\n');
        atomic_write(&self.path, &bytes, Some(0o600))
            .map_err(|e| Error::file(format!("cannot write the opt-out list {}: {e}", self.path.display())))?;
        Ok(true)
    }

    fn broken(&self, why: &str) -> Error {
        Error::file(format!(
            "cannot read the opt-out list {}: {why}. Nothing is sent while it cannot be checked: fix or restore the file",
            self.path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-05T15:00:00Z".parse().unwrap()
    }

    #[test]
    fn add_find_remove_round_trip_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let list = OptOutList::in_dir(dir.path());
        assert!(list.read().unwrap().is_empty(), "a missing file is an empty list");
        assert!(list.add(OptOut::new("+15005550006", "  asked by phone ", SOURCE_CLI, now())).unwrap());
        assert!(!list.add(OptOut::new("+15005550006", "again", SOURCE_SMS_STOP, now())).unwrap(), "kept once");
        let found = list.find("+15005550006").unwrap().unwrap();
        assert_eq!((found.reason.as_str(), found.source.as_str()), ("asked by phone", SOURCE_CLI));
        assert_eq!(list.find("+15005550007").unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(list.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(list.remove("+15005550006").unwrap().map(|o| o.number), Some("+15005550006".into()));
        assert_eq!(list.remove("+15005550006").unwrap(), None);
        assert!(list.read().unwrap().is_empty());
    }

    #[test]
    fn a_broken_file_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let list = OptOutList::in_dir(dir.path());
        std::fs::write(list.path(), b"{not json").unwrap();
        let e = list.find("+15005550006").unwrap_err();
        assert_eq!(e.exit_code(), 5, "{e}");
        assert!(list.add(OptOut::new("+15005550006", "", SOURCE_CLI, now())).is_err(), "never overwritten");
    }

    #[test]
    fn concurrent_adds_keep_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let list = OptOutList::in_dir(dir.path());
                std::thread::spawn(move || {
                    for j in 0..10 {
                        let n = format!("+1500555{i:02}{j:02}");
                        list.add(OptOut::new(&n, "", SOURCE_CLI, now())).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(OptOutList::in_dir(dir.path()).read().unwrap().len(), 80);
    }
}
