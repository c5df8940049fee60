//! MSDP (MUD Server Data Protocol, telnet option 69) codec.
//!
//! Owns the mapping between MSDP `VAR name VAL value` sequences and
//! [`OobMessage`]s.
//!
//! Wire grammar accepted by [`decode`] (bytes 1..=6 are the MSDP markers,
//! every other byte is string data):
//!
//! ```text
//! payload := (VAR name vals)*
//! vals    := (VAL value)+                  -- at least one VAL per VAR
//! value   := string
//!          | TABLE_OPEN (VAR name vals)* TABLE_CLOSE
//!          | ARRAY_OPEN (VAL value)* ARRAY_CLOSE
//! ```
//!
//! Decoding rules (player → server):
//! - Names and strings are decoded as UTF-8, invalid sequences replaced by
//!   U+FFFD. Top-level names must be non-empty; table keys may be empty.
//! - The commands `LIST`, `REPORT`, `UNREPORT`, `SEND`, `RESET` (any case)
//!   become `msdp_list`, … with every value as an arg, arrays flattened
//!   (`VAR REPORT VAL ARRAY_OPEN VAL HP VAL SP ARRAY_CLOSE` → args `HP, SP`).
//! - Any other variable becomes a message named after the lower-cased
//!   variable. One string value → one string arg; one TABLE → kwargs; one
//!   ARRAY → its elements as args; several VALs → one arg per value.
//! - Inside values, tables become JSON objects (a key given several VALs gets
//!   an array; a repeated key keeps its last value), arrays JSON arrays and
//!   strings JSON strings.
//! - VAL without VAR, VAR without VAL, unbalanced TABLE/ARRAY markers, stray
//!   bytes, more than [`MAX_DEPTH`] nested containers or more than
//!   [`MAX_PAYLOAD`](super::MAX_PAYLOAD) bytes → `Err`.
//!
//! Encoding rules (server → player): `VAR <NAME upper-cased> VAL <value>`:
//! - no args and no kwargs → empty string value;
//! - one arg → that value (string as is; number/bool as JSON text; null as
//!   the empty string; array → ARRAY; object → TABLE);
//! - several args → ARRAY;
//! - kwargs only → TABLE (nested objects → tables, arrays → arrays);
//! - args and kwargs → the kwargs TABLE with a last extra key `args` holding
//!   the args ARRAY (it replaces a kwarg literally named `args`).
//! - Bytes 1..=6 and 255 are removed from names, keys and strings so data can
//!   never forge framing. Containers nested deeper than [`MAX_DEPTH`] are sent
//!   as their compact JSON text (a string) so the output always decodes.

use serde_json::{Map, Value};

use super::{MAX_DEPTH, OobError, OobMessage, check_size};

/// Telnet option number of MSDP.
pub const OPTION: u8 = 69;
/// Marks a variable (or table key) name.
pub const MSDP_VAR: u8 = 1;
/// Marks a value.
pub const MSDP_VAL: u8 = 2;
/// Opens a table value.
pub const MSDP_TABLE_OPEN: u8 = 3;
/// Closes a table value.
pub const MSDP_TABLE_CLOSE: u8 = 4;
/// Opens an array value.
pub const MSDP_ARRAY_OPEN: u8 = 5;
/// Closes an array value.
pub const MSDP_ARRAY_CLOSE: u8 = 6;

/// The MSDP commands, as (wire name, portal message name).
const COMMANDS: &[(&str, &str)] = &[
    ("LIST", "msdp_list"),
    ("REPORT", "msdp_report"),
    ("UNREPORT", "msdp_unreport"),
    ("SEND", "msdp_send"),
    ("RESET", "msdp_reset"),
];

fn is_marker(b: u8) -> bool {
    (MSDP_VAR..=MSDP_ARRAY_CLOSE).contains(&b)
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn malformed<T>(&self, reason: &'static str) -> Result<T, OobError> {
        Err(OobError::Malformed {
            offset: self.pos,
            reason,
        })
    }

    /// Consume string data up to the next marker (or the end).
    fn string(&mut self) -> String {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| is_marker(b))
            .unwrap_or(rest.len());
        self.pos += len;
        String::from_utf8_lossy(rest.get(..len).unwrap_or_default()).into_owned()
    }

    /// Parse `(VAL value)+` following a VAR name; `depth` is the number of
    /// containers already open around these values.
    fn vals(&mut self, depth: usize) -> Result<Vec<Value>, OobError> {
        let mut vals = Vec::new();
        while self.peek() == Some(MSDP_VAL) {
            self.pos += 1;
            vals.push(self.value(depth)?);
        }
        if vals.is_empty() {
            return self.malformed("MSDP_VAR not followed by MSDP_VAL");
        }
        Ok(vals)
    }

    fn value(&mut self, depth: usize) -> Result<Value, OobError> {
        match self.peek() {
            Some(MSDP_TABLE_OPEN) => {
                if depth >= MAX_DEPTH {
                    return Err(OobError::TooDeep { max: MAX_DEPTH });
                }
                self.pos += 1;
                self.table(depth + 1)
            }
            Some(MSDP_ARRAY_OPEN) => {
                if depth >= MAX_DEPTH {
                    return Err(OobError::TooDeep { max: MAX_DEPTH });
                }
                self.pos += 1;
                self.array(depth + 1)
            }
            _ => Ok(Value::String(self.string())),
        }
    }

    fn table(&mut self, depth: usize) -> Result<Value, OobError> {
        let mut map = Map::new();
        loop {
            match self.peek() {
                Some(MSDP_TABLE_CLOSE) => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                Some(MSDP_VAR) => {
                    self.pos += 1;
                    let key = self.string();
                    let mut vals = self.vals(depth)?;
                    let value = if vals.len() == 1 {
                        vals.pop().unwrap_or(Value::Null)
                    } else {
                        Value::Array(vals)
                    };
                    map.insert(key, value);
                }
                None => return self.malformed("unterminated MSDP table"),
                Some(_) => return self.malformed("expected MSDP_VAR or MSDP_TABLE_CLOSE in table"),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, OobError> {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                Some(MSDP_ARRAY_CLOSE) => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(MSDP_VAL) => {
                    self.pos += 1;
                    items.push(self.value(depth)?);
                }
                None => return self.malformed("unterminated MSDP array"),
                Some(_) => return self.malformed("expected MSDP_VAL or MSDP_ARRAY_CLOSE in array"),
            }
        }
    }
}

