//! The WebSocket transport (`GET /ws`).
//!
//! The upgrade is checked here (origin, version, key, token) and answered by hand; the
//! frames are `tungstenite`'s, with the message size bounded by `[web] max_message_bytes`.
//! Two subprotocols:
//!
//! - JSON (no subprotocol, or `portcullis.json`): each text frame is one message
//!   `[name, [args], {kwargs}]`, both ways; the first one the page gets is `session`, with
//!   the token that resumes the session (`/ws?token=…`) after the connection drops.
//! - `terminal.mudstandards.org`: plain terminal text both ways (input split into lines,
//!   output with ANSI colours and `\r\n`), for generic clients; no out-of-band data and no
//!   resume.

use super::WebShared;
use super::http::{Request, Response};
use super::input::FromPage;
use super::session::{Frame, WebSession};
use crate::portal::repeats;
use crate::shared::message::Message;
use crate::shared::session::Protocol;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tracing::Instrument;

/// The plain-terminal subprotocol.
pub const TERMINAL: &str = "terminal.mudstandards.org";
/// The JSON subprotocol (also what a client that names none gets).
pub const JSON: &str = "portcullis.json";
/// Pings a quiet connection this often, so dead ones are noticed and proxies keep it open.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How long one write (a message, a batch's flush, a ping, the close) may stall before the
/// connection is given up (the session stays).
const WRITE_STALL: Duration = Duration::from_secs(10);
/// Bytes of frames gathered before tungstenite writes them to the socket.
const WRITE_BATCH: usize = 16 * 1024;

/// Which way frames are read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Json,
    Terminal,
}

/// Answers an upgrade request: refuses it with an HTTP error, or switches protocols and
/// runs the WebSocket until it closes.
pub async fn upgrade<S>(
    mut stream: S,
    leftover: Vec<u8>,
    req: Request,
    ip: IpAddr,
    shared: Arc<WebShared>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let refuse = |status: u16, why: &str| Response::error(status, why).encode(false, false);
    let key = req.header("sec-websocket-key").map(str::to_owned);
    let checked = if !shared.origin_allowed(&req) {
        if repeats::refused(ip, "websockets refused: foreign origin") {
            tracing::warn!(origin = req.header("origin").unwrap_or(""), %ip, "websocket from a foreign origin refused");
        }
        Err(refuse(403, "origin not allowed"))
    } else if req.header("sec-websocket-version") != Some("13") {
        Err(Response::error(426, "WebSocket version 13 only")
            .with("Sec-WebSocket-Version", "13")
            .encode(false, false))
    } else if key.is_none() || !req.header_has("connection", "upgrade") {
        Err(refuse(400, "not a WebSocket upgrade"))
    } else {
        Ok(())
    };
    if let Err(bytes) = checked {
        let _ = stream.write_all(&bytes).await;
        return;
    }
    let mode = if req.header_has("sec-websocket-protocol", TERMINAL)
        && !req.header_has("sec-websocket-protocol", JSON)
    {
        Mode::Terminal
    } else {
        Mode::Json
    };
    // A token names the session to resume (JSON only); it is spent, and the page learns the
    // new one from the `session` message.
    let mut resumed = None;
    if let (Mode::Json, Some(token)) = (mode, req.query_param("token").filter(|t| !t.is_empty())) {
        match shared.hub.find(token, ip) {
            Some(s) => {
                shared.hub.rotate(&s);
                resumed = Some(s);
            }
            None => {
                tracing::info!(%ip, "websocket resume with an unknown or expired token; new session");
            }
        }
    }

    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(
        key.unwrap_or_default().as_bytes(),
    );
    let mut head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    if req.header_has("sec-websocket-protocol", JSON) {
        head.push_str(&format!("Sec-WebSocket-Protocol: {JSON}\r\n"));
    } else if mode == Mode::Terminal {
        head.push_str(&format!("Sec-WebSocket-Protocol: {TERMINAL}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let config = frame_config(
        shared.config.max_message_bytes,
        shared.limits.output_buffer_bytes,
    );
    let ws =
        WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config)).await;

    let was_resumed = resumed.is_some();
    // How many messages the page already has of this session (to send again what it missed).
    let seen = req.query_param("seen").and_then(|n| n.parse::<u64>().ok());
    // The request's headers are not needed for the rest of the connection's life.
    drop(req);
    let session = match resumed {
        Some(s) => s,
        None => match shared
            .hub
            .open(Protocol::WebSocket, ip, shared.secure)
            .await
        {
            Ok(s) => s,
            Err(reason) => {
                // The core logged why (summed up when it repeats).
                tracing::debug!(%ip, %reason, "websocket session refused");
                let mut m = Message::new("disconnect");
                m.args.push(Value::String(reason.clone()));
                let out = match mode {
                    Mode::Json => Frame::new(m).json,
                    Mode::Terminal => format!("{reason}\r\n"),
                };
                let (sink, _) = ws.split();
                let mut sink = Writer { sink };
                if sink.send(WsMessage::text(out)).await.is_ok() {
                    sink.close(Some(close(CloseCode::Again, &reason))).await;
                }
                return;
            }
        },
    };
    let span = tracing::info_span!("ws", session = session.id(), resumed = was_resumed);
    let resumed = was_resumed.then_some(seen);
    run(ws, session, mode, resumed, shared)
        .instrument(span)
        .await;
}

