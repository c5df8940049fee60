//! Byte-exact unit tests for the telnet engine: parser, line assembly, RFC 1143
//! negotiation, TTYPE/MTTS, NAWS, CHARSET, limits, output encoding, and
//! split-invariance (any split of the input yields the same replies/events).

use super::TelnetEvent::*;
use super::*;

fn limits() -> EngineLimits {
    EngineLimits {
        max_line: 64,
        max_subneg: 32,
        max_negotiations: 20,
    }
}

fn engine() -> TelnetEngine {
    TelnetEngine::new(limits())
}

/// Engine after `start()`, with the start bytes discarded.
fn started() -> TelnetEngine {
    let mut e = engine();
    let mut out = Vec::new();
    e.start(&mut out);
    e
}

/// Feed `input` and return (replies, events).
fn feed(e: &mut TelnetEngine, input: &[u8]) -> (Vec<u8>, Vec<TelnetEvent>) {
    let mut out = Vec::new();
    let mut ev = Vec::new();
    e.feed(input, &mut out, &mut ev);
    (out, ev)
}

fn line(s: &[u8]) -> TelnetEvent {
    Line(s.to_vec())
}

fn sb(option: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_subnegotiation(option, payload, &mut v);
    v
}

fn ttype_is(name: &[u8]) -> Vec<u8> {
    let mut p = vec![TTYPE_IS];
    p.extend_from_slice(name);
    sb(TTYPE, &p)
}

const TTYPE_SEND_BYTES: [u8; 6] = [IAC, SB, TTYPE, TTYPE_SEND, IAC, SE];

// ---------------------------------------------------------------- parsing

#[test]
fn iac_iac_in_data_is_one_ff_byte() {
    let mut engine = engine();
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    engine.feed(&[b'a', IAC, IAC, b'b', b'\r', b'\n'], &mut out, &mut ev);
    assert_eq!(out, Vec::<u8>::new());
    assert_eq!(ev, vec![line(b"a\xFFb")]);
}

#[test]
fn iac_split_across_reads() {
    let mut e = engine();
    let (out, ev) = feed(&mut e, &[b'a', IAC]);
    assert!(out.is_empty() && ev.is_empty());
    let (out, ev) = feed(&mut e, &[IAC, b'b', b'\n']);
    assert!(out.is_empty());
    assert_eq!(ev, vec![line(b"a\xFFb")]);

    // IAC | NOP: command consumed, not part of the line.
    let (_, ev) = feed(&mut e, &[b'x', IAC]);
    assert!(ev.is_empty());
    let (out, ev) = feed(&mut e, &[NOP, b'y', b'\n']);
    assert!(out.is_empty());
    assert_eq!(ev, vec![line(b"xy")]);

    // IAC | WILL | NAWS, three reads, unsolicited: accepted.
    let (out, ev) = feed(&mut e, &[IAC]);
    assert!(out.is_empty() && ev.is_empty());
    let (out, ev) = feed(&mut e, &[WILL]);
    assert!(out.is_empty() && ev.is_empty());
    let (out, ev) = feed(&mut e, &[NAWS]);
    assert_eq!(out, vec![IAC, DO, NAWS]);
    assert_eq!(
        ev,
        vec![OptionEnabled {
            option: NAWS,
            local: false
        }]
    );
}

#[test]
fn commands_in_data_are_consumed() {
    let mut e = engine();
    let (out, ev) = feed(
        &mut e,
        &[
            b'a', IAC, NOP, b'b', IAC, AYT, b'c', IAC, GA, IAC, EOR, IAC, IP, IAC, BRK, IAC, DM,
            IAC, AO, IAC, SE, IAC, 7, b'd', b'\n',
        ],
    );
    assert!(out.is_empty());
    assert_eq!(ev, vec![line(b"abcd")]);
}

