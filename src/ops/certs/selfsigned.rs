//! Building self-signed server certificates in memory (rcgen, ring).
//!
//! Invariants:
//! - Keys are always fresh ECDSA P-256 keys, serialised as PKCS#8 PEM.
//! - "localhost" is always the first subject alternative name; further
//!   names are deduplicated case-insensitively, become IP SANs when they
//!   parse as IP addresses and must otherwise be plausible DNS names.
//! - The certificate is an end-entity (not a CA) for TLS server auth, and
//!   its validity starts at the current second.
//! - Nothing here touches the file system.

use std::net::IpAddr;

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use super::{CertError, MAX_DAYS};

/// A freshly generated certificate and its key.
pub(super) struct Pair {
    pub(super) cert_pem: String,
    pub(super) key_pem: String,
    pub(super) cert_der: CertificateDer<'static>,
}

/// A pair for "localhost" + `hostnames`, valid from now for `days` days.
pub(super) fn build(hostnames: &[String], days: u32) -> Result<Pair, CertError> {
    if days == 0 || days > MAX_DAYS {
        return Err(CertError::Generate(format!(
            "validity must be between 1 and {MAX_DAYS} days, not {days}"
        )));
    }
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(0)
        .map_err(|e| CertError::Generate(format!("cannot read the clock ({e})")))?;
    build_with_window(hostnames, now, now + Duration::days(i64::from(days)))
}

/// A pair for "localhost" + `hostnames` with an explicit validity window
/// (tests use this for expired and not-yet-valid certificates).
pub(super) fn build_with_window(
    hostnames: &[String],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Pair, CertError> {
    let names = san_list(hostnames)?;
    let common_name = hostnames
        .first()
        .cloned()
        .unwrap_or_else(|| "localhost".to_string());

    let mut params = CertificateParams::new(names)
        .map_err(|e| CertError::Generate(format!("invalid host name ({e})")))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Portcullis");
    params.not_before = not_before;
    params.not_after = not_after;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| CertError::Generate(format!("cannot create a P-256 key ({e})")))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| CertError::Generate(format!("cannot sign the certificate ({e})")))?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
    })
}

/// "localhost" followed by the validated, deduplicated `hostnames`.
fn san_list(hostnames: &[String]) -> Result<Vec<String>, CertError> {
    let mut names = vec!["localhost".to_string()];
    for name in hostnames {
        validate_name(name)?;
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.clone());
        }
    }
    Ok(names)
}

fn validate_name(name: &str) -> Result<(), CertError> {
    if name.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let bad = |why: &str| {
        Err(CertError::Generate(format!(
            "invalid host name {name:?}: {why}"
        )))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 253 {
        return bad("it is longer than 253 characters");
    }
    let bare = name.strip_prefix("*.").unwrap_or(name);
    for label in bare.split('.') {
        if label.is_empty() {
            return bad("it has an empty label (two dots in a row, or a leading or trailing dot)");
        }
        if label.len() > 63 {
            return bad("a label is longer than 63 characters");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return bad(
                "only ASCII letters, digits, '-', '_' and '.' are allowed (use punycode for international names)",
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with '-'");
        }
    }
    Ok(())
}
