//! Editing keys byte for byte: typing, backspace/insert/delete mid-line, split and invalid
//! UTF-8, wide and combining characters, word and line kills, Home/End, and history.

use super::*;

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
