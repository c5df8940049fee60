//! The telnet front end: accepts connections and runs one task per connection that turns
//! telnet bytes into `data_in` messages and `data_out` messages into telnet bytes.
//!
//! The task is generic over the byte stream so that telnet over TLS reuses it unchanged with
//! a TLS stream underneath. It owns the connection's [`TelnetEngine`], its [`SessionPort`]
//! (the session's flags, caps and way to the core), its [`Mccp`] state and the read half; an
//! [`Output`] writer task owns the write half and bounds queued output
//! (`limits.output_buffer_bytes`), so a reader that stops reading is disconnected and cannot
//! grow the portal's memory. What is telnet's own lives here: negotiation and what each
//! option means for the session's flags.

mod mccp;

use crate::codec::oob;
use crate::codec::telnet::{self, EngineLimits, TelnetEngine, TelnetEvent};
use crate::portal::flags::{client_flags, environ_flags, mtts_flags, term_flags};
use crate::portal::info::PortalInfo;
use crate::portal::output::Output;
use crate::portal::port::{CloseReason, FromCore, SessionPort, line_too_long};
use crate::portal::repeats::{self, Repeats};
use crate::portal::slots::Slots;
use crate::shared::config::Limits;
use crate::shared::message::{Kind, Message};
use crate::shared::session::{Protocol, flag};
use mccp::Mccp;
use serde_json::{Map, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::portal::core::CoreEvent;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4096;
/// Negotiation commands a client may send over a connection's life.
const MAX_NEGOTIATIONS: usize = 500;
/// Largest subnegotiation payload accepted.
const MAX_SUBNEG: usize = 8192;

/// What a browser gets if it is pointed at a telnet port.
const HTTP_HINT: &str = "This is a telnet port for a text game, not a web server: \
connect with a MUD client or `telnet`.\r\n";

/// What every telnet connection task needs besides its stream.
#[derive(Debug)]
pub struct TelnetShared {
    /// Portal limits.
    pub limits: Limits,
    /// Facts reported to clients (MSSP).
    pub info: Arc<PortalInfo>,
    /// MCCP2 compressors across the portal (`limits.max_compressed_sessions`).
    pub compressors: Arc<Slots<()>>,
}

impl TelnetShared {
    /// Shared state for the telnet and TLS listeners.
    pub fn new(limits: Limits, info: Arc<PortalInfo>) -> Arc<Self> {
        Arc::new(TelnetShared {
            compressors: Slots::total(limits.max_compressed_sessions),
            limits,
            info,
        })
    }
}

/// Accepts telnet connections until `stop` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    core: mpsc::Sender<CoreEvent>,
    shared: Arc<TelnetShared>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let protocol = Protocol::Telnet;
    let proxies = crate::portal::proxy_in::TrustedProxies::of(&shared.limits);
    crate::portal::accept_each(listener, stop, proxies, |stream, peer| {
        let core = core.clone();
        let shared = shared.clone();
        let span = tracing::info_span!("conn", protocol = protocol.key(), %peer, session = tracing::field::Empty);
        tokio::spawn(run_session(stream, peer, protocol, core, shared).instrument(span));
    })
    .await;
}

