//! NEW-ENVIRON (RFC 1572, telnet option 39) codec, as used by MNES (the MUD
//! NEW-ENVIRON Standard) to learn the client's name, version, charset, MTTS
//! bitvector and terminal type.
//!
//! Owns both roles. As the server (a player's client talks to us): our `SEND`
//! request ([`send_request`]) and the parsing of the client's `IS` / `INFO`
//! replies ([`decode`]). As the client (gateway mode, we talk to a game): the
//! parsing of the game's `SEND` ([`decode_send`]) and our `IS` reply
//! ([`encode_is`]).
//!
//! Request choice: MNES clients report these well-known variables as `VAR`
//! (not `USERVAR`), so the request lists them explicitly as `VAR`s:
//! `SEND VAR CLIENT_NAME VAR CLIENT_VERSION VAR CHARSET VAR MTTS
//! VAR TERMINAL_TYPE`. Naming them (rather than an empty `SEND`, meaning
//! "everything") keeps replies small and never asks for the user's real
//! `IPADDRESS`, which MNES only sends when explicitly requested.
//!
//! Decoding invariants:
//! - The payload must start with `IS` (0) or `INFO` (2); anything else (incl.
//!   an empty payload or a `SEND`) is `Err`.
//! - Then zero or more `(VAR|USERVAR) name [VALUE value]` groups. `VAR` and
//!   `USERVAR` are treated alike. A name runs up to the next `VAR`, `USERVAR`
//!   or `VALUE`; a value up to the next `VAR` or `USERVAR`. `ESC` (2) makes
//!   the following byte literal, in names and values. A group without
//!   `VALUE` yields `None` ("undefined"); `VALUE` followed by nothing yields
//!   `Some("")`.
//! - Stray bytes before the first type byte, a second `VALUE` in one group, or
//!   a trailing lone `ESC` → `Err`. Text is decoded as UTF-8 with invalid
//!   sequences replaced by U+FFFD. Payloads over [`MAX_PAYLOAD`](super::MAX_PAYLOAD) → `Err`.
//! - Variables are returned in wire order, duplicates kept.
//!
//! `SEND` decoding ([`decode_send`]) invariants:
//! - The payload must start with `SEND` (1), then zero or more
//!   `(VAR|USERVAR) [name]`; a name runs up to the next `VAR` or `USERVAR`,
//!   with `ESC` as in [`decode`]. The type byte is kept: RFC 1572 asks for
//!   `VAR`s and `USERVAR`s separately.
//! - A type with an empty name means "every variable of that type"; a bare
//!   `SEND` means every variable of both types and decodes as
//!   `[(VAR, ""), (USERVAR, "")]`, so callers handle one shape.
//! - A `VALUE`, stray bytes before the first type byte or a trailing lone `ESC`
//!   → `Err`; payloads over [`MAX_PAYLOAD`](super::MAX_PAYLOAD) → `Err`, so the
//!   list is bounded too.
//!
//! `IS` encoding ([`encode_is`]): `IS`, then per variable its type byte
//! (`USERVAR` stays `USERVAR`, any other byte is written as `VAR`, so the
//! framing cannot be broken), the name, and `VALUE value` when there is a
//! value. The bytes 0..=3 (`VAR`, `VALUE`, `ESC`, `USERVAR`) in names and
//! values are preceded by `ESC`, so [`decode`] gives back exactly the input.

use super::{OobError, check_size};

/// Telnet option number of NEW-ENVIRON.
pub const OPTION: u8 = 39;
/// Command: the sender is sending its variables (reply to `SEND`).
pub const IS: u8 = 0;
/// Command: the sender requests variables.
pub const SEND: u8 = 1;
/// Command: the sender reports variables that changed.
pub const INFO: u8 = 2;
/// Type: a well-known variable name follows.
pub const VAR: u8 = 0;
/// A value follows.
pub const VALUE: u8 = 1;
/// Escape: the next byte is data.
pub const ESC: u8 = 2;
/// Type: a user-defined variable name follows.
pub const USERVAR: u8 = 3;

/// The MNES variables requested by [`send_request`], in order.
pub const MNES_VARIABLES: &[&str] = &[
    "CLIENT_NAME",
    "CLIENT_VERSION",
    "CHARSET",
    "MTTS",
    "TERMINAL_TYPE",
];

/// The payload of the server's request for the MNES variables:
/// `SEND VAR "CLIENT_NAME" VAR "CLIENT_VERSION" VAR "CHARSET" VAR "MTTS"
/// VAR "TERMINAL_TYPE"` (see the module docs for why).
#[must_use]
pub fn send_request() -> Vec<u8> {
    let mut out = vec![SEND];
    for name in MNES_VARIABLES {
        out.push(VAR);
        out.extend_from_slice(name.as_bytes());
    }
    out
}

