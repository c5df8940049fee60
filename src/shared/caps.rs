//! What a client can take, typed: [`ClientCaps`] (colour level, text encoding, screen reader,
//! size), computed from a session's protocol_flags in one place, and what follows from them
//! for the bytes a player gets: markup rendered for the colour level or for a screen reader,
//! text encoded and decoded for the client's encoding.
//!
//! Every front end renders through these, so the same output looks the same for the same
//! capabilities whichever way a player connects; the server reads the same caps to show a
//! player their options. Pure: no I/O, nothing from the portal or server.

use crate::codec::markup::{self, ColourLevel};
use crate::shared::session::flag;
use serde_json::{Map, Value};

/// A client's text encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (the default).
    Utf8,
    /// ISO-8859-1: one byte a character, `?` for what it cannot show.
    Latin1,
}

/// What a client can take, as its protocol_flags say; recomputed whenever they change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientCaps {
    /// How much colour to send.
    pub colour: ColourLevel,
    /// How text is encoded on the wire (for byte-stream front ends).
    pub encoding: Encoding,
    /// Whether a screen reader reads the output: no colour, no decoration.
    pub screen_reader: bool,
    /// Columns (`SCREENWIDTH`, 80 when unknown).
    pub width: u16,
    /// Rows (`SCREENHEIGHT`, 24 when unknown).
    pub height: u16,
}

impl Default for ClientCaps {
    fn default() -> Self {
        ClientCaps::from_flags(&crate::shared::session::default_flags())
    }
}

impl ClientCaps {
    /// The capabilities a session's protocol_flags describe.
    pub fn from_flags(flags: &Map<String, Value>) -> Self {
        let on = |k: &str| flags.get(k).and_then(Value::as_bool).unwrap_or(false);
        let size = |k: &str, default: u16| {
            flags
                .get(k)
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let colour = if on(flag::NOCOLOR) {
            ColourLevel::None
        } else if on(flag::TRUECOLOR) {
            ColourLevel::TrueColour
        } else if on(flag::XTERM256) {
            ColourLevel::Xterm256
        } else if on(flag::ANSI) {
            ColourLevel::Ansi16
        } else {
            ColourLevel::None
        };
        let latin1 = matches!(
            flags
                .get(flag::ENCODING)
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("latin-1" | "latin1" | "iso-8859-1" | "ascii")
        );
        ClientCaps {
            colour,
            encoding: if latin1 {
                Encoding::Latin1
            } else {
                Encoding::Utf8
            },
            screen_reader: on(flag::SCREENREADER),
            width: size(flag::SCREENWIDTH, 80),
            height: size(flag::SCREENHEIGHT, 24),
        }
    }

    /// The same capabilities without colour (output that is likely piped, e.g. SSH without
    /// a terminal).
    pub fn without_colour(self) -> Self {
        ClientCaps {
            colour: ColourLevel::None,
            ..self
        }
    }

    /// Markup rendered for this client: ANSI at its colour level, or plain text with
    /// decoration removed for a screen reader.
    pub fn render(&self, text: &str) -> String {
        if self.screen_reader {
            markup::for_screen_reader(text)
        } else {
            markup::render(text, self.colour)
        }
    }

    /// A string of a `text` or `prompt` message rendered for this client: markup as
    /// [`render`](Self::render) does, or, for a `raw` message, the string as it is.
    pub fn render_str<'a>(&self, s: &'a str, raw: bool) -> std::borrow::Cow<'a, str> {
        if raw {
            std::borrow::Cow::Borrowed(s)
        } else {
            std::borrow::Cow::Owned(self.render(s))
        }
    }

    /// Text as bytes in the client's encoding.
    pub fn encode(&self, text: &str) -> Vec<u8> {
        match self.encoding {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
        }
    }

    /// A line the client sent: UTF-8 when valid (unless the client uses latin-1), else
    /// latin-1, so no byte a player typed is lost.
    pub fn decode(&self, raw: &[u8]) -> String {
        if self.encoding == Encoding::Utf8
            && let Ok(s) = std::str::from_utf8(raw)
        {
            return s.to_string();
        }
        raw.iter().map(|&b| char::from(b)).collect()
    }
}

impl ColourLevel {
    /// The word a player uses for it (`options colour …`).
    pub fn name(self) -> &'static str {
        match self {
            ColourLevel::None => "none",
            ColourLevel::Ansi16 => "ansi",
            ColourLevel::Xterm256 => "xterm256",
            ColourLevel::TrueColour => "truecolour",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(pairs: &[(&str, Value)]) -> ClientCaps {
        let mut f = crate::shared::session::default_flags();
        for (k, v) in pairs {
            f.insert((*k).into(), v.clone());
        }
        ClientCaps::from_flags(&f)
    }

    #[test]
    fn lines_decode_as_utf8_or_latin1() {
        let c = ClientCaps::default();
        assert_eq!(c.decode("héllo".as_bytes()), "héllo");
        assert_eq!(c.decode(b"caf\xe9"), "café");
        let l = caps(&[(flag::ENCODING, Value::from("latin-1"))]);
        assert_eq!(l.encoding, Encoding::Latin1);
        assert_eq!(l.decode(b"caf\xe9"), "café");
        assert_eq!(l.encode("café 漢"), b"caf\xe9 ?".to_vec());
    }

    #[test]
    fn colour_levels_follow_flags_and_nocolor_wins() {
        assert_eq!(ClientCaps::default().colour, ColourLevel::Ansi16);
        let x = caps(&[(flag::XTERM256, Value::Bool(true))]);
        assert_eq!(x.colour, ColourLevel::Xterm256);
        let t = caps(&[
            (flag::XTERM256, Value::Bool(true)),
            (flag::TRUECOLOR, Value::Bool(true)),
        ]);
        assert_eq!(t.colour, ColourLevel::TrueColour);
        let n = caps(&[
            (flag::TRUECOLOR, Value::Bool(true)),
            (flag::NOCOLOR, Value::Bool(true)),
        ]);
        assert_eq!(n.colour, ColourLevel::None);
        assert_eq!(
            caps(&[(flag::ANSI, Value::Bool(false))]).colour.name(),
            "none"
        );
    }

    #[test]
    fn a_screen_reader_gets_plain_text_at_any_colour_level() {
        let r = caps(&[
            (flag::TRUECOLOR, Value::Bool(true)),
            (flag::SCREENREADER, Value::Bool(true)),
        ]);
        assert!(r.screen_reader);
        assert_eq!(r.render("|rred|n"), markup::for_screen_reader("|rred|n"));
        assert!(!r.render("|rred|n").contains('\x1b'));
        let plain = caps(&[(flag::TRUECOLOR, Value::Bool(true))]);
        assert!(plain.render("|rred|n").contains('\x1b'));
    }

    #[test]
    fn sizes_default_and_clamp() {
        let c = caps(&[
            (flag::SCREENWIDTH, Value::from(132)),
            (flag::SCREENHEIGHT, Value::from(0)),
        ]);
        assert_eq!((c.width, c.height), (132, 24));
        let big = caps(&[(flag::SCREENWIDTH, Value::from(1u64 << 40))]);
        assert_eq!(big.width, 80);
    }
}
