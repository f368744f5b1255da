//! The local mission state file (`docs/protocol.md#state-file`): the only code that touches it.
//!
//! Why this exists: the bot, its cron jobs and the humans all write mission
//! memory at the same time. telnyx_api.py read the whole file, changed it
//! and wrote it back in place with no lock, so concurrent writers lost
//! items and readers crashed on half-written files. Here:
//!
//! - every read-modify-write ([`StateStore::update`]) holds an exclusive
//!   `flock` on a sidecar file `<state>.lock` (never on the state file
//!   itself, which is replaced on every write);
//! - every write is atomic ([`write::atomic_write`]: a temporary file with a
//!   random name created exclusively in the same directory, fsync, rename,
//!   fsync of the directory; new files are private, 0600), so a reader
//!   ([`StateStore::read`], which takes no lock and never waits for a
//!   writer) or a crash sees the old file or the new one, never a mix;
//! - the schema of [`model`] keeps every field it does not know, and a key
//!   written twice in one object is refused rather than guessed at.
//!
//! The API is blocking (plain file I/O). Async code must use
//! [`StateStore::read_async`] / [`StateStore::update_async`], which run it
//! on tokio's blocking pool, or call it inside `spawn_blocking`.
//!
//! Never hold a network call inside `update`: the closure runs with the lock
//! held. Do the request, then record its result with a short `update`.
//!
//! Example (the poll engine recording an event's outcome):
//! ```no_run
//! # fn demo(store: &clawdtalk::state::StateStore, now: chrono::DateTime<chrono::Utc>) -> clawdtalk::Result<()> {
//! store.update(|state| {
//!     let slug = state.active_slug("find-window-washers")?;
//!     if let Some(m) = state.mission_mut(&slug) {
//!         m.update_scheduled_event("ev_123", now, |ev| ev.status = "completed".into())?;
//!     }
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Env;
use crate::error::{Error, Result};
use crate::task::blocking;

pub mod claims;
pub mod event;
pub mod fast;
pub mod forget;
pub mod lock;
pub mod mission;
pub mod model;
pub mod optout;
pub mod reports;
pub mod time;
pub mod write;

pub use claims::{ClaimedLog, LogClaim, RecordKind, RunLog};
pub use event::{AttemptOutcome, RetryIntent, ScheduledEvent, SCHEDULED_EVENTS_KEY, SCHEDULED_EVENT_LOGS};
pub use fast::MemoryWrite;
pub use lock::FileLock;
pub use mission::MissionState;
pub use model::{parse_memory_value, slugify, Found, State, ARCHIVE_KEY};
pub use time::timestamp;

/// The state file's name in the working directory (telnyx_api.py's file).
pub const LEGACY_FILE_NAME: &str = ".missions_state.json";
/// The state file's name in the user data directory.
pub const DATA_FILE_NAME: &str = "missions_state.json";
/// Environment variable naming the state file.
pub const STATE_ENV: &str = "CLAWDTALK_STATE_FILE";

/// Which rule chose the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--state FILE`.
    Flag,
    /// `$CLAWDTALK_STATE_FILE`.
    Env,
    /// `./.missions_state.json`, because it exists (telnyx_api.py's file).
    WorkingDir,
    /// The user data directory (the default, the same for every cwd).
    DataDir,
}

impl Source {
    /// A short description for `state path`.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Flag => "--state",
            Source::Env => "$CLAWDTALK_STATE_FILE",
            Source::WorkingDir => "./.missions_state.json in the working directory",
            Source::DataDir => "the user data directory",
        }
    }
}

/// Where the state file is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub source: Source,
}

/// Find the state file: `--state FILE` > `$CLAWDTALK_STATE_FILE` >
/// `./.missions_state.json` when it exists (compatibility with files
/// telnyx_api.py left in the working directory) > the user data directory
/// (`$XDG_DATA_HOME/clawdtalk/missions_state.json` on Linux), which cron
/// jobs and the bot find whatever their working directory. Relative paths
/// are taken from `cwd`.
pub fn locate(flag: Option<&Path>, env: &dyn Env, cwd: &Path) -> Result<Location> {
    if let Some(p) = flag {
        return Ok(Location { path: cwd.join(p), source: Source::Flag });
    }
    if let Some(p) = env.var(STATE_ENV) {
        return Ok(Location { path: cwd.join(p), source: Source::Env });
    }
    let local = cwd.join(LEGACY_FILE_NAME);
    if local.is_file() {
        return Ok(Location { path: local, source: Source::WorkingDir });
    }
    let dirs = crate::config::project_dirs().ok_or_else(|| {
        Error::state("cannot find a home directory for the state file; pass --state FILE or set CLAWDTALK_STATE_FILE")
    })?;
    Ok(Location { path: dirs.data_dir().join(DATA_FILE_NAME), source: Source::DataDir })
}