/// tungstenite's settings for one connection, from `[web] max_message_bytes` (the largest
/// message read) and `[limits] output_buffer_bytes` (the largest a session's queued output,
/// and so any one message written, can be).
///
/// tungstenite asserts that its write buffer's bound is above the batch it gathers before
/// writing; the bound is the batch plus room for the largest message twice over, so it holds
/// for every pair of values, whatever the config says.
fn frame_config(max_message_bytes: usize, output_buffer_bytes: usize) -> WebSocketConfig {
    let largest = max_message_bytes.max(output_buffer_bytes);
    WebSocketConfig::default()
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
        .read_buffer_size(1024)
        .write_buffer_size(WRITE_BATCH)
        .max_write_buffer_size(WRITE_BATCH.saturating_add(largest.saturating_mul(2)))
}

fn close(code: CloseCode, reason: &str) -> CloseFrame {
    // A close reason is at most 123 bytes.
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: reason[..end].to_string().into(),
    }
}

/// Why writing to a WebSocket ended the connection.
#[derive(Debug, thiserror::Error)]
enum WriteEnd {
    /// The connection failed (reset, closed, or tungstenite refused the message).
    #[error("websocket write failed: {0}")]
    Failed(tokio_tungstenite::tungstenite::Error),
    /// The peer stopped reading: a write made no progress for [`WRITE_STALL`].
    #[error("websocket write stalled")]
    Stalled,
}

/// The writing half of a WebSocket: every write is bounded by [`WRITE_STALL`], so a peer that
/// stops reading costs a connection at most that long, whichever write it stops in.
struct Writer<S> {
    sink: SplitSink<WebSocketStream<S>, WsMessage>,
}

impl<S> Writer<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async fn bounded(
        write: impl Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), WriteEnd> {
        match tokio::time::timeout(WRITE_STALL, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(WriteEnd::Failed(e)),
            Err(_) => Err(WriteEnd::Stalled),
        }
    }

    /// Writes one message and flushes.
    async fn send(&mut self, m: WsMessage) -> Result<(), WriteEnd> {
        Self::bounded(self.sink.send(m)).await
    }

    /// Queues one message (written once enough are queued, or on [`Writer::flush`]).
    async fn feed(&mut self, m: WsMessage) -> Result<(), WriteEnd> {
        Self::bounded(self.sink.feed(m)).await
    }

    /// Writes everything queued.
    async fn flush(&mut self) -> Result<(), WriteEnd> {
        Self::bounded(self.sink.flush()).await
    }

    /// Writes text messages as one batch: queued one by one, then flushed once; the first
    /// failure stops it.
    async fn write_all(&mut self, texts: impl IntoIterator<Item = String>) -> Result<(), WriteEnd> {
        for text in texts {
            self.feed(WsMessage::text(text)).await?;
        }
        self.flush().await
    }

    /// Sends a close frame (if there is one) and closes the connection.
    async fn close(mut self, frame: Option<CloseFrame>) {
        if let Some(frame) = frame {
            let _ = self.send(WsMessage::Close(Some(frame))).await;
        }
        let _ = Self::bounded(self.sink.close()).await;
    }
}

/// Logs why writing ended the connection.
fn log_write_end(e: &WriteEnd) {
    match e {
        WriteEnd::Stalled => tracing::info!(
            stall_secs = WRITE_STALL.as_secs(),
            "websocket write stalled; dropping the connection (the session waits)"
        ),
        WriteEnd::Failed(e) => tracing::info!(error = %e, "websocket write failed"),
    }
}

