//! One player's leg to the game: a telnet client connection, owned by the portal, that lives
//! as long as the player's session and is made again when the game goes away.
//!
//! The leg waits until the player's front end knows what the client is (or a short bound),
//! connects, writes the PROXY header if asked to, and then pumps: the game's bytes go through
//! the client-role telnet engine (MCCP2 inflated first) to the player as `data_out`; the
//! player's lines, out-of-band messages and window sizes go to the game.
//!
//! Invariants:
//! - Nothing the player typed is lost silently: a line is written to the game, held while the
//!   game is away (at most `held_input_bytes`) and sent once it is back, or refused with a
//!   notice saying so.
//! - Everything the game may grow is bounded: reads of [`READ_CHUNK`] bytes (512 while
//!   compressed), inflated output per read (`max_inflate_bytes`), subnegotiations,
//!   negotiations, an unfinished line ([`super::text::MAX_PARTIAL`]). Output to the player
//!   waits for room in the session's channel, so a player who stops reading stops the reads
//!   from the game rather than growing memory; the front end disconnects such a player.
//! - The leg never waits on the core: it reports its state with `try_send` (a full core
//!   channel loses a status line, nothing else).

use super::answers::Answers;
use super::proxy;
use super::text::GameText;
use super::{Gateway, ToUpstream, UpstreamState};
use crate::codec::mccp::{self, Decompressor};
use crate::codec::oob::{self, OobMessage};
use crate::codec::telnet::client::{ClientEvent, ClientLimits, ClientPolicy, TelnetClient};
use crate::codec::telnet::{self, encode_subnegotiation};
use crate::portal::core::{CoreEvent, ToSession};
use crate::portal::repeats;
use crate::shared::config::ClientAddress;
use crate::shared::message::Message;
use crate::shared::session::{Protocol, SessionId, flag};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Bytes read from the game at a time.
pub const READ_CHUNK: usize = 8192;
/// Bytes read at a time while the game compresses: small, so a legitimate read never
/// inflates past `max_inflate_bytes` (deflate's ratio is at most about 1032:1).
const COMPRESSED_CHUNK: usize = 512;
/// How long the leg waits for the front end to learn what the client is before connecting.
pub const SETTLE_MAX: Duration = Duration::from_secs(1);
/// A line the game left unfinished this long, without GA or EOR, is shown as a prompt.
pub const PROMPT_PAUSE: Duration = Duration::from_millis(250);
/// How long one write to the game may take before the game is taken for gone.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// Messages from the game that may wait in the session's channel; past it the leg stops
/// reading the game until the player's front end catches up. With messages of at most
/// [`super::text::MAX_MESSAGE`] bytes of text, this bounds what a game can make the portal
/// hold for one player (a compression bomb included) in bytes.
const MAX_IN_FLIGHT: usize = 8;
/// How often a leg that stopped reading looks whether the player caught up.
const CATCH_UP_POLL: Duration = Duration::from_millis(5);
/// How long a leg whose game connection closed waits to see whether others close too.
const CLOSE_WAIT: Duration = Duration::from_millis(250);
/// How long lines held while the game was away wait for its banner before they are sent.
const HELD_WAIT: Duration = Duration::from_secs(1);
/// The first wait before connecting again; it doubles up to the configured bound.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What the player is told.
const GAME_RESTARTING: &str = "The game is restarting; you will be reconnected.";
const GAME_NOT_ANSWERING: &str =
    "The game is not answering yet; you will be connected when it does.";
const GAME_BACK: &str = "Reconnected to the game.";

/// How a connection to the game ended.
enum End {
    /// The player's session ended (the core dropped the leg's channel).
    PlayerGone,
    /// The game closed the connection in order (EOF).
    GameClosed,
    /// The connection failed (reset, write stall): the game went away.
    GameLost(String),
    /// The game broke the protocol badly enough that the player's connection ends.
    Fatal(String),
}

