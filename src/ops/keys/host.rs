//! The host-key directory: loading keys for russh at start-up, generating,
//! importing, listing and removing them, and known_hosts lines.
//!
//! Invariants: keys live at `DIR/ssh_host_{ed25519,rsa,ecdsa}_key` (+`.pub`),
//! one per type, and the file name always matches the key type inside; the
//! private file is the source of truth (fingerprints, known_hosts lines and
//! the keys served all come from it), the `.pub` is a convenience copy that
//! is checked and warned about, never trusted. Every load goes through the
//! same checks: mode (no group/other access), unencrypted, supported type,
//! RSA of at least [`MIN_RSA_BITS`] bits.

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::{KeypairData, RsaKeypair};
use russh::keys::{Algorithm, EcdsaCurve, PrivateKey, PublicKey};

use super::fsutil::{self, PRIVATE_MODE, PUBLIC_MODE, TempFile};
use super::{
    DEFAULT_RSA_BITS, KeyError, KeyType, MAX_RSA_BITS, MIN_RSA_BITS, fingerprint, key_bits,
};

/// What `portcullis keys list` shows about one host key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKeyInfo {
    /// ed25519, rsa or ecdsa.
    pub key_type: KeyType,
    /// The SSH algorithm name, e.g. "ssh-ed25519", "ecdsa-sha2-nistp384",
    /// "ssh-rsa" (the key format; RSA signatures use rsa-sha2-512/256).
    pub algorithm: String,
    /// Size as `ssh-keygen -l` prints it (ed25519 256, ECDSA curve size,
    /// RSA modulus bits).
    pub bits: u32,
    /// "SHA256:…", exactly as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The private key file.
    pub path: PathBuf,
    /// The key's comment (may be empty).
    pub comment: String,
}

/// A directory of host keys named like sshd's.
#[derive(Clone, Debug)]
pub struct HostKeys {
    dir: PathBuf,
}

