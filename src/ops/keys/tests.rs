//! Tests for the keys module, on real files in temp directories, checked
//! against the real OpenSSH `ssh-keygen` (which must be on PATH).

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
fn known_hosts_lines_are_found_by_ssh_keygen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(&tmp.path().join("k"));
    let ed = keys.generate(KeyType::Ed25519, None, false).expect("gen");
    let ec = keys.generate(KeyType::Ecdsa, None, false).expect("gen");
    let ed_pub = key_part(&fs::read_to_string(pub_of(&ed.path)).expect("read"));

    let lines = keys.known_hosts_lines("127.0.0.1", 4004).expect("lines");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], format!("[127.0.0.1]:4004 {ed_pub}"));
    assert!(lines[1].starts_with("[127.0.0.1]:4004 ecdsa-sha2-nistp256 AAAA"));
    let lines22 = keys.known_hosts_lines("127.0.0.1", 22).expect("lines");
    assert_eq!(lines22[0], format!("127.0.0.1 {ed_pub}"));
    assert!(lines22[0].starts_with("127.0.0.1 ssh-ed25519 AAAA"));

    let file = tmp.path().join("known_hosts");
    fs::write(&file, lines.join("\n") + "\n").expect("write");
    let f = file.to_str().expect("utf-8");
    let found = keygen_ok(&["-F", "[127.0.0.1]:4004", "-f", f]);
    assert!(found.contains(&ed_pub), "{found}");
    assert!(found.contains("ecdsa-sha2-nistp256"), "{found}");
    // The port matters: plain 127.0.0.1 is not in the file.
    assert!(!run_keygen(&["-F", "127.0.0.1", "-f", f]).status.success());
    // ssh-keygen's fingerprints of the lines match ours.
    let listing = keygen_ok(&["-l", "-f", f]);
    assert!(listing.contains(&ed.fingerprint), "{listing}");
    assert!(listing.contains(&ec.fingerprint), "{listing}");

    let v6 = keys.known_hosts_lines("[::1]", 4004).expect("v6");
    assert!(v6[0].starts_with("[::1]:4004 ssh-ed25519 "));
    assert!(keys.known_hosts_lines("::1", 22).expect("v6")[0].starts_with("::1 ssh-ed25519"));
    for bad in ["", "a b", "host,other", "*", "x\ny", "#"] {
        let err = keys.known_hosts_lines(bad, 22).expect_err("bad host");
        assert!(matches!(err, KeyError::Host(_)), "{bad:?}: {err}");
    }
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
fn parse_public_key_line_matches_ssh_keygen() {
    let src = tempfile::tempdir().expect("tempdir");
    for (name, args) in [
        ("ed", vec!["-t", "ed25519"]),
        ("ec", vec!["-t", "ecdsa", "-b", "521"]),
        ("rsa", vec!["-t", "rsa", "-b", "2048"]),
    ] {
        let path = keygen_make(src.path(), name, &args);
        let line = fs::read_to_string(pub_of(&path)).expect("read");
        let parsed = parse_public_key_line(&line).expect("parse");
        let (bits, fp) = keygen_fingerprint(&pub_of(&path));
        assert_eq!(parsed.fingerprint, fp);
        assert_eq!(parsed.bits, bits);
        assert_eq!(parsed.openssh, key_part(&line));
        assert_eq!(parsed.comment, "test@example");
        assert_eq!(
            parsed.algorithm,
            key_part(&line).split(' ').next().unwrap_or("")
        );
        assert!(parsed.matches(&parsed.key));
        // Tabs, extra spaces and a comment with spaces are fine.
        let (t, b) = key_part(&line)
            .split_once(' ')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .expect("two words");
        let messy =
            parse_public_key_line(&format!("  {t}\t {b}   my laptop key \r\n")).expect("messy");
        assert_eq!(messy.fingerprint, fp);
        assert_eq!(messy.comment, "my laptop key");
        assert!(
            parse_public_key_line(&format!("{t} {b}"))
                .expect("no comment")
                .comment
                .is_empty()
        );
    }
}

#[test]
fn parse_public_key_line_rejects_bad_input() {
    let src = tempfile::tempdir().expect("tempdir");
    let ed = keygen_make(src.path(), "ed", &["-t", "ed25519"]);
    let line = fs::read_to_string(pub_of(&ed)).expect("read");
    let line = line.trim();
    let private = fs::read_to_string(&ed).expect("read");
    let weak = keygen_make(src.path(), "weak", &["-t", "rsa", "-b", "1024"]);
    let weak_line = fs::read_to_string(pub_of(&weak)).expect("read");
    let (t, b) = line.split_once(' ').expect("two words");
    let b = b.split(' ').next().expect("base64");

    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("   \n".into(), "empty"),
        ("hello world".into(), "key type"),
        (private.clone(), "PRIVATE"),
        (private.lines().next().unwrap_or("").into(), "PRIVATE"),
        ("a".repeat(MAX_PUBLIC_KEY_LINE + 1), "longer"),
        (
            format!("{t} {} x", "A".repeat(MAX_PUBLIC_KEY_LINE)),
            "longer",
        ),
        (format!("from=\"10.0.0.1\" {line}"), "options"),
        (format!("command=\"echo hi\",no-pty {line}"), "options"),
        (format!("no-pty {line}"), "options"),
        (format!("restrict {line}"), "options"),
        (format!("{line}\n{line}"), "several lines"),
        (t.to_string(), "missing"),
        (format!("{t} AAAA"), "decode"),
        (format!("{t} {}", &b[..b.len() - 4]), "decode"),
        (format!("ssh-rsa {b}"), "decode"),
        (format!("{t} {b}x"), "decode"),
        (
            format!("ssh-ed25519-cert-v01@openssh.com {b}"),
            "certificates",
        ),
        (format!("ssh-dss {b}"), "DSA"),
        (format!("{t} {b} bell\u{7}"), "control"),
        (weak_line.clone(), "1024 bits"),
    ];
    for (input, needle) in cases {
        let err = parse_public_key_line(&input).expect_err("must be rejected");
        assert!(matches!(err, KeyError::PublicKey(_)), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(needle),
            "for {:?}: expected {needle:?} in {msg:?}",
            input.chars().take(60).collect::<String>()
        );
    }
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

#[test]
fn rsa_defaults_to_3072_bits() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = HostKeys::new(tmp.path());
    let rsa = keys.generate(KeyType::Rsa, None, false).expect("rsa");
    assert_eq!(rsa.bits, DEFAULT_RSA_BITS);
    assert_openssh_agrees(&rsa);
}

#[test]
fn tabs_inside_a_public_key_comment_become_spaces() {
    let dir = tempfile::tempdir().unwrap();
    let private = keygen_make(dir.path(), "tabbed", &["-t", "ed25519"]);
    let line = std::fs::read_to_string(private.with_extension("pub")).unwrap();
    let key = key_part(&line);
    let parsed = parse_public_key_line(&format!("{key}\tlaptop\tat home")).unwrap();
    assert_eq!(parsed.comment, "laptop at home");
    assert!(!parsed.comment.chars().any(char::is_control));
}
