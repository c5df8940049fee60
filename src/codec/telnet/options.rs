//! Option policy table and the RFC 1143 "Q method" negotiation state machine.
//!
//! Owns:
//! - [`OPTIONS`], the single table that decides which telnet options we are
//!   willing to enable on our side (`local`) and accept on the client's side
//!   (`remote`). Nothing else in the engine decides acceptance; an option code
//!   absent from the table is refused in both directions.
//! - [`Side`], the per-direction Q-method state (`NO`, `YES`, `WANTNO`,
//!   `WANTYES` plus the opposite-queue bit).
//! - What both engines (server and client role) share beyond their own policy:
//!   [`Negotiation`] (every option's state, answering WILL/WONT/DO/DONT, the bound on
//!   negotiation commands) and [`SubnegBuffer`] (the bounded subnegotiation payload).
//!
//! Invariants:
//! - The opposite-queue bit is only ever set while the state is `WantNo` or
//!   `WantYes`; it is always cleared when a side settles in `No` or `Yes`.
//! - Every transition function returns at most one reply and never a reply that
//!   would confirm a state the side is already in, so two Q-method peers cannot
//!   loop (RFC 1143 section 7).

use super::{
    CHARSET, DO, DONT, ECHO, GMCP, MCCP2, MCCP3, MSDP, MSSP, NAWS, NEW_ENVIRON, SGA, TELOPT_EOR,
    TTYPE, WILL, WONT,
};

/// How far we support an option in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Never enabled; requests from the client are refused.
    No,
    /// Enabled only when the engine's API asks for it (e.g. ECHO via
    /// `set_echo_hidden`); unsolicited client requests are refused.
    Manual,
    /// Not offered, but accepted when the client asks.
    Accept,
    /// Offered by `TelnetEngine::start` and accepted when the client asks.
    Offer,
}

impl Support {
    /// Whether an unsolicited request from the client is agreed to.
    pub const fn accepts_peer(self) -> bool {
        matches!(self, Support::Accept | Support::Offer)
    }

    /// Whether we may ever try to enable the option in this direction.
    pub const fn may_enable(self) -> bool {
        !matches!(self, Support::No)
    }
}

/// One row of the option policy table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// Telnet option code.
    pub code: u8,
    /// Human-readable name, for logs.
    pub name: &'static str,
    /// Support for enabling the option on our side (we send WILL / accept DO).
    pub local: Support,
    /// Support for the client enabling it on its side (we send DO / accept WILL).
    pub remote: Support,
}

const fn spec(code: u8, name: &'static str, local: Support, remote: Support) -> OptionSpec {
    OptionSpec {
        code,
        name,
        local,
        remote,
    }
}

/// The option policy table. This is the only place that decides which options
/// are accepted; options not listed are refused both ways.
pub const OPTIONS: &[OptionSpec] = &[
    spec(ECHO, "ECHO", Support::Manual, Support::No),
    spec(SGA, "SGA", Support::Accept, Support::Accept),
    spec(TTYPE, "TTYPE", Support::No, Support::Offer),
    spec(TELOPT_EOR, "EOR", Support::Offer, Support::No),
    spec(NAWS, "NAWS", Support::No, Support::Offer),
    spec(NEW_ENVIRON, "NEW-ENVIRON", Support::No, Support::Offer),
    spec(CHARSET, "CHARSET", Support::Offer, Support::Accept),
    spec(MSDP, "MSDP", Support::Offer, Support::No),
    spec(MSSP, "MSSP", Support::Offer, Support::No),
    spec(MCCP2, "MCCP2", Support::Offer, Support::No),
    spec(MCCP3, "MCCP3", Support::Offer, Support::No),
    spec(GMCP, "GMCP", Support::Offer, Support::No),
];

/// Policy for `code`; options missing from the table are refused both ways.
pub fn lookup(code: u8) -> OptionSpec {
    OPTIONS
        .iter()
        .find(|s| s.code == code)
        .copied()
        .unwrap_or(OptionSpec {
            code,
            name: "UNKNOWN",
            local: Support::No,
            remote: Support::No,
        })
}

/// RFC 1143 state of one direction of one option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Q {
    #[default]
    No,
    Yes,
    WantNo,
    WantYes,
}

/// What to send after a transition: the positive (WILL/DO) or negative
/// (WONT/DONT) command for this direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    Positive,
    Negative,
}

