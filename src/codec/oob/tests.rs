//! Tests for the OOB codecs: byte-exact encodings, decoding of real client
//! payloads, round trips, and totality (junk gives `Err`, never a panic).

use serde_json::{Map, Value, json};

use super::msdp::{
    MSDP_ARRAY_CLOSE as AC, MSDP_ARRAY_OPEN as AO, MSDP_TABLE_CLOSE as TC, MSDP_TABLE_OPEN as TO,
    MSDP_VAL as VL, MSDP_VAR as VR,
};
use super::{MAX_DEPTH, MAX_PAYLOAD, OobError, OobMessage, environ, gmcp, msdp, mssp};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Concatenate byte fragments.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Tiny deterministic PRNG for fuzz-style totality tests.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    // `next` yields 31-bit values, so the casts below never truncate.
    #[allow(clippy::cast_possible_truncation)]
    fn bytes(&mut self, alphabet: &[u8], max_len: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max_len + 1);
        (0..len)
            .map(|_| alphabet[(self.next() as usize) % alphabet.len()])
            .collect()
    }
}

// ---------------------------------------------------------------- shared

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

// ---------------------------------------------------------------- GMCP

#[test]
fn gmcp_decodes_core_hello_from_mudlet() {
    let msg = gmcp::decode(br#"Core.Hello {"client":"Mudlet","version":"4.17"}"#).unwrap();
    assert_eq!(msg.name, "hello");
    assert!(msg.args.is_empty());
    assert_eq!(
        msg.kwargs,
        obj(json!({"client": "Mudlet", "version": "4.17"}))
    );
    assert_eq!(
        gmcp::client_info(&msg),
        Some(("Mudlet".to_owned(), "4.17".to_owned()))
    );
}

#[test]
fn gmcp_client_info_edge_cases() {
    let no_version = OobMessage::new("hello").with_kwargs(obj(json!({"client": "TinTin++"})));
    assert_eq!(
        gmcp::client_info(&no_version),
        Some(("TinTin++".to_owned(), String::new()))
    );
    let numeric = OobMessage::new("hello").with_kwargs(obj(json!({"client": "X", "version": 2})));
    assert_eq!(
        gmcp::client_info(&numeric),
        Some(("X".to_owned(), "2".to_owned()))
    );
    let no_client = OobMessage::new("hello").with_kwargs(obj(json!({"version": "1"})));
    assert_eq!(gmcp::client_info(&no_client), None);
    let bad_client = OobMessage::new("hello").with_kwargs(obj(json!({"client": ["x"]})));
    assert_eq!(gmcp::client_info(&bad_client), None);
    let wrong_name = OobMessage::new("ping").with_kwargs(obj(json!({"client": "X"})));
    assert_eq!(gmcp::client_info(&wrong_name), None);
}

#[test]
fn gmcp_name_mapping_player_to_server() {
    let cases: &[(&[u8], &str)] = &[
        (b"Core.Hello", "hello"),
        (b"Core.Supports.Set [\"Char 1\"]", "supports_set"),
        (b"Core.Supports.Add []", "supports_add"),
        (b"Core.Supports.Remove []", "supports_remove"),
        (b"Core.Ping", "ping"),
        (b"core.ping", "ping"),
        (b"Core.KeepAlive", "keepalive"),
        (b"Char.Login {}", "char_login"),
        (b"Char.Items.Inv", "char_items_inv"),
        (b"External.Discord.Hello", "external_discord_hello"),
        (b"Core", "core"),
        (b"Corey.Thing", "corey_thing"),
    ];
    for (payload, name) in cases {
        assert_eq!(gmcp::decode(payload).unwrap().name, *name, "{payload:?}");
    }
}

#[test]
fn gmcp_value_mapping() {
    let m = gmcp::decode(b"Core.Supports.Set [\"Char 1\", \"Room 1\"]").unwrap();
    assert_eq!(m.args, vec![json!("Char 1"), json!("Room 1")]);
    assert!(m.kwargs.is_empty());

    let m = gmcp::decode(b"Char.Login {\"name\":\"bob\",\"password\":\"pw\"}").unwrap();
    assert!(m.args.is_empty());
    assert_eq!(m.kwargs, obj(json!({"name": "bob", "password": "pw"})));

    for (payload, arg) in [
        (&b"Core.Text \"look\""[..], json!("look")),
        (b"Core.Ping 42", json!(42)),
        (b"X.Y true", json!(true)),
        (b"X.Y null", Value::Null),
        (b"X.Y\t\t1.5  ", json!(1.5)),
    ] {
        let m = gmcp::decode(payload).unwrap();
        assert_eq!(m.args, vec![arg]);
        assert!(m.kwargs.is_empty());
    }

    let m = gmcp::decode(b"Core.Ping").unwrap();
    assert!(m.args.is_empty() && m.kwargs.is_empty());
    let m = gmcp::decode(b"Core.Ping   ").unwrap();
    assert!(m.args.is_empty() && m.kwargs.is_empty());
    // JSON glued to the name is tolerated.
    let m = gmcp::decode(b"Char.Login{\"a\":1}").unwrap();
    assert_eq!(
        (m.name.as_str(), m.kwargs),
        ("char_login", obj(json!({"a": 1})))
    );
}

#[test]
fn gmcp_unicode_survives() {
    // 🎉 is F0 9F 8E 89; ÿ (U+00FF) is C3 BF.
    let payload = "Comm.Channel.Text {\"text\":\"party 🎉 ÿ\"}".as_bytes();
    assert!(payload.contains(&0xF0));
    assert!(payload.windows(2).any(|w| w == [0xC3, 0xBF]));
    let m = gmcp::decode(payload).unwrap();
    assert_eq!(m.kwargs, obj(json!({"text": "party 🎉 ÿ"})));
    let encoded = gmcp::encode(&m);
    assert_eq!(encoded, payload);
    assert_eq!(gmcp::decode(&encoded).unwrap(), m);

    let m = OobMessage::new("text").with_args(vec![json!("ÿ")]);
    let encoded = gmcp::encode(&m);
    assert_eq!(encoded, b"Core.Text \"\xC3\xBF\"");
    assert_eq!(gmcp::decode(&encoded).unwrap(), m);
}

#[test]
fn gmcp_rejects_bad_input() {
    // A raw 0xFF byte is not UTF-8.
    assert_eq!(
        gmcp::decode(b"Core.Text \"\xFF\""),
        Err(OobError::InvalidUtf8 { offset: 11 })
    );
    assert!(matches!(
        gmcp::decode(b"\xFF"),
        Err(OobError::InvalidUtf8 { .. })
    ));
    // Lone emoji lead byte (truncated sequence).
    assert!(matches!(
        gmcp::decode(b"Core.Text \"\xF0\""),
        Err(OobError::InvalidUtf8 { .. })
    ));
    for bad_json in [
        &b"Core.Hello {"[..],
        b"Core.Hello {\"a\":}",
        b"Core.Hello [1,2",
        b"Core.Hello 1 2",
        b"Core.Hello look",
        b"Core.Hello {} {}",
    ] {
        assert!(
            matches!(gmcp::decode(bad_json), Err(OobError::InvalidJson(_))),
            "{bad_json:?}"
        );
    }
    for bad_name in [
        &b""[..],
        b"   ",
        b" Core.Hello",
        b"{\"a\":1}",
        b"Core..Hello",
        b".Core",
        b"Core.",
        b"Core.H\xC3\xA9llo",
        b"Core/Hello 1",
        b"Core\x00Hello",
    ] {
        assert!(
            matches!(gmcp::decode(bad_name), Err(OobError::Malformed { .. })),
            "{bad_name:?}"
        );
    }
}

#[test]
fn gmcp_rejects_deep_json() {
    let ok = format!("X.Y {}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(gmcp::decode(ok.as_bytes()).is_ok());
    let deep = format!(
        "X.Y {}1{}",
        "[".repeat(MAX_DEPTH + 1),
        "]".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        gmcp::decode(deep.as_bytes()),
        Err(OobError::TooDeep { max: MAX_DEPTH })
    );
    let deep_obj = format!("X.Y {}1{}", "{\"a\":".repeat(40), "}".repeat(40));
    assert_eq!(
        gmcp::decode(deep_obj.as_bytes()),
        Err(OobError::TooDeep { max: MAX_DEPTH })
    );
    // Far deeper than serde_json's own limit: still an Err, no stack overflow.
    let bomb = format!("X.Y {}", "[".repeat(60_000));
    assert!(gmcp::decode(bomb.as_bytes()).is_err());
}

#[test]
fn gmcp_encode_names() {
    for (name, package) in [
        ("hello", "Core.Hello"),
        ("ping", "Core.Ping"),
        ("text", "Core.Text"),
        ("prompt", "Core.Prompt"),
        ("goodbye", "Core.Goodbye"),
        ("supports_set", "Core.Supports.Set"),
        ("char_vitals", "Char.Vitals"),
        ("char_items_list", "Char.Items.List"),
        ("room", "Room"),
        ("comm__channel_", "Comm.Channel"),
        ("IRE.Rift.Change", "IRE.Rift.Change"),
        ("Char.Vitals", "Char.Vitals"),
        ("bad name\n", "Badname"),
        ("", gmcp::FALLBACK_NAME),
        ("___", gmcp::FALLBACK_NAME),
        ("💥", gmcp::FALLBACK_NAME),
    ] {
        assert_eq!(gmcp::name_to_package(name), package, "{name:?}");
    }
}

#[test]
fn gmcp_encode_value_shapes() {
    let m = OobMessage::new("ping");
    assert_eq!(gmcp::encode(&m), b"Core.Ping");

    let m = OobMessage::new("char_vitals").with_kwargs(obj(json!({"hp": 10, "maxhp": 20})));
    assert_eq!(gmcp::encode(&m), br#"Char.Vitals {"hp":10,"maxhp":20}"#);

    let m = OobMessage::new("text").with_args(vec![json!("Hello\nworld")]);
    assert_eq!(gmcp::encode(&m), br#"Core.Text "Hello\nworld""#);

    let m = OobMessage::new("char_items_list").with_args(vec![json!("inv"), json!(3)]);
    assert_eq!(gmcp::encode(&m), br#"Char.Items.List ["inv",3]"#);

    let m = OobMessage::new("custom_thing")
        .with_args(vec![json!(1), json!("two")])
        .with_kwargs(obj(json!({"k": "v"})));
    assert_eq!(gmcp::encode(&m), br#"Custom.Thing [1,"two",{"k":"v"}]"#);

    // A single container arg is sent bare.
    let m = OobMessage::new("room_info").with_args(vec![json!({"num": 1})]);
    assert_eq!(gmcp::encode(&m), br#"Room.Info {"num":1}"#);
}

#[test]
fn gmcp_round_trips() {
    let messages = [
        OobMessage::new("ping"),
        OobMessage::new("hello").with_kwargs(obj(json!({"client": "Mudlet", "version": "4.17"}))),
        OobMessage::new("text").with_args(vec![json!("You see a 🐉.")]),
        OobMessage::new("char_vitals").with_kwargs(obj(
            json!({"hp": 10, "mp": [1, 2, {"deep": null}], "name": "ÿ"}),
        )),
        OobMessage::new("char_items_inv").with_args(vec![json!(1), json!("a"), json!(false)]),
        OobMessage::new("supports_set").with_args(vec![json!("Char 1"), json!("Room 1")]),
        OobMessage::new("room_info_x").with_args(vec![json!(null)]),
        OobMessage::new("foo").with_args(vec![json!(-2.5)]),
    ];
    for m in messages {
        let wire = gmcp::encode(&m);
        assert_eq!(
            gmcp::decode(&wire).unwrap(),
            m,
            "{:?}",
            String::from_utf8_lossy(&wire)
        );
    }
    // Documented exception: `core_`-prefixed names lose the prefix.
    let core = OobMessage::new("core_x_y");
    assert_eq!(gmcp::encode(&core), b"Core.X.Y");
    assert_eq!(gmcp::decode(b"Core.X.Y").unwrap().name, "x_y");
    // Args + kwargs decode as args with the kwargs object appended.
    let both = OobMessage::new("foo_bar")
        .with_args(vec![json!(1)])
        .with_kwargs(obj(json!({"a": 2})));
    let back = gmcp::decode(&gmcp::encode(&both)).unwrap();
    assert_eq!(back.args, vec![json!(1), json!({"a": 2})]);
    assert!(back.kwargs.is_empty());
}

#[test]
fn gmcp_decode_is_total_on_random_bytes() {
    let mut rng = Lcg(1);
    let alphabet: Vec<u8> =
        b"Core.Hello {}[]\":,0123456789aeltrunf\\ \t\xFF\xF0\x9F\xC3\xBF\x00".to_vec();
    for _ in 0..5_000 {
        let input = rng.bytes(&alphabet, 40);
        let _ = gmcp::decode(&input);
    }
}

// ---------------------------------------------------------------- MSDP

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

// ---------------------------------------------------------------- MSSP

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

// ---------------------------------------------------------------- NEW-ENVIRON

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
