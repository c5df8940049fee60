//! The client-role telnet engine, for gateway mode: per player the portal is a telnet
//! *client* toward an existing MUD, and [`TelnetClient`] speaks for it (game → portal bytes
//! in, portal → game replies out), sans-IO.
//!
//! Owns: the parser of the game's output (a byte stream passed on as [`ClientEvent::Text`]
//! runs, not assembled into lines), RFC 1143 negotiation under a [`ClientPolicy`] (which
//! options the client agrees to, per direction), the answer to the game's CHARSET REQUEST,
//! the bounds on TTYPE SEND and CHARSET REQUEST, and the encoding of what goes to the game:
//! typed lines ([`TelnetClient::encode_line`]), NAWS, TTYPE IS and other subnegotiations.
//! It shares the wire numbers, the negotiation mechanism (RFC 1143 state and the bound on
//! negotiation commands), the bounded subnegotiation buffer and [`encode_subnegotiation`]
//! with the server-role [`TelnetEngine`](super::TelnetEngine); its parser and policy are its
//! own.
//!
//! The game's data, byte for byte:
//! - `IAC IAC` → `0xFF`; `CR NUL` → `CR`. The CR is passed on at once, in the `Text` of the
//!   call it arrives in; if the very next byte of the stream is NUL it is dropped, even when
//!   it arrives in the next [`TelnetClient::feed`] call. A NUL anywhere else, CR LF, a bare
//!   CR or LF and 8-bit bytes pass through unchanged: rendering and sanitising are the
//!   caller's job.
//! - `IAC GA` and `IAC EOR` → [`ClientEvent::Prompt`]. Every other command (NOP, DM, AYT,
//!   EC, EL, a stray SE, unknown bytes) is consumed without a trace.
//! - Malformed: `IAC <cmd>` inside a subnegotiation (other than `IAC IAC` and `IAC SE`) ends
//!   it as an implicit SE, then the command runs, as in the server engine. Such an unclosed
//!   `SB MCCP2` does not start compression: only `IAC SB MCCP2 IAC SE` does.
//!
//! Invariants:
//! - Passive: bytes are appended to `out` only in answer to input or by an explicit call.
//!   Negotiation follows RFC 1143 (the Q method), so it never loops; an option outside the
//!   policy is refused (DONT/WONT). Changes we start ourselves (`request_*`) raise no event;
//!   changes the game starts or confirms do.
//! - Split invariance: all partial state (a pending IAC, half a negotiation, an open
//!   subnegotiation, a CR waiting for its NUL) lives in the engine, so for any split of the
//!   input across `feed` calls the concatenation of `out` and of the events, with adjacent
//!   `Text` events merged, is the same.
//! - Memory is bounded: the only buffer the game can grow is the subnegotiation buffer, at
//!   most `max_subneg` bytes; a longer subnegotiation is dropped as soon as it crosses the
//!   limit. A `Text` event is never longer than the input of the call that produced it.
//! - Work is bounded: at most `max_negotiations` negotiation commands are answered, at most
//!   [`MAX_TTYPE_SENDS`] TTYPE SENDs raise an event and at most [`MAX_CHARSET_REQUESTS`]
//!   CHARSET REQUESTs are answered; the rest is ignored while text keeps flowing.
//! - No panics, no `unsafe`, no I/O.

use super::options::{Negotiation, Received, SubnegBuffer};
use super::{
    CHARSET, CHARSET_ACCEPTED, CHARSET_REJECTED, CHARSET_REQUEST, CR, DO, DONT, ECHO, EOR, GA,
    GMCP, IAC, LF, MCCP2, MSDP, MSSP, NAWS, NEW_ENVIRON, NUL, SB, SE, SGA, TELOPT_EOR, TTYPE,
    TTYPE_IS, TTYPE_SEND, WILL, WONT, encode_subnegotiation,
};

/// At most this many TTYPE SENDs from the game raise [`ClientEvent::TtypeSend`]; later
/// ones are ignored, so a game cannot keep us answering.
pub const MAX_TTYPE_SENDS: u8 = 16;

/// At most this many CHARSET REQUESTs from the game are answered; later ones are ignored.
pub const MAX_CHARSET_REQUESTS: u8 = 4;

