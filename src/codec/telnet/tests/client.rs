//! The client-role engine ([`TelnetClient`], gateway mode), byte for byte: the game's text
//! (IAC IAC, CR NUL, CR LF), prompts, the policy and the Q method in both directions, TTYPE,
//! NAWS, CHARSET, out-of-band subnegotiations, MCCP2, the bounds, typed lines, and split
//! invariance over every split of a rich session plus xorshift fuzzing.

use crate::codec::telnet::client::ClientEvent::{self, *};
use crate::codec::telnet::client::{
    ClientLimits, ClientPolicy, MAX_CHARSET_REQUESTS, MAX_TTYPE_SENDS, TelnetClient,
};
use crate::codec::telnet::{
    CHARSET, CHARSET_ACCEPTED, CHARSET_REJECTED, CHARSET_REQUEST, DM, DO, DONT, ECHO, EOR, GA,
    GMCP, IAC, MCCP2, MSDP, MSSP, NAWS, NEW_ENVIRON, NOP, SB, SE, SGA, TELOPT_EOR, TTYPE, TTYPE_IS,
    TTYPE_SEND, WILL, WONT, encode_subnegotiation,
};

const LIMITS: ClientLimits = ClientLimits {
    max_subneg: 32,
    max_negotiations: 20,
};

fn client() -> TelnetClient {
    TelnetClient::new(LIMITS, ClientPolicy::default())
}

/// Feed `input` in one call; (replies, events).
fn feed(c: &mut TelnetClient, input: &[u8]) -> (Vec<u8>, Vec<ClientEvent>) {
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    let used = c.feed(input, &mut out, &mut ev);
    assert_eq!(used, input.len(), "all input consumed");
    (out, ev)
}

fn text(s: &[u8]) -> ClientEvent {
    Text(s.to_vec())
}

fn on(option: u8, local: bool) -> ClientEvent {
    OptionEnabled { option, local }
}

fn sb(option: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_subnegotiation(option, payload, &mut v);
    v
}

/// A client with `option` enabled on the game's side (`WILL` answered with `DO`).
fn with_remote(options: &[u8]) -> TelnetClient {
    let mut c = client();
    for &o in options {
        let (out, _) = feed(&mut c, &[IAC, WILL, o]);
        assert_eq!(out, [IAC, DO, o]);
    }
    c
}

/// A client with `option` enabled on our side (`DO` answered with `WILL`).
fn with_local(options: &[u8]) -> TelnetClient {
    let mut c = client();
    for &o in options {
        let (out, _) = feed(&mut c, &[IAC, DO, o]);
        assert_eq!(out, [IAC, WILL, o]);
    }
    c
}

// ---------------------------------------------------------------- text

#[test]
fn text_unescaped_byte_exact_in_one_event() {
    let mut c = client();
    let mut input = b"a".to_vec();
    input.extend_from_slice(&[IAC, IAC]);
    input.extend_from_slice(b"b\r\0c\r\nd\0e\n\xC3\xA9\r");
    let (out, ev) = feed(&mut c, &input);
    assert!(out.is_empty());
    assert_eq!(ev, vec![text(b"a\xFFb\rc\r\nd\0e\n\xC3\xA9\r")]);
}

#[test]
fn commands_without_events_do_not_split_text() {
    let mut c = client();
    let input = [
        b'a', IAC, NOP, b'b', IAC, DM, b'c', IAC, SE, IAC, 0x10, b'd',
    ];
    let (out, ev) = feed(&mut c, &input);
    assert!(out.is_empty());
    assert_eq!(ev, vec![text(b"abcd")]);
}

