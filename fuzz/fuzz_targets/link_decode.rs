//! Fuzz `portcullis::shared::link::decode` for both directions of the portal ↔ server link.
//!
//! Input layout: byte 0 is the mode.
//! - mode bit 0 clear: the rest of the input is the frame body;
//! - mode bit 0 set: a valid frame (picked by the other mode bits) is mutated: the rest of the
//!   input is spliced in (inserted, or overwriting when mode bit 7 is set) at a position taken
//!   from its first two bytes, so the fuzzer gets past the outer JSON shape into the fields.
//!
//! Both `PortalMsg` and `ServerMsg` are tried on every frame.
//!
//! Invariants:
//! - no panic (decode errors are fine);
//! - a frame that decodes re-encodes, and the re-encoding decodes to an equal message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::shared::link::{PortalMsg, ServerMsg, decode, encode};

const SYNC: &str = r#"{"id":7,"protocol_key":"telnet","address":"127.0.0.1","account_id":null,"account_name":"bob","logged_in":false,"conn_time":1.5,"cmd_last":2.0,"cmd_last_visible":0,"cmd_total":3,"protocol_flags":{"ANSI":true,"SCREENWIDTH":80},"server_data":{"k":[1,{"x":null}]}}"#;

/// Valid frames of every variant, `@` standing for [`SYNC`].
const TEMPLATES: [&str; 21] = [
    // PortalMsg
    r#"{"hello":{"version":1,"pid":42,"listeners":[{"protocol":"telnet","addr":"127.0.0.1:4000"}]}}"#,
    r#"{"sync_all":{"reason":"reload","sessions":[@,@]}}"#,
    r#"{"connect":{"session":@}}"#,
    r#"{"disconnect":{"id":7,"reason":"quit"}}"#,
    r#"{"auth":{"id":7,"req":1,"username":"bob","method":{"password":{"password":"pw"}}}}"#,
    r#"{"auth":{"id":7,"req":2,"username":"bob","method":{"public_key":{"key":"ssh-ed25519 AAAA","verified":true}}}}"#,
    r#"{"data_in":{"id":7,"seq":3,"messages":[["text",["look"],{}],["hello",[],{"client":"x","version":1.0}]]}}"#,
    r#"{"sync_one":{"id":7,"protocol_flags":{"SCREENWIDTH":80,"ANSI":true}}}"#,
    r#""reload""#,
    r#"{"shutdown":{"reason":"bye"}}"#,
    r#"{"refused":{"reason":"no"}}"#,
    // ServerMsg
    r#"{"hello":{"version":1,"pid":2}}"#,
    r#"{"synced":{"sessions":3}}"#,
    r#"{"data_out":{"id":7,"messages":[["text",["hi\n"],{"type":"say"}]]}}"#,
    r#"{"ack":{"id":7,"seq":3}}"#,
    r#"{"login":{"id":7,"account_id":-1,"account_name":"bob"}}"#,
    r#"{"logout":{"id":7}}"#,
    r#"{"set_flags":{"id":7,"flags":{"X":null}}}"#,
    r#"{"server_data":{"id":7,"data":{"a":"b"}}}"#,
    r#"{"disconnect":{"id":7,"reason":"r"}}"#,
    r#"{"auth_result":{"id":7,"req":1,"accepted":false,"reason":"bad"}}"#,
];

fn frame(data: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    if mode & 1 == 0 {
        return Some(rest.to_vec());
    }
    let template = TEMPLATES[usize::from(mode >> 1) % TEMPLATES.len()].replace('@', SYNC);
    let seed = template.as_bytes();
    let (at, patch) = match rest {
        [a, b, patch @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), patch),
        _ => (0, &[][..]),
    };
    let at = at % (seed.len() + 1);
    let end = if mode & 0x80 != 0 {
        (at + patch.len()).min(seed.len())
    } else {
        at
    };
    let mut bytes = seed[..at].to_vec();
    bytes.extend_from_slice(patch);
    bytes.extend_from_slice(&seed[end..]);
    Some(bytes)
}

fuzz_target!(|data: &[u8]| {
    let Some(data) = frame(data) else {
        return;
    };
    if let Ok(msg) = decode::<PortalMsg>(&data) {
        let frame = encode(&msg).expect("re-encoding a decoded PortalMsg");
        let again = decode::<PortalMsg>(&frame).expect("re-decoding a PortalMsg");
        assert_eq!(again, msg, "PortalMsg changed in a round trip");
    }
    if let Ok(msg) = decode::<ServerMsg>(&data) {
        let frame = encode(&msg).expect("re-encoding a decoded ServerMsg");
        let again = decode::<ServerMsg>(&frame).expect("re-decoding a ServerMsg");
        assert_eq!(again, msg, "ServerMsg changed in a round trip");
    }
});