#[test]
fn erase_char_and_erase_line() {
    let mut e = engine();
    let (_, ev) = feed(&mut e, &[b'a', b'b', b'c', IAC, EC, b'd', b'\n']);
    assert_eq!(ev, vec![line(b"abd")]);
    let (_, ev) = feed(
        &mut e,
        &[b'j', b'u', b'n', b'k', IAC, EL, b'o', b'k', b'\n'],
    );
    assert_eq!(ev, vec![line(b"ok")]);
    let (_, ev) = feed(&mut e, &[IAC, EC, b'x', b'\n']);
    assert_eq!(ev, vec![line(b"x")]);
}

#[test]
fn sb_split_across_reads() {
    let mut e = started();
    let (out, ev) = feed(&mut e, &[IAC, WILL, NAWS]);
    assert!(out.is_empty());
    assert_eq!(
        ev,
        vec![OptionEnabled {
            option: NAWS,
            local: false
        }]
    );
    for chunk in [&[IAC][..], &[SB], &[NAWS, 0], &[80, 0, 24, IAC]] {
        let (out, ev) = feed(&mut e, chunk);
        assert!(out.is_empty() && ev.is_empty());
    }
    let (out, ev) = feed(&mut e, &[SE]);
    assert!(out.is_empty());
    assert_eq!(
        ev,
        vec![Naws {
            width: 80,
            height: 24
        }]
    );
}

#[test]
fn sb_payload_with_f0_and_escaped_ff_unknown_option_discarded() {
    let mut e = engine();
    let (out, ev) = feed(
        &mut e,
        &[
            IAC, SB, 200, 0xF0, 0x9F, 0x98, 0x80, IAC, IAC, SE, 0xF0, IAC, SE, b'l', b'o', b'o',
            b'k', b'\r', b'\n',
        ],
    );
    assert!(out.is_empty());
    assert_eq!(ev, vec![line(b"look")]);
}

#[test]
fn ttype_answer_with_f0_and_escaped_ff() {
    let mut e = started();
    let (out, _) = feed(&mut e, &[IAC, WILL, TTYPE]);
    assert_eq!(out, TTYPE_SEND_BYTES.to_vec());
    // "😀" is F0 9F 98 80; a bare SE byte (0xF0) is payload, not a terminator.
    let (out, ev) = feed(
        &mut e,
        &[
            IAC, SB, TTYPE, TTYPE_IS, 0xF0, 0x9F, 0x98, 0x80, b'A', IAC, IAC, b'B', IAC, SE,
        ],
    );
    assert_eq!(out, TTYPE_SEND_BYTES.to_vec());
    assert_eq!(ev, vec![ClientName("\u{1F600}A\u{FFFD}B".to_string())]);
}

#[test]
fn iac_command_inside_sb_acts_as_implicit_se() {
    let mut e = engine();
    let (out, ev) = feed(
        &mut e,
        &[
            IAC, SB, NAWS, 0, 80, 0, 24, IAC, WILL, SGA, b'o', b'k', b'\n',
        ],
    );
    assert_eq!(out, vec![IAC, DO, SGA]);
    assert_eq!(
        ev,
        vec![
            Naws {
                width: 80,
                height: 24
            },
            OptionEnabled {
                option: SGA,
                local: false
            },
            line(b"ok"),
        ]
    );
}

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

// ---------------------------------------------------------------- lines

#[test]
fn line_endings() {
    let mut e = engine();
    assert_eq!(feed(&mut e, b"crlf\r\n").1, vec![line(b"crlf")]);
    assert_eq!(feed(&mut e, b"crnul\r\0").1, vec![line(b"crnul")]);
    assert_eq!(feed(&mut e, b"lf\n").1, vec![line(b"lf")]);
    assert_eq!(feed(&mut e, b"cr\r").1, vec![line(b"cr")]);
    // A bare CR followed by text: the text starts the next line.
    assert_eq!(feed(&mut e, b"a\rb\n").1, vec![line(b"a"), line(b"b")]);
    // Empty lines are real lines.
    assert_eq!(
        feed(&mut e, b"\r\n\n\r\0").1,
        vec![line(b""), line(b""), line(b"")]
    );
    // CR CR LF: two lines (the second empty).
    assert_eq!(feed(&mut e, b"x\r\r\n").1, vec![line(b"x"), line(b"")]);
}

