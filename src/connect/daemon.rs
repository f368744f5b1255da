//! Running `connect` as a background service: one runtime directory per
//! configuration holding the instance lock, pid file, status file and log.
//!
//! Single instance is guaranteed by an exclusive `flock` on `connect.lock`,
//! held for the life of the process (the kernel drops it when the process
//! dies, even on SIGKILL). The pid file is only information: when the lock
//! is free, any pid file left behind is stale and is removed.
//!
//! Everything here is blocking (files, signals, short sleeps); async callers
//! run it under `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{Config, Env};
use crate::error::{Error, Result};
use crate::openclaw;
use crate::state::FileLock;

/// Overrides the base of runtime directories (tests, containers).
pub const RUNTIME_DIR_ENV: &str = "CLAWDTALK_RUNTIME_DIR";
/// The log is rotated (to `connect.log.1`) when it reaches this size.
pub const LOG_MAX_BYTES: u64 = 1024 * 1024;
/// How long a starting instance retries a lock held by a checker.
pub const ACQUIRE_WAIT: Duration = Duration::from_secs(1);
/// `stop` waits this long after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The runtime directory of one configuration.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub dir: PathBuf,
}

impl Runtime {
    /// `$CLAWDTALK_RUNTIME_DIR` or the user data directory, then
    /// `connect-<hash>` where the hash names the config file and API URL, so
    /// two configurations can each run one client.
    pub fn for_config(cfg: &Config, env: &dyn Env) -> Result<Runtime> {
        let base = match env.var(RUNTIME_DIR_ENV) {
            Some(d) => PathBuf::from(d),
            None => crate::config::project_dirs().map(|d| d.data_local_dir().join("connect")).ok_or_else(|| {
                Error::config(format!("cannot find a home directory for runtime files; set ${RUNTIME_DIR_ENV}"))
            })?,
        };
        let file = cfg.file.as_ref().map(|f| fs::canonicalize(f).unwrap_or_else(|_| f.clone()));
        let identity =
            format!("{}\n{}", file.as_ref().map(|f| f.display().to_string()).unwrap_or_default(), cfg.api_url);
        Ok(Runtime { dir: base.join(format!("connect-{:016x}", fnv1a(identity.as_bytes()))) })
    }

