//! The telnet front end: accepts connections and runs one task per connection that turns
//! telnet bytes into `data_in` messages and `data_out` messages into telnet bytes.
//!
//! The task is generic over the byte stream so that telnet over TLS reuses it unchanged with
//! a TLS stream underneath. It owns the connection's [`TelnetEngine`], its local copy of the
//! protocol_flags (what it needs to render output) and the read half; an [`Output`] writer
//! task owns the write half and bounds queued output (`limits.output_buffer_bytes`), so a
//! reader that stops reading is disconnected and cannot grow the portal's memory.

use super::core::{CORE_CHANNEL, CoreEvent, SESSION_CHANNEL, ToSession};
use super::info::PortalInfo;
use super::output::Output;
use crate::config::Limits;
use crate::markup::{self, ColourLevel};
use crate::message::Message;
use crate::session::{SessionId, merge_flags, protocol};
use crate::telnet::{self, EngineLimits, TelnetEngine, TelnetEvent};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
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
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let core = core.clone();
                let shared = shared.clone();
                let span = tracing::info_span!("conn", protocol = protocol_key, %peer, session = tracing::field::Empty);
                tokio::spawn(
                    async move {
                        run_session(stream, peer, protocol_key, core, shared).await;
                    }
                    .instrument(span),
                );
            }
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
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
}

impl Conn {
    /// Hands pending output to the writer.
    fn flush(&mut self) {
        let chunk = std::mem::take(&mut self.out);
        self.output.push(chunk);
    }

    /// Feeds bytes from the client; `Some(reason)` when the connection must close.
    async fn feed(&mut self, bytes: &[u8]) -> Option<String> {
        let mut events = Vec::new();
        self.engine.feed(bytes, &mut self.out, &mut events);
        let mut flags = Map::new();
        let mut lines = Vec::new();
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
                    flags.insert("CLIENTNAME".into(), Value::from(name.clone()));
                    // A client that does not cycle TTYPE only ever names itself.
                    flags.insert("TERM".into(), Value::from(name.clone()));
                    term_flags(&name, &mut flags);
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
                TelnetEvent::OptionEnabled { .. } | TelnetEvent::OptionDisabled { .. } => {}
                TelnetEvent::NegotiationStorm => {
                    tracing::warn!("telnet negotiation storm; disconnecting");
                    self.text_line("Too many telnet negotiations; closing the connection.");
                    return Some("telnet negotiation storm".into());
                }
                TelnetEvent::SubnegotiationTooLong { option } => {
                    tracing::info!(option, "oversized subnegotiation discarded");
                }
                TelnetEvent::Subnegotiation { option, .. } => {
                    tracing::debug!(option, "out-of-band subnegotiation ignored");
                }
                TelnetEvent::CompressionStart => {
                    // MCCP3 is not offered, so the engine never reports it.
                    return Some("unexpected compressed input".into());
                }
            }
        }
        if !flags.is_empty() {
            merge_flags(&mut self.flags, &flags);
            let _ = self
                .core
                .send(CoreEvent::Flags { id: self.id, flags })
                .await;
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
                other => tracing::debug!(name = other, "message not supported by telnet; ignored"),
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
        let rendered = markup::render(s, colour_level(&self.flags));
        encode_for(&rendered, &self.flags)
    }
}

/// The colour level the flags ask for.
pub fn colour_level(flags: &Map<String, Value>) -> ColourLevel {
    let on = |k: &str| flags.get(k).and_then(Value::as_bool).unwrap_or(false);
    if on("NOCOLOR") {
        ColourLevel::None
    } else if on("TRUECOLOR") {
        ColourLevel::TrueColour
    } else if on("XTERM256") {
        ColourLevel::Xterm256
    } else if on("ANSI") {
        ColourLevel::Ansi16
    } else {
        ColourLevel::None
    }
}

fn is_latin1(flags: &Map<String, Value>) -> bool {
    matches!(
        flags
            .get("ENCODING")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("latin-1" | "latin1" | "iso-8859-1" | "ascii")
    )
}

/// Encodes output for the client's encoding (UTF-8, or latin-1 with `?` for what it lacks).
pub fn encode_for(s: &str, flags: &Map<String, Value>) -> Vec<u8> {
    if is_latin1(flags) {
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect()
    } else {
        s.as_bytes().to_vec()
    }
}

/// Decodes a line: UTF-8 when valid (unless the client uses latin-1), else latin-1, so no byte
/// a player typed is lost.
pub fn decode_line(raw: &[u8], flags: &Map<String, Value>) -> String {
    if !is_latin1(flags)
        && let Ok(s) = std::str::from_utf8(raw)
    {
        return s.to_string();
    }
    raw.iter().map(|&b| char::from(b)).collect()
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

/// Colour flags implied by a terminal or client name.
pub fn term_flags(name: &str, flags: &mut Map<String, Value>) {
    let n = name.to_ascii_uppercase();
    if n.contains("256COL") {
        flags.insert("XTERM256".into(), Value::Bool(true));
        flags.insert("ANSI".into(), Value::Bool(true));
    }
    if n.contains("TRUECOLOR") || n.contains("24BIT") || n.contains("DIRECT") {
        flags.insert("TRUECOLOR".into(), Value::Bool(true));
    }
    if n == "DUMB" {
        flags.insert("ANSI".into(), Value::Bool(false));
    }
}

/// Flags from an MTTS bit field.
fn mtts_flags(bits: u32, flags: &mut Map<String, Value>) {
    use telnet::mtts;
    let table: [(u32, &str); 10] = [
        (mtts::ANSI, "ANSI"),
        (mtts::VT100, "VT100"),
        (mtts::UTF8, "UTF-8"),
        (mtts::COLORS_256, "XTERM256"),
        (mtts::MOUSE_TRACKING, "MOUSE_TRACKING"),
        (mtts::OSC_COLOR_PALETTE, "OSC_COLOR_PALETTE"),
        (mtts::SCREEN_READER, "SCREENREADER"),
        (mtts::PROXY, "PROXY"),
        (mtts::TRUECOLOR, "TRUECOLOR"),
        (mtts::MNES, "MNES"),
    ];
    for (bit, key) in table {
        flags.insert(key.into(), Value::Bool(bits & bit != 0));
    }
    if bits & mtts::UTF8 != 0 {
        flags.insert("ENCODING".into(), Value::from("utf-8"));
    }
}

/// Keeps the compiler honest about the channel sizes this module relies on.
const _: () = assert!(SESSION_CHANNEL > 0 && CORE_CHANNEL > 0);

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

    #[test]
    fn lines_decode_as_utf8_or_latin1() {
        let f = crate::session::default_flags();
        assert_eq!(decode_line("héllo".as_bytes(), &f), "héllo");
        assert_eq!(decode_line(b"caf\xe9", &f), "café");
        let mut l = f.clone();
        l.insert("ENCODING".into(), Value::from("latin-1"));
        assert_eq!(decode_line(b"caf\xe9", &l), "café");
        assert_eq!(encode_for("café 漢", &l), b"caf\xe9 ?".to_vec());
    }

    #[test]
    fn colour_levels_follow_flags() {
        let mut f = crate::session::default_flags();
        assert_eq!(colour_level(&f), ColourLevel::Ansi16);
        mtts_flags(1 | 4 | 8, &mut f);
        assert_eq!(colour_level(&f), ColourLevel::Xterm256);
        f.insert("NOCOLOR".into(), Value::Bool(true));
        assert_eq!(colour_level(&f), ColourLevel::None);
    }
}
