//! Portcullis' own sans-IO telnet protocol engine (RFC 854/855 + RFC 1143).
//!
//! Owns: the byte-level parser state machine, input line assembly, option
//! negotiation bookkeeping (policy in [`options::OPTIONS`]), output encoding of
//! text and prompts. One [`TelnetEngine`] per connection; the connection task
//! feeds it raw socket bytes and writes back whatever it appends to `out`.
//!
//! Invariants:
//! - Parsing never depends on how input is split across [`TelnetEngine::feed`]
//!   calls: all partial state (pending IAC, half-read negotiation, open
//!   subnegotiation, a CR waiting for its LF/NUL) lives in the engine, and the
//!   concatenation of `out` and `events` is identical for any split.
//! - Memory is bounded: the line buffer never exceeds `max_line` bytes and the
//!   subnegotiation buffer never exceeds `max_subneg` bytes.
//! - No panics, no `unsafe`, no I/O. Replies are only ever produced in answer to
//!   input, by `start`, or by explicit API calls, and never loop (RFC 1143).
//! - After a [`TelnetEvent::NegotiationStorm`] the engine stops answering
//!   negotiations but still assembles lines.
//!
//! [`client`] is the other role: a [`client::TelnetClient`] per player speaks to an existing
//! telnet game in gateway mode, with its own parser and policy but these wire numbers, Q-method
//! states and [`encode_subnegotiation`].

pub mod client;
mod codes;
mod options;
mod subneg;
#[cfg(test)]
mod tests;

pub use codes::*;
pub use options::{OPTIONS, OptionSpec, Support};

use options::{Negotiation, Received, Reply, SubnegBuffer};
use subneg::{CharsetState, TtypeCycle};

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const NUL: u8 = 0;

/// Per-connection resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineLimits {
    /// Maximum bytes of one input line (after IAC unescaping).
    pub max_line: usize,
    /// Maximum bytes of one subnegotiation payload (after IAC unescaping).
    pub max_subneg: usize,
    /// WILL/WONT/DO/DONT commands accepted per connection before
    /// [`TelnetEvent::NegotiationStorm`].
    pub max_negotiations: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_line: 4096,
            max_subneg: 8192,
            max_negotiations: 500,
        }
    }
}

/// Something the client told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelnetEvent {
    /// One complete input line: raw bytes, IAC-unescaped, without line ending.
    Line(Vec<u8>),
    /// The current line exceeded `limit` bytes. Emitted as soon as the limit
    /// is crossed, immediately followed by `Line` carrying the first `limit`
    /// bytes; the rest of the line up to its ending is discarded.
    LineTooLong { limit: usize },
    /// Window size (RFC 1073). 0 means "unknown" for that dimension.
    Naws { width: u16, height: u16 },
    /// First TTYPE answer (MTTS step 1: client name, or the only terminal type
    /// of a non-cycling client).
    ClientName(String),
    /// Second, different TTYPE answer (MTTS step 2: terminal type).
    TerminalType(String),
    /// Third TTYPE answer `MTTS <n>` (see [`mtts`] for bits).
    Mtts(u32),
    /// Character set agreed with the client (RFC 2066), e.g. `UTF-8`.
    Charset(String),
    /// An option became enabled (`local`: on our side) through client input.
    OptionEnabled { option: u8, local: bool },
    /// An enabled option became disabled through client input.
    OptionDisabled { option: u8, local: bool },
    /// More than `max_negotiations` negotiation commands; disconnect.
    NegotiationStorm,
    /// A subnegotiation exceeded `max_subneg` bytes and was discarded.
    SubnegotiationTooLong { option: u8 },
    /// A complete subnegotiation for an out-of-band option the engine does not interpret
    /// itself (GMCP, MSDP, NEW-ENVIRON), IAC-unescaped, for the caller to decode.
    Subnegotiation { option: u8, payload: Vec<u8> },
    /// The client started MCCP3 (`IAC SB MCCP3 IAC SE`): every byte after the ones `feed`
    /// consumed is compressed. `feed` stops right after this event; the caller inflates the
    /// rest and feeds the plain bytes back in.
    CompressionStart,
}