/// Runs one telnet session over any byte stream until it closes.
pub async fn run_session<S>(
    stream: S,
    peer: SocketAddr,
    protocol: Protocol,
    core: mpsc::Sender<CoreEvent>,
    shared: Arc<TelnetShared>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let limits = &shared.limits;
    let mut port = match SessionPort::open(&core, protocol, peer, limits).await {
        Ok(port) => port,
        Err(refused) => {
            let _ = writer.write_all(format!("{refused}\r\n").as_bytes()).await;
            let _ = writer.shutdown().await;
            return;
        }
    };
    if protocol == Protocol::TelnetTls {
        // The transport is encrypted (what the MTTS SSL bit means).
        let mut flags = Map::new();
        flags.insert(flag::SSL.into(), Value::Bool(true));
        let _ = port.set_flags(flags).await;
    }

    let mut conn = TelnetConn {
        engine: TelnetEngine::new(EngineLimits {
            max_line: limits.max_line_length,
            max_subneg: MAX_SUBNEG,
            max_negotiations: MAX_NEGOTIATIONS,
        }),
        out: Vec::new(),
        output: Output::start(writer, limits.output_buffer_bytes),
        first_line: true,
        mccp: Mccp::new(shared.compressors.clone()),
        shared: shared.clone(),
        named: false,
        ready: false,
        noted: Noted::default(),
        peer: peer.ip(),
    };
    conn.engine.start(&mut conn.out);
    conn.flush();

    let mut buf = vec![0u8; READ_CHUNK];
    let reason = loop {
        // Input is read, and what was read handled, one bounded step at a time while the
        // session is within its input allowance; over it, only output flows until it is paid.
        let paused = port.input.resume_at();
        let waiting = conn.mccp.has_input();
        tokio::select! {
            r = reader.read(&mut buf), if paused.is_none() && !waiting => match r {
                Ok(0) => break CloseReason::ClientClosed,
                Ok(n) => {
                    if let Err(reason) = conn.feed(&mut port, &buf[..n]).await {
                        conn.flush();
                        break reason;
                    }
                }
                Err(e) => break CloseReason::ReadError(e.to_string()),
            },
            () = std::future::ready(()), if paused.is_none() && waiting => {
                if let Err(reason) = conn.step(&mut port).await {
                    conn.flush();
                    break reason;
                }
            }
            () = tokio::time::sleep_until(paused.unwrap_or_else(Instant::now).into()), if paused.is_some() => {}
            from_core = port.recv() => match from_core {
                FromCore::DataOut(msgs) => conn.data_out(&port, &msgs),
                FromCore::Disconnect(reason) => {
                    conn.text_line(&port, &reason);
                    conn.flush();
                    break CloseReason::Disconnected(reason);
                }
                // Telnet players are told of reloads in text, by the server and the core.
                FromCore::ServerStatus(_) | FromCore::ExitStatus(_) => {}
                FromCore::Gone => break CloseReason::OutputOverflow,
            },
        }
        conn.flush();
        if conn.output.is_closed() {
            break CloseReason::WriteError;
        }
        // A client slow to take its output holds the loop here; the core's close does not
        // wait for it.
        let drained = tokio::select! {
            drained = conn.output.wait_below_limit() => drained,
            closed = port.close_signal() => match closed {
                FromCore::Disconnect(reason) => break CloseReason::Disconnected(reason),
                _ => break CloseReason::OutputOverflow,
            },
        };
        if !drained {
            tracing::warn!(
                limit = conn.output.limit(),
                queued = conn.output.queued(),
                "output buffer overflow; disconnecting"
            );
            break CloseReason::OutputOverflow;
        }
    };
    // Let the goodbye reach the client, within reason.
    conn.output.finish().await;
    port.closed(reason).await;
}

/// What the telnet side of one connection owns.
struct TelnetConn {
    /// Telnet protocol state.
    engine: TelnetEngine,
    /// Bytes produced but not yet handed to the writer.
    out: Vec<u8>,
    /// The bounded writer.
    output: Output,
    /// Whether the next line is the first (checked for HTTP).
    first_line: bool,
    /// MCCP2 output and MCCP3 input.
    mccp: Mccp,
    /// Limits and portal facts.
    shared: Arc<TelnetShared>,
    /// The client named itself (GMCP `Core.Hello` or MNES `CLIENT_NAME`).
    named: bool,
    /// The port has been told the opening negotiation is over.
    ready: bool,
    /// Log lines for what the client can repeat at will.
    noted: Noted,
    /// The client's address, for refusals summed up across connections.
    peer: IpAddr,
}

/// Repeatable client mistakes, each logged once per interval with a count.
#[derive(Debug, Default)]
struct Noted {
    /// Overlong lines.
    line_too_long: Repeats,
    /// Malformed or oversized out-of-band payloads.
    bad_oob: Repeats,
}

impl TelnetConn {
    /// Logs a PROXY header from a peer that may not send one (summed up when it repeats).
    fn untrusted_proxy(&self) {
        if repeats::refused(self.peer, "PROXY headers refused: peer not trusted") {
            tracing::warn!("PROXY header from a peer not in limits.trusted_proxies; refused");
        }
    }

