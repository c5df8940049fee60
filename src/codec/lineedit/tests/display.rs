//! Display: horizontal scrolling of long input, wide prompts on narrow terminals, resizing,
//! prompt sanitising, and the display-width tables.

use super::*;

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
