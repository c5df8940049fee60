//! Importing keys made elsewhere: `ssh-keygen` keys keep fingerprint and bits, PEM RSA is
//! rewritten in OpenSSH format, encrypted, garbage, public and weak keys are refused, and
//! errors carry no source chain.

use super::*;

#[test]
fn imported_ssh_keygen_keys_keep_fingerprint_and_bits() {
    let src = tempfile::tempdir().expect("tempdir");
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(&tmp.path().join("keys"));
    let cases = [
        ("ed", vec!["-t", "ed25519"], KeyType::Ed25519, 256),
        ("rsa", vec!["-t", "rsa", "-b", "3072"], KeyType::Rsa, 3072),
        ("ec", vec!["-t", "ecdsa", "-b", "384"], KeyType::Ecdsa, 384),
    ];
    for (name, args, key_type, bits) in cases {
        let path = keygen_make(src.path(), name, &args);
        let (kbits, kfp) = keygen_fingerprint(&pub_of(&path));
        let info = keys.import(&path, false).expect("import");
        assert_eq!(info.key_type, key_type);
        assert_eq!(info.bits, bits);
        assert_eq!(info.bits, kbits);
        assert_eq!(info.fingerprint, kfp);
        assert_eq!(info.comment, "test@example");
        assert_eq!(info.path, keys.private_path(key_type));
        assert_openssh_agrees(&info);
    }
    let listed: Vec<(u32, String)> = keys
        .list()
        .expect("list")
        .into_iter()
        .map(|i| (i.bits, i.fingerprint))
        .collect();
    assert_eq!(listed.len(), 3);
    for kt in KeyType::ALL {
        let from_keygen = keygen_fingerprint(&keys.public_path(kt));
        assert!(listed.contains(&from_keygen));
    }
}

#[test]
fn import_of_pem_rsa_key_is_rewritten_in_openssh_format() {
    let src = tempfile::tempdir().expect("tempdir");
    let path = keygen_make(src.path(), "pem", &["-t", "rsa", "-b", "2048", "-m", "PEM"]);
    assert!(
        fs::read_to_string(&path)
            .expect("read")
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    let (_, kfp) = keygen_fingerprint(&pub_of(&path));
    let tmp = tempfile::tempdir().expect("tempdir");
    let info = HostKeys::new(tmp.path())
        .import(&path, false)
        .expect("import");
    assert_eq!(info.fingerprint, kfp);
    assert!(
        fs::read_to_string(&info.path)
            .expect("read")
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
    );
    assert_openssh_agrees(&info);
}

#[test]
fn import_refuses_encrypted_garbage_public_and_weak_keys() {
    let src = tempfile::tempdir().expect("tempdir");
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());

    let enc = keygen_make(src.path(), "enc", &["-t", "ed25519", "-N", "secret"]);
    let err = keys.import(&enc, false).expect_err("encrypted");
    assert!(matches!(err, KeyError::Encrypted(_)), "{err}");
    assert!(err.to_string().contains("passphrase"), "{err}");

    let enc_pem = keygen_make(
        src.path(),
        "encpem",
        &["-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "secret"],
    );
    let err = keys.import(&enc_pem, false).expect_err("encrypted pem");
    assert!(matches!(err, KeyError::Encrypted(_)), "{err}");

    let junk = src.path().join("junk");
    fs::write(&junk, "hello, this is not a key\n").expect("write");
    let err = keys.import(&junk, false).expect_err("garbage");
    assert!(matches!(err, KeyError::Parse { .. }), "{err}");

    let broken = src.path().join("broken");
    fs::write(
        &broken,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .expect("write");
    let err = keys.import(&broken, false).expect_err("broken");
    assert!(matches!(err, KeyError::Parse { .. }), "{err}");

    let binary = src.path().join("binary");
    fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).expect("write");
    let err = keys.import(&binary, false).expect_err("binary");
    assert!(matches!(err, KeyError::Parse { .. }), "{err}");

    let ed = keygen_make(src.path(), "ed", &["-t", "ed25519"]);
    let err = keys.import(&pub_of(&ed), false).expect_err("public key");
    assert!(err.to_string().contains("public key"), "{err}");

    let weak = keygen_make(src.path(), "weak", &["-t", "rsa", "-b", "1024"]);
    let err = keys.import(&weak, false).expect_err("weak rsa");
    assert!(matches!(err, KeyError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("1024"), "{err}");

    let err = keys
        .import(&src.path().join("missing"), false)
        .expect_err("missing");
    assert!(matches!(err, KeyError::Io { .. }), "{err}");

    // Nothing was written by any failed import.
    assert_eq!(fs::read_dir(tmp.path()).expect("read_dir").count(), 0);
}

#[test]
fn errors_have_no_source_chain_and_sha1_rsa_is_not_offered() {
    let err = HostKeys::new(Path::new("/nonexistent/x"))
        .import(Path::new("/nonexistent/key"), false)
        .expect_err("missing");
    assert!(std::error::Error::source(&err).is_none());
    assert!(
        err.to_string()
            .starts_with("cannot open '/nonexistent/key': ")
    );
    assert!(!HOST_KEY_ALGORITHMS.contains(&Algorithm::Rsa { hash: None }));
    assert!(HOST_KEY_ALGORITHMS.contains(&Algorithm::Rsa {
        hash: Some(HashAlg::Sha512)
    }));
}