/// Per-connection resource limits of a [`TelnetClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Largest subnegotiation payload kept (after IAC unescaping), in bytes. Games send
    /// large GMCP messages (room and inventory data), hence a roomier default than the
    /// server engine's.
    pub max_subneg: usize,
    /// WILL/WONT/DO/DONT commands answered before [`ClientEvent::NegotiationStorm`].
    pub max_negotiations: usize,
}

impl Default for ClientLimits {
    /// 64 KiB of subnegotiation, 1000 negotiation commands.
    fn default() -> Self {
        Self {
            max_subneg: 64 * 1024,
            max_negotiations: 1000,
        }
    }
}

/// Which options the client agrees to, per direction; everything else is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPolicy {
    /// Options on our side: we accept the game's DO with WILL, and may send WILL ourselves.
    pub local: Vec<u8>,
    /// Options on the game's side: we accept its WILL with DO, and may send DO ourselves.
    pub remote: Vec<u8>,
}

impl Default for ClientPolicy {
    /// The gateway's usual set. Ours: TTYPE, NAWS, NEW-ENVIRON, CHARSET. The game's: ECHO
    /// (hidden password input), SGA, EOR, GMCP, MSDP, MSSP, MCCP2, CHARSET.
    fn default() -> Self {
        Self {
            local: vec![TTYPE, NAWS, NEW_ENVIRON, CHARSET],
            remote: vec![ECHO, SGA, TELOPT_EOR, GMCP, MSDP, MSSP, MCCP2, CHARSET],
        }
    }
}

/// Something the game sent, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Game data, unescaped (see the module docs); one event per run between other events
    /// within one `feed` call.
    Text(Vec<u8>),
    /// `IAC GA` or `IAC EOR`: the text before it ends a prompt.
    Prompt,
    /// An option became enabled (`local`: on our side) through the game's input.
    OptionEnabled { option: u8, local: bool },
    /// An enabled option became disabled through the game's input.
    OptionDisabled { option: u8, local: bool },
    /// `SB TTYPE SEND` while TTYPE is enabled on our side; answer with
    /// [`TelnetClient::ttype_is`].
    TtypeSend,
    /// We accepted this character set (the game's spelling) from its CHARSET REQUEST.
    Charset(String),
    /// A GMCP, MSDP or MSSP subnegotiation (option enabled on the game's side) or a
    /// NEW-ENVIRON one (enabled on ours), IAC-unescaped, for the caller to decode.
    Subnegotiation { option: u8, payload: Vec<u8> },
    /// `IAC SB MCCP2 IAC SE` while MCCP2 is enabled on the game's side: `feed` stops right
    /// after it; the rest of the input is compressed, and the caller feeds it back inflated.
    CompressionStart,
    /// More than `max_negotiations` negotiation commands; from here on negotiation is
    /// ignored, text still flows.
    NegotiationStorm,
    /// A subnegotiation exceeded `max_subneg` bytes and was discarded.
    SubnegotiationTooLong { option: u8 },
}

/// Parser position within the game's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parse {
    /// Ordinary data.
    Data,
    /// Seen IAC in data.
    Iac,
    /// Seen IAC WILL/WONT/DO/DONT; the option byte comes next.
    Negotiate(u8),
    /// Seen IAC SB; the option byte comes next.
    SbOption,
    /// Inside a subnegotiation payload.
    Sb,
    /// Seen IAC inside a subnegotiation payload.
    SbIac,
}

/// Sans-IO client-role telnet engine for one connection to a game.
#[derive(Debug)]
pub struct TelnetClient {
    /// The options we agree to, per direction.
    policy: ClientPolicy,
    /// Where the parser is in the stream.
    state: Parse,
    /// The last data byte was a CR: a NUL right after it is dropped.
    cr_pending: bool,
    /// The open subnegotiation's payload, IAC-unescaped; never over `max_subneg` bytes.
    pub(super) sb: SubnegBuffer,
    /// Every option's RFC 1143 state, and the bound on negotiation commands.
    neg: Negotiation,
    /// TTYPE SEND events raised, against [`MAX_TTYPE_SENDS`].
    ttype_sends: u8,
    /// CHARSET REQUESTs answered, against [`MAX_CHARSET_REQUESTS`].
    charset_requests: u8,
    /// Set by `IAC SB MCCP2 IAC SE`; `feed` stops after the byte that set it.
    compression_start: bool,
    /// Length of `events` when the current `feed` began: only a `Text` pushed by this call
    /// is extended, so each call's runs stay its own.
    text_from: usize,
}

