//! Tests for the line editor: byte-exact keystroke → screen-byte cases, a
//! small terminal emulator used to check rendering invariants (no wrapping,
//! incremental updates equal to a full redraw), and a no-panic sweep over
//! every byte and pseudo-random input split at pseudo-random points.
//!
//! Invariant checked throughout: the buffer stays within `max_line` bytes,
//! and what the emulated terminal row shows is exactly what a full redraw
//! would show.

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

// ----- byte-exact cases ------------------------------------------------------

#[test]
fn typing_echoes() {
    let mut ed = LineEditor::new(100, 10);
    assert_eq!(out_of(&mut ed, b"ab"), "ab");
    assert_eq!(ed.buffer(), "ab");
}

#[test]
fn backspace_mid_line_redraws_tail() {
    let mut ed = LineEditor::new(100, 10);
    assert_eq!(out_of(&mut ed, b"abc"), "abc");
    assert_eq!(out_of(&mut ed, LEFT), "\x1b[1D");
    assert_eq!(out_of(&mut ed, LEFT), "\x1b[1D");
    assert_eq!(out_of(&mut ed, b"\x7f"), "\x1b[1Dbc\x1b[K\x1b[2D");
    assert_eq!(ed.buffer(), "bc");
    // 0x08 is backspace too; at the start of the line it does nothing.
    assert_eq!(out_of(&mut ed, b"\x08"), "");
    assert_eq!(out_of(&mut ed, b"\x1b[F\x08"), "\x1b[1C\x1b[K");
    assert_eq!(ed.buffer(), "b");
}

#[test]
fn insert_mid_line() {
    let mut ed = LineEditor::new(100, 10);
    out_of(&mut ed, b"ac");
    out_of(&mut ed, LEFT);
    assert_eq!(out_of(&mut ed, b"b"), "bc\x1b[1D");
    assert_eq!(ed.buffer(), "abc");
}

#[test]
fn delete_key() {
    let mut ed = LineEditor::new(100, 10);
    out_of(&mut ed, b"abc\x01");
    assert_eq!(out_of(&mut ed, b"\x1b[3~"), "bc\x1b[K\x1b[2D");
    assert_eq!(ed.buffer(), "bc");
    out_of(&mut ed, b"\x05");
    assert_eq!(out_of(&mut ed, b"\x1b[3~"), "");
}

#[test]
fn split_utf8() {
    let mut ed = LineEditor::new(100, 10);
    assert_eq!(out_of(&mut ed, &[0xC3]), "");
    assert_eq!(ed.buffer(), "");
    assert_eq!(out_of(&mut ed, &[0xA9]), "é");
    assert_eq!(ed.buffer(), "é");
}

#[test]
fn invalid_utf8_becomes_replacement() {
    let mut ed = LineEditor::new(100, 10);
    assert_eq!(
        out_of(&mut ed, &[0xFF, b'a', 0xC3, b'b', 0xE6, 0xBC]),
        "\u{FFFD}a\u{FFFD}b"
    );
    let (o, ev) = feed(&mut ed, b"\r");
    assert_eq!(o, "\u{FFFD}\r\n", "truncated char, then CR");
    assert_eq!(
        ev,
        vec![EditEvent::Line("\u{FFFD}a\u{FFFD}b\u{FFFD}".into())]
    );
    let mut ed = LineEditor::new(100, 10);
    out_of(&mut ed, &[0xE0, 0x80, 0xED, 0xA0, 0x80]); // overlong, surrogate
    assert_eq!(ed.buffer(), "\u{FFFD}".repeat(5));
}

#[test]
fn wide_char_moves_two_columns() {
    let mut ed = LineEditor::new(100, 10);
    assert_eq!(out_of(&mut ed, "漢".as_bytes()), "漢");
    assert_eq!(out_of(&mut ed, LEFT), "\x1b[2D");
    assert_eq!(out_of(&mut ed, RIGHT), "\x1b[2C");
    assert_eq!(out_of(&mut ed, b"\x7f"), "\x1b[2D\x1b[K");
}

#[test]
fn combining_mark_is_one_cluster() {
    let mut ed = LineEditor::new(100, 10);
    out_of(&mut ed, b"xe");
    // The combining acute is re-sent together with its base character.
    assert_eq!(out_of(&mut ed, "\u{301}".as_bytes()), "\x1b[1De\u{301}");
    assert_eq!(out_of(&mut ed, LEFT), "\x1b[1D");
    assert_eq!(out_of(&mut ed, b"\x1b[3~"), "\x1b[K");
    assert_eq!(ed.buffer(), "x");
}

