//! Handlers for complete, IAC-unescaped subnegotiation payloads: TTYPE with
//! the MTTS cycle, NAWS (RFC 1073) and CHARSET (RFC 2066).
//!
//! Invariants:
//! - Payloads arrive here already bounded by `max_subneg` and unescaped; every
//!   handler tolerates any length (including empty) without panicking.
//! - Subnegotiations for options the policy table supports in neither
//!   direction are ignored.
//! - TTYPE: at most [`MAX_TTYPE_REQUESTS`] SEND requests per connection, and an
//!   IS answer is only accepted while a SEND is outstanding.
//! - CHARSET: we send at most one REQUEST per connection; an ACCEPTED is only
//!   honoured while that request is outstanding.

use super::options::{self, Support};
use super::{
    CHARSET, CHARSET_ACCEPTED, CHARSET_REJECTED, CHARSET_REQUEST, GMCP, MCCP3, MSDP, NAWS,
    NEW_ENVIRON, TTYPE, TTYPE_IS, TTYPE_SEND, TelnetEngine, TelnetEvent, encode_subnegotiation,
};

/// Upper bound of TTYPE SEND requests (MTTS needs three).
pub(crate) const MAX_TTYPE_REQUESTS: u8 = 3;

/// Progress of the MTTS terminal-type cycle.
#[derive(Debug, Default)]
pub(crate) struct TtypeCycle {
    /// SEND requests sent so far.
    pub(crate) requests: u8,
    /// IS answers accepted so far.
    pub(crate) answers: u8,
    /// A SEND is outstanding.
    pub(crate) pending: bool,
    /// The cycle is over (repeat seen, or three answers).
    pub(crate) done: bool,
    /// Previous answer, to detect non-cycling clients.
    pub(crate) last: Vec<u8>,
}

/// Progress of CHARSET negotiation.
#[derive(Debug, Default)]
pub(crate) struct CharsetState {
    /// We have sent our REQUEST.
    pub(crate) requested: bool,
    /// Our REQUEST awaits ACCEPTED/REJECTED.
    pub(crate) pending: bool,
}

impl TelnetEngine {
    pub(super) fn subnegotiation(
        &mut self,
        option: u8,
        payload: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<TelnetEvent>,
    ) {
        let spec = options::lookup(option);
        if spec.local == Support::No && spec.remote == Support::No {
            return;
        }
        match option {
            TTYPE => self.ttype_subneg(payload, out, events),
            NAWS => naws_subneg(payload, events),
            CHARSET => self.charset_subneg(payload, out, events),
            // Out-of-band data is the caller's to decode, once the option is on.
            GMCP | MSDP if self.is_enabled_local(option) => {
                events.push(TelnetEvent::Subnegotiation {
                    option,
                    payload: payload.to_vec(),
                });
            }
            NEW_ENVIRON if self.is_enabled_remote(option) => {
                events.push(TelnetEvent::Subnegotiation {
                    option,
                    payload: payload.to_vec(),
                });
            }
            // `IAC SB MCCP3 IAC SE` from the client: its stream is compressed from here on.
            MCCP3 if self.is_enabled_local(option) && payload.is_empty() => {
                self.compression_start = true;
            }
            _ => {}
        }
    }

    /// Whether the opening negotiation is over: no request of ours or the client's awaits
    /// an answer, and neither the TTYPE cycle nor CHARSET is under way. A client that never
    /// answers never settles; callers bound the wait themselves.
    pub fn settled(&self) -> bool {
        !self.ttype.pending && !self.charset.pending && !self.neg.pending()
    }

    // ---- TTYPE / MTTS ----

    /// The client agreed to WILL TTYPE: ask for the first answer.
    pub(super) fn ttype_start(&mut self, out: &mut Vec<u8>) {
        if !self.ttype.done && !self.ttype.pending {
            self.ttype_send(out);
        }
    }

    fn ttype_send(&mut self, out: &mut Vec<u8>) {
        if self.ttype.requests >= MAX_TTYPE_REQUESTS || !self.is_enabled_remote(TTYPE) {
            self.ttype.done = true;
            return;
        }
        self.ttype.requests += 1;
        self.ttype.pending = true;
        encode_subnegotiation(TTYPE, &[TTYPE_SEND], out);
    }

