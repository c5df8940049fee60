//! Tests for the line editor: byte-exact keystroke → screen-byte cases, a
//! small terminal emulator used to check rendering invariants (no wrapping,
//! incremental updates equal to a full redraw), and a no-panic sweep over
//! every byte and pseudo-random input split at pseudo-random points.
//!
//! Invariant checked throughout: the buffer stays within `max_line` bytes,
//! and what the emulated terminal row shows is exactly what a full redraw
//! would show.
//!
//! This file holds the shared helpers and the terminal emulator; the cases are in
//! [`editing`], [`modes`], [`input`], [`display`] and [`sweep`].

mod display;
mod editing;
mod input;
mod modes;
mod sweep;

use super::keystrokes::{Decoder, Key};
use super::render::sanitize_prompt;
use super::width::{WIDE, ZERO, char_width, str_width};
use super::{EditEvent, LineEditor};

const LEFT: &[u8] = b"\x1b[D";
const RIGHT: &[u8] = b"\x1b[C";
const UP: &[u8] = b"\x1b[A";
const DOWN: &[u8] = b"\x1b[B";

fn feed(ed: &mut LineEditor, input: &[u8]) -> (String, Vec<EditEvent>) {
    let mut out = Vec::new();
    let mut ev = Vec::new();
    ed.feed(input, &mut out, &mut ev);
    (String::from_utf8(out).expect("output is UTF-8"), ev)
}

fn out_of(ed: &mut LineEditor, input: &[u8]) -> String {
    feed(ed, input).0
}

fn with_prompt(prompt: &str) -> LineEditor {
    let mut ed = LineEditor::new(1024, 50);
    let mut out = Vec::new();
    ed.set_prompt(prompt, &mut out);
    ed
}

// ----- terminal emulator -----------------------------------------------------

/// Minimal terminal: understands exactly what the editor emits.
#[derive(Clone, Debug)]
struct Term {
    cols: usize,
    rows: Vec<Vec<String>>, // "" marks the right half of a wide character
    row: usize,
    col: usize, // may equal `cols` (pending wrap)
    wrapped: bool,
    bells: usize,
}

impl Term {
    fn new(cols: usize) -> Self {
        Term {
            cols,
            rows: vec![vec![" ".to_string(); cols]],
            row: 0,
            col: 0,
            wrapped: false,
            bells: 0,
        }
    }

    fn resize(&mut self, cols: usize) {
        self.cols = cols;
        for r in &mut self.rows {
            r.resize(cols, " ".to_string());
        }
        self.col = self.col.min(cols);
    }

    fn line(&mut self) -> &mut Vec<String> {
        while self.rows.len() <= self.row {
            self.rows.push(vec![" ".to_string(); self.cols]);
        }
        &mut self.rows[self.row]
    }

    fn row_text(&self, r: usize) -> String {
        self.rows
            .get(r)
            .map(|cells| cells.concat().trim_end().to_string())
            .unwrap_or_default()
    }

    fn current(&self) -> String {
        self.row_text(self.row)
    }

    fn put(&mut self, c: char) {
        let w = char_width(c);
        let col = self.col;
        if w == 0 {
            let line = self.line();
            let mut i = col.min(line.len());
            while i > 0 {
                i -= 1;
                if !line[i].is_empty() {
                    line[i].push(c);
                    break;
                }
            }
            return;
        }
        if col + w > self.cols {
            self.wrapped = true;
            self.row += 1;
            self.col = 0;
            return self.put(c);
        }
        let line = self.line();
        // Overwriting half of a wide character blanks the other half.
        for i in col..col + w {
            if line[i].is_empty() && i > 0 {
                line[i - 1] = " ".to_string();
            }
            if char_width(line[i].chars().next().unwrap_or(' ')) == 2 && i + 1 < line.len() {
                line[i + 1] = " ".to_string();
            }
        }
        line[col] = c.to_string();
        if w == 2 {
            line[col + 1] = String::new();
        }
        self.col = col + w;
    }

    fn apply(&mut self, bytes: &[u8]) {
        let s = std::str::from_utf8(bytes).expect("output is UTF-8");
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '\r' => self.col = 0,
                '\n' => {
                    self.row += 1;
                    self.line();
                }
                '\x07' => self.bells += 1,
                '\x1b' => {
                    assert_eq!(it.next(), Some('['), "only CSI expected");
                    let mut params = String::new();
                    let fin = loop {
                        let d = it.next().expect("complete CSI");
                        if d.is_ascii_digit() || d == ';' {
                            params.push(d);
                        } else {
                            break d;
                        }
                    };
                    let n: usize = params.parse().unwrap_or(1);
                    match fin {
                        'C' => self.col = (self.col + n).min(self.cols - 1),
                        'D' => self.col = self.col.min(self.cols - 1).saturating_sub(n),
                        'K' => {
                            let col = self.col.min(self.cols);
                            let line = self.line();
                            if col > 0 && col < line.len() && line[col].is_empty() {
                                line[col - 1] = " ".to_string();
                            }
                            for cell in line.iter_mut().skip(col) {
                                *cell = " ".to_string();
                            }
                        }
                        'H' => {
                            self.row = 0;
                            self.col = 0;
                        }
                        'J' => {
                            assert_eq!(params, "2");
                            self.rows = vec![vec![" ".to_string(); self.cols]];
                        }
                        'm' => {}
                        other => panic!("unexpected CSI final {other:?}"),
                    }
                }
                c if c.is_control() => panic!("unexpected control {c:?}"),
                c => self.put(c),
            }
        }
    }
}

/// Asserts that a full redraw of `ed` would not change the emulated row.
fn assert_consistent(ed: &LineEditor, term: &Term) {
    let mut ed2 = ed.clone();
    let mut t2 = term.clone();
    let mut out = Vec::new();
    let prompt = ed2.prompt.clone();
    ed2.set_prompt(&prompt, &mut out);
    t2.apply(&out);
    assert_eq!(term.current(), t2.current(), "row differs from full redraw");
    assert_eq!(term.col, t2.col, "cursor differs from full redraw");
    assert!(!term.wrapped && !t2.wrapped, "row wrapped");
}