    pub fn lock_file(&self) -> PathBuf {
        self.dir.join("connect.lock")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("connect.pid")
    }
    pub fn status_file(&self) -> PathBuf {
        self.dir.join("status.json")
    }
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("connect.log")
    }

    fn ensure_dir(&self) -> Result<()> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| Error::state(format!("cannot create the runtime directory {}: {e}", self.dir.display())))
    }

    /// Take the instance lock and write the pid file; `Err` when another
    /// instance holds it. Checkers ([`Runtime::running`]) hold the lock for
    /// an instant, so a busy lock is retried for up to [`ACQUIRE_WAIT`]
    /// before it counts as another instance.
    pub fn acquire(&self) -> Result<InstanceLock> {
        let Some(lock) = FileLock::exclusive_within(&self.lock_file(), ACQUIRE_WAIT)? else {
            let pid = self.read_pid().map(|p| format!(" (pid {p})")).unwrap_or_default();
            return Err(Error::failed(format!(
                "clawdtalk connect is already running for this configuration{pid}; stop it with \
                 `clawdtalk connect stop`"
            )));
        };
        let pid = std::process::id();
        fs::write(self.pid_file(), format!("{pid}\n"))
            .map_err(|e| Error::state(format!("cannot write {}: {e}", self.pid_file().display())))?;
        Ok(InstanceLock { _lock: lock, pid_file: self.pid_file(), pid })
    }

    /// The pid of the running instance, if one holds the lock. A pid file
    /// without a lock holder is stale and is removed.
    ///
    /// The check takes a *shared* lock for an instant: checkers running at
    /// the same time never see each other as an instance, and an instance
    /// starting meanwhile waits for it ([`Runtime::acquire`]).
    pub fn running(&self) -> Result<Option<u32>> {
        if !self.lock_file().exists() {
            self.remove_stale_pid();
            return Ok(None);
        }
        match FileLock::try_shared(&self.lock_file())? {
            Some(check) => {
                // Nobody runs: clean up while still holding the lock, so an
                // instance starting now cannot have written its pid yet.
                self.remove_stale_pid();
                drop(check);
                Ok(None)
            }
            // Held: the holder writes its pid right after locking; 0 while it has not yet.
            None => Ok(Some(self.read_pid().unwrap_or(0))),
        }
    }

    fn remove_stale_pid(&self) {
        if self.pid_file().exists() {
            tracing::debug!("removing a stale pid file");
            let _ = fs::remove_file(self.pid_file());
        }
    }

    pub fn read_pid(&self) -> Option<u32> {
        fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok().filter(|p| *p > 0)
    }

    /// The status the running client last wrote.
    pub fn read_status(&self) -> Option<Value> {
        serde_json::from_str(&fs::read_to_string(self.status_file()).ok()?).ok()
    }

    /// Write the status file atomically ([`crate::state::write::atomic_write`]).
    pub fn write_status(&self, status: &Value) -> Result<()> {
        self.ensure_dir()?;
        crate::state::write::atomic_write(&self.status_file(), status.to_string().as_bytes(), None)
            .map_err(|e| Error::state(format!("cannot write {}: {e}", self.status_file().display())))
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> Vec<String> {
        let text = fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect()
    }

    /// Start `exe args` detached: new session (setsid), stdin from
    /// /dev/null, stdout and stderr appended to the log (panics land there;
    /// the child's [`RotatingLog`] keeps them on the current file).
    pub fn spawn_detached(
        &self,
        exe: &Path,
        args: &[String],
        env: &[(&str, String)],
        cwd: &Path,
    ) -> Result<std::process::Child> {
        use std::os::unix::process::CommandExt;
        self.ensure_dir()?;
        // Private (0600) like every log: it holds transcripts and numbers.
        let log = open_log(&self.log_file())
            .map_err(|e| Error::state(format!("cannot open {}: {e}", self.log_file().display())))?;
        let log2 = log.try_clone().map_err(|e| Error::state(format!("cannot open the log: {e}")))?;
        let mut cmd = std::process::Command::new(exe);
        cmd.args(args).current_dir(cwd).stdin(std::process::Stdio::null()).stdout(log).stderr(log2);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn().map_err(|e| Error::failed(format!("cannot start {}: {e}", exe.display())))
    }

    /// Stop the running instance: SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&self, grace: Duration) -> Result<Stopped> {
        let Some(mut pid) = self.running()? else { return Ok(Stopped::NotRunning) };
        if pid == 0 {
            // starting up: the pid file is written right after the lock
            std::thread::sleep(Duration::from_millis(300));
            pid = self.read_pid().ok_or_else(|| {
                Error::failed(format!("a client holds {} but wrote no pid file", self.lock_file().display()))
            })?;
        }
        signal(pid, libc::SIGTERM)?;
        if self.wait_released(grace) {
            return Ok(Stopped::Stopped { pid, forced: false });
        }
        tracing::warn!(pid, "no exit after SIGTERM; sending SIGKILL");
        signal(pid, libc::SIGKILL)?;
        if self.wait_released(Duration::from_secs(3)) {
            self.remove_stale_pid();
            Ok(Stopped::Stopped { pid, forced: true })
        } else {
            Err(Error::failed(format!("pid {pid} did not exit after SIGKILL")))
        }
    }

    fn wait_released(&self, within: Duration) -> bool {
        let end = Instant::now() + within;
        loop {
            if matches!(self.running(), Ok(None)) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// What `stop` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    NotRunning,
    Stopped { pid: u32, forced: bool },
}

fn signal(pid: u32, sig: libc::c_int) -> Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| Error::failed(format!("bad pid {pid}")))?;
    // SAFETY: kill(2) has no memory-safety preconditions.
    let r = unsafe { libc::kill(pid, sig) };
    if r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(Error::failed(format!("cannot signal pid {pid}: {}", io::Error::last_os_error())))
    }
}