/// What one read from the game gave.
enum Read {
    /// The game closed the connection in order.
    Closed,
    /// Messages for the player (maybe none: negotiation only).
    Messages(Vec<Message>),
    /// The game broke the protocol (see [`End::Fatal`]).
    Fatal(String),
}

/// One leg's state and what it talks to.
pub(super) struct Leg {
    pub(super) id: SessionId,
    pub(super) gateway: Arc<Gateway>,
    pub(super) peer: SocketAddr,
    pub(super) answers: Answers,
    /// To the player's front end.
    pub(super) handle: mpsc::Sender<ToSession>,
    /// To the core, for state reports.
    pub(super) core: mpsc::Sender<CoreEvent>,
    /// From the core: the player's input.
    pub(super) rx: mpsc::Receiver<ToUpstream>,
    /// Lines typed while the game is away, oldest first.
    pub(super) held: VecDeque<String>,
    /// Bytes in `held`.
    pub(super) held_bytes: usize,
    /// The player's command rate (`[limits] command_rate`, `command_burst`).
    pub(super) bucket: crate::portal::core::Bucket,
    /// When the core was last told the player is active.
    pub(super) reported_active: Option<tokio::time::Instant>,
}

impl Leg {
    /// Runs the leg until the player's session ends or the game cannot be reached.
    pub(super) async fn run(mut self) {
        if !self.settle().await {
            return;
        }
        let max_attempts = self.gateway.config.reconnect_attempts;
        let mut attempt: u32 = 0;
        let mut ever_connected = false;
        let mut told = false;
        loop {
            self.report(if attempt == 0 {
                UpstreamState::Connecting
            } else {
                UpstreamState::Reconnecting(attempt)
            });
            let gateway = self.gateway.clone();
            let connected = tokio::select! {
                c = connect(&gateway, self.peer) => c,
                gone = self.hold_until_gone() => {
                    debug_assert!(gone);
                    return;
                }
            };
            let end = match connected {
                Ok(stream) => {
                    attempt = 0;
                    if told {
                        self.say(GAME_BACK).await;
                        told = false;
                    }
                    ever_connected = true;
                    self.report(UpstreamState::Connected);
                    self.play(stream).await
                }
                Err(e) => End::GameLost(e),
            };
            match end {
                End::PlayerGone => return,
                End::Fatal(why) => {
                    tracing::warn!(session = self.id, reason = %why, "closing the player: the game broke the protocol");
                    self.close(&format!("The game's connection failed: {why}."))
                        .await;
                    return;
                }
                End::GameClosed => {
                    // In order: the player quit, was kicked, or the whole game is stopping
                    // (or restarting at once). The game going down closes every player's
                    // connection at about the same time; one player's quit closes one. So:
                    // others closing now mean the game went; else, if the game still takes
                    // connections, it meant this one.
                    let at = tokio::time::Instant::now().into_std();
                    let mut others = self.gateway.note_close(at);
                    if !others {
                        tokio::time::sleep(CLOSE_WAIT).await;
                        others = self.gateway.closed_since(at);
                    }
                    if !others && self.game_is_up().await {
                        tracing::info!(session = self.id, "the game closed the connection");
                        self.report(UpstreamState::Closed);
                        self.close("The game closed the connection.").await;
                        return;
                    }
                    tracing::info!(
                        session = self.id,
                        "the game went away (closed, not answering)"
                    );
                }
                End::GameLost(why) => {
                    tracing::info!(session = self.id, reason = %why, attempt, "cannot reach the game");
                }
            }
            attempt += 1;
            if attempt > max_attempts {
                tracing::warn!(
                    session = self.id,
                    attempts = max_attempts,
                    "the game stayed away; closing the player"
                );
                self.report(UpstreamState::Closed);
                self.close("The game could not be reached; please try again later.")
                    .await;
                return;
            }
            if !told {
                told = true;
                let notice = if ever_connected {
                    GAME_RESTARTING
                } else {
                    GAME_NOT_ANSWERING
                };
                self.say(notice).await;
            }
            let wait = backoff(attempt, self.gateway.config.reconnect_max_delay_secs);
            self.report(UpstreamState::Reconnecting(attempt));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.hold_until_gone() => return,
            }
        }
    }

    /// Waits for the front end to say it knows the client (or [`SETTLE_MAX`]), keeping what
    /// arrives meanwhile. False when the player left first.
    ///
    /// An SSH session waits for its shell however long that takes: before it, the client may
    /// not even be authenticated, and nobody unauthenticated gets a connection to the game.
    async fn settle(&mut self) -> bool {
        let deadline = tokio::time::sleep(SETTLE_MAX);
        tokio::pin!(deadline);
        let bounded = self.answers.protocol != Protocol::Ssh;
        loop {
            tokio::select! {
                _ = &mut deadline, if bounded => return true,
                cmd = self.rx.recv() => match cmd {
                    None => return false,
                    Some(ToUpstream::Ready) => return true,
                    Some(cmd) => self.keep(cmd).await,
                },
            }
        }
    }

    /// While there is no game to talk to: keeps lines (bounded) and flags. Returns when the
    /// player's session ended (true); never returns otherwise, so callers race it.
    async fn hold_until_gone(&mut self) -> bool {
        while let Some(cmd) = self.rx.recv().await {
            self.keep(cmd).await;
        }
        true
    }

    /// Keeps one thing the player did while the game is away.
    async fn keep(&mut self, cmd: ToUpstream) {
        match cmd {
            ToUpstream::Ready => {}
            ToUpstream::Flags(flags) => merge(&mut self.answers.flags, &flags),
            ToUpstream::Oob(m) => {
                tracing::debug!(session = self.id, name = %m.name, "out-of-band message while the game is away; not sent");
            }
            ToUpstream::Line(line) => {
                if !self.admit(&line).await {
                    return;
                }
                let limit = self.gateway.config.held_input_bytes;
                if self.held_bytes + line.len() > limit {
                    tracing::info!(
                        session = self.id,
                        held = self.held_bytes,
                        "held input full while the game is away; line refused"
                    );
                    let text = format!(
                        "The game is away and {} bytes you typed are waiting; this was not sent: {line}",
                        self.held_bytes
                    );
                    self.say(&text).await;
                } else {
                    self.held_bytes += line.len();
                    self.held.push_back(line);
                }
            }
        }
    }

    /// Whether the game takes a connection right now (it closed ours on purpose), or not
    /// (it is going down): one short attempt, closed at once.
    async fn game_is_up(&self) -> bool {
        let target = self.gateway.config.upstream.as_str();
        matches!(
            tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(target)).await,
            Ok(Ok(_))
        )
    }

    /// Plays one connection until it ends.
    async fn play(&mut self, stream: GameStream) -> End {
        let (mut reader, mut writer) = stream.split();
        let mut to_game: Vec<u8> = Vec::new();
        self.answers.restart();
        let mut conn = GameConn {
            client: TelnetClient::new(ClientLimits::default(), self.policy()),
            inflate: None,
            text: GameText::default(),
            max_inflate: self.gateway.config.max_inflate_bytes,
            naws_sent: None,
            info: self.gateway.info.clone(),
        };
        // Lines held while the game was away go after its first output (its banner), so
        // they meet its login screen rather than a connection still negotiating; or after
        // HELD_WAIT if the game says nothing first.
        let mut held_due = !self.held.is_empty();
        let held_deadline = tokio::time::Instant::now() + HELD_WAIT;
        loop {
            if !to_game.is_empty() {
                match tokio::time::timeout(WRITE_STALL, writer.write_all(&to_game)).await {
                    Ok(Ok(())) => to_game.clear(),
                    Ok(Err(e)) => return End::GameLost(e.to_string()),
                    Err(_) => return End::GameLost("the game stopped reading".into()),
                }
            }
            let chunk = if conn.inflate.is_some() {
                COMPRESSED_CHUNK
            } else {
                READ_CHUNK
            };
            let pause = conn.text.has_partial();
            let in_flight = crate::portal::core::SESSION_CHANNEL - self.handle.capacity();
            let room = in_flight < MAX_IN_FLIGHT;
            tokio::select! {
                _ = tokio::time::sleep(CATCH_UP_POLL), if !room => {}
                r = reader.read(chunk), if room => {
                    let read = match r {
                        Err(e) => return End::GameLost(e.to_string()),
                        Ok(bytes) if bytes.is_empty() => Read::Closed,
                        Ok(bytes) => {
                            let mut out = Vec::new();
                            match conn.game_bytes(&bytes, &mut self.answers, &mut to_game, &mut out) {
                                Ok(()) => Read::Messages(out),
                                Err(why) => Read::Fatal(why),
                            }
                        }
                    };
                    match read {
                        Read::Closed => {
                            let mut out = Vec::new();
                            conn.text.prompt(&mut out);
                            self.to_player(out).await;
                            return End::GameClosed;
                        }
                        Read::Fatal(why) => return End::Fatal(why),
                        Read::Messages(out) => {
                            if !self.to_player(out).await {
                                return End::PlayerGone;
                            }
                            if held_due {
                                held_due = false;
                                self.release_held(&mut to_game);
                            }
                        }
                    }
                }
                cmd = self.rx.recv() => match cmd {
                    None => return End::PlayerGone,
                    Some(ToUpstream::Ready) => {}
                    Some(ToUpstream::Line(line)) => {
                        if self.admit(&line).await {
                            TelnetClient::encode_line(line.as_bytes(), &mut to_game);
                        }
                    }
                    Some(ToUpstream::Oob(m)) => conn.oob_to_game(&m, &mut to_game),
                    Some(ToUpstream::Flags(flags)) => {
                        merge(&mut self.answers.flags, &flags);
                        conn.send_size(&self.answers, &mut to_game);
                    }
                },
                _ = tokio::time::sleep_until(held_deadline), if held_due => {
                    held_due = false;
                    self.release_held(&mut to_game);
                }
                _ = tokio::time::sleep(PROMPT_PAUSE), if pause => {
                    let mut out = Vec::new();
                    conn.text.prompt(&mut out);
                    self.to_player(out).await;
                }
            }
        }
    }

    /// Whether a line the player typed may go, under the command rate (if not, the player
    /// is told it was not sent); tells the core, at most once a second, that the player is
    /// active (the idle timeout).
    async fn admit(&mut self, line: &str) -> bool {
        let now = tokio::time::Instant::now();
        if self
            .reported_active
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.reported_active = Some(now);
            let _ = self.core.try_send(CoreEvent::Active { id: self.id });
        }
        let (rate, burst) = self.gateway.rate;
        if self.bucket.take(rate, burst) {
            return true;
        }
        if repeats::refused(self.id, "commands refused: rate exceeded (gateway session)") {
            tracing::info!(session = self.id, "command rate exceeded; input refused");
        }
        self.say(&format!(
            "You are sending commands too fast; this was not sent: {line}"
        ))
        .await;
        false
    }

    /// Writes the lines held while the game was away, oldest first.
    fn release_held(&mut self, to_game: &mut Vec<u8>) {
        while let Some(line) = self.held.pop_front() {
            self.held_bytes -= line.len();
            TelnetClient::encode_line(line.as_bytes(), to_game);
        }
    }

    /// The options the leg agrees to: what the player's front end can carry.
    fn policy(&self) -> ClientPolicy {
        let web = matches!(self.answers.protocol, Protocol::WebSocket | Protocol::Ajax);
        let on = |k: &str| {
            self.answers
                .flags
                .get(k)
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let mut remote = vec![
            telnet::ECHO,
            telnet::SGA,
            telnet::TELOPT_EOR,
            telnet::MCCP2,
            telnet::CHARSET,
            telnet::MSSP,
        ];
        if web || on(flag::GMCP) {
            remote.push(telnet::GMCP);
        }
        if on(flag::MSDP) {
            remote.push(telnet::MSDP);
        }
        ClientPolicy {
            local: vec![
                telnet::TTYPE,
                telnet::NAWS,
                telnet::NEW_ENVIRON,
                telnet::CHARSET,
            ],
            remote,
        }
    }

    /// Sends messages to the player, waiting for room; false when the session is gone.
    async fn to_player(&self, msgs: Vec<Message>) -> bool {
        if msgs.is_empty() {
            return true;
        }
        self.handle.send(ToSession::DataOut(msgs)).await.is_ok()
    }

    /// A portal-made line to the player.
    async fn say(&self, text: &str) {
        let _ = self
            .handle
            .send(ToSession::DataOut(vec![Message::text(text)]))
            .await;
    }

    /// Ends the player's session with `text`.
    async fn close(&self, text: &str) {
        let _ = self.handle.send(ToSession::Disconnect(text.into())).await;
    }

    fn report(&self, state: UpstreamState) {
        let _ = self
            .core
            .try_send(CoreEvent::Upstream { id: self.id, state });
    }
}

