//! [`Throttle`]: a sliding-window count of events per key, such as failed
//! logins per IP address or per account name.
//!
//! Invariants kept here:
//! - Memory is bounded: at most `max_keys` keys, each holding at most `limit`
//!   timestamps. When a new key would exceed `max_keys`, keys whose events
//!   have all left the window go first, then the key with the oldest latest
//!   event.
//! - A key's timestamps are in non-decreasing order; a `now` earlier than the
//!   key's latest event is treated as that latest event.
//! - `order` holds exactly one `(latest event, sequence)` entry per key, so
//!   finding the key to evict is a `BTreeMap` lookup, not a scan.
//! - Time is only what the caller passes as `now`; nothing reads the clock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Events of one key, oldest first, and its place in the eviction order.
#[derive(Debug)]
struct Entry {
    events: VecDeque<Instant>,
    stamp: (Instant, u64),
}

/// Sliding-window counter of events per key (e.g. failed logins per IP
/// address). A key is blocked while `limit` of its events lie inside the
/// last `window`. Bounded memory: at most `max_keys` keys (oldest evicted),
/// at most `limit` timestamps per key.
#[derive(Debug)]
pub struct Throttle<K> {
    limit: usize,
    window: Duration,
    max_keys: usize,
    entries: HashMap<K, Entry>,
    /// Keys by (latest event, insertion sequence): first is evicted first.
    order: BTreeMap<(Instant, u64), K>,
    next_seq: u64,
}

