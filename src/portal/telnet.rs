//! The telnet front end: accepts connections and runs one task per connection that turns
//! telnet bytes into `data_in` messages and `data_out` messages into telnet bytes.
//!
//! The task is generic over the byte stream so that telnet over TLS reuses it unchanged with
//! a TLS stream underneath. It owns the connection's [`TelnetEngine`], its local copy of the
//! protocol_flags (what it needs to render output) and the read half; an [`Output`] writer
//! task owns the write half and bounds queued output (`limits.output_buffer_bytes`), so a
//! reader that stops reading is disconnected and cannot grow the portal's memory.

use super::core::{CoreEvent, SESSION_CHANNEL, ToSession};
use super::flags::{
    client_flags, colour_level, decode_line, encode_for, environ_flags, mtts_flags, term_flags,
};
use super::info::PortalInfo;
use super::output::Output;
use crate::config::Limits;
use crate::markup;
use crate::mccp;
use crate::message::Message;
use crate::oob;
use crate::session::{SessionId, merge_flags, protocol};
use crate::telnet::{self, EngineLimits, TelnetEngine, TelnetEvent};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

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
}

/// Accepts telnet connections until `stop` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    protocol_key: &'static str,
    core: mpsc::Sender<CoreEvent>,
    shared: Arc<TelnetShared>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    super::accept_each(listener, stop, |stream, peer| {
        let core = core.clone();
        let shared = shared.clone();
        let span = tracing::info_span!("conn", protocol = protocol_key, %peer, session = tracing::field::Empty);
        tokio::spawn(run_session(stream, peer, protocol_key, core, shared).instrument(span));
    })
    .await;
}

/// Runs one telnet session over any byte stream until it closes.
pub async fn run_session<S>(
    stream: S,
    peer: SocketAddr,
    protocol_key: &'static str,
    core: mpsc::Sender<CoreEvent>,
    shared: Arc<TelnetShared>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (handle, mut rx) = mpsc::channel(SESSION_CHANNEL);
    let (reply, answer) = oneshot::channel();
    let open = CoreEvent::Open {
        protocol_key,
        address: peer.ip(),
        handle,
        reply,
    };
    let id = match core.send(open).await {
        Ok(()) => match answer.await {
            Ok(Ok(id)) => id,
            Ok(Err(reason)) => {
                let _ = writer.write_all(format!("{reason}\r\n").as_bytes()).await;
                let _ = writer.shutdown().await;
                return;
            }
            Err(_) => return,
        },
        Err(_) => return,
    };
    tracing::Span::current().record("session", id);
    tracing::info!("connected");
    if protocol_key == protocol::TELNET_TLS {
        // The transport is encrypted (what the MTTS SSL bit means).
        let mut flags = Map::new();
        flags.insert("SSL".into(), Value::Bool(true));
        let _ = core.send(CoreEvent::Flags { id, flags }).await;
    }

    let limits = &shared.limits;
    let mut conn = Conn {
        id,
        engine: TelnetEngine::new(EngineLimits {
            max_line: limits.max_line_length,
            max_subneg: MAX_SUBNEG,
            max_negotiations: MAX_NEGOTIATIONS,
        }),
        flags: crate::session::default_flags(),
        out: Vec::new(),
        output: Output::start(writer, limits.output_buffer_bytes),
        core,
        first_line: true,
        compress: None,
        inflate: None,
        shared: shared.clone(),
        named: false,
    };
    conn.engine.start(&mut conn.out);
    conn.flush();

    let mut buf = vec![0u8; READ_CHUNK];
    let reason: String = loop {
        tokio::select! {
            r = reader.read(&mut buf) => match r {
                Ok(0) => break "closed by client".into(),
                Ok(n) => {
                    if let Some(reason) = conn.feed(&buf[..n]).await {
                        conn.flush();
                        break reason;
                    }
                }
                Err(e) => break format!("read error: {e}"),
            },
            cmd = rx.recv() => match cmd {
                Some(ToSession::DataOut(msgs)) => conn.data_out(&msgs),
                Some(ToSession::SetFlags(flags)) => merge_flags(&mut conn.flags, &flags),
                Some(ToSession::Disconnect(reason)) => {
                    conn.text_line(&reason);
                    conn.flush();
                    break reason;
                }
                None => break "output buffer overflow (client not reading)".into(),
            },
        }
        conn.flush();
        if conn.output.is_closed() {
            break "write error".into();
        }
        if !conn.output.wait_below_limit().await {
            tracing::warn!(
                limit = conn.output.limit(),
                queued = conn.output.queued(),
                "output buffer overflow; disconnecting"
            );
            break "output buffer overflow (client not reading)".into();
        }
    };
    // Let the goodbye reach the client, within reason.
    conn.output.finish().await;
    tracing::info!(%reason, "disconnected");
    let _ = conn.core.send(CoreEvent::Closed { id, reason }).await;
}