/// One connection's protocol state.
struct GameConn {
    client: TelnetClient,
    /// Set while the game compresses (MCCP2).
    inflate: Option<Decompressor>,
    text: GameText,
    max_inflate: usize,
    /// The window size last told to the game.
    naws_sent: Option<(u16, u16)>,
    /// Where the game's MSSP is kept.
    info: Arc<crate::portal::info::PortalInfo>,
}

impl GameConn {
    /// Bytes from the game: inflated if compressed, parsed, answered; messages for the player
    /// appended to `out`, replies for the game to `to_game`. `Err` ends the player's session.
    fn game_bytes(
        &mut self,
        bytes: &[u8],
        answers: &mut Answers,
        to_game: &mut Vec<u8>,
        out: &mut Vec<Message>,
    ) -> Result<(), String> {
        let mut rest = bytes.to_vec();
        while !rest.is_empty() {
            let plain = match &mut self.inflate {
                None => std::mem::take(&mut rest),
                Some(d) => {
                    let mut plain = Vec::new();
                    match d.decompress(&rest, &mut plain) {
                        Ok(mccp::Inflated::Data) => rest.clear(),
                        Ok(mccp::Inflated::End { rest: n }) => {
                            tracing::debug!("the game ended its compressed stream");
                            self.inflate = None;
                            rest = rest.split_off(rest.len().saturating_sub(n));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "bad compressed data from the game");
                            return Err(format!("bad compressed data ({e})"));
                        }
                    }
                    plain
                }
            };
            let mut at = 0;
            while at < plain.len() {
                let mut events = Vec::new();
                at += self.client.feed(&plain[at..], to_game, &mut events);
                let started = self.events(events, answers, to_game, out);
                if started {
                    // The rest of this plain run is compressed: put it in front of `rest`.
                    let mut compressed = plain[at..].to_vec();
                    compressed.extend_from_slice(&rest);
                    rest = compressed;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Handles the engine's events; true when the game started compressing.
    fn events(
        &mut self,
        events: Vec<ClientEvent>,
        answers: &mut Answers,
        to_game: &mut Vec<u8>,
        out: &mut Vec<Message>,
    ) -> bool {
        let mut started = false;
        for ev in events {
            match ev {
                ClientEvent::Text(bytes) => self.text.push(&bytes, out),
                ClientEvent::Prompt => self.text.prompt(out),
                ClientEvent::OptionEnabled { option, local } => match (option, local) {
                    (telnet::ECHO, false) => out.push(Message::new("text").with("echo", false)),
                    (telnet::NAWS, true) => {
                        self.naws_sent = None;
                        self.send_size(answers, to_game);
                    }
                    _ => {}
                },
                ClientEvent::OptionDisabled { option, local } => {
                    if (option, local) == (telnet::ECHO, false) {
                        out.push(Message::new("text").with("echo", true));
                    }
                }
                ClientEvent::TtypeSend => {
                    let name = answers.next_ttype();
                    self.client.ttype_is(&name, to_game);
                }
                ClientEvent::Charset(cs) => {
                    tracing::debug!(charset = %cs, "the game agreed on a character set");
                }
                ClientEvent::Subnegotiation { option, payload } => {
                    self.subnegotiation(option, &payload, answers, to_game, out);
                }
                ClientEvent::CompressionStart => {
                    tracing::debug!("the game started compressing (MCCP2)");
                    self.inflate = Some(Decompressor::new(self.max_inflate));
                    started = true;
                }
                ClientEvent::NegotiationStorm => {
                    tracing::warn!(
                        "telnet negotiation storm from the game; negotiation ignored from now on"
                    );
                }
                ClientEvent::SubnegotiationTooLong { option } => {
                    tracing::info!(option, "oversized subnegotiation from the game discarded");
                }
            }
        }
        started
    }

    fn subnegotiation(
        &mut self,
        option: u8,
        payload: &[u8],
        answers: &Answers,
        to_game: &mut Vec<u8>,
        out: &mut Vec<Message>,
    ) {
        match option {
            telnet::GMCP => match oob::gmcp::decode_exact(payload) {
                Ok(m) => out.push(Message {
                    name: m.name,
                    args: m.args,
                    kwargs: m.kwargs,
                }),
                Err(e) => tracing::info!(error = %e, "bad GMCP from the game ignored"),
            },
            telnet::MSDP => match oob::msdp::decode(payload) {
                Ok(msgs) => out.extend(msgs.into_iter().map(|m| Message {
                    name: m.name,
                    args: m.args,
                    kwargs: m.kwargs,
                })),
                Err(e) => tracing::info!(error = %e, "bad MSDP from the game ignored"),
            },
            telnet::MSSP => {
                let vars = oob::mssp::decode(payload);
                let count = vars.len();
                if self.info.set_game_mssp(vars) {
                    // Once per change, not per player: crawlers now get the game's MSSP.
                    tracing::info!(variables = count, "the game's MSSP kept for crawlers");
                }
            }
            telnet::NEW_ENVIRON => match oob::environ::decode_send(payload) {
                Ok(request) => {
                    let is = answers.environ_is(&request);
                    encode_subnegotiation(telnet::NEW_ENVIRON, &is, to_game);
                }
                Err(e) => {
                    tracing::info!(error = %e, "bad NEW-ENVIRON request from the game ignored")
                }
            },
            _ => {}
        }
    }

    /// Tells the game the player's window size, if NAWS is on and it changed.
    fn send_size(&mut self, answers: &Answers, to_game: &mut Vec<u8>) {
        let Some(size) = answers.size() else {
            return;
        };
        if self.naws_sent == Some(size) {
            return;
        }
        if self.client.naws(size.0, size.1, to_game) {
            self.naws_sent = Some(size);
        }
    }

    /// An out-of-band message from the player, as GMCP (or MSDP) if the game speaks it.
    fn oob_to_game(&mut self, m: &Message, to_game: &mut Vec<u8>) {
        let msg = OobMessage {
            name: m.name.clone(),
            args: m.args.clone(),
            kwargs: m.kwargs.clone(),
        };
        if self.client.is_enabled_remote(telnet::GMCP) {
            encode_subnegotiation(telnet::GMCP, &oob::gmcp::encode(&msg), to_game);
        } else if self.client.is_enabled_remote(telnet::MSDP) {
            encode_subnegotiation(telnet::MSDP, &oob::msdp::encode(&msg), to_game);
        } else {
            tracing::debug!(name = %m.name, "the game speaks neither GMCP nor MSDP; message not sent");
        }
    }
}

/// The game's side of one connection: reads, writes.
enum GameStream {
    /// Plain telnet.
    Plain(TcpStream),
    /// Telnet over TLS (`upstream_tls`).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// What a leg reads the game from.
enum GameReader {
    Plain(tokio::net::tcp::OwnedReadHalf),
    Tls(tokio::io::ReadHalf<Box<tokio_rustls::client::TlsStream<TcpStream>>>),
}

/// What a leg writes the game to.
type GameWriter = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

impl GameStream {
    fn split(self) -> (GameReader, GameWriter) {
        match self {
            GameStream::Plain(s) => {
                let (r, w) = s.into_split();
                (GameReader::Plain(r), Box::new(w))
            }
            GameStream::Tls(s) => {
                let (r, w) = tokio::io::split(s);
                (GameReader::Tls(r), Box::new(w))
            }
        }
    }
}

impl GameReader {
    /// The next bytes from the game, at most `chunk`; empty when it closed. Cancel-safe.
    /// A plain connection reads into the stack once it is readable, so an idle leg keeps no
    /// read buffer (8 KiB a player); TLS keeps one while it waits.
    async fn read(&mut self, chunk: usize) -> std::io::Result<Vec<u8>> {
        match self {
            GameReader::Plain(r) => loop {
                r.readable().await?;
                let mut buf = [0u8; READ_CHUNK];
                match r.try_read(&mut buf[..chunk.min(READ_CHUNK)]) {
                    Ok(n) => return Ok(buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            },
            GameReader::Tls(r) => {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; chunk];
                let n = r.read(&mut buf).await?;
                buf.truncate(n);
                Ok(buf)
            }
        }
    }
}

/// One connection attempt to the game, within the configured time: TCP, then the PROXY
/// header if the game takes one (before TLS, as HAProxy sends it), then TLS if asked for.
async fn connect(gateway: &Gateway, peer: SocketAddr) -> Result<GameStream, String> {
    let target = gateway.config.upstream.as_str();
    let timeout = Duration::from_secs(gateway.config.connect_timeout_secs);
    let attempt = async {
        let mut stream = TcpStream::connect(target)
            .await
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let game = stream.peer_addr().map_err(|e| e.to_string())?;
        let header = match gateway.config.client_address {
            ClientAddress::ProxyV1 => Some(proxy::header(proxy::Version::V1, peer, game)),
            ClientAddress::ProxyV2 => Some(proxy::header(proxy::Version::V2, peer, game)),
            ClientAddress::Mnes | ClientAddress::None => None,
        };
        if let Some(h) = header {
            stream.write_all(&h).await.map_err(|e| e.to_string())?;
        }
        match &gateway.tls {
            None => Ok(GameStream::Plain(stream)),
            Some(tls) => {
                let s = tls
                    .connector
                    .connect(tls.server_name.clone(), stream)
                    .await
                    .map_err(|e| format!("tls: {e}"))?;
                Ok(GameStream::Tls(Box::new(s)))
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Merges a protocol_flags update (null removes).
fn merge(flags: &mut Map<String, Value>, update: &Map<String, Value>) {
    crate::shared::session::merge_flags(flags, update);
}

/// The wait before attempt `attempt` (1-based): half a second, doubling, at most `max_secs`.
fn backoff(attempt: u32, max_secs: u64) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    doubled.min(Duration::from_secs(max_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_bound() {
        assert_eq!(backoff(1, 10), Duration::from_millis(500));
        assert_eq!(backoff(2, 10), Duration::from_secs(1));
        assert_eq!(backoff(4, 10), Duration::from_secs(4));
        assert_eq!(backoff(6, 10), Duration::from_secs(10));
        assert_eq!(backoff(40, 10), Duration::from_secs(10));
    }
}
