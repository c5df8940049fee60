//! RFC 1143 (Q method) option negotiation: the start bytes, refusals that never loop, ECHO
//! for hidden input, SGA, negotiation storms, and the consistency of the option table.

use super::*;

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