/// Parser position within the telnet byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseState {
    /// Ordinary data.
    Data,
    /// Seen IAC in data.
    Iac,
    /// Seen IAC WILL/WONT/DO/DONT; waiting for the option byte.
    Negotiate(u8),
    /// Seen IAC SB; waiting for the option byte.
    SbOption,
    /// Inside a subnegotiation payload.
    Sb,
    /// Seen IAC inside a subnegotiation payload.
    SbIac,
}

/// Sans-IO telnet engine for one connection.
#[derive(Debug)]
pub struct TelnetEngine {
    limits: EngineLimits,
    state: ParseState,
    // Line assembly.
    line: Vec<u8>,
    /// The previous data byte was CR: a following LF or NUL is swallowed.
    pending_cr: bool,
    /// The current line overflowed; drop bytes until its line ending.
    discarding_line: bool,
    /// The subnegotiation being read.
    sb: SubnegBuffer,
    /// Every option's state, and the bound on negotiation commands.
    neg: Negotiation,
    ttype: TtypeCycle,
    charset: CharsetState,
    /// Set by the MCCP3 start subnegotiation; `feed` stops after the byte that set it.
    compression_start: bool,
}

impl TelnetEngine {
    /// A fresh engine; nothing is sent until [`start`](Self::start) or input.
    pub fn new(limits: EngineLimits) -> Self {
        Self {
            limits,
            state: ParseState::Data,
            line: Vec::new(),
            pending_cr: false,
            discarding_line: false,
            sb: SubnegBuffer::new(limits.max_subneg),
            neg: Negotiation::new(limits.max_negotiations),
            ttype: TtypeCycle::default(),
            charset: CharsetState::default(),
            compression_start: false,
        }
    }