#[test]
fn cr_at_chunk_end_goes_out_at_once_and_its_nul_is_dropped_next_call() {
    let mut c = client();
    assert_eq!(feed(&mut c, b"ab\r").1, vec![text(b"ab\r")]);
    assert_eq!(feed(&mut c, b"\0cd").1, vec![text(b"cd")]);
    // CR then CR NUL across calls: two CRs, no NUL.
    assert_eq!(feed(&mut c, b"\r").1, vec![text(b"\r")]);
    assert_eq!(feed(&mut c, b"\r\0").1, vec![text(b"\r")]);
    // A lone NUL after a dropped one (not after a CR) is data.
    assert_eq!(feed(&mut c, b"\0").1, vec![text(b"\0")]);
    // CR LF passes through whole; the NUL check ends at the LF.
    assert_eq!(feed(&mut c, b"x\r").1, vec![text(b"x\r")]);
    assert_eq!(feed(&mut c, b"\n\0").1, vec![text(b"\n\0")]);
    // Only the very next byte counts: a command in between ends the CR's claim.
    let (_, ev) = feed(&mut c, &[b'\r', IAC, NOP, 0]);
    assert_eq!(ev, vec![text(b"\r\0")]);
    let (_, ev) = feed(&mut c, &[b'\r', IAC, IAC, 0]);
    assert_eq!(ev, vec![text(b"\r\xFF\0")]);
}

#[test]
fn text_is_one_event_per_call_and_never_merged_with_an_earlier_call() {
    let mut c = client();
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    c.feed(b"ab", &mut out, &mut ev);
    c.feed(b"cd", &mut out, &mut ev);
    c.feed(&[b'e', IAC], &mut out, &mut ev);
    c.feed(&[IAC, b'f'], &mut out, &mut ev);
    assert_eq!(
        ev,
        vec![text(b"ab"), text(b"cd"), text(b"e"), text(b"\xFFf")]
    );
}

#[test]
fn ga_and_eor_end_prompts() {
    let mut c = client();
    let mut input = b"HP 10> ".to_vec();
    input.extend_from_slice(&[IAC, GA]);
    input.extend_from_slice(b"\r\nName: ");
    input.extend_from_slice(&[IAC, EOR, IAC, GA]);
    let (out, ev) = feed(&mut c, &input);
    assert!(out.is_empty());
    assert_eq!(
        ev,
        vec![
            text(b"HP 10> "),
            Prompt,
            text(b"\r\nName: "),
            Prompt,
            Prompt
        ]
    );
}

// ---------------------------------------------------------------- negotiation

#[test]
fn policy_accepts_both_directions() {
    let mut c = client();
    let (out, ev) = feed(&mut c, &[IAC, WILL, GMCP, IAC, DO, NAWS, IAC, WILL, ECHO]);
    assert_eq!(out, [IAC, DO, GMCP, IAC, WILL, NAWS, IAC, DO, ECHO]);
    assert_eq!(ev, vec![on(GMCP, false), on(NAWS, true), on(ECHO, false)]);
    assert!(c.is_enabled_remote(GMCP) && !c.is_enabled_local(GMCP));
    assert!(c.is_enabled_local(NAWS) && !c.is_enabled_remote(NAWS));
}

#[test]
fn policy_refuses_both_directions() {
    let mut c = client();
    // 200 nowhere; ECHO and MCCP2 only on the game's side; NAWS and TTYPE only on ours.
    let input = [
        IAC, WILL, 200, IAC, DO, 200, IAC, DO, ECHO, IAC, DO, MCCP2, IAC, WILL, NAWS, IAC, WILL,
        TTYPE,
    ];
    let (out, ev) = feed(&mut c, &input);
    assert_eq!(
        out,
        [
            IAC, DONT, 200, IAC, WONT, 200, IAC, WONT, ECHO, IAC, WONT, MCCP2, IAC, DONT, NAWS,
            IAC, DONT, TTYPE
        ]
    );
    assert!(ev.is_empty());
    // A refusal is never answered (no loop).
    let (out, ev) = feed(&mut c, &[IAC, WONT, 200, IAC, DONT, 200, IAC, DONT, ECHO]);
    assert!(out.is_empty() && ev.is_empty());
    let empty = TelnetClient::new(
        LIMITS,
        ClientPolicy {
            local: vec![],
            remote: vec![],
        },
    );
    let mut c = empty;
    let (out, _) = feed(&mut c, &[IAC, WILL, GMCP, IAC, DO, NAWS]);
    assert_eq!(out, [IAC, DONT, GMCP, IAC, WONT, NAWS]);
}

