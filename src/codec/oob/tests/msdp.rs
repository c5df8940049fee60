//! MSDP: byte-exact encoding of scalars, arrays, tables and nesting, decoding of commands and
//! variables, round trips, junk and depth bombs rejected, and totality on random bytes.

use serde_json::{Value, json};

use super::super::msdp::{
    MSDP_ARRAY_CLOSE as AC, MSDP_ARRAY_OPEN as AO, MSDP_TABLE_CLOSE as TC, MSDP_TABLE_OPEN as TO,
    MSDP_VAL as VL, MSDP_VAR as VR,
};
use super::super::{MAX_DEPTH, OobError, OobMessage, msdp};
use super::{Lcg, cat, obj};

#[test]
fn msdp_encode_scalar_byte_exact() {
    let m = OobMessage::new("health").with_args(vec![json!("100")]);
    assert_eq!(msdp::encode(&m), cat(&[&[VR], b"HEALTH", &[VL], b"100"]));
    let m = OobMessage::new("health").with_args(vec![json!(100)]);
    assert_eq!(msdp::encode(&m), cat(&[&[VR], b"HEALTH", &[VL], b"100"]));
    let m = OobMessage::new("ratio").with_args(vec![json!(0.5)]);
    assert_eq!(msdp::encode(&m), cat(&[&[VR], b"RATIO", &[VL], b"0.5"]));
    let m = OobMessage::new("flag").with_args(vec![json!(true)]);
    assert_eq!(msdp::encode(&m), cat(&[&[VR], b"FLAG", &[VL], b"true"]));
    let m = OobMessage::new("gone").with_args(vec![Value::Null]);
    assert_eq!(msdp::encode(&m), cat(&[&[VR], b"GONE", &[VL]]));
    let m = OobMessage::new("empty");
    assert_eq!(msdp::encode(&m), cat(&[&[VR], b"EMPTY", &[VL]]));
}

#[test]
fn msdp_encode_array_byte_exact() {
    let m = OobMessage::new("reportable_variables").with_args(vec![
        json!("HEALTH"),
        json!("MANA"),
        json!(3),
    ]);
    assert_eq!(
        msdp::encode(&m),
        cat(&[
            &[VR],
            b"REPORTABLE_VARIABLES",
            &[VL, AO, VL],
            b"HEALTH",
            &[VL],
            b"MANA",
            &[VL],
            b"3",
            &[AC],
        ])
    );
    // A single array arg is the same array.
    let m = OobMessage::new("list").with_args(vec![json!(["a", "b"])]);
    assert_eq!(
        msdp::encode(&m),
        cat(&[&[VR], b"LIST", &[VL, AO, VL], b"a", &[VL], b"b", &[AC]])
    );
}

#[test]
fn msdp_encode_table_byte_exact() {
    // Keys are inserted in sorted order so the expectation holds whether or
    // not serde_json's `preserve_order` feature is enabled.
    let m = OobMessage::new("room").with_kwargs(obj(json!({"area": "town", "vnum": 3001})));
    assert_eq!(
        msdp::encode(&m),
        cat(&[
            &[VR],
            b"ROOM",
            &[VL, TO, VR],
            b"area",
            &[VL],
            b"town",
            &[VR],
            b"vnum",
            &[VL],
            b"3001",
            &[TC],
        ])
    );
}

#[test]
fn msdp_encode_nested_byte_exact() {
    let m = OobMessage::new("room").with_kwargs(obj(json!({
        "exits": {"n": "3002", "s": "3000"},
        "terrain": ["road", "city"],
    })));
    assert_eq!(
        msdp::encode(&m),
        cat(&[
            &[VR],
            b"ROOM",
            &[VL, TO],
            &[VR],
            b"exits",
            &[VL, TO, VR],
            b"n",
            &[VL],
            b"3002",
            &[VR],
            b"s",
            &[VL],
            b"3000",
            &[TC],
            &[VR],
            b"terrain",
            &[VL, AO, VL],
            b"road",
            &[VL],
            b"city",
            &[AC],
            &[TC],
        ])
    );
}

#[test]
fn msdp_encode_args_and_kwargs() {
    let m = OobMessage::new("mixed")
        .with_args(vec![json!("x"), json!(2)])
        .with_kwargs(obj(json!({"args": "shadowed", "k": "v"})));
    assert_eq!(
        msdp::encode(&m),
        cat(&[
            &[VR],
            b"MIXED",
            &[VL, TO, VR],
            b"k",
            &[VL],
            b"v",
            &[VR],
            b"args",
            &[VL, AO, VL],
            b"x",
            &[VL],
            b"2",
            &[AC, TC],
        ])
    );
}

