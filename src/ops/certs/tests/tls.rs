//! TLS with a real tokio server on 127.0.0.1 and `openssl s_client`: a reload swaps the served
//! certificate, and only TLS 1.2 and 1.3 are spoken.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::Child;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

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

/// Asserts that two reads of one certificate agree. `days_left` is counted from the moment of
/// each read and rounded down, so it may be one less in the later read when a second passed
/// between them (CI saw 30 then 29); everything else must be equal.
fn assert_same_cert(later: &CertInfo, earlier: &CertInfo) {
    assert_eq!(
        CertInfo {
            days_left: earlier.days_left,
            ..later.clone()
        },
        *earlier
    );
    assert!(
        (earlier.days_left - 1..=earlier.days_left).contains(&later.days_left),
        "days_left {} then {}",
        earlier.days_left,
        later.days_left
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_the_served_certificate() {
    let dir = tmp();
    let paths = paths_in(&dir);
    let first = generate(&paths, &[], 30, false).unwrap();
    let tls = ReloadableTls::new(paths.clone()).unwrap();
    assert_same_cert(&tls.current(), &first);
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
    assert_same_cert(&reloaded, &second);
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