#[test]
fn q_method_answers_once_and_never_loops() {
    let mut c = client();
    let (out, ev) = feed(&mut c, &[IAC, WILL, ECHO]);
    assert_eq!(out, [IAC, DO, ECHO]);
    assert_eq!(ev, vec![on(ECHO, false)]);
    // Repeated WILL: already YES, nothing re-sent, no event.
    let (out, ev) = feed(&mut c, &[IAC, WILL, ECHO, IAC, WILL, ECHO]);
    assert!(out.is_empty() && ev.is_empty());
    // WONT: acknowledged once with DONT, then quiet.
    let (out, ev) = feed(&mut c, &[IAC, WONT, ECHO, IAC, WONT, ECHO]);
    assert_eq!(out, [IAC, DONT, ECHO]);
    assert_eq!(
        ev,
        vec![OptionDisabled {
            option: ECHO,
            local: false
        }]
    );
    // Same on our side.
    let (out, ev) = feed(&mut c, &[IAC, DO, TTYPE, IAC, DO, TTYPE]);
    assert_eq!(out, [IAC, WILL, TTYPE]);
    assert_eq!(ev, vec![on(TTYPE, true)]);
    let (out, ev) = feed(&mut c, &[IAC, DONT, TTYPE, IAC, DONT, TTYPE]);
    assert_eq!(out, [IAC, WONT, TTYPE]);
    assert_eq!(
        ev,
        vec![OptionDisabled {
            option: TTYPE,
            local: true
        }]
    );
}

#[test]
fn requests_follow_the_q_method_and_the_policy() {
    let mut c = client();
    let mut out = Vec::new();
    assert!(c.request_local(NAWS, true, &mut out));
    assert!(c.request_local(NAWS, true, &mut out)); // pending: nothing more
    assert_eq!(out, [IAC, WILL, NAWS]);
    // The game's DO confirms: no reply, one event.
    let (reply, ev) = feed(&mut c, &[IAC, DO, NAWS]);
    assert!(reply.is_empty());
    assert_eq!(ev, vec![on(NAWS, true)]);
    assert!(c.is_enabled_local(NAWS));

    // Outside the policy: refused, nothing sent.
    out.clear();
    assert!(!c.request_local(ECHO, true, &mut out));
    assert!(!c.request_remote(NAWS, true, &mut out));
    assert!(out.is_empty());

    // DO GMCP refused by the game: settles NO without a reply.
    assert!(c.request_remote(GMCP, true, &mut out));
    assert_eq!(out, [IAC, DO, GMCP]);
    let (reply, ev) = feed(&mut c, &[IAC, WONT, GMCP]);
    assert!(reply.is_empty() && ev.is_empty());
    assert!(!c.is_enabled_remote(GMCP));

    // Disabling our NAWS: off at once, the game's DONT confirms quietly.
    out.clear();
    assert!(c.request_local(NAWS, false, &mut out));
    assert_eq!(out, [IAC, WONT, NAWS]);
    assert!(!c.is_enabled_local(NAWS));
    let (reply, ev) = feed(&mut c, &[IAC, DONT, NAWS]);
    assert!(reply.is_empty() && ev.is_empty());
    // Disabling what is off sends nothing.
    out.clear();
    assert!(c.request_remote(SGA, false, &mut out));
    assert!(out.is_empty());
}

#[test]
fn negotiation_storm_then_text_still_flows() {
    let mut c = client();
    let mut input = Vec::new();
    for _ in 0..=LIMITS.max_negotiations {
        input.extend_from_slice(&[IAC, WILL, 200]);
    }
    input.extend_from_slice(b"still here");
    input.extend_from_slice(&[IAC, WILL, ECHO, IAC, GA]);
    let (out, ev) = feed(&mut c, &input);
    assert_eq!(out, [IAC, DONT, 200].repeat(LIMITS.max_negotiations));
    assert_eq!(ev, vec![NegotiationStorm, text(b"still here"), Prompt]);
    assert!(!c.is_enabled_remote(ECHO));
}

// ---------------------------------------------------------------- subnegotiations

