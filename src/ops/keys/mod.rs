//! SSH key management for Portcullis: the server's host keys and players'
//! public keys.
//!
//! This module owns:
//! - [`HostKeys`]: the host-key directory (`ssh_host_{ed25519,rsa,ecdsa}_key`
//!   plus `.pub`), used at start-up ([`HostKeys::load_or_generate`]) and by the
//!   `portcullis keys …` commands (list, generate, import, remove,
//!   known_hosts lines).
//! - [`parse_public_key_line`]: validation of a player's OpenSSH public key
//!   line for per-account keys.
//! - [`fingerprint`]: the `SHA256:…` fingerprint exactly as `ssh-keygen -l`
//!   prints it.
//!
//! Invariants kept by this module:
//! - a private host key is only ever written in OpenSSH format, unencrypted,
//!   with mode 0600, and its `.pub` with mode 0644, each atomically (temp file
//!   in the same directory, fsync, rename, fsync of the directory);
//! - a private host key is only loaded if it is not accessible by group or
//!   others (`mode & 0o077 == 0`, like sshd), is not passphrase-protected,
//!   and is ed25519, ECDSA (nistp256/384/521) or RSA of at least
//!   [`MIN_RSA_BITS`] bits;
//! - an existing key is never replaced unless the caller passes `force`.
//!
//! Unix only (file modes). Nothing here selects signature algorithms: an RSA
//! host key is used with whatever russh negotiates. russh 0.65's
//! `Preferred::DEFAULT` still lists the SHA-1 `ssh-rsa` algorithm last; set
//! `config.preferred.key` to [`HOST_KEY_ALGORITHMS`] to offer only
//! `rsa-sha2-512`/`rsa-sha2-256` for RSA host keys.

mod fsutil;
mod host;
mod public;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use russh::keys::ssh_key::public::KeyData;
use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PublicKey};

pub use host::{HostKeyInfo, HostKeys};
pub use public::{MAX_PUBLIC_KEY_LINE, PublicKeyLine, parse_public_key_line};

/// Smallest RSA modulus accepted, for host keys and for players' keys.
pub const MIN_RSA_BITS: u32 = 2048;

/// Largest RSA modulus [`HostKeys::generate`] will make.
pub const MAX_RSA_BITS: u32 = 8192;

/// RSA size [`HostKeys::generate`] uses when no size is given (as ssh-keygen).
pub const DEFAULT_RSA_BITS: u32 = 3072;

/// Host-key signature algorithms in preference order, without the SHA-1
/// `ssh-rsa`: assign to `russh::server::Config::preferred.key`
/// (`Cow::Borrowed(HOST_KEY_ALGORITHMS)`).
pub const HOST_KEY_ALGORITHMS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// Everything that can go wrong handling keys. Messages are lowercase and
/// say what the operator should do; causes are part of the message (no
/// `source` chain), so `{:#}` printing does not repeat them.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file-system operation failed.
    #[error("cannot {op} '{}': {cause}", path.display())]
    Io {
        /// What was being done ("read", "create directory", …).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// A private key file can be read or written by group or others.
    #[error(
        "permissions {mode:04o} for '{}' are too open: a private key must not be readable by group or others; run chmod 600 {}",
        path.display(),
        path.display()
    )]
    TooOpen {
        /// The private key file.
        path: PathBuf,
        /// Its permission bits (`mode & 0o7777`).
        mode: u32,
    },
    /// A file is not a usable private key.
    #[error(
        "cannot parse key '{}': {why}; expected an unencrypted OpenSSH private key as made by ssh-keygen",
        path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Refusing to replace an existing key.
    #[error(
        "'{}' already exists; pass --force to replace it (players will then see a new host key fingerprint and ssh will warn them)",
        .0.display()
    )]
    Exists(PathBuf),
    /// A key type, size or algorithm this module does not handle.
    #[error("{0}")]
    Unsupported(String),
    /// A passphrase-protected private key.
    #[error(
        "'{}' is protected by a passphrase, which a server cannot type at start-up; import an unencrypted copy instead (copy the file, run ssh-keygen -p -N '' -f COPY, import COPY)",
        .0.display()
    )]
    Encrypted(PathBuf),
    /// No such host key (for `remove`).
    #[error(
        "no {key_type} host key at '{}'; `portcullis keys list` shows the keys present",
        path.display()
    )]
    NotFound {
        /// The key type asked for.
        key_type: KeyType,
        /// Where it was expected.
        path: PathBuf,
    },
    /// A player's public key line was rejected.
    #[error("invalid public key: {0}")]
    PublicKey(String),
    /// A host name unusable in a known_hosts line.
    #[error("invalid host name {0:?} for a known_hosts line: use a plain host name or IP address")]
    Host(String),
    /// Key generation or encoding failed inside the crypto library.
    #[error("key {op} failed: {why}")]
    Crypto {
        /// "generation" or "encoding".
        op: &'static str,
        /// The library's message.
        why: String,
    },
}

