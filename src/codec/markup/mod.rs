//! Colour-markup renderer and player-text sanitiser.
//!
//! This module owns the pipe-style colour markup used in game text (`|r`,
//! `|[b`, `|500`, `|#ff8800`, ...) and turns it into ANSI SGR escape
//! sequences for a client's colour capability ([`ColourLevel`]). It also owns
//! stripping markup ([`strip`]), escaping text so it shows literally
//! ([`escape`]), cleaning text a player typed before others see it
//! ([`sanitize_input`]), making it safe to embed in another player's line ([`player_text`])
//! and measuring on-screen width ([`display_width`]).
//!
//! # Markup
//!
//! | code | meaning | SGR (any colour level) |
//! |------|---------|------------------------|
//! | `\|n` | reset | `0` |
//! | `\|\|` | a literal `\|` | – |
//! | `\|r \|g \|y \|b \|m \|c \|w \|x` | normal foreground | `22;3N` |
//! | `\|R \|G \|Y \|B \|M \|C \|W \|X` | bright foreground | `1;3N` |
//! | `\|[r` .. `\|[x` | background | `4N` |
//! | `\|h` / `\|H` | hilite (bold) on / off | `1` / `22` |
//! | `\|u` / `\|U` | underline on / off | `4` / `24` |
//! | `\|i` / `\|I` | italic on / off | `3` / `23` |
//! | `\|*` | inverse | `7` |
//! | `\|^` | blink | `5` |
//! | `\|/` | newline `"\n"` | – |
//! | `\|-` | tab, rendered as four spaces | – |
//! | `\|_` | a space | – |
//! | `\|RGB` (digits 0-5) | xterm colour cube, foreground | `38;5;(16+36R+6G+B)` |
//! | `\|[RGB` | xterm colour cube, background | `48;5;…` |
//! | `\|=a` .. `\|=z` | xterm greyscale, `a` darkest | `38;5;232..=255` |
//! | `\|[=a` .. `\|[=z` | xterm greyscale background | `48;5;232..=255` |
//! | `\|#rrggbb` | 24-bit foreground (hex, any case) | `38;2;r;g;b` |
//! | `\|[#rrggbb` | 24-bit background | `48;2;r;g;b` |
//!
//! `N` is 0 black (`x`), 1 red, 2 green, 3 yellow, 4 blue, 5 magenta,
//! 6 cyan, 7 white.
//!
//! Brightness in the 16-colour set uses the "hilite" convention: a bright
//! colour is bold plus the normal colour (`1;3N`), and a normal colour also
//! switches bold off (`22;3N`) so that brightness from an earlier bright code
//! never leaks into later normal-coloured text. Consequently `|h` must come
//! *after* a normal colour to brighten it (`|r|h` looks like `|R`).
//!
//! The greyscale letters are spread over the 24 grey entries by rounding
//! `232 + i*23/25` (i = 0 for `a` .. 25 for `z`), so `a` is 232 and `z` 255.
//!
//! # Downgrading
//!
//! * [`ColourLevel::TrueColour`]: everything is emitted as written.
//! * [`ColourLevel::Xterm256`]: `|#rrggbb` becomes the nearest xterm entry
//!   (colour cube levels 0,95,135,175,215,255 or grey ramp `8+10k`), by
//!   squared RGB distance.
//! * [`ColourLevel::Ansi16`]: xterm and 24-bit colours become the nearest
//!   of the xterm default 16-colour palette (0,0,0 / 205,0,0 / 0,205,0 /
//!   205,205,0 / 0,0,238 / 205,0,205 / 0,205,205 / 229,229,229 and bright
//!   127,127,127 / 255,0,0 / 0,255,0 / 255,255,0 / 92,92,255 / 255,0,255 /
//!   0,255,255 / 255,255,255). "Nearest" is squared RGB distance plus the
//!   squared difference in chroma (max - min channel), which keeps greys
//!   mapping to black/grey/white rather than to a dull hue. A
//!   foreground may become a bright colour (`1;3N`) or normal (`22;3N`); a
//!   background only picks among the 8 normal colours (`4N`), since there is
//!   no portable bright background in this convention.
//! * [`ColourLevel::None`]: every code produces nothing, except `||` (a
//!   literal `|`) and the text codes `|/`, `|-` and `|_`.
//!
//! # Invariants
//!
//! * [`render`] never panics; any `|` not starting a complete, known code is
//!   kept literally together with what follows it (`|z`, `|12`, a trailing
//!   `|`, `|[` at the end, `|#12` ...).
//! * Codes are never merged: each code yields exactly its own `ESC[...m`.
//! * If a non-reset SGR was emitted and no reset followed it, `ESC[0m` is
//!   appended, so colour never leaks past the end of the rendered text.
//! * Rendering does not add or remove anything else: removing every
//!   `ESC[...m` produced from markup leaves exactly [`strip`]'s output.
//!   Existing ESC bytes in the input are passed through untouched by
//!   [`render`]; use [`sanitize_input`] on untrusted text.
//! * `render(&escape(s), level) == s` for every `s` and level.

