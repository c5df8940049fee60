//! Option subnegotiations: NAWS (window size, escaped 255), the TTYPE/MTTS cycle and
//! CHARSET requests in both directions.

use super::*;

// ---------------------------------------------------------------- NAWS

#[test]
fn naws_255x255_escaped() {
    let mut e = started();
    let (out, ev) = feed(&mut e, &[IAC, SB, NAWS, 0, IAC, IAC, 0, IAC, IAC, IAC, SE]);
    assert!(out.is_empty());
    assert_eq!(
        ev,
        vec![Naws {
            width: 255,
            height: 255
        }]
    );
}

#[test]
fn naws_80x24_and_wrong_length_ignored() {
    let mut e = started();
    let (_, ev) = feed(&mut e, &[IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE]);
    assert_eq!(
        ev,
        vec![Naws {
            width: 80,
            height: 24
        }]
    );
    let (_, ev) = feed(&mut e, &[IAC, SB, NAWS, 0, 80, 0, IAC, SE]);
    assert!(ev.is_empty());
    let (_, ev) = feed(&mut e, &[IAC, SB, NAWS, 0, 80, 0, 24, 1, IAC, SE]);
    assert!(ev.is_empty());
    let (_, ev) = feed(&mut e, &[IAC, SB, NAWS, IAC, SE]);
    assert!(ev.is_empty());
    let (_, ev) = feed(&mut e, &[IAC, SB, NAWS, 1, 0, 0, 50, IAC, SE]);
    assert_eq!(
        ev,
        vec![Naws {
            width: 256,
            height: 50
        }]
    );
}

// ---------------------------------------------------------------- TTYPE / MTTS

#[test]
fn mtts_full_cycle() {
    let mut e = started();
    let (out, ev) = feed(&mut e, &[IAC, WILL, TTYPE]);
    assert_eq!(out, vec![IAC, SB, TTYPE, 1, IAC, SE]);
    assert_eq!(
        ev,
        vec![OptionEnabled {
            option: TTYPE,
            local: false
        }]
    );
    let (out, ev) = feed(&mut e, &ttype_is(b"TINTIN++"));
    assert_eq!(out, vec![IAC, SB, TTYPE, 1, IAC, SE]);
    assert_eq!(ev, vec![ClientName("TINTIN++".into())]);
    let (out, ev) = feed(&mut e, &ttype_is(b"XTERM-256COLOR"));
    assert_eq!(out, vec![IAC, SB, TTYPE, 1, IAC, SE]);
    assert_eq!(ev, vec![TerminalType("XTERM-256COLOR".into())]);
    let (out, ev) = feed(&mut e, &ttype_is(b"MTTS 271"));
    assert!(out.is_empty());
    assert_eq!(ev, vec![Mtts(271)]);
    // Unsolicited answers after the cycle are ignored.
    let (out, ev) = feed(&mut e, &ttype_is(b"MTTS 271"));
    assert!(out.is_empty() && ev.is_empty());
    assert_eq!(e.ttype.requests, 3);
}

#[test]
fn ttype_non_cycling_client() {
    let mut e = started();
    assert_eq!(
        feed(&mut e, &[IAC, WILL, TTYPE]).0,
        TTYPE_SEND_BYTES.to_vec()
    );
    let (out, ev) = feed(&mut e, &ttype_is(b"XTERM"));
    assert_eq!(out, TTYPE_SEND_BYTES.to_vec());
    assert_eq!(ev, vec![ClientName("XTERM".into())]);
    let (out, ev) = feed(&mut e, &ttype_is(b"XTERM"));
    assert!(out.is_empty());
    assert!(ev.is_empty());
    let (out, ev) = feed(&mut e, &ttype_is(b"XTERM"));
    assert!(out.is_empty() && ev.is_empty());
}

#[test]
fn ttype_repeat_at_third_step_stops_without_mtts() {
    let mut e = started();
    feed(&mut e, &[IAC, WILL, TTYPE]);
    feed(&mut e, &ttype_is(b"MUDLET"));
    let (out, ev) = feed(&mut e, &ttype_is(b"ANSI-256COLOR"));
    assert_eq!(out, TTYPE_SEND_BYTES.to_vec());
    assert_eq!(ev, vec![TerminalType("ANSI-256COLOR".into())]);
    let (out, ev) = feed(&mut e, &ttype_is(b"ANSI-256COLOR"));
    assert!(out.is_empty() && ev.is_empty());
}

