//! The session port: what every front end does with a portal session, written once.
//!
//! A front end (telnet and telnet/TLS, SSH, the web's transports) owns only what is its own:
//! telnet negotiation, SSH channels and the line editor, WebSocket and long-poll. Everything a
//! session does with the rest of the portal goes through its port:
//! - **open**: ask the core for a session id (or learn why not) — [`SessionPort::open`];
//! - **input**: lines the player typed become `data_in` (cleaned of control characters; cut
//!   to `max_line_length` with the same notice everywhere), out-of-band messages pass as they
//!   are, what the front end learnt about the client becomes a protocol_flags update —
//!   [`PortInput`];
//! - **output**: what the core sends back arrives as a [`FromCore`], flag changes already
//!   applied, and the session's [`ClientCaps`] say how to render it — [`SessionPort::recv`];
//! - **close**: one typed [`CloseReason`] — [`PortInput::closed`].
//!
//! The port is where a session is attached to what plays it: the core and through it the
//! server's App, or in gateway mode an upstream game (the port sends what the player types
//! straight to the session's leg, which answers on the same channel as the core). A front
//! end does not need to know which: the game's text arrives as `raw` messages, rendered
//! without markup by the same caps.

use super::core::{AuthAnswer, CoreEvent, SESSION_CHANNEL, ServerStatus, ToSession};
use super::gateway::ToUpstream;
use super::meter::InputMeter;
use crate::codec::markup;
use crate::shared::caps::ClientCaps;
use crate::shared::config::Limits;
use crate::shared::message::Message;
use crate::shared::session::{Protocol, SessionId, bound_peer_flags, merge_flags};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Why a session ended. Its text is what the log, `status` and the server see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// The client hung up.
    #[error("closed by client")]
    ClientClosed,
    /// Reading from the client failed.
    #[error("read error: {0}")]
    ReadError(String),
    /// Writing to the client failed.
    #[error("write error")]
    WriteError,
    /// The client stopped reading and its output passed the bound.
    #[error("output buffer overflow (client not reading)")]
    OutputOverflow,
    /// The server or the portal closed it (idle, quit, shutdown …), with what the player
    /// was told.
    #[error("{0}")]
    Disconnected(String),
    /// The portal is stopping and cannot take more input.
    #[error("portal stopping")]
    PortalStopping,
    /// A browser's HTTP request arrived on a telnet port.
    #[error("http request on telnet port")]
    HttpOnTelnet,
    /// A PROXY header came from a peer that is not a trusted proxy.
    #[error("PROXY header from an untrusted peer")]
    UntrustedProxy,
    /// The client's compressed input (MCCP3) was corrupt.
    #[error("corrupt compressed input: {0}")]
    CorruptCompression(String),
    /// The client sent more telnet negotiations than a connection may.
    #[error("telnet negotiation storm")]
    NegotiationStorm,
    /// The SSH handshake failed.
    #[error("ssh handshake failed: {0}")]
    SshHandshake(String),
    /// The SSH client sent no identification in time.
    #[error("no ssh identification in time")]
    SshNoIdentification,
    /// The SSH client did not authenticate in time.
    #[error("authentication timed out")]
    AuthTimeout,
    /// The SSH connection failed or ended (russh's words).
    #[error("{0}")]
    Ssh(String),
    /// The SSH client closed the session channel.
    #[error("channel closed by client")]
    ChannelClosed,
    /// The player pressed Ctrl-D on an empty line.
    #[error("quit (Ctrl-D)")]
    EndOfInput,
    /// An SSH command finished.
    #[error("exec finished with status {0}")]
    ExecFinished(u32),
    /// No browser came back to the session within the grace period (seconds).
    #[error("no connection from the browser for {0} s")]
    BrowserGone(u64),
    /// The page said it is leaving, or its only connection closed.
    #[error("{0}")]
    BrowserClosed(String),
}

/// Why the core would not open a session: what to tell the player.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What the core sends a session, with flag changes already applied to its port.
#[derive(Debug)]
pub enum FromCore {
    /// Output to render.
    DataOut(Vec<Message>),
    /// Tell the player why, then close.
    Disconnect(String),
    /// How the server is (browsers show it; other front ends ignore it).
    ServerStatus(ServerStatus),
    /// An SSH command finished with this exit status.
    ExitStatus(u32),
    /// The core cut the session off (its channel filled: the client stopped reading).
    Gone,
}