use std::fmt::Write as _;

/// How much colour a client can display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColourLevel {
    /// No colour: all markup is stripped.
    None,
    /// The basic 8 colours plus bold/"bright" (SGR 30-37, 40-47, 1).
    Ansi16,
    /// The xterm 256-colour palette (SGR 38;5 / 48;5).
    Xterm256,
    /// 24-bit colour (SGR 38;2 / 48;2).
    TrueColour,
}

/// Four spaces, the rendering of `|-`.
const TAB_TEXT: &str = "    ";

/// SGR reset sequence.
const RESET: &str = "\x1b[0m";

/// xterm's default 16 colours: indices 0..8 normal, 8..16 bright.
const PALETTE16: [(u8, u8, u8); 16] = [
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
];

/// The six intensity levels of the xterm 6x6x6 colour cube.
const CUBE_LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// One parsed markup code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// `||`: a literal pipe.
    Pipe,
    /// Codes that expand to plain text (`|/`, `|-`, `|_`).
    Text(&'static str),
    /// `|n`.
    Reset,
    /// A fixed attribute SGR, e.g. `"1"` for `|h`.
    Attr(&'static str),
    /// One of the 8 basic colours (`idx` 0..8); `bright` only for foreground.
    Basic { fg: bool, idx: u8, bright: bool },
    /// An xterm 256-colour palette entry (16..=255 from markup).
    Xterm { fg: bool, n: u8 },
    /// A 24-bit colour.
    Rgb { fg: bool, r: u8, g: u8, b: u8 },
}

/// Renders Evennia-style markup to ANSI SGR sequences for the given level.
/// Never panics on any input; unknown or incomplete codes are left as
/// literal text.
pub fn render(text: &str, level: ColourLevel) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    // True while a non-reset SGR has been emitted and not yet reset.
    let mut dirty = false;
    let mut rest = text;
    while let Some(pos) = rest.find('|') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match parse_code(after) {
            Some((token, used)) => {
                emit(&mut out, token, level, &mut dirty);
                // `used` counts ASCII bytes only, so this is a char boundary.
                rest = after.get(used..).unwrap_or("");
            }
            None => {
                out.push('|');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if dirty {
        out.push_str(RESET);
    }
    out
}

/// Removes markup, giving the plain text (same as
/// `render(text, ColourLevel::None)`).
pub fn strip(text: &str) -> String {
    render(text, ColourLevel::None)
}

/// Makes text a player typed safe to show to others.
///
/// Removes C0 control characters (U+0000..=U+001F, tab excepted: it becomes a
/// space), DEL, C1 controls (U+0080..=U+009F) and the Unicode bidi
/// embedding/override/isolate controls (U+202A..=U+202E, U+2066..=U+2069).
/// Everything else is kept, including colour markup such as `|r`. ESC is a
/// C0 control, so raw escape sequences never pass through.
pub fn sanitize_input(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => None,
            _ => Some(c),
        })
        .collect()
}