/// One direction ("us" or "him") of one option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Side {
    pub(crate) state: Q,
    /// RFC 1143 queue bit: `true` = OPPOSITE, `false` = EMPTY.
    pub(crate) opposite: bool,
}

impl Side {
    pub(crate) fn enabled(self) -> bool {
        self.state == Q::Yes
    }

    /// The peer asked to enable (received WILL for "him", DO for "us").
    pub(crate) fn recv_enable(&mut self, accept: bool) -> Option<Reply> {
        match (self.state, self.opposite) {
            (Q::No, _) => {
                if accept {
                    self.settle(Q::Yes);
                    Some(Reply::Positive)
                } else {
                    Some(Reply::Negative)
                }
            }
            (Q::Yes, _) => None,
            // Error per RFC 1143 (our disable answered by enable); settle NO.
            (Q::WantNo, false) => {
                self.settle(Q::No);
                None
            }
            (Q::WantNo, true) => {
                self.settle(Q::Yes);
                None
            }
            (Q::WantYes, false) => {
                self.settle(Q::Yes);
                None
            }
            (Q::WantYes, true) => {
                self.state = Q::WantNo;
                self.opposite = false;
                Some(Reply::Negative)
            }
        }
    }

    /// The peer asked to disable (received WONT for "him", DONT for "us").
    pub(crate) fn recv_disable(&mut self) -> Option<Reply> {
        match (self.state, self.opposite) {
            (Q::No, _) => None,
            (Q::Yes, _) => {
                self.settle(Q::No);
                Some(Reply::Negative)
            }
            (Q::WantNo, false) => {
                self.settle(Q::No);
                None
            }
            (Q::WantNo, true) => {
                self.state = Q::WantYes;
                self.opposite = false;
                Some(Reply::Positive)
            }
            (Q::WantYes, _) => {
                self.settle(Q::No);
                None
            }
        }
    }

    /// We want the option enabled in this direction.
    pub(crate) fn request_enable(&mut self) -> Option<Reply> {
        match (self.state, self.opposite) {
            (Q::No, _) => {
                self.state = Q::WantYes;
                self.opposite = false;
                Some(Reply::Positive)
            }
            (Q::WantNo, false) => {
                self.opposite = true;
                None
            }
            (Q::WantYes, true) => {
                self.opposite = false;
                None
            }
            (Q::Yes, _) | (Q::WantNo, true) | (Q::WantYes, false) => None,
        }
    }

    /// We want the option disabled in this direction.
    pub(crate) fn request_disable(&mut self) -> Option<Reply> {
        match (self.state, self.opposite) {
            (Q::Yes, _) => {
                self.state = Q::WantNo;
                self.opposite = false;
                Some(Reply::Negative)
            }
            (Q::WantNo, true) => {
                self.opposite = false;
                None
            }
            (Q::WantYes, false) => {
                self.opposite = true;
                None
            }
            (Q::No, _) | (Q::WantNo, false) | (Q::WantYes, true) => None,
        }
    }

    fn settle(&mut self, state: Q) {
        self.state = state;
        self.opposite = false;
    }
}

/// Both directions of one option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct OptionState {
    pub(crate) us: Side,
    pub(crate) him: Side,
}

/// What one received negotiation command did, for the engine to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// This command crossed `max_negotiations`: report the storm once.
    Storm,
    /// After the storm: not answered, nothing changed.
    Ignored,
    /// Answered as the Q method says; the option's state did not change.
    Unchanged,
    /// The option changed state (`local`: on our side).
    Changed { local: bool, enabled: bool },
}

/// Every option's RFC 1143 state in both directions, and the bound on the negotiation
/// commands a peer may send: the negotiation mechanism both engines (server and client role)
/// share; each decides only which options it accepts.
#[derive(Debug)]
pub(crate) struct Negotiation {
    opts: [OptionState; 256],
    /// Commands received so far.
    seen: usize,
    /// Commands answered before the storm.
    max: usize,
    /// The bound was crossed; nothing is answered any more.
    storm: bool,
}

impl Negotiation {
    /// Every option off, at most `max` commands answered.
    pub(crate) fn new(max: usize) -> Self {
        Negotiation {
            opts: [OptionState::default(); 256],
            seen: 0,
            max,
            storm: false,
        }
    }

