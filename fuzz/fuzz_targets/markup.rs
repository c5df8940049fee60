//! Fuzz `portcullis::codec::markup`: `render` at every colour level, `strip`, `escape`,
//! `sanitize_input`, `display_width` and `for_screen_reader` on arbitrary text (the input
//! bytes decoded as UTF-8, invalid sequences replaced by U+FFFD).
//!
//! Invariants:
//! - no panic;
//! - `render(&escape(s), level) == s` at every level;
//! - for text without ESC: `render(s, None)` has no ESC and equals `strip(s)`, and removing
//!   every `ESC[...m` from `render(s, level)` gives `strip(s)` at every level;
//! - `sanitize_input` output has no C0 control, DEL, C1 control or bidi control, and is a
//!   fixed point of `sanitize_input`;
//! - `display_width(s)` is at most twice the number of characters of `strip(s)`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::codec::markup::{
    ColourLevel, display_width, escape, for_screen_reader, render, sanitize_input, strip,
};

const LEVELS: [ColourLevel; 4] = [
    ColourLevel::None,
    ColourLevel::Ansi16,
    ColourLevel::Xterm256,
    ColourLevel::TrueColour,
];

/// Removes every `ESC [ ... m` SGR sequence (parameters: digits and `;`).
fn remove_sgr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("\x1b[") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let params = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        assert!(
            after[params..].starts_with('m'),
            "unterminated or non-SGR escape in rendered output: {s:?}"
        );
        rest = &after[params + 1..];
    }
    out.push_str(rest);
    out
}

fn is_forbidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s: &str = &s;

    let plain = strip(s);
    let escaped = escape(s);
    for level in LEVELS {
        let rendered = render(s, level);
        assert_eq!(
            render(&escaped, level),
            s,
            "render(escape(s)) != s at {level:?}"
        );
        if !s.contains('\x1b') {
            assert_eq!(
                remove_sgr(&rendered),
                plain,
                "render minus SGR != strip at {level:?}"
            );
            if level == ColourLevel::None {
                assert!(!rendered.contains('\x1b'), "ESC rendered at level None");
            }
        }
    }
    if !s.contains('\x1b') {
        assert_eq!(render(s, ColourLevel::None), plain);
    }

    let clean = sanitize_input(s);
    if let Some(c) = clean.chars().find(|&c| is_forbidden(c)) {
        panic!("sanitize_input left {c:?} in {clean:?}");
    }
    assert_eq!(
        sanitize_input(&clean),
        clean,
        "sanitize_input is not idempotent"
    );

    let width = display_width(s);
    let chars = plain.chars().count();
    assert!(
        width <= 2 * chars,
        "display_width {width} > 2 * {chars} chars"
    );

    let _ = for_screen_reader(s);
});