#[test]
fn ttype_send_event_and_is_answer() {
    let mut c = client();
    let mut out = Vec::new();
    // Not enabled: SEND ignored, no answer possible.
    assert!(feed(&mut c, &sb(TTYPE, &[TTYPE_SEND])).1.is_empty());
    assert!(!c.ttype_is("xterm", &mut out));
    assert!(out.is_empty());

    let mut c = with_local(&[TTYPE]);
    let (reply, ev) = feed(&mut c, &sb(TTYPE, &[TTYPE_SEND]));
    assert!(reply.is_empty());
    assert_eq!(ev, vec![TtypeSend]);
    assert!(c.ttype_is("PORTCULLIS", &mut out));
    let mut expected = vec![IAC, SB, TTYPE, TTYPE_IS];
    expected.extend_from_slice(b"PORTCULLIS");
    expected.extend_from_slice(&[IAC, SE]);
    assert_eq!(out, expected);
}

#[test]
fn ttype_send_events_are_bounded() {
    let mut c = with_local(&[TTYPE]);
    let input = sb(TTYPE, &[TTYPE_SEND]).repeat(40);
    let (_, ev) = feed(&mut c, &input);
    assert_eq!(ev, vec![TtypeSend; usize::from(MAX_TTYPE_SENDS)]);
}

#[test]
fn naws_only_when_enabled_with_255_doubled() {
    let mut out = Vec::new();
    assert!(!client().naws(80, 24, &mut out));
    assert!(out.is_empty());
    let c = with_local(&[NAWS]);
    assert!(c.naws(80, 24, &mut out));
    assert_eq!(out, [IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE]);
    out.clear();
    assert!(c.naws(255, 0x01FF, &mut out));
    assert_eq!(out, [IAC, SB, NAWS, 0, IAC, IAC, 1, IAC, IAC, IAC, SE]);
}

fn charset_request(list: &[u8]) -> Vec<u8> {
    let mut p = vec![CHARSET_REQUEST];
    p.extend_from_slice(list);
    sb(CHARSET, &p)
}

#[test]
fn charset_accepts_utf8_in_the_games_spelling() {
    let mut c = with_remote(&[CHARSET]);
    let (out, ev) = feed(&mut c, &charset_request(b";ISO-8859-1;utf-8;ASCII"));
    let mut accepted = vec![CHARSET_ACCEPTED];
    accepted.extend_from_slice(b"utf-8");
    assert_eq!(out, sb(CHARSET, &accepted));
    assert_eq!(ev, vec![Charset("utf-8".into())]);

    // UTF8 without the dash, another separator, a TTABLE version we skip; enabled on our side.
    let mut c = with_local(&[CHARSET]);
    let (out, ev) = feed(&mut c, &charset_request(b"[TTABLE]\x01 LATIN1 UTF8"));
    let mut accepted = vec![CHARSET_ACCEPTED];
    accepted.extend_from_slice(b"UTF8");
    assert_eq!(out, sb(CHARSET, &accepted));
    assert_eq!(ev, vec![Charset("UTF8".into())]);
}

#[test]
fn charset_rejects_without_utf8_ignores_when_off_and_is_bounded() {
    let mut c = with_remote(&[CHARSET]);
    for list in [b";ISO-8859-1;ASCII".as_slice(), b"", b";", b";UTF-16"] {
        let (out, ev) = feed(&mut c, &charset_request(list));
        assert_eq!(
            out,
            [IAC, SB, CHARSET, CHARSET_REJECTED, IAC, SE],
            "{list:?}"
        );
        assert!(ev.is_empty());
    }
    assert_eq!(MAX_CHARSET_REQUESTS, 4);
    let (out, ev) = feed(&mut c, &charset_request(b";UTF-8"));
    assert!(out.is_empty() && ev.is_empty(), "fifth REQUEST ignored");

    let mut off = client();
    let (out, ev) = feed(&mut off, &charset_request(b";UTF-8"));
    assert!(out.is_empty() && ev.is_empty());
    // ACCEPTED/REJECTED answer nothing we sent.
    let mut c = with_remote(&[CHARSET]);
    let (out, ev) = feed(&mut c, &sb(CHARSET, b"\x02UTF-8"));
    assert!(out.is_empty() && ev.is_empty());
}

