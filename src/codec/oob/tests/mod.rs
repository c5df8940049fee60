//! Tests for the OOB codecs: byte-exact encodings, decoding of real client payloads, round
//! trips, and totality (junk gives `Err`, never a panic), one file per codec plus [`errors`]
//! for what every decoder shares. This file holds the shared helpers.

mod environ;
mod errors;
mod gmcp;
mod msdp;
mod mssp;

use serde_json::{Map, Value};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Concatenate byte fragments.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Tiny deterministic PRNG for fuzz-style totality tests.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    // `next` yields 31-bit values, so the casts below never truncate.
    #[allow(clippy::cast_possible_truncation)]
    fn bytes(&mut self, alphabet: &[u8], max_len: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max_len + 1);
        (0..len)
            .map(|_| alphabet[(self.next() as usize) % alphabet.len()])
            .collect()
    }
}
