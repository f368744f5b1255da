//! Writing the state file so that no reader and no crash ever sees a
//! partial file, in the byte format Python's `json.dumps(indent=2)` uses.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::ser::{Formatter, PrettyFormatter};

/// serde_json's pretty printer (2 spaces, `", "`/`": "` as Python) that also
/// escapes every non-ASCII character as `\uXXXX` (surrogate pairs above
/// U+FFFF), like Python's default `ensure_ascii=True`: telnyx_api.py reads
/// the file with the locale's encoding, which is not always UTF-8.
pub struct PythonFormatter(PrettyFormatter<'static>);

impl PythonFormatter {
    pub fn new() -> Self {
        PythonFormatter(PrettyFormatter::with_indent(b"  "))
    }
}

impl Default for PythonFormatter {
    fn default() -> Self {
        Self::new()
    }
}

impl Formatter for PythonFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        if fragment.is_ascii() {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(w, "\\u{u:04x}")?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// `path` with `suffix` appended to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// The file a write to `path` replaces. A symlink to an existing file is
/// followed (the link is kept and its target rewritten, so a state file
/// kept elsewhere and linked into place stays linked); a *dangling* symlink
/// is refused: replacing it would silently drop whatever it was meant to
/// point at, and following it would create a file wherever it points.
pub fn write_target(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(real) => Ok(real),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} is a symlink to a file that does not exist ({}); refusing to replace it: \
                     fix or remove the link",
                    path.display(),
                    fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default()
                ),
            )),
            Err(e) => Err(e),
        },
        _ => Ok(path.to_path_buf()),
    }
}

/// Replace `path` with `bytes` atomically; the crate's one way to write a
/// file others read (the state file, `skill-config.json`, the gateway
/// config, the connect daemon's `status.json`).
///
/// Readers see the old file or the new one, never a mix; after a crash at
/// any point the file is one of the two. Safe in a directory others can
/// write to: the temporary file is created exclusively (`O_EXCL`, so a
/// symlink planted at its name is never followed) under a random name in
/// the target's directory, fsynced and renamed over the target, then the
/// directory is fsynced. On any error (ENOSPC, a refused rename) the
/// temporary file is removed. Symlinks at `path`: see [`write_target`].
///
/// Permissions: `mode` when given; otherwise the replaced file's own, and
/// 0600 for a new file (these files hold phone numbers, transcripts, keys).
pub fn atomic_write(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let target = write_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    let perms = match mode {
        Some(m) => mode_permissions(m),
        None => fs::metadata(&target).ok().map(|m| m.permissions()).or_else(|| mode_permissions(0o600)),
    };
    if let Some(p) = perms {
        tmp.as_file().set_permissions(p)?;
    }
    tmp.as_file().sync_all()?;
    // On failure the returned error owns the temporary file, and dropping it removes it.
    tmp.persist(&target).map_err(|e| e.error)?;
    // Some filesystems refuse fsync on a directory; the rename is done either way.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn mode_permissions(mode: u32) -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(mode))
}

/// Only Unix has mode bits; elsewhere a new file keeps the default.
#[cfg(not(unix))]
fn mode_permissions(_mode: u32) -> Option<fs::Permissions> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// Every file in `dir`, by name.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_symlink_planted_at_the_old_fixed_temp_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        symlink(&victim, dir.path().join("state.json.tmp")).unwrap();
        atomic_write(&dir.path().join("state.json"), b"{}", None).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(dir.path().join("state.json")).unwrap(), "{}");
        assert!(fs::symlink_metadata(dir.path().join("state.json.tmp")).unwrap().file_type().is_symlink());
    }

    #[test]
    fn a_dangling_symlink_at_the_destination_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("state.json");
        symlink(dir.path().join("missing/elsewhere.json"), &link).unwrap();
        let e = atomic_write(&link, b"{}", None).unwrap_err();
        assert!(e.to_string().contains("symlink to a file that does not exist"), "{e}");
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is left as it was");
        assert!(!dir.path().join("missing").exists(), "nothing created where it points");
        assert_eq!(names(dir.path()), ["state.json"]);
    }

    #[test]
    fn a_symlink_to_a_file_is_written_through_and_stays_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        fs::write(&real, "old").unwrap();
        symlink(&real, &link).unwrap();
        atomic_write(&link, b"new", None).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn new_files_are_private_and_existing_ones_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        atomic_write(&p, b"1", None).unwrap();
        assert_eq!(mode_of(&p), 0o600);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        atomic_write(&p, b"2", None).unwrap();
        assert_eq!(mode_of(&p), 0o640, "a mode the owner chose is kept");
        atomic_write(&p, b"3", Some(0o600)).unwrap();
        assert_eq!(mode_of(&p), 0o600, "a given mode wins");
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file_and_the_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        // The rename cannot replace a non-empty directory (whoever runs the test, root included).
        let target = dir.path().join("state.json");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), "x").unwrap();
        assert!(atomic_write(&target, b"{}", None).is_err());
        assert_eq!(names(dir.path()), ["state.json"], "no temporary file left behind");
        assert_eq!(names(&target), ["inside"]);
    }
}