impl TelnetClient {
    /// A fresh engine; it sends nothing until input or an explicit call.
    pub fn new(limits: ClientLimits, policy: ClientPolicy) -> Self {
        Self {
            policy,
            state: Parse::Data,
            cr_pending: false,
            sb: SubnegBuffer::new(limits.max_subneg),
            neg: Negotiation::new(limits.max_negotiations),
            ttype_sends: 0,
            charset_requests: 0,
            compression_start: false,
            text_from: 0,
        }
    }

    /// Feed bytes read from the game. Appends replies to `out` and events to `events`.
    ///
    /// Returns how many bytes of `input` were consumed: all of them, unless the game started
    /// MCCP2 ([`ClientEvent::CompressionStart`]); then the rest of `input` is compressed and
    /// must be inflated by the caller before being fed back in.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<ClientEvent>,
    ) -> usize {
        self.text_from = events.len();
        let mut i = 0;
        while let Some(rest) = input.get(i..)
            && let Some(&b) = rest.first()
        {
            // Fast path: a run of ordinary data goes out in one copy. It gives exactly what
            // `step` would byte by byte; IAC and CR (which arms the NUL check) go through it.
            if self.state == Parse::Data && !self.cr_pending {
                let run = rest
                    .iter()
                    .position(|&c| c == IAC || c == CR)
                    .unwrap_or(rest.len());
                if let Some(plain) = rest.get(..run)
                    && !plain.is_empty()
                {
                    self.push_text(plain, events);
                    i += run;
                    continue;
                }
            }
            self.step(b, out, events);
            i += 1;
            if self.compression_start {
                self.compression_start = false;
                events.push(ClientEvent::CompressionStart);
                return i;
            }
        }
        i
    }

    /// Whether `option` is enabled (Q-method state YES) on our side.
    pub fn is_enabled_local(&self, option: u8) -> bool {
        self.neg.enabled(option, true)
    }

    /// Whether `option` is enabled (Q-method state YES) on the game's side.
    pub fn is_enabled_remote(&self, option: u8) -> bool {
        self.neg.enabled(option, false)
    }

    /// A line the player typed, for the game: IAC doubled, then CR LF.
    ///
    /// A CR or LF inside `line` is dropped, so one call always sends exactly one line: the
    /// game never sees a line end the player did not type (CR NUL would be valid telnet, but
    /// many games end a line at any CR). Every other byte, NUL included, is sent as is.
    pub fn encode_line(line: &[u8], out: &mut Vec<u8>) {
        out.reserve(line.len() + 2);
        for chunk in line.split(|&b| b == CR || b == LF) {
            for run in chunk.split_inclusive(|&b| b == IAC) {
                out.extend_from_slice(run);
                if run.last() == Some(&IAC) {
                    out.push(IAC);
                }
            }
        }
        out.extend_from_slice(&[CR, LF]);
    }

    /// `IAC SB NAWS <width> <height> IAC SE` (big-endian, 255 bytes doubled), if NAWS is
    /// enabled on our side; otherwise writes nothing and returns `false`.
    pub fn naws(&self, width: u16, height: u16, out: &mut Vec<u8>) -> bool {
        if !self.is_enabled_local(NAWS) {
            return false;
        }
        let [w1, w0] = width.to_be_bytes();
        let [h1, h0] = height.to_be_bytes();
        encode_subnegotiation(NAWS, &[w1, w0, h1, h0], out);
        true
    }

    /// `IAC SB TTYPE IS <name> IAC SE`, if TTYPE is enabled on our side; otherwise writes
    /// nothing and returns `false`.
    pub fn ttype_is(&self, name: &str, out: &mut Vec<u8>) -> bool {
        if !self.is_enabled_local(TTYPE) {
            return false;
        }
        let mut payload = Vec::with_capacity(name.len() + 1);
        payload.push(TTYPE_IS);
        payload.extend_from_slice(name.as_bytes());
        encode_subnegotiation(TTYPE, &payload, out);
        true
    }

    /// `IAC SB <option> <payload> IAC SE` (IAC doubled), if `option` is enabled on either
    /// side, e.g. a GMCP `Core.Hello` or a NEW-ENVIRON `IS`; otherwise writes nothing and
    /// returns `false`.
    pub fn subnegotiate(&self, option: u8, payload: &[u8], out: &mut Vec<u8>) -> bool {
        if !self.is_enabled_local(option) && !self.is_enabled_remote(option) {
            return false;
        }
        encode_subnegotiation(option, payload, out);
        true
    }

    /// Ask to enable/disable `option` on our side (WILL/WONT) via the Q method. Returns
    /// `false`, sending nothing, when enabling is outside the policy. Repeated calls send
    /// nothing new; disabling takes effect for [`is_enabled_local`](Self::is_enabled_local)
    /// at once.
    pub fn request_local(&mut self, option: u8, enable: bool, out: &mut Vec<u8>) -> bool {
        if enable && !self.policy.local.contains(&option) {
            return false;
        }
        self.neg.request(option, true, enable, out);
        true
    }

    /// Ask the game to enable/disable `option` on its side (DO/DONT) via the Q method.
    /// Returns `false`, sending nothing, when enabling is outside the policy.
    pub fn request_remote(&mut self, option: u8, enable: bool, out: &mut Vec<u8>) -> bool {
        if enable && !self.policy.remote.contains(&option) {
            return false;
        }
        self.neg.request(option, false, enable, out);
        true
    }

    // ---- parser ----

    fn step(&mut self, b: u8, out: &mut Vec<u8>, events: &mut Vec<ClientEvent>) {
        match self.state {
            Parse::Data => {
                let after_cr = std::mem::take(&mut self.cr_pending);
                match b {
                    NUL if after_cr => {}
                    IAC => self.state = Parse::Iac,
                    CR => {
                        self.push_text(&[CR], events);
                        self.cr_pending = true;
                    }
                    _ => self.push_text(&[b], events),
                }
            }
            Parse::Iac => {
                self.state = Parse::Data;
                self.command(b, events);
            }
            Parse::Negotiate(cmd) => {
                self.state = Parse::Data;
                self.negotiate(cmd, b, out, events);
            }
            Parse::SbOption => {
                self.sb.open(b);
                self.state = Parse::Sb;
            }
            Parse::Sb => {
                if b == IAC {
                    self.state = Parse::SbIac;
                } else {
                    self.sb_push(b, events);
                }
            }
            Parse::SbIac => match b {
                IAC => {
                    self.state = Parse::Sb;
                    self.sb_push(IAC, events);
                }
                SE => {
                    self.state = Parse::Data;
                    self.finish_sb(true, out, events);
                }
                _ => {
                    self.state = Parse::Data;
                    self.finish_sb(false, out, events);
                    self.command(b, events);
                }
            },
        }
    }

    /// The byte after an IAC in data (also after an implicit SE).
    fn command(&mut self, b: u8, events: &mut Vec<ClientEvent>) {
        match b {
            IAC => self.push_text(&[IAC], events),
            WILL | WONT | DO | DONT => self.state = Parse::Negotiate(b),
            SB => self.state = Parse::SbOption,
            GA | EOR => events.push(ClientEvent::Prompt),
            // NOP, DM, AYT, AO, IP, BRK, EC, EL, a stray SE, unknown: consumed.
            _ => {}
        }
    }

    /// Append data to this call's current `Text` event, or start one.
    fn push_text(&self, bytes: &[u8], events: &mut Vec<ClientEvent>) {
        if events.len() > self.text_from
            && let Some(ClientEvent::Text(text)) = events.last_mut()
        {
            text.extend_from_slice(bytes);
        } else {
            events.push(ClientEvent::Text(bytes.to_vec()));
        }
    }

    fn sb_push(&mut self, b: u8, events: &mut Vec<ClientEvent>) {
        if self.sb.push(b) {
            events.push(ClientEvent::SubnegotiationTooLong {
                option: self.sb.option(),
            });
        }
    }

    /// The subnegotiation ended, by `IAC SE` (`closed_by_se`) or an implicit SE.
    fn finish_sb(&mut self, closed_by_se: bool, out: &mut Vec<u8>, events: &mut Vec<ClientEvent>) {
        let Some(payload) = self.sb.take() else {
            return;
        };
        if let Some(spare) = self.subnegotiation(payload, closed_by_se, out, events) {
            self.sb.reuse(spare);
        }
    }

    /// Act on one complete subnegotiation of `self.sb_option`. Returns the payload's buffer
    /// unless an event took it.
    fn subnegotiation(
        &mut self,
        payload: Vec<u8>,
        closed_by_se: bool,
        out: &mut Vec<u8>,
        events: &mut Vec<ClientEvent>,
    ) -> Option<Vec<u8>> {
        let option = self.sb.option();
        match option {
            // Out-of-band data is the caller's to decode, once the option is on.
            GMCP | MSDP | MSSP if self.is_enabled_remote(option) => {
                events.push(ClientEvent::Subnegotiation { option, payload });
                return None;
            }
            NEW_ENVIRON if self.is_enabled_local(option) => {
                events.push(ClientEvent::Subnegotiation { option, payload });
                return None;
            }
            MCCP2 if closed_by_se && payload.is_empty() && self.is_enabled_remote(option) => {
                self.compression_start = true;
            }
            // Beyond the bound a SEND is ignored, so a game cannot keep us answering.
            TTYPE
                if payload.first() == Some(&TTYPE_SEND)
                    && self.is_enabled_local(option)
                    && self.ttype_sends < MAX_TTYPE_SENDS =>
            {
                self.ttype_sends += 1;
                events.push(ClientEvent::TtypeSend);
            }
            CHARSET if self.is_enabled_local(option) || self.is_enabled_remote(option) => {
                if let Some((&CHARSET_REQUEST, body)) = payload.split_first() {
                    self.charset_request(body, out, events);
                }
                // ACCEPTED, REJECTED, TTABLE-*: we never send a REQUEST, so there is
                // nothing they could answer.
            }
            _ => {}
        }
        Some(payload)
    }

    /// The game's CHARSET REQUEST: accept UTF-8 if listed, else reject; bounded.
    fn charset_request(&mut self, body: &[u8], out: &mut Vec<u8>, events: &mut Vec<ClientEvent>) {
        if self.charset_requests >= MAX_CHARSET_REQUESTS {
            return;
        }
        self.charset_requests += 1;
        match utf8_in_request(body) {
            Some(name) => {
                let mut reply = Vec::with_capacity(name.len() + 1);
                reply.push(CHARSET_ACCEPTED);
                reply.extend_from_slice(name);
                encode_subnegotiation(CHARSET, &reply, out);
                events.push(ClientEvent::Charset(
                    String::from_utf8_lossy(name).into_owned(),
                ));
            }
            None => encode_subnegotiation(CHARSET, &[CHARSET_REJECTED], out),
        }
    }

    // ---- negotiation ----

    /// Received IAC `cmd` `option`. A request outside the policy is refused each time it
    /// arrives in state NO (no loop: a refusal is never answered); storms are bounded by
    /// `max_negotiations`.
    fn negotiate(&mut self, cmd: u8, option: u8, out: &mut Vec<u8>, events: &mut Vec<ClientEvent>) {
        // DO/DONT are about our side, WILL/WONT about the game's.
        let accept = if matches!(cmd, DO | DONT) {
            self.policy.local.contains(&option)
        } else {
            self.policy.remote.contains(&option)
        };
        match self.neg.receive(cmd, option, accept, out) {
            Received::Storm => events.push(ClientEvent::NegotiationStorm),
            Received::Ignored | Received::Unchanged => {}
            Received::Changed {
                local,
                enabled: true,
            } => events.push(ClientEvent::OptionEnabled { option, local }),
            Received::Changed {
                local,
                enabled: false,
            } => events.push(ClientEvent::OptionDisabled { option, local }),
        }
    }
}

/// From a CHARSET REQUEST body (an optional `[TTABLE]<version>`, which we do not support
/// and skip, then `<sep>name<sep>name...`), the game's spelling of UTF-8 (or `UTF8`), if
/// listed, in any case.
fn utf8_in_request(body: &[u8]) -> Option<&[u8]> {
    let list = match body.strip_prefix(b"[TTABLE]".as_slice()) {
        Some(versioned) => versioned.get(1..)?,
        None => body,
    };
    let (&sep, names) = list.split_first()?;
    names
        .split(|&b| b == sep)
        .find(|name| name.eq_ignore_ascii_case(b"UTF-8") || name.eq_ignore_ascii_case(b"UTF8"))
}
