//! Text from a telnet-style stream, for matching: telnet commands (IAC sequences) and ANSI
//! escape sequences removed, `\r` dropped, kept as bytes (decoded lossily only for display).
//!
//! The filter is streaming: a sequence split across reads is handled.

/// Removes telnet commands and ANSI escapes from a byte stream.
#[derive(Debug, Default, Clone)]
pub struct TextFilter {
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// After IAC.
    Iac,
    /// After IAC WILL/WONT/DO/DONT: one option byte follows.
    Option,
    /// Inside IAC SB … IAC SE.
    Sub,
    /// IAC inside a subnegotiation.
    SubIac,
    /// After ESC.
    Esc,
    /// Inside ESC [ … final byte.
    Csi,
    /// Inside ESC ] … BEL or ESC \.
    Osc,
    /// ESC inside an OSC string.
    OscEsc,
}

const IAC: u8 = 0xFF;
const SB: u8 = 0xFA;
const SE: u8 = 0xF0;
const ESC: u8 = 0x1B;

impl TextFilter {
    /// Appends the text in `input` to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.state = match self.state {
                State::Text => match b {
                    IAC => State::Iac,
                    ESC => State::Esc,
                    b'\r' | 0 => State::Text,
                    _ => {
                        out.push(b);
                        State::Text
                    }
                },
                State::Iac => match b {
                    IAC => {
                        out.push(IAC);
                        State::Text
                    }
                    0xFB..=0xFE => State::Option,
                    SB => State::Sub,
                    _ => State::Text,
                },
                State::Option => State::Text,
                State::Sub => {
                    if b == IAC {
                        State::SubIac
                    } else {
                        State::Sub
                    }
                }
                State::SubIac => match b {
                    SE => State::Text,
                    _ => State::Sub,
                },
                State::Esc => match b {
                    b'[' => State::Csi,
                    b']' => State::Osc,
                    IAC => State::Iac,
                    // Two-byte escapes (ESC 7, ESC M, …) end here.
                    _ => State::Text,
                },
                State::Csi => {
                    if (0x40..=0x7E).contains(&b) {
                        State::Text
                    } else {
                        State::Csi
                    }
                }
                State::Osc => match b {
                    0x07 => State::Text,
                    ESC => State::OscEsc,
                    _ => State::Osc,
                },
                State::OscEsc => State::Text,
            };
        }
    }
}

/// Where `needle` first occurs in `hay`, starting at `from`.
pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from.min(hay.len()));
    }
    if from >= hay.len() || hay.len() - from < needle.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The last `max` characters of `text`, lossily decoded, on one line (for error messages).
pub fn tail(text: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(text);
    let chars: Vec<char> = s.chars().collect();
    let start = chars.len().saturating_sub(max);
    chars[start..]
        .iter()
        .map(|c| if c.is_control() { ' ' } else { *c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> String {
        let mut f = TextFilter::default();
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strips_telnet_and_ansi() {
        let input: &[u8] =
            b"\xff\xfb\x01Hel\xff\xfa\x18\x01\xff\xf0lo \x1b[1;31mred\x1b[0m\r\n\xff\xff!";
        let mut out = Vec::new();
        TextFilter::default().feed(input, &mut out);
        assert_eq!(out, b"Hello red\n\xff!");
    }

    #[test]
    fn split_sequences() {
        let s = run(&[
            b"a\xff",
            b"\xfd",
            b"\x18b\x1b",
            b"[3",
            b"2mc\x1b]0;title\x07d",
        ]);
        assert_eq!(s, "abcd");
    }

    #[test]
    fn finds() {
        assert_eq!(find(b"hello world", b"world", 0), Some(6));
        assert_eq!(find(b"hello world", b"world", 7), None);
        assert_eq!(find(b"ab", b"abc", 0), None);
        assert_eq!(
            tail(b"x\r\n  Welcome,\n bench0.", 100),
            "x Welcome, bench0."
        );
    }
}
