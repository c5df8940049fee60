//! The portal's one way to bound a count of things held open: [`Slots`], a number of places
//! in all and per key (an address, or `()` when there is only the total), each taken as a
//! [`Slot`] guard that gives itself back on drop however its holder ends.
//!
//! Used for sessions (in all and per address, in the core), TLS handshakes in progress and
//! HTTP connections (per listener), and MCCP2 compressors (across the portal). Invariant: the
//! counts equal the live guards; a key whose count falls to 0 is forgotten, so the map never
//! holds more keys than there are guards.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Places in all and per key.
#[derive(Debug)]
pub struct Slots<K: Eq + Hash + Clone = IpAddr> {
    state: Mutex<Counts<K>>,
    max_total: usize,
    max_per_key: usize,
}

#[derive(Debug)]
struct Counts<K> {
    per_key: HashMap<K, usize>,
    total: usize,
}

/// Why no place was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every place is taken.
    Total,
    /// This key holds its share.
    PerKey,
}

/// One held place; given back on drop.
#[derive(Debug)]
pub struct Slot<K: Eq + Hash + Clone = IpAddr> {
    owner: Arc<Slots<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Slots<K> {
    /// `max_total` places in all, at most `max_per_key` of them for any one key.
    pub fn new(max_total: usize, max_per_key: usize) -> Arc<Self> {
        Arc::new(Slots {
            state: Mutex::new(Counts {
                per_key: HashMap::new(),
                total: 0,
            }),
            max_total,
            max_per_key,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts<K>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The limit in all.
    pub fn max_total(&self) -> usize {
        self.max_total
    }

    /// Places held now, in all.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        self.lock().total
    }

    /// A place for `key`, or which limit is reached.
    pub fn take(self: &Arc<Self>, key: K) -> Result<Slot<K>, Full> {
        self.take_limited(key, true)
    }

    /// A place for `key` bounded by the total only (a trusted proxy, which speaks for many).
    pub fn take_unlimited_key(self: &Arc<Self>, key: K) -> Result<Slot<K>, Full> {
        self.take_limited(key, false)
    }

    fn take_limited(self: &Arc<Self>, key: K, per_key: bool) -> Result<Slot<K>, Full> {
        let mut c = self.lock();
        if c.total >= self.max_total {
            return Err(Full::Total);
        }
        let n = c.per_key.entry(key.clone()).or_insert(0);
        if per_key && *n >= self.max_per_key {
            return Err(Full::PerKey);
        }
        *n += 1;
        c.total += 1;
        Ok(Slot {
            owner: self.clone(),
            key,
        })
    }
}

impl Slots<()> {
    /// Places with only a total.
    pub fn total(max: usize) -> Arc<Self> {
        Slots::new(max, max)
    }
}

impl<K: Eq + Hash + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut c = self.owner.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_key.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_key_and_in_all_and_given_back() {
        let slots = Slots::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let one = slots.take(a).unwrap();
        let two = slots.take(a).unwrap();
        assert_eq!(slots.take(a).unwrap_err(), Full::PerKey);
        let three = slots.take(b).unwrap();
        assert_eq!(slots.take(b).unwrap_err(), Full::Total);
        assert_eq!(slots.in_use(), 3);
        drop(one);
        assert!(slots.take(a).is_ok());
        drop((two, three));
        let proxy = Slots::new(3, 1);
        let _p: Vec<_> = (0..3)
            .map(|_| proxy.take_unlimited_key(a).unwrap())
            .collect();
        assert_eq!(proxy.take_unlimited_key(a).unwrap_err(), Full::Total);
        assert_eq!(slots.in_use(), 0);
        assert!(slots.lock().per_key.is_empty());
    }

    #[test]
    fn a_total_only_budget() {
        let slots = Slots::total(1);
        let held = slots.take(()).unwrap();
        assert_eq!(slots.take(()).unwrap_err(), Full::Total);
        drop(held);
        assert!(slots.take(()).is_ok());
    }
}
