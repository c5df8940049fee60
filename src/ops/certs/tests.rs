//! Tests for the certificate module against real files in temporary
//! directories, cross-checked with the `openssl` command line tool (which
//! must be installed). TLS tests run a real tokio server on 127.0.0.1 and
//! connect to it with `openssl s_client`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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

// ------------------------------------------------- ensure / generate / show

#[test]
fn ensure_self_signed_creates_a_valid_pair_once() {
    let dir = tmp();
    let paths = paths_in(&dir);
    let hosts = vec!["mud.example.org".to_string(), "192.0.2.7".to_string()];

    assert!(ensure_self_signed(&paths, &hosts, DEFAULT_DAYS).unwrap());
    assert_eq!(mode(&paths.cert), 0o644);
    assert_eq!(mode(&paths.key), 0o600);
    assert_eq!(mode(paths.cert.parent().unwrap()), 0o700);
    // No temporary files left behind.
    assert_eq!(
        std::fs::read_dir(paths.cert.parent().unwrap())
            .unwrap()
            .count(),
        2
    );

    let info = show(&paths).unwrap();
    assert_eq!(info.fingerprint_sha256, openssl_fingerprint(&paths.cert));
    assert_eq!(info.names, ["localhost", "mud.example.org", "192.0.2.7"]);
    assert_eq!(info.key_type, "ECDSA P-256");
    assert!(info.self_signed);
    assert_eq!(info.subject, info.issuer);
    assert!(
        info.subject.contains("CN=mud.example.org"),
        "{}",
        info.subject
    );
    assert!(matches!(info.days_left, 364 | 365), "{}", info.days_left);
    assert!(info.not_after.ends_with(" UTC"), "{}", info.not_after);
    assert_eq!(info.path, paths.cert);

    let text = stdout(&openssl(&[
        "x509",
        "-in",
        s(&paths.cert),
        "-noout",
        "-text",
    ]));
    for san in [
        "DNS:localhost",
        "DNS:mud.example.org",
        "IP Address:192.0.2.7",
    ] {
        assert!(text.contains(san), "{san} missing from\n{text}");
    }
    let key_text = stdout(&openssl(&["pkey", "-in", s(&paths.key), "-noout", "-text"]));
    assert!(key_text.contains("ASN1 OID: prime256v1"), "{key_text}");

    load_server_config(&paths).unwrap();

    // A second call keeps the existing pair.
    assert!(!ensure_self_signed(&paths, &hosts, DEFAULT_DAYS).unwrap());
    assert_eq!(
        show(&paths).unwrap().fingerprint_sha256,
        info.fingerprint_sha256
    );
}