/// Carries one session over one WebSocket until either ends.
async fn run<S>(
    ws: WebSocketStream<S>,
    session: Arc<WebSession>,
    mode: Mode,
    resumed: Option<Option<u64>>,
    shared: Arc<WebShared>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (sink, mut source) = ws.split();
    let mut sink = Writer { sink };
    let mut attachment = session.attach();
    let generation = attachment.generation;
    if resumed.is_some() {
        tracing::info!("browser came back to its session");
    }
    if mode == Mode::Json {
        let mut hello = Map::new();
        hello.insert("token".into(), Value::from(session.token()));
        hello.insert(
            "grace_secs".into(),
            Value::from(shared.config.reconnect_grace_secs),
        );
        hello.insert("resumed".into(), Value::Bool(resumed.is_some()));
        hello.insert("input_seen".into(), Value::from(session.input_seen()));
        hello.insert("protocol".into(), Value::from(session.protocol.key()));
        hello.insert("name".into(), Value::from(shared.name.clone()));
        let m = super::PageControl::Session(hello).message();
        if let Err(e) = sink.send(WsMessage::text(Frame::new(m).json)).await {
            log_write_end(&e);
            return;
        }
        // What the page missed when its last connection died is sent again, first.
        if let Some(Some(seen)) = resumed {
            let (again, gap) = session.ws_replay(seen);
            if !again.is_empty() {
                tracing::info!(messages = again.len(), "sending again what the page missed");
            }
            if let Err(e) = sink.write_all(again).await {
                log_write_end(&e);
                return;
            }
            if gap {
                tracing::info!(seen, "some output the page missed is no longer kept");
                session.push_msg(Message::text(
                    "|ySome output from while you were away could not be kept.|n",
                ));
            }
        }
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let end: Option<CloseFrame> = loop {
        let taken = session.take(generation);
        if taken.superseded {
            tracing::info!("the session was resumed on another connection; closing this one");
            break Some(close(CloseCode::Normal, "session resumed elsewhere"));
        }
        if !taken.frames.is_empty() {
            if mode == Mode::Json {
                session.ws_sending(&taken.frames);
            }
            let texts: Vec<String> = taken
                .frames
                .iter()
                .filter_map(|f| match mode {
                    Mode::Json => Some(f.json.clone()),
                    Mode::Terminal => terminal_text(&f.msg),
                })
                .collect();
            if let Err(e) = sink.write_all(texts).await {
                log_write_end(&e);
                break None;
            }
        }
        if let Some(reason) = taken.closed {
            break Some(close(CloseCode::Normal, &reason));
        }
        tokio::select! {
            r = attachment.changes.changed() => if r.is_err() { break None },
            _ = ping.tick() => {
                if let Err(e) = sink.send(WsMessage::Ping(Default::default())).await {
                    log_write_end(&e);
                    break None;
                }
            }
            incoming = source.next() => match incoming {
                None => break None,
                Some(Err(e)) => {
                    use tokio_tungstenite::tungstenite::Error;
                    match e {
                        Error::Capacity(c) => {
                            tracing::warn!(error = %c, limit = shared.config.max_message_bytes, "websocket message too big; closing");
                            break Some(close(CloseCode::Size, "message too big"));
                        }
                        Error::Protocol(p) => {
                            tracing::info!(error = %p, "websocket protocol error; closing");
                            break Some(close(CloseCode::Protocol, "protocol error"));
                        }
                        Error::Utf8(_) => {
                            tracing::info!("websocket text that is not UTF-8; closing");
                            break Some(close(CloseCode::Invalid, "text must be UTF-8"));
                        }
                        other => {
                            tracing::debug!(error = %other, "websocket read failed");
                            break None;
                        }
                    }
                }
                Some(Ok(WsMessage::Text(text))) => {
                    let messages = match mode {
                        Mode::Json => match serde_json::from_str::<Value>(text.as_str())
                            .map_err(|_| "not JSON")
                            .and_then(super::input::parse_message)
                            .map(FromPage::from)
                        {
                            Ok(FromPage::Ack(n)) => {
                                if let Some(n) = n {
                                    session.ws_ack(n);
                                }
                                continue;
                            }
                            Ok(m) => {
                                if m.is_numbered() {
                                    session.input_arrived(None, 1);
                                }
                                vec![m]
                            }
                            Err(why) => {
                                session.input_arrived(None, 1);
                                super::input::refuse(&session, why);
                                continue;
                            }
                        },
                        Mode::Terminal => vec![FromPage::Text(Message::text(text.as_str()))],
                    };
                    super::input::data_in(&session, messages).await;
                }
                Some(Ok(WsMessage::Binary(_))) => {
                    tracing::info!("binary websocket frame; closing");
                    break Some(close(CloseCode::Unsupported, "text frames only"));
                }
                Some(Ok(WsMessage::Close(_))) => {
                    // The page said goodbye: it is leaving for good, unless it comes back.
                    break None;
                }
                Some(Ok(_)) => {} // ping (answered by tungstenite), pong
            }
        }
    };
    drop(attachment);
    if mode == Mode::Terminal {
        // Nothing can come back to a terminal session: it ends with its connection.
        session.end("connection closed");
    }
    sink.close(end).await;
    if session.closed().is_none() {
        tracing::info!(
            grace_secs = shared.config.reconnect_grace_secs,
            "websocket closed; the session waits for the browser"
        );
    }
}

/// A message as plain terminal text, for the terminal subprotocol (None: not shown there).
fn terminal_text(m: &Message) -> Option<String> {
    let crlf = |s: &str| s.replace("\r\n", "\n").replace('\n', "\r\n");
    match m.name.as_str() {
        "text" | "disconnect" => {
            let mut out = String::new();
            for a in m.args.iter().filter_map(Value::as_str) {
                out.push_str(&crlf(a));
                out.push_str("\r\n");
            }
            Some(out)
        }
        "prompt" => m.first_str().map(crlf),
        "error" => m.first_str().map(|s| format!("{}\r\n", crlf(s))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_has_crlf_line_ends_and_no_out_of_band_data() {
        let mut m = Message::text("a\nb");
        m.args.push(Value::from("c"));
        assert_eq!(terminal_text(&m).as_deref(), Some("a\r\nb\r\nc\r\n"));
        assert_eq!(
            terminal_text(&Message::prompt("Password: ")).as_deref(),
            Some("Password: ")
        );
        assert_eq!(terminal_text(&Message::new("Char.Vitals")), None);
        assert_eq!(terminal_text(&Message::new("server_status")), None);
    }

    /// Every accepted corner of the two keys the WebSocket settings come from makes settings
    /// tungstenite takes (it asserts on some) and that carry a message as large as a session
    /// may queue.
    #[tokio::test]
    async fn every_accepted_buffer_corner_makes_a_working_websocket() {
        use crate::shared::config::{Config, MIN_OUTPUT_BUFFER_BYTES, validate};
        let messages = [0, 1, 1023, 1024, 4096, 8192, 16 * 1024 * 1024, usize::MAX];
        let outputs = [
            0,
            1,
            MIN_OUTPUT_BUFFER_BYTES - 1,
            MIN_OUTPUT_BUFFER_BYTES,
            8192,
            WRITE_BATCH,
            1024 * 1024,
            usize::MAX,
        ];
        let mut accepted = 0;
        for max_message_bytes in messages {
            for output_buffer_bytes in outputs {
                let mut c = Config::default();
                c.web.max_message_bytes = max_message_bytes;
                c.limits.output_buffer_bytes = output_buffer_bytes;
                if validate(&c).is_err() {
                    continue;
                }
                accepted += 1;
                let config = frame_config(max_message_bytes, output_buffer_bytes);
                let (a, b) = tokio::io::duplex(64 * 1024);
                let mut server =
                    WebSocketStream::from_raw_socket(a, Role::Server, Some(config)).await;
                let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
                // The largest message that fits the session's queue (bounded for the test).
                let text = "x".repeat(output_buffer_bytes.min(4 * 1024 * 1024) - 16);
                let (sent, got) =
                    tokio::join!(server.send(WsMessage::text(text.clone())), client.next());
                assert!(
                    sent.is_ok(),
                    "{max_message_bytes}/{output_buffer_bytes}: {sent:?}"
                );
                match got {
                    Some(Ok(WsMessage::Text(t))) => assert_eq!(t.len(), text.len()),
                    other => panic!("{max_message_bytes}/{output_buffer_bytes}: {other:?}"),
                }
            }
        }
        assert_eq!(accepted, 4 * 5);
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let f = close(CloseCode::Normal, &"é".repeat(100));
        assert!(f.reason.len() <= 123);
    }
}
