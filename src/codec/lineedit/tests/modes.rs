//! Modes and control keys: hidden input (passwords), printing above the input line, and
//! Ctrl-C, Ctrl-D and Ctrl-L.

use super::*;

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
