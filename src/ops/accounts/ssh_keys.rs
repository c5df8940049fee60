//! SSH public keys stored per account, for public-key login.
//!
//! A key is stored by its SHA256 fingerprint (as `ssh-keygen -l` prints it) and its canonical
//! OpenSSH form (`type base64`); parsing and validating a key line is the `keys` module's job,
//! so this store only keeps what it is given. One account holds at most [`MAX_KEYS`] keys; a
//! key is unique per account (the same key may belong to two accounts). Keys go with their
//! account when it is deleted.

use super::{AccountError, AccountStore, name_key, unix_now};
use rusqlite::{ErrorCode, OptionalExtension, params};

/// Keys one account may hold.
pub const MAX_KEYS: usize = 32;

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// `SHA256:…`
    pub fingerprint: String,
    /// `type base64`
    pub openssh: String,
    /// The comment given when it was added.
    pub comment: String,
    /// When it was added (Unix seconds).
    pub added: i64,
}

impl AccountStore {
    fn account_id(&self, name: &str) -> Result<i64, AccountError> {
        self.conn
            .query_row(
                "SELECT id FROM accounts WHERE name_key = ?1",
                params![name_key(name)],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| AccountError::NotFound(name.to_owned()))
    }

    /// Adds a key to an account. Errors if the account is unknown, already has this key, or
    /// holds [`MAX_KEYS`] keys.
    pub fn add_key(
        &self,
        name: &str,
        fingerprint: &str,
        openssh: &str,
        comment: &str,
    ) -> Result<(), AccountError> {
        let id = self.account_id(name)?;
        let count: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM account_keys WHERE account_id = ?1",
            params![id],
            |r| r.get(0),
        )?;
        if count >= MAX_KEYS as i64 {
            return Err(AccountError::Key(format!(
                "an account holds at most {MAX_KEYS} keys"
            )));
        }
        match self.conn.execute(
            "INSERT INTO account_keys (account_id, fingerprint, openssh, comment, added) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, fingerprint, openssh, comment, unix_now()],
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => Err(
                AccountError::Key(format!("{name} already has the key {fingerprint}")),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// The keys of an account, oldest first.
    pub fn keys(&self, name: &str) -> Result<Vec<StoredKey>, AccountError> {
        let id = self.account_id(name)?;
        let mut stmt = self.conn.prepare(
            "SELECT fingerprint, openssh, comment, added FROM account_keys \
             WHERE account_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok(StoredKey {
                fingerprint: r.get(0)?,
                openssh: r.get(1)?,
                comment: r.get(2)?,
                added: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Removes a key by fingerprint. Errors if the account does not have it.
    pub fn remove_key(&self, name: &str, fingerprint: &str) -> Result<(), AccountError> {
        let id = self.account_id(name)?;
        let n = self.conn.execute(
            "DELETE FROM account_keys WHERE account_id = ?1 AND fingerprint = ?2",
            params![id, fingerprint],
        )?;
        if n == 0 {
            return Err(AccountError::Key(format!(
                "{name} has no key {fingerprint}"
            )));
        }
        Ok(())
    }

    /// Whether `name` may log in with the key `openssh` (`type base64`).
    pub fn has_key(&self, name: &str, openssh: &str) -> Result<bool, AccountError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT k.id FROM account_keys k JOIN accounts a ON a.id = k.account_id \
                 WHERE a.name_key = ?1 AND k.openssh = ?2",
                params![name_key(name), openssh],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_per_account_and_go_with_it() {
        let d = tempfile::tempdir().unwrap();
        let s = AccountStore::open(&d.path().join("a.db")).unwrap();
        s.create("alice", "secret1").unwrap();
        s.create("bob", "secret2").unwrap();
        s.add_key("Alice", "SHA256:abc", "ssh-ed25519 AAAA1", "laptop")
            .unwrap();
        assert!(matches!(
            s.add_key("alice", "SHA256:abc", "ssh-ed25519 AAAA1", "again"),
            Err(AccountError::Key(_))
        ));
        // The same key may belong to another account.
        s.add_key("bob", "SHA256:abc", "ssh-ed25519 AAAA1", "shared")
            .unwrap();
        assert!(s.has_key("ALICE", "ssh-ed25519 AAAA1").unwrap());
        assert!(!s.has_key("alice", "ssh-ed25519 AAAA2").unwrap());
        assert!(!s.has_key("carol", "ssh-ed25519 AAAA1").unwrap());
        let keys = s.keys("alice").unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].comment, "laptop");
        s.remove_key("alice", "SHA256:abc").unwrap();
        assert!(s.remove_key("alice", "SHA256:abc").is_err());
        s.delete("bob").unwrap();
        assert!(matches!(s.keys("bob"), Err(AccountError::NotFound(_))));
        let n: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM account_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "keys were not deleted with their account");
    }

    #[test]
    fn key_count_is_bounded() {
        let d = tempfile::tempdir().unwrap();
        let s = AccountStore::open(&d.path().join("a.db")).unwrap();
        s.create("alice", "secret1").unwrap();
        for i in 0..MAX_KEYS {
            s.add_key("alice", &format!("SHA256:{i}"), &format!("k {i}"), "")
                .unwrap();
        }
        assert!(s.add_key("alice", "SHA256:x", "k x", "").is_err());
    }
}
