//! What every decoder shares: readable error messages and the payload size limit.

use super::super::{MAX_PAYLOAD, OobError, environ, gmcp, msdp};

#[test]
fn error_display_is_readable() {
    let e = OobError::Malformed {
        offset: 3,
        reason: "x",
    };
    assert_eq!(e.to_string(), "malformed oob payload at byte 3: x");
    assert!(
        OobError::TooLarge { len: 9, max: 8 }
            .to_string()
            .contains("too large")
    );
    assert!(OobError::TooDeep { max: 16 }.to_string().contains("16"));
}

#[test]
fn oversized_payloads_are_rejected_by_every_decoder() {
    let big = vec![b'a'; MAX_PAYLOAD + 1];
    let too_large = OobError::TooLarge {
        len: MAX_PAYLOAD + 1,
        max: MAX_PAYLOAD,
    };
    assert_eq!(gmcp::decode(&big), Err(too_large.clone()));
    assert_eq!(msdp::decode(&big), Err(too_large.clone()));
    assert_eq!(environ::decode(&big), Err(too_large));
    // Exactly at the limit is fine.
    let mut ok = b"Core.Text \"".to_vec();
    ok.resize(MAX_PAYLOAD - 1, b'x');
    ok.push(b'"');
    assert_eq!(ok.len(), MAX_PAYLOAD);
    assert_eq!(gmcp::decode(&ok).map(|m| m.name), Ok("text".to_owned()));
}