/// Handle on one state file. Cheap to clone; opens nothing until used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    /// A store for the file at `path` (which need not exist yet).
    pub fn open(path: impl Into<PathBuf>) -> StateStore {
        StateStore { path: path.into() }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sidecar lock file (`<state>.lock`).
    pub fn lock_path(&self) -> PathBuf {
        write::sibling(&self.path, ".lock")
    }

    /// The sidecar lock `init` holds while it creates a mission
    /// (`<state>.init.lock`), so inits of one name take turns.
    pub fn init_lock_path(&self) -> PathBuf {
        write::sibling(&self.path, ".init.lock")
    }

    /// Read the current state without locking: writers replace the file
    /// atomically, so this sees a whole file and never waits. A missing
    /// file is an empty state.
    pub fn read(&self) -> Result<State> {
        // A file that does not parse can only come from a writer that does
        // not replace atomically (telnyx_api.py writes in place): wait for
        // it to finish before reporting the file as broken.
        let mut last = String::new();
        for attempt in 0..4 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(25 * attempt));
            }
            let bytes = match fs::read(&self.path) {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(State::default()),
                Err(e) => return Err(Error::state(format!("cannot read the state file {}: {e}", self.path.display()))),
            };
            match State::from_json(&bytes) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(Error::state(format!(
            "the state file {} is {last}; nothing was changed. Fix or move the file (see `clawdtalk state path`)",
            self.path.display()
        )))
    }

    /// Read-modify-write under the exclusive lock: load, run `f`, and when
    /// `f` succeeds write the result atomically. When `f` fails nothing is
    /// written. Concurrent updates from any number of processes are applied
    /// one after the other, none lost. `f` must not do network I/O.
    pub fn update<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        self.locked(|target| {
            let mut state = StateStore::open(target).read()?;
            let out = f(&mut state)?;
            write_file(target, &state.to_json_bytes())?;
            Ok(out)
        })
    }

    /// Save or append one memory value of a mission, under the lock. When
    /// `mission` is exactly the slug of an active mission that has a memory
    /// object, the [`fast`] path changes only that value (same bytes as the
    /// general path, without decoding the whole file); otherwise
    /// `general(state)` runs as in [`StateStore::update`]. Returns the slug
    /// and the value's length after the write (what `general` returns).
    pub fn write_memory(
        &self,
        mission: &str,
        key: &str,
        w: &MemoryWrite,
        now: chrono::DateTime<chrono::Utc>,
        general: impl FnOnce(&mut State) -> Result<(String, usize)>,
    ) -> Result<(String, usize)> {
        self.locked(|target| {
            let bytes = match fs::read(target) {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(Error::state(format!("cannot read the state file {}: {e}", target.display()))),
            };
            if let Some((out, n)) = fast::memory_write(&bytes, mission, key, w, now) {
                write_file(target, &out)?;
                return Ok((mission.to_string(), n));
            }
            let mut state = StateStore::open(target).read()?;
            let out = general(&mut state)?;
            write_file(target, &state.to_json_bytes())?;
            Ok(out)
        })
    }

    /// Run `f` with the exclusive lock held; `f` gets the file to replace.
    fn locked<T>(&self, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
        let target =
            write::write_target(&self.path).map_err(|e| Error::state(format!("cannot write the state file: {e}")))?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .map_err(|e| Error::state(format!("cannot create the state directory {}: {e}", dir.display())))?;
        }
        let _lock = FileLock::exclusive(&write::sibling(&target, ".lock"))?;
        // Dropping the lock (on return) releases it.
        f(&target)
    }

    /// [`StateStore::read`] on tokio's blocking pool.
    pub async fn read_async(&self) -> Result<State> {
        let store = self.clone();
        blocking(move || store.read()).await
    }

    /// [`StateStore::update`] on tokio's blocking pool.
    pub async fn update_async<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut State) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || store.update(f)).await
    }

    /// [`StateStore::write_memory`] on tokio's blocking pool.
    pub async fn write_memory_async<F>(
        &self,
        mission: String,
        key: String,
        w: MemoryWrite,
        now: chrono::DateTime<chrono::Utc>,
        general: F,
    ) -> Result<(String, usize)>
    where
        F: FnOnce(&mut State) -> Result<(String, usize)> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || store.write_memory(&mission, &key, &w, now, general)).await
    }
}