/// Decode an MSDP payload sent by the player into messages, in wire order.
///
/// # Errors
/// [`OobError::TooLarge`], [`OobError::TooDeep`] or [`OobError::Malformed`]
/// (framing that does not follow the grammar in the module docs).
pub fn decode(payload: &[u8]) -> Result<Vec<OobMessage>, OobError> {
    check_size(payload)?;
    let mut parser = Parser {
        buf: payload,
        pos: 0,
    };
    let mut messages = Vec::new();
    while let Some(b) = parser.peek() {
        if b != MSDP_VAR {
            return parser.malformed("expected MSDP_VAR");
        }
        parser.pos += 1;
        let name_at = parser.pos;
        let var = parser.string();
        if var.is_empty() {
            return Err(OobError::Malformed {
                offset: name_at,
                reason: "empty MSDP variable name",
            });
        }
        let vals = parser.vals(0)?;
        messages.push(to_message(&var, vals));
    }
    Ok(messages)
}

fn to_message(var: &str, mut vals: Vec<Value>) -> OobMessage {
    if let Some((_, name)) = COMMANDS.iter().find(|(c, _)| c.eq_ignore_ascii_case(var)) {
        let mut args = Vec::new();
        for v in vals {
            match v {
                Value::Array(items) => args.extend(items),
                other => args.push(other),
            }
        }
        return OobMessage::new(*name).with_args(args);
    }
    let msg = OobMessage::new(var.to_lowercase());
    if vals.len() != 1 {
        return msg.with_args(vals);
    }
    match vals.pop() {
        Some(Value::Object(map)) => msg.with_kwargs(map),
        Some(Value::Array(items)) => msg.with_args(items),
        Some(other) => msg.with_args(vec![other]),
        None => msg,
    }
}

/// Append `s` with MSDP framing bytes (1..=6, 255) removed.
fn push_clean(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().filter(|&b| !is_marker(b) && b != 255));
}

fn encode_value(out: &mut Vec<u8>, value: &Value, depth: usize) {
    match value {
        Value::Null => {}
        Value::Bool(b) => push_clean(out, if *b { "true" } else { "false" }),
        Value::Number(n) => push_clean(out, &n.to_string()),
        Value::String(s) => push_clean(out, s),
        Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => {
            push_clean(out, &value.to_string());
        }
        Value::Array(items) => encode_array(out, items, depth),
        Value::Object(map) => encode_table(out, map.iter(), depth),
    }
}

fn encode_array(out: &mut Vec<u8>, items: &[Value], depth: usize) {
    out.push(MSDP_ARRAY_OPEN);
    for item in items {
        out.push(MSDP_VAL);
        encode_value(out, item, depth + 1);
    }
    out.push(MSDP_ARRAY_CLOSE);
}

fn encode_table<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a String, &'a Value)>,
    depth: usize,
) {
    out.push(MSDP_TABLE_OPEN);
    for (key, value) in entries {
        out.push(MSDP_VAR);
        push_clean(out, key);
        out.push(MSDP_VAL);
        encode_value(out, value, depth + 1);
    }
    out.push(MSDP_TABLE_CLOSE);
}

/// Encode a server → player message as an MSDP payload (not IAC-escaped).
#[must_use]
pub fn encode(msg: &OobMessage) -> Vec<u8> {
    let mut out = vec![MSDP_VAR];
    push_clean(&mut out, &msg.name.to_uppercase());
    out.push(MSDP_VAL);
    match (msg.args.as_slice(), msg.kwargs.is_empty()) {
        ([], true) => {}
        ([single], true) => encode_value(&mut out, single, 0),
        (args, true) => encode_array(&mut out, args, 0),
        ([], false) => encode_table(&mut out, msg.kwargs.iter(), 0),
        (args, false) => {
            let args_key = "args".to_owned();
            let args_value = Value::Array(args.to_vec());
            let entries = msg
                .kwargs
                .iter()
                .filter(|(k, _)| k.as_str() != "args")
                .chain(std::iter::once((&args_key, &args_value)));
            encode_table(&mut out, entries, 0);
        }
    }
    out
}