#[test]
fn cr_split_from_lf_yields_one_line() {
    let mut e = engine();
    assert_eq!(feed(&mut e, b"abc\r").1, vec![line(b"abc")]);
    assert_eq!(feed(&mut e, b"\ndef\r").1, vec![line(b"def")]);
    assert_eq!(feed(&mut e, b"\0ghi\r").1, vec![line(b"ghi")]);
    assert_eq!(feed(&mut e, b"\r\n").1, vec![line(b"")]);
    // CR, then an IAC command, then LF: still one line ending.
    assert_eq!(feed(&mut e, b"jk\r").1, vec![line(b"jk")]);
    assert!(feed(&mut e, &[IAC, NOP]).1.is_empty());
    assert!(feed(&mut e, b"\n").1.is_empty());
}

#[test]
fn stray_nul_is_dropped() {
    let mut e = engine();
    assert_eq!(feed(&mut e, b"a\0b\n").1, vec![line(b"ab")]);
}

#[test]
fn line_too_long() {
    let mut e = TelnetEngine::new(EngineLimits {
        max_line: 8,
        ..limits()
    });
    let (out, ev) = feed(&mut e, b"0123456789AB\r\nok\r\n");
    assert!(out.is_empty());
    assert_eq!(
        ev,
        vec![LineTooLong { limit: 8 }, line(b"01234567"), line(b"ok")]
    );
    // Exactly max_line bytes is fine.
    assert_eq!(feed(&mut e, b"12345678\n").1, vec![line(b"12345678")]);
    // Overflow reported at once, even before the line ends, and only once.
    assert_eq!(
        feed(&mut e, b"abcdefghijk").1,
        vec![LineTooLong { limit: 8 }, line(b"abcdefgh")]
    );
    assert!(feed(&mut e, b"more more more").1.is_empty());
    assert_eq!(feed(&mut e, b"\r\nnext\n").1, vec![line(b"next")]);
}

#[test]
fn client_that_never_answers_still_gets_lines() {
    let mut e = engine();
    let mut out = Vec::new();
    e.start(&mut out);
    assert!(!out.is_empty());
    let (out, ev) = feed(&mut e, b"hello\r\nwho\r\n");
    assert!(out.is_empty());
    assert_eq!(ev, vec![line(b"hello"), line(b"who")]);
    assert!(!e.is_enabled_remote(NAWS));
    assert!(!e.is_enabled_local(TELOPT_EOR));
}

// ---------------------------------------------------------------- negotiation

#[test]
fn start_bytes() {
    let mut e = engine();
    let mut out = Vec::new();
    e.start(&mut out);
    assert_eq!(
        out,
        vec![
            IAC,
            DO,
            TTYPE,
            IAC,
            WILL,
            TELOPT_EOR,
            IAC,
            DO,
            NAWS,
            IAC,
            DO,
            NEW_ENVIRON,
            IAC,
            WILL,
            CHARSET,
            IAC,
            WILL,
            MSDP,
            IAC,
            WILL,
            MSSP,
            IAC,
            WILL,
            MCCP2,
            IAC,
            WILL,
            MCCP3,
            IAC,
            WILL,
            GMCP
        ]
    );
    // Idempotent: the offers are pending (WANTYES), nothing is re-sent.
    let mut again = Vec::new();
    e.start(&mut again);
    assert!(again.is_empty());
}

#[test]
fn q_method_will_naws_after_our_do() {
    let mut engine = started();
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    engine.feed(&[IAC, WILL, NAWS], &mut out, &mut ev);
    assert_eq!(out, Vec::<u8>::new());
    assert_eq!(
        ev,
        vec![OptionEnabled {
            option: NAWS,
            local: false
        }]
    );
    assert!(engine.is_enabled_remote(NAWS));
    let (out, ev) = feed(&mut engine, &[IAC, WILL, NAWS]);
    assert_eq!(out, Vec::<u8>::new());
    assert!(ev.is_empty());
}

