//! Fuzz `portcullis::codec::mccp::Decompressor` (MCCP3, client → server zlib) with arbitrary bytes
//! fed in chunks.
//!
//! Input layout: byte 0 is the mode and chunking seed, the rest is the payload.
//! - mode bit 0 clear: the payload is fed as the compressed stream itself;
//! - mode bit 0 set: the payload is first compressed with `portcullis::codec::mccp::Compressor`
//!   (one `compress` call per chunk, then `finish` unless mode bit 1 is set) and some plain
//!   trailing bytes are appended; the inflated output must then equal the payload and the
//!   trailing bytes must come back as `End { rest }`.
//!
//! Invariants:
//! - no panic;
//! - one `decompress` call appends at most `max_output_per_call` (1 MiB) bytes;
//! - `End { rest }` never reports more bytes than the call was given; once ended, every later
//!   call reports `End { rest: input.len() }` and appends nothing; once failed, every later
//!   call fails and appends nothing;
//! - `bytes_out()` equals the total appended.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::codec::mccp::{Compressor, Decompressor, Inflated};

const LIMIT: usize = 1 << 20;
const TRAILER: &[u8] = b"\xff\xfb\x01plain after the stream";

/// Splits `data` into chunks whose lengths follow a small LCG seeded by `seed`.
fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 1;
    let mut rest = data;
    let mut out = Vec::new();
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = match seed >> 6 {
            0 => 1,
            1 => 1 + (state >> 16) as usize % 8,
            2 => 1 + (state >> 16) as usize % 300,
            _ => rest.len(),
        };
        let (head, tail) = rest.split_at(len.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let round_trip = mode & 1 == 1;
    let finish = mode & 2 == 0;

    let stream: Vec<u8> = if round_trip {
        let mut comp = Compressor::with_level(u32::from(mode >> 2) % 10);
        let mut z = Vec::new();
        for chunk in chunks(payload, mode) {
            comp.compress(chunk, &mut z).expect("compress");
        }
        if finish {
            comp.finish(&mut z).expect("finish");
            z.extend_from_slice(TRAILER);
        }
        z
    } else {
        payload.to_vec()
    };

    let mut dec = Decompressor::new(LIMIT);
    let mut inflated = Vec::new();
    let mut trailing = Vec::new();
    let mut ended = false;
    let mut failed = false;
    for chunk in chunks(&stream, mode.rotate_left(3)) {
        let before = inflated.len();
        let result = dec.decompress(chunk, &mut inflated);
        let added = inflated.len() - before;
        assert!(
            added <= LIMIT,
            "one call appended {added} bytes (limit {LIMIT})"
        );
        if failed {
            assert!(
                result.is_err(),
                "a poisoned decompressor recovered: {result:?}"
            );
        }
        if ended {
            assert_eq!(
                result.as_ref().ok(),
                Some(&Inflated::End { rest: chunk.len() })
            );
        }
        if ended || failed {
            assert_eq!(
                added, 0,
                "appended {added} bytes after the stream ended or failed"
            );
        }
        match result {
            Ok(Inflated::Data) => {}
            Ok(Inflated::End { rest }) => {
                assert!(rest <= chunk.len(), "rest {rest} > chunk {}", chunk.len());
                assert!(dec.is_ended());
                trailing.extend_from_slice(&chunk[chunk.len() - rest..]);
                ended = true;
            }
            Err(_) => failed = true,
        }
        assert_eq!(dec.bytes_out(), inflated.len() as u64);
    }

    if round_trip {
        assert!(!failed, "inflating our own compressor's output failed");
        assert_eq!(inflated, payload, "round trip changed the data");
        if finish {
            assert!(ended, "finished stream did not end");
            assert_eq!(trailing, TRAILER, "plain bytes after the stream were lost");
        } else {
            assert!(!ended);
        }
    }
});
