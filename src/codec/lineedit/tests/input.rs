//! Input decoding: unknown escape sequences swallowed, sequences split across feeds, CR LF
//! and CR NUL counted once, the `max_line` refusal, and no control characters from the decoder.

use super::*;

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
