//! Pure codecs for the MUD out-of-band (OOB) telnet sub-negotiation protocols:
//! GMCP ([`gmcp`]), MSDP ([`msdp`]), MSSP ([`mssp`]) and NEW-ENVIRON as used
//! by MNES ([`environ`]).
//!
//! This module owns the protocol-neutral message shape [`OobMessage`]
//! (`name, args, kwargs`, the same shape as the portal's `data_in` /
//! `data_out` messages), the shared error type [`OobError`] and the shared
//! bounds [`MAX_PAYLOAD`] and [`MAX_DEPTH`].
//!
//! Invariants shared by every submodule:
//! - No I/O, no global state, no dependency on any other crate module; only
//!   `std` and `serde_json`.
//! - Payloads handled here are sub-negotiation *bodies*: the bytes between
//!   `IAC SB <option>` and `IAC SE`, without those markers. Decoders expect
//!   them already IAC-unescaped; encoders return them NOT yet IAC-escaped
//!   (doubling `IAC` is the telnet layer's job).
//! - Every decoder is total: for any byte input it returns `Ok` or an
//!   [`OobError`], never panics, rejects inputs longer than [`MAX_PAYLOAD`]
//!   bytes and structures nested deeper than [`MAX_DEPTH`] containers, so its
//!   work and recursion are bounded.
//! - Encoders are infallible and never panic.

pub mod environ;
pub mod gmcp;
pub mod msdp;
pub mod mssp;

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::{Map, Value};

/// Largest sub-negotiation payload (in bytes) any decoder accepts.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// Deepest nesting of containers (JSON arrays/objects, MSDP tables/arrays)
/// any decoder accepts. A scalar has depth 0, `[1]` depth 1, `[[1]]` depth 2.
pub const MAX_DEPTH: usize = 16;

/// One protocol-neutral OOB message: a command `name` with positional `args`
/// and keyword `kwargs`, mirroring the portal's message shape.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OobMessage {
    /// Command name, e.g. `hello`, `char_vitals`, `msdp_report`.
    pub name: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Map<String, Value>,
}

impl OobMessage {
    /// A message with the given name and no arguments.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            args: Vec::new(),
            kwargs: Map::new(),
        }
    }

    /// Builder: replace the positional arguments.
    #[must_use]
    pub fn with_args(mut self, args: Vec<Value>) -> Self {
        self.args = args;
        self
    }

    /// Builder: replace the keyword arguments.
    #[must_use]
    pub fn with_kwargs(mut self, kwargs: Map<String, Value>) -> Self {
        self.kwargs = kwargs;
        self
    }
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OobError {
    /// The payload is longer than [`MAX_PAYLOAD`].
    TooLarge {
        /// Length of the rejected payload.
        len: usize,
        /// The limit it exceeded.
        max: usize,
    },
    /// The payload nests containers deeper than [`MAX_DEPTH`].
    TooDeep {
        /// The limit it exceeded.
        max: usize,
    },
    /// The payload (or the part that must be text) is not valid UTF-8.
    InvalidUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The JSON part of a GMCP payload is not valid JSON.
    InvalidJson(String),
    /// The payload violates the protocol's framing.
    Malformed {
        /// Byte offset in the payload where the problem was found.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
}

impl fmt::Display for OobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(f, "oob payload too large: {len} bytes (max {max})")
            }
            Self::TooDeep { max } => write!(f, "oob payload nested deeper than {max} levels"),
            Self::InvalidUtf8 { offset } => {
                write!(f, "oob payload is not valid UTF-8 (at byte {offset})")
            }
            Self::InvalidJson(e) => write!(f, "oob payload has invalid JSON: {e}"),
            Self::Malformed { offset, reason } => {
                write!(f, "malformed oob payload at byte {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for OobError {}

/// Reject payloads longer than [`MAX_PAYLOAD`].
pub(crate) fn check_size(payload: &[u8]) -> Result<(), OobError> {
    if payload.len() > MAX_PAYLOAD {
        Err(OobError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        })
    } else {
        Ok(())
    }
}

/// True when `value`, sitting at container depth `depth`, nests more than
/// [`MAX_DEPTH`] containers. Recursion is bounded by `MAX_DEPTH + 1` frames.
pub(crate) fn exceeds_depth(value: &Value, depth: usize) -> bool {
    match value {
        Value::Array(items) => {
            depth >= MAX_DEPTH || items.iter().any(|v| exceeds_depth(v, depth + 1))
        }
        Value::Object(map) => {
            depth >= MAX_DEPTH || map.values().any(|v| exceeds_depth(v, depth + 1))
        }
        _ => false,
    }
}