#[test]
fn oob_subnegotiations_only_when_enabled() {
    let mut payload = b"Char.Vitals {\"hp\":\"".to_vec();
    payload.push(IAC);
    payload.extend_from_slice(b"\"}");
    let mut c = client();
    assert!(feed(&mut c, &sb(GMCP, &payload)).1.is_empty());
    assert!(feed(&mut c, &sb(NEW_ENVIRON, &[1])).1.is_empty());

    let mut c = with_remote(&[GMCP, MSDP, MSSP]);
    let (out, ev) = feed(&mut c, &sb(GMCP, &payload));
    assert!(out.is_empty());
    assert_eq!(
        ev,
        vec![Subnegotiation {
            option: GMCP,
            payload: payload.clone()
        }]
    );
    let (_, ev) = feed(&mut c, &[sb(MSDP, b"\x01A\x02B"), sb(MSSP, b"")].concat());
    assert_eq!(
        ev,
        vec![
            Subnegotiation {
                option: MSDP,
                payload: b"\x01A\x02B".to_vec()
            },
            Subnegotiation {
                option: MSSP,
                payload: vec![]
            }
        ]
    );
    // NEW-ENVIRON counts on our side only.
    assert!(feed(&mut c, &sb(NEW_ENVIRON, &[1])).1.is_empty());
    let mut c = with_local(&[NEW_ENVIRON]);
    let (_, ev) = feed(&mut c, &sb(NEW_ENVIRON, &[1, 0]));
    assert_eq!(
        ev,
        vec![Subnegotiation {
            option: NEW_ENVIRON,
            payload: vec![1, 0]
        }]
    );
}

#[test]
fn subnegotiate_only_when_enabled_either_side() {
    let mut out = Vec::new();
    assert!(!client().subnegotiate(GMCP, b"Core.Hello {}", &mut out));
    assert!(out.is_empty());
    let c = with_remote(&[GMCP]);
    assert!(c.subnegotiate(GMCP, &[b'x', IAC], &mut out));
    assert_eq!(out, [IAC, SB, GMCP, b'x', IAC, IAC, IAC, SE]);
}

#[test]
fn mccp2_start_stops_feed_right_after_se() {
    let mut c = with_remote(&[MCCP2]);
    let mut input = b"hi".to_vec();
    input.extend_from_slice(&[IAC, SB, MCCP2, IAC, SE]);
    input.extend_from_slice(&[0x78, 0x9C, IAC, 0x01]);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    let used = c.feed(&input, &mut out, &mut ev);
    assert_eq!(used, 7);
    assert!(out.is_empty());
    assert_eq!(ev, vec![text(b"hi"), CompressionStart]);
}

#[test]
fn mccp2_needs_the_option_and_a_real_se() {
    // Not enabled: an ordinary, ignored subnegotiation.
    let mut c = client();
    let input = [IAC, SB, MCCP2, IAC, SE, b'x'];
    assert_eq!(feed(&mut c, &input).1, vec![text(b"x")]);
    // Closed by an implicit SE (IAC GA): no compression, the GA still counts.
    let mut c = with_remote(&[MCCP2]);
    let input = [IAC, SB, MCCP2, IAC, GA, b'x'];
    assert_eq!(feed(&mut c, &input).1, vec![Prompt, text(b"x")]);
    // With a payload: not the start marker.
    let input = [IAC, SB, MCCP2, 1, IAC, SE, b'y'];
    assert_eq!(feed(&mut c, &input).1, vec![text(b"y")]);
}

#[test]
fn oversized_subnegotiation_is_dropped_and_memory_bounded() {
    let mut c = with_remote(&[GMCP]);
    let mut input = vec![IAC, SB, GMCP];
    input.extend(std::iter::repeat_n(b'x', 100));
    input.extend_from_slice(&[IAC, IAC]);
    input.extend(std::iter::repeat_n(b'y', 100));
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    for chunk in input.chunks(9) {
        c.feed(chunk, &mut out, &mut ev);
        assert!(c.sb.len() <= LIMITS.max_subneg);
    }
    let (_, tail) = feed(&mut c, &[IAC, SE, b'o', b'k']);
    ev.extend(tail);
    assert_eq!(
        ev,
        vec![SubnegotiationTooLong { option: GMCP }, text(b"ok")]
    );
    // Exactly at the limit is fine.
    let payload = vec![b'z'; LIMITS.max_subneg];
    let (_, ev) = feed(&mut c, &sb(GMCP, &payload));
    assert_eq!(
        ev,
        vec![Subnegotiation {
            option: GMCP,
            payload
        }]
    );
}