fn write_file(target: &Path, bytes: &[u8]) -> Result<()> {
    write::atomic_write(target, bytes, None)
        .map_err(|e| Error::state(format!("cannot write the state file {}: {e}", target.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;
    use serde_json::json;

    #[test]
    fn location_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let env = MapEnv::default().with(STATE_ENV, "from-env.json");
        let flag = locate(Some(Path::new("flag.json")), &env, cwd).unwrap();
        assert_eq!(flag, Location { path: cwd.join("flag.json"), source: Source::Flag });
        let by_env = locate(None, &env, cwd).unwrap();
        assert_eq!(by_env, Location { path: cwd.join("from-env.json"), source: Source::Env });
        let none = MapEnv::default();
        assert_eq!(locate(None, &none, cwd).unwrap().source, Source::DataDir);
        fs::write(cwd.join(LEGACY_FILE_NAME), "{}").unwrap();
        assert_eq!(
            locate(None, &none, cwd).unwrap(),
            Location { path: cwd.join(LEGACY_FILE_NAME), source: Source::WorkingDir }
        );
        assert_eq!(locate(None, &env, cwd).unwrap().source, Source::Env);
    }

    #[test]
    fn update_writes_atomically_and_read_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("sub/state.json"));
        assert_eq!(store.read().unwrap(), State::default());
        let n = store.update(|s| s.mission_or_create("m").memory_append("k", json!(1), chrono::Utc::now())).unwrap();
        assert_eq!(n, 1);
        assert_eq!(store.read().unwrap().mission("m").unwrap().memory_get("k"), Some(&json!([1])));
        let left: Vec<_> =
            fs::read_dir(store.path().parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "the state file and its lock, no temporary file: {left:?}");
        assert!(store.lock_path().exists());
    }

    #[test]
    fn failed_update_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, "{\"a\": {}}").unwrap();
        let store = StateStore::open(&path);
        let r: Result<()> = store.update(|s| {
            s.mission_or_create("b");
            Err(Error::usage("no"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\": {}}");
    }

    #[test]
    fn broken_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, "{\"a\": ").unwrap();
        let e = StateStore::open(&path).read().unwrap_err();
        assert!(matches!(e, Error::State(_)));
        assert!(e.to_string().contains("s.json") && e.to_string().contains("not valid JSON"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_state_file_stays_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        fs::write(&real, "{}").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        StateStore::open(&link)
            .update(|s| {
                s.mission_or_create("m").set("x", 1);
                Ok(())
            })
            .unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert!(fs::read_to_string(&real).unwrap().contains("\"x\": 1"));
    }

    #[cfg(unix)]
    #[test]
    fn a_new_state_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("s.json"));
        store
            .update(|s| s.mission_or_create("m").memory_save("phone", "+15551234567".into(), chrono::Utc::now()))
            .unwrap();
        assert_eq!(fs::metadata(store.path()).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlinked_state_file_is_refused_with_a_state_error() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("s.json");
        std::os::unix::fs::symlink(dir.path().join("gone.json"), &link).unwrap();
        let e = StateStore::open(&link)
            .update(|s| s.mission_or_create("m").memory_save("x", 1.into(), chrono::Utc::now()))
            .unwrap_err();
        assert!(matches!(e, Error::State(_)), "{e:?}");
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert!(!dir.path().join("gone.json").exists());
    }

    #[test]
    fn a_state_file_with_a_key_twice_is_refused_by_reads_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let text = r#"{"m": {"memory": {"k": [1]}}, "m": {"memory": {"k": [2]}}}"#;
        fs::write(&path, text).unwrap();
        let store = StateStore::open(&path);
        let e = store.read().unwrap_err();
        assert!(matches!(e, Error::State(_)) && e.to_string().contains("\"m\" appears twice"), "{e}");
        assert!(store.update(|s| s.mission_or_create("m").memory_append("k", json!(3), chrono::Utc::now())).is_err());
        let w = MemoryWrite::Append(json!(3));
        let r = store.write_memory("m", "k", &w, chrono::Utc::now(), |s| {
            let n = s.mission_mut("m").unwrap().memory_append("k", json!(3), chrono::Utc::now())?;
            Ok(("m".into(), n))
        });
        assert!(r.is_err(), "the fast path does not pick a copy either");
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
    }
}
