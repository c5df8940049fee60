//! What clients' words mean for a session's protocol_flags: the flags learnt from terminal
//! types (TTYPE, PTY TERM), MTTS bits, MNES variables and known client names. (What the flags
//! mean for the bytes a client gets is [`crate::shared::caps`].)
//!
//! Pure functions over a flags map, shared by the telnet, TLS and SSH front ends so that a
//! client gets the same treatment whichever way it connects.

use crate::codec::telnet;
use crate::shared::session::flag;
use serde_json::{Map, Value};

/// Colour flags implied by a terminal or client name.
pub fn term_flags(name: &str, flags: &mut Map<String, Value>) {
    let n = name.to_ascii_uppercase();
    if n.contains("256COL") {
        flags.insert(flag::XTERM256.into(), Value::Bool(true));
        flags.insert(flag::ANSI.into(), Value::Bool(true));
    }
    if n.contains("TRUECOLOR") || n.contains("24BIT") || n.contains("DIRECT") {
        flags.insert(flag::TRUECOLOR.into(), Value::Bool(true));
    }
    if n == "DUMB" {
        flags.insert(flag::ANSI.into(), Value::Bool(false));
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
                flags.insert(flag::CLIENTNAME.into(), Value::from(value.clone()));
                client_flags(&value, flags);
            }
            "CLIENT_VERSION" => {
                flags.insert(flag::CLIENTVERSION.into(), Value::from(value));
            }
            "TERMINAL_TYPE" => {
                term_flags(&value, flags);
                flags.insert(flag::TERM.into(), Value::from(value));
            }
            "CHARSET" if value.eq_ignore_ascii_case("utf-8") => {
                flags.insert(flag::ENCODING.into(), Value::from("utf-8"));
                flags.insert(flag::UTF8.into(), Value::Bool(true));
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
        flags.insert(flag::ANSI.into(), Value::Bool(true));
        flags.insert(flag::XTERM256.into(), Value::Bool(true));
    }
    if TRUECOLOR.contains(&base) {
        flags.insert(flag::TRUECOLOR.into(), Value::Bool(true));
    }
}

/// Flags from an MTTS bit field.
pub fn mtts_flags(bits: u32, flags: &mut Map<String, Value>) {
    use telnet::mtts;
    // The SSL bit is kept as MTTS_SSL (the client can do TLS): `SSL` itself means this
    // session's transport is encrypted, which the portal knows better than the client's claim.
    let table: [(u32, &str); 12] = [
        (mtts::ANSI, flag::ANSI),
        (mtts::VT100, "VT100"),
        (mtts::UTF8, flag::UTF8),
        (mtts::COLORS_256, flag::XTERM256),
        (mtts::MOUSE_TRACKING, "MOUSE_TRACKING"),
        (mtts::OSC_COLOR_PALETTE, "OSC_COLOR_PALETTE"),
        (mtts::SCREEN_READER, flag::SCREENREADER),
        (mtts::PROXY, "PROXY"),
        (mtts::TRUECOLOR, flag::TRUECOLOR),
        (mtts::MNES, "MNES"),
        (mtts::MSLP, "MSLP"),
        (mtts::SSL, "MTTS_SSL"),
    ];
    for (bit, key) in table {
        flags.insert(key.into(), Value::Bool(bits & bit != 0));
    }
    if bits & mtts::UTF8 != 0 {
        flags.insert(flag::ENCODING.into(), Value::from("utf-8"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::markup::ColourLevel;
    use crate::shared::caps::ClientCaps;

    #[test]
    fn mtts_bits_and_terminal_names_set_colour_flags() {
        let mut f = crate::shared::session::default_flags();
        mtts_flags(1 | 4 | 8, &mut f);
        assert_eq!(ClientCaps::from_flags(&f).colour, ColourLevel::Xterm256);
        let mut t = crate::shared::session::default_flags();
        term_flags("xterm-direct", &mut t);
        assert_eq!(ClientCaps::from_flags(&t).colour, ColourLevel::TrueColour);
        let mut d = crate::shared::session::default_flags();
        term_flags("dumb", &mut d);
        assert_eq!(ClientCaps::from_flags(&d).colour, ColourLevel::None);
    }
}
