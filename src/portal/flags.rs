//! What a session's protocol_flags mean for its bytes, and what clients' words mean for its
//! protocol_flags: colour level, text encoding, and the flags learnt from terminal types
//! (TTYPE, PTY TERM), MTTS bits, MNES variables and known client names.
//!
//! Pure functions over a flags map, shared by the telnet, TLS and SSH front ends so that a
//! client gets the same treatment whichever way it connects.

use crate::markup::ColourLevel;
use crate::telnet;
use serde_json::{Map, Value};

/// The colour level the flags ask for.
pub fn colour_level(flags: &Map<String, Value>) -> ColourLevel {
    let on = |k: &str| flags.get(k).and_then(Value::as_bool).unwrap_or(false);
    if on("NOCOLOR") {
        ColourLevel::None
    } else if on("TRUECOLOR") {
        ColourLevel::TrueColour
    } else if on("XTERM256") {
        ColourLevel::Xterm256
    } else if on("ANSI") {
        ColourLevel::Ansi16
    } else {
        ColourLevel::None
    }
}

fn is_latin1(flags: &Map<String, Value>) -> bool {
    matches!(
        flags
            .get("ENCODING")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("latin-1" | "latin1" | "iso-8859-1" | "ascii")
    )
}

/// Encodes output for the client's encoding (UTF-8, or latin-1 with `?` for what it lacks).
pub fn encode_for(s: &str, flags: &Map<String, Value>) -> Vec<u8> {
    if is_latin1(flags) {
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect()
    } else {
        s.as_bytes().to_vec()
    }
}

/// Decodes a line: UTF-8 when valid (unless the client uses latin-1), else latin-1, so no byte
/// a player typed is lost.
pub fn decode_line(raw: &[u8], flags: &Map<String, Value>) -> String {
    if !is_latin1(flags)
        && let Ok(s) = std::str::from_utf8(raw)
    {
        return s.to_string();
    }
    raw.iter().map(|&b| char::from(b)).collect()
}

/// Colour flags implied by a terminal or client name.
pub fn term_flags(name: &str, flags: &mut Map<String, Value>) {
    let n = name.to_ascii_uppercase();
    if n.contains("256COL") {
        flags.insert("XTERM256".into(), Value::Bool(true));
        flags.insert("ANSI".into(), Value::Bool(true));
    }
    if n.contains("TRUECOLOR") || n.contains("24BIT") || n.contains("DIRECT") {
        flags.insert("TRUECOLOR".into(), Value::Bool(true));
    }
    if n == "DUMB" {
        flags.insert("ANSI".into(), Value::Bool(false));
    }
}

/// Flags from MNES variables sent over NEW-ENVIRON.
pub fn environ_flags(vars: &[(String, Option<String>)], flags: &mut Map<String, Value>) {
    for (name, value) in vars {
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        let value: String = value.trim().chars().take(64).collect();
        match name.as_str() {
            "CLIENT_NAME" => {
                flags.insert("CLIENTNAME".into(), Value::from(value.clone()));
                client_flags(&value, flags);
            }
            "CLIENT_VERSION" => {
                flags.insert("CLIENTVERSION".into(), Value::from(value));
            }
            "TERMINAL_TYPE" => {
                term_flags(&value, flags);
                flags.insert("TERM".into(), Value::from(value));
            }
            "CHARSET" if value.eq_ignore_ascii_case("utf-8") => {
                flags.insert("ENCODING".into(), Value::from("utf-8"));
                flags.insert("UTF-8".into(), Value::Bool(true));
            }
            "MTTS" => {
                if let Ok(bits) = value.trim().parse::<u32>() {
                    mtts_flags(bits, flags);
                }
            }
            _ => {}
        }
    }
}

/// Colour support known for MUD clients by name (beyond what they say in MTTS): clients
/// that render 256 colours, and those that render 24-bit colour too.
pub fn client_flags(name: &str, flags: &mut Map<String, Value>) {
    const XTERM256: &[&str] = &[
        "MUDLET",
        "MUSHCLIENT",
        "CMUD",
        "ATLANTIS",
        "KILDCLIENT",
        "TINTIN++",
        "TINYFUGUE",
        "KBTIN",
        "BLIGHTMUD",
        "POTATO",
        "BEIP",
        "PUTTY",
        "AXMUD",
    ];
    const TRUECOLOR: &[&str] = &["MUDLET", "BLIGHTMUD", "TINTIN++", "AXMUD"];
    let n = name.to_ascii_uppercase();
    let base = n.split_whitespace().next().unwrap_or("");
    if XTERM256.contains(&base) {
        flags.insert("ANSI".into(), Value::Bool(true));
        flags.insert("XTERM256".into(), Value::Bool(true));
    }
    if TRUECOLOR.contains(&base) {
        flags.insert("TRUECOLOR".into(), Value::Bool(true));
    }
}

/// Flags from an MTTS bit field.
pub fn mtts_flags(bits: u32, flags: &mut Map<String, Value>) {
    use telnet::mtts;
    // The SSL bit is kept as MTTS_SSL (the client can do TLS): `SSL` itself means this
    // session's transport is encrypted, which the portal knows better than the client's claim.
    let table: [(u32, &str); 12] = [
        (mtts::ANSI, "ANSI"),
        (mtts::VT100, "VT100"),
        (mtts::UTF8, "UTF-8"),
        (mtts::COLORS_256, "XTERM256"),
        (mtts::MOUSE_TRACKING, "MOUSE_TRACKING"),
        (mtts::OSC_COLOR_PALETTE, "OSC_COLOR_PALETTE"),
        (mtts::SCREEN_READER, "SCREENREADER"),
        (mtts::PROXY, "PROXY"),
        (mtts::TRUECOLOR, "TRUECOLOR"),
        (mtts::MNES, "MNES"),
        (mtts::MSLP, "MSLP"),
        (mtts::SSL, "MTTS_SSL"),
    ];
    for (bit, key) in table {
        flags.insert(key.into(), Value::Bool(bits & bit != 0));
    }
    if bits & mtts::UTF8 != 0 {
        flags.insert("ENCODING".into(), Value::from("utf-8"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_decode_as_utf8_or_latin1() {
        let f = crate::session::default_flags();
        assert_eq!(decode_line("héllo".as_bytes(), &f), "héllo");
        assert_eq!(decode_line(b"caf\xe9", &f), "café");
        let mut l = f.clone();
        l.insert("ENCODING".into(), Value::from("latin-1"));
        assert_eq!(decode_line(b"caf\xe9", &l), "café");
        assert_eq!(encode_for("café 漢", &l), b"caf\xe9 ?".to_vec());
    }

    #[test]
    fn colour_levels_follow_flags() {
        let mut f = crate::session::default_flags();
        assert_eq!(colour_level(&f), ColourLevel::Ansi16);
        mtts_flags(1 | 4 | 8, &mut f);
        assert_eq!(colour_level(&f), ColourLevel::Xterm256);
        f.insert("NOCOLOR".into(), Value::Bool(true));
        assert_eq!(colour_level(&f), ColourLevel::None);
    }
}
