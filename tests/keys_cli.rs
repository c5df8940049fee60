#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The operator's SSH key commands end to end, checked against the real OpenSSH tools:
//! `portcullis keys list|generate|import|remove|known-hosts` for host keys (first-start
//! generation, fingerprints as `ssh-keygen -l` and `ssh-keyscan` see them, known_hosts lines
//! that `ssh` accepts, RSA served without SHA-1 `ssh-rsa`, import keeping the fingerprint,
//! refusal of too-open private key files) and `portcullis accounts add-key|keys|remove-key`
//! for players' keys.
//!
//! Every external command (the CLI, `ssh`, `ssh-keygen`, `ssh-keyscan`) runs with a time
//! limit; every connection is to 127.0.0.1.

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Time allowed for commands that generate RSA keys (slow in unoptimised builds).
const KEYGEN_WAIT: Duration = Duration::from_secs(180);

/// Runs `cmd` to completion within `limit` (killing it and failing otherwise), feeding it
/// `stdin` if given. The caller's `PORTCULLIS_*` and `RUST_LOG` variables are not passed on
/// (unless set on `cmd` itself).
fn run_limited(cmd: &mut Command, stdin: Option<&str>, limit: Duration) -> Output {
    let set_here: Vec<std::ffi::OsString> = cmd.get_envs().map(|(k, _)| k.to_owned()).collect();
    for (k, _) in std::env::vars_os() {
        if (k.to_string_lossy().starts_with("PORTCULLIS_") || k == "RUST_LOG")
            && !set_here.contains(&k)
        {
            cmd.env_remove(&k);
        }
    }
    common::run_limited(cmd, stdin.map(str::as_bytes), limit)
}

/// The portcullis CLI with `args` and `--config config`, within [`WAIT`].
fn pc(config: &Path, args: &[&str]) -> Output {
    pc_limited(config, args, None, WAIT)
}

/// The portcullis CLI with `stdin`, within [`WAIT`].
fn pc_stdin(config: &Path, args: &[&str], stdin: &str) -> Output {
    pc_limited(config, args, Some(stdin), WAIT)
}

/// The portcullis CLI for commands that may generate RSA keys, within [`KEYGEN_WAIT`].
fn pc_keygen(config: &Path, args: &[&str]) -> Output {
    pc_limited(config, args, None, KEYGEN_WAIT)
}

fn pc_limited(config: &Path, args: &[&str], stdin: Option<&str>, limit: Duration) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg("--config").arg(config);
    run_limited(&mut cmd, stdin, limit)
}

/// An external tool (`ssh-keygen`, `ssh-keyscan`, `ssh`) within [`WAIT`].
fn tool(program: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args);
    run_limited(&mut cmd, stdin, WAIT)
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
}

/// Asserts success; returns stdout.
fn ok(what: &str, out: &Output) -> String {
    assert!(out.status.success(), "{what} failed: {}", describe(out));
    stdout(out)
}

/// Asserts `out` is a failure with exactly one stderr line, starting "portcullis:"; returns it.
fn one_line_error(what: &str, out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{what}: expected failure, got {}",
        describe(out)
    );
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected exactly one line on stderr, got:\n{err}"
    );
    assert!(
        lines[0].starts_with("portcullis:"),
        "{what}: stderr does not start with \"portcullis:\": {err}"
    );
    lines[0].to_string()
}

/// A temporary directory holding `config.toml` (the SSH test config), with no portal running.
fn ssh_config_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, ssh_test_config("")).unwrap();
    (dir, config)
}

/// One line of `portcullis keys list`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    key_type: String,
    bits: u32,
    fingerprint: String,
    path: PathBuf,
}

/// Runs `keys list` and parses every line.
fn keys_list(config: &Path) -> Vec<Listed> {
    let out = ok("keys list", &pc(config, &["keys", "list"]));
    out.lines()
        .filter(|l| !l.starts_with("no host keys"))
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            assert_eq!(f.len(), 4, "odd keys list line {l:?} in:\n{out}");
            assert!(
                f[2].starts_with("SHA256:"),
                "no SHA256 fingerprint in {l:?}"
            );
            Listed {
                key_type: f[0].to_string(),
                bits: f[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("bits not a number in {l:?}")),
                fingerprint: f[2].to_string(),
                path: PathBuf::from(f[3]),
            }
        })
        .collect()
}