#[test]
fn ttype_unsolicited_is_and_malformed_payloads_ignored() {
    let mut e = started();
    // Before the client agreed to TTYPE: no SEND outstanding.
    let (out, ev) = feed(&mut e, &ttype_is(b"EVIL"));
    assert!(out.is_empty() && ev.is_empty());
    feed(&mut e, &[IAC, WILL, TTYPE]);
    let (out, ev) = feed(&mut e, &[IAC, SB, TTYPE, IAC, SE]);
    assert!(out.is_empty() && ev.is_empty());
    let (out, ev) = feed(&mut e, &[IAC, SB, TTYPE, TTYPE_SEND, IAC, SE]);
    assert!(out.is_empty() && ev.is_empty());
    // The outstanding SEND is still honoured.
    let (_, ev) = feed(&mut e, &ttype_is(b"ZMUD"));
    assert_eq!(ev, vec![ClientName("ZMUD".into())]);
}

#[test]
fn ttype_unsolicited_will_is_accepted_and_requested() {
    let mut e = engine();
    let (out, _) = feed(&mut e, &[IAC, WILL, TTYPE]);
    let mut expected = vec![IAC, DO, TTYPE];
    expected.extend_from_slice(&TTYPE_SEND_BYTES);
    assert_eq!(out, expected);
}

// ---------------------------------------------------------------- CHARSET

#[test]
fn charset_accept_flow() {
    let mut e = started();
    let (out, ev) = feed(&mut e, &[IAC, DO, CHARSET]);
    let mut expected = vec![IAC, SB, CHARSET, CHARSET_REQUEST];
    expected.extend_from_slice(b";UTF-8");
    expected.extend_from_slice(&[IAC, SE]);
    assert_eq!(out, expected);
    assert_eq!(
        ev,
        vec![OptionEnabled {
            option: CHARSET,
            local: true
        }]
    );
    let mut answer = vec![IAC, SB, CHARSET, CHARSET_ACCEPTED];
    answer.extend_from_slice(b"UTF-8");
    answer.extend_from_slice(&[IAC, SE]);
    let (out, ev) = feed(&mut e, &answer);
    assert!(out.is_empty());
    assert_eq!(ev, vec![Charset("UTF-8".into())]);
    // A second ACCEPTED without a request is ignored.
    let (out, ev) = feed(&mut e, &answer);
    assert!(out.is_empty() && ev.is_empty());
}

#[test]
fn charset_rejected_flow() {
    let mut e = started();
    feed(&mut e, &[IAC, DO, CHARSET]);
    let (out, ev) = feed(&mut e, &[IAC, SB, CHARSET, CHARSET_REJECTED, IAC, SE]);
    assert!(out.is_empty() && ev.is_empty());
}

#[test]
fn charset_client_request() {
    let mut e = engine();
    let (out, _) = feed(&mut e, &[IAC, WILL, CHARSET]);
    assert_eq!(out, vec![IAC, DO, CHARSET]);
    let mut req = vec![IAC, SB, CHARSET, CHARSET_REQUEST];
    req.extend_from_slice(b" ISO-8859-1 utf-8 US-ASCII");
    req.extend_from_slice(&[IAC, SE]);
    let (out, ev) = feed(&mut e, &req);
    let mut expected = vec![IAC, SB, CHARSET, CHARSET_ACCEPTED];
    expected.extend_from_slice(b"utf-8");
    expected.extend_from_slice(&[IAC, SE]);
    assert_eq!(out, expected);
    assert_eq!(ev, vec![Charset("utf-8".into())]);

    let mut req = vec![IAC, SB, CHARSET, CHARSET_REQUEST];
    req.extend_from_slice(b"[TTABLE]\x01;ISO-8859-1;CP437");
    req.extend_from_slice(&[IAC, SE]);
    let (out, ev) = feed(&mut e, &req);
    assert_eq!(out, vec![IAC, SB, CHARSET, CHARSET_REJECTED, IAC, SE]);
    assert!(ev.is_empty());

    // Empty request: rejected, no panic.
    let (out, _) = feed(&mut e, &[IAC, SB, CHARSET, CHARSET_REQUEST, IAC, SE]);
    assert_eq!(out, vec![IAC, SB, CHARSET, CHARSET_REJECTED, IAC, SE]);
}

#[test]
fn charset_request_ignored_when_option_not_enabled() {
    let mut e = engine();
    let mut req = vec![IAC, SB, CHARSET, CHARSET_REQUEST];
    req.extend_from_slice(b";UTF-8");
    req.extend_from_slice(&[IAC, SE]);
    let (out, ev) = feed(&mut e, &req);
    assert!(out.is_empty() && ev.is_empty());
}