#[test]
fn q_method_wont_naws_refusal_does_not_loop() {
    // Refusal of our DO: WANTYES -> NO, no reply.
    let mut e = started();
    let (out, ev) = feed(&mut e, &[IAC, WONT, NAWS]);
    assert!(out.is_empty());
    assert!(ev.is_empty());
    assert!(!e.is_enabled_remote(NAWS));
    // Repeated WONT while NO: ignored.
    let (out, ev) = feed(&mut e, &[IAC, WONT, NAWS]);
    assert!(out.is_empty() && ev.is_empty());
}

#[test]
fn q_method_wont_naws_while_enabled_is_acknowledged_once() {
    let mut e = started();
    feed(&mut e, &[IAC, WILL, NAWS]);
    let (out, ev) = feed(&mut e, &[IAC, WONT, NAWS]);
    assert_eq!(out, vec![IAC, DONT, NAWS]);
    assert_eq!(
        ev,
        vec![OptionDisabled {
            option: NAWS,
            local: false
        }]
    );
    let (out, ev) = feed(&mut e, &[IAC, WONT, NAWS]);
    assert!(out.is_empty() && ev.is_empty());
    // Client changes its mind: WILL while NO is a fresh request, accepted.
    let (out, _) = feed(&mut e, &[IAC, WILL, NAWS]);
    assert_eq!(out, vec![IAC, DO, NAWS]);
}

/// RFC 1143: a refused option stays in NO; every WILL that arrives in state
/// NO is a new request and gets exactly one DONT. This cannot loop because a
/// DONT is never answered by a Q-method peer (it is in WANTYES -> NO), and a
/// misbehaving peer is bounded by `max_negotiations`.
#[test]
fn unknown_option_refused_once_per_request() {
    let mut e = engine();
    let (out, ev) = feed(&mut e, &[IAC, WILL, 200]);
    assert_eq!(out, vec![IAC, DONT, 200]);
    assert!(ev.is_empty());
    let (out, _) = feed(&mut e, &[IAC, WILL, 200]);
    assert_eq!(out, vec![IAC, DONT, 200]);
    let (out, _) = feed(&mut e, &[IAC, DO, 200]);
    assert_eq!(out, vec![IAC, WONT, 200]);
    // Negative commands in state NO are never answered.
    let (out, ev) = feed(&mut e, &[IAC, WONT, 200, IAC, DONT, 200]);
    assert!(out.is_empty() && ev.is_empty());
    // Options supported in one direction only are refused in the other.
    let (out, _) = feed(&mut e, &[IAC, WILL, GMCP, IAC, DO, NAWS]);
    assert_eq!(out, vec![IAC, DONT, GMCP, IAC, WONT, NAWS]);
    assert!(!e.is_enabled_remote(200) && !e.is_enabled_local(200));
}

#[test]
fn unsolicited_do_echo_refused() {
    let mut e = started();
    let (out, ev) = feed(&mut e, &[IAC, DO, ECHO]);
    assert_eq!(out, vec![IAC, WONT, ECHO]);
    assert!(ev.is_empty());
    assert!(!e.is_enabled_local(ECHO));
    // WILL ECHO from the client is refused too.
    let (out, _) = feed(&mut e, &[IAC, WILL, ECHO]);
    assert_eq!(out, vec![IAC, DONT, ECHO]);
}

#[test]
fn echo_hidden_flow() {
    let mut e = started();
    let mut out = Vec::new();
    e.set_echo_hidden(true, &mut out);
    assert_eq!(out, vec![IAC, WILL, ECHO]);
    assert!(!e.is_enabled_local(ECHO));
    let (out, ev) = feed(&mut e, &[IAC, DO, ECHO]);
    assert_eq!(out, Vec::<u8>::new());
    assert_eq!(
        ev,
        vec![OptionEnabled {
            option: ECHO,
            local: true
        }]
    );
    assert!(e.is_enabled_local(ECHO));
    let mut out = Vec::new();
    e.set_echo_hidden(true, &mut out);
    assert!(out.is_empty());
    e.set_echo_hidden(false, &mut out);
    assert_eq!(out, vec![IAC, WONT, ECHO]);
    assert!(!e.is_enabled_local(ECHO));
    let (out, ev) = feed(&mut e, &[IAC, DONT, ECHO]);
    assert!(out.is_empty() && ev.is_empty());
    let mut out = Vec::new();
    e.set_echo_hidden(false, &mut out);
    assert!(out.is_empty());
}

