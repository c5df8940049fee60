//! Tests for the markup renderer: every code at every colour level byte for byte, downgrading
//! (nearest xterm and 16-colour entries), literal and incomplete codes, strip, sanitise,
//! escape round trips, widths, exhaustive combinations of tricky pieces checked against the
//! module's invariants, and text for screen readers.

use super::*;

const LEVELS: [ColourLevel; 4] = [
    ColourLevel::None,
    ColourLevel::Ansi16,
    ColourLevel::Xterm256,
    ColourLevel::TrueColour,
];

/// Expected output of `code` followed by "x" at each level
/// (None, Ansi16, Xterm256, TrueColour).
fn check(code: &str, expected: [&str; 4]) {
    let input = format!("{code}x");
    for (level, want) in LEVELS.iter().zip(expected) {
        assert_eq!(render(&input, *level), want, "{code:?} at {level:?}");
    }
}

/// A code that renders to the same SGR at every colour level.
fn check_same(code: &str, sgr: &str) {
    let coloured = format!("\x1b[{sgr}mx\x1b[0m");
    check(code, ["x", &coloured, &coloured, &coloured]);
}

#[test]
fn basic_foregrounds() {
    for (letter, n) in [
        ('x', 0),
        ('r', 1),
        ('g', 2),
        ('y', 3),
        ('b', 4),
        ('m', 5),
        ('c', 6),
        ('w', 7),
    ] {
        check_same(&format!("|{letter}"), &format!("22;3{n}"));
        let upper = letter.to_ascii_uppercase();
        check_same(&format!("|{upper}"), &format!("1;3{n}"));
        check_same(&format!("|[{letter}"), &format!("4{n}"));
    }
}

#[test]
fn attributes() {
    check_same("|h", "1");
    check_same("|H", "22");
    check_same("|u", "4");
    check_same("|U", "24");
    check_same("|i", "3");
    check_same("|I", "23");
    check_same("|*", "7");
    check_same("|^", "5");
}

#[test]
fn reset_and_text_codes() {
    check("|n", ["x", "\x1b[0mx", "\x1b[0mx", "\x1b[0mx"]);
    check("|/", ["\nx"; 4]);
    check("|-", ["    x"; 4]);
    check("|_", [" x"; 4]);
    check("||", ["|x"; 4]);
}

#[test]
fn xterm_cube() {
    check(
        "|500",
        [
            "x",
            "\x1b[1;31mx\x1b[0m",
            "\x1b[38;5;196mx\x1b[0m",
            "\x1b[38;5;196mx\x1b[0m",
        ],
    );
    check(
        "|[500",
        [
            "x",
            "\x1b[41mx\x1b[0m",
            "\x1b[48;5;196mx\x1b[0m",
            "\x1b[48;5;196mx\x1b[0m",
        ],
    );
    check(
        "|300",
        [
            "x",
            "\x1b[22;31mx\x1b[0m",
            "\x1b[38;5;124mx\x1b[0m",
            "\x1b[38;5;124mx\x1b[0m",
        ],
    );
    check(
        "|000",
        [
            "x",
            "\x1b[22;30mx\x1b[0m",
            "\x1b[38;5;16mx\x1b[0m",
            "\x1b[38;5;16mx\x1b[0m",
        ],
    );
    check(
        "|555",
        [
            "x",
            "\x1b[1;37mx\x1b[0m",
            "\x1b[38;5;231mx\x1b[0m",
            "\x1b[38;5;231mx\x1b[0m",
        ],
    );
    check(
        "|[555",
        [
            "x",
            "\x1b[47mx\x1b[0m",
            "\x1b[48;5;231mx\x1b[0m",
            "\x1b[48;5;231mx\x1b[0m",
        ],
    );
    check(
        "|005",
        [
            "x",
            "\x1b[22;34mx\x1b[0m",
            "\x1b[38;5;21mx\x1b[0m",
            "\x1b[38;5;21mx\x1b[0m",
        ],
    );
}

#[test]
fn xterm_greyscale() {
    check(
        "|=a",
        [
            "x",
            "\x1b[22;30mx\x1b[0m",
            "\x1b[38;5;232mx\x1b[0m",
            "\x1b[38;5;232mx\x1b[0m",
        ],
    );
    check(
        "|=z",
        [
            "x",
            "\x1b[22;37mx\x1b[0m",
            "\x1b[38;5;255mx\x1b[0m",
            "\x1b[38;5;255mx\x1b[0m",
        ],
    );
    check(
        "|[=m",
        [
            "x",
            "\x1b[47mx\x1b[0m",
            "\x1b[48;5;243mx\x1b[0m",
            "\x1b[48;5;243mx\x1b[0m",
        ],
    );
    // Monotonic, within the ramp, a darkest and z lightest.
    let mut prev = 231u8;
    for letter in b'a'..=b'z' {
        let code = [b'=', letter];
        let Some((Token::Xterm { n, .. }, 2)) = parse_colour(&code, true) else {
            panic!("grey code {letter} did not parse");
        };
        assert!(n >= prev && n >= 232);
        prev = n;
    }
    assert_eq!(prev, 255);
}