/// The listed key of `key_type`, which must be there.
fn listed(config: &Path, key_type: &str) -> Listed {
    let list = keys_list(config);
    list.iter()
        .find(|k| k.key_type == key_type)
        .cloned()
        .unwrap_or_else(|| panic!("no {key_type} key in keys list: {list:?}"))
}

/// The SHA256 fingerprints in `ssh-keygen -l` output ("BITS SHA256:… COMMENT (TYPE)").
fn fingerprints_in(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|f| f.starts_with("SHA256:"))
        .map(str::to_string)
        .collect()
}

/// `ssh-keygen -lf FILE`'s fingerprint (one key in the file).
fn keygen_fingerprint(file: &Path) -> String {
    let out = tool("ssh-keygen", &["-lf", file.to_str().unwrap()], None);
    let text = ok("ssh-keygen -lf", &out);
    let fps = fingerprints_in(&text);
    assert_eq!(fps.len(), 1, "ssh-keygen -lf {file:?} printed:\n{text}");
    fps[0].clone()
}

/// `ssh-keygen -lf FILE`'s bits field.
fn keygen_bits(file: &Path) -> u32 {
    let out = tool("ssh-keygen", &["-lf", file.to_str().unwrap()], None);
    let text = ok("ssh-keygen -lf", &out);
    text.split_whitespace()
        .next()
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no bits in {text:?}"))
}

/// The fingerprints of the `key_type` host keys the server on `port` offers, as
/// `ssh-keyscan -t TYPE -p PORT 127.0.0.1 | ssh-keygen -lf -` prints them.
fn keyscan(port: u16, key_type: &str) -> Vec<String> {
    let port_s = port.to_string();
    let scan = tool(
        "ssh-keyscan",
        &["-T", "10", "-t", key_type, "-p", &port_s, "127.0.0.1"],
        None,
    );
    let lines = stdout(&scan);
    if lines.trim().is_empty() {
        return Vec::new();
    }
    let out = tool("ssh-keygen", &["-lf", "-"], Some(&lines));
    let text = ok("ssh-keygen -lf - (keyscan output)", &out);
    fingerprints_in(&text)
}

