//! Fuzz `portcullis::portal::gateway::text::GameText` (how the gateway turns a game's bytes
//! into `text` and `prompt` messages) with arbitrary reads and prompt marks.
//!
//! Input layout: two bytes pick the bounds, then a list of operations. The bounds are small
//! (`max_partial` 4..=131, `max_message` from it to about five times it) so that short inputs
//! reach them and a run makes millions of executions; a first byte of 255 keeps the
//! gateway's own (`MAX_PARTIAL`, `MAX_MESSAGE`). Each operation is an opcode byte followed by
//! its operands:
//! - `op % 4 == 0`: a prompt mark (`prompt`);
//! - `op % 4 == 1` or `3`: a read of the next `(op >> 2) + 1` bytes (1..=64);
//! - `op % 4 == 2`: a big read: the next byte gives a pattern length (1..=16), then the
//!   pattern, repeated `2^((op >> 2) % 16)` times (capped just above `max_message`), then
//!   one more byte (say an LF ending a huge line), so reads cross `max_partial` and
//!   `max_message` as an inflated MCCP read does.
//! At most four such big reads' worth of bytes are read per input (the rest is ignored);
//! at the end a prompt mark flushes what is held.
//!
//! Invariants:
//! - no panic;
//! - after every read, at most `max_partial` bytes are held;
//! - `push` makes only `text` messages, each with at least one line, carrying at most
//!   `max_message` bytes of lines; `prompt` makes one `prompt` message of at most
//!   `max_partial` bytes, or nothing when nothing is held;
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

/// The bounds under test.
#[derive(Clone, Copy)]
struct Bounds {
    partial: usize,
    message: usize,
}

impl Bounds {
    /// From the input's first two bytes.
    fn pick(a: u8, b: u8) -> Self {
        if a == u8::MAX {
            return Self {
                partial: MAX_PARTIAL,
                message: MAX_MESSAGE,
            };
        }
        let partial = 4 + usize::from(a % 128);
        Self {
            partial,
            message: partial + partial * usize::from(b) / 64,
        }
    }

    /// The biggest single read: a little above `message`.
    fn max_read(self) -> usize {
        self.message + self.message / 16 + 8
    }
}

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

fn check_text(m: &Message, seg: &mut Segment, bounds: Bounds) {
    assert_eq!(m.name, "text", "push made a {:?} message", m.name);
    assert!(!m.args.is_empty(), "a text message without lines");
    let mut size = 0;
    for line in &m.args {
        let line = line.as_str().expect("a line is a string");
        size += min_bytes(line);
        seg.chars_out += line.chars().count();
    }
    assert!(
        size <= bounds.message,
        "a text message carries {size} bytes of lines (max {})",
        bounds.message
    );
}

/// A prompt mark: what is held comes out as one prompt, and the segment closes.
fn mark(text: &mut GameText, seg: &mut Segment, bounds: Bounds) {
    let held = text.held();
    let mut out = Vec::new();
    text.prompt(&mut out);
    match out.as_slice() {
        [] => assert_eq!(held, 0, "{held} bytes held but no prompt"),
        [m] => {
            assert_eq!(m.name, "prompt");
            let line = m.first_str().expect("a prompt's text");
            assert!(!line.is_empty(), "an empty prompt");
            assert!(
                min_bytes(line) <= bounds.partial,
                "a prompt above max_partial"
            );
            seg.chars_out += line.chars().count();
        }
        _ => panic!("one prompt mark made {} messages", out.len()),
    }
    assert_eq!(text.held(), 0, "bytes held after a prompt");
    seg.close();
}

fuzz_target!(|input: &[u8]| {
    let [a, b, ref rest @ ..] = *input else {
        return;
    };
    let bounds = Bounds::pick(a, b);
    let max_read = bounds.max_read();
    let mut data = rest;
    let mut text = GameText::with_bounds(bounds.partial, bounds.message);
    let mut seg = Segment::default();
    let mut out = Vec::new();
    let mut big = Vec::new();
    let mut total = 0;
    while let Some(&op) = take(&mut data, 1).first() {
        let read: &[u8] = match op % 4 {
            0 => {
                mark(&mut text, &mut seg, bounds);
                continue;
            }
            2 => {
                let n = usize::from(take(&mut data, 1).first().copied().unwrap_or(0) % 16) + 1;
                let pattern = take(&mut data, n);
                let times = 1usize << ((op >> 2) % 16);
                big.clear();
                while !pattern.is_empty()
                    && big.len() + pattern.len() <= max_read
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
        if total > 4 * max_read {
            break;
        }
        text.push(read, &mut out);
        seg.bytes.extend_from_slice(read);
        assert!(
            text.held() <= bounds.partial,
            "{} bytes held (max {})",
            text.held(),
            bounds.partial
        );
        for m in out.drain(..) {
            check_text(&m, &mut seg, bounds);
        }
    }
    mark(&mut text, &mut seg, bounds);
});
