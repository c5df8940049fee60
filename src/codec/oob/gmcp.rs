//! GMCP (Generic MUD Communication Protocol, telnet option 201) codec.
//!
//! Owns the mapping between a GMCP payload `Package.SubPackage.Message <json>`
//! and an [`OobMessage`].
//!
//! Decoding (player → server):
//! - The payload must be UTF-8 and at most [`MAX_PAYLOAD`](super::MAX_PAYLOAD) bytes. The package
//!   name runs up to the first ASCII whitespace (or a `{`, `[` or `"` that
//!   starts JSON glued to the name); it must be non-empty dot-separated
//!   segments of ASCII letters, digits, `_` and `-`.
//! - Name mapping: a leading `Core.` (any case) is stripped, the rest is
//!   lower-cased and `.` becomes `_`: `Core.Hello` → `hello`,
//!   `Core.Supports.Set` → `supports_set`, `Char.Items.Inv` → `char_items_inv`.
//! - Value mapping: JSON array → `args`; object → `kwargs`; scalar → one arg;
//!   no JSON → no args. JSON nested deeper than [`MAX_DEPTH`] is rejected.
//!
//! Encoding (server → player):
//! - A name containing a dot is sent as is. A dotless name is looked up in a
//!   small table (`hello`→`Core.Hello`, `ping`→`Core.Ping`,
//!   `text`→`Core.Text`, `prompt`→`Core.Prompt`, `goodbye`→`Core.Goodbye`,
//!   `keepalive`→`Core.KeepAlive`, `supports_set|add|remove` →
//!   `Core.Supports.Set|Add|Remove`); otherwise it is split on `_`, empty parts
//!   dropped, each part's first letter upper-cased, and joined with dots
//!   (`char_vitals` → `Char.Vitals`). Characters outside
//!   `[A-Za-z0-9._-]` are removed so the name cannot break framing; a name
//!   that ends up empty is sent as [`FALLBACK_NAME`]. Callers needing exact
//!   casing (e.g. `IRE.Rift.Change`) pass the dotted name.
//! - Value: kwargs only → the object; exactly one arg → that value; several
//!   args → an array; args and kwargs → an array of the args followed by the
//!   kwargs object; neither → no JSON. Payload = name, then a space and
//!   compact JSON when there is a value.
//! - Hence `decode(encode(m)) == m` for messages whose name is lower-case
//!   `[a-z0-9_-]` without empty `_` parts and not starting with `core_`
//!   (`core_x` is sent as `Core.X`, which decodes as `x`), and whose value
//!   shape is not ambiguous: not "args and kwargs together" (decoded as args
//!   with the kwargs object last), and not a single arg that is itself an
//!   array or object (sent bare, as GMCP clients expect, so it decodes as
//!   several args or as kwargs).

use serde_json::Value;

use super::{MAX_DEPTH, OobError, OobMessage, check_size, exceeds_depth};

/// Telnet option number of GMCP.
pub const OPTION: u8 = 201;

/// Package name sent when a message's name sanitises to nothing.
pub const FALLBACK_NAME: &str = "Core.Unknown";

/// Dotless portal names with a fixed GMCP package name.
const NAME_TABLE: &[(&str, &str)] = &[
    ("hello", "Core.Hello"),
    ("ping", "Core.Ping"),
    ("text", "Core.Text"),
    ("prompt", "Core.Prompt"),
    ("goodbye", "Core.Goodbye"),
    ("keepalive", "Core.KeepAlive"),
    ("supports_set", "Core.Supports.Set"),
    ("supports_add", "Core.Supports.Add"),
    ("supports_remove", "Core.Supports.Remove"),
];

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'
}

/// Decode a GMCP payload sent by the player into an [`OobMessage`].
///
/// # Errors
/// [`OobError::TooLarge`], [`OobError::InvalidUtf8`], [`OobError::Malformed`]
/// (bad package name), [`OobError::InvalidJson`] or [`OobError::TooDeep`].
pub fn decode(payload: &[u8]) -> Result<OobMessage, OobError> {
    let (package, value) = split(payload)?;
    let mut msg = OobMessage::new(package_to_name(package));
    match value {
        None => {}
        Some(Value::Array(items)) => msg.args = items,
        Some(Value::Object(map)) => msg.kwargs = map,
        Some(scalar) => msg.args.push(scalar),
    }
    Ok(msg)
}

