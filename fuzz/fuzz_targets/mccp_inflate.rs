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
//! The limit per `decompress` call is 1..64 KiB (from the mode byte; at least the payload in
//! a round trip), small enough that a bomb is cut off cheaply and a run makes millions of
//! executions. The same stream then goes through `inflate_some` (what the telnet engine
//! uses) in steps of 1..4 KiB of output, as the engine drives it: each chunk is given again
//! from where the last call stopped until it is consumed and no output is pending.
//!
//! Invariants:
//! - no panic;
//! - one `decompress` call appends at most its limit;
//! - `End { rest }` never reports more bytes than the call was given; once ended, every later
//!   call reports `End { rest: input.len() }` and appends nothing; once failed, every later
//!   call fails and appends nothing;
//! - `bytes_out()` equals the total appended;
//! - `inflate_some` appends at most its step per call, consumes at most what it was given,
//!   and makes the same bytes as `decompress` (all of them when `decompress` never failed, a
//!   prefix when it stopped at its limit), the same end and the same trailing plain bytes;
//!   it fails where `decompress` found the stream corrupt.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::codec::mccp::{Compressor, Decompressor, Inflated, MccpError};

/// Output the `inflate_some` pass makes at most per input, to keep executions fast.
const STEP_BUDGET: usize = 256 * 1024;
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

    let mut limit = 1024 << (mode >> 5);
    if round_trip {
        limit = limit.max(payload.len());
    }
    let mut dec = Decompressor::new(limit);
    let mut too_much = false;
    let mut inflated = Vec::new();
    let mut trailing = Vec::new();
    let mut ended = false;
    let mut failed = false;
    for chunk in chunks(&stream, mode.rotate_left(3)) {
        let before = inflated.len();
        let result = dec.decompress(chunk, &mut inflated);
        let added = inflated.len() - before;
        assert!(
            added <= limit,
            "one call appended {added} bytes (limit {limit})"
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
            Err(e) => {
                too_much |= matches!(e, MccpError::TooMuch { .. }) && !failed;
                failed = true;
            }
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

    stepwise(&stream, mode, &inflated, &trailing, ended, failed, too_much);
});

/// The same stream through `inflate_some`, checked against what `decompress` made.
fn stepwise(
    stream: &[u8],
    mode: u8,
    inflated: &[u8],
    trailing: &[u8],
    ended: bool,
    failed: bool,
    too_much: bool,
) {
    let step = 1 + usize::from(mode.rotate_left(5)) * 16;
    let mut dec = Decompressor::new(1);
    let mut out = Vec::new();
    let mut rest_out = Vec::new();
    let mut done = false;
    let mut error = false;
    'chunks: for chunk in chunks(stream, mode.rotate_left(3)) {
        if done {
            rest_out.extend_from_slice(chunk);
            continue;
        }
        let mut at = 0;
        loop {
            let before = out.len();
            match dec.inflate_some(&chunk[at..], &mut out, step) {
                Ok(p) => {
                    assert!(out.len() - before <= step, "a step of {step} appended more");
                    assert!(p.consumed <= chunk.len() - at, "consumed more than given");
                    at += p.consumed;
                    if p.ended {
                        assert!(!p.more);
                        done = true;
                        rest_out.extend_from_slice(&chunk[at..]);
                        break;
                    }
                    if at == chunk.len() && !p.more {
                        break;
                    }
                    if out.len() > STEP_BUDGET {
                        break 'chunks;
                    }
                }
                Err(_) => {
                    error = true;
                    break 'chunks;
                }
            }
        }
    }
    if too_much || out.len() > STEP_BUDGET {
        // decompress stopped at its limit, or this pass at its budget: compare what both made.
        let n = out.len().min(inflated.len());
        assert_eq!(out[..n], inflated[..n], "inflate_some made other bytes");
        return;
    }
    assert_eq!(
        error, failed,
        "inflate_some and decompress disagree on failing"
    );
    if failed {
        return;
    }
    assert_eq!(out, inflated, "inflate_some made other bytes");
    assert_eq!(
        done, ended,
        "inflate_some and decompress disagree on the end"
    );
    assert_eq!(
        rest_out, trailing,
        "inflate_some lost the trailing plain bytes"
    );
}
