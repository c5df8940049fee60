//! Player accounts: name and password rules, argon2id password hashing, and
//! the SQLite-backed [`AccountStore`]; login throttling lives in [`attempts`] (counted in the
//! same database).
//!
//! Invariants kept here:
//! - Every stored name has passed [`validate_name`]; it is kept as the player
//!   typed it at creation, and its ASCII-lower-cased form is kept in a
//!   `UNIQUE` key column, so names are unique case-insensitively.
//! - Every stored password hash is an argon2id PHC string made by
//!   [`hash_password`] from a password that passed [`validate_password`].
//!   Plain passwords are never stored and never logged, at any level.
//! - Account ids come from `AUTOINCREMENT`, so an id is never reused after a
//!   delete and may safely be referred to from elsewhere.
//! - [`AccountStore::authenticate`] does one argon2 verification whether or
//!   not the name exists, so its timing does not tell which names exist.
//! - The database file is in WAL mode with a 5 s busy timeout, so a running
//!   server and the command-line tool may open it at the same time; on unix
//!   it is created with mode 0600 (and a missing parent directory with 0700).

pub mod attempts;
pub mod ssh_keys;

#[cfg(test)]
mod tests;

pub use attempts::{Admission, Limit, LoginThrottle, Ticket};

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};

/// Shortest accepted account name, in characters.
pub const MIN_NAME_LEN: usize = 3;
/// Longest accepted account name, in characters.
pub const MAX_NAME_LEN: usize = 20;
/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_LEN: usize = 6;
/// Longest accepted password, in bytes (UTF-8).
pub const MAX_PASSWORD_BYTES: usize = 256;
/// Names refused whatever their case: they read as commands at a login prompt.
pub const RESERVED_NAMES: &[&str] = &["connect", "create", "quit", "help", "look", "who", "new"];

/// The schema this code reads and writes, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 3;
/// How long a connection waits for another one's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An argon2id hash, with the default parameters [`hash_password`] uses, of a
/// throwaway password. [`AccountStore::authenticate`] verifies against it
/// when the name is unknown, so that an unknown name costs as much time as a
/// wrong password; the result of that check is ignored.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZQkxuF8PLT5aOFt7bvZ/VQ$WgYVWu18xf0ogc8Mjf8yTo302RxdrDi423NiPEYB3Tc";

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    name_key      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created       INTEGER NOT NULL,
    last_login    INTEGER
) STRICT;
";

/// Version 2: SSH public keys per account (see `keys.rs`).
const SCHEMA_V2: &str = "
CREATE TABLE IF NOT EXISTS account_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    fingerprint TEXT    NOT NULL,
    openssh     TEXT    NOT NULL,
    comment     TEXT    NOT NULL,
    added       INTEGER NOT NULL,
    UNIQUE (account_id, fingerprint)
) STRICT;
CREATE INDEX IF NOT EXISTS account_keys_fingerprint ON account_keys (fingerprint);
";

const ACCOUNT_COLUMNS: &str = "id, name, created, last_login";

/// What can go wrong with accounts. Messages are lower-case and never
/// contain a password.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The name breaks a rule; the text says which.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// The password breaks a rule; the text says which.
    #[error("invalid password: {0}")]
    InvalidPassword(String),
    /// An account with this name (in any case) already exists.
    #[error("name already taken: {0}")]
    NameTaken(String),
    /// No account has this name.
    #[error("no such account: {0}")]
    NotFound(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// Creating the database file or its directory failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The database was written by a newer program with a schema we do not know.
    #[error("database schema version {found} is newer than the supported version {supported}")]
    UnsupportedSchema {
        /// The `user_version` found in the file.
        found: i64,
        /// The newest version this code understands.
        supported: i64,
    },
    /// Hashing a password failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// An SSH key could not be added or removed.
    #[error("{0}")]
    Key(String),
}

/// One account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Stable id, never reused.
    pub id: i64,
    /// The name as the player typed it at creation.
    pub name: String,
    /// When the account was created, in seconds since the unix epoch.
    pub created: i64,
    /// When the account last logged in successfully, in seconds since the
    /// unix epoch; `None` if never.
    pub last_login: Option<i64>,
}

