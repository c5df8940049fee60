//! TLS to the game (`[gateway] upstream_tls`): the connector every leg uses, made once at
//! start so a bad CA file stops Portcullis with its reason rather than failing each player.
//!
//! The game's certificate is verified against `upstream_ca` (PEM), or, when that is empty, the
//! system's roots (Debian's `/etc/ssl/certs/ca-certificates.crt`, or the file `SSL_CERT_FILE`
//! names), for the host in `upstream` (a name, or an IP address in the certificate's SANs).

use crate::shared::config::GatewayConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the system's roots are on Debian and its children.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The connector and the name the game's certificate must carry.
#[derive(Clone)]
pub struct UpstreamTls {
    /// The client configuration.
    pub connector: tokio_rustls::TlsConnector,
    /// The game's name or address, from `upstream`.
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// The TLS connector for `config`, if `upstream_tls` is on; the reason it cannot be made.
pub fn connector(config: &GatewayConfig) -> Result<Option<UpstreamTls>, String> {
    if !config.upstream_tls {
        return Ok(None);
    }
    let file = if config.upstream_ca.as_os_str().is_empty() {
        std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(SYSTEM_ROOTS))
    } else {
        config.upstream_ca.clone()
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable certificate in {}: {e}", file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("no certificate in {}", file.display()));
    }
    let host = config
        .upstream
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or(&config.upstream);
    let server_name = ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host:?} cannot be checked against a certificate: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(UpstreamTls {
        connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
        server_name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_needs_nothing_and_a_missing_ca_file_is_named() {
        let mut c = GatewayConfig::default();
        assert!(connector(&c).unwrap().is_none());
        c.upstream_tls = true;
        c.upstream_ca = PathBuf::from("/nonexistent/ca.pem");
        let e = connector(&c).unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
