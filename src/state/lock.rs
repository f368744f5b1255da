//! The one advisory file lock (`flock`) of the crate: the state store's
//! `<state>.lock`, poll's `<state>.poll.lock` and the connect daemon's
//! `connect.lock` all go through it.
//!
//! Why one helper: each of those used to open, create and lock its file by
//! hand, with slightly different error messages and directory handling.
//! The lock always lives on a sidecar file that is never replaced (a lock on
//! a file that a writer renames over would protect nothing), and the kernel
//! releases it when the [`FileLock`] is dropped or the process dies, even on
//! SIGKILL.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;

use crate::error::{Error, Result};

/// A held lock on one file. Dropping it releases the lock.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// Wait for the exclusive lock on `path` (created, with its directory,
    /// when missing).
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        let file = open(path)?;
        FileExt::lock_exclusive(&file).map_err(|e| lock_error(path, e))?;
        Ok(FileLock { _file: file, path: path.to_path_buf() })
    }

    /// Take the exclusive lock if it is free at once; `None` when another
    /// holder has it (shared or exclusive).
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>> {
        let file = open(path)?;
        Ok(try_lock(&file, path, FileExt::try_lock_exclusive)?.then(|| FileLock { _file: file, path: path.into() }))
    }

    /// Take a shared lock if no exclusive holder has it; `None` otherwise.
    /// Checkers hold it for an instant, so they never see each other.
    pub fn try_shared(path: &Path) -> Result<Option<FileLock>> {
        let file = open(path)?;
        Ok(try_lock(&file, path, FileExt::try_lock_shared)?.then(|| FileLock { _file: file, path: path.into() }))
    }

    /// [`FileLock::try_exclusive`], retried every 10 ms for up to `wait`
    /// (blocking: for a lock that is only ever held for an instant by
    /// others, such as a checker's shared lock). `None` when still held.
    pub fn exclusive_within(path: &Path, wait: Duration) -> Result<Option<FileLock>> {
        let give_up = Instant::now() + wait;
        loop {
            if let Some(l) = FileLock::try_exclusive(path)? {
                return Ok(Some(l));
            }
            if Instant::now() >= give_up {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Open (creating it and its directory) the lock file, never truncating it.
fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::state(format!("cannot create the directory {}: {e}", dir.display())))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::state(format!("cannot open the lock file {}: {e}", path.display())))
}

fn try_lock(file: &File, path: &Path, f: impl FnOnce(&File) -> std::io::Result<bool>) -> Result<bool> {
    match f(file) {
        Ok(taken) => Ok(taken),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(lock_error(path, e)),
    }
}

fn lock_error(path: &Path, e: std::io::Error) -> Error {
    Error::state(format!("cannot lock {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusive_lock_excludes_everyone_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.lock");
        let held = FileLock::exclusive(&p).unwrap();
        assert!(FileLock::try_exclusive(&p).unwrap().is_none());
        assert!(FileLock::try_shared(&p).unwrap().is_none());
        assert!(FileLock::exclusive_within(&p, Duration::from_millis(30)).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_exclusive(&p).unwrap().is_some());
    }

    #[test]
    fn shared_locks_coexist_and_keep_out_an_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = FileLock::try_shared(&p).unwrap().expect("free");
        let b = FileLock::try_shared(&p).unwrap();
        assert!(b.is_some(), "two checkers at once");
        assert!(FileLock::try_exclusive(&p).unwrap().is_none());
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop((a, b));
        });
        assert!(FileLock::exclusive_within(&p, Duration::from_secs(5)).unwrap().is_some());
        release.join().unwrap();
    }
}