#[test]
fn truecolour() {
    check(
        "|#ff0000",
        [
            "x",
            "\x1b[1;31mx\x1b[0m",
            "\x1b[38;5;196mx\x1b[0m",
            "\x1b[38;2;255;0;0mx\x1b[0m",
        ],
    );
    check(
        "|[#0000CD",
        [
            "x",
            "\x1b[44mx\x1b[0m",
            "\x1b[48;5;20mx\x1b[0m",
            "\x1b[48;2;0;0;205mx\x1b[0m",
        ],
    );
    check(
        "|#808080",
        [
            "x",
            "\x1b[1;30mx\x1b[0m",
            "\x1b[38;5;244mx\x1b[0m",
            "\x1b[38;2;128;128;128mx\x1b[0m",
        ],
    );
    check(
        "|#ff8700",
        [
            "x",
            "\x1b[22;33mx\x1b[0m",
            "\x1b[38;5;208mx\x1b[0m",
            "\x1b[38;2;255;135;0mx\x1b[0m",
        ],
    );
    // Extra hex digits after the six are plain text.
    assert_eq!(
        render("|#ff0000ab", ColourLevel::TrueColour),
        "\x1b[38;2;255;0;0mab\x1b[0m"
    );
}

#[test]
fn nearest256_exact_entries_round_trip() {
    for n in 16..=255u8 {
        assert_eq!(nearest256(xterm_rgb(n)), n, "entry {n}");
    }
}

#[test]
fn literal_pipe() {
    for level in LEVELS {
        assert_eq!(render("||r", level), "|r");
        assert_eq!(render("a||b", level), "a|b");
        assert_eq!(
            render("|||r", level).ends_with('|'),
            level == ColourLevel::None
        );
    }
    assert_eq!(render("|||r", ColourLevel::Ansi16), "|\x1b[22;31m\x1b[0m");
}

#[test]
fn incomplete_and_unknown_codes_are_literal() {
    for input in [
        "|",
        "a|",
        "|z",
        "|[",
        "|[z",
        "|[R",
        "|12",
        "|1",
        "|56",
        "|506",
        "|[12",
        "|=",
        "|=A",
        "|[=",
        "|#",
        "|#12345",
        "|#gg0000",
        "|[#12",
        "|é",
        "|\u{1F389}",
        "| ",
    ] {
        for level in LEVELS {
            assert_eq!(render(input, level), input, "{input:?} at {level:?}");
        }
    }
    // A literal pipe does not swallow a following real code.
    assert_eq!(
        render("|[|rx", ColourLevel::Ansi16),
        "|[\x1b[22;31mx\x1b[0m"
    );
}

#[test]
fn trailing_reset_only_when_needed() {
    let l = ColourLevel::Ansi16;
    assert_eq!(render("plain", l), "plain");
    assert_eq!(render("|rred", l), "\x1b[22;31mred\x1b[0m");
    assert_eq!(render("|rred|n", l), "\x1b[22;31mred\x1b[0m");
    assert_eq!(render("|rred|n tail", l), "\x1b[22;31mred\x1b[0m tail");
    assert_eq!(render("|nplain", l), "\x1b[0mplain");
    assert_eq!(
        render("|rr|ng|g", l),
        "\x1b[22;31mr\x1b[0mg\x1b[22;32m\x1b[0m"
    );
    assert_eq!(render("|rred", ColourLevel::None), "red");
}

#[test]
fn existing_escapes_pass_through_render() {
    assert_eq!(render("\x1b[31mx", ColourLevel::Ansi16), "\x1b[31mx");
}

#[test]
fn strip_removes_markup() {
    assert_eq!(
        strip("|rHello|n, |[b|500wor|#00ff00ld|n||x|/next|_|-!"),
        "Hello, world|x\nnext     !"
    );
    assert_eq!(strip("no markup"), "no markup");
    assert_eq!(strip("|h|u|i|*|^|H|U|I"), "");
}

#[test]
fn sanitize() {
    assert_eq!(sanitize_input("\x1b[31mred"), "[31mred");
    assert_eq!(sanitize_input("bell\x07!"), "bell!");
    assert_eq!(sanitize_input("csi\u{9b}31m"), "csi31m");
    assert_eq!(sanitize_input("evil\u{202e}txt.exe"), "eviltxt.exe");
    assert_eq!(sanitize_input("a\u{2066}b\u{2069}c\u{202a}d"), "abcd");
    assert_eq!(sanitize_input("a\tb"), "a b");
    assert_eq!(sanitize_input("line\r\nnext\0\x7f"), "linenext");
    assert_eq!(sanitize_input("héllo 漢字 🎉"), "héllo 漢字 🎉");
    assert_eq!(sanitize_input("|rred|n"), "|rred|n");
    assert_eq!(sanitize_input("\u{a0}\u{200d}"), "\u{a0}\u{200d}");
}

