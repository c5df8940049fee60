//! Tests of the account rules and of [`AccountStore`] on real SQLite files in
//! temporary directories. Throttle tests live beside the throttle (`attempts.rs`).

use super::*;
use std::path::PathBuf;

fn temp_store() -> (tempfile::TempDir, PathBuf, AccountStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.db");
    let store = AccountStore::open(&path).unwrap();
    (dir, path, store)
}

fn assert_invalid_name(name: &str, why: &str) {
    match validate_name(name) {
        Err(AccountError::InvalidName(msg)) => {
            assert!(msg.contains(why), "{name:?}: {msg:?} lacks {why:?}")
        }
        other => panic!("{name:?} gave {other:?}"),
    }
}

fn assert_invalid_password(pw: &str, why: &str) {
    match validate_password(pw) {
        Err(AccountError::InvalidPassword(msg)) => {
            assert!(msg.contains(why), "{pw:?}: {msg:?} lacks {why:?}")
        }
        other => panic!("{pw:?} gave {other:?}"),
    }
}

#[test]
fn name_rules() {
    for good in [
        "Bob",
        "alice",
        "a-b_c9",
        "Abcdefghijklmnopqrst",
        "Newt",
        "helper",
    ] {
        assert!(validate_name(good).is_ok(), "{good}");
    }
    assert_invalid_name("", "empty");
    assert_invalid_name("ab", "at least 3");
    assert_invalid_name("Abcdefghijklmnopqrstu", "at most 20");
    assert_invalid_name("9lives", "start with a letter");
    assert_invalid_name("_bob", "start with a letter");
    assert_invalid_name("bob smith", "may contain only");
    assert_invalid_name("bob!", "may contain only");
    assert_invalid_name("Zoë", "may contain only");
    assert_invalid_name("Élodie", "start with a letter");
    assert_invalid_name("QUIT", "reserved");
    assert_invalid_name("New", "reserved");
    assert_invalid_name("who", "reserved");
}

#[test]
fn password_rules() {
    for good in ["secret", "with spaces in it", "пароль-ok", &"x".repeat(256)] {
        assert!(validate_password(good).is_ok(), "{good}");
    }
    assert_invalid_password("", "at least 6");
    assert_invalid_password("five5", "at least 6");
    assert_invalid_password(&"x".repeat(257), "at most 256");
    assert_invalid_password("secret\n", "control");
    assert_invalid_password("sec\tret", "control");
    assert_invalid_password("secret\u{7f}", "control");
}

#[test]
fn error_messages_are_lowercase_and_hide_passwords() {
    let err = validate_password("hunter\u{1}").unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid password: password may not contain control characters"
    );
    assert!(!err.contains("hunter"));
    assert_eq!(
        AccountError::NameTaken("Bob".into()).to_string(),
        "name already taken: Bob"
    );
}

#[test]
fn hashes_are_argon2id_and_verify() {
    let phc = hash_password("correct horse").unwrap();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(verify_password(&phc, "correct horse"));
    assert!(!verify_password(&phc, "correct horsf"));
    assert!(!verify_password("not a hash", "correct horse"));
    assert_ne!(phc, hash_password("correct horse").unwrap(), "salted");
}

#[test]
fn dummy_hash_costs_what_a_real_one_does() {
    let real = hash_password("whatever").unwrap();
    let params = |phc: &str| phc.split('$').nth(3).map(str::to_owned);
    assert!(DUMMY_HASH.starts_with("$argon2id$v=19$"));
    assert_eq!(params(DUMMY_HASH), params(&real));
    // It parses, so verifying against it does the full work.
    assert!(
        argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok(),
        "dummy hash must parse"
    );
}

#[test]
fn create_then_authenticate() {
    let (_dir, _path, store) = temp_store();
    let created = store.create("Alice", "wonderland").unwrap();
    assert_eq!(created.name, "Alice");
    assert_eq!(created.last_login, None);
    assert!(created.created > 1_600_000_000);

    let ok = store.authenticate("Alice", "wonderland").unwrap().unwrap();
    assert_eq!(ok.id, created.id);
    assert!(ok.last_login.is_some());
    assert_eq!(
        store.get(created.id).unwrap().unwrap().last_login,
        ok.last_login
    );

    assert_eq!(store.authenticate("Alice", "wonderlanD").unwrap(), None);
    assert_eq!(store.authenticate("Bob", "wonderland").unwrap(), None);
    assert_eq!(store.authenticate("no such!", "wonderland").unwrap(), None);
    assert_eq!(store.authenticate("Alice", &"x".repeat(300)).unwrap(), None);
}