/// Makes text one player sends to others safe to embed in their output: it stays on the
/// line it was put in, so it cannot pass itself off as a line from the server or another
/// player.
///
/// Control characters go as in [`sanitize_input`] (so no escape sequence, carriage return or
/// cursor movement), every run of whitespace (Unicode line and paragraph separators
/// included) becomes one space (no padding that wraps onto a fresh-looking row), and the
/// text codes `|/` (newline), `|-` (tab) and `|_` (space) show literally. With `colour`,
/// colour codes are kept and closed with `|n` at the end, so they cannot tint what follows;
/// without it every `|` shows literally.
pub fn player_text(text: &str, colour: bool) -> String {
    let clean = sanitize_input(text);
    let mut flat = String::with_capacity(clean.len());
    let mut words = clean.split(char::is_whitespace).filter(|w| !w.is_empty());
    if let Some(first) = words.next() {
        flat.push_str(first);
        for w in words {
            flat.push(' ');
            flat.push_str(w);
        }
    }
    if !colour {
        return escape(&flat);
    }
    let mut out = String::with_capacity(flat.len() + 4);
    let mut rest = flat.as_str();
    while let Some(pos) = rest.find('|') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match parse_code(after) {
            Some((Token::Text(_), _)) => {
                // Shown literally: `||` then the code's letter, left for the next turn.
                out.push_str("||");
                rest = after;
            }
            Some((_, used)) => {
                out.push('|');
                out.push_str(after.get(..used).unwrap_or(""));
                rest = after.get(used..).unwrap_or("");
            }
            None => {
                // A lone `|` (or an unknown code) is doubled, so that nothing the player
                // wrote joins with what follows into a code.
                out.push_str("||");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if out.contains('|') {
        out.push_str("|n");
    }
    out
}

/// Escapes markup so that text shows literally (every `|` doubled), for names
/// or when a player wants raw text.
pub fn escape(text: &str) -> String {
    text.replace('|', "||")
}

/// Display width of text after stripping markup, in terminal columns.
///
/// Measured with the line editor's tables ([`crate::codec::lineedit::width`]), so that
/// game text and the SSH input line agree: East Asian Wide/Fullwidth and emoji
/// count 2; combining marks, zero-width and control characters count 0;
/// everything else counts 1.
pub fn display_width(text: &str) -> usize {
    crate::codec::lineedit::width::str_width(&strip(text))
}

/// Parses the code after a `|`. Returns the token and the number of bytes of
/// `s` it consumed (all ASCII), or `None` if `s` does not start with a
/// complete known code.
fn parse_code(s: &str) -> Option<(Token, usize)> {
    let b = s.as_bytes();
    let first = *b.first()?;
    let token = match first {
        b'|' => Token::Pipe,
        b'n' => Token::Reset,
        b'/' => Token::Text("\n"),
        b'-' => Token::Text(TAB_TEXT),
        b'_' => Token::Text(" "),
        b'h' => Token::Attr("1"),
        b'H' => Token::Attr("22"),
        b'u' => Token::Attr("4"),
        b'U' => Token::Attr("24"),
        b'i' => Token::Attr("3"),
        b'I' => Token::Attr("23"),
        b'*' => Token::Attr("7"),
        b'^' => Token::Attr("5"),
        b'[' => {
            let (token, used) = parse_colour(&b[1..], false)?;
            return Some((token, used + 1));
        }
        _ => return parse_colour(b, true),
    };
    Some((token, 1))
}

/// Parses a colour specification (letter, `RGB` digits, `=x` grey or
/// `#rrggbb`) for the foreground (`fg`) or background. Bright letters are
/// only accepted for the foreground.
fn parse_colour(b: &[u8], fg: bool) -> Option<(Token, usize)> {
    let first = *b.first()?;
    if let Some(idx) = basic_index(first.to_ascii_lowercase()) {
        let bright = first.is_ascii_uppercase();
        if bright && !fg {
            return None;
        }
        return Some((Token::Basic { fg, idx, bright }, 1));
    }
    match first {
        b'0'..=b'5' => {
            let r = cube_digit(first)?;
            let g = cube_digit(*b.get(1)?)?;
            let bl = cube_digit(*b.get(2)?)?;
            Some((
                Token::Xterm {
                    fg,
                    n: 16 + 36 * r + 6 * g + bl,
                },
                3,
            ))
        }
        b'=' => {
            let letter = *b.get(1)?;
            if !letter.is_ascii_lowercase() {
                return None;
            }
            let i = u32::from(letter - b'a');
            // Spread 26 letters over the 24 grey entries, rounding.
            let step = u8::try_from((i * 23 + 12) / 25).ok()?;
            Some((Token::Xterm { fg, n: 232 + step }, 2))
        }
        b'#' => {
            let r = hex_byte(b.get(1..3)?)?;
            let g = hex_byte(b.get(3..5)?)?;
            let bl = hex_byte(b.get(5..7)?)?;
            Some((Token::Rgb { fg, r, g, b: bl }, 7))
        }
        _ => None,
    }
}

/// SGR colour number (0..8) for a lowercase colour letter.
fn basic_index(letter: u8) -> Option<u8> {
    match letter {
        b'x' => Some(0),
        b'r' => Some(1),
        b'g' => Some(2),
        b'y' => Some(3),
        b'b' => Some(4),
        b'm' => Some(5),
        b'c' => Some(6),
        b'w' => Some(7),
        _ => None,
    }
}

fn cube_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'5' => Some(c - b'0'),
        _ => None,
    }
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let hi = char::from(*pair.first()?).to_digit(16)?;
    let lo = char::from(*pair.get(1)?).to_digit(16)?;
    u8::try_from(hi * 16 + lo).ok()
}