/// The notice a player gets when a line was cut.
pub fn line_too_long(limit: usize) -> String {
    format!("Your line was longer than {limit} bytes; only the first {limit} were kept.")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A session's input side: sends what the player did to where the session is attached.
/// Cheap to clone: each web transport that carries the session holds one.
#[derive(Debug, Clone)]
pub struct PortInput {
    id: SessionId,
    core: mpsc::Sender<CoreEvent>,
    max_line: usize,
    /// The session's input allowance, shared by every transport that carries it.
    meter: Arc<Mutex<InputMeter>>,
    /// In gateway mode, the session's leg: lines and out-of-band messages go straight there.
    upstream: Option<mpsc::Sender<ToUpstream>>,
}

/// The core has stopped; the session cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

impl From<Stopped> for CloseReason {
    fn from(_: Stopped) -> Self {
        CloseReason::PortalStopping
    }
}

// Each sending method builds its event and awaits the channel's send directly, with no
// helper `async fn` in between: nested async calls keep the event once per level in every
// session task's state (measured with `size_of_val` on the telnet session's future: 2,472
// bytes with a helper, 2,384 without; 2,344 before the port existed).
impl PortInput {
    /// An input side to `core` without opening a session, for unit tests of front ends.
    #[cfg(test)]
    pub fn for_test(id: SessionId, core: mpsc::Sender<CoreEvent>, max_line: usize) -> Self {
        PortInput {
            id,
            core,
            max_line,
            meter: Arc::new(Mutex::new(InputMeter::new(&Limits::default()))),
            upstream: None,
        }
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The longest line a player may send, in bytes.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    fn meter(&self) -> std::sync::MutexGuard<'_, InputMeter> {
        self.meter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Charges input work to the session's allowance (`limits.input_bytes_per_sec`,
    /// `input_messages_per_sec`): `bytes` its protocol handled, `messages` that came of them.
    pub fn charge(&self, bytes: usize, messages: usize) {
        self.meter().charge(bytes, messages);
    }

    /// When the session may be read again, if it has spent its allowance; a front end stops
    /// reading until then (its bytes wait and TCP pushes back), and nothing is lost.
    pub fn resume_at(&self) -> Option<std::time::Instant> {
        self.meter().resume_at()
    }

    /// Charges input work and, when the allowance is spent, waits until it is paid off: for
    /// a front end whose reading can simply pause.
    pub async fn pace(&self, bytes: usize, messages: usize) {
        self.charge(bytes, messages);
        if let Some(at) = self.resume_at() {
            tokio::time::sleep_until(at.into()).await;
        }
    }

    /// Whether the session plays an upstream game (gateway mode): out-of-band messages then
    /// pass to the game exactly as the client sent them.
    pub fn upstream(&self) -> bool {
        self.upstream.is_some()
    }

    /// The front end knows what the client is (negotiation settled, page loaded): a gateway
    /// session connects to the game now rather than at its bound. Harmless otherwise.
    pub async fn ready(&self) -> Result<(), Stopped> {
        let ev = CoreEvent::Ready { id: self.id };
        self.core.send(ev).await.map_err(|_| Stopped)
    }

    /// A line the player typed becomes `data_in` `text`, cleaned of control characters.
    /// (Cutting is the front end's: some cut bytes before decoding, see [`PortInput::cut`].)
    pub async fn line(&self, line: &str) -> Result<(), Stopped> {
        if let Some(leg) = &self.upstream {
            // A leg that has ended is closing the session; the line has nowhere to go.
            let _ = leg
                .send(ToUpstream::Line(markup::sanitize_input(line)))
                .await;
            return Ok(());
        }
        let ev = CoreEvent::DataIn {
            id: self.id,
            messages: vec![Message::text(markup::sanitize_input(line))],
        };
        self.core.send(ev).await.map_err(|_| Stopped)
    }

    /// A line cut to `max_line_length`, and the notice for the player when it was.
    pub fn cut<'a>(&self, line: &'a str) -> (&'a str, Option<String>) {
        if line.len() > self.max_line {
            tracing::info!(limit = self.max_line, "input line too long; cut");
            (cut(line, self.max_line), Some(line_too_long(self.max_line)))
        } else {
            (line, None)
        }
    }

    /// An out-of-band message (GMCP, MSDP, the page's own) becomes `data_in` as it is.
    pub async fn oob(&self, message: Message) -> Result<(), Stopped> {
        if let Some(leg) = &self.upstream {
            let _ = leg.send(ToUpstream::Oob(message)).await;
            return Ok(());
        }
        let ev = CoreEvent::DataIn {
            id: self.id,
            messages: vec![message],
        };
        self.core.send(ev).await.map_err(|_| Stopped)
    }

    /// Tells the core what the front end learnt about the client (a partial protocol_flags
    /// update). Nothing is sent for an empty update.
    /// Values are bounded first ([`bound_peer_flags`]): a client chooses them.
    pub async fn flags(&self, mut flags: Map<String, Value>) -> Result<(), Stopped> {
        bound(&mut flags);
        if flags.is_empty() {
            return Ok(());
        }
        let ev = CoreEvent::Flags { id: self.id, flags };
        self.core.send(ev).await.map_err(|_| Stopped)
    }

    /// An SSH shell started (the server logs the authenticated account in).
    pub async fn shell(&self) -> Result<(), Stopped> {
        let ev = CoreEvent::Start {
            id: self.id,
            start: crate::shared::link::Start::Shell,
        };
        self.core.send(ev).await.map_err(|_| Stopped)
    }

    /// An SSH client asked to run one command.
    pub async fn exec(&self, command: &str) -> Result<(), Stopped> {
        let ev = CoreEvent::Start {
            id: self.id,
            start: crate::shared::link::Start::Exec {
                command: markup::sanitize_input(command),
            },
        };
        self.core.send(ev).await.map_err(|_| Stopped)
    }

    /// Asks whoever decides (today the server, which owns the accounts) whether an SSH client
    /// may log in as `username` this way: the answer arrives on the returned receiver, which
    /// the caller waits on within its own bound (the server may be restarting). `Stopped`
    /// when the portal is stopping.
    pub async fn auth(
        &self,
        username: &str,
        method: crate::shared::link::AuthMethod,
    ) -> Result<oneshot::Receiver<AuthAnswer>, Stopped> {
        let (reply, answer) = oneshot::channel();
        let ev = CoreEvent::Auth {
            id: self.id,
            username: username.to_string(),
            method,
            reply,
        };
        self.core.send(ev).await.map_err(|_| Stopped)?;
        Ok(answer)
    }

    /// The session ended; the core forgets it and tells the server.
    pub async fn closed(&self, reason: CloseReason) {
        tracing::info!(%reason, "disconnected");
        let ev = CoreEvent::Closed {
            id: self.id,
            reason,
        };
        let _ = self.core.send(ev).await;
    }
}

/// Bounds a client's protocol_flags update, with a log line when something was cut.
pub fn bound(flags: &mut Map<String, Value>) {
    let cut = bound_peer_flags(flags);
    if cut > 0 {
        tracing::info!(values = cut, "client's protocol_flags cut to their bounds");
    }
}

/// A session's protocol_flags as its front end knows them, and the capabilities they give.
#[derive(Debug, Clone)]
pub struct PortView {
    flags: Map<String, Value>,
    caps: ClientCaps,
}

impl Default for PortView {
    fn default() -> Self {
        let flags = crate::shared::session::default_flags();
        PortView {
            caps: ClientCaps::from_flags(&flags),
            flags,
        }
    }
}

impl PortView {
    /// Merges a protocol_flags update (`null` removes a key) and recomputes the caps.
    pub fn merge(&mut self, update: &Map<String, Value>) {
        merge_flags(&mut self.flags, update);
        self.caps = ClientCaps::from_flags(&self.flags);
    }

    /// The capabilities to render for.
    pub fn caps(&self) -> &ClientCaps {
        &self.caps
    }
}

/// What the core sends one session.
#[derive(Debug)]
pub struct PortReceiver {
    rx: mpsc::Receiver<ToSession>,
    /// The core's close when `rx` was full; `None` once it fired or the core let it go.
    close: Option<oneshot::Receiver<Option<String>>>,
}

impl PortReceiver {
    /// Waits for the core's close signal alone (never returns when there is none), for a
    /// front end that is waiting on something else, such as a slow client draining its
    /// output: the core's close then still takes effect at once. Cancel-safe.
    pub async fn close_signal(&mut self) -> FromCore {
        let Some(close) = &mut self.close else {
            return std::future::pending().await;
        };
        let reason = close.await;
        self.close = None;
        match reason {
            Ok(Some(reason)) => FromCore::Disconnect(reason),
            Ok(None) => FromCore::Gone,
            Err(_) => std::future::pending().await,
        }
    }

    /// The next thing the core sends; flag changes from the server go to `on_flags` and are
    /// not returned. Cancel-safe (for `select!`).
    pub async fn recv_with(&mut self, mut on_flags: impl FnMut(&Map<String, Value>)) -> FromCore {
        loop {
            // A close sent this way found the channel full: the session is not keeping up,
            // so it goes before what is queued.
            let next = match &mut self.close {
                Some(close) => tokio::select! {
                    biased;
                    reason = close => {
                        self.close = None;
                        match reason {
                            Ok(Some(reason)) => return FromCore::Disconnect(reason),
                            Ok(None) => return FromCore::Gone,
                            Err(_) => continue,
                        }
                    }
                    next = self.rx.recv() => next,
                },
                None => self.rx.recv().await,
            };
            match next {
                Some(ToSession::DataOut(msgs)) => return FromCore::DataOut(msgs),
                Some(ToSession::SetFlags(flags)) => on_flags(&flags),
                Some(ToSession::Disconnect(reason)) => return FromCore::Disconnect(reason),
                Some(ToSession::ServerStatus(s)) => return FromCore::ServerStatus(s),
                Some(ToSession::ExitStatus(code)) => return FromCore::ExitStatus(code),
                None => return FromCore::Gone,
            }
        }
    }
}

/// One session's port, for a front end whose one task owns the connection (telnet, SSH):
/// the input side, the view, and what the core sends.
#[derive(Debug)]
pub struct SessionPort {
    /// Where input goes.
    pub input: PortInput,
    /// The flags and caps output is rendered for.
    pub view: PortView,
    rx: PortReceiver,
}

impl SessionPort {
    /// Opens a session with the core: its id and port, or why it was refused.
    pub async fn open(
        core: &mpsc::Sender<CoreEvent>,
        protocol: Protocol,
        peer: SocketAddr,
        limits: &Limits,
    ) -> Result<Self, Refused> {
        let stopping = || Refused("The portal is shutting down.".into());
        let (handle, rx) = mpsc::channel(SESSION_CHANNEL);
        let (close, close_rx) = oneshot::channel();
        let (reply, answer) = oneshot::channel();
        let open = CoreEvent::Open {
            protocol,
            peer,
            handle,
            close,
            reply,
        };
        core.send(open).await.map_err(|_| stopping())?;
        let opened = answer.await.map_err(|_| stopping())?.map_err(Refused)?;
        let id = opened.id;
        tracing::Span::current().record("session", id);
        tracing::info!("connected");
        Ok(SessionPort {
            input: PortInput {
                id,
                core: core.clone(),
                max_line: limits.max_line_length,
                meter: Arc::new(Mutex::new(InputMeter::new(limits))),
                upstream: opened.upstream,
            },
            view: PortView::default(),
            rx: PortReceiver {
                rx,
                close: Some(close_rx),
            },
        })
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.input.id
    }

    /// The capabilities to render for.
    pub fn caps(&self) -> &ClientCaps {
        self.view.caps()
    }

    /// Records what the front end learnt about the client and tells the core.
    pub async fn set_flags(&mut self, mut flags: Map<String, Value>) -> Result<(), Stopped> {
        bound(&mut flags);
        if flags.is_empty() {
            return Ok(());
        }
        self.view.merge(&flags);
        self.input.flags(flags).await
    }

    /// The next thing the core sends. Flag changes from the server are applied to the view
    /// here and not returned. Cancel-safe (for `select!`).
    pub async fn recv(&mut self) -> FromCore {
        let view = &mut self.view;
        self.rx.recv_with(|flags| view.merge(flags)).await
    }

    /// The core's close signal alone; see [`PortReceiver::close_signal`].
    pub async fn close_signal(&mut self) -> FromCore {
        self.rx.close_signal().await
    }

    /// The parts, for a front end whose session outlives its connections (the web's): the
    /// input side for each transport, the view, and what the core sends for the task that
    /// renders it.
    pub fn into_parts(self) -> (PortInput, PortView, PortReceiver) {
        (self.input, self.view, self.rx)
    }

    /// The session ended.
    pub async fn closed(self, reason: CloseReason) {
        self.input.closed(reason).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_on_character_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("🎉🎉", 5), "🎉");
    }

    #[test]
    fn close_reasons_read_as_before() {
        assert_eq!(CloseReason::ClientClosed.to_string(), "closed by client");
        assert_eq!(
            CloseReason::NegotiationStorm.to_string(),
            "telnet negotiation storm"
        );
        assert_eq!(
            CloseReason::OutputOverflow.to_string(),
            "output buffer overflow (client not reading)"
        );
        assert_eq!(
            CloseReason::ExecFinished(3).to_string(),
            "exec finished with status 3"
        );
    }

    #[tokio::test]
    async fn a_close_through_the_signal_goes_before_a_full_queue_and_interrupts_a_wait() {
        let (handle, rx) = mpsc::channel(2);
        let (close, close_rx) = oneshot::channel();
        let mut port = PortReceiver {
            rx,
            close: Some(close_rx),
        };
        handle.try_send(ToSession::DataOut(vec![])).unwrap();
        handle.try_send(ToSession::DataOut(vec![])).unwrap();
        assert!(handle.try_send(ToSession::Disconnect("x".into())).is_err());
        close.send(Some("Goodbye.".into())).unwrap();
        assert!(
            matches!(port.recv_with(|_| {}).await, FromCore::Disconnect(r) if r == "Goodbye."),
            "the close waited behind the queue"
        );
        // A front end waiting on something else hears it too; without a signal it waits.
        let (_handle, rx) = mpsc::channel::<ToSession>(1);
        let (close, close_rx) = oneshot::channel();
        let mut port = PortReceiver {
            rx,
            close: Some(close_rx),
        };
        close.send(None).unwrap();
        assert!(matches!(port.close_signal().await, FromCore::Gone));
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(20), port.close_signal()).await;
        assert!(waited.is_err(), "a spent signal fired again");
    }

    #[tokio::test]
    async fn flag_changes_from_the_core_reach_the_caps_and_are_not_returned() {
        let (core, mut events) = mpsc::channel(4);
        let opener = tokio::spawn(async move {
            SessionPort::open(
                &core,
                Protocol::Ssh,
                SocketAddr::from(([127, 0, 0, 1], 5)),
                &Limits {
                    max_line_length: 10,
                    ..Limits::default()
                },
            )
            .await
        });
        let Some(CoreEvent::Open { handle, reply, .. }) = events.recv().await else {
            panic!("expected open");
        };
        reply
            .send(Ok(super::super::core::Opened {
                id: 7,
                upstream: None,
            }))
            .unwrap();
        let mut port = opener.await.unwrap().unwrap();
        assert_eq!(port.id(), 7);
        let mut f = Map::new();
        f.insert("SCREENREADER".into(), Value::Bool(true));
        handle.send(ToSession::SetFlags(f)).await.unwrap();
        handle
            .send(ToSession::DataOut(vec![Message::text("x")]))
            .await
            .unwrap();
        assert!(matches!(port.recv().await, FromCore::DataOut(_)));
        assert!(port.caps().screen_reader);
        drop(handle);
        assert!(matches!(port.recv().await, FromCore::Gone));
        assert_eq!(port.input.cut("abcdefghijkl").0, "abcdefghij");
        assert!(port.input.cut("abc").1.is_none());
    }
}