#[test]
fn echo_toggle_before_answer_uses_opposite_queue() {
    let mut e = engine();
    let mut out = Vec::new();
    e.set_echo_hidden(true, &mut out);
    e.set_echo_hidden(false, &mut out); // WANTYES + OPPOSITE, nothing sent
    e.set_echo_hidden(true, &mut out); // WANTYES + EMPTY, nothing sent
    e.set_echo_hidden(false, &mut out); // WANTYES + OPPOSITE
    assert_eq!(out, vec![IAC, WILL, ECHO]);
    // Client agrees: we immediately withdraw.
    let (out, ev) = feed(&mut e, &[IAC, DO, ECHO]);
    assert_eq!(out, vec![IAC, WONT, ECHO]);
    assert!(ev.is_empty());
    let (out, ev) = feed(&mut e, &[IAC, DONT, ECHO]);
    assert!(out.is_empty() && ev.is_empty());
    assert!(!e.is_enabled_local(ECHO));
}

#[test]
fn sga_accepted_not_offered() {
    let mut e = started();
    let (out, ev) = feed(&mut e, &[IAC, DO, SGA, IAC, WILL, SGA]);
    assert_eq!(out, vec![IAC, WILL, SGA, IAC, DO, SGA]);
    assert_eq!(
        ev,
        vec![
            OptionEnabled {
                option: SGA,
                local: true
            },
            OptionEnabled {
                option: SGA,
                local: false
            }
        ]
    );
}