/// Appends the rendering of `token` at `level` to `out`.
fn emit(out: &mut String, token: Token, level: ColourLevel, dirty: &mut bool) {
    match token {
        Token::Pipe => out.push('|'),
        Token::Text(t) => out.push_str(t),
        _ if level == ColourLevel::None => {}
        Token::Reset => {
            out.push_str(RESET);
            *dirty = false;
        }
        Token::Attr(p) => push_sgr(out, format_args!("{p}"), dirty),
        Token::Basic { fg, idx, bright } => push_basic(out, fg, idx, bright, dirty),
        Token::Xterm { fg, n } => {
            if level == ColourLevel::Ansi16 {
                let (idx, bright) = nearest16(xterm_rgb(n), fg);
                push_basic(out, fg, idx, bright, dirty);
            } else {
                let layer = if fg { 38 } else { 48 };
                push_sgr(out, format_args!("{layer};5;{n}"), dirty);
            }
        }
        Token::Rgb { fg, r, g, b } => match level {
            ColourLevel::TrueColour => {
                let layer = if fg { 38 } else { 48 };
                push_sgr(out, format_args!("{layer};2;{r};{g};{b}"), dirty);
            }
            ColourLevel::Xterm256 => {
                let layer = if fg { 38 } else { 48 };
                let n = nearest256((r, g, b));
                push_sgr(out, format_args!("{layer};5;{n}"), dirty);
            }
            _ => {
                let (idx, bright) = nearest16((r, g, b), fg);
                push_basic(out, fg, idx, bright, dirty);
            }
        },
    }
}

fn push_basic(out: &mut String, fg: bool, idx: u8, bright: bool, dirty: &mut bool) {
    match (fg, bright) {
        (true, true) => push_sgr(out, format_args!("1;3{idx}"), dirty),
        (true, false) => push_sgr(out, format_args!("22;3{idx}"), dirty),
        (false, _) => push_sgr(out, format_args!("4{idx}"), dirty),
    }
}