    /// Initial offers: every table option marked [`Support::Offer`]
    /// (currently `DO TTYPE`, `WILL EOR`, `DO NAWS`, `WILL CHARSET`, in table
    /// order). Idempotent.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        for spec in OPTIONS {
            if spec.remote == Support::Offer {
                self.request_remote(spec.code, true, out);
            }
            if spec.local == Support::Offer {
                self.request_local(spec.code, true, out);
            }
        }
    }

    /// Feed raw bytes read from the socket. Appends negotiation replies to
    /// `out` and decoded events to `events`.
    ///
    /// Returns how many bytes of `input` were consumed: all of them, unless the client started
    /// MCCP3 compression ([`TelnetEvent::CompressionStart`]), after which the rest of `input`
    /// is compressed and must be inflated by the caller before being fed back in.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<TelnetEvent>,
    ) -> usize {
        let mut i = 0;
        while i < input.len() {
            // Fast path: a run of ordinary text bytes goes into the line in one copy. It gives
            // exactly what `step` would byte by byte; special bytes still go through `step`.
            if self.state == ParseState::Data && !self.pending_cr && !self.discarding_line {
                let room = self.limits.max_line.saturating_sub(self.line.len());
                let run = input[i..]
                    .iter()
                    .take(room)
                    .position(|&b| matches!(b, IAC | CR | LF | NUL))
                    .unwrap_or(room.min(input.len() - i));
                if run > 0 {
                    self.line.extend_from_slice(&input[i..i + run]);
                    i += run;
                    continue;
                }
            }
            self.step(input[i], out, events);
            i += 1;
            if self.compression_start {
                self.compression_start = false;
                events.push(TelnetEvent::CompressionStart);
                return i;
            }
        }
        i
    }

    /// `true`: WILL ECHO (the client stops echoing locally, for passwords);
    /// `false`: WONT ECHO. Uses the Q method, so repeated calls send nothing.
    pub fn set_echo_hidden(&mut self, hidden: bool, out: &mut Vec<u8>) {
        self.request_local(ECHO, hidden, out);
    }

    /// Ask to enable/disable `option` on our side (WILL/WONT) via the Q
    /// method. Returns `false` (sending nothing) if the table forbids enabling
    /// it locally. Disabling takes effect for [`is_enabled_local`] at once;
    /// no event is emitted for changes we initiate until the client confirms.
    ///
    /// [`is_enabled_local`]: Self::is_enabled_local
    pub fn request_local(&mut self, option: u8, enable: bool, out: &mut Vec<u8>) -> bool {
        if enable && !options::lookup(option).local.may_enable() {
            return false;
        }
        self.neg.request(option, true, enable, out);
        true
    }

    /// Ask the client to enable/disable `option` on its side (DO/DONT) via
    /// the Q method. Returns `false` if the table forbids it remotely.
    pub fn request_remote(&mut self, option: u8, enable: bool, out: &mut Vec<u8>) -> bool {
        if enable && !options::lookup(option).remote.may_enable() {
            return false;
        }
        self.neg.request(option, false, enable, out);
        true
    }

    /// Encode game text for the wire: IAC doubled, bare LF -> CR LF, existing
    /// CR LF kept, lone CR -> CR NUL. Stateless: a CR ending `text` is a lone
    /// CR, so do not split a CR LF pair across calls.
    pub fn encode_text(&self, text: &[u8], out: &mut Vec<u8>) {
        out.reserve(text.len() + text.len() / 16 + 2);
        let mut prev_cr = false;
        for (i, &b) in text.iter().enumerate() {
            match b {
                IAC => out.extend_from_slice(&[IAC, IAC]),
                LF if prev_cr => out.push(LF),
                LF => out.extend_from_slice(&[CR, LF]),
                CR if text.get(i + 1) == Some(&LF) => out.push(CR),
                CR => out.extend_from_slice(&[CR, NUL]),
                _ => out.push(b),
            }
            prev_cr = b == CR;
        }
    }

    /// Mark the end of a prompt: IAC EOR if EOR is enabled on our side, else
    /// IAC GA unless SGA is enabled on our side (then nothing).
    pub fn end_prompt(&self, out: &mut Vec<u8>) {
        if self.is_enabled_local(TELOPT_EOR) {
            out.extend_from_slice(&[IAC, EOR]);
        } else if !self.is_enabled_local(SGA) {
            out.extend_from_slice(&[IAC, GA]);
        }
    }

    /// Whether `option` is enabled (Q-method state YES) on our side.
    pub fn is_enabled_local(&self, option: u8) -> bool {
        self.neg.enabled(option, true)
    }

    /// Whether `option` is enabled (Q-method state YES) on the client's side.
    pub fn is_enabled_remote(&self, option: u8) -> bool {
        self.neg.enabled(option, false)
    }

    // ---- parser ----

    fn step(&mut self, b: u8, out: &mut Vec<u8>, events: &mut Vec<TelnetEvent>) {
        match self.state {
            ParseState::Data => {
                if b == IAC {
                    self.state = ParseState::Iac;
                } else {
                    self.data_byte(b, events);
                }
            }
            ParseState::Iac => {
                self.state = ParseState::Data;
                self.command(b, events);
            }
            ParseState::Negotiate(cmd) => {
                self.state = ParseState::Data;
                self.negotiate(cmd, b, out, events);
            }
            ParseState::SbOption => {
                self.sb.open(b);
                self.state = ParseState::Sb;
            }
            ParseState::Sb => {
                if b == IAC {
                    self.state = ParseState::SbIac;
                } else {
                    self.sb_push(b, events);
                }
            }
            ParseState::SbIac => match b {
                IAC => {
                    self.state = ParseState::Sb;
                    self.sb_push(IAC, events);
                }
                SE => {
                    self.state = ParseState::Data;
                    self.finish_sb(out, events);
                }
                _ => {
                    // Malformed: IAC <cmd> inside SB. Treat it as an implicit
                    // SE (some clients forget it) and then run the command.
                    self.finish_sb(out, events);
                    self.state = ParseState::Data;
                    self.command(b, events);
                }
            },
        }
    }

    /// The byte after an IAC in data (also used after an implicit SE).
    fn command(&mut self, b: u8, events: &mut Vec<TelnetEvent>) {
        match b {
            IAC => self.data_byte(IAC, events),
            WILL | WONT | DO | DONT => self.state = ParseState::Negotiate(b),
            SB => self.state = ParseState::SbOption,
            // While discarding an overlong line the buffer is already empty.
            EC => {
                self.line.pop();
            }
            EL => self.line.clear(),
            // NOP, GA, EOR, AYT, AO, IP, BRK, DM, stray SE, unknown: consumed.
            _ => {}
        }
    }

    fn data_byte(&mut self, b: u8, events: &mut Vec<TelnetEvent>) {
        if self.pending_cr {
            self.pending_cr = false;
            if b == LF || b == NUL {
                return;
            }
        }
        match b {
            CR => {
                self.end_line(events);
                self.pending_cr = true;
            }
            LF => self.end_line(events),
            // NUL is an NVT no-op; never let it into a line.
            NUL => {}
            _ => self.push_line(b, events),
        }
    }

    fn push_line(&mut self, b: u8, events: &mut Vec<TelnetEvent>) {
        if self.discarding_line {
            return;
        }
        if self.line.len() >= self.limits.max_line {
            self.discarding_line = true;
            events.push(TelnetEvent::LineTooLong {
                limit: self.limits.max_line,
            });
            events.push(TelnetEvent::Line(std::mem::take(&mut self.line)));
            return;
        }
        self.line.push(b);
    }

    fn end_line(&mut self, events: &mut Vec<TelnetEvent>) {
        if self.discarding_line {
            self.discarding_line = false;
        } else {
            events.push(TelnetEvent::Line(std::mem::take(&mut self.line)));
        }
    }

    fn sb_push(&mut self, b: u8, events: &mut Vec<TelnetEvent>) {
        if self.sb.push(b) {
            events.push(TelnetEvent::SubnegotiationTooLong {
                option: self.sb.option(),
            });
        }
    }

    fn finish_sb(&mut self, out: &mut Vec<u8>, events: &mut Vec<TelnetEvent>) {
        if let Some(payload) = self.sb.take() {
            self.subnegotiation(self.sb.option(), &payload, out, events);
            self.sb.reuse(payload);
        }
    }

    // ---- negotiation ----

    /// Received IAC `cmd` `option`. Per RFC 1143 a request the policy refuses
    /// is answered with a refusal every time it arrives in state NO (that is
    /// no loop: a refusal is never answered); storms are bounded by
    /// `max_negotiations`.
    fn negotiate(&mut self, cmd: u8, option: u8, out: &mut Vec<u8>, events: &mut Vec<TelnetEvent>) {
        let spec = options::lookup(option);
        let accept = if matches!(cmd, DO | DONT) {
            spec.local.accepts_peer()
        } else {
            spec.remote.accepts_peer()
        };
        match self.neg.receive(cmd, option, accept, out) {
            Received::Storm => events.push(TelnetEvent::NegotiationStorm),
            Received::Ignored | Received::Unchanged => {}
            Received::Changed {
                local,
                enabled: true,
            } => {
                events.push(TelnetEvent::OptionEnabled { option, local });
                self.on_enabled(option, local, out);
            }
            Received::Changed {
                local,
                enabled: false,
            } => {
                events.push(TelnetEvent::OptionDisabled { option, local });
                self.on_disabled(option, local);
            }
        }
    }

    fn on_enabled(&mut self, option: u8, local: bool, out: &mut Vec<u8>) {
        match (option, local) {
            (TTYPE, false) => self.ttype_start(out),
            (CHARSET, true) => self.charset_start(out),
            _ => {}
        }
    }

    fn on_disabled(&mut self, option: u8, local: bool) {
        if (option, local) == (TTYPE, false) {
            self.ttype.pending = false;
        }
    }
}

fn send_reply(out: &mut Vec<u8>, reply: Option<Reply>, positive: u8, negative: u8, option: u8) {
    match reply {
        Some(Reply::Positive) => out.extend_from_slice(&[IAC, positive, option]),
        Some(Reply::Negative) => out.extend_from_slice(&[IAC, negative, option]),
        None => {}
    }
}

/// Append `IAC SB option <payload with IAC doubled> IAC SE` to `out`.
pub fn encode_subnegotiation(option: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + 5);
    out.extend_from_slice(&[IAC, SB, option]);
    for &b in payload {
        if b == IAC {
            out.push(IAC);
        }
        out.push(b);
    }
    out.extend_from_slice(&[IAC, SE]);
}