    /// Whether `option` is enabled on our side (`local`) or the peer's.
    pub(crate) fn enabled(&self, option: u8, local: bool) -> bool {
        let o = &self.opts[usize::from(option)];
        if local {
            o.us.enabled()
        } else {
            o.him.enabled()
        }
    }

    /// Whether a request of ours or the peer's awaits its answer, in either direction.
    pub(crate) fn pending(&self) -> bool {
        let waiting = |s: Side| matches!(s.state, Q::WantYes | Q::WantNo);
        self.opts.iter().any(|o| waiting(o.us) || waiting(o.him))
    }

    /// Whether the peer sent more than the bound of negotiation commands.
    #[cfg(test)]
    pub(crate) fn stormed(&self) -> bool {
        self.storm
    }

    /// Received IAC `cmd` `option` (WILL/WONT/DO/DONT); `accept` is whether the engine agrees
    /// to the option in that direction (DO/DONT: ours; WILL/WONT: the peer's). A request the
    /// engine refuses is refused each time it arrives in state NO (no loop: a refusal is
    /// never answered).
    pub(crate) fn receive(
        &mut self,
        cmd: u8,
        option: u8,
        accept: bool,
        out: &mut Vec<u8>,
    ) -> Received {
        if self.storm {
            return Received::Ignored;
        }
        self.seen += 1;
        if self.seen > self.max {
            self.storm = true;
            return Received::Storm;
        }
        let local = matches!(cmd, DO | DONT);
        let (positive, negative) = if local { (WILL, WONT) } else { (DO, DONT) };
        let both = &mut self.opts[usize::from(option)];
        let side = if local { &mut both.us } else { &mut both.him };
        let was = side.enabled();
        let reply = if matches!(cmd, WILL | DO) {
            side.recv_enable(accept)
        } else {
            side.recv_disable()
        };
        let now = side.enabled();
        super::send_reply(out, reply, positive, negative, option);
        if was == now {
            Received::Unchanged
        } else {
            Received::Changed {
                local,
                enabled: now,
            }
        }
    }

    /// Asks to enable or disable `option` on our side (`local`: WILL/WONT) or the peer's
    /// (DO/DONT) via the Q method; repeated calls send nothing new. The engine has checked
    /// that enabling is allowed.
    pub(crate) fn request(&mut self, option: u8, local: bool, enable: bool, out: &mut Vec<u8>) {
        let both = &mut self.opts[usize::from(option)];
        let (side, positive, negative) = if local {
            (&mut both.us, WILL, WONT)
        } else {
            (&mut both.him, DO, DONT)
        };
        let reply = if enable {
            side.request_enable()
        } else {
            side.request_disable()
        };
        super::send_reply(out, reply, positive, negative, option);
    }
}

/// The payload of the subnegotiation being read, bounded: both engines collect into one.
#[derive(Debug)]
pub(crate) struct SubnegBuffer {
    option: u8,
    buf: Vec<u8>,
    /// The open subnegotiation crossed `max`; the rest of it is dropped.
    overflow: bool,
    max: usize,
}

impl SubnegBuffer {
    /// A buffer that never holds more than `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        SubnegBuffer {
            option: 0,
            buf: Vec::new(),
            overflow: false,
            max,
        }
    }

    /// `IAC SB option` began a subnegotiation.
    pub(crate) fn open(&mut self, option: u8) {
        self.option = option;
        self.buf.clear();
        self.overflow = false;
    }

    /// The option of the open (or last) subnegotiation.
    pub(crate) fn option(&self) -> u8 {
        self.option
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// One payload byte. `true` when this byte crossed the bound: the payload is dropped
    /// (its memory given back at once, not at a maybe never coming SE), to be reported once.
    pub(crate) fn push(&mut self, b: u8) -> bool {
        if self.overflow {
            return false;
        }
        if self.buf.len() >= self.max {
            self.overflow = true;
            self.buf = Vec::new();
            return true;
        }
        self.buf.push(b);
        false
    }

    /// The subnegotiation ended: its payload, unless it overflowed. Give the allocation back
    /// with [`reuse`](Self::reuse) when the payload is not kept.
    pub(crate) fn take(&mut self) -> Option<Vec<u8>> {
        let payload = std::mem::take(&mut self.buf);
        (!std::mem::take(&mut self.overflow)).then_some(payload)
    }

    /// Keeps a payload's allocation for the next subnegotiation.
    pub(crate) fn reuse(&mut self, mut spare: Vec<u8>) {
        spare.clear();
        self.buf = spare;
    }
}
