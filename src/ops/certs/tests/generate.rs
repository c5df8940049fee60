//! Making pairs: `ensure_self_signed` creates a valid pair once and refuses half a pair;
//! `generate` needs `force` to replace and rejects bad input.

use super::*;

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
