//! Fuzz `portcullis::codec::lineedit::LineEditor` with arbitrary keystrokes, interleaved with
//! width changes, `print_above`, prompt changes and hidden-mode toggles.
//!
//! Input layout: byte 0 picks `max_line`, byte 1 `max_history`; the rest is a list of
//! operations, each an opcode byte followed by its operands.
//!
//! Invariants:
//! - no panic;
//! - `buffer()` never exceeds `max_line` bytes, nor does any `Line` event;
//! - `TooLong` always reports `max_line`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::codec::lineedit::{EditEvent, LineEditor};

const MAX_LINES: [usize; 6] = [0, 1, 3, 8, 40, 4096];

/// Takes up to `n` bytes from the front of `data`.
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, tail) = data.split_at(n);
    *data = tail;
    head
}

fn take_byte(data: &mut &[u8]) -> u8 {
    take(data, 1).first().copied().unwrap_or(0)
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let max_line = MAX_LINES[usize::from(take_byte(&mut data)) % MAX_LINES.len()];
    let max_history = usize::from(take_byte(&mut data) % 4);
    let mut ed = LineEditor::new(max_line, max_history);
    let mut out = Vec::new();
    let mut events = Vec::new();

    while !data.is_empty() {
        let op = take_byte(&mut data);
        match op % 16 {
            // Small widths are the interesting ones (0 means unknown: 80).
            0 => {
                let w = take_byte(&mut data);
                ed.set_width(u16::from(w % 24), &mut out);
            }
            1 => {
                let w = take_byte(&mut data);
                ed.set_width(u16::from(w), &mut out);
            }
            2 => {
                let n = usize::from(op >> 4);
                let text = String::from_utf8_lossy(take(&mut data, n)).into_owned();
                ed.print_above(&text, &mut out);
            }
            3 => {
                let n = usize::from(op >> 4);
                let text = String::from_utf8_lossy(take(&mut data, n)).into_owned();
                ed.set_prompt(&text, &mut out);
            }
            4 => ed.set_hidden(op & 0x10 != 0),
            // Everything else: a burst of keystrokes, 1..=16 bytes.
            _ => {
                let n = usize::from(op >> 4) + 1;
                let keys = take(&mut data, n);
                ed.feed(keys, &mut out, &mut events);
            }
        }
        assert!(
            ed.buffer().len() <= max_line,
            "buffer of {} bytes exceeds max_line {max_line}",
            ed.buffer().len()
        );
        for ev in events.drain(..) {
            match ev {
                EditEvent::Line(line) => assert!(
                    line.len() <= max_line,
                    "line of {} bytes exceeds max_line {max_line}",
                    line.len()
                ),
                EditEvent::TooLong { limit } => assert_eq!(limit, max_line),
                EditEvent::Eof | EditEvent::Interrupt => {}
            }
        }
        // Keep memory flat over long inputs.
        out.clear();
    }
});