#[test]
fn ctrl_w_ctrl_u_ctrl_k() {
    let mut ed = LineEditor::new(100, 10);
    out_of(&mut ed, b"say hello world");
    assert_eq!(out_of(&mut ed, b"\x17"), "\x1b[5D\x1b[K");
    assert_eq!(ed.buffer(), "say hello ");
    assert_eq!(out_of(&mut ed, b"\x17"), "\x1b[6D\x1b[K");
    assert_eq!(ed.buffer(), "say ");

    let mut ed = LineEditor::new(100, 10);
    out_of(&mut ed, b"hello world");
    assert_eq!(out_of(&mut ed, &LEFT.repeat(5)), "\x1b[5D");
    assert_eq!(out_of(&mut ed, b"\x15"), "\x1b[6Dworld\x1b[K\x1b[5D");
    assert_eq!(ed.buffer(), "world");
    assert_eq!(out_of(&mut ed, b"\x06\x06"), "\x1b[2C");
    assert_eq!(out_of(&mut ed, b"\x0b"), "\x1b[K");
    assert_eq!(ed.buffer(), "wo");
    assert_eq!(out_of(&mut ed, b"\x02"), "\x1b[1D");
}

#[test]
fn alt_word_keys() {
    let mut ed = LineEditor::new(100, 10);
    out_of(&mut ed, b"one two three");
    assert_eq!(out_of(&mut ed, b"\x1bb"), "\x1b[5D");
    assert_eq!(out_of(&mut ed, b"\x1bb"), "\x1b[4D");
    assert_eq!(out_of(&mut ed, b"\x1bf"), "\x1b[3C");
    assert_eq!(out_of(&mut ed, b"\x1bd"), "\x1b[K");
    assert_eq!(ed.buffer(), "one two");
    assert_eq!(out_of(&mut ed, b"\x1b\x7f"), "\x1b[3D\x1b[K");
    assert_eq!(ed.buffer(), "one ");
}

#[test]
fn home_end_variants() {
    let mut ed = LineEditor::new(100, 10);
    out_of(&mut ed, b"abc");
    for (home, end) in [
        (&b"\x1b[H"[..], &b"\x1b[F"[..]),
        (b"\x1bOH", b"\x1bOF"),
        (b"\x1b[1~", b"\x1b[4~"),
        (b"\x1b[7~", b"\x1b[8~"),
        (b"\x01", b"\x05"),
    ] {
        assert_eq!(out_of(&mut ed, home), "\x1b[3D");
        assert_eq!(out_of(&mut ed, end), "\x1b[3C");
    }
    assert_eq!(out_of(&mut ed, b"\x1bOD\x1bOD"), "\x1b[2D");
    assert_eq!(out_of(&mut ed, b"\x1bOC"), "\x1b[1C");
}

#[test]
fn history_up_down_restores_scratch() {
    let mut ed = LineEditor::new(100, 10);
    assert_eq!(
        feed(&mut ed, b"one\r"),
        ("one\r\n".to_string(), vec![EditEvent::Line("one".into())])
    );
    feed(&mut ed, b"two\r");
    out_of(&mut ed, b"tw");
    assert_eq!(out_of(&mut ed, UP), "o");
    assert_eq!(ed.buffer(), "two");
    assert_eq!(out_of(&mut ed, UP), "\x1b[3Done");
    assert_eq!(out_of(&mut ed, UP), "", "top of history");
    assert_eq!(out_of(&mut ed, DOWN), "\x1b[3Dtwo");
    assert_eq!(out_of(&mut ed, DOWN), "\x1b[1D\x1b[K");
    assert_eq!(ed.buffer(), "tw");
    assert_eq!(out_of(&mut ed, DOWN), "", "bottom of history");
    // Ctrl-P / Ctrl-N and SS3 arrows work too.
    out_of(&mut ed, b"\x10");
    assert_eq!(ed.buffer(), "two");
    out_of(&mut ed, b"\x1bOA");
    assert_eq!(ed.buffer(), "one");
    out_of(&mut ed, b"\x1bOB\x0e");
    assert_eq!(ed.buffer(), "tw");
}