impl Account {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            name: row.get(1)?,
            created: row.get(2)?,
            last_login: row.get(3)?,
        })
    }
}

/// Checks an account name: 3 to 20 characters, an ASCII letter first, then
/// ASCII letters, digits, `_` or `-`, and not one of [`RESERVED_NAMES`]
/// (in any case).
pub fn validate_name(name: &str) -> Result<(), AccountError> {
    let invalid = |why: &str| Err(AccountError::InvalidName(why.to_owned()));
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return invalid("name is empty");
    };
    if !first.is_ascii_alphabetic() {
        return invalid("name must start with a letter (a-z)");
    }
    if chars.any(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
        return invalid("name may contain only letters (a-z), digits, '_' and '-'");
    }
    // All characters are ASCII from here on, so bytes and characters agree.
    if name.len() < MIN_NAME_LEN {
        return Err(AccountError::InvalidName(format!(
            "name must be at least {MIN_NAME_LEN} characters"
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(AccountError::InvalidName(format!(
            "name must be at most {MAX_NAME_LEN} characters"
        )));
    }
    if RESERVED_NAMES
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
    {
        return invalid("that name is reserved");
    }
    Ok(())
}

/// Checks a password: at least 6 characters, at most 256 bytes, and no
/// control characters (tabs and line breaks included). Spaces are allowed.
pub fn validate_password(pw: &str) -> Result<(), AccountError> {
    if pw.chars().count() < MIN_PASSWORD_LEN {
        return Err(AccountError::InvalidPassword(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::InvalidPassword(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if pw.chars().any(char::is_control) {
        return Err(AccountError::InvalidPassword(
            "password may not contain control characters".to_owned(),
        ));
    }
    Ok(())
}

/// Hashes a password with argon2id (default parameters, random salt) and
/// returns the PHC string (`$argon2id$v=19$...`). Does not validate it.
pub fn hash_password(pw: &str) -> Result<String, AccountError> {
    Argon2::default()
        .hash_password(pw.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// True when `pw` matches the PHC string `phc`. The comparison is done by
/// argon2 in constant time; a malformed `phc` never matches.
pub fn verify_password(phc: &str, pw: &str) -> bool {
    match Argon2::default().verify_password(pw.as_bytes(), phc) {
        Ok(()) => true,
        Err(argon2::password_hash::Error::PasswordInvalid) => false,
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash could not be checked");
            false
        }
    }
}

/// Seconds since the unix epoch (0 if the clock is before it).
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The unique key a name is stored and looked up under.
fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The accounts database: one SQLite connection to one file.
///
/// It is `Send` but not `Sync`: share it behind a mutex, or open one per
/// thread (several stores, in one process or several, may use one file).
/// Every method blocks (disk, and argon2 for the ones taking a password),
/// so async code should call it from `spawn_blocking`.
#[derive(Debug)]
pub struct AccountStore {
    conn: Connection,
}

impl AccountStore {
    /// Opens the database at `path`, creating the file (mode 0600 on unix),
    /// any missing parent directories (mode 0700 on unix) and the schema if
    /// needed. Refuses a file whose schema is newer than this code.
    pub fn open(path: &Path) -> Result<Self, AccountError> {
        prepare_file(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "accounts database is not in WAL mode");
        }
        conn.pragma_update(None, "foreign_keys", true)?;
        let mut store = Self { conn };
        store.migrate()?;
        tracing::debug!(path = %path.display(), "accounts database opened");
        Ok(store)
    }

    /// Brings the schema up to [`SCHEMA_VERSION`] inside one write
    /// transaction, so two processes opening a new file do not race.
    fn migrate(&mut self) -> Result<(), AccountError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(AccountError::UnsupportedSchema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            tx.execute_batch(SCHEMA_V1)?;
        }
        if version < 2 {
            tx.execute_batch(SCHEMA_V2)?;
        }
        if version < 3 {
            tx.execute_batch(attempts::SCHEMA_V3)?;
        }
        if version != SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Creates an account. Both name and password are validated; the name
    /// must not exist in any case.
    pub fn create(&self, name: &str, password: &str) -> Result<Account, AccountError> {
        validate_name(name)?;
        validate_password(password)?;
        // Cheap early check so a taken name does not cost a hash; the UNIQUE
        // constraint below still decides if another process races us.
        if self.find(name)?.is_some() {
            return Err(AccountError::NameTaken(name.to_owned()));
        }
        let hash = hash_password(password)?;
        let created = unix_now();
        let inserted = self.conn.execute(
            "INSERT INTO accounts (name, name_key, password_hash, created) VALUES (?1, ?2, ?3, ?4)",
            params![name, name_key(name), hash, created],
        );
        match inserted {
            Ok(_) => {}
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                return Err(AccountError::NameTaken(name.to_owned()));
            }
            Err(e) => return Err(e.into()),
        }
        let account = Account {
            id: self.conn.last_insert_rowid(),
            name: name.to_owned(),
            created,
            last_login: None,
        };
        tracing::info!(name, id = account.id, "account created");
        Ok(account)
    }

    /// Checks a name and password. `Ok(None)` when the name is unknown or
    /// the password is wrong (the two take the same time). On success the
    /// account's `last_login` is set to now, and the returned account shows
    /// the new value.
    pub fn authenticate(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<Account>, AccountError> {
        // Names and passwords that could never have been stored skip the
        // lookup, but not the hashing work.
        let row = if validate_name(name).is_ok() && password.len() <= MAX_PASSWORD_BYTES {
            self.conn
                .query_row(
                    &format!(
                        "SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE name_key = ?1"
                    ),
                    params![name_key(name)],
                    |row| Ok((Account::from_row(row)?, row.get::<_, String>(4)?)),
                )
                .optional()?
        } else {
            None
        };
        let Some((mut account, hash)) = row else {
            // Burn the same time as a real check; the result is meaningless.
            let _ = verify_password(DUMMY_HASH, password);
            tracing::debug!(name, "login refused: unknown name");
            return Ok(None);
        };
        if !verify_password(&hash, password) {
            tracing::debug!(name = account.name, "login refused: wrong password");
            return Ok(None);
        }
        let now = unix_now();
        self.conn.execute(
            "UPDATE accounts SET last_login = ?1 WHERE id = ?2",
            params![now, account.id],
        )?;
        account.last_login = Some(now);
        tracing::info!(name = account.name, id = account.id, "login accepted");
        Ok(Some(account))
    }

    /// The account with this name (in any case), if any.
    pub fn find(&self, name: &str) -> Result<Option<Account>, AccountError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name_key = ?1"),
                params![name_key(name)],
                Account::from_row,
            )
            .optional()?)
    }

    /// The account with this id, if any.
    pub fn get(&self, id: i64) -> Result<Option<Account>, AccountError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"),
                params![id],
                Account::from_row,
            )
            .optional()?)
    }

    /// Replaces an account's password after validating the new one.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), AccountError> {
        validate_password(password)?;
        if self.find(name)?.is_none() {
            return Err(AccountError::NotFound(name.to_owned()));
        }
        let hash = hash_password(password)?;
        let changed = self.conn.execute(
            "UPDATE accounts SET password_hash = ?1 WHERE name_key = ?2",
            params![hash, name_key(name)],
        )?;
        if changed == 0 {
            return Err(AccountError::NotFound(name.to_owned()));
        }
        tracing::info!(name, "password changed");
        Ok(())
    }

    /// Deletes an account; `NotFound` if there is none by that name.
    pub fn delete(&self, name: &str) -> Result<(), AccountError> {
        let removed = self.conn.execute(
            "DELETE FROM accounts WHERE name_key = ?1",
            params![name_key(name)],
        )?;
        if removed == 0 {
            return Err(AccountError::NotFound(name.to_owned()));
        }
        tracing::info!(name, "account deleted");
        Ok(())
    }

    /// All accounts, ordered by name (case-insensitively).
    pub fn list(&self) -> Result<Vec<Account>, AccountError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name_key, id"
        ))?;
        let accounts = stmt
            .query_map([], Account::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(accounts)
    }
}

/// Makes sure the parent directory exists and, on unix, that a new database
/// file starts out readable by its owner only. SQLite gives the `-wal` and
/// `-shm` files the same permissions as the database file.
fn prepare_file(path: &Path) -> Result<(), AccountError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "accounts database is readable by other users"
            );
        }
    }
    Ok(())
}
