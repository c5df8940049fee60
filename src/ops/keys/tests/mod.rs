//! Tests for the keys module, on real files in temp directories, checked
//! against the real OpenSSH `ssh-keygen` (which must be on PATH).
//!
//! This file holds the `ssh-keygen` helpers; the cases are in [`host`] (generating, loading
//! and removing host keys), [`import`] (importing keys made elsewhere) and [`public`]
//! (public key lines).

mod host;
mod import;
mod public;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::*;

fn run_keygen(args: &[&str]) -> Output {
    Command::new("ssh-keygen")
        .args(args)
        .output()
        .expect("ssh-keygen must be installed to run these tests")
}

fn keygen_ok(args: &[&str]) -> String {
    let out = run_keygen(args);
    assert!(
        out.status.success(),
        "ssh-keygen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Makes a key with ssh-keygen; returns the private key path.
fn keygen_make(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let p = path.to_str().expect("utf-8 path");
    let mut args = vec!["-q", "-C", "test@example", "-f", p];
    if !extra.contains(&"-N") {
        args.extend(["-N", ""]);
    }
    args.extend(extra);
    keygen_ok(&args);
    path
}

/// (bits, fingerprint) as `ssh-keygen -l -f path` prints them.
fn keygen_fingerprint(path: &Path) -> (u32, String) {
    let out = keygen_ok(&["-l", "-f", path.to_str().expect("utf-8 path")]);
    // "256 SHA256:xxxx comment (ED25519)"
    let mut words = out.split_whitespace();
    let bits = words.next().expect("bits").parse().expect("numeric bits");
    let fp = words.next().expect("fingerprint").to_string();
    assert!(fp.starts_with("SHA256:"), "unexpected output {out:?}");
    (bits, fp)
}

/// The "type base64" part of an OpenSSH public key line.
fn key_part(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn pub_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// OpenSSH can read our private key, and derives the same public key as
/// our `.pub`, whose fingerprint and size match our `HostKeyInfo`.
fn assert_openssh_agrees(info: &HostKeyInfo) {
    let p = info.path.to_str().expect("utf-8 path");
    let derived = keygen_ok(&["-y", "-f", p]);
    let ours = fs::read_to_string(pub_of(&info.path)).expect("read .pub");
    assert_eq!(key_part(&derived), key_part(&ours));
    let (bits, fp) = keygen_fingerprint(&pub_of(&info.path));
    assert_eq!(fp, info.fingerprint);
    assert_eq!(bits, info.bits);
    // ssh-keygen also reads the private file for -l.
    assert_eq!(keygen_fingerprint(&info.path).1, info.fingerprint);
    assert_eq!(mode(&info.path), 0o600);
    assert_eq!(mode(&pub_of(&info.path)), 0o644);
}