/// The host key types Portcullis can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `ssh-ed25519` (always 256 bits). The default and preferred type.
    Ed25519,
    /// `ssh-rsa` keys, used with `rsa-sha2-512`/`rsa-sha2-256` signatures.
    Rsa,
    /// `ecdsa-sha2-nistp256`/`384`/`521`.
    Ecdsa,
}

impl KeyType {
    /// All types, in the order host keys are loaded and offered.
    pub const ALL: [KeyType; 3] = [KeyType::Ed25519, KeyType::Rsa, KeyType::Ecdsa];

    /// The lowercase name used on the command line ("ed25519", "rsa", "ecdsa").
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa => "rsa",
            KeyType::Ecdsa => "ecdsa",
        }
    }

    /// The private key's file name, as sshd names it (`ssh_host_ed25519_key`).
    pub fn file_name(self) -> String {
        format!("ssh_host_{}_key", self.as_str())
    }

    /// The public key's file name (`ssh_host_ed25519_key.pub`).
    pub fn pub_file_name(self) -> String {
        format!("ssh_host_{}_key.pub", self.as_str())
    }

    /// The type of a key algorithm, if it is a host key type we support.
    pub fn from_algorithm(algorithm: &Algorithm) -> Option<KeyType> {
        match algorithm {
            Algorithm::Ed25519 => Some(KeyType::Ed25519),
            Algorithm::Rsa { .. } => Some(KeyType::Rsa),
            Algorithm::Ecdsa { .. } => Some(KeyType::Ecdsa),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = KeyError;

    /// Parses "ed25519", "rsa" or "ecdsa" (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ed25519" => Ok(KeyType::Ed25519),
            "rsa" => Ok(KeyType::Rsa),
            "ecdsa" => Ok(KeyType::Ecdsa),
            _ => Err(KeyError::Unsupported(format!(
                "unknown key type {s:?}: use ed25519, rsa or ecdsa"
            ))),
        }
    }
}

/// The SHA-256 fingerprint of a public key, exactly as `ssh-keygen -l`
/// prints it: `SHA256:` followed by unpadded base64.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Key size in bits as `ssh-keygen -l` reports it: 256 for ed25519 (and the
/// FIDO `sk-` kinds), the curve size for ECDSA, the exact modulus size for
/// RSA. `None` for key kinds this module does not handle.
pub(crate) fn key_bits(key: &KeyData) -> Option<u32> {
    match key {
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => Some(256),
        KeyData::Ecdsa(k) => Some(match k.curve() {
            EcdsaCurve::NistP256 => 256,
            EcdsaCurve::NistP384 => 384,
            EcdsaCurve::NistP521 => 521,
        }),
        KeyData::Rsa(k) => {
            let n = k.n().as_positive_bytes()?;
            // ssh-key's own key_size() rounds up to whole bytes; count the
            // significant bits of the leading non-zero byte instead.
            let start = n.iter().position(|&b| b != 0)?;
            let (&top, rest) = n.get(start..)?.split_first()?;
            let rest_bits = u32::try_from(rest.len()).ok()?.checked_mul(8)?;
            rest_bits.checked_add(8 - top.leading_zeros())
        }
        _ => None,
    }
}