#[test]
fn negotiation_storm() {
    let mut e = engine();
    let mut input = Vec::new();
    for _ in 0..25 {
        input.extend_from_slice(&[IAC, WILL, 200]);
    }
    input.extend_from_slice(b"still\n");
    let (out, ev) = feed(&mut e, &input);
    let mut expected = Vec::new();
    for _ in 0..20 {
        expected.extend_from_slice(&[IAC, DONT, 200]);
    }
    assert_eq!(out, expected);
    assert_eq!(ev, vec![NegotiationStorm, line(b"still")]);
    // After the storm: no more replies or storm events.
    let (out, ev) = feed(&mut e, &[IAC, DO, SGA, IAC, WILL, NAWS]);
    assert!(out.is_empty() && ev.is_empty());
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

// ---------------------------------------------------------------- limits

#[test]
fn subnegotiation_too_long_is_discarded_and_parsing_resumes() {
    let mut e = started();
    let mut input = vec![IAC, SB, 200];
    input.extend(std::iter::repeat_n(b'x', 40));
    input.extend_from_slice(&[IAC, IAC, SE, IAC, SE]);
    input.extend_from_slice(b"ok\n");
    input.extend_from_slice(&[IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE]);
    let (out, ev) = feed(&mut e, &input);
    assert!(out.is_empty());
    assert_eq!(
        ev,
        vec![
            SubnegotiationTooLong { option: 200 },
            line(b"ok"),
            Naws {
                width: 80,
                height: 24
            }
        ]
    );
}

#[test]
fn subnegotiation_at_exact_limit_is_processed() {
    let mut e = TelnetEngine::new(EngineLimits {
        max_subneg: 4,
        ..limits()
    });
    let (_, ev) = feed(&mut e, &[IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE]);
    assert_eq!(
        ev,
        vec![Naws {
            width: 80,
            height: 24
        }]
    );
}

// ---------------------------------------------------------------- output

#[test]
fn end_prompt_eor_or_ga() {
    let mut e = started();
    let mut out = Vec::new();
    e.end_prompt(&mut out);
    assert_eq!(out, vec![IAC, GA]);
    feed(&mut e, &[IAC, DO, TELOPT_EOR]);
    let mut out = Vec::new();
    e.end_prompt(&mut out);
    assert_eq!(out, vec![IAC, EOR]);
    // Client withdraws EOR: back to GA.
    let (reply, _) = feed(&mut e, &[IAC, DONT, TELOPT_EOR]);
    assert_eq!(reply, vec![IAC, WONT, TELOPT_EOR]);
    let mut out = Vec::new();
    e.end_prompt(&mut out);
    assert_eq!(out, vec![IAC, GA]);
    // SGA on our side and no EOR: nothing.
    feed(&mut e, &[IAC, DO, SGA]);
    let mut out = Vec::new();
    e.end_prompt(&mut out);
    assert!(out.is_empty());
}

#[test]
fn encode_text_escapes() {
    let e = engine();
    let mut out = Vec::new();
    e.encode_text(b"a\xFFb\nc\r\nd\re\n\r", &mut out);
    assert_eq!(out, b"a\xFF\xFFb\r\nc\r\nd\r\0e\r\n\r\0".to_vec());
    let mut out = Vec::new();
    e.encode_text(b"\r\r\n\n", &mut out);
    assert_eq!(out, b"\r\0\r\n\r\n".to_vec());
    let mut out = Vec::new();
    e.encode_text(b"", &mut out);
    assert!(out.is_empty());
}

#[test]
fn encode_subnegotiation_doubles_iac() {
    assert_eq!(
        sb(NAWS, &[0, 255, 0, 255]),
        vec![IAC, SB, NAWS, 0, IAC, IAC, 0, IAC, IAC, IAC, SE]
    );
}

// ---------------------------------------------------------------- splits

/// A session exercising every code path, from a freshly started engine.
fn rich_session() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[IAC, WILL, TTYPE, IAC, DO, TELOPT_EOR, IAC, DO, CHARSET]);
    v.extend_from_slice(b"hello\r\n");
    v.extend_from_slice(&[IAC, WILL, NAWS]);
    v.extend_from_slice(&[IAC, SB, NAWS, 0, IAC, IAC, 0, IAC, IAC, IAC, SE]);
    v.extend_from_slice(&ttype_is(b"TINTIN++"));
    v.extend_from_slice(&[b'a', IAC, IAC, b'b', b'\r', 0]);
    v.extend_from_slice(b"next\n");
    v.extend_from_slice(&ttype_is(b"XTERM"));
    v.extend_from_slice(&[IAC, SB, 200, 0xF0, 0x9F, IAC, IAC, 0xF0, IAC, SE, IAC, NOP]);
    v.extend_from_slice(b"x\r\r\n");
    v.extend_from_slice(&[IAC, SB, CHARSET, CHARSET_ACCEPTED]);
    v.extend_from_slice(b"UTF-8");
    v.extend_from_slice(&[IAC, SE]);
    v.extend_from_slice(&ttype_is(b"MTTS 137"));
    v.extend_from_slice(&[IAC, WILL, 200, IAC, DO, 200, IAC, DO, ECHO, IAC, WONT, NAWS]);
    v.extend_from_slice(b"\xF0\x9F\x98\x80 hi\n");
    v.extend_from_slice(&[IAC, SB, NAWS, 0, 80, 0, 24, IAC, WILL, SGA]);
    v.extend_from_slice(&[b'e', IAC, EC, b'f', b'\r']);
    v.extend_from_slice(
        b"0123456789012345678901234567890123456789012345678901234567890123456789\n",
    );
    v.extend_from_slice(&[IAC, SB, 201]);
    v.extend(std::iter::repeat_n(0xF0, 40));
    v.extend_from_slice(&[IAC, SE, b't', b'a', b'i', b'l', b'\r']);
    v
}

fn run_chunks(chunks: &[&[u8]]) -> (Vec<u8>, Vec<TelnetEvent>) {
    let mut e = started();
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    for c in chunks {
        e.feed(c, &mut out, &mut ev);
    }
    (out, ev)
}