fn push_sgr(out: &mut String, params: std::fmt::Arguments<'_>, dirty: &mut bool) {
    // Writing to a String cannot fail.
    let _ = write!(out, "\x1b[{params}m");
    *dirty = true;
}

/// The RGB value xterm uses for palette entry `n`.
fn xterm_rgb(n: u8) -> (u8, u8, u8) {
    match n {
        0..=15 => PALETTE16[usize::from(n)],
        16..=231 => {
            let i = n - 16;
            let level = |k: u8| CUBE_LEVELS[usize::from(k % 6)];
            (level(i / 36), level(i / 6), level(i))
        }
        _ => {
            let v = 8 + 10 * (n - 232);
            (v, v, v)
        }
    }
}

/// Squared RGB distance.
fn distance(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    sq_diff(a.0, b.0) + sq_diff(a.1, b.1) + sq_diff(a.2, b.2)
}

fn sq_diff(x: u8, y: u8) -> u32 {
    let diff = u32::from(x.abs_diff(y));
    diff * diff
}

/// Chroma (max - min channel): 0 for greys, large for saturated colours.
fn chroma(c: (u8, u8, u8)) -> u8 {
    let max = c.0.max(c.1).max(c.2);
    let min = c.0.min(c.1).min(c.2);
    max - min
}

/// Nearest of the 16 basic colours: `(index 0..8, bright)`. Backgrounds
/// (`allow_bright == false`) only choose among the 8 normal colours.
fn nearest16(rgb: (u8, u8, u8), allow_bright: bool) -> (u8, bool) {
    let candidates = if allow_bright { 16 } else { 8 };
    let mut best = 0u8;
    let mut best_dist = u32::MAX;
    for (i, &entry) in PALETTE16.iter().enumerate().take(candidates) {
        // The chroma term keeps greys grey (mid-grey would otherwise be
        // nearest to yellow) and saturated colours saturated.
        let dist = distance(rgb, entry) + sq_diff(chroma(rgb), chroma(entry));
        if dist < best_dist {
            best_dist = dist;
            best = u8::try_from(i).unwrap_or(0);
        }
    }
    (best % 8, best >= 8)
}

/// Nearest xterm palette entry in the colour cube (16..=231) or the grey
/// ramp (232..=255).
fn nearest256(rgb: (u8, u8, u8)) -> u8 {
    let cube_index = |v: u8| -> u8 {
        let mut best = 0u8;
        for (i, &level) in CUBE_LEVELS.iter().enumerate() {
            if v.abs_diff(level) < v.abs_diff(CUBE_LEVELS[usize::from(best)]) {
                best = u8::try_from(i).unwrap_or(0);
            }
        }
        best
    };
    let cube = 16 + 36 * cube_index(rgb.0) + 6 * cube_index(rgb.1) + cube_index(rgb.2);

    let avg = (u32::from(rgb.0) + u32::from(rgb.1) + u32::from(rgb.2)) / 3;
    let grey_step = (avg.saturating_sub(3) / 10).min(23);
    let grey = 232 + u8::try_from(grey_step).unwrap_or(23);

    if distance(rgb, xterm_rgb(grey)) < distance(rgb, xterm_rgb(cube)) {
        grey
    } else {
        cube
    }
}

/// Text for a screen reader: markup removed, and decoration (runs of four or more of the same
/// `= - _ * ~ # +` character, as in banner rules) dropped so it is not read out.
pub fn for_screen_reader(text: &str) -> String {
    let plain = strip(text);
    let mut out = String::with_capacity(plain.len());
    let chars: Vec<char> = plain.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut j = i;
        while j < chars.len() && chars[j] == c {
            j += 1;
        }
        if !(j - i >= 4 && "=-_*~#+".contains(c)) {
            out.extend(&chars[i..j]);
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests;