/// One connection's state, owned by its task.
struct Conn {
    /// Session id given by the core.
    id: SessionId,
    /// Telnet protocol state.
    engine: TelnetEngine,
    /// Local copy of protocol_flags, for rendering.
    flags: Map<String, Value>,
    /// Bytes produced but not yet handed to the writer.
    out: Vec<u8>,
    /// The bounded writer.
    output: Output,
    /// To the portal core.
    core: mpsc::Sender<CoreEvent>,
    /// Whether the next line is the first (checked for HTTP).
    first_line: bool,
    /// MCCP2: output is compressed from the moment this is set; the slot is its place in
    /// the portal's compression budget.
    compress: Option<(mccp::Compressor, CompressSlot)>,
    /// MCCP3: input is inflated while this is set.
    inflate: Option<mccp::Decompressor>,
    /// Limits and portal facts.
    shared: Arc<TelnetShared>,
    /// The client named itself (GMCP `Core.Hello` or MNES `CLIENT_NAME`).
    named: bool,
}

/// One session's place in the MCCP2 budget, given back when dropped (however the session
/// ends).
struct CompressSlot(());

impl CompressSlot {
    fn take(max: usize) -> Option<Self> {
        if COMPRESSING.fetch_add(1, Ordering::Relaxed) >= max {
            COMPRESSING.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(CompressSlot(()))
    }
}

impl Drop for CompressSlot {
    fn drop(&mut self) {
        COMPRESSING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether `bytes` can start a zlib stream (RFC 1950: CMF says deflate with a window up to
/// 32 KiB, and CMF·256 + FLG is a multiple of 31). With one byte only the CMF is checked.
fn zlib_header(bytes: &[u8]) -> bool {
    match bytes {
        [cmf, flg, ..] => {
            cmf & 0x0F == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0
        }
        [cmf] => cmf & 0x0F == 8 && cmf >> 4 <= 7,
        [] => false,
    }
}

/// Where a zlib stream begins in `bytes` that start with plain telnet: the first zlib header
/// right after a complete telnet unit (a subnegotiation's IAC SE, a negotiation command, or a
/// line end).
fn zlib_start(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        let next = match bytes[i..] {
            [telnet::IAC, telnet::SE, ..] => i + 2,
            [telnet::IAC, cmd, _, ..] if (telnet::WILL..=telnet::DONT).contains(&cmd) => i + 3,
            [b'\n', ..] => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        if next < bytes.len() && zlib_header(&bytes[next..]) {
            return Some(next);
        }
        i = next;
    }
    None
}

/// Sessions compressing their output (MCCP2) right now, across the portal: each holds about
/// [`mccp::Compressor::memory_estimate`] bytes, so their number is bounded by
/// `limits.max_compressed_sessions`.
static COMPRESSING: AtomicUsize = AtomicUsize::new(0);

/// Largest inflated input one read may produce (MCCP3): a 4 KiB read of honest zlib data
/// inflates to at most about 4 MiB.
const MAX_INFLATE_PER_READ: usize = 5 * 1024 * 1024;

impl Conn {
    /// Hands pending output to the writer, compressed when MCCP2 is on.
    fn flush(&mut self) {
        let chunk = std::mem::take(&mut self.out);
        if chunk.is_empty() {
            return;
        }
        if let Some((c, _)) = &mut self.compress {
            let mut packed = Vec::with_capacity(chunk.len() / 2 + 16);
            match c.compress(&chunk, &mut packed) {
                Ok(()) => {
                    self.output.push(packed);
                    return;
                }
                Err(e) => {
                    // A compression error ends compression, not the connection.
                    tracing::warn!(error = %e, "mccp2 compression failed; sending uncompressed");
                    self.stop_compress(false);
                }
            }
        }
        self.output.push(chunk);
    }

    /// MCCP2 on: the start marker goes out uncompressed, everything after it compressed.
    fn start_compress(&mut self) {
        if self.compress.is_some() {
            return;
        }
        let max = self.shared.limits.max_compressed_sessions;
        let Some(slot) = CompressSlot::take(max) else {
            tracing::info!(max, "mccp2 refused: compression budget in use");
            self.engine
                .request_local(telnet::MCCP2, false, &mut self.out);
            return;
        };
        self.flush();
        telnet::encode_subnegotiation(telnet::MCCP2, &[], &mut self.out);
        self.flush();
        self.compress = Some((mccp::Compressor::new(), slot));
        tracing::info!("mccp2 compression started");
    }

    /// MCCP2 off: ends the zlib stream cleanly (when `clean`), then plain output again.
    fn stop_compress(&mut self, clean: bool) {
        let Some((c, _slot)) = self.compress.take() else {
            return;
        };
        let pending = std::mem::take(&mut self.out);
        if clean {
            let mut packed = Vec::new();
            let mut c = c;
            if c.compress(&pending, &mut packed).is_ok() && c.finish(&mut packed).is_ok() {
                self.output.push(packed);
                return;
            }
        }
        self.output.push(pending);
    }

    /// Runs raw socket bytes through MCCP3 inflation (when on) and the telnet engine.
    fn engine_feed(&mut self, bytes: &[u8], events: &mut Vec<TelnetEvent>) -> Result<(), String> {
        // The common case, no compression: no copy.
        if self.inflate.is_none() {
            let before = events.len();
            let used = self.engine.feed(bytes, &mut self.out, events);
            if !events[before..].contains(&TelnetEvent::CompressionStart) {
                return Ok(());
            }
            tracing::info!("mccp3 compression started by the client");
            self.inflate = Some(mccp::Decompressor::new(MAX_INFLATE_PER_READ));
            return self.engine_feed(&bytes[used.min(bytes.len())..], events);
        }
        let mut rest: Vec<u8> = bytes.to_vec();
        while !rest.is_empty() {
            let Some(d) = &mut self.inflate else {
                // The client ended its compressed stream; the rest is plain (and may start
                // compression again).
                return self.engine_feed(&rest, events);
            };
            if d.bytes_in() == 0 && !zlib_header(&rest) {
                // The stream has not begun and this is not its first bytes: the client
                // (telnetlib3 does this) sent plain telnet after announcing MCCP3. Read the
                // plain part as plain; the stream begins where a zlib header follows a
                // complete telnet unit, in this read or a later one.
                tracing::info!("plain input after the mccp3 start marker; read as plain");
                let split = zlib_start(&rest).unwrap_or(rest.len());
                let mut at = 0;
                while at < split {
                    at += self.engine.feed(&rest[at..split], &mut self.out, events);
                }
                rest = rest.split_off(split);
                continue;
            }
            let mut plain = Vec::new();
            match d.decompress(&rest, &mut plain) {
                Ok(mccp::Inflated::Data) => rest.clear(),
                Ok(mccp::Inflated::End { rest: n }) => {
                    tracing::debug!("mccp3 stream ended by the client");
                    self.inflate = None;
                    rest = rest.split_off(rest.len().saturating_sub(n));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "corrupt mccp3 input; disconnecting");
                    return Err(format!("corrupt compressed input: {e}"));
                }
            }
            // Inflated bytes are plain telnet. A start marker inside an already compressed
            // stream means nothing more: keep feeding past it.
            let mut at = 0;
            while at < plain.len() {
                at += self.engine.feed(&plain[at..], &mut self.out, events);
            }
        }
        Ok(())
    }

    /// Handles a GMCP, MSDP or NEW-ENVIRON payload; returns messages for the server.
    fn oob_in(
        &mut self,
        option: u8,
        payload: &[u8],
        flags: &mut Map<String, Value>,
    ) -> Vec<Message> {
        let decoded: Result<Vec<oob::OobMessage>, oob::OobError> = match option {
            telnet::GMCP => oob::gmcp::decode(payload).map(|m| vec![m]),
            telnet::MSDP => oob::msdp::decode(payload),
            telnet::NEW_ENVIRON => {
                match oob::environ::decode(payload) {
                    Ok(vars) => {
                        if vars.iter().any(|(k, v)| {
                            k == "CLIENT_NAME" && v.as_deref().is_some_and(|v| !v.trim().is_empty())
                        }) {
                            self.named = true;
                        }
                        environ_flags(&vars, flags)
                    }
                    Err(e) => tracing::info!(error = %e, "bad NEW-ENVIRON payload ignored"),
                }
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        match decoded {
            Ok(msgs) => msgs
                .into_iter()
                .map(|m| {
                    if m.name == "hello"
                        && let Some((client, version)) = oob::gmcp::client_info(&m)
                    {
                        self.named = true;
                        flags.insert("CLIENTNAME".into(), Value::from(client.clone()));
                        flags.insert("CLIENTVERSION".into(), Value::from(version));
                        client_flags(&client, flags);
                    }
                    if m.name == "supports_set" {
                        flags.insert("GMCP_SUPPORTS".into(), Value::Array(m.args.clone()));
                    }
                    Message {
                        name: m.name,
                        args: m.args,
                        kwargs: m.kwargs,
                    }
                })
                .collect(),
            Err(e) => {
                tracing::info!(option, error = %e, "bad out-of-band payload ignored");
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
            (telnet::MCCP2, true, true) => self.start_compress(),
            (telnet::MCCP2, true, false) => self.stop_compress(true),
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
                flags.insert("GMCP".into(), Value::Bool(on));
            }
            (telnet::MSDP, true, on) => {
                flags.insert("MSDP".into(), Value::Bool(on));
            }
            (telnet::MCCP3, true, on) => {
                flags.insert("MCCP3".into(), Value::Bool(on));
            }
            _ => {}
        }
        if option == telnet::MCCP2 && local {
            flags.insert("MCCP".into(), Value::Bool(self.compress.is_some()));
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

    /// Feeds bytes from the client; `Some(reason)` when the connection must close.
    async fn feed(&mut self, bytes: &[u8]) -> Option<String> {
        let mut events = Vec::new();
        if let Err(reason) = self.engine_feed(bytes, &mut events) {
            return Some(reason);
        }
        let mut flags = Map::new();
        let mut lines = Vec::new();
        let mut oob_msgs = Vec::new();
        for ev in events {
            match ev {
                TelnetEvent::Line(raw) => {
                    let line = decode_line(&raw, &self.flags);
                    if self.first_line {
                        self.first_line = false;
                        if looks_like_http(&line) {
                            tracing::info!("http request on a telnet port; closing");
                            self.out.extend_from_slice(HTTP_HINT.as_bytes());
                            return Some("http request on telnet port".into());
                        }
                    }
                    lines.push(markup::sanitize_input(&line));
                }
                TelnetEvent::LineTooLong { limit } => {
                    tracing::info!(limit, "input line too long; cut");
                    self.text_line(&format!(
                        "Your line was longer than {limit} bytes; only the first {limit} were kept."
                    ));
                }
                TelnetEvent::Naws { width, height } => {
                    if width > 0 {
                        flags.insert("SCREENWIDTH".into(), Value::from(width));
                    }
                    if height > 0 {
                        flags.insert("SCREENHEIGHT".into(), Value::from(height));
                    }
                }
                TelnetEvent::ClientName(name) => {
                    // A name the client gave explicitly (GMCP Core.Hello, MNES) outranks the
                    // first terminal type.
                    if !self.named {
                        flags.insert("CLIENTNAME".into(), Value::from(name.clone()));
                    }
                    // A client that does not cycle TTYPE only ever names itself.
                    flags.insert("TERM".into(), Value::from(name.clone()));
                    term_flags(&name, &mut flags);
                    client_flags(&name, &mut flags);
                }
                TelnetEvent::TerminalType(term) => {
                    flags.insert("TERM".into(), Value::from(term.clone()));
                    term_flags(&term, &mut flags);
                }
                TelnetEvent::Mtts(bits) => mtts_flags(bits, &mut flags),
                TelnetEvent::Charset(cs) => {
                    if cs.eq_ignore_ascii_case("utf-8") {
                        flags.insert("ENCODING".into(), Value::from("utf-8"));
                        flags.insert("UTF-8".into(), Value::Bool(true));
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
                    self.text_line("Too many telnet negotiations; closing the connection.");
                    return Some("telnet negotiation storm".into());
                }
                TelnetEvent::SubnegotiationTooLong { option } => {
                    tracing::info!(option, "oversized subnegotiation discarded");
                }
                TelnetEvent::Subnegotiation { option, payload } => {
                    oob_msgs.extend(self.oob_in(option, &payload, &mut flags));
                }
                // Handled in `engine_feed`: the rest of the input is inflated.
                TelnetEvent::CompressionStart => {}
            }
        }
        if !flags.is_empty() {
            merge_flags(&mut self.flags, &flags);
            let _ = self
                .core
                .send(CoreEvent::Flags { id: self.id, flags })
                .await;
        }
        for m in oob_msgs {
            let ev = CoreEvent::DataIn {
                id: self.id,
                messages: vec![m],
            };
            if self.core.send(ev).await.is_err() {
                return Some("portal stopping".into());
            }
        }
        for line in lines {
            let ev = CoreEvent::DataIn {
                id: self.id,
                messages: vec![Message::text(line)],
            };
            if self.core.send(ev).await.is_err() {
                return Some("portal stopping".into());
            }
        }
        None
    }

    /// Renders server output.
    fn data_out(&mut self, msgs: &[Message]) {
        for m in msgs {
            if let Some(echo) = m.echo() {
                self.engine.set_echo_hidden(!echo, &mut self.out);
            }
            match m.name.as_str() {
                "text" => {
                    for arg in &m.args {
                        if let Some(s) = arg.as_str() {
                            self.text_line(s);
                        }
                    }
                }
                "prompt" => {
                    if let Some(s) = m.first_str().filter(|s| !s.is_empty()) {
                        let bytes = self.render(s);
                        self.engine.encode_text(&bytes, &mut self.out);
                        self.engine.end_prompt(&mut self.out);
                    }
                }
                _ => self.oob_out(m),
            }
        }
    }

    /// Renders one line of text (markup, encoding) followed by a line break.
    fn text_line(&mut self, s: &str) {
        let mut bytes = self.render(s);
        bytes.push(b'\n');
        self.engine.encode_text(&bytes, &mut self.out);
    }

    fn render(&self, s: &str) -> Vec<u8> {
        let screen_reader = self
            .flags
            .get("SCREENREADER")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let rendered = if screen_reader {
            markup::for_screen_reader(s)
        } else {
            markup::render(s, colour_level(&self.flags))
        };
        encode_for(&rendered, &self.flags)
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
