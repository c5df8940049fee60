//! The parser: IAC escaping, commands inside data, subnegotiation framing split across reads,
//! and the subnegotiation length limit (over-long payloads are discarded, parsing resumes).

use super::*;

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
