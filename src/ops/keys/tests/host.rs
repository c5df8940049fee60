//! Host keys: generating every type (readable by OpenSSH), loading and reloading, file
//! modes, sizes, refusing to overwrite or to load a too-open or misnamed key, removing, and
//! key type names.

use super::*;

#[test]
fn load_or_generate_creates_ed25519_and_reloads_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("state").join("hostkeys");
    let keys = HostKeys::new(&dir);

    let first = keys.load_or_generate().expect("generate");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].algorithm(), Algorithm::Ed25519);
    assert_eq!(mode(&dir), 0o700);
    let private = dir.join("ssh_host_ed25519_key");
    assert_eq!(mode(&private), 0o600);
    assert_eq!(mode(&dir.join("ssh_host_ed25519_key.pub")), 0o644);
    let pem = fs::read_to_string(&private).expect("read");
    assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));

    let second = keys.load_or_generate().expect("load");
    assert_eq!(second.len(), 1);
    assert_eq!(
        fingerprint(first[0].public_key()),
        fingerprint(second[0].public_key())
    );

    let list = keys.list().expect("list");
    assert_eq!(list.len(), 1);
    let info = &list[0];
    assert_eq!(info.key_type, KeyType::Ed25519);
    assert_eq!(info.algorithm, "ssh-ed25519");
    assert_eq!(info.bits, 256);
    assert_eq!(info.path, private);
    assert!(info.comment.starts_with("portcullis"));
    assert_eq!(info.fingerprint, fingerprint(first[0].public_key()));
    assert_openssh_agrees(info);
    // No temp files left behind.
    assert_eq!(fs::read_dir(&dir).expect("read_dir").count(), 2);
}

#[test]
fn existing_directory_mode_is_left_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    chmod(tmp.path(), 0o755);
    HostKeys::new(tmp.path())
        .load_or_generate()
        .expect("generate");
    assert_eq!(mode(tmp.path()), 0o755);
}

#[test]
fn generated_keys_of_every_type_are_readable_by_openssh() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());
    let ed = keys
        .generate(KeyType::Ed25519, None, false)
        .expect("ed25519");
    assert_openssh_agrees(&ed);
    let ec = keys
        .generate(KeyType::Ecdsa, Some(384), false)
        .expect("ecdsa");
    assert_eq!(ec.algorithm, "ecdsa-sha2-nistp384");
    assert_eq!(ec.bits, 384);
    assert_openssh_agrees(&ec);
    let ec521 = keys
        .generate(KeyType::Ecdsa, Some(521), true)
        .expect("ecdsa");
    assert_eq!(ec521.bits, 521);
    assert_openssh_agrees(&ec521);
    let rsa = keys.generate(KeyType::Rsa, Some(2048), false).expect("rsa");
    assert_eq!(rsa.algorithm, "ssh-rsa");
    assert_eq!(rsa.bits, 2048);
    assert_openssh_agrees(&rsa);

    let list = keys.list().expect("list");
    let types: Vec<KeyType> = list.iter().map(|i| i.key_type).collect();
    assert_eq!(types, [KeyType::Ed25519, KeyType::Rsa, KeyType::Ecdsa]);
    let loaded = keys.load_or_generate().expect("load");
    assert_eq!(loaded.len(), 3);
    for (key, info) in loaded.iter().zip(&list) {
        assert_eq!(fingerprint(key.public_key()), info.fingerprint);
    }
}

#[test]
fn generate_validates_sizes_before_writing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());
    for (t, bits) in [
        (KeyType::Ed25519, 512),
        (KeyType::Rsa, 1024),
        (KeyType::Rsa, 16384),
        (KeyType::Ecdsa, 512),
    ] {
        let err = keys.generate(t, Some(bits), false).expect_err("bad size");
        assert!(matches!(err, KeyError::Unsupported(_)), "{err}");
    }
    assert!(keys.generate(KeyType::Ed25519, Some(256), false).is_ok());
    assert_eq!(fs::read_dir(tmp.path()).expect("read_dir").count(), 2);
}

