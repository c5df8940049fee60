//! [`LoginThrottle`]: login and account-creation attempts, counted in the accounts database
//! so that a reload, a crash or a second server process sees the same counts.
//!
//! Invariants kept here:
//! - An attempt is counted when it **starts** (before its password is hashed), so attempts
//!   that run at the same time cannot all pass the check; a refused attempt is not counted.
//! - A successful login forgets only its own attempt; the address's other failures stay. A
//!   success from one's own account therefore never clears guesses at someone else's.
//! - Per address, past the limit attempts are refused until the oldest counted one leaves the
//!   window. Per account, past the limit attempts are only **delayed** (never refused), so a
//!   stranger guessing at an account cannot lock its owner out.
//! - Times are wall-clock milliseconds since the unix epoch (they must survive restarts).
//! - The table is bounded: [`LoginThrottle::purge`] drops rows older than every window and,
//!   past [`MAX_ATTEMPT_ROWS`], the oldest.

use super::{AccountError, AccountStore};
use rusqlite::{OptionalExtension, params};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Most attempt rows kept; past this the oldest are dropped at the next purge.
pub const MAX_ATTEMPT_ROWS: i64 = 100_000;

/// Version 3: login and creation attempts (see this file).
pub(super) const SCHEMA_V3: &str = "
CREATE TABLE IF NOT EXISTS login_attempts (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT    NOT NULL,
    key   TEXT    NOT NULL,
    at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS login_attempts_key ON login_attempts (scope, key, at_ms);
";

/// What an attempt row counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Login attempts from one address (or IPv6 prefix).
    Address,
    /// Login attempts at one account name.
    Account,
    /// Account creations from one address.
    Creation,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Address => "address",
            Scope::Account => "account",
            Scope::Creation => "creation",
        }
    }
}

/// At most `count` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Events allowed inside the window (0 is taken as 1).
    pub count: usize,
    /// The sliding window.
    pub window: Duration,
}

/// The attempts one login or creation holds; forgotten on success.
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use = "a ticket must be given back with `succeeded` when the attempt succeeds"]
pub struct Ticket {
    rows: Vec<i64>,
}

/// Whether an attempt may go ahead.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead, after `delay` (non-zero when the account has too many recent failures).
    Go {
        /// The attempt, counted.
        ticket: Ticket,
        /// How long to wait before checking the password.
        delay: Duration,
    },
    /// Refused: the address has too many recent attempts; it may try again after `wait`.
    Refused {
        /// Time until one more attempt is allowed.
        wait: Duration,
    },
}

/// The login throttles: per address (refuse), per account (delay), and account creations
/// per address (refuse). See the module docs.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    /// Failed logins per address.
    pub per_address: Limit,
    /// Failed logins per account name.
    pub per_account: Limit,
    /// The wait before checking a password for an account past `per_account`.
    pub account_delay: Duration,
    /// Accounts created per address.
    pub creations: Limit,
}

/// Wall-clock now, in milliseconds since the unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl LoginThrottle {
    /// Starts a login attempt from `address` (a throttle key) at account `name`: refused when
    /// the address has too many recent attempts, else counted against both and told how long
    /// to wait first.
    pub fn begin_login(
        &self,
        store: &AccountStore,
        address: &str,
        name: &str,
    ) -> Result<Admission, AccountError> {
        let now = now_ms();
        if let Some(wait) = store.blocked(Scope::Address, address, self.per_address, now)? {
            return Ok(Admission::Refused { wait });
        }
        let account = name.to_ascii_lowercase();
        let delay = match store.blocked(Scope::Account, &account, self.per_account, now)? {
            Some(_) => self.account_delay,
            None => Duration::ZERO,
        };
        // One transaction for both rows: one disk sync per attempt, not two.
        let tx = store.conn.unchecked_transaction()?;
        let rows = vec![
            store.record_attempt(Scope::Address, address, now)?,
            store.record_attempt(Scope::Account, &account, now)?,
        ];
        tx.commit()?;
        Ok(Admission::Go {
            ticket: Ticket { rows },
            delay,
        })
    }

    /// Counts one failed login from `address` that did not go through [`Self::begin_login`]
    /// (an SSH public key that is not registered).
    pub fn record_failure(&self, store: &AccountStore, address: &str) -> Result<(), AccountError> {
        store.record_attempt(Scope::Address, address, now_ms())?;
        Ok(())
    }

    /// How long `address` must wait before another login attempt, if it is throttled.
    pub fn address_wait(
        &self,
        store: &AccountStore,
        address: &str,
    ) -> Result<Option<Duration>, AccountError> {
        store.blocked(Scope::Address, address, self.per_address, now_ms())
    }

    /// Starts an account creation from `address`: refused past the limit, else counted.
    pub fn begin_creation(
        &self,
        store: &AccountStore,
        address: &str,
    ) -> Result<Admission, AccountError> {
        let now = now_ms();
        if let Some(wait) = store.blocked(Scope::Creation, address, self.creations, now)? {
            return Ok(Admission::Refused { wait });
        }
        let rows = vec![store.record_attempt(Scope::Creation, address, now)?];
        Ok(Admission::Go {
            ticket: Ticket { rows },
            delay: Duration::ZERO,
        })
    }

    /// A login succeeded: forget its own attempt (and nothing else).
    pub fn succeeded(&self, store: &AccountStore, ticket: Ticket) -> Result<(), AccountError> {
        store.forget_attempts(&ticket.rows)
    }

    /// A creation did not make an account (name taken, bad password): it does not count.
    pub fn creation_failed(
        &self,
        store: &AccountStore,
        ticket: Ticket,
    ) -> Result<(), AccountError> {
        store.forget_attempts(&ticket.rows)
    }

    /// Drops attempts older than every window, then the oldest past [`MAX_ATTEMPT_ROWS`].
    pub fn purge(&self, store: &AccountStore) -> Result<(), AccountError> {
        let longest = [self.per_address, self.per_account, self.creations]
            .iter()
            .map(|l| l.window)
            .max()
            .unwrap_or_default();
        store.purge_attempts(now_ms().saturating_sub(millis(longest)))
    }
}