    /// Hands pending output to the writer, compressed when MCCP2 is on.
    fn flush(&mut self) {
        self.mccp.flush(&mut self.out, &mut self.output);
    }

    /// Handles a GMCP, MSDP or NEW-ENVIRON payload; returns messages for the server.
    fn oob_in(
        &mut self,
        option: u8,
        payload: &[u8],
        flags: &mut Map<String, Value>,
        upstream: bool,
    ) -> Vec<Message> {
        let decoded: Result<Vec<oob::OobMessage>, oob::OobError> = match option {
            telnet::GMCP => oob::gmcp::decode(payload).map(|m| vec![m]),
            telnet::MSDP => oob::msdp::decode(payload),
            telnet::NEW_ENVIRON => {
                match oob::environ::decode(payload) {
                    Ok(vars) => {
                        if upstream
                            && let Some((name, _)) = vars
                                .iter()
                                .find(|(k, _)| k == "IPADDRESS" || k == flag::USER)
                        {
                            tracing::warn!(variable = %name, "client sent a NEW-ENVIRON variable the gateway owns; dropped");
                        }
                        if vars.iter().any(|(k, v)| {
                            k == "CLIENT_NAME" && v.as_deref().is_some_and(|v| !v.trim().is_empty())
                        }) {
                            self.named = true;
                        }
                        environ_flags(&vars, flags)
                    }
                    Err(e) => {
                        if let Some(repeated) = self.noted.bad_oob.note() {
                            tracing::info!(error = %e, repeated, "bad NEW-ENVIRON payload ignored");
                        }
                    }
                }
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        // A game behind the gateway gets GMCP exactly as the client sent it (package name
        // and value); what the client says about itself still becomes flags.
        let exact = (upstream && option == telnet::GMCP)
            .then(|| oob::gmcp::decode_exact(payload).ok())
            .flatten();
        match decoded {
            Ok(msgs) => msgs
                .into_iter()
                .map(|m| {
                    if m.name == "hello"
                        && let Some((client, version)) = oob::gmcp::client_info(&m)
                    {
                        self.named = true;
                        flags.insert(flag::CLIENTNAME.into(), Value::from(client.clone()));
                        flags.insert(flag::CLIENTVERSION.into(), Value::from(version));
                        client_flags(&client, flags);
                    }
                    if m.name == "supports_set" {
                        flags.insert("GMCP_SUPPORTS".into(), Value::Array(m.args.clone()));
                    }
                    if let Some(exact) = &exact {
                        return Message {
                            name: exact.name.clone(),
                            args: exact.args.clone(),
                            kwargs: exact.kwargs.clone(),
                        };
                    }
                    Message {
                        name: m.name,
                        args: m.args,
                        kwargs: m.kwargs,
                    }
                })
                .collect(),
            Err(e) => {
                if let Some(repeated) = self.noted.bad_oob.note() {
                    tracing::info!(option, error = %e, repeated, "bad out-of-band payload ignored");
                }
                Vec::new()
            }
        }
    }

    /// An option the client turned on or off.
    fn option_changed(
        &mut self,
        option: u8,
        local: bool,
        on: bool,
        flags: &mut Map<String, Value>,
    ) {
        match (option, local, on) {
            (telnet::MCCP2, true, true) => {
                self.mccp
                    .start_output(&mut self.engine, &mut self.out, &mut self.output)
            }
            (telnet::MCCP2, true, false) => self.mccp.stop_output(&mut self.out, &mut self.output),
            (telnet::MSSP, true, true) => {
                let payload = oob::mssp::encode(&self.shared.info.mssp_vars());
                telnet::encode_subnegotiation(telnet::MSSP, &payload, &mut self.out);
            }
            (telnet::NEW_ENVIRON, false, true) => {
                telnet::encode_subnegotiation(
                    telnet::NEW_ENVIRON,
                    &oob::environ::send_request(),
                    &mut self.out,
                );
            }
            (telnet::GMCP, true, on) => {
                flags.insert(flag::GMCP.into(), Value::Bool(on));
            }
            (telnet::MSDP, true, on) => {
                flags.insert(flag::MSDP.into(), Value::Bool(on));
            }
            (telnet::MCCP3, true, on) => {
                flags.insert("MCCP3".into(), Value::Bool(on));
            }
            _ => {}
        }
        if option == telnet::MCCP2 && local {
            flags.insert(flag::MCCP.into(), Value::Bool(self.mccp.compressing()));
        }
    }

    /// Sends an out-of-band message as GMCP, else MSDP, if the client speaks either.
    fn oob_out(&mut self, m: &Message) {
        let msg = oob::OobMessage {
            name: m.name.clone(),
            args: m.args.clone(),
            kwargs: m.kwargs.clone(),
        };
        if self.engine.is_enabled_local(telnet::GMCP) {
            let payload = oob::gmcp::encode(&msg);
            telnet::encode_subnegotiation(telnet::GMCP, &payload, &mut self.out);
        } else if self.engine.is_enabled_local(telnet::MSDP) {
            let payload = oob::msdp::encode(&msg);
            telnet::encode_subnegotiation(telnet::MSDP, &payload, &mut self.out);
        } else {
            tracing::debug!(name = %m.name, "client speaks neither GMCP nor MSDP; message dropped");
        }
    }

    /// Takes bytes read from the client and handles the first step of them; `Err(reason)`
    /// when the connection must close.
    async fn feed(&mut self, port: &mut SessionPort, bytes: &[u8]) -> Result<(), CloseReason> {
        if self.first_line && crate::portal::proxy_in::looks_like_header(bytes) {
            self.untrusted_proxy();
            return Err(CloseReason::UntrustedProxy);
        }
        self.mccp.push_input(bytes);
        self.step(port).await
    }

    /// Handles one bounded step of input (at most [`mccp::STEP`] plain bytes) and charges
    /// it to the session's input meter; `Err(reason)` when the connection must close.
    async fn step(&mut self, port: &mut SessionPort) -> Result<(), CloseReason> {
        let mut events = Vec::new();
        let plain = self
            .mccp
            .step(&mut self.engine, &mut self.out, &mut events)
            .map_err(CloseReason::CorruptCompression)?;
        port.input.charge(plain, events.len());
        let mut flags = Map::new();
        let mut lines = Vec::new();
        let mut oob_msgs = Vec::new();
        for ev in events {
            match ev {
                TelnetEvent::Line(raw) => {
                    let line = port.caps().decode(&raw);
                    if self.first_line {
                        self.first_line = false;
                        if looks_like_http(&line) {
                            if repeats::refused(self.peer, "http requests on a telnet port") {
                                tracing::info!("http request on a telnet port; closing");
                            }
                            self.out.extend_from_slice(HTTP_HINT.as_bytes());
                            return Err(CloseReason::HttpOnTelnet);
                        }
                        if crate::portal::proxy_in::looks_like_header(line.as_bytes()) {
                            self.untrusted_proxy();
                            return Err(CloseReason::UntrustedProxy);
                        }
                    }
                    lines.push(line);
                }
                TelnetEvent::LineTooLong { limit } => {
                    if let Some(repeated) = self.noted.line_too_long.note() {
                        tracing::info!(limit, repeated, "input line too long; cut");
                    }
                    self.text_line(port, &line_too_long(limit));
                }
                TelnetEvent::Naws { width, height } => {
                    if width > 0 {
                        flags.insert(flag::SCREENWIDTH.into(), Value::from(width));
                    }
                    if height > 0 {
                        flags.insert(flag::SCREENHEIGHT.into(), Value::from(height));
                    }
                }
                TelnetEvent::ClientName(name) => {
                    // A name the client gave explicitly (GMCP Core.Hello, MNES) outranks the
                    // first terminal type.
                    if !self.named {
                        flags.insert(flag::CLIENTNAME.into(), Value::from(name.clone()));
                    }
                    // A client that does not cycle TTYPE only ever names itself.
                    flags.insert(flag::TERM.into(), Value::from(name.clone()));
                    term_flags(&name, &mut flags);
                    client_flags(&name, &mut flags);
                }
                TelnetEvent::TerminalType(term) => {
                    flags.insert(flag::TERM.into(), Value::from(term.clone()));
                    term_flags(&term, &mut flags);
                }
                TelnetEvent::Mtts(bits) => mtts_flags(bits, &mut flags),
                TelnetEvent::Charset(cs) => {
                    if cs.eq_ignore_ascii_case("utf-8") {
                        flags.insert(flag::ENCODING.into(), Value::from("utf-8"));
                        flags.insert(flag::UTF8.into(), Value::Bool(true));
                    }
                }
                TelnetEvent::OptionEnabled { option, local } => {
                    self.option_changed(option, local, true, &mut flags);
                }
                TelnetEvent::OptionDisabled { option, local } => {
                    self.option_changed(option, local, false, &mut flags);
                }
                TelnetEvent::NegotiationStorm => {
                    tracing::warn!("telnet negotiation storm; disconnecting");
                    self.text_line(
                        port,
                        "Too many telnet negotiations; closing the connection.",
                    );
                    return Err(CloseReason::NegotiationStorm);
                }
                TelnetEvent::SubnegotiationTooLong { option } => {
                    if let Some(repeated) = self.noted.bad_oob.note() {
                        tracing::info!(option, repeated, "oversized subnegotiation discarded");
                    }
                }
                TelnetEvent::Subnegotiation { option, payload } => {
                    let upstream = port.input.upstream();
                    oob_msgs.extend(self.oob_in(option, &payload, &mut flags, upstream));
                }
                // Handled by `Mccp::feed`: the rest of the input is inflated.
                TelnetEvent::CompressionStart => {}
            }
        }
        let _ = port.set_flags(flags).await;
        if !self.ready && self.engine.settled() {
            self.ready = true;
            port.input.ready().await?;
        }
        for m in oob_msgs {
            port.input.oob(m).await?;
        }
        for line in lines {
            port.input.line(&line).await?;
        }
        Ok(())
    }

    /// Renders server output.
    fn data_out(&mut self, port: &SessionPort, msgs: &[Message]) {
        for m in msgs {
            if let Some(echo) = m.echo() {
                self.engine.set_echo_hidden(!echo, &mut self.out);
            }
            match m.kind() {
                Kind::Text => {
                    for s in m.lines() {
                        self.line_out(port, s, m.raw());
                    }
                }
                Kind::Prompt => {
                    if let Some(s) = m.first_str().filter(|s| !s.is_empty()) {
                        let caps = port.caps();
                        let bytes = caps.encode(&caps.render_str(s, m.raw()));
                        self.engine.encode_text(&bytes, &mut self.out);
                        self.engine.end_prompt(&mut self.out);
                    }
                }
                Kind::OutOfBand => self.oob_out(m),
            }
        }
    }

    /// Renders one line of text (markup, encoding) followed by a line break.
    fn text_line(&mut self, port: &SessionPort, s: &str) {
        self.line_out(port, s, false);
    }

    /// One line followed by a line break: markup rendered, or a game's `raw` line as it is.
    fn line_out(&mut self, port: &SessionPort, s: &str, raw: bool) {
        let caps = port.caps();
        let mut bytes = caps.encode(&caps.render_str(s, raw));
        bytes.push(b'\n');
        self.engine.encode_text(&bytes, &mut self.out);
    }
}

/// Whether a first line is an HTTP request line.
pub fn looks_like_http(line: &str) -> bool {
    const METHODS: [&str; 9] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE",
    ];
    let mut parts = line.split(' ');
    let (Some(method), Some(_target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    METHODS.contains(&method) && version.starts_with("HTTP/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_request_lines_are_recognised() {
        assert!(looks_like_http("GET / HTTP/1.1"));
        assert!(looks_like_http("POST /login HTTP/1.0"));
        assert!(!looks_like_http("get / http/1.1"));
        assert!(!looks_like_http("GET lost"));
        assert!(!looks_like_http("say GET / HTTP/1.1"));
    }
}
