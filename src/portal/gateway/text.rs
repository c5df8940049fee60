//! The game's text, turned into the messages every front end renders: complete lines become
//! one `text` message, the unfinished line before a GA/EOR (or a pause) becomes a `prompt`.
//!
//! Both carry the `raw` option (Evennia's word): the game's own ANSI colours and characters
//! pass as they are, with no Portcullis markup applied. A telnet player therefore gets the
//! game's bytes back, CR LF line ends included; an SSH player gets them through the line
//! editor, a browser as lines it colours itself.
//!
//! Invariants:
//! - What the game sent is never lost or reordered: every byte ends up in a line or a prompt,
//!   in order (an unfinished line is held until its end, a prompt mark, a pause, or the bound).
//! - Held bytes are bounded: a line longer than [`MAX_PARTIAL`] (unfinished, or finished
//!   within one read) is passed on in pieces of at most that; at most three bytes of an
//!   unfinished UTF-8 character wait for the next read. A `text` message carries at most
//!   [`MAX_MESSAGE`] bytes of lines.
//! - Bytes are decoded as UTF-8 where they are valid; any other byte is taken as ISO-8859-1
//!   (old games send it), so nothing becomes U+FFFD and nothing is dropped.

use crate::shared::message::Message;

/// Longest unfinished line held waiting for its end, in bytes.
pub const MAX_PARTIAL: usize = 16 * 1024;

/// Most text one `text` message carries, in bytes (more lines go in the next message), so a
/// message's size is bounded whatever one read inflated to.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The `raw` option: text passes without markup.
pub const RAW: &str = "raw";

/// Game text in, messages out.
#[derive(Debug)]
pub struct GameText {
    /// The line being assembled, as bytes.
    partial: Vec<u8>,
    /// Longest unfinished line held ([`MAX_PARTIAL`] unless made smaller).
    max_partial: usize,
    /// Most bytes of lines in one `text` message ([`MAX_MESSAGE`] unless made smaller).
    max_message: usize,
}

impl Default for GameText {
    fn default() -> Self {
        Self::with_bounds(MAX_PARTIAL, MAX_MESSAGE)
    }
}

impl GameText {
    /// Game text with other bounds than the gateway's, so that a fuzzer reaches them with
    /// small inputs. `max_partial` is at least 4 (a cut must find a character boundary
    /// within the last three bytes) and `max_message` at least `max_partial`.
    pub fn with_bounds(max_partial: usize, max_message: usize) -> Self {
        let max_partial = max_partial.max(4);
        Self {
            partial: Vec::new(),
            max_partial,
            max_message: max_message.max(max_partial),
        }
    }

    /// Adds text from the game; complete lines are appended to `out` as one `text` message.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Message>) {
        let mut batch = Batch {
            lines: Vec::new(),
            size: 0,
            max: self.max_message,
        };
        let mut rest = bytes;
        loop {
            let (run, line_end) = match rest.iter().position(|&b| b == b'\n') {
                Some(lf) => (&rest[..lf], Some(&rest[lf + 1..])),
                None => (rest, None),
            };
            self.partial.extend_from_slice(run);
            if line_end.is_some() && self.partial.last() == Some(&b'\r') {
                self.partial.pop();
            }
            // A line longer than the bound, finished or not, is passed on in pieces of at
            // most max_partial bytes, cut between characters.
            while self.partial.len() > self.max_partial {
                let cut = match char_end(&self.partial[..self.max_partial]) {
                    0 => self.max_partial,
                    n => n,
                };
                let tail = self.partial.split_off(cut);
                batch.line(&self.partial, out);
                self.partial = tail;
            }
            let Some(after) = line_end else {
                break;
            };
            batch.line(&self.partial, out);
            self.partial.clear();
            rest = after;
        }
        batch.flush(out);
    }

    /// The game marked a prompt (GA or EOR), or went quiet with a line unfinished: that line
    /// becomes a `prompt` message. Nothing when no line is unfinished.
    pub fn prompt(&mut self, out: &mut Vec<Message>) {
        if self.partial.is_empty() {
            return;
        }
        let text = decode(&self.partial);
        self.partial.clear();
        out.push(Message::prompt(text).with(RAW, true));
    }

    /// Whether a line is waiting for its end.
    pub fn has_partial(&self) -> bool {
        !self.partial.is_empty()
    }

    /// Bytes held.
    pub fn held(&self) -> usize {
        self.partial.len()
    }
}

/// The lines of one `push`, sent in `text` messages of at most `max` bytes.
struct Batch {
    /// Lines not sent yet.
    lines: Vec<serde_json::Value>,
    /// Their size in the game's bytes.
    size: usize,
    /// The most bytes of lines one message carries.
    max: usize,
}

impl Batch {
    /// Adds a line (at most `max_partial` bytes, so no more than `max`), first sending what
    /// is batched if the line would take the message over `max`.
    fn line(&mut self, bytes: &[u8], out: &mut Vec<Message>) {
        if self.size + bytes.len() > self.max {
            self.flush(out);
        }
        self.size += bytes.len();
        self.lines.push(decode(bytes).into());
    }

    /// Sends what is batched, if anything.
    fn flush(&mut self, out: &mut Vec<Message>) {
        if !self.lines.is_empty() {
            out.push(text_message(std::mem::take(&mut self.lines)));
        }
        self.size = 0;
    }
}

/// A raw `text` message of these lines.
fn text_message(lines: Vec<serde_json::Value>) -> Message {
    let mut m = Message::new("text").with(RAW, true);
    m.args = lines;
    m
}

