//! GMCP: decoding real client payloads (Mudlet's Core.Hello), name and value mapping between
//! player and server, rejection of bad or deep JSON, encoding, round trips and totality.

use serde_json::{Value, json};

use super::super::{MAX_DEPTH, OobError, OobMessage, gmcp};
use super::{Lcg, obj};

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

/// A payload's package name and JSON value.
fn split(payload: &[u8]) -> (String, Option<Value>) {
    let text = String::from_utf8(payload.to_vec()).unwrap();
    let (name, json) = text.split_once(' ').unwrap_or((&text, ""));
    let value = (!json.is_empty()).then(|| serde_json::from_str(json).unwrap());
    (name.to_owned(), value)
}

#[test]
fn gmcp_exact_decoding_gives_the_same_package_and_value_back() {
    for payload in [
        &b"Core.Supports.Set [\"Char 1\"]"[..],
        b"IRE.Rift.Change { \"name\": \"x\", \"amount\": 2 }",
        b"Char.Vitals [[1,2],{\"a\":null}]",
        b"Core.Ping",
        b"Char.Items.List [\"one\"]",
        b"Room.Info \"text\"",
    ] {
        let m = gmcp::decode_exact(payload).unwrap();
        assert_eq!(
            split(&gmcp::encode(&m)),
            split(payload),
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
    assert!(gmcp::decode_exact(b"Bad..Name 1").is_err());
    assert!(gmcp::decode_exact(b"X.Y {oops").is_err());
}