/// `ssh` as `nobody` to 127.0.0.1:`port` with only the host keys in `known_hosts` trusted,
/// no user keys, no agent, no prompts; `extra` are more `-o` options.
fn ssh_try(port: u16, known_hosts: &Path, extra: &[&str]) -> Output {
    let port_s = port.to_string();
    let kh = format!("UserKnownHostsFile={}", known_hosts.display());
    let mut args: Vec<&str> = vec![
        "-F",
        "/dev/null",
        "-o",
        &kh,
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "IdentityAgent=none",
        "-o",
        "HashKnownHosts=no",
    ];
    for o in extra {
        args.push("-o");
        args.push(o);
    }
    args.extend(["-p", &port_s, "nobody@127.0.0.1", "true"]);
    tool("ssh", &args, None)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Makes a key with `ssh-keygen -t TYPE -N PASS -C COMMENT -f PATH` (plus `extra`).
fn ssh_keygen_new(path: &Path, key_type: &str, pass: &str, comment: &str, extra: &[&str]) {
    let mut args = vec![
        "-q",
        "-t",
        key_type,
        "-N",
        pass,
        "-C",
        comment,
        "-f",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok("ssh-keygen", &tool("ssh-keygen", &args, None));
}

#[test]
fn first_start_generates_an_ed25519_key_that_ssh_sees() {
    let p = Portcullis::start_ssh("");
    let port = p.ssh_port.unwrap();
    let keys_dir = p.path().join("keys");
    let private = keys_dir.join("ssh_host_ed25519_key");
    let public = keys_dir.join("ssh_host_ed25519_key.pub");
    assert_eq!(mode(&private), 0o600, "private key mode");
    assert_eq!(mode(&public), 0o644, ".pub mode");
    assert_eq!(mode(&keys_dir), 0o700, "keys directory mode");

    let list = keys_list(&p.config);
    assert_eq!(list.len(), 1, "expected one host key, got {list:?}");
    let k = &list[0];
    assert_eq!(k.key_type, "ed25519");
    assert_eq!(k.bits, 256);
    assert!(
        same_file(&k.path, &private),
        "listed path {:?} is not {private:?}",
        k.path
    );

    let scanned = keyscan(port, "ed25519");
    assert_eq!(
        scanned,
        vec![k.fingerprint.clone()],
        "ssh-keyscan fingerprint differs from keys list"
    );
    assert_eq!(keygen_fingerprint(&public), k.fingerprint);
    assert_eq!(keygen_bits(&public), 256);
    // ssh-keygen reading the private key agrees too.
    assert_eq!(keygen_fingerprint(&private), k.fingerprint);
}

#[test]
fn known_hosts_lines_satisfy_strict_ssh() {
    let p = Portcullis::start_ssh("");
    let port = p.ssh_port.unwrap();
    let port_s = port.to_string();
    let work = tempfile::tempdir().unwrap();

    let out = ok(
        "keys known-hosts",
        &pc(
            &p.config,
            &[
                "keys",
                "known-hosts",
                "--host",
                "127.0.0.1",
                "--port",
                &port_s,
            ],
        ),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one key, one line; got:\n{out}");
    assert!(
        lines[0].starts_with(&format!("[127.0.0.1]:{port} ssh-ed25519 AAAA")),
        "unexpected known_hosts line {:?}",
        lines[0]
    );
    let known = work.path().join("known_hosts");
    std::fs::write(&known, &out).unwrap();

    // ssh-keygen finds the host in it, with the key the server serves.
    let host = format!("[127.0.0.1]:{port}");
    let found = tool(
        "ssh-keygen",
        &["-F", &host, "-f", known.to_str().unwrap()],
        None,
    );
    let found_text = ok("ssh-keygen -F", &found);
    assert!(
        found_text.contains(lines[0].trim()),
        "ssh-keygen -F did not print the line:\n{found_text}"
    );
    let fp = listed(&p.config, "ed25519").fingerprint;
    let lf = tool("ssh-keygen", &["-lf", known.to_str().unwrap()], None);
    assert_eq!(
        fingerprints_in(&ok("ssh-keygen -lf known_hosts", &lf)),
        vec![fp]
    );

    // Trusting that file, ssh gets past host key checking to authentication.
    let trusted = ssh_try(port, &known, &[]);
    let err = stderr(&trusted);
    assert!(
        !trusted.status.success(),
        "nobody logged in: {}",
        describe(&trusted)
    );
    assert!(
        !err.contains("Host key verification failed"),
        "the known_hosts line was not accepted:\n{err}"
    );
    assert!(
        err.contains("Permission denied"),
        "expected an authentication failure:\n{err}"
    );

    // With nothing trusted, strict checking refuses the host.
    let empty = work.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let untrusted = ssh_try(port, &empty, &[]);
    let err = stderr(&untrusted);
    assert!(!untrusted.status.success());
    assert!(
        err.contains("Host key verification failed"),
        "expected a host key failure:\n{err}"
    );
    assert!(!err.contains("Permission denied"), "{err}");
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "");

    // Port 22 is written without brackets, as ssh does.
    let out22 = ok(
        "keys known-hosts --port 22",
        &pc(
            &p.config,
            &["keys", "known-hosts", "--host", "127.0.0.1", "--port", "22"],
        ),
    );
    for l in out22.lines() {
        assert!(l.starts_with("127.0.0.1 ssh-ed25519 "), "{l:?}");
    }
    assert_eq!(out22.lines().count(), 1);

    // A host name that cannot go into known_hosts is refused.
    let bad = pc(
        &p.config,
        &[
            "keys",
            "known-hosts",
            "--host",
            "evil host,*",
            "--port",
            "22",
        ],
    );
    one_line_error("known-hosts with a bad host", &bad);
}

#[test]
fn generate_rsa_and_ecdsa_then_serve_them_after_restart() {
    let p = Portcullis::start_ssh("");
    let config = p.config.clone();
    let keys_dir = p.path().join("keys");
    let rsa_pub = keys_dir.join("ssh_host_rsa_key.pub");
    let ed25519 = listed(&config, "ed25519").fingerprint;

    // RSA 3072.
    let out = ok(
        "keys generate --type rsa --bits 3072",
        &pc_keygen(
            &config,
            &["keys", "generate", "--type", "rsa", "--bits", "3072"],
        ),
    );
    assert!(out.starts_with("generated rsa 3072 SHA256:"), "{out}");
    let rsa = listed(&config, "rsa");
    assert_eq!(rsa.bits, 3072);
    assert_eq!(keygen_fingerprint(&rsa_pub), rsa.fingerprint);
    assert_eq!(keygen_bits(&rsa_pub), 3072);
    assert_eq!(
        keygen_fingerprint(&keys_dir.join("ssh_host_rsa_key")),
        rsa.fingerprint
    );
    assert_eq!(mode(&keys_dir.join("ssh_host_rsa_key")), 0o600);
    assert_eq!(mode(&rsa_pub), 0o644);

    // Not replaced without --force.
    let again = pc_keygen(&config, &["keys", "generate", "--type", "rsa"]);
    let line = one_line_error("second generate without --force", &again);
    assert!(line.contains("--force"), "{line}");
    assert_eq!(listed(&config, "rsa").fingerprint, rsa.fingerprint);

    // Replaced with it.
    ok(
        "keys generate --type rsa --force",
        &pc_keygen(&config, &["keys", "generate", "--type", "rsa", "--force"]),
    );
    let rsa2 = listed(&config, "rsa");
    assert_ne!(
        rsa2.fingerprint, rsa.fingerprint,
        "--force kept the old key"
    );
    assert_eq!(rsa2.bits, 3072, "the default RSA size is 3072");
    assert_eq!(keygen_fingerprint(&rsa_pub), rsa2.fingerprint);

    // ECDSA 384.
    ok(
        "keys generate --type ecdsa --bits 384",
        &pc_keygen(
            &config,
            &["keys", "generate", "--type", "ecdsa", "--bits", "384"],
        ),
    );
    let ecdsa = listed(&config, "ecdsa");
    assert_eq!(ecdsa.bits, 384);
    let ecdsa_pub = keys_dir.join("ssh_host_ecdsa_key.pub");
    assert_eq!(keygen_fingerprint(&ecdsa_pub), ecdsa.fingerprint);
    assert_eq!(keygen_bits(&ecdsa_pub), 384);

    // Bad types and sizes: one-line errors, nothing written.
    for (args, needle) in [
        (&["keys", "generate", "--type", "dsa"][..], "dsa"),
        (
            &["keys", "generate", "--type", "rsa", "--bits", "1024"][..],
            "1024",
        ),
        (
            &[
                "keys", "generate", "--type", "rsa", "--bits", "16384", "--force",
            ][..],
            "16384",
        ),
        (
            &[
                "keys", "generate", "--type", "ecdsa", "--bits", "512", "--force",
            ][..],
            "512",
        ),
        (
            &[
                "keys", "generate", "--type", "ed25519", "--bits", "4096", "--force",
            ][..],
            "4096",
        ),
    ] {
        let out = pc_keygen(&config, args);
        let line = one_line_error(&format!("{args:?}"), &out);
        assert!(line.contains(needle), "{args:?}: {line}");
    }
    let bits_not_number = pc(
        &config,
        &["keys", "generate", "--type", "rsa", "--bits", "big"],
    );
    assert!(!bits_not_number.status.success());
    let list = keys_list(&config);
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(listed(&config, "ed25519").fingerprint, ed25519);
    assert_eq!(listed(&config, "rsa").fingerprint, rsa2.fingerprint);
    assert_eq!(listed(&config, "ecdsa").fingerprint, ecdsa.fingerprint);
    assert!(!keys_dir.join("ssh_host_dsa_key").exists());

    // Restart: the portal now serves all three.
    let (status, dir, config) = p.stop_keeping_dir();
    assert!(status.success(), "portal exit: {status:?}");
    let p = Portcullis::start_in(dir, config);
    let port = p.ssh_port.expect("ssh is not listening after restart");
    assert_eq!(keyscan(port, "rsa"), vec![rsa2.fingerprint.clone()]);
    assert_eq!(keyscan(port, "ecdsa"), vec![ecdsa.fingerprint.clone()]);
    assert_eq!(keyscan(port, "ed25519"), vec![ed25519.clone()]);

    let port_s = port.to_string();
    let known = p.path().join("player_known_hosts");
    let kh = ok(
        "keys known-hosts",
        &pc(
            &p.config,
            &[
                "keys",
                "known-hosts",
                "--host",
                "127.0.0.1",
                "--port",
                &port_s,
            ],
        ),
    );
    assert_eq!(kh.lines().count(), 3, "{kh}");
    std::fs::write(&known, &kh).unwrap();

    // SHA-1 ssh-rsa signatures are not offered...
    let sha1 = ssh_try(port, &known, &["HostKeyAlgorithms=ssh-rsa"]);
    let err = stderr(&sha1);
    assert!(!sha1.status.success());
    assert!(
        err.contains("no matching host key type"),
        "ssh-rsa was not refused:\n{err}"
    );
    let offer = err
        .lines()
        .find_map(|l| l.split("Their offer: ").nth(1))
        .unwrap_or_else(|| panic!("ssh did not show the server's offer:\n{err}"));
    let offered: Vec<&str> = offer.trim().split(',').collect();
    assert!(
        !offered.contains(&"ssh-rsa"),
        "server offers ssh-rsa: {offer}"
    );
    assert!(
        offered.contains(&"rsa-sha2-512"),
        "no rsa-sha2-512 in {offer}"
    );
    // ...but rsa-sha2-512 with the RSA key is, and verifies against its known_hosts line.
    let sha512 = ssh_try(port, &known, &["HostKeyAlgorithms=rsa-sha2-512"]);
    let err = stderr(&sha512);
    assert!(!sha512.status.success());
    assert!(
        err.contains("Permission denied"),
        "rsa-sha2-512 did not get as far as authentication:\n{err}"
    );
    assert!(!err.contains("Host key verification failed"), "{err}");
    // And the ECDSA key signs and verifies too.
    let ec = ssh_try(port, &known, &["HostKeyAlgorithms=ecdsa-sha2-nistp384"]);
    let err = stderr(&ec);
    assert!(
        err.contains("Permission denied"),
        "ecdsa-sha2-nistp384 did not get as far as authentication:\n{err}"
    );
}

#[test]
fn imported_key_keeps_its_fingerprint_for_players() {
    let (dir, config) = ssh_config_dir();
    let work = tempfile::tempdir().unwrap();
    let host = work.path().join("host");
    ssh_keygen_new(&host, "ed25519", "", "old-server", &[]);
    let host_pub = work.path().join("host.pub");
    let fp = keygen_fingerprint(&host_pub);

    // Error cases first, while the key directory is empty.
    let enc = work.path().join("encrypted");
    ssh_keygen_new(&enc, "ed25519", "secret", "locked", &[]);
    let line = one_line_error(
        "import of a passphrase-protected key",
        &pc(&config, &["keys", "import", enc.to_str().unwrap()]),
    );
    assert!(line.contains("passphrase"), "{line}");

    let junk = work.path().join("notakey");
    std::fs::write(&junk, "this is not a key\n").unwrap();
    let line = one_line_error(
        "import of a non-key file",
        &pc(&config, &["keys", "import", junk.to_str().unwrap()]),
    );
    assert!(line.contains(junk.to_str().unwrap()), "{line}");

    let line = one_line_error(
        "import of a .pub file",
        &pc(&config, &["keys", "import", host_pub.to_str().unwrap()]),
    );
    assert!(line.contains("public key"), "{line}");

    let missing = work.path().join("missing");
    one_line_error(
        "import of a missing file",
        &pc(&config, &["keys", "import", missing.to_str().unwrap()]),
    );
    assert!(keys_list(&config).is_empty(), "a failed import wrote a key");

    // The real import.
    let out = ok(
        "keys import",
        &pc(&config, &["keys", "import", host.to_str().unwrap()]),
    );
    assert!(out.contains(&fp), "{out}");
    let k = listed(&config, "ed25519");
    assert_eq!(k.fingerprint, fp);
    assert_eq!(k.bits, 256);
    let keys_dir = dir.path().join("keys");
    assert!(same_file(&k.path, &keys_dir.join("ssh_host_ed25519_key")));
    assert_eq!(mode(&keys_dir.join("ssh_host_ed25519_key")), 0o600);
    assert_eq!(mode(&keys_dir.join("ssh_host_ed25519_key.pub")), 0o644);
    assert_eq!(
        keygen_fingerprint(&keys_dir.join("ssh_host_ed25519_key.pub")),
        fp
    );

    // The comment travels with the key.
    let lf = tool(
        "ssh-keygen",
        &[
            "-lf",
            keys_dir.join("ssh_host_ed25519_key.pub").to_str().unwrap(),
        ],
        None,
    );
    assert!(
        ok("ssh-keygen -lf", &lf).contains("old-server"),
        "{}",
        stdout(&lf)
    );

    // PEM (PKCS#1) RSA keys, as older sshd installations have, import too; a
    // passphrase-protected one does not.
    let pem = work.path().join("pem_rsa");
    ssh_keygen_new(&pem, "rsa", "", "pem", &["-b", "2048", "-m", "PEM"]);
    let pem_fp = keygen_fingerprint(&work.path().join("pem_rsa.pub"));
    let pem_enc = work.path().join("pem_enc");
    ssh_keygen_new(
        &pem_enc,
        "rsa",
        "secret",
        "pem",
        &["-b", "2048", "-m", "PEM"],
    );
    let line = one_line_error(
        "import of a passphrase-protected PEM key",
        &pc(&config, &["keys", "import", pem_enc.to_str().unwrap()]),
    );
    assert!(line.contains("passphrase"), "{line}");
    ok(
        "keys import PEM RSA",
        &pc(&config, &["keys", "import", pem.to_str().unwrap()]),
    );
    let rsa = listed(&config, "rsa");
    assert_eq!(rsa.fingerprint, pem_fp);
    assert_eq!(rsa.bits, 2048);
    assert_eq!(
        keygen_fingerprint(&keys_dir.join("ssh_host_rsa_key.pub")),
        pem_fp
    );

    // A second import of the same type needs --force.
    let other = work.path().join("other");
    ssh_keygen_new(&other, "ed25519", "", "other", &[]);
    let line = one_line_error(
        "import over an existing key",
        &pc(&config, &["keys", "import", other.to_str().unwrap()]),
    );
    assert!(line.contains("--force"), "{line}");
    assert_eq!(listed(&config, "ed25519").fingerprint, fp);

    // The portal serves it: players see the same host key as before the move.
    let p = Portcullis::start_in(dir, config);
    let port = p.ssh_port.expect("ssh is not listening");
    assert_eq!(keyscan(port, "ed25519"), vec![fp]);
}

#[test]
fn refused_key_errors_recommend_a_command_that_works() {
    let (dir, config) = ssh_config_dir();
    let work = tempfile::tempdir().unwrap();
    let weak = work.path().join("weak_rsa");
    ssh_keygen_new(&weak, "rsa", "", "weak", &["-b", "1024"]);
    let line = one_line_error(
        "import of a 1024-bit RSA key",
        &pc(&config, &["keys", "import", weak.to_str().unwrap()]),
    );
    assert!(line.contains("1024"), "{line}");
    assert!(
        !dir.path().join("keys").join("ssh_host_rsa_key").exists(),
        "the weak key was written"
    );
    // The error tells the operator what to run instead; that command must work.
    let advice = line
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no `command` recommended in {line:?}"));
    let words: Vec<&str> = advice.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"portcullis"), "{advice:?}");
    let out = pc_keygen(&config, &words[1..]);
    ok(&format!("the recommended command `{advice}`"), &out);
    assert_eq!(listed(&config, "ed25519").bits, 256);
}