/// Where `bytes` can be cut without splitting a UTF-8 character: before an unfinished
/// sequence at the end (at most three bytes), else the end.
fn char_end(bytes: &[u8]) -> usize {
    let start = bytes.len().saturating_sub(3);
    for i in (start..bytes.len()).rev() {
        let b = bytes[i];
        if b & 0xC0 != 0x80 {
            let need = match b {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if bytes.len() - i < need {
                i
            } else {
                bytes.len()
            };
        }
    }
    bytes.len()
}

/// UTF-8 where valid; every other byte as ISO-8859-1.
pub fn decode(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let mut s = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        s.extend(chunk.invalid().iter().map(|&b| char::from(b)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn push(t: &mut GameText, bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        t.push(bytes, &mut out);
        out
    }

    #[test]
    fn lines_are_split_and_raw() {
        let mut t = GameText::default();
        let out = push(&mut t, b"Welcome\r\n\x1b[31mred\x1b[0m |r\r\nname: ");
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].args,
            vec![json!("Welcome"), json!("\x1b[31mred\x1b[0m |r")]
        );
        assert_eq!(out[0].kwargs.get(RAW), Some(&json!(true)));
        let mut out = Vec::new();
        t.prompt(&mut out);
        assert_eq!(out, vec![Message::prompt("name: ").with(RAW, true)]);
        t.prompt(&mut out);
        assert_eq!(out.len(), 1, "no second prompt without text");
    }

    #[test]
    fn a_line_split_across_reads_is_one_line() {
        let mut t = GameText::default();
        assert!(push(&mut t, b"hel").is_empty());
        assert!(push(&mut t, b"lo\r").is_empty());
        let out = push(&mut t, b"\nx");
        assert_eq!(out[0].args, vec![json!("hello")]);
        assert_eq!(t.held(), 1);
    }

    #[test]
    fn latin1_and_split_utf8_survive() {
        assert_eq!(decode(b"caf\xe9"), "café");
        let mut t = GameText::default();
        assert!(push(&mut t, "é".as_bytes()[..1].as_ref()).is_empty());
        let out = push(&mut t, b"\xa9\n");
        assert_eq!(out[0].args, vec![json!("é")]);
    }

    #[test]
    fn a_big_read_becomes_messages_of_bounded_size() {
        let mut t = GameText::default();
        let line = "x".repeat(1000) + "\r\n";
        let out = push(&mut t, line.repeat(1000).as_bytes());
        assert!(out.len() > 1);
        let mut total = 0;
        for m in &out {
            let size: usize = m.lines().map(str::len).sum();
            assert!(size <= MAX_MESSAGE, "{size}");
            total += m.lines().count();
        }
        assert_eq!(total, 1000);
    }

    #[test]
    fn a_huge_finished_line_is_cut_too() {
        // One read (an inflated MCCP read can be 1 MiB) holding a line far past the bounds.
        let mut t = GameText::default();
        let mut read = vec![b'y'; 5 * MAX_MESSAGE + 3];
        read.extend_from_slice(b"\r\nnext\r\n");
        let out = push(&mut t, &read);
        let mut total = 0;
        for m in &out {
            let size: usize = m.lines().map(str::len).sum();
            assert!(size <= MAX_MESSAGE, "{size}");
            assert!(m.lines().all(|l| l.len() <= MAX_PARTIAL));
            total += size;
        }
        assert_eq!(total, 5 * MAX_MESSAGE + 3 + 4);
        assert_eq!(out.last().and_then(|m| m.lines().last()), Some("next"));
        assert_eq!(t.held(), 0);
        // A line of exactly the bound, CR LF ended, stays one line.
        let mut line = vec![b'z'; MAX_PARTIAL];
        line.extend_from_slice(b"\r\n");
        let out = push(&mut t, &line);
        assert_eq!(out.iter().flat_map(Message::lines).count(), 1);
    }

    #[test]
    fn smaller_bounds_are_kept_too() {
        let mut t = GameText::with_bounds(8, 20);
        let out = push(
            &mut t,
            "abcdefghijklmnopqrstuvwxyz\r\n1\r\n2\r\néééééé".as_bytes(),
        );
        let lines: Vec<&str> = out.iter().flat_map(Message::lines).collect();
        assert_eq!(
            lines,
            ["abcdefgh", "ijklmnop", "qrstuvwx", "yz", "1", "2", "éééé"]
        );
        assert!(
            out.iter()
                .all(|m| m.lines().map(str::len).sum::<usize>() <= 20)
        );
        // Twelve bytes of "é": eight passed on, the last four held.
        assert_eq!(t.held(), 4);
        assert_eq!(GameText::with_bounds(0, 0).max_partial, 4);
    }

    #[test]
    fn an_endless_line_is_bounded() {
        let mut t = GameText::default();
        let mut total = 0;
        for _ in 0..100 {
            for m in push(&mut t, &[b'x'; 1000]) {
                total += m.lines().map(str::len).sum::<usize>();
            }
            assert!(t.held() <= MAX_PARTIAL);
        }
        assert_eq!(total + t.held(), 100_000);
        // One read far past the bound is cut into pieces of at most the bound.
        let mut t = GameText::default();
        let out = push(&mut t, &vec![b'z'; 10 * MAX_PARTIAL + 5]);
        assert!(
            out.iter()
                .flat_map(Message::lines)
                .all(|l| l.len() <= MAX_PARTIAL)
        );
        assert!(t.held() <= MAX_PARTIAL);
        // A multi-byte character is never cut in two.
        let mut t = GameText::default();
        let big = "é".repeat(MAX_PARTIAL);
        for m in push(&mut t, big.as_bytes()) {
            assert!(m.lines().all(|l| l.chars().all(|c| c == 'é')));
        }
    }
}