#[test]
fn rich_session_expected_result() {
    let input = rich_session();
    let (out, ev) = run_chunks(&[&input]);
    let mut expected_out = TTYPE_SEND_BYTES.to_vec(); // WILL TTYPE
    expected_out.extend_from_slice(&[IAC, SB, CHARSET, CHARSET_REQUEST]); // DO CHARSET
    expected_out.extend_from_slice(b";UTF-8");
    expected_out.extend_from_slice(&[IAC, SE]);
    expected_out.extend_from_slice(&TTYPE_SEND_BYTES); // after TINTIN++
    expected_out.extend_from_slice(&TTYPE_SEND_BYTES); // after XTERM
    expected_out.extend_from_slice(&[IAC, DONT, 200, IAC, WONT, 200, IAC, WONT, ECHO]);
    expected_out.extend_from_slice(&[IAC, DONT, NAWS, IAC, DO, SGA]);
    assert_eq!(out, expected_out);
    assert_eq!(
        ev,
        vec![
            OptionEnabled {
                option: TTYPE,
                local: false
            },
            OptionEnabled {
                option: TELOPT_EOR,
                local: true
            },
            OptionEnabled {
                option: CHARSET,
                local: true
            },
            line(b"hello"),
            OptionEnabled {
                option: NAWS,
                local: false
            },
            Naws {
                width: 255,
                height: 255
            },
            ClientName("TINTIN++".into()),
            line(b"a\xFFb"),
            line(b"next"),
            TerminalType("XTERM".into()),
            line(b"x"),
            line(b""),
            Charset("UTF-8".into()),
            Mtts(137),
            OptionDisabled {
                option: NAWS,
                local: false
            },
            line("\u{1F600} hi".as_bytes()),
            Naws {
                width: 80,
                height: 24
            },
            OptionEnabled {
                option: SGA,
                local: false
            },
            line(b"f"),
            LineTooLong { limit: 64 },
            line(b"0123456789012345678901234567890123456789012345678901234567890123"),
            SubnegotiationTooLong { option: 201 },
            line(b"tail"),
        ]
    );
}

#[test]
fn every_split_gives_identical_results() {
    let input = rich_session();
    let whole = run_chunks(&[&input]);
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(run_chunks(&[a, b]), whole, "split at {i}");
    }
    for i in 0..=input.len() {
        for j in i..=input.len() {
            let r = run_chunks(&[&input[..i], &input[i..j], &input[j..]]);
            assert_eq!(r, whole, "split at {i},{j}");
        }
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run_chunks(&bytes), whole, "byte by byte");
}

/// Deterministic xorshift fuzzing: no panics, bounded buffers, and split
/// invariance on arbitrary (mostly malformed) input.
#[test]
fn fuzz_no_panic_bounded_and_split_invariant() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const PALETTE: [u8; 16] = [
        IAC, IAC, SB, SE, WILL, WONT, DO, DONT, b'\r', b'\n', 0, 0xF0, TTYPE, NAWS, CHARSET, b'a',
    ];
    for _ in 0..300 {
        let len = (next() % 300) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 3 == 0 {
                    (r >> 8) as u8
                } else {
                    PALETTE[((r >> 8) % 16) as usize]
                }
            })
            .collect();
        let whole = run_chunks(&[&input]);
        for ev in &whole.1 {
            if let Line(l) = ev {
                assert!(l.len() <= limits().max_line);
            }
        }
        let cut = if len == 0 {
            0
        } else {
            (next() as usize) % (len + 1)
        };
        let (a, b) = input.split_at(cut);
        assert_eq!(run_chunks(&[a, b]), whole);

        let mut e = started();
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        for c in input.chunks(7) {
            e.feed(c, &mut out, &mut ev);
            assert!(e.sb_buf.len() <= limits().max_subneg);
            assert!(e.line.len() <= limits().max_line);
        }
        assert_eq!(
            ev.iter().filter(|x| **x == NegotiationStorm).count(),
            usize::from(e.storm)
        );
    }
}

#[test]
fn option_table_is_consistent() {
    for (i, a) in OPTIONS.iter().enumerate() {
        assert!(
            OPTIONS[i + 1..].iter().all(|b| b.code != a.code),
            "duplicate {}",
            a.name
        );
    }
    assert_eq!(options::lookup(ECHO).local, Support::Manual);
    assert_eq!(options::lookup(199).remote, Support::No);
}
