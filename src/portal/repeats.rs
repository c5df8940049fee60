//! Log lines for things a peer can make happen as often as it likes (refused connections,
//! commands over the rate, malformed payloads): the first of a kind is logged at once, the
//! rest are counted and logged as one line with the count at most once per [`INTERVAL`].
//!
//! Invariant: whatever a peer sends, one key writes at most one line per interval plus one,
//! and a [`Tally`] keeps at most [`MAX_KEYS`] keys (the rest share one).

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How often repeats of one kind are summed up in the log.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Distinct keys one [`Tally`] counts separately; more (an attacker with many addresses)
/// are counted under the tally's overflow.
pub const MAX_KEYS: usize = 1024;

/// One kind of event on one session: log the first, then one line per interval.
#[derive(Debug, Default)]
pub struct Repeats {
    /// When the last line was written.
    logged: Option<Instant>,
    /// Events since then that were not logged.
    unlogged: u64,
}

impl Repeats {
    /// Records one event; `Some(n)` when the caller should log now, `n` being the events
    /// since the last line that were not logged.
    pub fn note(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.logged {
            Some(t) if now.duration_since(t) < INTERVAL => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.logged = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }

    /// Events not logged yet (for a last line when the session ends).
    pub fn unlogged(&self) -> u64 {
        self.unlogged
    }
}

/// Repeats of one kind across many keys (addresses), summed up by [`Tally::drain`] on a
/// timer.
#[derive(Debug)]
pub struct Tally<K> {
    counts: HashMap<K, u64>,
    /// Events whose key did not fit.
    overflow: u64,
}

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Tally {
            counts: HashMap::new(),
            overflow: 0,
        }
    }
}

impl<K: Hash + Eq + Clone> Tally<K> {
    /// Records one event for `key`; `true` when it is the first for that key since the last
    /// drain (log it now; the rest are summed up).
    pub fn note(&mut self, key: &K) -> bool {
        if let Some(n) = self.counts.get_mut(key) {
            *n += 1;
            return false;
        }
        if self.counts.len() >= MAX_KEYS {
            self.overflow += 1;
            return false;
        }
        self.counts.insert(key.clone(), 0);
        true
    }

    /// The keys with events not yet logged and their counts, and the overflow; forgets them.
    pub fn drain(&mut self) -> (Vec<(K, u64)>, u64) {
        let repeated = self.counts.drain().filter(|(_, n)| *n > 0).collect();
        (repeated, std::mem::take(&mut self.overflow))
    }
}

/// Refusals anywhere in the process (connections over a limit before a session exists,
/// logins over the throttle), by address and kind.
static REFUSALS: LazyLock<Mutex<Tally<(String, &'static str)>>> =
    LazyLock::new(|| Mutex::new(Tally::default()));

/// Records a refusal of kind `what` (a plural phrase for the summing-up line, such as
/// "tls handshakes refused: too many from one address") from `address`: `true` when it is
/// the first of its kind from that address this interval, so the caller logs its own line
/// now; the rest are counted and summed up by [`sum_up_refusals`].
pub fn refused(address: impl Display, what: &'static str) -> bool {
    let key = (address.to_string(), what);
    REFUSALS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .note(&key)
}

/// Writes one line per address and kind for the refusals not logged since the last call.
pub fn sum_up_refusals() {
    let (repeated, overflow) = REFUSALS.lock().unwrap_or_else(|e| e.into_inner()).drain();
    for ((address, what), count) in repeated {
        tracing::warn!(%address, count, "{what} (repeated)");
    }
    if overflow > 0 {
        tracing::warn!(
            count = overflow,
            "refusals from further addresses (repeated)"
        );
    }
}

/// Sums up the refusals every [`INTERVAL`] for as long as the process runs.
pub fn spawn_summaries() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut every = tokio::time::interval(INTERVAL);
        every.tick().await;
        loop {
            every.tick().await;
            sum_up_refusals();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_logged_and_the_rest_counted() {
        let mut r = Repeats::default();
        assert_eq!(r.note(), Some(0));
        for _ in 0..1000 {
            assert_eq!(r.note(), None);
        }
        assert_eq!(r.unlogged(), 1000);
    }

    #[test]
    fn a_tally_logs_each_key_once_and_sums_the_rest() {
        let mut t = Tally::default();
        assert!(t.note(&"a"));
        assert!(!t.note(&"a"));
        assert!(!t.note(&"a"));
        assert!(t.note(&"b"));
        let (mut repeated, overflow) = t.drain();
        repeated.sort();
        assert_eq!(repeated, vec![("a", 2)]);
        assert_eq!(overflow, 0);
        assert!(t.note(&"a"), "a new interval logs again");
    }

    #[test]
    fn a_tally_holds_a_bounded_number_of_keys() {
        let mut t = Tally::default();
        for k in 0..(MAX_KEYS + 50) {
            t.note(&k);
        }
        assert_eq!(t.counts.len(), MAX_KEYS);
        assert_eq!(t.drain().1, 50);
    }
}
