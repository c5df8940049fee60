//! Loading pairs: openssl-made keys of every type and traditional formats and chains load;
//! mismatched, expired, not yet valid, world-readable and unusable files are refused clearly;
//! `check` warns about soon expiry and self-signed certificates.

use super::*;

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