#[test]
fn remove_deletes_both_files_once() {
    let (dir, config) = ssh_config_dir();
    let keys_dir = dir.path().join("keys");
    let empty = ok("keys list", &pc(&config, &["keys", "list"]));
    assert!(empty.starts_with("no host keys"), "{empty}");
    ok(
        "keys generate --type rsa --bits 2048",
        &pc_keygen(
            &config,
            &["keys", "generate", "--type", "rsa", "--bits", "2048"],
        ),
    );
    ok("keys generate", &pc_keygen(&config, &["keys", "generate"]));
    let private = keys_dir.join("ssh_host_rsa_key");
    let public = keys_dir.join("ssh_host_rsa_key.pub");
    assert!(private.exists() && public.exists());
    assert_eq!(listed(&config, "rsa").bits, 2048);

    let out = ok("keys remove rsa", &pc(&config, &["keys", "remove", "rsa"]));
    assert!(out.contains("ssh_host_rsa_key"), "{out}");
    assert!(!private.exists(), "private key still there");
    assert!(!public.exists(), ".pub still there");
    let list = keys_list(&config);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].key_type, "ed25519");

    let line = one_line_error(
        "second keys remove rsa",
        &pc(&config, &["keys", "remove", "rsa"]),
    );
    assert!(line.contains("rsa"), "{line}");
    one_line_error("keys remove dsa", &pc(&config, &["keys", "remove", "dsa"]));
    assert!(keys_dir.join("ssh_host_ed25519_key").exists());
}

