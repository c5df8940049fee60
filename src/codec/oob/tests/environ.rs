//! NEW-ENVIRON: the SEND request byte for byte, decoding replies (TinTin++, escapes, INFO),
//! garbage rejected, and totality on random bytes; for the client role (gateway mode) a game's
//! SEND decoded and our IS reply encoded, byte for byte and round-tripped through `decode`.

use super::super::{OobError, environ};
use super::{Lcg, cat};

const IS: u8 = environ::IS;
const SEND: u8 = environ::SEND;
const INFO: u8 = environ::INFO;
const EVAR: u8 = environ::VAR;
const EVALUE: u8 = environ::VALUE;
const ESC: u8 = environ::ESC;
const USERVAR: u8 = environ::USERVAR;

fn pair(name: &str, value: Option<&str>) -> (String, Option<String>) {
    (name.to_owned(), value.map(str::to_owned))
}

#[test]
fn environ_send_request_byte_exact() {
    assert_eq!(
        environ::send_request(),
        cat(&[
            &[environ::SEND, EVAR],
            b"CLIENT_NAME",
            &[EVAR],
            b"CLIENT_VERSION",
            &[EVAR],
            b"CHARSET",
            &[EVAR],
            b"MTTS",
            &[EVAR],
            b"TERMINAL_TYPE",
        ])
    );
    assert_eq!(environ::OPTION, 39);
}

#[test]
fn environ_decode_tintin_reply() {
    let payload = cat(&[
        &[IS, EVAR],
        b"CLIENT_NAME",
        &[EVALUE],
        b"TinTin++",
        &[EVAR],
        b"CLIENT_VERSION",
        &[EVALUE],
        b"2.02",
        &[USERVAR],
        b"MTTS",
        &[EVALUE],
        b"271",
        &[EVAR],
        b"CHARSET",
        &[EVALUE],
        &[EVAR],
        b"TERMINAL_TYPE",
    ]);
    assert_eq!(
        environ::decode(&payload).unwrap(),
        vec![
            pair("CLIENT_NAME", Some("TinTin++")),
            pair("CLIENT_VERSION", Some("2.02")),
            pair("MTTS", Some("271")),
            pair("CHARSET", Some("")),
            pair("TERMINAL_TYPE", None),
        ]
    );
}

#[test]
fn environ_decode_escapes_and_info() {
    // ESC protects VAR (0), VALUE (1), ESC (2) and USERVAR (3) in data.
    let payload = cat(&[
        &[INFO, EVAR],
        b"ODD",
        &[ESC, EVAR],
        b"NAME",
        &[EVALUE],
        b"a",
        &[ESC, EVALUE, ESC, ESC, ESC, USERVAR],
        b"b",
        &[ESC],
        b"c",
    ]);
    assert_eq!(
        environ::decode(&payload).unwrap(),
        vec![pair("ODD\u{0}NAME", Some("a\u{1}\u{2}\u{3}bc"))]
    );
    assert_eq!(environ::decode(&[IS]), Ok(vec![]));
    assert_eq!(environ::decode(&[INFO]), Ok(vec![]));
    assert_eq!(
        environ::decode(&[IS, EVAR, EVAR]).unwrap(),
        vec![pair("", None), pair("", None)]
    );
    assert_eq!(
        environ::decode(&cat(&[&[IS, EVAR], b"U", &[EVALUE], "ÿ🎉".as_bytes()])).unwrap(),
        vec![pair("U", Some("ÿ🎉"))]
    );
    assert_eq!(
        environ::decode(&cat(&[&[IS, EVAR], b"U", &[EVALUE], b"\xFF"])).unwrap(),
        vec![pair("U", Some("\u{FFFD}"))]
    );
}

#[test]
fn environ_rejects_garbage() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],                                                      // empty
        cat(&[&[environ::SEND, EVAR], b"X"]),                        // SEND from client
        b"garbage".to_vec(),                                         // not IS/INFO
        vec![0xFF, 0xFF],                                            // not IS/INFO
        cat(&[&[IS], b"junk", &[EVAR], b"X"]),                       // data before VAR
        cat(&[&[IS, EVALUE], b"x"]),                                 // VALUE before VAR
        cat(&[&[IS, EVAR], b"X", &[EVALUE], b"a", &[EVALUE], b"b"]), // two VALUEs
        cat(&[&[IS, EVAR], b"X", &[EVALUE], b"a", &[ESC]]),          // trailing ESC
        cat(&[&[IS, ESC]]),                                          // lone ESC
    ];
    for case in cases {
        assert!(
            matches!(environ::decode(&case), Err(OobError::Malformed { .. })),
            "{case:?} -> {:?}",
            environ::decode(&case)
        );
    }
}

#[test]
fn environ_decode_is_total_on_random_bytes() {
    let mut rng = Lcg(42);
    let alphabet = [IS, EVALUE, INFO, USERVAR, b'A', b'=', 0xFF, 0xF0];
    for _ in 0..20_000 {
        let input = rng.bytes(&alphabet, 32);
        let _ = environ::decode(&input);
    }
}

// ---------------------------------------------------------------- client role

fn want(kind: u8, name: &str) -> (u8, String) {
    (kind, name.to_owned())
}

