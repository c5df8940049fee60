//! Fuzz `portcullis::codec::telnet::TelnetEngine::feed` with arbitrary client bytes.
//!
//! Input layout: byte 0 picks the limits, bytes 1..3 (little-endian u16) the split
//! position, the rest is the client's byte stream.
//!
//! Invariants:
//! - no panic;
//! - every `Line` has at most `max_line` bytes, every `LineTooLong` reports `max_line`,
//!   every `Subnegotiation` payload has at most `max_subneg` bytes;
//! - `feed` consumes all of its input unless it reported `CompressionStart` (then it stops
//!   right after that event, and never consumes more than it was given);
//! - without `CompressionStart`, feeding the stream whole or split in two gives identical
//!   replies (`out`) and events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::codec::telnet::{EngineLimits, TelnetEngine, TelnetEvent};

const MAX_LINES: [usize; 6] = [0, 1, 2, 7, 64, 4096];
const MAX_SUBNEGS: [usize; 4] = [0, 1, 16, 8192];
const MAX_NEGOTIATIONS: [usize; 3] = [0, 3, 500];

fn limits(b: u8) -> EngineLimits {
    let b = usize::from(b);
    EngineLimits {
        max_line: MAX_LINES[b % MAX_LINES.len()],
        max_subneg: MAX_SUBNEGS[(b / 8) % MAX_SUBNEGS.len()],
        max_negotiations: MAX_NEGOTIATIONS[(b / 32) % MAX_NEGOTIATIONS.len()],
    }
}

fn check_events(events: &[TelnetEvent], limits: &EngineLimits) {
    for ev in events {
        match ev {
            TelnetEvent::Line(line) => assert!(
                line.len() <= limits.max_line,
                "line of {} bytes exceeds max_line {}",
                line.len(),
                limits.max_line
            ),
            TelnetEvent::LineTooLong { limit } => assert_eq!(*limit, limits.max_line),
            TelnetEvent::Subnegotiation { payload, .. } => assert!(
                payload.len() <= limits.max_subneg,
                "subnegotiation of {} bytes exceeds max_subneg {}",
                payload.len(),
                limits.max_subneg
            ),
            _ => {}
        }
    }
}

/// Feeds `input` in one call. Returns `None` if compression started (after feeding the
/// remainder as plain bytes, to keep exploring), else the replies and events.
fn feed_chunks(limits: EngineLimits, chunks: &[&[u8]]) -> Option<(Vec<u8>, Vec<TelnetEvent>)> {
    let mut engine = TelnetEngine::new(limits);
    let mut out = Vec::new();
    let mut events = Vec::new();
    engine.start(&mut out);
    let mut compressed = false;
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        loop {
            let before = events.len();
            let used = engine.feed(rest, &mut out, &mut events);
            assert!(
                used <= rest.len(),
                "feed consumed {used} of {} bytes",
                rest.len()
            );
            let started = events[before..]
                .iter()
                .any(|e| *e == TelnetEvent::CompressionStart);
            if started {
                assert_eq!(
                    events.last(),
                    Some(&TelnetEvent::CompressionStart),
                    "feed went on after CompressionStart"
                );
                compressed = true;
                // Pretend the rest was already inflated and carry on.
                rest = &rest[used..];
                if rest.is_empty() {
                    break;
                }
            } else {
                assert_eq!(
                    used,
                    rest.len(),
                    "feed stopped early without CompressionStart"
                );
                break;
            }
        }
    }
    check_events(&events, &limits);
    if compressed {
        None
    } else {
        Some((out, events))
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let limits = limits(data[0]);
    let split = usize::from(u16::from_le_bytes([data[1], data[2]]));
    let input = &data[3..];
    let split = split % (input.len() + 1);

    let whole = feed_chunks(limits, &[input]);
    let (head, tail) = input.split_at(split);
    let parts = feed_chunks(limits, &[head, tail]);
    // Byte-at-a-time is the worst case for carried-over parser state.
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let single = feed_chunks(limits, &bytes);

    if let (Some(whole), Some(parts), Some(single)) = (whole, parts, single) {
        assert_eq!(whole.0, parts.0, "replies differ when split at {split}");
        assert_eq!(whole.1, parts.1, "events differ when split at {split}");
        assert_eq!(whole.0, single.0, "replies differ when fed byte by byte");
        assert_eq!(whole.1, single.1, "events differ when fed byte by byte");
    }
});
