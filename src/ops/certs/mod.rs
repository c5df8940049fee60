//! TLS certificates for Portcullis' "telnet over TLS" listeners.
//!
//! This module owns everything between a certificate/key pair on disk and a
//! rustls [`ServerConfig`]: reading and validating PEM files, generating a
//! self-signed pair for first runs, describing a certificate for operators
//! (`portcullis certs show|check|generate`) and swapping the served
//! certificate at run time ([`ReloadableTls`]).
//!
//! Invariants:
//! - A certificate is only ever served after it passed full validation: the chain parses, the leaf is inside its validity window,
//!   the private key matches the leaf's public key and the key file is not
//!   accessible to group or others.
//! - Servers speak TLS 1.2 and 1.3 only, with the ring crypto provider, no
//!   client authentication and no ALPN.
//! - Generated files are written atomically (temporary file + rename): a
//!   reader never sees a half-written certificate or key, and a key file is
//!   never, even briefly, readable by anyone but its owner.
//! - Nothing here overwrites an existing certificate or key unless the
//!   caller passed `force`.
//! - Error messages are lowercase, name the file involved and say what the
//!   operator can do; the underlying cause is part of the message (no error
//!   has a `source` field, so `{:#}` chains do not repeat it).

mod files;
mod info;
mod reloadable;
mod selfsigned;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;

pub use reloadable::ReloadableTls;

/// Validity used by callers that have no better idea (e.g. the first run).
pub const DEFAULT_DAYS: u32 = 365;

/// [`check`] warns when the certificate expires in fewer days than this.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// Longest validity [`generate`] accepts (100 years).
pub const MAX_DAYS: u32 = 36_500;

/// Everything that can go wrong with certificates; each message tells the
/// operator which file is involved and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file system operation failed.
    #[error("cannot {op} {}: {cause}", path.display())]
    Io {
        /// What we tried to do, e.g. "read", "write", "create directory".
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error(
        "no certificate found in {} (expected a PEM \"-----BEGIN CERTIFICATE-----\" block)",
        .0.display()
    )]
    NoCertificate(PathBuf),
    /// The key file holds no usable PEM private key.
    #[error(
        "no private key found in {} (expected a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block; encrypted keys are not supported, decrypt with `openssl pkey -in KEY -out KEY.plain`)",
        .0.display()
    )]
    NoKey(PathBuf),
    /// A file could not be parsed.
    #[error("cannot parse {}: {why}", path.display())]
    Parse {
        /// The file that did not parse.
        path: PathBuf,
        /// What was wrong with it.
        why: String,
    },
    /// The leaf certificate's `not_after` is in the past.
    #[error(
        "certificate {} expired on {not_after}; renew it, or run `portcullis certs generate --force` for a new self-signed one",
        path.display()
    )]
    Expired {
        /// The certificate file.
        path: PathBuf,
        /// When it expired, e.g. "2026-11-25 20:51:00 UTC".
        not_after: String,
    },
    /// The leaf certificate's `not_before` is in the future.
    #[error(
        "certificate {} is not valid before {not_before}; check the system clock or wait",
        path.display()
    )]
    NotYetValid {
        /// The certificate file.
        path: PathBuf,
        /// When it becomes valid.
        not_before: String,
    },
    /// The private key does not belong to the leaf certificate.
    #[error(
        "private key {} does not match certificate {}; point both settings at files of the same pair",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// Refused to overwrite an existing file.
    #[error("{} already exists; pass --force to replace it", .0.display())]
    Exists(PathBuf),
    /// Only one of the certificate and the key exists.
    #[error(
        "found {} but not {}; restore the missing file, or run `portcullis certs generate --force` to replace both",
        present.display(),
        missing.display()
    )]
    Incomplete {
        /// The file that exists.
        present: PathBuf,
        /// The file that does not.
        missing: PathBuf,
    },
    /// The key file is accessible to group or others.
    #[error(
        "private key {} is accessible to other users (mode {mode:04o}); run chmod 600 {}",
        path.display(),
        path.display()
    )]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// Certificate generation failed (bad host name, bad validity, ...).
    #[error("cannot generate certificate: {0}")]
    Generate(String),
}