#[test]
fn environ_decode_send_named_bare_and_empty() {
    // A bare SEND asks for everything: both types, every name.
    assert_eq!(
        environ::decode_send(&[SEND]).unwrap(),
        vec![want(EVAR, ""), want(USERVAR, "")]
    );
    // Named variables, a bare USERVAR ("all user variables"), escapes, types kept.
    let payload = cat(&[
        &[SEND, EVAR],
        b"USER",
        &[USERVAR],
        b"CLIENT_NAME",
        &[USERVAR, EVAR],
        b"A",
        &[ESC, EVALUE, ESC, ESC, ESC, EVAR, ESC, USERVAR],
        b"B",
    ]);
    assert_eq!(
        environ::decode_send(&payload).unwrap(),
        vec![
            want(EVAR, "USER"),
            want(USERVAR, "CLIENT_NAME"),
            want(USERVAR, ""),
            want(EVAR, "A\u{1}\u{2}\u{0}\u{3}B"),
        ]
    );
    assert_eq!(
        environ::decode_send(&[SEND, EVAR]).unwrap(),
        vec![want(EVAR, "")]
    );
}

#[test]
fn environ_decode_send_rejects_garbage() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],                                       // empty
        cat(&[&[IS, EVAR], b"X"]),                    // an IS is not a SEND
        vec![INFO],                                   // nor an INFO
        cat(&[&[SEND], b"junk"]),                     // data before VAR
        cat(&[&[SEND, EVAR], b"X", &[EVALUE], b"v"]), // VALUE in a SEND
        cat(&[&[SEND, EVAR], b"X", &[ESC]]),          // trailing ESC
        vec![SEND, ESC, b'a'],                        // escaped data before VAR
    ];
    for case in cases {
        assert!(
            matches!(environ::decode_send(&case), Err(OobError::Malformed { .. })),
            "{case:?} -> {:?}",
            environ::decode_send(&case)
        );
    }
    let huge = cat(&[&[SEND, EVAR], &vec![b'x'; super::super::MAX_PAYLOAD]]);
    assert!(matches!(
        environ::decode_send(&huge),
        Err(OobError::TooLarge { .. })
    ));
}

#[test]
fn environ_decode_send_is_total_on_random_bytes() {
    let mut rng = Lcg(7);
    let alphabet = [SEND, EVAR, EVALUE, ESC, USERVAR, b'A', 0xFF];
    for _ in 0..20_000 {
        let input = rng.bytes(&alphabet, 32);
        if let Ok(list) = environ::decode_send(&input) {
            assert!(list.iter().all(|(t, _)| *t == EVAR || *t == USERVAR));
        }
    }
}

#[test]
fn environ_encode_is_byte_exact() {
    let payload = environ::encode_is(&[
        (EVAR, "CLIENT_NAME", Some("Portcullis")),
        (USERVAR, "MTTS", Some("137")),
        (EVAR, "CHARSET", Some("")),
        (EVAR, "TERMINAL_TYPE", None),
    ]);
    assert_eq!(
        payload,
        cat(&[
            &[IS, EVAR],
            b"CLIENT_NAME",
            &[EVALUE],
            b"Portcullis",
            &[USERVAR],
            b"MTTS",
            &[EVALUE],
            b"137",
            &[EVAR],
            b"CHARSET",
            &[EVALUE, EVAR],
            b"TERMINAL_TYPE",
        ])
    );
    assert_eq!(environ::encode_is(&[]), vec![IS]);
    // Bytes 0..=3 are escaped in names and values; a type other than USERVAR is written VAR.
    assert_eq!(
        environ::encode_is(&[(9, "a\u{0}\u{3}", Some("\u{1}\u{2}\u{4}"))]),
        vec![IS, EVAR, b'a', ESC, 0, ESC, 3, EVALUE, ESC, 1, ESC, 2, 4]
    );
}

#[test]
fn environ_encode_is_round_trips_through_decode() {
    let vars: &[(u8, &str, Option<&str>)] = &[
        (EVAR, "USER", Some("guest")),
        (
            USERVAR,
            "odd\u{0}\u{1}\u{2}\u{3}name",
            Some("v\u{3}\u{2}\u{1}\u{0}"),
        ),
        (EVAR, "", Some("")),
        (USERVAR, "ÿ🎉", None),
        (EVAR, "IAC\u{FF}", Some("\u{FF}")),
    ];
    let decoded = environ::decode(&environ::encode_is(vars)).unwrap();
    let expected: Vec<_> = vars.iter().map(|&(_, n, v)| pair(n, v)).collect();
    assert_eq!(decoded, expected);

    let mut rng = Lcg(11);
    let alphabet = [0, 1, 2, 3, b'a', b'Z'];
    for _ in 0..2_000 {
        let name = String::from_utf8(rng.bytes(&alphabet, 8)).unwrap();
        let value = String::from_utf8(rng.bytes(&alphabet, 8)).unwrap();
        let has_value = rng.next().is_multiple_of(2);
        let vars = [(USERVAR, name.as_str(), has_value.then_some(value.as_str()))];
        assert_eq!(
            environ::decode(&environ::encode_is(&vars)).unwrap(),
            vec![pair(&name, has_value.then_some(value.as_str()))]
        );
    }
}