#[test]
fn msdp_encode_sanitises_framing_bytes() {
    let m = OobMessage::new("na\u{1}me").with_kwargs(obj(json!({
        "k\u{3}ey": "v\u{2}a\u{4}l\u{5}u\u{6}e\u{0}",
    })));
    assert_eq!(
        msdp::encode(&m),
        cat(&[
            &[VR],
            b"NAME",
            &[VL, TO, VR],
            b"key",
            &[VL],
            b"value\x00",
            &[TC]
        ])
    );
    // ÿ is C3 BF in UTF-8: no 0xFF byte ever appears.
    let m = OobMessage::new("y").with_args(vec![json!("ÿ")]);
    assert_eq!(msdp::encode(&m), cat(&[&[VR], b"Y", &[VL], b"\xC3\xBF"]));
}

#[test]
fn msdp_encode_too_deep_degrades_to_json_text() {
    let mut v = json!(1);
    for _ in 0..(MAX_DEPTH + 4) {
        v = json!([v]);
    }
    let m = OobMessage::new("deep").with_args(vec![v]);
    let wire = msdp::encode(&m);
    let back = msdp::decode(&wire).unwrap();
    assert_eq!(back.len(), 1);
    // Decodes fine: the innermost levels arrived as a JSON string.
    let mut cur = &Value::Array(back[0].args.clone());
    let mut levels = 0;
    while let Value::Array(items) = cur {
        levels += 1;
        cur = &items[0];
    }
    assert_eq!(levels, MAX_DEPTH);
    assert_eq!(cur, &json!("[[[[1]]]]"));
}

#[test]
fn msdp_decode_commands() {
    let payload = cat(&[
        &[VR],
        b"LIST",
        &[VL],
        b"COMMANDS",
        &[VR],
        b"report",
        &[VL, AO, VL],
        b"HEALTH",
        &[VL],
        b"MANA",
        &[AC],
        &[VR],
        b"SEND",
        &[VL],
        b"ROOM",
        &[VL],
        b"EXITS",
        &[VR],
        b"UnReport",
        &[VL],
        b"HEALTH",
        &[VR],
        b"RESET",
        &[VL],
        b"REPORTED_VARIABLES",
    ]);
    let msgs = msdp::decode(&payload).unwrap();
    let expected = vec![
        OobMessage::new("msdp_list").with_args(vec![json!("COMMANDS")]),
        OobMessage::new("msdp_report").with_args(vec![json!("HEALTH"), json!("MANA")]),
        OobMessage::new("msdp_send").with_args(vec![json!("ROOM"), json!("EXITS")]),
        OobMessage::new("msdp_unreport").with_args(vec![json!("HEALTH")]),
        OobMessage::new("msdp_reset").with_args(vec![json!("REPORTED_VARIABLES")]),
    ];
    assert_eq!(msgs, expected);
}

#[test]
fn msdp_decode_variables() {
    let payload = cat(&[
        &[VR],
        b"CLIENT_NAME",
        &[VL],
        b"TinTin++",
        &[VR],
        b"ROOM",
        &[VL, TO, VR],
        b"VNUM",
        &[VL],
        b"6008",
        &[VR],
        b"EXITS",
        &[VL, TO, VR],
        b"n",
        &[VL],
        b"6011",
        &[TC],
        &[VR],
        b"TAGS",
        &[VL, AO, VL],
        b"a",
        &[VL, AO, AC],
        &[AC],
        &[VR],
        b"MULTI",
        &[VL],
        b"x",
        &[VL],
        b"y",
        &[TC],
        &[VR],
        b"Groups",
        &[VL, AO, VL],
        b"one",
        &[VL, TO, TC],
        &[AC],
        &[VR],
        b"XTERM_256_COLORS",
        &[VL],
        b"1",
        &[VL, AO, VL],
        b"z",
        &[AC],
        &[VR],
        b"EMPTY",
        &[VL],
    ]);
    let msgs = msdp::decode(&payload).unwrap();
    let expected = vec![
        OobMessage::new("client_name").with_args(vec![json!("TinTin++")]),
        OobMessage::new("room").with_kwargs(obj(json!({
            "VNUM": "6008",
            "EXITS": {"n": "6011"},
            "TAGS": ["a", []],
            "MULTI": ["x", "y"],
        }))),
        OobMessage::new("groups").with_args(vec![json!("one"), json!({})]),
        OobMessage::new("xterm_256_colors").with_args(vec![json!("1"), json!(["z"])]),
        OobMessage::new("empty").with_args(vec![json!("")]),
    ];
    assert_eq!(msgs, expected);
    assert_eq!(msdp::decode(b""), Ok(vec![]));
}

