//! File handling for certificates and keys: reading PEM files into DER,
//! checking key file permissions, creating directories and writing files
//! atomically.
//!
//! Invariants:
//! - Each file is read once, in full, so what is validated is exactly what
//!   gets served, even if the file changes meanwhile.
//! - Key permissions are taken from the opened file handle (symlinks are
//!   followed), so the checked file is the read file.
//! - Writes go to a temporary file in the destination directory, created
//!   with its final mode (0600 for keys) before any byte is written, synced,
//!   then renamed over the destination; the temporary file never outlives a
//!   failed write.
//! - Directories this module creates get mode 0700; existing ones are left
//!   alone.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::CertError;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CertError + 'a {
    move |cause| CertError::Io {
        op,
        path: path.to_path_buf(),
        cause,
    }
}

/// Whether something (even a dangling symlink) exists at `path`.
pub(super) fn exists(path: &Path) -> Result<bool, CertError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("inspect", path)(e)),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    fs::read(path).map_err(io_err("read", path))
}

/// Reads all PEM certificates of `path`, leaf first. Never returns an
/// empty chain.
pub(super) fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let bytes = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Parse {
            path: path.to_path_buf(),
            why: pem_why(&e),
        })?;
    if chain.is_empty() {
        if looks_like_der(&bytes) {
            return Err(CertError::Parse {
                path: path.to_path_buf(),
                why: format!(
                    "this looks like a binary DER certificate; convert it with `openssl x509 -inform der -in {0} -out {0}.pem`",
                    path.display()
                ),
            });
        }
        return Err(CertError::NoCertificate(path.to_path_buf()));
    }
    Ok(chain)
}

/// A key file's contents and (on Unix) permission bits.
pub(super) struct KeyFile {
    pub(super) path: PathBuf,
    pub(super) bytes: Vec<u8>,
    pub(super) mode: Option<u32>,
}

impl KeyFile {
    /// Fails with [`CertError::TooOpen`] if group or others have any access.
    pub(super) fn check_permissions(&self) -> Result<(), CertError> {
        match self.mode {
            Some(mode) if mode & 0o077 != 0 => Err(CertError::TooOpen {
                path: self.path.clone(),
                mode,
            }),
            _ => Ok(()),
        }
    }
}

/// Reads the key file and notes its permissions (without judging them).
pub(super) fn read_key_file(path: &Path) -> Result<KeyFile, CertError> {
    let mut file = File::open(path).map_err(io_err("read", path))?;
    let meta = file.metadata().map_err(io_err("inspect", path))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_err("read", path))?;
    Ok(KeyFile {
        path: path.to_path_buf(),
        bytes,
        mode: mode_of(&meta),
    })
}

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_meta: &fs::Metadata) -> Option<u32> {
    None
}

/// Parses the first PEM private key (PKCS#8, PKCS#1 or SEC1) in `bytes`.
pub(super) fn parse_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, CertError> {
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            if looks_like_der(bytes) {
                Err(CertError::Parse {
                    path: path.to_path_buf(),
                    why: format!(
                        "this looks like a binary DER key; convert it with `openssl pkey -inform der -in {0} -out {0}.pem`",
                        path.display()
                    ),
                })
            } else {
                Err(CertError::NoKey(path.to_path_buf()))
            }
        }
        Err(e) => Err(CertError::Parse {
            path: path.to_path_buf(),
            why: pem_why(&e),
        }),
    }
}

/// A DER SEQUENCE with a long-form length: how binary certificates and
/// keys start.
fn looks_like_der(bytes: &[u8]) -> bool {
    matches!(bytes, [0x30, 0x81..=0x84, ..])
}

fn pem_why(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a PEM block is missing its \"{}\" line",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "malformed PEM header line \"{}\"",
            String::from_utf8_lossy(line)
        ),
        pem::Error::Base64Decode(why) => format!("a PEM block is not valid base64 ({why})"),
        other => format!("invalid PEM ({other})"),
    }
}

/// Creates the parent directory of `path` (and its missing ancestors) with
/// mode 0700 if it does not exist.
pub(super) fn create_parent_dir(path: &Path) -> Result<(), CertError> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err("create directory", dir))
}

/// A complete, synced temporary file waiting to be renamed into place.
pub(super) struct TempFile {
    path: PathBuf,
}

static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Writes `contents` to a new temporary file next to `dest` with `mode`.
pub(super) fn write_temp(dest: &Path, contents: &[u8], mode: u32) -> Result<TempFile, CertError> {
    let name = dest
        .file_name()
        .map_or_else(|| "cert".to_string(), |n| n.to_string_lossy().into_owned());
    let tmp_name = format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let path = dest.with_file_name(tmp_name);

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(&path).map_err(io_err("create", &path))?;
    let tmp = TempFile { path };
    let written = set_mode(&file, mode)
        .and_then(|()| file.write_all(contents))
        .and_then(|()| file.sync_all());
    if let Err(cause) = written {
        discard(&tmp);
        return Err(CertError::Io {
            op: "write",
            path: tmp.path.clone(),
            cause,
        });
    }
    Ok(tmp)
}

/// The umask may have narrowed the mode given at creation; set it exactly.
#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Renames the temporary file over `dest`.
pub(super) fn commit(tmp: &TempFile, dest: &Path) -> Result<(), CertError> {
    fs::rename(&tmp.path, dest).map_err(io_err("replace", dest))?;
    // Make the rename itself durable; failing to sync a directory is not
    // worth failing the whole operation over.
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes a temporary file that will not be committed (best effort).
pub(super) fn discard(tmp: &TempFile) {
    let _ = fs::remove_file(&tmp.path);
}
