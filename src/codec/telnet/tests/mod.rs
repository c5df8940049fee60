//! Byte-exact unit tests for the telnet engine, one file per theme; this file holds the shared
//! helpers (an engine with small limits, `feed`, subnegotiation builders).
//! - [`parsing`]: IAC escaping, commands in data, SB framing, the subnegotiation limit;
//! - [`lines`]: line assembly and output encoding;
//! - [`negotiation`]: RFC 1143 negotiation and the option table;
//! - [`subnegotiation`]: NAWS, TTYPE/MTTS and CHARSET;
//! - [`splits`]: split invariance (any split of the input yields the same replies/events);
//! - [`client`]: the client-role engine of gateway mode, with its own helpers.

mod client;
mod lines;
mod negotiation;
mod parsing;
mod splits;
mod subnegotiation;

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