#[test]
fn msdp_round_trips() {
    let messages = [
        OobMessage::new("health").with_args(vec![json!("100")]),
        OobMessage::new("affects").with_args(vec![json!("bless"), json!("sanctuary")]),
        OobMessage::new("room").with_kwargs(obj(json!({
            "exits": {"e": "3", "w": "4"},
            "name": "Market 🎉",
            "tags": ["x", ["y", {"z": "1"}]],
        }))),
    ];
    for m in messages {
        assert_eq!(msdp::decode(&msdp::encode(&m)).unwrap(), vec![m]);
    }
}

#[test]
fn msdp_rejects_junk() {
    let cases: Vec<Vec<u8>> = vec![
        cat(&[&[VL], b"x"]),                                   // VAL without VAR
        b"junk".to_vec(),                                      // data before VAR
        cat(&[&[VR], b"X"]),                                   // VAR without VAL
        cat(&[&[VR], b"X", &[VR], b"Y", &[VL], b"1"]),         // VAR without VAL
        cat(&[&[VR, VL], b"x"]),                               // empty name
        cat(&[&[VR], b"X", &[VL, TO, VR], b"k", &[VL], b"v"]), // unbalanced TABLE_OPEN
        cat(&[&[VR], b"X", &[VL, TO]]),                        // unbalanced TABLE_OPEN
        cat(&[&[VR], b"X", &[VL, AO, VL], b"a"]),              // unbalanced ARRAY_OPEN
        cat(&[&[VR], b"X", &[VL, TC]]),                        // stray TABLE_CLOSE
        cat(&[&[VR], b"X", &[VL, AC]]),                        // stray ARRAY_CLOSE
        cat(&[&[VR], b"X", &[VL, TO, VL], b"v", &[TC]]),       // VAL without VAR in table
        cat(&[&[VR], b"X", &[VL, AO, VR], b"k", &[AC]]),       // VAR in array
        cat(&[&[VR], b"X", &[VL, TO, TC], b"tail"]),           // data after table
        cat(&[&[VR], b"X", &[VL], b"a", &[AO, AC]]),           // array after string
        cat(&[&[VR], b"X", &[VL, TO, VR], b"k", &[TC]]),       // key without VAL
    ];
    for case in cases {
        assert!(
            matches!(msdp::decode(&case), Err(OobError::Malformed { .. })),
            "{case:?} -> {:?}",
            msdp::decode(&case)
        );
    }
}

#[test]
fn msdp_rejects_depth_bombs() {
    // 1000 bare TABLE_OPENs.
    let mut bomb = cat(&[&[VR], b"X", &[VL]]);
    bomb.extend(std::iter::repeat_n(TO, 1000));
    assert!(msdp::decode(&bomb).is_err());

    // 1000 well-formed nested tables: rejected for depth.
    let mut bomb = cat(&[&[VR], b"X", &[VL]]);
    for _ in 0..1000 {
        bomb.extend_from_slice(&[TO, VR, b'k', VL]);
    }
    bomb.extend(std::iter::repeat_n(TC, 1000));
    assert_eq!(
        msdp::decode(&bomb),
        Err(OobError::TooDeep { max: MAX_DEPTH })
    );

    // 1000 nested arrays.
    let mut bomb = cat(&[&[VR], b"X", &[VL]]);
    for _ in 0..1000 {
        bomb.extend_from_slice(&[AO, VL]);
    }
    assert_eq!(
        msdp::decode(&bomb),
        Err(OobError::TooDeep { max: MAX_DEPTH })
    );

    // Exactly MAX_DEPTH nested tables are accepted.
    let mut ok = cat(&[&[VR], b"X", &[VL]]);
    for _ in 0..MAX_DEPTH {
        ok.extend_from_slice(&[TO, VR, b'k', VL]);
    }
    ok.extend(std::iter::repeat_n(TC, MAX_DEPTH));
    assert!(msdp::decode(&ok).is_ok());
}

#[test]
fn msdp_decode_is_total_on_random_bytes() {
    let mut rng = Lcg(7);
    let alphabet = [VR, VL, TO, TC, AO, AC, b'a', b'B', 0, 0xFF, 0xC3];
    let mut oks = 0;
    for _ in 0..20_000 {
        let input = rng.bytes(&alphabet, 48);
        if msdp::decode(&input).is_ok() {
            oks += 1;
        }
    }
    assert!(oks > 0);
}

#[test]
fn msdp_invalid_utf8_is_replaced_not_rejected() {
    let payload = cat(&[&[VR], b"N", &[VL], b"a\xFFb"]);
    let msgs = msdp::decode(&payload).unwrap();
    assert_eq!(msgs[0].args, vec![json!("a\u{FFFD}b")]);
}
