//! MSSP (MUD Server Status Protocol, telnet option 70) encoder.
//!
//! Owns the server → crawler payload `MSSP_VAR name MSSP_VAL value
//! [MSSP_VAL value2 …]`, one group per variable, in the order given.
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