#[test]
fn too_open_private_key_stops_start_and_list() {
    let (dir, config) = ssh_config_dir();
    let out = ok("keys generate", &pc_keygen(&config, &["keys", "generate"]));
    assert!(out.starts_with("generated ed25519 256 SHA256:"), "{out}");
    let private = listed(&config, "ed25519").path;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = private.to_str().unwrap();

    // `start`, with only errors logged, so stderr is just the error.
    let mut start = Command::new(BIN);
    start
        .arg("start")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "error");
    let out = run_limited(&mut start, None, WAIT);
    let line = one_line_error("start with a 0644 private key", &out);
    assert!(line.contains("chmod 600"), "{line}");
    assert!(line.contains(path), "{line}");

    for args in [&["keys", "list"][..], &["keys", "known-hosts"][..]] {
        let line = one_line_error(&format!("{args:?}"), &pc(&config, args));
        assert!(line.contains("chmod 600"), "{args:?}: {line}");
        assert!(line.contains(path), "{args:?}: {line}");
    }

    // Group-readable is too open as well; owner read-only is fine (as for sshd).
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o640)).unwrap();
    let line = one_line_error("keys list with a 0640 key", &pc(&config, &["keys", "list"]));
    assert!(line.contains("chmod 600"), "{line}");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert_eq!(keys_list(&config).len(), 1);

    // After the fix the portal starts and serves that key.
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let fp = listed(&config, "ed25519").fingerprint;
    let p = Portcullis::start_in(dir, config);
    assert_eq!(keyscan(p.ssh_port.unwrap(), "ed25519"), vec![fp]);
}