#[test]
fn ensure_self_signed_refuses_half_a_pair() {
    let dir = tmp();
    let paths = plain_paths(&dir, "half");
    std::fs::write(&paths.cert, "x").unwrap();
    let err = ensure_self_signed(&paths, &[], DEFAULT_DAYS).unwrap_err();
    assert!(
        matches!(&err, CertError::Incomplete { present, missing } if *present == paths.cert && *missing == paths.key),
        "{err:?}"
    );
    assert!(!paths.key.exists());

    std::fs::remove_file(&paths.cert).unwrap();
    std::fs::write(&paths.key, "x").unwrap();
    let err = ensure_self_signed(&paths, &[], DEFAULT_DAYS).unwrap_err();
    assert!(matches!(err, CertError::Incomplete { .. }), "{err:?}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert!(!paths.cert.exists());
}

#[test]
fn generate_needs_force_to_replace() {
    let dir = tmp();
    let paths = paths_in(&dir);
    let first = generate(&paths, &[], 30, false).unwrap();
    assert!(matches!(first.days_left, 29 | 30), "{}", first.days_left);
    assert_eq!(first.names, ["localhost"]);
    assert_eq!(first.fingerprint_sha256, openssl_fingerprint(&paths.cert));

    let err = generate(&paths, &[], 30, false).unwrap_err();
    assert!(
        matches!(&err, CertError::Exists(p) if *p == paths.cert),
        "{err:?}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(
        show(&paths).unwrap().fingerprint_sha256,
        first.fingerprint_sha256
    );

    // The key alone existing is enough to refuse.
    std::fs::remove_file(&paths.cert).unwrap();
    let err = generate(&paths, &[], 30, false).unwrap_err();
    assert!(
        matches!(&err, CertError::Exists(p) if *p == paths.key),
        "{err:?}"
    );

    let second = generate(&paths, &["Example.NET".to_string()], 7, true).unwrap();
    assert_ne!(second.fingerprint_sha256, first.fingerprint_sha256);
    assert_eq!(second.fingerprint_sha256, openssl_fingerprint(&paths.cert));
    assert!(matches!(second.days_left, 6 | 7), "{}", second.days_left);
    assert_eq!(second.names, ["localhost", "Example.NET"]);
    assert_eq!(mode(&paths.key), 0o600);
    assert_eq!(mode(&paths.cert), 0o644);
    load_server_config(&paths).unwrap();
}

#[test]
fn generate_rejects_bad_input() {
    let dir = tmp();
    let paths = plain_paths(&dir, "bad");
    for days in [0, MAX_DAYS + 1] {
        let err = generate(&paths, &[], days, false).unwrap_err();
        assert!(matches!(err, CertError::Generate(_)), "{err:?}");
    }
    for host in ["", "two words", "a..b", "-x.org", "é.org"] {
        let err = generate(&paths, &[host.to_string()], 1, false).unwrap_err();
        assert!(matches!(err, CertError::Generate(_)), "{host}: {err:?}");
    }
    let same = CertPaths::new(&paths.cert, &paths.cert);
    let err = generate(&same, &[], 1, true).unwrap_err();
    assert!(matches!(err, CertError::Generate(_)), "{err:?}");
    assert!(!paths.cert.exists() && !paths.key.exists());
    // Duplicates (case-insensitive) collapse; IPv6 becomes an IP SAN.
    let info = generate(
        &paths,
        &["LOCALHOST".into(), "::1".into(), "*.mud.example".into()],
        1,
        false,
    )
    .unwrap();
    assert_eq!(info.names, ["localhost", "::1", "*.mud.example"]);
}

// ------------------------------------------------------------- loading

#[test]
fn loads_openssl_made_pairs() {
    let dir = tmp();
    for (name, newkey, key_type) in [
        ("rsa", RSA, "RSA 2048"),
        ("ec", EC, "ECDSA P-256"),
        ("ed", ED25519, "Ed25519"),
    ] {
        let paths = openssl_pair(&dir, name, newkey, "30");
        load_server_config(&paths).unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = show(&paths).unwrap();
        assert_eq!(info.key_type, key_type);
        assert_eq!(info.subject, "CN=test");
        assert!(info.self_signed);
        assert!(info.names.is_empty());
        assert!(matches!(info.days_left, 29 | 30), "{}", info.days_left);
        assert_eq!(info.fingerprint_sha256, openssl_fingerprint(&paths.cert));
        let report = check(&paths).unwrap();
        assert!(report.is_ok(), "{name}: {:?}", report.problems);
    }
}

#[test]
fn loads_traditional_key_formats_and_chains() {
    let dir = tmp();
    let rsa = openssl_pair(&dir, "rsa", RSA, "30");
    let pkcs1 = dir.path().join("rsa-pkcs1.key");
    openssl(&["rsa", "-in", s(&rsa.key), "-traditional", "-out", s(&pkcs1)]);
    chmod(&pkcs1, 0o600);
    assert!(
        std::fs::read_to_string(&pkcs1)
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    load_server_config(&CertPaths::new(&rsa.cert, &pkcs1)).unwrap();

    let ec = openssl_pair(&dir, "ec", EC, "30");
    let sec1 = dir.path().join("ec-sec1.key");
    openssl(&["ec", "-in", s(&ec.key), "-out", s(&sec1)]);
    chmod(&sec1, 0o600);
    assert!(
        std::fs::read_to_string(&sec1)
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    load_server_config(&CertPaths::new(&ec.cert, &sec1)).unwrap();

    // A "fullchain" file: leaf first, then another certificate.
    let chain = dir.path().join("fullchain.pem");
    let mut text = std::fs::read_to_string(&ec.cert).unwrap();
    text.push_str(&std::fs::read_to_string(&rsa.cert).unwrap());
    std::fs::write(&chain, text).unwrap();
    let paths = CertPaths::new(&chain, &sec1);
    load_server_config(&paths).unwrap();
    assert_eq!(show(&paths).unwrap().key_type, "ECDSA P-256");
}

#[test]
fn rejects_mismatched_key() {
    let dir = tmp();
    let a = openssl_pair(&dir, "a", EC, "30");
    let b = openssl_pair(&dir, "b", EC, "30");
    let c = openssl_pair(&dir, "c", RSA, "30");
    for key in [&b.key, &c.key] {
        let mixed = CertPaths::new(&a.cert, key);
        let err = load_server_config(&mixed).unwrap_err();
        assert!(
            matches!(&err, CertError::KeyMismatch { cert, key: k } if *cert == a.cert && k == key),
            "{err:?}"
        );
        let report = check(&mixed).unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("does not match")),
            "{:?}",
            report.problems
        );
    }
}

#[test]
fn rejects_expired_and_not_yet_valid() {
    let dir = tmp();
    let expired = plain_paths(&dir, "expired");
    write_pair(&expired, &pair_with_window(-10 * 86_400, -3600));
    let err = load_server_config(&expired).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("expired on"), "{err}");
    let info = show(&expired).unwrap();
    assert_eq!(info.days_left, -1);
    let report = check(&expired).unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("expired")),
        "{report:?}"
    );

    let future = plain_paths(&dir, "future");
    write_pair(&future, &pair_with_window(86_400, 10 * 86_400));
    let err = load_server_config(&future).unwrap_err();
    assert!(matches!(err, CertError::NotYetValid { .. }), "{err:?}");
    assert!(
        check(&future)
            .unwrap()
            .problems
            .iter()
            .any(|p| p.contains("not valid before"))
    );
}