#[test]
fn too_open_private_key_is_refused_like_sshd() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());
    let info = keys.generate(KeyType::Ed25519, None, false).expect("gen");
    for bad in [0o644, 0o640, 0o604, 0o660] {
        chmod(&info.path, bad);
        let err = keys.load_or_generate().expect_err("too open");
        assert!(
            matches!(err, KeyError::TooOpen { mode, .. } if mode == bad),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("chmod 600"), "{msg}");
        assert!(msg.contains(&format!("{bad:04o}")), "{msg}");
        assert!(msg.contains(&info.path.display().to_string()), "{msg}");
        assert!(keys.list().is_err());
    }
    chmod(&info.path, 0o400);
    assert_eq!(keys.load_or_generate().expect("0400 is fine").len(), 1);
}

#[test]
fn generate_refuses_overwrite_unless_forced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());
    let first = keys.generate(KeyType::Ed25519, None, false).expect("gen");
    let err = keys
        .generate(KeyType::Ed25519, None, false)
        .expect_err("exists");
    assert!(matches!(err, KeyError::Exists(_)), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(keys.list().expect("list")[0].fingerprint, first.fingerprint);

    // A lone .pub also blocks generation.
    fs::remove_file(&first.path).expect("rm");
    let err = keys
        .generate(KeyType::Ed25519, None, false)
        .expect_err("pub exists");
    assert!(matches!(err, KeyError::Exists(_)), "{err}");

    let second = keys.generate(KeyType::Ed25519, None, true).expect("force");
    assert_ne!(second.fingerprint, first.fingerprint);
    assert_eq!(
        keys.list().expect("list")[0].fingerprint,
        second.fingerprint
    );
    assert_openssh_agrees(&second);

    // Import over an existing key needs force too.
    let src = tempfile::tempdir().expect("tempdir");
    let other = keygen_make(src.path(), "ed", &["-t", "ed25519"]);
    let err = keys.import(&other, false).expect_err("exists");
    assert!(matches!(err, KeyError::Exists(_)), "{err}");
    let imported = keys.import(&other, true).expect("forced import");
    assert_eq!(imported.fingerprint, keygen_fingerprint(&pub_of(&other)).1);
}

#[test]
fn remove_deletes_both_files_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());
    let info = keys.generate(KeyType::Ecdsa, None, false).expect("gen");
    let removed = keys.remove(KeyType::Ecdsa).expect("remove");
    assert_eq!(removed, info.path);
    assert!(!info.path.exists());
    assert!(!pub_of(&info.path).exists());
    let err = keys.remove(KeyType::Ecdsa).expect_err("absent");
    assert!(matches!(err, KeyError::NotFound { .. }), "{err}");
    assert!(keys.list().expect("list").is_empty());
}

#[test]
fn key_named_for_another_type_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());
    let info = keys.generate(KeyType::Ed25519, None, false).expect("gen");
    fs::rename(&info.path, keys.private_path(KeyType::Rsa)).expect("rename");
    let err = keys.load_or_generate().expect_err("mismatch");
    assert!(matches!(err, KeyError::Parse { .. }), "{err}");
}

#[test]
fn missing_pub_file_does_not_stop_loading() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());
    let info = keys.generate(KeyType::Ed25519, None, false).expect("gen");
    fs::remove_file(pub_of(&info.path)).expect("rm");
    let loaded = keys.load_or_generate().expect("load");
    assert_eq!(fingerprint(loaded[0].public_key()), info.fingerprint);
}

#[test]
fn key_type_parses_and_names_files() {
    assert_eq!("ed25519".parse::<KeyType>().expect("ed"), KeyType::Ed25519);
    assert_eq!("RSA".parse::<KeyType>().expect("rsa"), KeyType::Rsa);
    assert_eq!(" ecdsa ".parse::<KeyType>().expect("ec"), KeyType::Ecdsa);
    assert!(matches!(
        "dsa".parse::<KeyType>(),
        Err(KeyError::Unsupported(_))
    ));
    assert_eq!(KeyType::Rsa.file_name(), "ssh_host_rsa_key");
    assert_eq!(KeyType::Ecdsa.pub_file_name(), "ssh_host_ecdsa_key.pub");
    assert_eq!(KeyType::Ed25519.to_string(), "ed25519");
}

#[test]
fn rsa_defaults_to_3072_bits() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());
    let rsa = keys.generate(KeyType::Rsa, None, false).expect("rsa");
    assert_eq!(rsa.bits, DEFAULT_RSA_BITS);
    assert_openssh_agrees(&rsa);
}
