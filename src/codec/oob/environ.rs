//! NEW-ENVIRON (RFC 1572, telnet option 39) codec, as used by MNES (the MUD
//! NEW-ENVIRON Standard) to learn the client's name, version, charset, MTTS
//! bitvector and terminal type.
//!
//! Owns the server's `SEND` request ([`send_request`]) and the parsing of the
//! client's `IS` / `INFO` replies ([`decode`]).
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
                let data = if b == ESC {
                    match bytes.next() {
                        Some((_, escaped)) => escaped,
                        None => {
                            return Err(OobError::Malformed {
                                offset,
                                reason: "ESC at end of NEW-ENVIRON payload",
                            });
                        }
                    }
                } else {
                    b
                };
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