#[test]
fn rejects_key_readable_by_others() {
    let dir = tmp();
    let paths = openssl_pair(&dir, "open", EC, "30");
    for bad in [0o644, 0o640, 0o604, 0o620] {
        chmod(&paths.key, bad);
        let err = load_server_config(&paths).unwrap_err();
        assert!(
            matches!(&err, CertError::TooOpen { path, mode } if *path == paths.key && *mode == bad),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains(&format!("chmod 600 {}", paths.key.display())),
            "{err}"
        );
    }
    let report = check(&paths).unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("chmod 600")),
        "{report:?}"
    );
    chmod(&paths.key, 0o400);
    load_server_config(&paths).unwrap();
}

#[test]
fn rejects_unusable_files_clearly() {
    let dir = tmp();
    let good = openssl_pair(&dir, "good", EC, "30");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    chmod(&garbage, 0o600);
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    chmod(&empty, 0o600);
    let bad_base64 = dir.path().join("bad64.pem");
    std::fs::write(
        &bad_base64,
        "-----BEGIN CERTIFICATE-----\n!!!!not base64!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let bad_der = dir.path().join("badder.pem");
    std::fs::write(
        &bad_der,
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let der = dir.path().join("cert.der");
    openssl(&[
        "x509",
        "-in",
        s(&good.cert),
        "-outform",
        "der",
        "-out",
        s(&der),
    ]);
    let missing = dir.path().join("missing.pem");

    let load =
        |cert: &Path, key: &Path| load_server_config(&CertPaths::new(cert, key)).unwrap_err();

    let err = load(&garbage, &good.key);
    assert!(
        matches!(&err, CertError::NoCertificate(p) if *p == garbage),
        "{err:?}"
    );
    assert!(err.to_string().contains("BEGIN CERTIFICATE"), "{err}");
    let err = load(&empty, &good.key);
    assert!(matches!(err, CertError::NoCertificate(_)), "{err:?}");
    let err = load(&bad_base64, &good.key);
    assert!(
        matches!(&err, CertError::Parse { path, .. } if *path == bad_base64),
        "{err:?}"
    );
    let err = load(&bad_der, &good.key);
    assert!(
        matches!(&err, CertError::Parse { why, .. } if why.contains("X.509")),
        "{err:?}"
    );
    let err = load(&der, &good.key);
    assert!(
        err.to_string().contains("openssl x509 -inform der"),
        "{err}"
    );
    let err = load(&missing, &good.key);
    assert!(
        matches!(&err, CertError::Io { op: "read", path, cause } if *path == missing && cause.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("cannot read "), "{err}");

    let err = load(&good.cert, &garbage);
    assert!(
        matches!(&err, CertError::NoKey(p) if *p == garbage),
        "{err:?}"
    );
    let err = load(&good.cert, &empty);
    assert!(matches!(err, CertError::NoKey(_)), "{err:?}");
    // A certificate where the key should be.
    let err = load(&good.cert, &good.cert);
    assert!(
        matches!(err, CertError::TooOpen { .. } | CertError::NoKey(_)),
        "{err:?}"
    );
    let err = load(&good.cert, &missing);
    assert!(matches!(err, CertError::Io { op: "read", .. }), "{err:?}");

    for e in [
        CertError::NoKey(garbage.clone()),
        CertError::NoCertificate(garbage),
    ] {
        let msg = e.to_string();
        assert!(msg.starts_with(char::is_lowercase), "{msg}");
    }

    // show/check fail only when the certificate itself is unusable.
    assert!(show(&CertPaths::new(dir.path().join("garbage.pem"), &good.key)).is_err());
    let report = check(&CertPaths::new(&good.cert, &missing)).unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("missing.pem")),
        "{report:?}"
    );
}

#[test]
fn check_warns_about_soon_expiry_and_self_signed() {
    let dir = tmp();
    let week = openssl_pair(&dir, "week", EC, "7");
    let report = check(&week).unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("expires in 6 days") || w.contains("expires in 7 days")),
        "{report:?}"
    );
    assert!(
        report.warnings.iter().any(|w| w.contains("self-signed")),
        "{report:?}"
    );

    let year = openssl_pair(&dir, "year", EC, "365");
    let report = check(&year).unwrap();
    assert!(report.is_ok());
    assert!(
        !report.warnings.iter().any(|w| w.contains("expires")),
        "{report:?}"
    );
}

