//! Input work per session: how much a client may make the portal handle each second.
//!
//! A client controls how much work each of its bytes causes: one compressed byte (MCCP3) can
//! inflate to a thousand, and one byte of plain input (`\n`) is a whole line, a core event and
//! perhaps a log line. The meter counts both what reached the protocol engine (bytes, after
//! inflation) and what came out of it (lines, out-of-band payloads, option events), each
//! against a per-second allowance. A session that has used its allowance is not read from
//! until the debt is paid off: its bytes wait in the kernel and TCP pushes back on the
//! sender. Nothing the player typed is dropped, and compressed and plain input are bounded
//! the same way.
//!
//! Invariant: a session that spent `n` times its allowance in one step is not read again for
//! about `n - 1` seconds, so over any stretch it averages at most its allowance.

use crate::shared::config::Limits;
use std::time::{Duration, Instant};

/// One allowance that may go into debt: it refills at `rate` per second up to `burst`.
#[derive(Debug)]
struct Allowance {
    balance: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Allowance {
    fn new(rate: f64, now: Instant) -> Self {
        Allowance {
            balance: rate,
            rate,
            burst: rate,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let add = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.balance = (self.balance + add).min(self.burst);
        self.last = now;
    }

    /// When the balance is back above zero; `None` when it is already.
    fn paid_at(&self, now: Instant) -> Option<Instant> {
        (self.balance < 0.0).then(|| now + Duration::from_secs_f64(-self.balance / self.rate))
    }
}

/// A session's input allowances (`limits.input_bytes_per_sec`, `limits.input_messages_per_sec`).
#[derive(Debug)]
pub struct InputMeter {
    bytes: Allowance,
    messages: Allowance,
    /// Whether the session has been over its allowance since it last caught up (the log says
    /// so once per episode, not once per read).
    throttled: bool,
}

impl InputMeter {
    /// A full allowance under `limits`.
    pub fn new(limits: &Limits) -> Self {
        let now = Instant::now();
        InputMeter {
            bytes: Allowance::new(limits.input_bytes_per_sec as f64, now),
            messages: Allowance::new(limits.input_messages_per_sec as f64, now),
            throttled: false,
        }
    }

    /// Charges one step of input: `bytes` handled by the protocol engine and `messages`
    /// it produced.
    pub fn charge(&mut self, bytes: usize, messages: usize) {
        let now = Instant::now();
        self.bytes.refill(now);
        self.messages.refill(now);
        self.bytes.balance -= bytes as f64;
        self.messages.balance -= messages as f64;
    }

    /// When the session may be read again; `None` when it may be now. The first time a
    /// session goes over, a log line says so.
    pub fn resume_at(&mut self) -> Option<Instant> {
        let now = Instant::now();
        self.bytes.refill(now);
        self.messages.refill(now);
        let at = match (self.bytes.paid_at(now), self.messages.paid_at(now)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        match (at, self.throttled) {
            (Some(at), false) => {
                self.throttled = true;
                tracing::info!(
                    pause_ms = at.saturating_duration_since(now).as_millis() as u64,
                    "input over its allowance; reading paused"
                );
            }
            (None, true) => self.throttled = false,
            _ => {}
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(bytes: usize, messages: usize) -> Limits {
        Limits {
            input_bytes_per_sec: bytes,
            input_messages_per_sec: messages,
            ..Limits::default()
        }
    }

    #[test]
    fn input_within_the_allowance_is_never_paused() {
        let mut m = InputMeter::new(&limits(1000, 10));
        m.charge(900, 9);
        assert_eq!(m.resume_at(), None);
    }

    #[test]
    fn a_debt_pauses_for_as_long_as_it_takes_to_pay() {
        let mut m = InputMeter::new(&limits(1000, 10));
        // 4,096 lines in one step: 4,086 over an allowance of 10 a second.
        m.charge(4096, 4096);
        let wait = m.resume_at().unwrap() - Instant::now();
        assert!(wait > Duration::from_secs(400), "{wait:?}");
        assert!(wait < Duration::from_secs(410), "{wait:?}");
    }

    #[test]
    fn the_longer_debt_decides() {
        let mut m = InputMeter::new(&limits(1000, 10));
        m.charge(3000, 1);
        let wait = m.resume_at().unwrap() - Instant::now();
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2));
    }
}
