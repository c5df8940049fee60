//! Fuzz `portcullis::codec::telnet::client::TelnetClient::feed` (the gateway's client-role
//! engine) with arbitrary game bytes, under varying limits and policies.
//!
//! Input layout: byte 0 picks the limits, byte 1 the policy (low two bits: the default
//! policy, none, every option both ways, or the default with our own requests sent first, as
//! the gateway does), bytes 2..4 (little-endian u16) the split position; the rest is the
//! game's byte stream.
//!
//! Invariants:
//! - no panic;
//! - every `Subnegotiation` payload has at most `max_subneg` bytes; no more than
//!   `MAX_TTYPE_SENDS` `TtypeSend` and `MAX_CHARSET_REQUESTS` `Charset` events, at most one
//!   `NegotiationStorm`; a `Text` event is never longer than the call's input;
//! - an option is only ever enabled in a direction the policy allows;
//! - `feed` consumes all of its input unless it reported `CompressionStart` (then it stops
//!   right after that event);
//! - split invariance (the module's own): fed whole, split in two or byte by byte, the
//!   replies are identical, and so are the events once adjacent `Text` events are merged
//!   (also across `CompressionStart`: the rest is fed back as if inflated, the same bytes
//!   in every run).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::codec::telnet::client::{
    ClientEvent, ClientLimits, ClientPolicy, MAX_CHARSET_REQUESTS, MAX_TTYPE_SENDS, TelnetClient,
};

const MAX_SUBNEGS: [usize; 4] = [0, 1, 16, 65536];
const MAX_NEGOTIATIONS: [usize; 4] = [0, 3, 64, 1000];

fn limits(b: u8) -> ClientLimits {
    let b = usize::from(b);
    ClientLimits {
        max_subneg: MAX_SUBNEGS[b % MAX_SUBNEGS.len()],
        max_negotiations: MAX_NEGOTIATIONS[(b / 4) % MAX_NEGOTIATIONS.len()],
    }
}

fn policy(b: u8) -> ClientPolicy {
    match b % 4 {
        1 => ClientPolicy {
            local: Vec::new(),
            remote: Vec::new(),
        },
        2 => ClientPolicy {
            local: (0..=255).collect(),
            remote: (0..=255).collect(),
        },
        _ => ClientPolicy::default(),
    }
}

/// One run's replies, and its events with adjacent `Text` merged.
struct Run {
    out: Vec<u8>,
    events: Vec<ClientEvent>,
}

fn feed_chunks(limits: ClientLimits, policy_byte: u8, chunks: &[&[u8]]) -> Run {
    let policy = policy(policy_byte);
    let mut client = TelnetClient::new(limits, policy.clone());
    let mut out = Vec::new();
    if policy_byte % 4 == 3 {
        for &o in &policy.local {
            assert!(client.request_local(o, true, &mut out));
        }
        for &o in &policy.remote {
            assert!(client.request_remote(o, true, &mut out));
        }
    }
    let mut events = Vec::new();
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        loop {
            let before = events.len();
            let used = client.feed(rest, &mut out, &mut events);
            assert!(used <= rest.len(), "feed consumed {used} of {}", rest.len());
            for ev in &events[before..] {
                if let ClientEvent::Text(t) = ev {
                    assert!(t.len() <= rest.len(), "Text longer than the call's input");
                }
            }
            if events[before..].contains(&ClientEvent::CompressionStart) {
                assert_eq!(
                    events.last(),
                    Some(&ClientEvent::CompressionStart),
                    "feed went on after CompressionStart"
                );
                // Pretend the rest was already inflated and carry on: every run then sees the
                // same bytes in the same order, so split invariance still holds.
                rest = &rest[used..];
                if rest.is_empty() {
                    break;
                }
            } else {
                assert_eq!(
                    used,
                    rest.len(),
                    "feed stopped early without CompressionStart"
                );
                break;
            }
        }
    }
    check_events(&events, &limits, &policy);
    Run {
        out,
        events: merge_text(events),
    }
}

fn check_events(events: &[ClientEvent], limits: &ClientLimits, policy: &ClientPolicy) {
    let count = |f: fn(&ClientEvent) -> bool| events.iter().filter(|e| f(e)).count();
    assert!(count(|e| matches!(e, ClientEvent::TtypeSend)) <= usize::from(MAX_TTYPE_SENDS));
    assert!(count(|e| matches!(e, ClientEvent::Charset(_))) <= usize::from(MAX_CHARSET_REQUESTS));
    assert!(count(|e| matches!(e, ClientEvent::NegotiationStorm)) <= 1);
    for ev in events {
        match ev {
            ClientEvent::Subnegotiation { payload, .. } => assert!(
                payload.len() <= limits.max_subneg,
                "subnegotiation of {} bytes exceeds max_subneg {}",
                payload.len(),
                limits.max_subneg
            ),
            ClientEvent::OptionEnabled { option, local } => {
                let allowed = if *local {
                    &policy.local
                } else {
                    &policy.remote
                };
                assert!(
                    allowed.contains(option),
                    "option {option} enabled (local: {local}) outside the policy"
                );
            }
            _ => {}
        }
    }
}

fn merge_text(events: Vec<ClientEvent>) -> Vec<ClientEvent> {
    let mut merged: Vec<ClientEvent> = Vec::with_capacity(events.len());
    for ev in events {
        if let ClientEvent::Text(more) = &ev
            && let Some(ClientEvent::Text(text)) = merged.last_mut()
        {
            text.extend_from_slice(more);
            continue;
        }
        merged.push(ev);
    }
    merged
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let limits = limits(data[0]);
    let policy_byte = data[1];
    let split = usize::from(u16::from_le_bytes([data[2], data[3]]));
    let input = &data[4..];
    let split = split % (input.len() + 1);

    let whole = feed_chunks(limits, policy_byte, &[input]);
    let (head, tail) = input.split_at(split);
    let parts = feed_chunks(limits, policy_byte, &[head, tail]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let single = feed_chunks(limits, policy_byte, &bytes);

    assert_eq!(whole.out, parts.out, "replies differ when split at {split}");
    assert_eq!(
        whole.events, parts.events,
        "events differ when split at {split}"
    );
    assert_eq!(
        whole.out, single.out,
        "replies differ when fed byte by byte"
    );
    assert_eq!(
        whole.events, single.events,
        "events differ when fed byte by byte"
    );
});
