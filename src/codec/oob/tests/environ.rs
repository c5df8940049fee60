//! NEW-ENVIRON: the SEND request byte for byte, decoding replies (TinTin++, escapes, INFO),
//! garbage rejected, and totality on random bytes.

use super::super::{OobError, environ};
use super::{Lcg, cat};

const IS: u8 = environ::IS;
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