#[test]
fn names_are_case_insensitive_but_keep_their_case() {
    let (_dir, _path, store) = temp_store();
    let alice = store.create("Alice", "wonderland").unwrap();
    assert!(matches!(
        store.create("alice", "something"),
        Err(AccountError::NameTaken(n)) if n == "alice"
    ));
    let found = store.authenticate("ALICE", "wonderland").unwrap().unwrap();
    assert_eq!(found.id, alice.id);
    assert_eq!(found.name, "Alice");
    assert_eq!(store.find("aLiCe").unwrap().unwrap().name, "Alice");
}

#[test]
fn create_validates() {
    let (_dir, _path, store) = temp_store();
    assert!(matches!(
        store.create("1abc", "password"),
        Err(AccountError::InvalidName(_))
    ));
    assert!(matches!(
        store.create("Connect", "password"),
        Err(AccountError::InvalidName(_))
    ));
    assert!(matches!(
        store.create("Carol", "short"),
        Err(AccountError::InvalidPassword(_))
    ));
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn set_password_replaces_the_old_one() {
    let (_dir, _path, store) = temp_store();
    store.create("Dave", "first-pass").unwrap();
    store.set_password("dave", "second-pass").unwrap();
    assert_eq!(store.authenticate("Dave", "first-pass").unwrap(), None);
    assert!(store.authenticate("Dave", "second-pass").unwrap().is_some());
    assert!(matches!(
        store.set_password("Dave", "tiny"),
        Err(AccountError::InvalidPassword(_))
    ));
    assert!(matches!(
        store.set_password("Nobody", "long enough"),
        Err(AccountError::NotFound(_))
    ));
}

#[test]
fn delete_then_not_found() {
    let (_dir, _path, store) = temp_store();
    let erin = store.create("Erin", "password1").unwrap();
    store.delete("ERIN").unwrap();
    assert!(matches!(store.delete("Erin"), Err(AccountError::NotFound(n)) if n == "Erin"));
    assert_eq!(store.find("Erin").unwrap(), None);
    assert_eq!(store.get(erin.id).unwrap(), None);
    assert_eq!(store.authenticate("Erin", "password1").unwrap(), None);
    // Ids are not reused after a delete.
    let again = store.create("Erin", "password2").unwrap();
    assert!(again.id > erin.id);
}

#[test]
fn list_is_ordered_by_name_case_insensitively() {
    let (_dir, _path, store) = temp_store();
    for name in ["charlie", "Alpha", "bravo", "Delta"] {
        store.create(name, "password").unwrap();
    }
    let names: Vec<String> = store.list().unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["Alpha", "bravo", "charlie", "Delta"]);
}

#[test]
fn open_creates_parent_dirs_and_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("accounts.db");
    let store = AccountStore::open(&path).unwrap();
    store.create("Frank", "password").unwrap();
    assert!(path.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
        let wal = path.with_file_name("accounts.db-wal");
        let mode = std::fs::metadata(&wal).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "wal mode {mode:o}");
    }
    drop(store);
    // Reopening keeps the data and the schema version.
    let store = AccountStore::open(&path).unwrap();
    assert!(store.find("frank").unwrap().is_some());
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn refuses_a_newer_schema() {
    let (_dir, path, store) = temp_store();
    store
        .conn
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(store);
    assert!(matches!(
        AccountStore::open(&path),
        Err(AccountError::UnsupportedSchema { found, .. }) if found == SCHEMA_VERSION + 1
    ));
}

#[test]
fn two_stores_share_one_file() {
    let (_dir, path, server) = temp_store();
    let cli = AccountStore::open(&path).unwrap();
    cli.create("Grace", "hopper-42").unwrap();
    let grace = server.authenticate("grace", "hopper-42").unwrap().unwrap();
    assert_eq!(grace.name, "Grace");
    assert!(matches!(
        server.create("GRACE", "whatever"),
        Err(AccountError::NameTaken(_))
    ));
    cli.set_password("Grace", "new-password").unwrap();
    assert_eq!(server.authenticate("Grace", "hopper-42").unwrap(), None);
    server.delete("Grace").unwrap();
    assert_eq!(cli.find("Grace").unwrap(), None);
}

#[test]
fn store_is_send_and_usable_from_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<AccountStore>();
    let (_dir, _path, store) = temp_store();
    let handle = std::thread::spawn(move || {
        store.create("Heidi", "password").unwrap();
        store
    });
    let store = handle.join().unwrap();
    assert!(store.find("heidi").unwrap().is_some());
}