// ------------------------------------------------------------------ TLS

/// Kills the child process if a test fails half-way.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TLS server on 127.0.0.1 that greets and then echoes lines.
async fn serve(acceptor: tokio_rustls::TlsAcceptor) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let (read, mut write) = tokio::io::split(tls);
                if write.write_all(b"welcome\r\n").await.is_err() {
                    return;
                }
                let mut lines = tokio::io::BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "quit" {
                        break;
                    }
                    let reply = format!("echo {line}\r\n");
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
                let _ = write.shutdown().await;
            });
        }
    });
    addr
}

/// Connects once with `openssl s_client` plus `extra` flags.
async fn s_client(addr: SocketAddr, extra: &[&str]) -> Output {
    let mut args = vec![
        "s_client".to_string(),
        "-connect".to_string(),
        addr.to_string(),
        "-servername".to_string(),
        "localhost".to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let run = tokio::task::spawn_blocking(move || {
        Command::new("openssl")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    });
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("s_client timed out")
        .unwrap()
}

/// The SHA-256 fingerprint of the certificate the server presents.
async fn served_fingerprint(addr: SocketAddr) -> String {
    let out = s_client(addr, &[]).await;
    let text = stdout(&out);
    let begin = text.find("-----BEGIN CERTIFICATE-----").unwrap_or_else(|| {
        panic!(
            "no certificate in s_client output:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let end_marker = "-----END CERTIFICATE-----";
    let end = text.find(end_marker).unwrap() + end_marker.len();
    let pem = format!("{}\n", &text[begin..end]);
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    fingerprint_after_eq(&stdout(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_the_served_certificate() {
    let dir = tmp();
    let paths = paths_in(&dir);
    let first = generate(&paths, &[], 30, false).unwrap();
    let tls = ReloadableTls::new(paths.clone()).unwrap();
    assert_eq!(tls.current(), first);
    let addr = serve(tls.acceptor()).await;
    assert_eq!(served_fingerprint(addr).await, first.fingerprint_sha256);

    // An established session survives reloads.
    let mut session = KillOnDrop(
        Command::new("openssl")
            .args(["s_client", "-quiet", "-connect", &addr.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut session_in = session.0.stdin.take().unwrap();
    let session_out = session.0.stdout.take().unwrap();
    let mut session_lines = BufReader::new(session_out).lines();
    assert_eq!(session_lines.next().unwrap().unwrap().trim_end(), "welcome");

    // Replace the files, reload: new handshakes get the new certificate,
    // even through the acceptor made before the reload.
    let second = generate(&paths, &["mud.example".to_string()], 30, true).unwrap();
    assert_ne!(second.fingerprint_sha256, first.fingerprint_sha256);
    let reloaded = tls.reload().unwrap();
    assert_eq!(reloaded, second);
    assert_eq!(tls.current().fingerprint_sha256, second.fingerprint_sha256);
    assert_eq!(served_fingerprint(addr).await, second.fingerprint_sha256);

    writeln!(session_in, "still here").unwrap();
    assert_eq!(
        session_lines.next().unwrap().unwrap().trim_end(),
        "echo still here"
    );

    // Garbage on disk: reload fails, the second certificate stays.
    std::fs::write(&paths.cert, "garbage").unwrap();
    std::fs::write(&paths.key, "garbage").unwrap();
    let err = tls.reload().unwrap_err();
    assert!(matches!(err, CertError::NoCertificate(_)), "{err:?}");
    assert_eq!(tls.current().fingerprint_sha256, second.fingerprint_sha256);
    assert_eq!(served_fingerprint(addr).await, second.fingerprint_sha256);

    // A new certificate next to the old key: mismatch, still the second.
    let third = selfsigned::build(&[], 30).unwrap();
    std::fs::write(&paths.cert, &third.cert_pem).unwrap();
    let err = tls.reload().unwrap_err();
    assert!(matches!(err, CertError::NoKey(_)), "{err:?}");
    let other = selfsigned::build(&[], 30).unwrap();
    std::fs::write(&paths.key, &other.key_pem).unwrap();
    let err = tls.reload().unwrap_err();
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
    assert_eq!(served_fingerprint(addr).await, second.fingerprint_sha256);

    writeln!(session_in, "quit").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tls_1_2_and_1_3_are_spoken() {
    let dir = tmp();
    let paths = paths_in(&dir);
    ensure_self_signed(&paths, &[], DEFAULT_DAYS).unwrap();
    let addr = serve(tokio_rustls::TlsAcceptor::from(
        load_server_config(&paths).unwrap(),
    ))
    .await;

    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = s_client(addr, &[flag]).await;
        let text = stdout(&out);
        assert!(
            out.status.success(),
            "{flag}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("New, {version}, Cipher is")),
            "{flag}: {text}"
        );
    }
    // SECLEVEL=0 lets this OpenSSL offer the old versions at all, so the
    // refusal comes from the server.
    for flag in ["-tls1_1", "-tls1"] {
        let out = s_client(addr, &[flag, "-cipher", "DEFAULT@SECLEVEL=0"]).await;
        let text = stdout(&out);
        assert!(!out.status.success(), "{flag} connected: {text}");
        assert!(!text.contains("BEGIN CERTIFICATE"), "{flag}: {text}");
        let err = String::from_utf8_lossy(&out.stderr);
        // The server answers the old ClientHello with an alert (rustls sends
        // handshake_failure), rather than the client giving up by itself.
        assert!(err.contains("alert"), "{flag}: {err}");
    }
}