#[test]
fn player_text_stays_on_its_line() {
    let forged = "hi|/|rThe server will restart.|n";
    assert_eq!(
        player_text(forged, true),
        "hi||/|rThe server will restart.|n|n"
    );
    assert_eq!(
        strip(&player_text(forged, true)),
        "hi|/The server will restart."
    );
    assert_eq!(
        player_text(forged, false),
        "hi||/||rThe server will restart.||n"
    );
    assert!(!render(&player_text(forged, true), ColourLevel::TrueColour).contains('\n'));
    // Tabs, spaces and separators collapse; `|-` and `|_` show literally.
    assert_eq!(player_text("a \t\u{2028}  b|-c|_d", true), "a b||-c||_d|n");
    assert_eq!(player_text("x\r\ny\x1b[2J", true), "xy[2J");
    // A trailing or unknown `|` cannot join the closing reset into a code.
    assert_eq!(player_text("end|", true), "end|||n");
    assert_eq!(strip(&player_text("end|", true)), "end|");
    assert_eq!(player_text("||r", true), "||r|n");
    assert_eq!(player_text("plain words", true), "plain words");
}

#[test]
fn escape_round_trip() {
    let samples = [
        "",
        "|",
        "||",
        "|r|n",
        "a|b|[r|500|#ff0000|=a|/|",
        "name|with|pipes|",
        "|[",
        "é|🎉|",
        "\x1b[31m|r",
    ];
    for s in samples {
        assert_eq!(escape(s).matches('|').count(), 2 * s.matches('|').count());
        for level in LEVELS {
            assert_eq!(render(&escape(s), level), s, "{s:?} at {level:?}");
        }
    }
}

#[test]
fn widths() {
    assert_eq!(display_width("漢字"), 4);
    assert_eq!(display_width("abc"), 3);
    assert_eq!(display_width("|rab|n"), 2);
    assert_eq!(display_width("e\u{301}"), 1);
    assert_eq!(display_width("🎉"), 2);
    assert_eq!(display_width("ｈｉ"), 4);
    assert_eq!(display_width("한국"), 4);
    assert_eq!(display_width("||"), 1);
    assert_eq!(display_width(""), 0);
    assert_eq!(display_width("a\u{200b}b"), 2);
}

/// Removes every `ESC[...m` sequence.
fn remove_sgr(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find('\x1b') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        match after.find('m') {
            Some(end) => rest = &after[end + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn check_invariants(s: &str) {
    let plain = strip(s);
    assert!(!plain.contains('\x1b'), "{s:?}");
    for level in LEVELS {
        let out = render(s, level);
        assert_eq!(remove_sgr(&out), plain, "{s:?} at {level:?}");
        // The last SGR is always a reset, so nothing leaks.
        if let Some(last) = out.rfind('\x1b') {
            assert!(out[last..].starts_with(RESET), "{s:?} at {level:?}");
        }
        assert_eq!(render(&escape(s), level), s);
    }
    let _ = display_width(s);
    let _ = sanitize_input(s);
}

fn for_each_combination(pieces: &[&str], max_len: usize, f: &mut dyn FnMut(&str)) {
    fn go(pieces: &[&str], depth: usize, cur: &mut String, f: &mut dyn FnMut(&str)) {
        f(cur);
        if depth == 0 {
            return;
        }
        for p in pieces {
            let len = cur.len();
            cur.push_str(p);
            go(pieces, depth - 1, cur, f);
            cur.truncate(len);
        }
    }
    go(pieces, max_len, &mut String::new(), f);
}

#[test]
fn fuzz_tricky_pieces() {
    let pieces = ["|", "[", "#", "5", "0", "ff", "|[", "|#", "é", "\u{1F389}"];
    let mut count = 0usize;
    for_each_combination(&pieces, 4, &mut |s| {
        check_invariants(s);
        count += 1;
    });
    assert_eq!(count, 1 + 10 + 100 + 1000 + 10000);
}

#[test]
fn fuzz_more_pieces() {
    let pieces = ["|", "r", "R", "=", "a", "n", "[", "#", "5", "0f", "|[", "é"];
    for_each_combination(&pieces, 4, &mut check_invariants);
}

#[test]
fn screen_reader_text_drops_decoration() {
    assert_eq!(
        for_screen_reader("|c=========|n\n Welcome to |wPortcullis|n. -- ok ***"),
        "\n Welcome to Portcullis. -- ok ***"
    );
}
