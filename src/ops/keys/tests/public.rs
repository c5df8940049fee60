//! Public key lines: known_hosts lines found by `ssh-keygen`, parsing that agrees with
//! `ssh-keygen` and rejects bad input, and control characters in comments.

use super::*;

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
fn tabs_inside_a_public_key_comment_become_spaces() {
    let dir = tempfile::tempdir().unwrap();
    let private = keygen_make(dir.path(), "tabbed", &["-t", "ed25519"]);
    let line = std::fs::read_to_string(private.with_extension("pub")).unwrap();
    let key = key_part(&line);
    let parsed = parse_public_key_line(&format!("{key}\tlaptop\tat home")).unwrap();
    assert_eq!(parsed.comment, "laptop at home");
    assert!(!parsed.comment.chars().any(char::is_control));
}
