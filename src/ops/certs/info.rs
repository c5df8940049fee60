//! Reading a DER certificate into a [`CertInfo`] for operators, plus its
//! validity window for checks.
//!
//! Invariants:
//! - Times are shown in UTC as "YYYY-MM-DD HH:MM:SS UTC".
//! - The fingerprint is SHA-256 over the exact DER bytes, printed like
//!   `openssl x509 -fingerprint -sha256` (uppercase hex pairs, ':' between).
//! - `days_left` is rounded down, so it is negative once expired.

use std::net::IpAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::{CertError, CertInfo};

const SECS_PER_DAY: i64 = 86_400;

/// The validity window of a certificate, in Unix seconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) not_before: i64,
    pub(super) not_after: i64,
}

impl Window {
    /// Fails with [`CertError::NotYetValid`] / [`CertError::Expired`] unless
    /// now is inside the window.
    pub(super) fn check(&self, info: &CertInfo, path: &Path) -> Result<(), CertError> {
        let now = now();
        if now < self.not_before {
            return Err(CertError::NotYetValid {
                path: path.to_path_buf(),
                not_before: info.not_before.clone(),
            });
        }
        if now > self.not_after {
            return Err(CertError::Expired {
                path: path.to_path_buf(),
                not_after: info.not_after.clone(),
            });
        }
        Ok(())
    }
}

/// Current time in Unix seconds.
pub(super) fn now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Whole days from now until `not_after`, rounded down.
pub(super) fn days_left(not_after: i64) -> i64 {
    (not_after - now()).div_euclid(SECS_PER_DAY)
}

/// Describes the certificate `der`, read from `path`.
pub(super) fn inspect(
    der: &CertificateDer<'_>,
    path: &Path,
) -> Result<(CertInfo, Window), CertError> {
    let parse_err = |why: String| CertError::Parse {
        path: path.to_path_buf(),
        why,
    };
    let (rest, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| parse_err(format!("not a valid X.509 certificate ({e})")))?;
    if !rest.is_empty() {
        return Err(parse_err(
            "trailing bytes after the X.509 certificate".to_string(),
        ));
    }

    let mut names = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| parse_err(format!("bad subject alternative names ({e})")))?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_string()),
                GeneralName::IPAddress(bytes) => names.push(ip_string(bytes)),
                _ => {}
            }
        }
    }

    let validity = cert.validity();
    let window = Window {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    };
    let info = CertInfo {
        subject: cert.subject().to_string(),
        names,
        issuer: cert.issuer().to_string(),
        not_before: format_utc(window.not_before),
        not_after: format_utc(window.not_after),
        days_left: days_left(window.not_after),
        key_type: key_type(cert.public_key()),
        fingerprint_sha256: fingerprint_sha256(der.as_ref()),
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        path: path.to_path_buf(),
    };
    Ok((info, window))
}

/// `AB:CD:...` over SHA-256 of `der`.
pub(super) fn fingerprint_sha256(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ip_string(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        IpAddr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        IpAddr::from(v6).to_string()
    } else {
        format!("invalid IP address ({} bytes)", bytes.len())
    }
}

/// "YYYY-MM-DD HH:MM:SS UTC" for Unix seconds.
pub(super) fn format_utc(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{secs} seconds after 1970-01-01 UTC"),
    }
}

fn key_type(spki: &SubjectPublicKeyInfo<'_>) -> String {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        // rsaEncryption
        "1.2.840.113549.1.1.1" => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => format!("RSA {}", modulus_bits(rsa.modulus)),
            _ => "RSA".to_string(),
        },
        // id-RSASSA-PSS
        "1.2.840.113549.1.1.10" => "RSA-PSS".to_string(),
        // id-ecPublicKey: the curve is in the parameters
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA P-256".to_string(),
                Some("1.3.132.0.34") => "ECDSA P-384".to_string(),
                Some("1.3.132.0.35") => "ECDSA P-521".to_string(),
                Some(other) => format!("ECDSA (curve {other})"),
                None => "ECDSA".to_string(),
            }
        }
        "1.3.101.112" => "Ed25519".to_string(),
        "1.3.101.113" => "Ed448".to_string(),
        other => format!("unknown ({other})"),
    }
}

/// Bit length of a big-endian modulus that may carry leading zero bytes.
fn modulus_bits(modulus: &[u8]) -> usize {
    let start = modulus
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(modulus.len());
    let significant = modulus.get(start..).unwrap_or_default();
    match significant.first() {
        Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}
