//! MSSP (MUD Server Status Protocol, telnet option 70) encoder and decoder.
//!
//! Owns the server → crawler payload `MSSP_VAR name MSSP_VAL value
//! [MSSP_VAL value2 …]`, one group per variable, in the order given; and reading one back
//! (what a game behind the gateway says about itself).
//!
//! Invariants:
//! - Bytes 0, 1, 2 and 255 are removed from names and values, so data can
//!   never forge framing (255 cannot occur in a Rust `str` anyway, but the
//!   filter keeps the rule byte-level and explicit).
//! - A variable whose name is empty after cleaning is skipped.
//! - A variable with no values is sent with one empty value, so every
//!   `MSSP_VAR` is followed by at least one `MSSP_VAL` as the spec requires.
//! - The output is not IAC-escaped; the telnet layer does that.

/// Telnet option number of MSSP.
pub const OPTION: u8 = 70;
/// Marks a variable name.
pub const MSSP_VAR: u8 = 1;
/// Marks a value.
pub const MSSP_VAL: u8 = 2;

fn push_clean(out: &mut Vec<u8>, s: &str) {
    out.extend(
        s.bytes()
            .filter(|&b| !matches!(b, 0 | MSSP_VAR | MSSP_VAL | 255)),
    );
}

/// Encode MSSP variables (name, values) as a sub-negotiation payload.
#[must_use]
pub fn encode(vars: &[(String, Vec<String>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, values) in vars {
        let mark = out.len();
        out.push(MSSP_VAR);
        push_clean(&mut out, name);
        if out.len() == mark + 1 {
            out.truncate(mark);
            continue;
        }
        if values.is_empty() {
            out.push(MSSP_VAL);
        }
        for value in values {
            out.push(MSSP_VAL);
            push_clean(&mut out, value);
        }
    }
    out
}

/// Most variables read from one payload, and most values of one variable.
pub const MAX_VARS: usize = 256;

/// Decode an MSSP payload into (name, values), in order. Bytes before the first `MSSP_VAR`
/// are ignored; a variable without a value gets none; text is UTF-8 with invalid bytes
/// replaced. At most [`MAX_VARS`] variables of at most [`MAX_VARS`] values each are kept
/// (the payload itself is bounded by the telnet layer).
#[must_use]
pub fn decode(payload: &[u8]) -> Vec<(String, Vec<String>)> {
    let mut vars: Vec<(String, Vec<String>)> = Vec::new();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut rest = payload;
    while let Some(start) = rest.iter().position(|&b| b == MSSP_VAR) {
        rest = &rest[start + 1..];
        let end = rest
            .iter()
            .position(|&b| b == MSSP_VAR)
            .unwrap_or(rest.len());
        let group = &rest[..end];
        rest = &rest[end..];
        let mut parts = group.split(|&b| b == MSSP_VAL);
        let name = parts.next().map(text).unwrap_or_default();
        if name.is_empty() || vars.len() >= MAX_VARS {
            continue;
        }
        let values: Vec<String> = parts.take(MAX_VARS).map(text).collect();
        vars.push((name, values));
    }
    vars
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    #[test]
    fn what_encode_writes_decode_reads() {
        let vars = vec![
            ("NAME".to_string(), vec!["Test MUD".to_string()]),
            (
                "PORT".to_string(),
                vec!["4000".to_string(), "4001".to_string()],
            ),
            ("EMPTY".to_string(), vec![String::new()]),
        ];
        assert_eq!(decode(&encode(&vars)), vars);
        assert_eq!(decode(b"junk\x01A"), vec![("A".to_string(), vec![])]);
        assert!(decode(b"").is_empty());
        let many: Vec<u8> = (0..1000)
            .flat_map(|i| format!("\x01V{i}\x02x").into_bytes())
            .collect();
        assert_eq!(decode(&many).len(), MAX_VARS);
    }
}
