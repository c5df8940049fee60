//! Tests for the certificate module against real files in temporary
//! directories, cross-checked with the `openssl` command line tool (which
//! must be installed). TLS tests run a real tokio server on 127.0.0.1 and
//! connect to it with `openssl s_client`.
//!
//! This file holds the shared helpers (temporary paths, `openssl` wrappers, pairs made by
//! openssl or by us); the cases are in [`generate`] (ensure / generate / show), [`loading`]
//! and [`tls`].

mod generate;
mod loading;
mod tls;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

use super::selfsigned::{self, Pair};
use super::*;

// ---------------------------------------------------------------- helpers

fn tmp() -> TempDir {
    tempfile::tempdir().unwrap()
}

/// cert/key paths inside a not yet existing subdirectory of `dir`.
fn paths_in(dir: &TempDir) -> CertPaths {
    let tls = dir.path().join("tls");
    CertPaths::new(tls.join("cert.pem"), tls.join("key.pem"))
}

fn openssl(args: &[&str]) -> Output {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The fingerprint as openssl prints it, without the "sha256 Fingerprint=".
fn openssl_fingerprint(cert: &Path) -> String {
    let out = stdout(&openssl(&[
        "x509",
        "-in",
        s(cert),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]));
    fingerprint_after_eq(&out)
}

fn fingerprint_after_eq(out: &str) -> String {
    out.trim().split_once('=').unwrap().1.to_string()
}

/// `openssl req -x509` pair with the given `-newkey` arguments.
fn openssl_pair(dir: &TempDir, name: &str, newkey: &[&str], days: &str) -> CertPaths {
    let paths = CertPaths::new(
        dir.path().join(format!("{name}.crt")),
        dir.path().join(format!("{name}.key")),
    );
    let mut args = vec!["req", "-x509"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-nodes",
        "-subj",
        "/CN=test",
        "-days",
        days,
        "-keyout",
        s(&paths.key),
        "-out",
        s(&paths.cert),
    ]);
    openssl(&args);
    chmod(&paths.key, 0o600);
    paths
}

const RSA: &[&str] = &["-newkey", "rsa:2048"];
const EC: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const ED25519: &[&str] = &["-newkey", "ed25519"];

fn write_pair(paths: &CertPaths, pair: &Pair) {
    std::fs::write(&paths.cert, &pair.cert_pem).unwrap();
    std::fs::write(&paths.key, &pair.key_pem).unwrap();
    chmod(&paths.key, 0o600);
}

fn pair_with_window(from_now_secs: i64, until_now_secs: i64) -> Pair {
    let now = time::OffsetDateTime::now_utc();
    selfsigned::build_with_window(
        &[],
        now + time::Duration::seconds(from_now_secs),
        now + time::Duration::seconds(until_now_secs),
    )
    .unwrap()
}

fn plain_paths(dir: &TempDir, name: &str) -> CertPaths {
    CertPaths::new(
        dir.path().join(format!("{name}.crt")),
        dir.path().join(format!("{name}.key")),
    )
}