/// Held for the life of the running client; removes the pid file on drop.
#[derive(Debug)]
pub struct InstanceLock {
    _lock: FileLock,
    pid_file: PathBuf,
    pid: u32,
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // only our own pid file
        if fs::read_to_string(&self.pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok()) == Some(self.pid) {
            let _ = fs::remove_file(&self.pid_file);
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// A log file rotated at [`LOG_MAX_BYTES`] (one old file kept: `.1`), for
/// the tracing subscriber of `connect run --log-file`.
///
/// A background client started by `connect start` also has its stdout and
/// stderr pointed at this file (panics, the final note and errors printed on
/// the way out land there). Those standard streams follow every rotation:
/// the new file is put on them with `dup2`, so nothing written to stderr
/// ends up in `.1` or in a deleted file, and the size that triggers rotation
/// is the file's own (what the streams wrote counts too).
///
/// It survives what a flood or an operator does to it: when the file cannot
/// be opened (descriptors exhausted, a directory in its place) or vanishes
/// (deleted, renamed), each later line tries again to reopen it, so logging
/// never stops for good; the lines lost meanwhile are counted and noted in
/// the log once it is back. Each line is written with one `write` call, and
/// a short write is cut back off, so the log never holds a torn line; a line
/// that would take the file past its cap starts a new file instead, and a
/// line bigger than the cap is dropped (and counted).
#[derive(Clone)]
pub struct RotatingLog {
    inner: Arc<Mutex<LogInner>>,
}

struct LogInner {
    path: PathBuf,
    /// `None` after a failure: reopened on the next write.
    file: Option<File>,
    max: u64,
    /// Descriptors (stdout, stderr) that were this file when it was opened:
    /// they are moved to the new file on rotation or reopening.
    streams: Vec<std::os::unix::io::RawFd>,
    /// Lines dropped since the log was last written.
    lost: u64,
}

impl RotatingLog {
    /// Open (append) `path`; stdout and stderr follow rotations when they
    /// already write to this very file (the background client).
    pub fn open(path: &Path, max: u64) -> io::Result<RotatingLog> {
        RotatingLog::open_following(path, max, &[libc::STDOUT_FILENO, libc::STDERR_FILENO])
    }

    /// [`RotatingLog::open`] with the candidate descriptors given: those of
    /// `candidates` that write to `path` are kept on the current file.
    pub fn open_following(path: &Path, max: u64, candidates: &[std::os::unix::io::RawFd]) -> io::Result<RotatingLog> {
        use std::os::unix::fs::MetadataExt;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = open_log(path)?;
        let meta = file.metadata()?;
        let streams =
            candidates.iter().copied().filter(|fd| fd_identity(*fd) == Some((meta.dev(), meta.ino()))).collect();
        Ok(RotatingLog {
            inner: Arc::new(Mutex::new(LogInner { path: path.to_path_buf(), file: Some(file), max, streams, lost: 0 })),
        })
    }
}

/// Open the log for appending, readable by its owner only (it holds
/// transcripts and masked numbers).
fn open_log(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// The (device, inode) a descriptor writes to, if it is open.
fn fd_identity(fd: std::os::unix::io::RawFd) -> Option<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a `stat` into the buffer we own; it reads no other memory.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat returned 0, so it filled the structure.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Some((st.st_dev as u64, u64::from(st.st_ino)))
}

impl LogInner {
    /// The open file, when it is still the file at `path`; `None` when it
    /// must be (re)opened: after a failure, or when the path was deleted,
    /// renamed away or replaced.
    fn current(&mut self) -> Option<&mut File> {
        use std::os::unix::fs::MetadataExt;
        let same = match (&self.file, fs::metadata(&self.path)) {
            (Some(f), Ok(at_path)) => f.metadata().is_ok_and(|m| (m.dev(), m.ino()) == (at_path.dev(), at_path.ino())),
            _ => false,
        };
        if !same {
            self.file = None;
        }
        self.file.as_mut()
    }

    /// Open the file at `path` again and point the followed streams at it.
    fn reopen(&mut self) -> io::Result<()> {
        use std::os::unix::io::AsRawFd;
        self.file = None;
        let file = open_log(&self.path)?;
        for fd in &self.streams {
            // SAFETY: dup2 only changes the descriptor table: `fd` now names the new log file.
            if unsafe { libc::dup2(file.as_raw_fd(), *fd) } == -1 {
                self.lost += 1;
            }
        }
        self.file = Some(file);
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        self.file = None;
        fs::rename(&self.path, &old)?;
        self.reopen()
    }

    /// Write `line` whole, or not at all (counted as lost).
    fn write_line(&mut self, line: &[u8]) {
        let note = match self.lost {
            0 => String::new(),
            n => format!("(log: {n} earlier line(s) could not be written)\n"),
        };
        let len = (note.len() + line.len()) as u64;
        if len > self.max {
            self.lost += 1;
            return;
        }
        if self.current().is_none() && self.reopen().is_err() {
            self.lost += 1;
            return;
        }
        // The file's real size: stderr may have appended to it too.
        let size = match self.file.as_ref().map(File::metadata) {
            Some(Ok(m)) => m.len(),
            _ => {
                self.file = None;
                self.lost += 1;
                return;
            }
        };
        if size > 0 && size + len > self.max && self.rotate().is_err() {
            self.lost += 1;
            return;
        }
        let Some(file) = self.file.as_mut() else {
            self.lost += 1;
            return;
        };
        let before = file.metadata().map(|m| m.len()).unwrap_or(0);
        let data = if note.is_empty() { line.to_vec() } else { [note.as_bytes(), line].concat() };
        match file.write(&data) {
            Ok(n) if n == data.len() => self.lost = 0,
            Ok(n) => {
                // a short write (disk full): cut the partial line back off
                if n > 0 {
                    let _ = file.set_len(before);
                }
                self.file = None;
                self.lost += 1;
            }
            Err(_) => {
                self.file = None;
                self.lost += 1;
            }
        }
    }
}

impl Write for RotatingLog {
    /// One call is one line (the tracing formatter writes each event whole).
    /// It always reports success: a line that cannot be written is counted
    /// and noted later, never retried in pieces.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).write_line(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.inner.lock().unwrap_or_else(|p| p.into_inner()).file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingLog {
    type Writer = RotatingLog;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Whether the agent gateway allows every tool clawdtalk calls
/// (`sessions_send`, `sessions_history`: docs/protocol.md#the-gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCheck {
    /// The gateway config file found (`~/.openclaw/openclaw.json` or `~/.clawdbot/clawdbot.json`).
    pub file: Option<PathBuf>,
    /// `Some(true)` allowed, `Some(false)` not listed, `None` unknown (no file, unreadable).
    pub allowed: Option<bool>,
    pub detail: String,
}

/// Read the gateway configuration under `home` (through [`crate::openclaw`]).
pub fn check_gateway(home: &Path) -> GatewayCheck {
    let Some(file) = openclaw::find_gateway_config(home) else {
        return GatewayCheck {
            file: None,
            allowed: None,
            detail: "no ~/.openclaw/openclaw.json or ~/.clawdbot/clawdbot.json found".into(),
        };
    };
    let shown = match file.strip_prefix(home) {
        Ok(rel) => format!("~/{}", rel.display()),
        Err(_) => file.display().to_string(),
    };
    match openclaw::GatewayConfig::load(&file) {
        Err(e) => GatewayCheck { file: Some(file), allowed: None, detail: e.to_string() },
        Ok(g) if g.allows_tools() => GatewayCheck {
            file: Some(file),
            allowed: Some(true),
            detail: format!("{shown} allows {}", openclaw::tools::named()),
        },
        Ok(g) => GatewayCheck {
            file: Some(file),
            allowed: Some(false),
            detail: format!(
                "{shown} does not list {} in gateway.tools.allow: run `clawdtalk setup` or add it by hand, e.g. {}, \
                 then restart the gateway",
                g.missing_tools().join(", "),
                openclaw::tools::allow_example()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> (tempfile::TempDir, Runtime) {
        let d = tempfile::tempdir().unwrap();
        let r = Runtime { dir: d.path().join("rt") };
        (d, r)
    }

    #[test]
    fn the_lock_allows_one_instance_and_stale_pid_files_are_removed() {
        let (_d, r) = rt();
        assert_eq!(r.running().unwrap(), None);
        let lock = r.acquire().unwrap();
        assert_eq!(r.running().unwrap(), Some(std::process::id()));
        let e = r.acquire().unwrap_err();
        assert!(e.to_string().contains("already running"), "{e}");
        drop(lock);
        assert_eq!(r.running().unwrap(), None);
        assert!(!r.pid_file().exists());
        // a pid file left by a killed process, with nobody holding the lock
        fs::write(r.pid_file(), "999999\n").unwrap();
        assert_eq!(r.running().unwrap(), None);
        assert!(!r.pid_file().exists(), "stale pid file removed");
    }

    /// What `running()` does to check, held for as long as the test wants.
    fn checker_holding(r: &Runtime) -> FileLock {
        FileLock::try_shared(&r.lock_file()).unwrap().expect("no instance holds it")
    }

    #[test]
    fn an_instance_starting_while_a_checker_looks_waits_for_it_instead_of_failing() {
        let (_d, r) = rt();
        let check = checker_holding(&r);
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(check);
        });
        let lock = r.acquire().expect("the lock is taken once the checker lets go");
        release.join().unwrap();
        assert_eq!(r.running().unwrap(), Some(std::process::id()));
        drop(lock);
    }

    #[test]
    fn checkers_at_the_same_time_do_not_see_each_other_as_an_instance() {
        let (_d, r) = rt();
        let _other = checker_holding(&r);
        fs::write(r.pid_file(), "999999\n").unwrap();
        assert_eq!(r.running().unwrap(), None);
        assert!(!r.pid_file().exists(), "the stale pid file is removed");
    }

    #[test]
    fn the_log_rotates_at_the_limit() {
        let (d, _) = rt();
        let p = d.path().join("x.log");
        let mut log = RotatingLog::open(&p, 100).unwrap();
        for _ in 0..3 {
            log.write_all(&[b'a'; 60]).unwrap();
        }
        assert_eq!(fs::metadata(&p).unwrap().len(), 60);
        assert_eq!(fs::metadata(d.path().join("x.log.1")).unwrap().len(), 60);
    }

    #[test]
    fn a_stream_writing_to_the_log_follows_it_across_rotation_and_counts_toward_the_limit() {
        use std::os::unix::io::AsRawFd;
        let (d, _) = rt();
        let p = d.path().join("x.log");
        // stands for the background client's stderr: opened on the log before the logger
        let stream = OpenOptions::new().create(true).append(true).open(&p).unwrap();
        let other_path = d.path().join("elsewhere");
        let other = OpenOptions::new().create(true).append(true).open(&other_path).unwrap();
        let mut log = RotatingLog::open_following(&p, 100, &[stream.as_raw_fd(), other.as_raw_fd()]).unwrap();
        (&stream).write_all(b"before\n").unwrap();
        log.write_all(&[b'a'; 60]).unwrap();
        log.write_all(&[b'b'; 60]).unwrap(); // rotates
        (&stream).write_all(b"after\n").unwrap();
        let old = d.path().join("x.log.1");
        assert_eq!(fs::read(&old).unwrap(), [b"before\n".as_slice(), &[b'a'; 60]].concat());
        assert_eq!(fs::read(&p).unwrap(), [&[b'b'; 60][..], b"after\n"].concat(), "stderr lands in the current log");
        // what the stream wrote counts: 66 + 30 + 10 > 100 rotates
        (&stream).write_all(&[b'c'; 30]).unwrap();
        log.write_all(&[b'd'; 10]).unwrap();
        assert_eq!(fs::read(&p).unwrap(), vec![b'd'; 10]);
        assert!(fs::read(&old).unwrap().ends_with(&[b'c'; 30]));
        // a descriptor that was not the log is left alone
        (&other).write_all(b"x").unwrap();
        assert_eq!(fs::read(&other_path).unwrap(), b"x");
    }

    #[test]
    fn the_log_never_exceeds_its_cap_nor_holds_a_torn_line() {
        let (d, _) = rt();
        let p = d.path().join("x.log");
        let mut log = RotatingLog::open(&p, 100).unwrap();
        for i in 0..200 {
            let line = format!("line {i} {}\n", "x".repeat(i % 37));
            log.write_all(line.as_bytes()).unwrap();
            for f in [p.clone(), d.path().join("x.log.1")] {
                let Ok(text) = fs::read_to_string(&f) else { continue };
                assert!(text.len() <= 100, "{} is {} bytes", f.display(), text.len());
                assert!(text.is_empty() || text.ends_with('\n'), "torn: {text:?}");
                assert!(text.lines().all(|l| l.starts_with("line ") || l.starts_with("(log:")), "{text:?}");
            }
        }
        // a line bigger than the cap is dropped, and noted once the log is written again
        log.write_all(&[b'z'; 150]).unwrap();
        log.write_all(b"after\n").unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(!text.contains('z'));
        assert!(text.ends_with("(log: 1 earlier line(s) could not be written)\nafter\n"), "{text:?}");
    }

    #[test]
    fn a_log_that_cannot_be_opened_is_retried_on_later_writes_and_a_vanished_one_is_recreated() {
        let (d, _) = rt();
        let p = d.path().join("x.log");
        let mut log = RotatingLog::open(&p, 1000).unwrap();
        log.write_all(b"one\n").unwrap();
        // the file vanishes and something unopenable takes its place
        fs::remove_file(&p).unwrap();
        fs::create_dir(&p).unwrap();
        for _ in 0..3 {
            log.write_all(b"lost\n").unwrap();
        }
        fs::remove_dir(&p).unwrap();
        log.write_all(b"two\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "(log: 3 earlier line(s) could not be written)\ntwo\n");
        // deleted outright: the next line recreates it
        fs::remove_file(&p).unwrap();
        log.write_all(b"three\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "three\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_detached_client_log_is_created_private() {
        let (_d, r) = rt();
        let mut child =
            r.spawn_detached(Path::new("/bin/sh"), &["-c".into(), "echo started".into()], &[], Path::new("/")).unwrap();
        child.wait().unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(r.log_file()).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(r.log_file()).unwrap(), "started\n");
    }

    #[test]
    fn gateway_check_reads_the_allow_list_and_says_how_to_fix_it() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(check_gateway(d.path()).allowed, None);
        fs::create_dir_all(d.path().join(".openclaw")).unwrap();
        let f = d.path().join(".openclaw/openclaw.json");
        fs::write(&f, r#"{"gateway":{"tools":{"allow":["exec"]}}}"#).unwrap();
        let c = check_gateway(d.path());
        assert_eq!(c.allowed, Some(false));
        assert!(c.detail.contains("\"allow\":[\"sessions_send\",\"sessions_history\"]"), "{}", c.detail);
        fs::write(&f, "{\n // comment\n \"gateway\":{\"tools\":{\"allow\":[\"sessions_send\"]}}}").unwrap();
        let c = check_gateway(d.path());
        assert_eq!(c.allowed, Some(false), "sessions_history is missing");
        assert!(c.detail.contains("does not list sessions_history"), "{}", c.detail);
        fs::write(&f, r#"{"gateway":{"tools":{"allow":["sessions_send","sessions_history"]}}}"#).unwrap();
        assert_eq!(check_gateway(d.path()).allowed, Some(true));
    }
}