/// Where a certificate chain and its private key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// PEM file with the leaf certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl CertPaths {
    /// Convenience constructor.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
        }
    }
}

/// What an operator wants to know about a (leaf) certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name, e.g. "CN=localhost, O=Portcullis".
    pub subject: String,
    /// Subject alternative names: DNS names and IP addresses.
    pub names: Vec<String>,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity, e.g. "2025-11-25 20:51:00 UTC".
    pub not_before: String,
    /// End of validity, e.g. "2026-11-25 20:51:00 UTC".
    pub not_after: String,
    /// Whole days until `not_after` (rounded down; negative once expired).
    pub days_left: i64,
    /// e.g. "ECDSA P-256", "RSA 2048", "Ed25519".
    pub key_type: String,
    /// SHA-256 of the DER certificate as `openssl x509 -fingerprint -sha256`
    /// prints it: uppercase hex pairs joined by ':'.
    pub fingerprint_sha256: String,
    /// Issuer and subject are the same name.
    pub self_signed: bool,
    /// The certificate file this came from.
    pub path: PathBuf,
}

/// Result of [`check`]: the certificate plus everything wrong with the pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The leaf certificate.
    pub info: CertInfo,
    /// Things that stop the pair from being served (key mismatch, expired,
    /// not yet valid, key permissions too open, unreadable key, ...).
    pub problems: Vec<String>,
    /// Things worth knowing that do not stop serving (expires soon,
    /// self-signed).
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// True when [`load_server_config`] would accept the pair.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Loads the certificate chain and key, validates them (parseable, leaf
/// currently valid, key matches the leaf, key file not accessible to group
/// or others) and builds a server configuration: TLS 1.2 and 1.3, ring
/// provider, no client authentication, no ALPN. The same certificate is
/// served whatever SNI name the client sends (or none).
pub fn load_server_config(paths: &CertPaths) -> Result<Arc<ServerConfig>, CertError> {
    let loaded = reloadable::load_pair(paths)?;
    reloadable::server_config(Arc::new(rustls::sign::SingleCertAndKey::from(
        Arc::unwrap_or_clone(loaded.key),
    )))
}

/// First-run helper: when neither file exists, generates a self-signed
/// ECDSA P-256 certificate for "localhost" plus `hostnames` (IP SANs for
/// names that parse as IP addresses), valid for `days` days, and logs its
/// SHA-256 fingerprint. Returns `Ok(true)` if it generated the pair,
/// `Ok(false)` if both files already exist (they are not validated here),
/// and [`CertError::Incomplete`] if only one of them exists.
pub fn ensure_self_signed(
    paths: &CertPaths,
    hostnames: &[String],
    days: u32,
) -> Result<bool, CertError> {
    let cert_exists = files::exists(&paths.cert)?;
    let key_exists = files::exists(&paths.key)?;
    match (cert_exists, key_exists) {
        (true, true) => Ok(false),
        (false, false) => {
            generate(paths, hostnames, days, false)?;
            Ok(true)
        }
        (true, false) => Err(CertError::Incomplete {
            present: paths.cert.clone(),
            missing: paths.key.clone(),
        }),
        (false, true) => Err(CertError::Incomplete {
            present: paths.key.clone(),
            missing: paths.cert.clone(),
        }),
    }
}

