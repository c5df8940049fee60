//! Fuzz the out-of-band decoders: `portcullis::codec::oob::{gmcp, msdp, environ}::decode`.
//!
//! The same bytes go to all three decoders.
//!
//! Invariants:
//! - no panic;
//! - GMCP: `decode(encode(m))` succeeds for every decoded `m`, and gives `m` back when `m` is
//!   in the round-trip class the module documents (lower-case `[a-z0-9_-]` name without empty
//!   `_` parts and not starting with `core_`, not a single array/object argument, not args
//!   and kwargs together);
//! - MSDP: `decode(encode(m))` succeeds, giving exactly one message, for every decoded `m`.
//!
//! A re-encoding longer than `MAX_PAYLOAD` may legitimately fail with `TooLarge`
//! (JSON re-serialisation can grow numbers, e.g. `1e9`); libFuzzer's default input size
//! keeps far from that.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::codec::oob::{MAX_PAYLOAD, OobError, OobMessage, environ, gmcp, msdp};
use serde_json::Value;

fn too_large(encoded: &[u8], err: &OobError) -> bool {
    encoded.len() > MAX_PAYLOAD && matches!(err, OobError::TooLarge { .. })
}

/// The round-trip class described in `oob::gmcp`'s module docs.
fn gmcp_round_trips(m: &OobMessage) -> bool {
    let name_ok = !m.name.is_empty()
        && m.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && !m.name.split('_').any(str::is_empty)
        && !m.name.starts_with("core_");
    let single_container = matches!(m.args.as_slice(), [Value::Array(_) | Value::Object(_)]);
    let both = !m.args.is_empty() && !m.kwargs.is_empty();
    name_ok && !single_container && !both
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = gmcp::decode(data) {
        let encoded = gmcp::encode(&m);
        match gmcp::decode(&encoded) {
            Ok(again) => {
                if gmcp_round_trips(&m) {
                    assert_eq!(again, m, "GMCP round trip changed the message");
                }
            }
            Err(e) if too_large(&encoded, &e) => {}
            Err(e) => panic!(
                "GMCP re-decode failed: {e}\n  decoded: {m:?}\n  encoded: {:?}",
                String::from_utf8_lossy(&encoded)
            ),
        }
    }

    if let Ok(msgs) = msdp::decode(data) {
        for m in msgs {
            let encoded = msdp::encode(&m);
            match msdp::decode(&encoded) {
                Ok(again) => assert_eq!(
                    again.len(),
                    1,
                    "MSDP re-decode of one message gave {}: {again:?}",
                    again.len()
                ),
                Err(e) if too_large(&encoded, &e) => {}
                Err(e) => {
                    panic!("MSDP re-decode failed: {e}\n  decoded: {m:?}\n  encoded: {encoded:?}")
                }
            }
        }
    }

    let _ = environ::decode(data);
});