impl HostKeys {
    /// Host keys in `dir` (which need not exist yet).
    pub fn new(dir: &Path) -> Self {
        HostKeys {
            dir: dir.to_path_buf(),
        }
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the private key of `key_type` lives.
    pub fn private_path(&self, key_type: KeyType) -> PathBuf {
        self.dir.join(key_type.file_name())
    }

    /// Where the public key of `key_type` lives.
    pub fn public_path(&self, key_type: KeyType) -> PathBuf {
        self.dir.join(key_type.pub_file_name())
    }

    /// Loads every host key present (ed25519, rsa, ecdsa order), refusing
    /// private key files that group or others can access (like sshd). If
    /// none exists, generates an ed25519 key (creating the directory with
    /// mode 0700 if missing), logs its fingerprint and returns it.
    ///
    /// The result goes into `russh::server::Config::keys`.
    pub fn load_or_generate(&self) -> Result<Vec<PrivateKey>, KeyError> {
        let loaded = self.load_all()?;
        if !loaded.is_empty() {
            for (_, info) in &loaded {
                tracing::info!(
                    key_type = %info.key_type,
                    bits = info.bits,
                    fingerprint = %info.fingerprint,
                    path = %info.path.display(),
                    "loaded host key"
                );
            }
            return Ok(loaded.into_iter().map(|(key, _)| key).collect());
        }
        let (key, info) = self.create(KeyType::Ed25519, None, false)?;
        tracing::info!(
            key_type = %info.key_type,
            fingerprint = %info.fingerprint,
            path = %info.path.display(),
            "no host key found: generated a new one"
        );
        Ok(vec![key])
    }

    /// Describes every host key present, in ed25519, rsa, ecdsa order. Runs
    /// the same checks as [`HostKeys::load_or_generate`], so a key the
    /// server would refuse makes this fail with the same error.
    pub fn list(&self) -> Result<Vec<HostKeyInfo>, KeyError> {
        Ok(self.load_all()?.into_iter().map(|(_, info)| info).collect())
    }

    /// Generates a new host key of `key_type` and writes it (private key in
    /// OpenSSH format, mode 0600; `.pub` mode 0644; both atomically).
    ///
    /// `bits`: RSA 2048..=8192 (default 3072); ECDSA 256, 384 or 521
    /// (default 256); ed25519 only accepts `None` or 256. Refuses to replace
    /// an existing key (private or `.pub`) unless `force`.
    pub fn generate(
        &self,
        key_type: KeyType,
        bits: Option<u32>,
        force: bool,
    ) -> Result<HostKeyInfo, KeyError> {
        let (_, info) = self.create(key_type, bits, force)?;
        tracing::info!(
            key_type = %info.key_type,
            bits = info.bits,
            fingerprint = %info.fingerprint,
            path = %info.path.display(),
            "generated host key"
        );
        Ok(info)
    }

    /// Imports an existing unencrypted private key (e.g.
    /// `/etc/ssh/ssh_host_ed25519_key`; OpenSSH format, or PEM RSA/PKCS#8),
    /// writing it under the standard name for its type with mode 0600 plus a
    /// `.pub` with mode 0644, so the fingerprint players see is unchanged.
    /// The key's comment is kept. Refuses to replace an existing key unless
    /// `force`.
    pub fn import(&self, path: &Path, force: bool) -> Result<HostKeyInfo, KeyError> {
        let text = fsutil::read_key_file(path, false)?;
        let key = decode_private_key(&text, path)?;
        let (key_type, _) = check_host_key(&key, path)?;
        let info = self.write_pair(key_type, &key, force)?;
        tracing::info!(
            from = %path.display(),
            key_type = %info.key_type,
            fingerprint = %info.fingerprint,
            path = %info.path.display(),
            "imported host key"
        );
        Ok(info)
    }

    /// Deletes the private key of `key_type` and its `.pub`; returns the
    /// private key's path. Fails with [`KeyError::NotFound`] if neither
    /// file exists.
    pub fn remove(&self, key_type: KeyType) -> Result<PathBuf, KeyError> {
        let private = self.private_path(key_type);
        let public = self.public_path(key_type);
        let removed_private = fsutil::remove_if_exists(&private)?;
        let removed_public = fsutil::remove_if_exists(&public)?;
        if !removed_private && !removed_public {
            return Err(KeyError::NotFound {
                key_type,
                path: private,
            });
        }
        fsutil::sync_dir(&self.dir)?;
        tracing::info!(key_type = %key_type, path = %private.display(), "removed host key");
        Ok(private)
    }

    /// One known_hosts line per host key: `host algorithm base64`, with the
    /// host written `[host]:port` when `port != 22` (as ssh does). A host
    /// given as `[::1]` is unbracketed first.
    pub fn known_hosts_lines(&self, host: &str, port: u16) -> Result<Vec<String>, KeyError> {
        let host = known_hosts_host(host, port)?;
        self.load_all()?
            .iter()
            .map(|(key, _)| {
                Ok(format!(
                    "{host} {}",
                    openssh_without_comment(key.public_key())?
                ))
            })
            .collect()
    }

    /// Loads all present keys with their descriptions.
    fn load_all(&self) -> Result<Vec<(PrivateKey, HostKeyInfo)>, KeyError> {
        let mut out = Vec::new();
        for key_type in KeyType::ALL {
            if let Some(loaded) = self.load_one(key_type)? {
                out.push(loaded);
            }
        }
        Ok(out)
    }

    fn load_one(&self, key_type: KeyType) -> Result<Option<(PrivateKey, HostKeyInfo)>, KeyError> {
        let path = self.private_path(key_type);
        let public = self.public_path(key_type);
        if !fsutil::exists(&path)? {
            if fsutil::exists(&public)? {
                tracing::warn!(
                    path = %public.display(),
                    "public host key without its private key; ignored (remove it or import the private key)"
                );
            }
            return Ok(None);
        }
        let text = fsutil::read_key_file(&path, true)?;
        let key = decode_private_key(&text, &path)?;
        let (found, _) = check_host_key(&key, &path)?;
        if found != key_type {
            return Err(KeyError::Parse {
                path,
                why: format!(
                    "it holds a {found} key but its name is for {key_type} keys; remove it and run `portcullis keys import` on a copy"
                ),
            });
        }
        self.check_pub_file(&key, &public);
        let info = describe(&key, path)?;
        Ok(Some((key, info)))
    }

    /// Warns if the `.pub` next to a private key is missing, unreadable or
    /// for another key. Never fails: the private key is what is served.
    fn check_pub_file(&self, key: &PrivateKey, public: &Path) {
        let warn = |why: &str| {
            tracing::warn!(
                path = %public.display(),
                "{why}; the private key is used regardless (re-import it to rewrite the .pub)"
            );
        };
        match fsutil::read_key_file(public, false) {
            Ok(text) => match PublicKey::from_openssh(text.trim()) {
                Ok(pk) if pk.key_data() == key.public_key().key_data() => {}
                Ok(_) => warn("public key file does not match its private key"),
                Err(_) => warn("public key file cannot be parsed"),
            },
            Err(KeyError::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
                warn("public key file is missing")
            }
            Err(_) => warn("public key file cannot be read"),
        }
    }

    /// Makes a fresh key of `key_type` and writes it.
    fn create(
        &self,
        key_type: KeyType,
        bits: Option<u32>,
        force: bool,
    ) -> Result<(PrivateKey, HostKeyInfo), KeyError> {
        // Validate everything before spending time on key generation.
        let bits = checked_bits(key_type, bits)?;
        self.refuse_existing(key_type, force)?;
        let key = random_key(key_type, bits)?;
        let info = self.write_pair(key_type, &key, force)?;
        Ok((key, info))
    }

    fn refuse_existing(&self, key_type: KeyType, force: bool) -> Result<(), KeyError> {
        if !force {
            for path in [self.private_path(key_type), self.public_path(key_type)] {
                if fsutil::exists(&path)? {
                    return Err(KeyError::Exists(path));
                }
            }
        }
        Ok(())
    }

    /// Writes `key` and its `.pub` under the standard names. Both temp files
    /// are fully written before either rename, so a failure leaves the old
    /// pair (or nothing) in place.
    fn write_pair(
        &self,
        key_type: KeyType,
        key: &PrivateKey,
        force: bool,
    ) -> Result<HostKeyInfo, KeyError> {
        fsutil::ensure_dir(&self.dir)?;
        self.refuse_existing(key_type, force)?;
        let private = self.private_path(key_type);
        let public = self.public_path(key_type);
        let pem = key
            .to_openssh(LineEnding::LF)
            .map_err(|e| crypto("encoding", e))?;
        let pub_line = format!(
            "{}\n",
            key.public_key()
                .to_openssh()
                .map_err(|e| crypto("encoding", e))?
        );
        let private_tmp = TempFile::write(&private, pem.as_bytes(), PRIVATE_MODE)?;
        let public_tmp = TempFile::write(&public, pub_line.as_bytes(), PUBLIC_MODE)?;
        private_tmp.commit(&private)?;
        public_tmp.commit(&public)?;
        fsutil::sync_dir(&self.dir)?;
        describe(key, private)
    }
}

/// Parses an unencrypted private key (OpenSSH format, or what russh's
/// decoder also accepts: PEM PKCS#1 RSA, PKCS#8, PuTTY PPK).
fn decode_private_key(text: &str, path: &Path) -> Result<PrivateKey, KeyError> {
    let parse = |why: String| KeyError::Parse {
        path: path.to_path_buf(),
        why,
    };
    let start = text.trim_start();
    if start.starts_with("ssh-")
        || start.starts_with("ecdsa-")
        || start.starts_with("sk-")
        || start.starts_with("---- BEGIN SSH2 PUBLIC KEY")
    {
        return Err(parse(
            "this is a public key; give the private key file (the one without .pub)".into(),
        ));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        return Err(KeyError::Encrypted(path.to_path_buf()));
    }
    match russh::keys::decode_secret_key(text, None) {
        Ok(key) if key.is_encrypted() => Err(KeyError::Encrypted(path.to_path_buf())),
        Ok(key) => Ok(key),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(KeyError::Encrypted(path.to_path_buf())),
        Err(russh::keys::Error::CouldNotReadKey) => Err(parse(
            "no private key found in it (no \"-----BEGIN OPENSSH PRIVATE KEY-----\" block)".into(),
        )),
        Err(e) => Err(parse(lower_first(&e.to_string()))),
    }
}

/// Checks that `key` is a host key we serve; returns its type and size.
fn check_host_key(key: &PrivateKey, path: &Path) -> Result<(KeyType, u32), KeyError> {
    let algorithm = key.algorithm();
    let Some(key_type) = KeyType::from_algorithm(&algorithm) else {
        return Err(KeyError::Unsupported(format!(
            "'{}' is a {} key; host keys must be ed25519, rsa or ecdsa (run `portcullis keys generate --type ed25519`)",
            path.display(),
            algorithm.as_str()
        )));
    };
    let bits = key_bits(key.public_key().key_data()).ok_or_else(|| KeyError::Parse {
        path: path.to_path_buf(),
        why: "cannot determine the key size".into(),
    })?;
    if key_type == KeyType::Rsa && bits < MIN_RSA_BITS {
        return Err(KeyError::Unsupported(format!(
            "'{}' is a {bits}-bit RSA key, too weak to serve (at least {MIN_RSA_BITS} bits); run `portcullis keys generate --type ed25519` instead",
            path.display()
        )));
    }
    Ok((key_type, bits))
}

/// Validates `bits` for `key_type` and applies the default.
fn checked_bits(key_type: KeyType, bits: Option<u32>) -> Result<u32, KeyError> {
    match (key_type, bits) {
        (KeyType::Ed25519, None | Some(256)) => Ok(256),
        (KeyType::Ed25519, Some(b)) => Err(KeyError::Unsupported(format!(
            "ed25519 keys are always 256 bits, not {b}; leave out the size"
        ))),
        (KeyType::Rsa, None) => Ok(DEFAULT_RSA_BITS),
        (KeyType::Rsa, Some(b)) if (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&b) => Ok(b),
        (KeyType::Rsa, Some(b)) => Err(KeyError::Unsupported(format!(
            "RSA key size {b} is out of range: use {MIN_RSA_BITS} to {MAX_RSA_BITS} bits (default {DEFAULT_RSA_BITS})"
        ))),
        (KeyType::Ecdsa, None) => Ok(256),
        (KeyType::Ecdsa, Some(b @ (256 | 384 | 521))) => Ok(b),
        (KeyType::Ecdsa, Some(b)) => Err(KeyError::Unsupported(format!(
            "ECDSA key size {b} is not available: use 256, 384 or 521"
        ))),
    }
}

/// Generates a key; `bits` has been validated by [`checked_bits`].
fn random_key(key_type: KeyType, bits: u32) -> Result<PrivateKey, KeyError> {
    let mut rng = russh::keys::key::safe_rng();
    let gen_err = |e: russh::keys::ssh_key::Error| crypto("generation", e);
    let mut key = match key_type {
        KeyType::Ed25519 => PrivateKey::random(&mut rng, Algorithm::Ed25519).map_err(gen_err)?,
        KeyType::Ecdsa => {
            let curve = match bits {
                384 => EcdsaCurve::NistP384,
                521 => EcdsaCurve::NistP521,
                _ => EcdsaCurve::NistP256,
            };
            PrivateKey::random(&mut rng, Algorithm::Ecdsa { curve }).map_err(gen_err)?
        }
        KeyType::Rsa => {
            let size = usize::try_from(bits).map_err(|e| crypto("generation", e))?;
            let pair = RsaKeypair::random(&mut rng, size).map_err(gen_err)?;
            PrivateKey::new(KeypairData::from(pair), "").map_err(gen_err)?
        }
    };
    key.set_comment(default_comment());
    Ok(key)
}

/// "portcullis@HOSTNAME", or "portcullis" if the host name is unknown or odd.
fn default_comment() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    if !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        format!("portcullis@{host}")
    } else {
        "portcullis".into()
    }
}