/// `portcullis certs generate`: writes a new self-signed ECDSA P-256 pair
/// for "localhost" plus `hostnames`, valid for `days` days (1..=[`MAX_DAYS`]).
/// Refuses with [`CertError::Exists`] if either file exists, unless `force`.
/// Missing directories are created with mode 0700; the certificate is
/// written with mode 0644 and the key with 0600.
pub fn generate(
    paths: &CertPaths,
    hostnames: &[String],
    days: u32,
    force: bool,
) -> Result<CertInfo, CertError> {
    if paths.cert == paths.key {
        return Err(CertError::Generate(format!(
            "certificate and key must be different files, both are {}",
            paths.cert.display()
        )));
    }
    if !force {
        for path in [&paths.cert, &paths.key] {
            if files::exists(path)? {
                return Err(CertError::Exists(path.clone()));
            }
        }
    }
    let pair = selfsigned::build(hostnames, days)?;
    let (info, _) = info::inspect(&pair.cert_der, &paths.cert)?;

    files::create_parent_dir(&paths.cert)?;
    files::create_parent_dir(&paths.key)?;
    // Both temporary files are complete before either is renamed into place,
    // which keeps the window for a mismatched pair as small as possible.
    let key_tmp = files::write_temp(&paths.key, pair.key_pem.as_bytes(), 0o600)?;
    let cert_tmp = match files::write_temp(&paths.cert, pair.cert_pem.as_bytes(), 0o644) {
        Ok(tmp) => tmp,
        Err(e) => {
            files::discard(&key_tmp);
            return Err(e);
        }
    };
    if let Err(e) = files::commit(&key_tmp, &paths.key) {
        files::discard(&key_tmp);
        files::discard(&cert_tmp);
        return Err(e);
    }
    if let Err(e) = files::commit(&cert_tmp, &paths.cert) {
        files::discard(&cert_tmp);
        return Err(e);
    }

    tracing::info!(
        cert = %paths.cert.display(),
        key = %paths.key.display(),
        names = ?info.names,
        not_after = %info.not_after,
        fingerprint_sha256 = %info.fingerprint_sha256,
        "generated self-signed TLS certificate"
    );
    Ok(info)
}

/// `portcullis certs show`: describes the leaf (first) certificate of
/// `paths.cert`. The key is not read.
pub fn show(paths: &CertPaths) -> Result<CertInfo, CertError> {
    let chain = files::read_chain(&paths.cert)?;
    let leaf = leaf(&chain, &paths.cert)?;
    Ok(info::inspect(leaf, &paths.cert)?.0)
}

/// `portcullis certs check`: everything [`load_server_config`] would
/// complain about, collected instead of stopping at the first, plus
/// warnings. Fails only when the certificate itself cannot be read or
/// parsed (there is nothing to report on then).
pub fn check(paths: &CertPaths) -> Result<CheckReport, CertError> {
    let chain = files::read_chain(&paths.cert)?;
    let leaf_der = leaf(&chain, &paths.cert)?;
    let (info, window) = info::inspect(leaf_der, &paths.cert)?;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    for (i, der) in chain.iter().enumerate().skip(1) {
        match info::inspect(der, &paths.cert) {
            Ok((_, w)) if w.not_after < info::now() => problems.push(format!(
                "chain certificate #{} in {} has expired",
                i + 1,
                paths.cert.display()
            )),
            Ok(_) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let Err(e) = window.check(&info, &paths.cert) {
        problems.push(e.to_string());
    } else if info.days_left < EXPIRY_WARNING_DAYS {
        warnings.push(format!(
            "certificate expires in {} day{} ({})",
            info.days_left,
            if info.days_left == 1 { "" } else { "s" },
            info.not_after
        ));
    }
    if info.self_signed {
        warnings.push(
            "certificate is self-signed: clients will warn unless they trust it explicitly (compare the SHA-256 fingerprint)"
                .to_string(),
        );
    }

    match files::read_key_file(&paths.key) {
        Err(e) => problems.push(e.to_string()),
        Ok(key_file) => {
            if let Err(e) = key_file.check_permissions() {
                problems.push(e.to_string());
            }
            let certified = files::parse_key(&paths.key, &key_file.bytes)
                .and_then(|key| reloadable::certify(chain.clone(), key, paths));
            if let Err(e) = certified {
                problems.push(e.to_string());
            }
        }
    }

    Ok(CheckReport {
        info,
        problems,
        warnings,
    })
}

fn leaf<'a>(
    chain: &'a [rustls_pki_types::CertificateDer<'static>],
    path: &Path,
) -> Result<&'a rustls_pki_types::CertificateDer<'static>, CertError> {
    chain
        .first()
        .ok_or_else(|| CertError::NoCertificate(path.to_path_buf()))
}
