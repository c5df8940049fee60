//! Line assembly (line endings, stray NUL, over-long lines, clients that never negotiate) and
//! output encoding (EOR/GA prompts, IAC escaping in text and subnegotiations).

use super::*;

// ---------------------------------------------------------------- lines

#[test]
fn line_endings() {
    let mut e = engine();
    assert_eq!(feed(&mut e, b"crlf\r\n").1, vec![line(b"crlf")]);
    assert_eq!(feed(&mut e, b"crnul\r\0").1, vec![line(b"crnul")]);
    assert_eq!(feed(&mut e, b"lf\n").1, vec![line(b"lf")]);
    assert_eq!(feed(&mut e, b"cr\r").1, vec![line(b"cr")]);
    // A bare CR followed by text: the text starts the next line.
    assert_eq!(feed(&mut e, b"a\rb\n").1, vec![line(b"a"), line(b"b")]);
    // Empty lines are real lines.
    assert_eq!(
        feed(&mut e, b"\r\n\n\r\0").1,
        vec![line(b""), line(b""), line(b"")]
    );
    // CR CR LF: two lines (the second empty).
    assert_eq!(feed(&mut e, b"x\r\r\n").1, vec![line(b"x"), line(b"")]);
}

#[test]
fn cr_split_from_lf_yields_one_line() {
    let mut e = engine();
    assert_eq!(feed(&mut e, b"abc\r").1, vec![line(b"abc")]);
    assert_eq!(feed(&mut e, b"\ndef\r").1, vec![line(b"def")]);
    assert_eq!(feed(&mut e, b"\0ghi\r").1, vec![line(b"ghi")]);
    assert_eq!(feed(&mut e, b"\r\n").1, vec![line(b"")]);
    // CR, then an IAC command, then LF: still one line ending.
    assert_eq!(feed(&mut e, b"jk\r").1, vec![line(b"jk")]);
    assert!(feed(&mut e, &[IAC, NOP]).1.is_empty());
    assert!(feed(&mut e, b"\n").1.is_empty());
}

#[test]
fn stray_nul_is_dropped() {
    let mut e = engine();
    assert_eq!(feed(&mut e, b"a\0b\n").1, vec![line(b"ab")]);
}

#[test]
fn line_too_long() {
    let mut e = TelnetEngine::new(EngineLimits {
        max_line: 8,
        ..limits()
    });
    let (out, ev) = feed(&mut e, b"0123456789AB\r\nok\r\n");
    assert!(out.is_empty());
    assert_eq!(
        ev,
        vec![LineTooLong { limit: 8 }, line(b"01234567"), line(b"ok")]
    );
    // Exactly max_line bytes is fine.
    assert_eq!(feed(&mut e, b"12345678\n").1, vec![line(b"12345678")]);
    // Overflow reported at once, even before the line ends, and only once.
    assert_eq!(
        feed(&mut e, b"abcdefghijk").1,
        vec![LineTooLong { limit: 8 }, line(b"abcdefgh")]
    );
    assert!(feed(&mut e, b"more more more").1.is_empty());
    assert_eq!(feed(&mut e, b"\r\nnext\n").1, vec![line(b"next")]);
}

#[test]
fn client_that_never_answers_still_gets_lines() {
    let mut e = engine();
    let mut out = Vec::new();
    e.start(&mut out);
    assert!(!out.is_empty());
    let (out, ev) = feed(&mut e, b"hello\r\nwho\r\n");
    assert!(out.is_empty());
    assert_eq!(ev, vec![line(b"hello"), line(b"who")]);
    assert!(!e.is_enabled_remote(NAWS));
    assert!(!e.is_enabled_local(TELOPT_EOR));
}

// ---------------------------------------------------------------- output

#[test]
fn end_prompt_eor_or_ga() {
    let mut e = started();
    let mut out = Vec::new();
    e.end_prompt(&mut out);
    assert_eq!(out, vec![IAC, GA]);
    feed(&mut e, &[IAC, DO, TELOPT_EOR]);
    let mut out = Vec::new();
    e.end_prompt(&mut out);
    assert_eq!(out, vec![IAC, EOR]);
    // Client withdraws EOR: back to GA.
    let (reply, _) = feed(&mut e, &[IAC, DONT, TELOPT_EOR]);
    assert_eq!(reply, vec![IAC, WONT, TELOPT_EOR]);
    let mut out = Vec::new();
    e.end_prompt(&mut out);
    assert_eq!(out, vec![IAC, GA]);
    // SGA on our side and no EOR: nothing.
    feed(&mut e, &[IAC, DO, SGA]);
    let mut out = Vec::new();
    e.end_prompt(&mut out);
    assert!(out.is_empty());
}

#[test]
fn encode_text_escapes() {
    let e = engine();
    let mut out = Vec::new();
    e.encode_text(b"a\xFFb\nc\r\nd\re\n\r", &mut out);
    assert_eq!(out, b"a\xFF\xFFb\r\nc\r\nd\r\0e\r\n\r\0".to_vec());
    let mut out = Vec::new();
    e.encode_text(b"\r\r\n\n", &mut out);
    assert_eq!(out, b"\r\0\r\n\r\n".to_vec());
    let mut out = Vec::new();
    e.encode_text(b"", &mut out);
    assert!(out.is_empty());
}

#[test]
fn encode_subnegotiation_doubles_iac() {
    assert_eq!(
        sb(NAWS, &[0, 255, 0, 255]),
        vec![IAC, SB, NAWS, 0, IAC, IAC, 0, IAC, IAC, IAC, SE]
    );
}