impl AccountStore {
    /// When `limit` attempts of `key` lie in the window ending at `now`: how long until the
    /// oldest of them leaves it.
    fn blocked(
        &self,
        scope: Scope,
        key: &str,
        limit: Limit,
        now: i64,
    ) -> Result<Option<Duration>, AccountError> {
        let window = millis(limit.window);
        let since = now.saturating_sub(window);
        let offset = i64::try_from(limit.count.max(1) - 1).unwrap_or(i64::MAX);
        // The `count`-th newest attempt inside the window, if there are that many.
        let at: Option<i64> = self
            .conn
            .query_row(
                "SELECT at_ms FROM login_attempts WHERE scope = ?1 AND key = ?2 AND at_ms > ?3 \
                 ORDER BY at_ms DESC LIMIT 1 OFFSET ?4",
                params![scope.as_str(), key, since, offset],
                |row| row.get(0),
            )
            .optional()?;
        Ok(at.map(|at| {
            let left = at.saturating_add(window).saturating_sub(now).max(1);
            Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX))
        }))
    }

    fn record_attempt(&self, scope: Scope, key: &str, now: i64) -> Result<i64, AccountError> {
        self.conn.execute(
            "INSERT INTO login_attempts (scope, key, at_ms) VALUES (?1, ?2, ?3)",
            params![scope.as_str(), key, now],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn forget_attempts(&self, rows: &[i64]) -> Result<(), AccountError> {
        for id in rows {
            self.conn
                .execute("DELETE FROM login_attempts WHERE id = ?1", params![id])?;
        }
        Ok(())
    }

    fn purge_attempts(&self, before: i64) -> Result<(), AccountError> {
        self.conn.execute(
            "DELETE FROM login_attempts WHERE at_ms <= ?1",
            params![before],
        )?;
        self.conn.execute(
            "DELETE FROM login_attempts WHERE id <= \
             (SELECT id FROM login_attempts ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            params![MAX_ATTEMPT_ROWS],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        let limit = |count| Limit {
            count,
            window: Duration::from_secs(300),
        };
        LoginThrottle {
            per_address: limit(3),
            per_account: limit(2),
            account_delay: Duration::from_secs(7),
            creations: limit(1),
        }
    }

    fn store() -> (tempfile::TempDir, AccountStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = AccountStore::open(&dir.path().join("a.db")).unwrap();
        (dir, store)
    }

    fn go(a: Admission) -> (Ticket, Duration) {
        match a {
            Admission::Go { ticket, delay } => (ticket, delay),
            Admission::Refused { wait } => panic!("refused for {wait:?}"),
        }
    }

    #[test]
    fn attempts_count_when_they_start_and_success_forgets_only_its_own() {
        let (_dir, s) = store();
        let t = throttle();
        let (_a, _) = go(t.begin_login(&s, "1.2.3.4", "alice").unwrap());
        let (_b, _) = go(t.begin_login(&s, "1.2.3.4", "alice").unwrap());
        let (own, _) = go(t.begin_login(&s, "1.2.3.4", "mallory").unwrap());
        // Three started, none finished: the fourth is refused.
        assert!(matches!(
            t.begin_login(&s, "1.2.3.4", "alice").unwrap(),
            Admission::Refused { .. }
        ));
        // The own-account login succeeds: only its attempt is forgotten.
        t.succeeded(&s, own).unwrap();
        let (_c, _) = go(t.begin_login(&s, "1.2.3.4", "alice").unwrap());
        assert!(matches!(
            t.begin_login(&s, "1.2.3.4", "alice").unwrap(),
            Admission::Refused { .. }
        ));
        assert!(t.address_wait(&s, "5.6.7.8").unwrap().is_none());
    }

    #[test]
    fn past_the_account_limit_attempts_are_delayed_not_refused() {
        let (_dir, s) = store();
        let t = throttle();
        for address in ["a", "b"] {
            let (_t, delay) = go(t.begin_login(&s, address, "Alice").unwrap());
            assert_eq!(delay, Duration::ZERO);
        }
        let (_t, delay) = go(t.begin_login(&s, "c", "alice").unwrap());
        assert_eq!(delay, Duration::from_secs(7));
    }

    #[test]
    fn counts_survive_reopening_and_purge_keeps_recent_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let t = throttle();
        {
            let s = AccountStore::open(&path).unwrap();
            for _ in 0..3 {
                let _ = go(t.begin_login(&s, "k", "x").unwrap());
            }
        }
        let s = AccountStore::open(&path).unwrap();
        t.purge(&s).unwrap();
        let wait = t.address_wait(&s, "k").unwrap().unwrap();
        assert!(wait > Duration::from_secs(290) && wait <= Duration::from_secs(300));
    }
}