#[test]
fn command_inside_subnegotiation_is_an_implicit_se() {
    let mut c = with_remote(&[GMCP]);
    let input = [IAC, SB, GMCP, b'a', b'b', IAC, WILL, ECHO, b'c'];
    let (out, ev) = feed(&mut c, &input);
    assert_eq!(out, [IAC, DO, ECHO]);
    assert_eq!(
        ev,
        vec![
            Subnegotiation {
                option: GMCP,
                payload: b"ab".to_vec()
            },
            on(ECHO, false),
            text(b"c")
        ]
    );
}

// ---------------------------------------------------------------- typed lines

#[test]
fn encode_line_doubles_iac_and_ends_with_crlf() {
    let mut out = Vec::new();
    TelnetClient::encode_line(b"say hi", &mut out);
    assert_eq!(out, b"say hi\r\n");
    out.clear();
    TelnetClient::encode_line(&[b'a', IAC, b'b', IAC], &mut out);
    assert_eq!(out, [b'a', IAC, IAC, b'b', IAC, IAC, b'\r', b'\n']);
    out.clear();
    TelnetClient::encode_line(b"", &mut out);
    assert_eq!(out, b"\r\n");
}

#[test]
fn encode_line_drops_cr_and_lf_inside() {
    let mut out = Vec::new();
    TelnetClient::encode_line(b"look\r\nkill bob\rx\ny\0z", &mut out);
    assert_eq!(out, b"lookkill bobxy\0z\r\n");
    out.clear();
    TelnetClient::encode_line(b"\r\n\r", &mut out);
    assert_eq!(out, b"\r\n");
}

// ---------------------------------------------------------------- defaults

#[test]
fn defaults() {
    assert_eq!(
        ClientLimits::default(),
        ClientLimits {
            max_subneg: 64 * 1024,
            max_negotiations: 1000
        }
    );
    let p = ClientPolicy::default();
    assert_eq!(p.local, [TTYPE, NAWS, NEW_ENVIRON, CHARSET]);
    assert_eq!(
        p.remote,
        [ECHO, SGA, TELOPT_EOR, GMCP, MSDP, MSSP, MCCP2, CHARSET]
    );
    // Passive: a fresh client writes nothing on its own.
    let mut c = client();
    assert_eq!(feed(&mut c, b""), (vec![], vec![]));
}

// ---------------------------------------------------------------- split invariance

/// A game session exercising every path, MCCP2 start last.
fn rich_session() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[
        IAC, WILL, ECHO, IAC, WILL, SGA, IAC, DO, TTYPE, IAC, DO, NAWS,
    ]);
    v.extend_from_slice(&[IAC, WILL, GMCP, IAC, WILL, CHARSET]);
    v.extend_from_slice(b"Welcome\r\n");
    v.extend_from_slice(&[b'a', IAC, IAC, b'b', b'\r', 0, b'c', IAC, GA]);
    v.extend_from_slice(&sb(TTYPE, &[TTYPE_SEND]));
    v.extend_from_slice(&sb(GMCP, b"Char.Vitals {\"hp\":\xFF}"));
    v.extend_from_slice(b"name: ");
    v.extend_from_slice(&[IAC, EOR]);
    v.extend_from_slice(&charset_request(b";ISO-8859-1;UTF-8"));
    v.extend_from_slice(&[IAC, WILL, 200, IAC, DO, ECHO, IAC, WILL, ECHO]);
    v.extend_from_slice(&[b'x', b'\r', IAC, NOP, 0, b'y', b'\r', b'\r', 0, b'\n']);
    v.extend_from_slice(&[IAC, SB, GMCP]);
    v.extend(std::iter::repeat_n(b'g', 40));
    v.extend_from_slice(&[IAC, SE, IAC, 0x10, b'z']);
    v.extend_from_slice(&[IAC, SB, MSSP, b'm', IAC, WILL, MSSP]);
    v.extend_from_slice(b"tail\r");
    v.extend_from_slice(&[IAC, WILL, MCCP2, IAC, SB, MCCP2, IAC, SE]);
    v.extend_from_slice(b"\0after");
    v
}

