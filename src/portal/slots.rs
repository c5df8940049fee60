//! Per-address counts of things held open (TLS handshakes in progress, HTTP connections), so
//! one address cannot take them all. Each place is a guard that gives itself back on drop,
//! however its task ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// How many places each address holds, up to `max`.
#[derive(Debug)]
pub struct PerAddress {
    counts: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

/// One address's place; given back on drop.
#[derive(Debug)]
pub struct Slot {
    owner: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    /// Counts allowing `max` places per address.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(PerAddress {
            counts: Mutex::new(HashMap::new()),
            max,
        })
    }

    /// The limit per address.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A place for `ip`, or None when it holds `max` already.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            owner: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_address_and_given_back() {
        let slots = PerAddress::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let one = slots.take(a).unwrap();
        let _two = slots.take(a).unwrap();
        assert!(slots.take(a).is_none());
        assert!(slots.take(b).is_some());
        drop(one);
        assert!(slots.take(a).is_some());
        drop(_two);
        assert!(slots.counts.lock().unwrap().is_empty());
    }
}