#[test]
fn history_skips_duplicates_empty_and_is_bounded() {
    let mut ed = LineEditor::new(100, 2);
    feed(&mut ed, b"a\ra\r\rb\rc\r");
    assert_eq!(ed.history.iter().collect::<Vec<_>>(), ["b", "c"]);
    let mut ed = LineEditor::new(100, 0);
    feed(&mut ed, b"a\r");
    assert!(ed.history.is_empty());
    out_of(&mut ed, UP);
    assert_eq!(ed.buffer(), "");
}

#[test]
fn hidden_mode_echoes_nothing() {
    let mut ed = LineEditor::new(100, 10);
    ed.set_hidden(true);
    let mut out = Vec::new();
    ed.set_prompt("Password: ", &mut out);
    assert_eq!(out, b"\rPassword: \x1b[K");
    assert_eq!(out_of(&mut ed, "sécret漢".as_bytes()), "");
    assert_eq!(out_of(&mut ed, b"\x7f\x1b[D\x01\x05\x17x"), "");
    assert_eq!(ed.buffer(), "x");
    assert_eq!(out_of(&mut ed, UP), "");
    let (o, ev) = feed(&mut ed, b"\r");
    assert_eq!(o, "\r\nPassword: ");
    assert_eq!(ev, vec![EditEvent::Line("x".into())]);
    ed.set_hidden(false);
    out_of(&mut ed, UP);
    assert_eq!(ed.buffer(), "", "hidden lines are not recorded");
}

#[test]
fn hidden_toggle_discards_partial_input() {
    let mut ed = LineEditor::new(100, 10);
    ed.set_hidden(true);
    out_of(&mut ed, b"pass");
    ed.set_hidden(false);
    assert_eq!(ed.buffer(), "");
    assert_eq!(out_of(&mut ed, b"x"), "x", "secret never revealed");
    ed.set_hidden(true);
    assert_eq!(
        out_of(&mut ed, b"y"),
        "\x1b[1D\x1b[K",
        "visible text erased"
    );
    assert_eq!(ed.buffer(), "y");
}