#[test]
fn account_keys_cli_matches_ssh_keygen() {
    let (_dir, config) = ssh_config_dir();
    let work = tempfile::tempdir().unwrap();
    ok(
        "accounts create alice",
        &pc_stdin(&config, &["accounts", "create", "alice"], "secret-alice\n"),
    );

    let k1 = work.path().join("id_ed25519");
    ssh_keygen_new(&k1, "ed25519", "", "alice@laptop", &[]);
    let k1_pub = work.path().join("id_ed25519.pub");
    let fp1 = keygen_fingerprint(&k1_pub);
    let k2 = work.path().join("id_ecdsa");
    ssh_keygen_new(&k2, "ecdsa", "", "alice@phone", &["-b", "256"]);
    let k2_line = std::fs::read_to_string(work.path().join("id_ecdsa.pub")).unwrap();
    let fp2 = keygen_fingerprint(&work.path().join("id_ecdsa.pub"));

    // From a file.
    let out = ok(
        "accounts add-key alice FILE",
        &pc(
            &config,
            &["accounts", "add-key", "alice", k1_pub.to_str().unwrap()],
        ),
    );
    assert!(
        out.contains(&fp1),
        "add-key did not print the fingerprint: {out}"
    );
    // From stdin.
    let out = ok(
        "accounts add-key alice -",
        &pc_stdin(&config, &["accounts", "add-key", "alice", "-"], &k2_line),
    );
    assert!(out.contains(&fp2), "{out}");

    // The same key again (even with another comment) is refused.
    let k1_line = std::fs::read_to_string(&k1_pub).unwrap();
    let renamed = k1_line.replace("alice@laptop", "alice@elsewhere");
    let line = one_line_error(
        "adding the same key twice",
        &pc_stdin(&config, &["accounts", "add-key", "alice", "-"], &renamed),
    );
    assert!(line.contains(&fp1), "{line}");
    one_line_error(
        "adding the same file twice",
        &pc(
            &config,
            &["accounts", "add-key", "alice", k1_pub.to_str().unwrap()],
        ),
    );

    // Listed with ssh-keygen's fingerprints.
    let list = ok(
        "accounts keys alice",
        &pc(&config, &["accounts", "keys", "alice"]),
    );
    let fps: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.starts_with("SHA256:"))
        .collect();
    assert_eq!(fps, vec![fp1.as_str(), fp2.as_str()], "{list}");
    assert!(
        list.contains("alice@laptop") && list.contains("alice@phone"),
        "{list}"
    );
    assert!(list.lines().any(|l| l.trim() == "2 keys"), "{list}");

    // Junk, a private key, an unknown account: one-line errors, nothing added.
    let line = one_line_error(
        "junk key line",
        &pc_stdin(
            &config,
            &["accounts", "add-key", "alice", "-"],
            "hello world\n",
        ),
    );
    assert!(line.contains("invalid public key"), "{line}");
    let line = one_line_error(
        "private key file",
        &pc(
            &config,
            &["accounts", "add-key", "alice", k1.to_str().unwrap()],
        ),
    );
    assert!(line.to_lowercase().contains("private"), "{line}");
    assert!(
        !line.contains(&std::fs::read_to_string(&k1).unwrap()[40..80]),
        "the error repeats private key material: {line}"
    );
    let line = one_line_error(
        "unknown account",
        &pc(
            &config,
            &["accounts", "add-key", "bob", k1_pub.to_str().unwrap()],
        ),
    );
    assert!(line.contains("bob"), "{line}");
    one_line_error(
        "keys of an unknown account",
        &pc(&config, &["accounts", "keys", "bob"]),
    );
    one_line_error(
        "missing key file",
        &pc(
            &config,
            &[
                "accounts",
                "add-key",
                "alice",
                work.path().join("nope.pub").to_str().unwrap(),
            ],
        ),
    );
    let list = ok(
        "accounts keys alice",
        &pc(&config, &["accounts", "keys", "alice"]),
    );
    assert!(list.lines().any(|l| l.trim() == "2 keys"), "{list}");

    // Removal by fingerprint.
    let out = ok(
        "accounts remove-key",
        &pc(&config, &["accounts", "remove-key", "alice", &fp1]),
    );
    assert!(out.contains(&fp1), "{out}");
    let list = ok(
        "accounts keys alice",
        &pc(&config, &["accounts", "keys", "alice"]),
    );
    assert!(!list.contains(&fp1), "{list}");
    assert!(list.contains(&fp2), "{list}");
    assert!(list.lines().any(|l| l.trim() == "1 key"), "{list}");
    let line = one_line_error(
        "removing it again",
        &pc(&config, &["accounts", "remove-key", "alice", &fp1]),
    );
    assert!(line.contains(&fp1), "{line}");
    one_line_error(
        "remove-key for an unknown account",
        &pc(&config, &["accounts", "remove-key", "bob", &fp2]),
    );
}