/// Decode a GMCP payload for passing on unchanged (gateway mode): the package name exactly
/// as sent, and the JSON value, if any, as the one argument. [`encode`] gives the same
/// package and the same JSON value back, whatever its shape (written compactly, with an
/// object's keys in sorted order: receivers parse it, so neither changes what it says).
///
/// # Errors
/// As [`decode`].
pub fn decode_exact(payload: &[u8]) -> Result<OobMessage, OobError> {
    let (package, value) = split(payload)?;
    Ok(OobMessage::new(package).with_args(value.into_iter().collect()))
}

/// The package name and the JSON value of a payload, checked as [`decode`] documents.
fn split(payload: &[u8]) -> Result<(&str, Option<Value>), OobError> {
    check_size(payload)?;
    let text = std::str::from_utf8(payload).map_err(|e| OobError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let name_end = text
        .find(|c: char| c.is_ascii_whitespace() || c == '{' || c == '[' || c == '"')
        .unwrap_or(text.len());
    let (package, rest) = text.split_at(name_end);
    if package.is_empty() {
        return Err(OobError::Malformed {
            offset: 0,
            reason: "missing GMCP package name",
        });
    }
    if let Some(pos) = package.find(|c: char| !is_name_char(c)) {
        return Err(OobError::Malformed {
            offset: pos,
            reason: "invalid character in GMCP package name",
        });
    }
    if package.split('.').any(str::is_empty) {
        return Err(OobError::Malformed {
            offset: 0,
            reason: "empty segment in GMCP package name",
        });
    }
    let json = rest.trim_matches(|c: char| c.is_ascii_whitespace());
    if json.is_empty() {
        return Ok((package, None));
    }
    let value: Value =
        serde_json::from_str(json).map_err(|e| OobError::InvalidJson(e.to_string()))?;
    if exceeds_depth(&value, 0) {
        return Err(OobError::TooDeep { max: MAX_DEPTH });
    }
    Ok((package, Some(value)))
}

/// Map a (validated) GMCP package name to a portal message name.
fn package_to_name(package: &str) -> String {
    let stripped = match package.split_at_checked(5) {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("core.") => rest,
        _ => package,
    };
    stripped.to_ascii_lowercase().replace('.', "_")
}

/// Map a portal message name to a GMCP package name (see module docs).
#[must_use]
pub fn name_to_package(name: &str) -> String {
    let package = if name.contains('.') {
        name.to_owned()
    } else if let Some((_, pkg)) = NAME_TABLE
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        (*pkg).to_owned()
    } else {
        name.split('_')
            .filter(|part| !part.is_empty())
            .map(capitalise)
            .collect::<Vec<_>>()
            .join(".")
    };
    let clean: String = package.chars().filter(|&c| is_name_char(c)).collect();
    if clean.is_empty() {
        FALLBACK_NAME.to_owned()
    } else {
        clean
    }
}

fn capitalise(part: &str) -> String {
    let mut chars = part.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Encode a server → player message as a GMCP payload (not IAC-escaped).
#[must_use]
pub fn encode(msg: &OobMessage) -> Vec<u8> {
    let mut out = name_to_package(&msg.name).into_bytes();
    let value = match (msg.args.as_slice(), msg.kwargs.is_empty()) {
        ([], true) => None,
        ([], false) => Some(Value::Object(msg.kwargs.clone())),
        ([single], true) => Some(single.clone()),
        (args, true) => Some(Value::Array(args.to_vec())),
        (args, false) => {
            let mut items = args.to_vec();
            items.push(Value::Object(msg.kwargs.clone()));
            Some(Value::Array(items))
        }
    };
    if let Some(value) = value {
        out.push(b' ');
        out.extend_from_slice(value.to_string().as_bytes());
    }
    out
}

/// Read `(client, version)` from a decoded `Core.Hello` message.
///
/// Returns `None` unless `hello.name` is `hello` and its kwargs hold a
/// non-empty `client` string (a number is accepted and formatted). A missing
/// or non-scalar `version` yields an empty version string.
#[must_use]
pub fn client_info(hello: &OobMessage) -> Option<(String, String)> {
    if hello.name != "hello" {
        return None;
    }
    let as_text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let client = hello.kwargs.get("client").and_then(as_text)?;
    if client.is_empty() {
        return None;
    }
    let version = hello
        .kwargs
        .get("version")
        .and_then(as_text)
        .unwrap_or_default();
    Some((client, version))
}
