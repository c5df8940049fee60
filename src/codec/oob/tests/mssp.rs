//! MSSP: byte-exact encoding, with framing bytes sanitised and edge cases handled.

use super::super::mssp;
use super::cat;

#[test]
fn mssp_encode_byte_exact() {
    let vars = vec![
        ("NAME".to_owned(), vec!["Portcullis".to_owned()]),
        ("PLAYERS".to_owned(), vec!["3".to_owned()]),
        ("UPTIME".to_owned(), vec!["1700000000".to_owned()]),
        (
            "CODEBASE".to_owned(),
            vec!["Portcullis".to_owned(), "Evennia-like".to_owned()],
        ),
    ];
    let expected = cat(&[
        &[1],
        b"NAME",
        &[2],
        b"Portcullis",
        &[1],
        b"PLAYERS",
        &[2],
        b"3",
        &[1],
        b"UPTIME",
        &[2],
        b"1700000000",
        &[1],
        b"CODEBASE",
        &[2],
        b"Portcullis",
        &[2],
        b"Evennia-like",
    ]);
    assert_eq!(mssp::encode(&vars), expected);
    assert_eq!(mssp::encode(&[]), Vec::<u8>::new());
}

#[test]
fn mssp_encode_sanitises_and_handles_edge_cases() {
    let vars = vec![
        ("NA\u{0}M\u{1}E".to_owned(), vec!["a\u{2}b".to_owned()]),
        ("\u{1}\u{2}".to_owned(), vec!["dropped".to_owned()]),
        ("EMPTY".to_owned(), vec![]),
        ("Y".to_owned(), vec!["ÿ".to_owned()]),
    ];
    let expected = cat(&[
        &[1],
        b"NAME",
        &[2],
        b"ab",
        &[1],
        b"EMPTY",
        &[2],
        &[1],
        b"Y",
        &[2],
        b"\xC3\xBF",
    ]);
    assert_eq!(mssp::encode(&vars), expected);
    assert_eq!(mssp::OPTION, 70);
}