/// Feed `chunks` like a gateway would: after `CompressionStart` the rest of the chunk is fed
/// again (standing in for the inflated stream). Adjacent `Text` events are merged.
fn run_chunks(chunks: &[&[u8]]) -> (Vec<u8>, Vec<ClientEvent>) {
    let mut c = client();
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    for &chunk in chunks {
        let mut rest = chunk;
        while !rest.is_empty() {
            let used = c.feed(rest, &mut out, &mut ev);
            assert!(used <= rest.len());
            assert!(used == rest.len() || ev.last() == Some(&CompressionStart));
            rest = &rest[used..];
        }
        assert!(c.sb.len() <= LIMITS.max_subneg);
    }
    (out, merge_text(ev))
}

fn merge_text(events: Vec<ClientEvent>) -> Vec<ClientEvent> {
    let mut merged: Vec<ClientEvent> = Vec::new();
    for e in events {
        if let Text(more) = &e
            && let Some(Text(text)) = merged.last_mut()
        {
            text.extend_from_slice(more);
            continue;
        }
        merged.push(e);
    }
    merged
}

#[test]
fn rich_session_expected_result() {
    let input = rich_session();
    let (out, ev) = run_chunks(&[&input]);
    let mut expected_out = vec![
        IAC, DO, ECHO, IAC, DO, SGA, IAC, WILL, TTYPE, IAC, WILL, NAWS, IAC, DO, GMCP, IAC, DO,
        CHARSET,
    ];
    expected_out.extend_from_slice(&sb(CHARSET, b"\x02UTF-8"));
    expected_out.extend_from_slice(&[IAC, DONT, 200, IAC, WONT, ECHO, IAC, DO, MSSP]);
    expected_out.extend_from_slice(&[IAC, DO, MCCP2]);
    assert_eq!(out, expected_out);
    assert_eq!(
        ev,
        vec![
            on(ECHO, false),
            on(SGA, false),
            on(TTYPE, true),
            on(NAWS, true),
            on(GMCP, false),
            on(CHARSET, false),
            text(b"Welcome\r\na\xFFb\rc"),
            Prompt,
            TtypeSend,
            Subnegotiation {
                option: GMCP,
                payload: b"Char.Vitals {\"hp\":\xFF}".to_vec()
            },
            text(b"name: "),
            Prompt,
            Charset("UTF-8".into()),
            text(b"x\r\0y\r\r\n"),
            SubnegotiationTooLong { option: GMCP },
            text(b"z"),
            on(MSSP, false),
            text(b"tail\r"),
            on(MCCP2, false),
            CompressionStart,
            text(b"\0after"),
        ]
    );
    // Within one call, text between two events is one event.
    let mut c = client();
    let (_, ev) = feed(&mut c, &input[..input.len() - 14]);
    assert_eq!(merge_text(ev.clone()), ev);
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

/// Deterministic xorshift fuzzing: no panics, bounded buffer, split invariance on arbitrary
/// (mostly malformed) input.
#[test]
fn fuzz_no_panic_bounded_and_split_invariant() {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Telnet bytes and option codes, then CR, LF, NUL and CHARSET list bytes.
    let commands = [
        IAC, IAC, SB, SE, WILL, WONT, DO, DONT, GA, TTYPE, NAWS, CHARSET,
    ];
    let palette = [&commands[..], &[GMCP, MCCP2, CHARSET_REQUEST], b"\r\n\0;a"].concat();
    for _ in 0..300 {
        let len = usize::try_from(next() % 300).unwrap_or(0);
        let input: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                let pick = usize::try_from(r >> 8).unwrap_or(0) % palette.len();
                if r % 3 == 0 {
                    r.to_le_bytes()[1]
                } else {
                    palette[pick]
                }
            })
            .collect();
        let whole = run_chunks(&[&input]);
        let cut = usize::try_from(next()).unwrap_or(0) % (len + 1);
        let (a, b) = input.split_at(cut);
        assert_eq!(run_chunks(&[a, b]), whole);
        let sevens: Vec<&[u8]> = input.chunks(7).collect();
        assert_eq!(run_chunks(&sevens), whole);
        let storms = whole.1.iter().filter(|e| **e == NegotiationStorm).count();
        assert!(storms <= 1);
    }
}
