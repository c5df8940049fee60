//! Turning a validated certificate/key pair into rustls objects, and the
//! hot-swappable [`ReloadableTls`].
//!
//! Invariants:
//! - [`load_pair`] is the only way a pair becomes servable, and it checks,
//!   in order: the chain parses, the leaf is currently valid, the key file
//!   is not accessible to group/others, the key parses and is supported by
//!   ring, and the key matches the leaf's public key.
//! - Server configurations offer TLS 1.3 and 1.2 only, use the ring
//!   provider, ask for no client certificate and advertise no ALPN.
//! - A [`ReloadableTls`] always holds a pair that passed [`load_pair`]; a
//!   failed reload leaves the previous pair in place. Its single
//!   `ServerConfig` reads the current pair at every handshake, so every
//!   acceptor ever handed out serves the newest certificate.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{Error as TlsError, InconsistentKeys, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{CertError, CertInfo, CertPaths, files, info};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A validated pair ready to serve, with its description.
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) key: Arc<CertifiedKey>,
    pub(super) info: CertInfo,
    pub(super) window: info::Window,
}

/// Reads and fully validates the pair at `paths`.
pub(super) fn load_pair(paths: &CertPaths) -> Result<Loaded, CertError> {
    let chain = files::read_chain(&paths.cert)?;
    let leaf = chain
        .first()
        .ok_or_else(|| CertError::NoCertificate(paths.cert.clone()))?;
    let (info, window) = info::inspect(leaf, &paths.cert)?;
    for der in chain.iter().skip(1) {
        // Intermediates must at least parse; their validity is the
        // client's business (and `check` reports expired ones).
        info::inspect(der, &paths.cert)?;
    }
    window.check(&info, &paths.cert)?;

    let key_file = files::read_key_file(&paths.key)?;
    key_file.check_permissions()?;
    let key = files::parse_key(&paths.key, &key_file.bytes)?;
    let key = certify(chain, key, paths)?;
    Ok(Loaded { key, info, window })
}

/// Binds `key` to `chain`, checking that ring supports the key and that it
/// belongs to the leaf certificate.
pub(super) fn certify(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    paths: &CertPaths,
) -> Result<Arc<CertifiedKey>, CertError> {
    let signing_key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| CertError::Parse {
            path: paths.key.clone(),
            why: format!(
                "unsupported or malformed private key ({e}); supported are RSA (2048 bits or more), ECDSA P-256/P-384 and Ed25519"
            ),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(TlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(CertError::KeyMismatch {
                cert: paths.cert.clone(),
                key: paths.key.clone(),
            })
        }
        // ring can always derive the public key; should another provider
        // not, the handshake itself would still fail on a wrong key.
        Err(TlsError::InconsistentKeys(InconsistentKeys::Unknown)) => {
            tracing::warn!(
                key = %paths.key.display(),
                "cannot verify that the private key matches the certificate"
            );
            Ok(Arc::new(certified))
        }
        Err(e) => Err(CertError::Parse {
            path: paths.cert.clone(),
            why: format!("rustls rejected the certificate ({e})"),
        }),
    }
}

/// A server configuration around `resolver`: TLS 1.3 + 1.2, ring, no
/// client auth, no ALPN.
pub(super) fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, CertError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| CertError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    Ok(Arc::new(config))
}

/// Serves whatever pair is current; ignores SNI (MUD clients often connect
/// by IP address and send none).
struct CurrentCert {
    current: RwLock<Arc<Loaded>>,
}

impl CurrentCert {
    fn get(&self) -> Arc<Loaded> {
        // A poisoned lock still holds a complete Arc: writers only swap it.
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn set(&self, loaded: Arc<Loaded>) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
    }
}

impl fmt::Debug for CurrentCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentCert")
            .field("fingerprint_sha256", &self.get().info.fingerprint_sha256)
            .finish()
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.get().key))
    }
}

/// A TLS server certificate that can be replaced while the server runs.
///
/// There is one [`ServerConfig`] for the lifetime of this value; its
/// certificate resolver reads the current pair at each handshake. So
/// acceptors and configs handed out before a [`reload`](Self::reload)
/// serve the new certificate afterwards, and established sessions are not
/// touched (they keep the keys they negotiated).
#[derive(Debug)]
pub struct ReloadableTls {
    paths: CertPaths,
    resolver: Arc<CurrentCert>,
    config: Arc<ServerConfig>,
}

impl ReloadableTls {
    /// Loads and validates the pair at `paths`; fails if it is unusable.
    pub fn new(paths: CertPaths) -> Result<Self, CertError> {
        let loaded = load_pair(&paths)?;
        let resolver = Arc::new(CurrentCert {
            current: RwLock::new(Arc::new(loaded)),
        });
        let config = server_config(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>)?;
        Ok(Self {
            paths,
            resolver,
            config,
        })
    }

    /// An acceptor for incoming TCP streams (cheap: clones an `Arc`).
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }

    /// The shared server configuration, for callers not using tokio-rustls.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// Re-reads and validates the files. On success new handshakes use the
    /// new pair and its description is returned; on any error the previous
    /// pair stays in use and the error is returned for the caller to log
    /// ("kept the old certificate because ...").
    pub fn reload(&self) -> Result<CertInfo, CertError> {
        let loaded = load_pair(&self.paths)?;
        let info = loaded.info.clone();
        self.resolver.set(Arc::new(loaded));
        tracing::debug!(
            cert = %self.paths.cert.display(),
            fingerprint_sha256 = %info.fingerprint_sha256,
            "reloaded TLS certificate"
        );
        Ok(info)
    }

    /// Description of the certificate currently served (`days_left` as of
    /// now).
    pub fn current(&self) -> CertInfo {
        let loaded = self.resolver.get();
        let mut info = loaded.info.clone();
        info.days_left = info::days_left(loaded.window.not_after);
        info
    }

    /// The files this reads on [`reload`](Self::reload).
    pub fn paths(&self) -> &CertPaths {
        &self.paths
    }
}