    fn ttype_subneg(&mut self, payload: &[u8], out: &mut Vec<u8>, events: &mut Vec<TelnetEvent>) {
        let Some((&TTYPE_IS, name)) = payload.split_first() else {
            return;
        };
        if !self.ttype.pending {
            return;
        }
        self.ttype.pending = false;
        if self.ttype.answers > 0 && name == self.ttype.last.as_slice() {
            // The client repeats itself: it does not cycle. Stop asking.
            self.ttype.done = true;
            return;
        }
        self.ttype.answers += 1;
        self.ttype.last.clear();
        self.ttype.last.extend_from_slice(name);
        let text = String::from_utf8_lossy(name).into_owned();
        match self.ttype.answers {
            1 => {
                events.push(TelnetEvent::ClientName(text));
                self.ttype_send(out);
            }
            2 => {
                events.push(TelnetEvent::TerminalType(text));
                self.ttype_send(out);
            }
            _ => {
                if let Some(bits) = parse_mtts(name) {
                    events.push(TelnetEvent::Mtts(bits));
                }
                self.ttype.done = true;
            }
        }
    }

    // ---- CHARSET ----

    /// The client agreed to our WILL CHARSET: offer UTF-8 once.
    pub(super) fn charset_start(&mut self, out: &mut Vec<u8>) {
        if self.charset.requested {
            return;
        }
        self.charset.requested = true;
        self.charset.pending = true;
        let mut payload = vec![CHARSET_REQUEST];
        payload.extend_from_slice(b";UTF-8");
        encode_subnegotiation(CHARSET, &payload, out);
    }

    fn charset_subneg(&mut self, payload: &[u8], out: &mut Vec<u8>, events: &mut Vec<TelnetEvent>) {
        let Some((&cmd, rest)) = payload.split_first() else {
            return;
        };
        match cmd {
            CHARSET_REQUEST => {
                if !self.is_enabled_local(CHARSET) && !self.is_enabled_remote(CHARSET) {
                    return;
                }
                match pick_utf8(rest) {
                    Some(name) => {
                        let mut reply = vec![CHARSET_ACCEPTED];
                        reply.extend_from_slice(name);
                        encode_subnegotiation(CHARSET, &reply, out);
                        events.push(TelnetEvent::Charset(
                            String::from_utf8_lossy(name).into_owned(),
                        ));
                    }
                    None => encode_subnegotiation(CHARSET, &[CHARSET_REJECTED], out),
                }
            }
            CHARSET_ACCEPTED if self.charset.pending => {
                self.charset.pending = false;
                events.push(TelnetEvent::Charset(
                    String::from_utf8_lossy(rest).into_owned(),
                ));
            }
            CHARSET_REJECTED => self.charset.pending = false,
            // TTABLE-* and anything else: we never offer translation tables.
            _ => {}
        }
    }
}

fn naws_subneg(payload: &[u8], events: &mut Vec<TelnetEvent>) {
    if let [w1, w0, h1, h0] = *payload {
        events.push(TelnetEvent::Naws {
            width: u16::from_be_bytes([w1, w0]),
            height: u16::from_be_bytes([h1, h0]),
        });
    }
}

/// `MTTS <decimal>` (prefix case-insensitive) -> the bit field.
fn parse_mtts(name: &[u8]) -> Option<u32> {
    let (prefix, number) = name.split_at_checked(5)?;
    if !prefix.eq_ignore_ascii_case(b"MTTS ") {
        return None;
    }
    std::str::from_utf8(number).ok()?.trim().parse().ok()
}

/// From a CHARSET REQUEST body (`[TTABLE]<version>` optional, then
/// `<sep>name<sep>name...`), the client's spelling of UTF-8, if listed.
fn pick_utf8(body: &[u8]) -> Option<&[u8]> {
    let body = match body.strip_prefix(b"[TTABLE]".as_slice()) {
        Some(after) => after.get(1..)?,
        None => body,
    };
    let (&sep, list) = body.split_first()?;
    list.split(|&b| b == sep)
        .find(|name| name.eq_ignore_ascii_case(b"UTF-8") || name.eq_ignore_ascii_case(b"UTF8"))
}