/// Decode a client's `IS` or `INFO` payload into `(name, value)` pairs.
///
/// # Errors
/// [`OobError::TooLarge`], or [`OobError::Malformed`] for a payload that is
/// not `IS`/`INFO` or breaks the grammar in the module docs.
pub fn decode(payload: &[u8]) -> Result<Vec<(String, Option<String>)>, OobError> {
    check_size(payload)?;
    match payload.first() {
        Some(&(IS | INFO)) => {}
        Some(_) => {
            return Err(OobError::Malformed {
                offset: 0,
                reason: "NEW-ENVIRON payload is not IS or INFO",
            });
        }
        None => {
            return Err(OobError::Malformed {
                offset: 0,
                reason: "empty NEW-ENVIRON payload",
            });
        }
    }

    let mut vars = Vec::new();
    // The group being read: its name, then its value once VALUE was seen.
    let mut current: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
    let mut bytes = payload.iter().copied().enumerate().skip(1);
    while let Some((offset, b)) = bytes.next() {
        match b {
            VAR | USERVAR => {
                if let Some(done) = current.take() {
                    vars.push(finish(done));
                }
                current = Some((Vec::new(), None));
            }
            VALUE => match current.as_mut() {
                Some((_, value @ None)) => *value = Some(Vec::new()),
                Some((_, Some(_))) => {
                    return Err(OobError::Malformed {
                        offset,
                        reason: "second VALUE in one NEW-ENVIRON variable",
                    });
                }
                None => {
                    return Err(OobError::Malformed {
                        offset,
                        reason: "VALUE before any VAR or USERVAR",
                    });
                }
            },
            _ => {
                let data = unescape(b, offset, &mut bytes)?;
                match current.as_mut() {
                    Some((_, Some(value))) => value.push(data),
                    Some((name, None)) => name.push(data),
                    None => {
                        return Err(OobError::Malformed {
                            offset,
                            reason: "data before any VAR or USERVAR",
                        });
                    }
                }
            }
        }
    }
    if let Some(done) = current.take() {
        vars.push(finish(done));
    }
    Ok(vars)
}

fn finish((name, value): (Vec<u8>, Option<Vec<u8>>)) -> (String, Option<String>) {
    (
        String::from_utf8_lossy(&name).into_owned(),
        value.map(|v| String::from_utf8_lossy(&v).into_owned()),
    )
}

/// Decode a game's `SEND` payload into `(type, name)` pairs, `type` being
/// [`VAR`] or [`USERVAR`] and an empty name meaning "all of that type" (see
/// the module docs; a bare `SEND` asks for all of both).
///
/// # Errors
/// [`OobError::TooLarge`], or [`OobError::Malformed`] for a payload that is
/// not `SEND` or breaks the grammar in the module docs.
pub fn decode_send(payload: &[u8]) -> Result<Vec<(u8, String)>, OobError> {
    check_size(payload)?;
    match payload.first() {
        Some(&SEND) => {}
        Some(_) => {
            return Err(OobError::Malformed {
                offset: 0,
                reason: "NEW-ENVIRON payload is not SEND",
            });
        }
        None => {
            return Err(OobError::Malformed {
                offset: 0,
                reason: "empty NEW-ENVIRON payload",
            });
        }
    }

    let mut wanted = Vec::new();
    // The request being read: its type and name so far.
    let mut current: Option<(u8, Vec<u8>)> = None;
    let mut bytes = payload.iter().copied().enumerate().skip(1);
    while let Some((offset, b)) = bytes.next() {
        match b {
            VAR | USERVAR => {
                if let Some(done) = current.replace((b, Vec::new())) {
                    wanted.push(finish_name(done));
                }
            }
            VALUE => {
                return Err(OobError::Malformed {
                    offset,
                    reason: "VALUE in a NEW-ENVIRON SEND",
                });
            }
            _ => {
                let data = unescape(b, offset, &mut bytes)?;
                match current.as_mut() {
                    Some((_, name)) => name.push(data),
                    None => {
                        return Err(OobError::Malformed {
                            offset,
                            reason: "data before any VAR or USERVAR",
                        });
                    }
                }
            }
        }
    }
    match current {
        Some(done) => wanted.push(finish_name(done)),
        None => {
            wanted.push((VAR, String::new()));
            wanted.push((USERVAR, String::new()));
        }
    }
    Ok(wanted)
}

fn finish_name((kind, name): (u8, Vec<u8>)) -> (u8, String) {
    (kind, String::from_utf8_lossy(&name).into_owned())
}

/// The payload of our `IS` reply: each `(type, name, value)` as `type name
/// [VALUE value]`, escaped (see the module docs). Not yet IAC-escaped.
#[must_use]
pub fn encode_is(vars: &[(u8, &str, Option<&str>)]) -> Vec<u8> {
    let size: usize = vars
        .iter()
        .map(|(_, name, value)| 2 + name.len() + value.map_or(0, str::len))
        .sum();
    let mut out = Vec::with_capacity(1 + size);
    out.push(IS);
    for &(kind, name, value) in vars {
        out.push(if kind == USERVAR { USERVAR } else { VAR });
        push_escaped(&mut out, name.as_bytes());
        if let Some(value) = value {
            out.push(VALUE);
            push_escaped(&mut out, value.as_bytes());
        }
    }
    out
}

/// Append `data`, putting `ESC` before each of the bytes `VAR`, `VALUE`, `ESC`, `USERVAR`.
fn push_escaped(out: &mut Vec<u8>, data: &[u8]) {
    for &b in data {
        if matches!(b, VAR | VALUE | ESC | USERVAR) {
            out.push(ESC);
        }
        out.push(b);
    }
}

/// A name or value byte: `b`, or after an `ESC` the byte that follows it (read from `bytes`).
fn unescape(
    b: u8,
    offset: usize,
    bytes: &mut impl Iterator<Item = (usize, u8)>,
) -> Result<u8, OobError> {
    if b != ESC {
        return Ok(b);
    }
    bytes
        .next()
        .map(|(_, escaped)| escaped)
        .ok_or(OobError::Malformed {
            offset,
            reason: "ESC at end of NEW-ENVIRON payload",
        })
}
