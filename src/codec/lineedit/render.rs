//! Screen-byte generation for the single input row.
//!
//! Owns [`View`] (what the input row shows: whether the prompt is drawn, the
//! visible slice of the input, and the cursor column inside that slice) and
//! the functions that turn a view, or the change between two views, into
//! terminal bytes. Also owns prompt sanitising.
//!
//! Invariants:
//! - Column arithmetic is relative to the first column after the prompt, so
//!   incremental updates never touch the prompt.
//! - An incremental update ([`diff`]) starts writing at a character boundary
//!   that is not a zero-width character, so combining marks are always
//!   re-sent together with their base character.
//! - A sanitised prompt contains only printable characters and complete SGR
//!   sequences (`ESC [ params m`), so its display width is exactly the sum of
//!   its printable characters' widths and it never moves the cursor.

use super::width::{char_width, str_width};

/// What the input row currently shows (or should show).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct View {
    /// Whether the prompt is drawn before the input.
    pub(crate) prompt_on: bool,
    /// The visible part of the input: a slice of the buffer (possibly empty)
    /// with any leading zero-width characters removed, since a terminal would
    /// attach those to whatever cell precedes the input.
    pub(crate) text: String,
    /// Cursor column, counted from the start of `text`.
    pub(crate) cursor_col: usize,
}

/// Appends a relative horizontal cursor move from column `from` to `to`.
pub(crate) fn move_cursor(from: usize, to: usize, out: &mut Vec<u8>) {
    if to < from {
        push_csi(from - to, b'D', out);
    } else if to > from {
        push_csi(to - from, b'C', out);
    }
}

fn push_csi(n: usize, fin: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\x1b[");
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(fin);
}

/// Clear from the cursor to the end of the line.
pub(crate) const CLEAR_EOL: &[u8] = b"\x1b[K";

/// Writes `view` starting at the column where the prompt begins:
/// prompt (if on), visible text, optional clear-to-end-of-line, then moves
/// the cursor back to the view's cursor column.
pub(crate) fn paint(prompt: &str, view: &View, clear_tail: bool, out: &mut Vec<u8>) {
    if view.prompt_on {
        out.extend_from_slice(prompt.as_bytes());
    }
    out.extend_from_slice(view.text.as_bytes());
    if clear_tail {
        out.extend_from_slice(CLEAR_EOL);
    }
    move_cursor(str_width(&view.text), view.cursor_col, out);
}

/// Writes the minimal-ish bytes that turn `old` (on screen, same prompt
/// state) into `new`.
pub(crate) fn diff(old: &View, new: &View, out: &mut Vec<u8>) {
    if old.text == new.text {
        move_cursor(old.cursor_col, new.cursor_col, out);
        return;
    }
    let p = common_prefix(&old.text, &new.text);
    let head = new.text.get(..p).unwrap_or("");
    let tail = new.text.get(p..).unwrap_or("");
    let col_p = str_width(head);
    move_cursor(old.cursor_col, col_p, out);
    out.extend_from_slice(tail.as_bytes());
    let new_end = col_p + str_width(tail);
    if str_width(&old.text) > new_end {
        out.extend_from_slice(CLEAR_EOL);
    }
    move_cursor(new_end, new.cursor_col, out);
}

/// Byte length of the common prefix of `a` and `b`, backed up so that the
/// character following it (in either string) is not zero-width.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut p = 0;
    for ((i, x), y) in a.char_indices().zip(b.chars()) {
        if x != y {
            break;
        }
        p = i + x.len_utf8();
    }
    let zero_at = |s: &str, p: usize| {
        s.get(p..)
            .and_then(|r| r.chars().next())
            .is_some_and(|c| char_width(c) == 0)
    };
    while p > 0 && (zero_at(a, p) || zero_at(b, p)) {
        match a.get(..p).and_then(|h| h.chars().next_back()) {
            Some(c) => p -= c.len_utf8(),
            None => break,
        }
    }
    p
}

/// Sanitises a prompt: keeps printable characters and complete SGR
/// sequences; drops every other control character and escape sequence
/// (including CR/LF, cursor movement, OSC, and an unterminated trailing
/// sequence). Returns the prompt and its display width.
pub(crate) fn sanitize_prompt(prompt: &str) -> (String, usize) {
    let mut out = String::new();
    let mut width = 0;
    let mut it = prompt.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            match it.next() {
                Some('[') => {
                    let mut seq = String::from("\x1b[");
                    let mut fin = None;
                    for d in it.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&d) {
                            fin = Some(d);
                            break;
                        }
                        if !('\u{20}'..='\u{3f}').contains(&d) {
                            break;
                        }
                        seq.push(d);
                    }
                    let sgr_params = seq.chars().skip(2).all(|d| d.is_ascii_digit() || d == ';');
                    if fin == Some('m') && sgr_params {
                        seq.push('m');
                        out.push_str(&seq);
                    }
                }
                Some(']') => {
                    // OSC: skip to BEL or ST (ESC \).
                    while let Some(d) = it.next() {
                        if d == '\x07' {
                            break;
                        }
                        if d == '\x1b' {
                            if it.peek() == Some(&'\\') {
                                it.next();
                            }
                            break;
                        }
                    }
                }
                _ => {}
            }
        } else if !c.is_control() {
            out.push(c);
            width += char_width(c);
        }
    }
    (out, width)
}