impl<K: Eq + Hash + Clone> Throttle<K> {
    /// A throttle allowing `limit` events per `window` for each key, and
    /// remembering at most `max_keys` keys. A `limit` or `max_keys` of 0 is
    /// taken as 1.
    #[must_use]
    pub fn new(limit: usize, window: Duration, max_keys: usize) -> Self {
        Self {
            limit: limit.max(1),
            window,
            max_keys: max_keys.max(1),
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// True when `limit` events of `key` are already inside the window
    /// ending at `now`, so one more must not be allowed yet.
    pub fn is_blocked(&mut self, key: &K, now: Instant) -> bool {
        self.prune_key(key, now) >= self.limit
    }

    /// Records one event of `key` at `now`.
    pub fn record(&mut self, key: K, now: Instant) {
        self.prune_key(&key, now);
        if !self.entries.contains_key(&key) {
            self.make_room(now);
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let limit = self.limit;
        let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
            events: VecDeque::new(),
            stamp: (now, seq),
        });
        let at = entry.events.back().map_or(now, |&last| last.max(now));
        entry.events.push_back(at);
        while entry.events.len() > limit {
            entry.events.pop_front();
        }
        self.order.remove(&entry.stamp);
        entry.stamp = (at, seq);
        self.order.insert(entry.stamp, key);
    }

    /// How long from `now` until `key` may have one more event; `None` when
    /// it is not blocked.
    pub fn retry_after(&mut self, key: &K, now: Instant) -> Option<Duration> {
        if self.prune_key(key, now) < self.limit {
            return None;
        }
        let entry = self.entries.get(key)?;
        // The event that must leave the window before another is allowed.
        let index = entry.events.len().saturating_sub(self.limit);
        let oldest = *entry.events.get(index)?;
        // `window - elapsed` rather than `oldest + window - now`: an
        // `Instant` sum could overflow for a huge window.
        Some(
            self.window
                .saturating_sub(now.saturating_duration_since(oldest)),
        )
    }

    /// Forgets every event of `key` (e.g. after a successful login).
    pub fn clear(&mut self, key: &K) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&entry.stamp);
        }
    }

    /// Forgets every key whose events have all left the window at `now`.
    pub fn purge_expired(&mut self, now: Instant) {
        while let Some((&(latest, _), _)) = self.order.first_key_value() {
            if self.inside_window(latest, now) {
                break;
            }
            if let Some((_, key)) = self.order.pop_first() {
                self.entries.remove(&key);
            }
        }
    }

    /// How many keys are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn inside_window(&self, event: Instant, now: Instant) -> bool {
        now.saturating_duration_since(event) < self.window
    }

    /// Drops the events of `key` that left the window (and the key itself if
    /// none remain); returns how many remain.
    fn prune_key(&mut self, key: &K, now: Instant) -> usize {
        let window = self.window;
        let Some(entry) = self.entries.get_mut(key) else {
            return 0;
        };
        while let Some(&first) = entry.events.front() {
            if now.saturating_duration_since(first) < window {
                break;
            }
            entry.events.pop_front();
        }
        let remaining = entry.events.len();
        if remaining == 0 {
            self.clear(key);
        }
        remaining
    }

    /// Frees a slot for one new key: expired keys first, then the key whose
    /// latest event is oldest.
    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.max_keys {
            return;
        }
        self.purge_expired(now);
        while self.entries.len() >= self.max_keys {
            let Some((_, key)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(300);

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn blocks_the_sixth_and_unblocks_after_the_window() {
        let start = Instant::now();
        let mut t = Throttle::new(5, WINDOW, 100);
        for i in 0..5 {
            assert!(!t.is_blocked(&"1.2.3.4", at(start, i)), "event {i}");
            t.record("1.2.3.4", at(start, i));
        }
        assert!(t.is_blocked(&"1.2.3.4", at(start, 10)));
        assert!(
            !t.is_blocked(&"5.6.7.8", at(start, 10)),
            "other keys unaffected"
        );
        // The first event (t=0) leaves the window at t=300.
        assert!(t.is_blocked(&"1.2.3.4", at(start, 299)));
        assert!(!t.is_blocked(&"1.2.3.4", at(start, 300)));
        // Long after, everything has gone, and the key is forgotten.
        assert!(!t.is_blocked(&"1.2.3.4", at(start, 10_000)));
        assert!(t.is_empty());
    }

    #[test]
    fn sliding_window_counts_only_recent_events() {
        let start = Instant::now();
        let mut t = Throttle::new(3, Duration::from_secs(10), 10);
        t.record(1, at(start, 0));
        t.record(1, at(start, 5));
        t.record(1, at(start, 9));
        assert!(t.is_blocked(&1, at(start, 9)));
        assert!(!t.is_blocked(&1, at(start, 10)), "t=0 left the window");
        t.record(1, at(start, 11));
        assert!(t.is_blocked(&1, at(start, 11)));
        assert!(!t.is_blocked(&1, at(start, 15)), "t=5 left the window");
    }

    #[test]
    fn retry_after_is_time_until_oldest_counted_event_expires() {
        let start = Instant::now();
        let mut t = Throttle::new(5, WINDOW, 100);
        assert_eq!(t.retry_after(&"k", start), None);
        for i in 0..5 {
            t.record("k", at(start, i * 10));
        }
        assert_eq!(
            t.retry_after(&"k", at(start, 40)),
            Some(Duration::from_secs(260))
        );
        assert_eq!(
            t.retry_after(&"k", at(start, 299)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(t.retry_after(&"k", at(start, 300)), None);
        // Recording past the limit keeps only the newest `limit` events.
        for i in 0..20 {
            t.record("k", at(start, 400 + i));
        }
        assert_eq!(
            t.retry_after(&"k", at(start, 420)),
            Some(Duration::from_secs(295))
        );
        assert!(t.entries.get("k").is_some_and(|e| e.events.len() == 5));
    }

    #[test]
    fn max_keys_bounds_memory_and_evicts_the_oldest() {
        let start = Instant::now();
        let mut t = Throttle::new(5, WINDOW, 3);
        t.record("a", at(start, 0));
        t.record("b", at(start, 1));
        t.record("c", at(start, 2));
        t.record("a", at(start, 3)); // "a" is now the freshest
        t.record("d", at(start, 4)); // evicts "b", the oldest latest event
        assert_eq!(t.len(), 3);
        assert!(t.entries.contains_key("a"));
        assert!(!t.entries.contains_key("b"));
        let mut many = Throttle::new(5, WINDOW, 3);
        for i in 0..1000_u64 {
            many.record(i, at(start, i));
        }
        assert_eq!(many.len(), 3);
        assert_eq!(many.order.len(), 3);
        assert!(many.entries.contains_key(&999) && !many.entries.contains_key(&996));
    }

    #[test]
    fn expired_keys_are_evicted_before_live_ones() {
        let start = Instant::now();
        let mut t = Throttle::new(2, Duration::from_secs(10), 2);
        t.record("old", at(start, 0));
        t.record("live", at(start, 15));
        t.record("live", at(start, 15));
        t.record("new", at(start, 20)); // "old" expired at 10, so it goes
        assert!(t.is_blocked(&"live", at(start, 20)));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn clear_and_purge_forget_keys() {
        let start = Instant::now();
        let mut t = Throttle::new(1, Duration::from_secs(10), 10);
        t.record("x", start);
        t.record("y", at(start, 5));
        assert!(t.is_blocked(&"x", start));
        t.clear(&"x");
        assert!(!t.is_blocked(&"x", start));
        t.purge_expired(at(start, 15));
        assert!(t.is_empty());
        assert!(t.order.is_empty());
    }

    #[test]
    fn time_going_backwards_is_clamped() {
        let start = Instant::now();
        let mut t = Throttle::new(2, Duration::from_secs(10), 10);
        t.record("k", at(start, 5));
        t.record("k", at(start, 1));
        assert!(t.is_blocked(&"k", at(start, 5)));
        assert!(!t.is_blocked(&"k", at(start, 15)));
    }

    #[test]
    fn huge_window_does_not_overflow() {
        let start = Instant::now();
        let mut t = Throttle::new(1, Duration::MAX, 10);
        t.record("k", start);
        assert_eq!(
            t.retry_after(&"k", at(start, 1)),
            Some(Duration::MAX - Duration::from_secs(1))
        );
        t.purge_expired(at(start, 1));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn zero_limit_and_keys_are_taken_as_one() {
        let start = Instant::now();
        let mut t = Throttle::new(0, Duration::from_secs(10), 0);
        assert!(!t.is_blocked(&"k", start));
        t.record("k", start);
        assert!(t.is_blocked(&"k", start));
        t.record("j", start);
        assert_eq!(t.len(), 1);
    }
}
