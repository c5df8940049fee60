//! Fuzz `portcullis::portal::gateway::text::GameText` (how the gateway turns a game's bytes
//! into `text` and `prompt` messages) with arbitrary reads and prompt marks.
//!
//! Input layout: a list of operations, each an opcode byte followed by its operands:
//! - `op % 4 == 0`: a prompt mark (`prompt`);
//! - `op % 4 == 1` or `3`: a read of the next `(op >> 2) + 1` bytes (1..=64);
//! - `op % 4 == 2`: a big read: the next byte gives a pattern length (1..=16), then the
//!   pattern, repeated `2^((op >> 2) % 16)` times (capped just above `MAX_MESSAGE`), then
//!   one more byte (say an LF ending a huge line), so reads cross `MAX_PARTIAL` and
//!   `MAX_MESSAGE` as an inflated MCCP read does.
//! At most `BUDGET` bytes are read per input (the rest is ignored), to keep executions fast;
//! at the end a prompt mark flushes what is held.
//!
//! Invariants:
//! - no panic;
//! - after every read, at most `MAX_PARTIAL` bytes are held;
//! - `push` makes only `text` messages, each with at least one line, carrying at most
//!   `MAX_MESSAGE` bytes of lines; `prompt` makes one `prompt` message of at most
//!   `MAX_PARTIAL` bytes, or nothing when nothing is held;
//! - nothing is lost or duplicated: between two prompt marks, the characters that come out,
//!   plus one per LF, equal the characters of the bytes that went in (decoded as the module
//!   does), less at most one per CR LF (the CR before an LF is dropped).
//!
//! Sizes are of the game's bytes; a decoded character in U+0080..=U+00FF counts one byte,
//! since it may have been one ISO-8859-1 byte, so the bounds checked are never stricter than
//! the module's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::portal::gateway::text::{GameText, MAX_MESSAGE, MAX_PARTIAL, decode};
use portcullis::shared::message::Message;

/// The biggest single read: just above `MAX_MESSAGE`.
const MAX_READ: usize = MAX_MESSAGE + 4096;

/// Bytes read per input at most.
const BUDGET: usize = 4 * MAX_READ;

/// The fewest game bytes `s` can have come from.
fn min_bytes(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if ('\u{80}'..='\u{ff}').contains(&c) {
                1
            } else {
                c.len_utf8()
            }
        })
        .sum()
}

/// Takes up to `n` bytes from the front of `data`.
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, tail) = data.split_at(n);
    *data = tail;
    head
}

/// What went in since the last prompt mark, and what came out.
#[derive(Default)]
struct Segment {
    bytes: Vec<u8>,
    chars_out: usize,
}

impl Segment {
    /// Checks conservation for the bytes between two prompt marks.
    fn close(&mut self) {
        let chars_in = decode(&self.bytes).chars().count();
        let lfs = self.bytes.iter().filter(|&&b| b == b'\n').count();
        let crlfs = self.bytes.windows(2).filter(|w| w == b"\r\n").count();
        let accounted = self.chars_out + lfs;
        assert!(
            accounted <= chars_in && chars_in <= accounted + crlfs,
            "{chars_in} characters in, {} out plus {lfs} LF ({crlfs} CR LF)",
            self.chars_out
        );
        *self = Segment::default();
    }
}

fn check_text(m: &Message, seg: &mut Segment) {
    assert_eq!(m.name, "text", "push made a {:?} message", m.name);
    assert!(!m.args.is_empty(), "a text message without lines");
    let mut size = 0;
    for line in &m.args {
        let line = line.as_str().expect("a line is a string");
        size += min_bytes(line);
        seg.chars_out += line.chars().count();
    }
    assert!(
        size <= MAX_MESSAGE,
        "a text message carries {size} bytes of lines (MAX_MESSAGE {MAX_MESSAGE})"
    );
}

/// A prompt mark: what is held comes out as one prompt, and the segment closes.
fn mark(text: &mut GameText, seg: &mut Segment) {
    let held = text.held();
    let mut out = Vec::new();
    text.prompt(&mut out);
    match out.as_slice() {
        [] => assert_eq!(held, 0, "{held} bytes held but no prompt"),
        [m] => {
            assert_eq!(m.name, "prompt");
            let line = m.first_str().expect("a prompt's text");
            assert!(!line.is_empty(), "an empty prompt");
            assert!(min_bytes(line) <= MAX_PARTIAL, "a prompt above MAX_PARTIAL");
            seg.chars_out += line.chars().count();
        }
        _ => panic!("one prompt mark made {} messages", out.len()),
    }
    assert_eq!(text.held(), 0, "bytes held after a prompt");
    seg.close();
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let mut text = GameText::default();
    let mut seg = Segment::default();
    let mut out = Vec::new();
    let mut big = Vec::new();
    let mut total = 0;
    while let Some(&op) = take(&mut data, 1).first() {
        let read: &[u8] = match op % 4 {
            0 => {
                mark(&mut text, &mut seg);
                continue;
            }
            2 => {
                let n = usize::from(take(&mut data, 1).first().copied().unwrap_or(0) % 16) + 1;
                let pattern = take(&mut data, n);
                let times = 1usize << ((op >> 2) % 16);
                big.clear();
                while !pattern.is_empty()
                    && big.len() + pattern.len() <= MAX_READ
                    && big.len() < times * pattern.len()
                {
                    big.extend_from_slice(pattern);
                }
                big.extend_from_slice(take(&mut data, 1));
                &big
            }
            _ => take(&mut data, usize::from(op >> 2) + 1),
        };
        total += read.len();
        if total > BUDGET {
            break;
        }
        text.push(read, &mut out);
        seg.bytes.extend_from_slice(read);
        assert!(
            text.held() <= MAX_PARTIAL,
            "{} bytes held (MAX_PARTIAL {MAX_PARTIAL})",
            text.held()
        );
        for m in out.drain(..) {
            check_text(&m, &mut seg);
        }
    }
    mark(&mut text, &mut seg);
});