#[test]
fn print_above_redraws_input() {
    let mut ed = with_prompt("> ");
    out_of(&mut ed, b"hel");
    let mut out = Vec::new();
    ed.print_above("Hello", &mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "\r\x1b[KHello\r\n> hel");
    out_of(&mut ed, b"\x1b[D\x1b[D");
    let mut out = Vec::new();
    ed.print_above("\x1b[31mred\x1b[0m\r\nline2\r\n", &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\r\x1b[K\x1b[31mred\x1b[0m\r\nline2\r\n> hel\x1b[2D"
    );
    let mut out = Vec::new();
    ed.print_above("bare lf\n", &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\r\x1b[Kbare lf\n\r> hel\x1b[2D"
    );
    let mut out = Vec::new();
    ed.print_above("", &mut out);
    assert!(out.is_empty());
    // Hidden: only the prompt comes back.
    ed.set_hidden(true);
    out_of(&mut ed, b"pw");
    let mut out = Vec::new();
    ed.print_above("x", &mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "\r\x1b[Kx\r\n> ");
}

#[test]
fn ctrl_c_interrupts() {
    let mut ed = with_prompt("> ");
    out_of(&mut ed, b"abc");
    out_of(&mut ed, LEFT);
    let (o, ev) = feed(&mut ed, b"\x03");
    assert_eq!(o, "\x1b[1C^C\r\n> ");
    assert_eq!(ev, vec![EditEvent::Interrupt]);
    assert_eq!(ed.buffer(), "");
}

#[test]
fn ctrl_d_eof_vs_delete() {
    let mut ed = LineEditor::new(100, 10);
    assert_eq!(
        feed(&mut ed, b"\x04"),
        (String::new(), vec![EditEvent::Eof])
    );
    out_of(&mut ed, b"ab\x01");
    assert_eq!(
        feed(&mut ed, b"\x04"),
        ("b\x1b[K\x1b[1D".to_string(), vec![])
    );
    assert_eq!(ed.buffer(), "b");
    assert_eq!(feed(&mut ed, b"\x05\x04"), ("\x1b[1C".to_string(), vec![]));
    assert_eq!(ed.buffer(), "b");
}

#[test]
fn ctrl_l_clears_screen() {
    let mut ed = with_prompt("> ");
    out_of(&mut ed, b"ab\x02");
    assert_eq!(out_of(&mut ed, b"\x0c"), "\x1b[H\x1b[2J> ab\x1b[1D");
}

#[test]
fn unknown_sequences_swallowed() {
    let mut ed = LineEditor::new(100, 10);
    assert_eq!(out_of(&mut ed, b"a\x1b[1;5Cb"), "ab");
    assert_eq!(
        out_of(&mut ed, b"\x1b[15~\x1bOP\x1b[?1;2c\x1bx\x1b[200~c\x1b[201~"),
        "c"
    );
    assert_eq!(out_of(&mut ed, "\x1bé".as_bytes()), "", "Alt+é swallowed");
    assert_eq!(out_of(&mut ed, b"\t\x07\x1c"), "", "other controls ignored");
    assert_eq!(ed.buffer(), "abc");
    // A control byte aborts a sequence and is then obeyed.
    let (o, ev) = feed(&mut ed, b"\x1b[1\r");
    assert_eq!(o, "\r\n");
    assert_eq!(ev, vec![EditEvent::Line("abc".into())]);
}

#[test]
fn escape_sequence_split_across_feeds() {
    let mut ed = LineEditor::new(100, 10);
    out_of(&mut ed, b"ab");
    assert_eq!(out_of(&mut ed, b"\x1b"), "");
    assert_eq!(out_of(&mut ed, b"["), "");
    assert_eq!(out_of(&mut ed, b"D"), "\x1b[1D");
    for part in [&b"\x1b"[..], b"[", b"1", b";", b"5", b"D"] {
        assert_eq!(out_of(&mut ed, part), "");
    }
    assert_eq!(out_of(&mut ed, b"\x1b[3"), "");
    assert_eq!(out_of(&mut ed, b"~"), "\x1b[K");
    assert_eq!(ed.buffer(), "a");
}

#[test]
fn cr_lf_and_cr_nul_count_once() {
    let mut ed = LineEditor::new(100, 10);
    let (o, ev) = feed(&mut ed, b"x\r\ny\r\0z\nw\r\r");
    assert_eq!(o, "x\r\ny\r\nz\r\nw\r\n\r\n");
    let lines: Vec<EditEvent> = ["x", "y", "z", "w", ""]
        .iter()
        .map(|s| EditEvent::Line(s.to_string()))
        .collect();
    assert_eq!(ev, lines);
    assert_eq!(feed(&mut ed, b"q\r").1, vec![EditEvent::Line("q".into())]);
    assert_eq!(feed(&mut ed, b"\n").1, vec![], "LF after split CR");
    assert_eq!(
        feed(&mut ed, b"\x1bOM").1,
        vec![EditEvent::Line(String::new())]
    );
}

#[test]
fn max_line_refusal() {
    let mut ed = LineEditor::new(5, 10);
    let (o, ev) = feed(&mut ed, b"abcdefg");
    assert_eq!(o, "\x07abcde", "one bell per feed");
    assert_eq!(ev, vec![EditEvent::TooLong { limit: 5 }]);
    assert_eq!(ed.buffer(), "abcde");
    assert_eq!(feed(&mut ed, b"h"), ("\x07".to_string(), vec![]));
    out_of(&mut ed, b"\x7f");
    assert_eq!(
        feed(&mut ed, "é".as_bytes()),
        ("\x07".to_string(), vec![]),
        "2 bytes do not fit"
    );
    feed(&mut ed, b"\r");
    assert_eq!(
        feed(&mut ed, b"123456").1,
        vec![EditEvent::TooLong { limit: 5 }]
    );
}

#[test]
fn long_input_scrolls_horizontally() {
    let mut ed = with_prompt("> ");
    let mut out = Vec::new();
    ed.set_width(20, &mut out);
    assert!(out.is_empty(), "nothing to redraw");
    let mut term = Term::new(20);
    term.apply(b"> ");
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH";
    for (i, &b) in alphabet.iter().enumerate() {
        let o = out_of(&mut ed, &[b]);
        if i == 17 {
            // 18th character: the window jumps, cursor re-centred.
            assert_eq!(o, "\x1b[17Dklmnopqr\x1b[K");
        }
        term.apply(o.as_bytes());
        assert!(str_width(&term.current()) < 20);
        assert_consistent(&ed, &term);
    }
    assert_eq!(ed.buffer().len(), alphabet.len());
    for key in [&b"\x01"[..], b"\x05", LEFT, b"\x7f", b"\x17", b"\x0b", UP] {
        for _ in 0..25 {
            let o = out_of(&mut ed, key);
            term.apply(o.as_bytes());
            assert!(str_width(&term.current()) < 20);
            assert_consistent(&ed, &term);
        }
    }
    // Home from a scrolled window shows the start again.
    let mut ed = with_prompt("> ");
    ed.set_width(20, &mut Vec::new());
    out_of(&mut ed, b"abcdefghijklmnopqr");
    assert_eq!(out_of(&mut ed, b"\x01"), "\x1b[8Dabcdefghijklmnopq\x1b[17D");
}

#[test]
fn wide_prompt_and_narrow_width() {
    let mut ed = LineEditor::new(1024, 50);
    let mut term = Term::new(80);
    let mut out = Vec::new();
    ed.set_prompt("\x1b[1;32mHP 100/100 MP 50/50 >\x1b[0m ", &mut out);
    ed.set_width(24, &mut out);
    term.resize(24);
    term.apply(&out);
    for b in "漢字 and more text that is long".bytes() {
        let o = out_of(&mut ed, &[b]);
        term.apply(o.as_bytes());
        assert_consistent(&ed, &term);
    }
    assert!(
        !term.current().contains("HP"),
        "prompt dropped when too wide"
    );
    let o = out_of(&mut ed, b"\x15");
    term.apply(o.as_bytes());
    assert!(term.current().contains("HP 100"));
    assert_consistent(&ed, &term);
}

#[test]
fn set_width_redraws_when_needed() {
    let mut ed = with_prompt("> ");
    out_of(&mut ed, b"0123456789abcdef");
    let mut out = Vec::new();
    ed.set_width(100, &mut out);
    assert!(out.is_empty());
    ed.set_width(10, &mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "\r> def\x1b[K");
}

#[test]
fn prompt_is_sanitised() {
    assert_eq!(sanitize_prompt("a\r\nb"), ("ab".to_string(), 2));
    assert_eq!(
        sanitize_prompt("\x1b[1;31m漢>\x1b[0m "),
        ("\x1b[1;31m漢>\x1b[0m ".to_string(), 4)
    );
    assert_eq!(
        sanitize_prompt("\x1b[5Cx\x1b]0;title\x07y\x1b["),
        ("xy".to_string(), 2)
    );
}

#[test]
fn width_tables_sorted() {
    for table in [ZERO, WIDE] {
        for w in table.windows(2) {
            assert!(w[0].1 < w[1].0, "{:x?} overlaps {:x?}", w[0], w[1]);
        }
        assert!(table.iter().all(|&(lo, hi)| lo <= hi));
    }
    assert_eq!(char_width('a'), 1);
    assert_eq!(char_width('漢'), 2);
    assert_eq!(char_width('😀'), 2);
    assert_eq!(char_width('\u{301}'), 0);
    assert_eq!(char_width('\u{3099}'), 0);
    assert_eq!(char_width('ｱ'), 1);
    assert_eq!(char_width('Ａ'), 2);
    assert_eq!(char_width('\x1b'), 0);
}

#[test]
fn decoder_emits_no_control_chars() {
    let mut d = Decoder::new();
    let mut keys = Vec::new();
    for b in 0..=255u8 {
        d.push(b, &mut keys);
    }
    for k in keys {
        if let Key::Char(c) = k {
            assert!(!c.is_control());
        }
    }
}

// ----- no-panic sweep --------------------------------------------------------

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n.max(1)
    }
}

const PIECES: &[&[u8]] = &[
    b"a",
    b"b",
    b" ",
    b"xyz",
    b"\r",
    b"\n",
    b"\r\n",
    b"\0",
    b"\x7f",
    b"\x08",
    b"\x01",
    b"\x02",
    b"\x03",
    b"\x04",
    b"\x05",
    b"\x06",
    b"\x0b",
    b"\x0c",
    b"\x0e",
    b"\x10",
    b"\x15",
    b"\x17",
    b"\t",
    b"\x1b",
    b"[",
    b"O",
    b"~",
    b";",
    b"1",
    b"3",
    b"5",
    b"200",
    b"\x1b[A",
    b"\x1b[B",
    b"\x1b[C",
    b"\x1b[D",
    b"\x1b[H",
    b"\x1b[F",
    b"\x1b[3~",
    b"\x1b[1;5C",
    b"\x1bOA",
    b"\x1bb",
    b"\x1bf",
    b"\x1bd",
    b"\x1b\x7f",
    b"\xc3",
    b"\xa9",
    b"\xe6\xbc\xa2",
    b"\xf0\x9f\x98\x80",
    b"\xcc\x81",
    b"\xff",
    b"\xe2\x80\x8b",
    b"\xc2\x9b",
    b"\x1b[200~pasted\r\nlines\x1b[201~",
];

const PROMPTS: &[&str] = &[
    "",
    "> ",
    "\x1b[32mHP 100>\x1b[0m ",
    "漢字> ",
    "a very long prompt text >",
];

#[test]
fn sweep_every_byte() {
    for b in 0..=255u8 {
        let mut ed = LineEditor::new(16, 4);
        let mut term = Term::new(80);
        for _ in 0..3 {
            let (o, _) = feed(&mut ed, &[b]);
            term.apply(o.as_bytes());
            assert_consistent(&ed, &term);
        }
        let (o, _) = feed(&mut ed, &[b'a', b, b'b', b, b]);
        term.apply(o.as_bytes());
        assert_consistent(&ed, &term);
        assert!(ed.buffer().len() <= 16);
    }
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let mut ed = LineEditor::new(64, 4);
    let (o, _) = feed(&mut ed, &all);
    let mut term = Term::new(80);
    term.apply(o.as_bytes());
    assert_consistent(&ed, &term);
}

#[test]
fn sweep_random_sequences() {
    let mut rng = Lcg(0x5eed_1234_abcd_0001);
    for round in 0..150 {
        let max_line = [0, 1, 3, 8, 40, 300][round % 6];
        let mut ed = LineEditor::new(max_line, 5);
        let mut term = Term::new(80);
        let mut input = Vec::new();
        for _ in 0..rng.below(200) {
            input.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
        let mut i = 0;
        while i < input.len() {
            let n = 1 + rng.below(12);
            let chunk = &input[i..(i + n).min(input.len())];
            i += n;
            let mut out = Vec::new();
            let mut ev = Vec::new();
            ed.feed(chunk, &mut out, &mut ev);
            term.apply(&out);
            out.clear();
            match rng.below(30) {
                0 => ed.set_hidden(!ed.hidden),
                1 => ed.print_above("n\r\n", &mut out),
                2 => ed.set_prompt(PROMPTS[rng.below(PROMPTS.len())], &mut out),
                3 => {
                    let cols = [0u16, 1, 2, 3, 5, 12, 20, 80][rng.below(8)];
                    term.resize(usize::from(if cols == 0 { 80 } else { cols }).max(2));
                    ed.set_width(cols, &mut out);
                }
                _ => {}
            }
            term.apply(&out);
            if !ed.dirty {
                assert_consistent(&ed, &term);
            }
            assert!(ed.buffer().len() <= max_line);
            assert!(ed.buffer().is_char_boundary(ed.cursor));
            assert!(ed.history.len() <= 5);
        }
    }
}

#[test]
fn hidden_mode_never_leaks_input() {
    let mut rng = Lcg(42);
    let mut ed = LineEditor::new(20, 5);
    ed.set_hidden(true);
    for _ in 0..500 {
        let piece = PIECES[rng.below(PIECES.len())];
        let (o, _) = feed(&mut ed, piece);
        let rest = o
            .replace("\r\n", "")
            .replace("^C", "")
            .replace("\x1b[H\x1b[2J", "")
            .replace('\x07', "");
        assert_eq!(rest, "", "hidden mode wrote {o:?}");
    }
}

#[test]
fn big_paste_is_one_write() {
    let mut ed = LineEditor::new(4096, 5);
    let paste = "x".repeat(10_000);
    let (o, ev) = feed(&mut ed, paste.as_bytes());
    assert_eq!(ev, vec![EditEvent::TooLong { limit: 4096 }]);
    assert_eq!(ed.buffer().len(), 4096);
    let bells = o.bytes().filter(|&b| b == 7).count();
    assert_eq!(bells, 1);
    let mut term = Term::new(80);
    term.apply(o.as_bytes());
    assert_consistent(&ed, &term);
}
