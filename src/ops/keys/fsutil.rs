//! File-system helpers for key files: private directory creation, the
//! sshd-style permission check, bounded reads and atomic writes.
//!
//! Invariants: files are written via a temp file created with `create_new`
//! in the destination directory (never following an existing name), given
//! their exact mode with `set_permissions` (so the umask cannot widen or
//! narrow it), fsynced, then renamed over the destination; the directory is
//! fsynced after renames. A temp file is removed on every error path.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::KeyError;

/// Largest key file we read: an 8192-bit RSA key in OpenSSH format is about
/// 6.6 KiB, so this leaves plenty of room while bounding memory.
pub(crate) const MAX_KEY_FILE: u64 = 64 * 1024;

/// Mode of private key files.
pub(crate) const PRIVATE_MODE: u32 = 0o600;
/// Mode of `.pub` files.
pub(crate) const PUBLIC_MODE: u32 = 0o644;
/// Mode of a key directory we create.
pub(crate) const DIR_MODE: u32 = 0o700;

pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyError {
    let path = path.to_path_buf();
    move |cause| KeyError::Io { op, path, cause }
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist. An
/// existing directory is left as it is, with a warning if others may write
/// into it (they could then swap our keys).
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), KeyError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o022 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    "host key directory is writable by group or others (mode {mode:04o}); run chmod 700 on it"
                );
            }
            Ok(())
        }
        Ok(_) => Err(KeyError::Io {
            op: "use as a key directory",
            path: dir.to_path_buf(),
            cause: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(io_err("create directory", dir))?;
            // The mode given to DirBuilder is filtered by the umask; make it exact.
            fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
                .map_err(io_err("set permissions on", dir))?;
            tracing::info!(dir = %dir.display(), "created host key directory");
            Ok(())
        }
        Err(e) => Err(io_err("inspect", dir)(e)),
    }
}

/// Whether `path` exists (a dangling symlink counts as existing).
pub(crate) fn exists(path: &Path) -> Result<bool, KeyError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("inspect", path)(e)),
    }
}

/// Refuses a private key file that group or others may access, like sshd.
pub(crate) fn check_private_mode(path: &Path, meta: &fs::Metadata) -> Result<(), KeyError> {
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Reads a key file as text, refusing non-regular files and files larger
/// than [`MAX_KEY_FILE`]. With `private`, the permission check runs first.
pub(crate) fn read_key_file(path: &Path, private: bool) -> Result<String, KeyError> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let meta = file.metadata().map_err(io_err("inspect", path))?;
    if !meta.is_file() {
        return Err(KeyError::Parse {
            path: path.to_path_buf(),
            why: "not a regular file".into(),
        });
    }
    if private {
        check_private_mode(path, &meta)?;
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(KeyError::Parse {
            path: path.to_path_buf(),
            why: format!(
                "file is {} bytes, larger than any key ({MAX_KEY_FILE} bytes at most)",
                meta.len()
            ),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("read", path))?;
    String::from_utf8(bytes).map_err(|_| KeyError::Parse {
        path: path.to_path_buf(),
        why: "file is not text (binary or non-UTF-8 data)".into(),
    })
}

/// A written-but-not-yet-renamed temp file; removed on drop unless
/// committed.
pub(crate) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Writes `data` to a fresh temp file next to `dest`, with exactly `mode`.
    pub(crate) fn write(dest: &Path, data: &[u8], mode: u32) -> Result<TempFile, KeyError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = parent_dir(dest);
        let base = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "key".into());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{base}.tmp.{}.{nanos}.{n}", std::process::id()));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(io_err("create", &path))?;
        // From here on the file exists: remove it if anything fails.
        let tmp = TempFile { path, armed: true };
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err("set permissions on", &tmp.path))?;
        file.write_all(data).map_err(io_err("write", &tmp.path))?;
        file.sync_all().map_err(io_err("sync", &tmp.path))?;
        Ok(tmp)
    }

    /// Renames the temp file over `dest`.
    pub(crate) fn commit(mut self, dest: &Path) -> Result<(), KeyError> {
        fs::rename(&self.path, dest).map_err(io_err("rename a temp file to", dest))?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The directory holding `path` ("." for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fsyncs a directory so renames in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), KeyError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))
}

/// Removes a file; `Ok(false)` if it did not exist.
pub(crate) fn remove_if_exists(path: &Path) -> Result<bool, KeyError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove", path)(e)),
    }
}