fn describe(key: &PrivateKey, path: PathBuf) -> Result<HostKeyInfo, KeyError> {
    let (key_type, bits) = check_host_key(key, &path)?;
    Ok(HostKeyInfo {
        key_type,
        algorithm: key.algorithm().as_str().to_string(),
        bits,
        fingerprint: fingerprint(key.public_key()),
        comment: key.comment().as_str_lossy().to_string(),
        path,
    })
}

/// "algorithm base64" of a public key, without its comment.
pub(crate) fn openssh_without_comment(key: &PublicKey) -> Result<String, KeyError> {
    PublicKey::new(key.key_data().clone(), "")
        .to_openssh()
        .map_err(|e| crypto("encoding", e))
}

/// The host field of a known_hosts line for `host`:`port`.
fn known_hosts_host(host: &str, port: u16) -> Result<String, KeyError> {
    let trimmed = host.trim();
    let bare = trimmed
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(trimmed);
    let ok = !bare.is_empty()
        && bare.len() <= 255
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'));
    if !ok {
        return Err(KeyError::Host(host.to_string()));
    }
    Ok(if port == 22 {
        bare.to_string()
    } else {
        format!("[{bare}]:{port}")
    })
}

fn crypto(op: &'static str, e: impl std::fmt::Display) -> KeyError {
    KeyError::Crypto {
        op,
        why: e.to_string(),
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
