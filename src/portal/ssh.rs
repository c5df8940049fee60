//! The SSH front end: russh underneath, one portal session per connection.
//!
//! The russh [`Handler`] is a thin adapter (as in warpgate): authentication is asked of the
//! server over the link (the server owns the accounts) and every channel event becomes an
//! [`SshEvent`] on a bounded channel to the connection's task, which owns all session state:
//! the line editor, protocol_flags, the bounded output. No callback waits on that task, so a
//! slow player never stalls russh's connection loop; a client that floods past the event
//! bound is disconnected.
//!
//! Flow: authenticate (password, public key or keyboard-interactive, decided by the server;
//! or the registration user, which gets the connection screen) → one session channel → a PTY
//! (TERM and size become protocol_flags, like TTYPE and NAWS on telnet) → `shell` (the server
//! logs the account in: no connection screen) or `exec` (one talker command, then its exit
//! status). With a PTY the portal runs a line editor; without one, input is taken line by
//! line and nothing is echoed.

use super::core::{AuthAnswer, CoreEvent, SESSION_CHANNEL, ToSession};
use super::flags::{colour_level, term_flags};
use super::output::Output;
use crate::config::{Limits, SshConfig};
use crate::lineedit::{EditEvent, LineEditor};
use crate::link::AuthMethod;
use crate::markup;
use crate::message::Message;
use crate::session::{SessionId, merge_flags, protocol};
use russh::keys::PrivateKey;
use russh::server::{
    Auth, ChannelOpenHandle, Handle, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId, Disconnect, MethodKind, MethodSet, Preferred, SshId};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// What the server says it is. No library or version is revealed.
pub const SERVER_ID: &str = "SSH-2.0-Portcullis";
/// Events one connection may have waiting for its task.
const EVENT_CHANNEL: usize = 256;
/// How long an authentication waits for the server (it may be restarting).
const AUTH_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Output messages held for a session whose shell has not started yet.
const MAX_EARLY_OUTPUT: usize = 500;
/// How long a closed session waits for the client to hang up before the server does.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Lines of input history per session.
const HISTORY: usize = 100;

/// Key exchanges offered: russh's safe list without the 2048-bit group 14 (112-bit strength).
/// The post-quantum hybrid is used where the build supports it.
const KEX: &[russh::kex::Name] = &[
    russh::kex::MLKEM768X25519_SHA256,
    russh::kex::CURVE25519,
    russh::kex::CURVE25519_PRE_RFC_8731,
    russh::kex::DH_GEX_SHA256,
    russh::kex::DH_G18_SHA512,
    russh::kex::DH_G17_SHA512,
    russh::kex::DH_G16_SHA512,
    russh::kex::DH_G15_SHA512,
    russh::kex::EXTENSION_SUPPORT_AS_SERVER,
    russh::kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// MACs offered: encrypt-then-MAC only (AEAD ciphers need none).
const MACS: &[russh::mac::Name] = &[russh::mac::HMAC_SHA512_ETM, russh::mac::HMAC_SHA256_ETM];

/// The russh server configuration for these host keys and settings.
pub fn russh_config(cfg: &SshConfig, keys: Vec<PrivateKey>) -> russh::server::Config {
    russh::server::Config {
        server_id: SshId::Standard(Cow::Borrowed(SERVER_ID)),
        methods: MethodSet::from(METHODS),
        auth_rejection_time: Duration::from_millis(cfg.auth_rejection_delay_ms),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys,
        max_auth_attempts: cfg.max_auth_attempts,
        // The portal's own idle timeout applies; keepalives find dead peers.
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(cfg.keepalive_secs.max(1))),
        keepalive_max: 3,
        nodelay: true,
        preferred: Preferred {
            key: Cow::Borrowed(crate::keys::HOST_KEY_ALGORITHMS),
            kex: Cow::Borrowed(KEX),
            mac: Cow::Borrowed(MACS),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    }
}

/// Settings every SSH connection task needs.
#[derive(Clone)]
pub struct SshShared {
    /// russh's configuration (host keys and algorithms).
    pub config: Arc<russh::server::Config>,
    /// Portal limits.
    pub limits: Arc<Limits>,
    /// The user that may skip authentication to reach the connection screen, if any.
    pub registration_user: Option<String>,
    /// Time allowed to authenticate.
    pub auth_timeout: Duration,
}

/// Accepts SSH connections until `stop` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    core: mpsc::Sender<CoreEvent>,
    shared: SshShared,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    super::accept_each(listener, stop, |stream, peer| {
        let core = core.clone();
        let shared = shared.clone();
        let span = tracing::info_span!("conn", protocol = protocol::SSH, %peer, session = tracing::field::Empty);
        tokio::spawn(run_connection(stream, peer, core, shared).instrument(span));
    })
    .await;
}

/// Channel events, from the russh handler to the connection task.
enum SshEvent {
    /// Authentication succeeded as this user.
    Authenticated { user: String },
    /// The session channel opened; output goes to `writer`.
    ChannelOpen {
        channel: ChannelId,
        writer: Pin<Box<dyn AsyncWrite + Send>>,
    },
    /// A PTY was requested.
    Pty { term: String, cols: u32, rows: u32 },
    /// The client resized its terminal.
    WindowChange { cols: u32, rows: u32 },
    /// An interactive shell was requested.
    Shell,
    /// One command was requested.
    Exec(Vec<u8>),
    /// Keystrokes or input bytes.
    Data(Vec<u8>),
    /// The channel closed.
    Closed,
}

/// Errors that end an SSH connection from the handler.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// russh failed.
    #[error("ssh: {0}")]
    Russh(#[from] russh::Error),
    /// The client sent more than the connection task could take in.
    #[error("input flood: the client sent faster than the session could take it")]
    Flood,
}

/// The russh handler: a thin adapter that asks the core and forwards events.
struct SshHandler {
    id: SessionId,
    core: mpsc::Sender<CoreEvent>,
    events: mpsc::Sender<SshEvent>,
    registration_user: Option<String>,
    channel: Option<ChannelId>,
    max_line: usize,
}

impl SshHandler {
    fn forward(&self, ev: SshEvent) -> Result<(), SshError> {
        self.events.try_send(ev).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                tracing::warn!("ssh event queue full; disconnecting");
                SshError::Flood
            }
            // The connection task is gone; the connection is ending anyway.
            mpsc::error::TrySendError::Closed(_) => SshError::Flood,
        })
    }

    /// Asks the server whether `user` may log in this way.
    async fn ask(&self, user: &str, method: AuthMethod) -> Auth {
        let (reply, answer) = oneshot::channel();
        let ev = CoreEvent::Auth {
            id: self.id,
            username: user.to_string(),
            method,
            reply,
        };
        if self.core.send(ev).await.is_err() {
            return Auth::reject();
        }
        match tokio::time::timeout(AUTH_ANSWER_TIMEOUT, answer).await {
            Ok(Ok(AuthAnswer { accepted: true, .. })) => Auth::Accept,
            Ok(Ok(AuthAnswer { reason, .. })) => {
                tracing::info!(
                    user,
                    reason = reason.as_deref().unwrap_or(""),
                    "ssh authentication rejected"
                );
                retry()
            }
            _ => {
                tracing::warn!(user, "no answer from the server to an ssh authentication");
                retry()
            }
        }
    }

    fn accepted(&self, auth: Auth, user: &str) -> Result<Auth, SshError> {
        if auth == Auth::Accept {
            self.forward(SshEvent::Authenticated {
                user: user.to_string(),
            })?;
        }
        Ok(auth)
    }
}

/// The methods a client may use.
const METHODS: &[MethodKind] = &[
    MethodKind::PublicKey,
    MethodKind::Password,
    MethodKind::KeyboardInteractive,
];

/// A rejection that leaves every method open, so a mistyped password can be tried again
/// (russh otherwise drops the method that failed); `max_auth_attempts` still applies.
fn retry() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(METHODS)),
        partial_success: false,
    }
}

/// `type base64` of a public key, without its comment.
fn canonical_key(key: &russh::keys::PublicKey) -> Option<String> {
    let line = key.to_openssh().ok()?;
    let mut parts = line.split_whitespace();
    Some(format!("{} {}", parts.next()?, parts.next()?))
}

impl russh::server::Handler for SshHandler {
    type Error = SshError;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        if self.registration_user.as_deref() == Some(user) {
            tracing::info!(
                user,
                "registration user: connection screen without authentication"
            );
            return self.accepted(Auth::Accept, user);
        }
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let auth = self
            .ask(
                user,
                AuthMethod::Password {
                    password: password.to_string(),
                },
            )
            .await;
        self.accepted(auth, user)
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let Some(key) = canonical_key(offer.public_key) else {
            return Ok(Auth::reject());
        };
        Ok(self
            .ask(
                user,
                AuthMethod::PublicKey {
                    key,
                    verified: false,
                },
            )
            .await)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let Some(key) = canonical_key(key.public_key) else {
            return Ok(Auth::reject());
        };
        let auth = self
            .ask(
                user,
                AuthMethod::PublicKey {
                    key,
                    verified: true,
                },
            )
            .await;
        self.accepted(auth, user)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
            });
        };
        let Some(answer) = response.next() else {
            return Ok(Auth::reject());
        };
        let password = String::from_utf8_lossy(&answer).into_owned();
        let auth = self.ask(user, AuthMethod::Password { password }).await;
        self.accepted(auth, user)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.channel.is_some() {
            tracing::info!("second session channel refused");
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.channel = Some(channel.id());
        let writer: Pin<Box<dyn AsyncWrite + Send>> = Box::pin(channel.make_writer());
        self.forward(SshEvent::ChannelOpen {
            channel: channel.id(),
            writer,
        })?;
        // Events reach us through the handler callbacks; the channel object itself is not
        // read, so it is dropped rather than left to fill up.
        drop(channel);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        self.forward(SshEvent::Pty {
            term: term.chars().take(64).collect(),
            cols: col_width,
            rows: row_height,
        })
    }

    async fn window_change_request(
        &mut self,
        _channel: ChannelId,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(SshEvent::WindowChange {
            cols: col_width,
            rows: row_height,
        })
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        self.forward(SshEvent::Shell)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if data.len() > self.max_line {
            session.channel_failure(channel)?;
            return Ok(());
        }
        session.channel_success(channel)?;
        self.forward(SshEvent::Exec(data.to_vec()))
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(subsystem = name, "subsystem refused");
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn data(
        &mut self,
        _channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(SshEvent::Data(data.to_vec()))
    }

    async fn channel_close(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(SshEvent::Closed)
    }
}

/// Whether the session runs a shell, one command, or nothing yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Authenticated (or not) but no shell or command yet.
    Waiting,
    /// Interactive.
    Shell,
    /// One command; ends with its exit status.
    Exec,
}

/// One connection's state, owned by its task.
struct SshConn {
    id: SessionId,
    core: mpsc::Sender<CoreEvent>,
    handle: Handle,
    limits: Arc<Limits>,
    flags: Map<String, Value>,
    mode: Mode,
    channel: Option<ChannelId>,
    output: Option<Output>,
    /// Whether the client asked for a PTY (then the line editor runs).
    pty: bool,
    editor: LineEditor,
    /// Input bytes of the current line without a PTY.
    raw_line: Vec<u8>,
    /// Whether the current raw line overflowed (the rest is discarded).
    raw_overflow: bool,
    /// Output that arrived before the shell started.
    early: VecDeque<Message>,
    authenticated: bool,
}

async fn run_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    core: mpsc::Sender<CoreEvent>,
    shared: SshShared,
) {
    let (handle_tx, mut rx) = mpsc::channel(SESSION_CHANNEL);
    let (reply, answer) = oneshot::channel();
    let open = CoreEvent::Open {
        protocol_key: protocol::SSH,
        address: peer.ip(),
        handle: handle_tx,
        reply,
    };
    if core.send(open).await.is_err() {
        return;
    }
    let id = match answer.await {
        Ok(Ok(id)) => id,
        Ok(Err(reason)) => {
            tracing::info!(%reason, "ssh connection refused");
            return;
        }
        Err(_) => return,
    };
    tracing::Span::current().record("session", id);
    tracing::info!("connected");

    let (ev_tx, mut ev_rx) = mpsc::channel(EVENT_CHANNEL);
    let handler = SshHandler {
        id,
        core: core.clone(),
        events: ev_tx,
        registration_user: shared.registration_user.clone(),
        channel: None,
        max_line: shared.limits.max_line_length,
    };
    let deadline = tokio::time::Instant::now() + shared.auth_timeout;
    let started = tokio::time::timeout_at(
        deadline,
        russh::server::run_stream(shared.config.clone(), stream, handler),
    )
    .await;
    let mut running = match started {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "ssh handshake failed");
            let _ = core
                .send(CoreEvent::Closed {
                    id,
                    reason: format!("ssh handshake failed: {e}"),
                })
                .await;
            return;
        }
        Err(_) => {
            let _ = core
                .send(CoreEvent::Closed {
                    id,
                    reason: "no ssh identification in time".into(),
                })
                .await;
            return;
        }
    };
    let mut conn = SshConn {
        id,
        core: core.clone(),
        handle: running.handle(),
        limits: shared.limits.clone(),
        flags: crate::session::default_flags(),
        mode: Mode::Waiting,
        channel: None,
        output: None,
        pty: false,
        editor: LineEditor::new(shared.limits.max_line_length, HISTORY),
        raw_line: Vec::new(),
        raw_overflow: false,
        early: VecDeque::new(),
        authenticated: false,
    };
    // Whether russh's connection task has ended (it must not be awaited again).
    let mut ended = false;
    let reason: String = loop {
        tokio::select! {
            r = &mut running, if !ended => {
                ended = true;
                break match r {
                    Ok(()) => "closed by client".into(),
                    Err(e) => format!("{e}"),
                };
            }
            cmd = rx.recv() => match cmd {
                Some(ToSession::DataOut(msgs)) => {
                    if let Some(done) = conn.data_out(msgs).await {
                        break done;
                    }
                }
                Some(ToSession::SetFlags(flags)) => merge_flags(&mut conn.flags, &flags),
                Some(ToSession::Disconnect(reason)) => {
                    conn.close(&reason).await;
                    break reason;
                }
                None => {
                    conn.close("Output buffer overflow.").await;
                    break "output buffer overflow (client not reading)".into();
                }
            },
            ev = ev_rx.recv() => match ev {
                Some(ev) => {
                    if let Some(reason) = conn.event(ev).await {
                        break reason;
                    }
                }
                None => break "ssh connection ended".into(),
            },
            _ = tokio::time::sleep_until(deadline), if !conn.authenticated => {
                tracing::info!("ssh authentication timed out");
                let _ = conn.handle.disconnect(
                    Disconnect::ByApplication,
                    "authentication timed out".into(),
                    String::new(),
                ).await;
                break "authentication timed out".into();
            }
        }
        if let Some(out) = &conn.output
            && !out.wait_below_limit().await
        {
            tracing::warn!(limit = out.limit(), "output buffer overflow; disconnecting");
            let _ = conn
                .handle
                .disconnect(
                    Disconnect::ByApplication,
                    "output buffer overflow".into(),
                    String::new(),
                )
                .await;
            break "output buffer overflow (client not reading)".into();
        }
    };
    if let Some(out) = conn.output.take() {
        out.finish().await;
    }
    // The channel is closed by now; let the client hang up itself, so that it shows all it
    // received (OpenSSH drops buffered output when a DISCONNECT arrives with it), then cut.
    if !ended
        && tokio::time::timeout(CLOSE_GRACE, &mut running)
            .await
            .is_err()
    {
        let _ = conn
            .handle
            .disconnect(Disconnect::ByApplication, reason.clone(), String::new())
            .await;
    }
    tracing::info!(%reason, "disconnected");
    let _ = core.send(CoreEvent::Closed { id, reason }).await;
}

impl SshConn {
    fn push(&mut self, bytes: Vec<u8>) {
        if let Some(out) = &mut self.output {
            out.push(bytes);
        }
    }

    async fn send_flags(&mut self, flags: Map<String, Value>) {
        merge_flags(&mut self.flags, &flags);
        let _ = self
            .core
            .send(CoreEvent::Flags { id: self.id, flags })
            .await;
    }

    async fn data_in(&mut self, messages: Vec<Message>) {
        let _ = self
            .core
            .send(CoreEvent::DataIn {
                id: self.id,
                messages,
            })
            .await;
    }

    /// Handles one event from the handler; `Some(reason)` ends the connection.
    async fn event(&mut self, ev: SshEvent) -> Option<String> {
        match ev {
            SshEvent::Authenticated { user } => {
                tracing::info!(%user, "ssh authenticated");
                self.authenticated = true;
            }
            SshEvent::ChannelOpen { channel, writer } => {
                self.channel = Some(channel);
                self.output = Some(Output::start(writer, self.limits.output_buffer_bytes));
            }
            SshEvent::Pty { term, cols, rows } => {
                self.pty = true;
                let mut flags = Map::new();
                flags.insert("TERM".into(), Value::from(term.clone()));
                flags.insert("CLIENTNAME".into(), Value::from(term.clone()));
                flags.insert("UTF-8".into(), Value::Bool(true));
                term_flags(&term, &mut flags);
                size_flags(cols, rows, &mut flags);
                let mut out = Vec::new();
                self.editor.set_width(clamp_u16(cols), &mut out);
                self.send_flags(flags).await;
            }
            SshEvent::WindowChange { cols, rows } => {
                let mut flags = Map::new();
                size_flags(cols, rows, &mut flags);
                let mut out = Vec::new();
                self.editor.set_width(clamp_u16(cols), &mut out);
                self.push(out);
                self.send_flags(flags).await;
            }
            SshEvent::Shell => {
                if self.mode == Mode::Waiting {
                    self.mode = Mode::Shell;
                    self.data_in(vec![Message::new("ssh_shell")]).await;
                    let early: Vec<Message> = self.early.drain(..).collect();
                    if let Some(done) = self.render(early).await {
                        return Some(done);
                    }
                }
            }
            SshEvent::Exec(command) => {
                if self.mode == Mode::Waiting {
                    self.mode = Mode::Exec;
                    self.early.clear();
                    let command = markup::sanitize_input(&String::from_utf8_lossy(&command));
                    let mut m = Message::new("ssh_exec");
                    m.args.push(Value::from(command));
                    self.data_in(vec![m]).await;
                }
            }
            SshEvent::Data(bytes) => {
                if self.mode == Mode::Shell {
                    return self.input(&bytes).await;
                }
            }
            SshEvent::Closed => return Some("channel closed by client".into()),
        }
        None
    }

    /// Player input in a shell.
    async fn input(&mut self, bytes: &[u8]) -> Option<String> {
        let mut lines = Vec::new();
        if self.pty {
            let mut out = Vec::new();
            let mut events = Vec::new();
            self.editor.feed(bytes, &mut out, &mut events);
            self.push(out);
            for ev in events {
                match ev {
                    EditEvent::Line(line) => lines.push(line),
                    EditEvent::Eof => {
                        self.close("Goodbye.").await;
                        return Some("quit (Ctrl-D)".into());
                    }
                    EditEvent::Interrupt | EditEvent::TooLong { .. } => {}
                }
            }
        } else {
            let max = self.limits.max_line_length;
            for &b in bytes {
                match b {
                    b'\n' => {
                        if !self.raw_overflow {
                            let raw = std::mem::take(&mut self.raw_line);
                            lines.push(String::from_utf8_lossy(&raw).into_owned());
                        }
                        self.raw_line.clear();
                        self.raw_overflow = false;
                    }
                    b'\r' => {}
                    _ if self.raw_line.len() >= max => {
                        if !self.raw_overflow {
                            self.raw_overflow = true;
                            let cut = std::mem::take(&mut self.raw_line);
                            lines.push(String::from_utf8_lossy(&cut).into_owned());
                            self.push(
                                format!(
                                    "Your line was longer than {max} bytes; only the first {max} were kept.\n"
                                )
                                .into_bytes(),
                            );
                        }
                    }
                    _ => self.raw_line.push(b),
                }
            }
        }
        for line in lines {
            let line = markup::sanitize_input(&line);
            self.data_in(vec![Message::text(line)]).await;
        }
        None
    }

    /// Output from the server.
    async fn data_out(&mut self, msgs: Vec<Message>) -> Option<String> {
        if self.mode == Mode::Waiting || self.output.is_none() {
            for m in msgs {
                if self.early.len() >= MAX_EARLY_OUTPUT {
                    tracing::warn!(
                        "output before the shell started exceeds the bound; oldest dropped"
                    );
                    self.early.pop_front();
                }
                self.early.push_back(m);
            }
            return None;
        }
        self.render(msgs).await
    }

    /// Renders messages to the client. `Some(reason)` when the session ends (exit status).
    async fn render(&mut self, msgs: Vec<Message>) -> Option<String> {
        // Without a terminal (exec, `ssh -T`) output is plain text: it is likely piped.
        let level = if self.pty {
            colour_level(&self.flags)
        } else {
            markup::ColourLevel::None
        };
        let nl = if self.pty { "\r\n" } else { "\n" };
        for m in msgs {
            if let Some(echo) = m.echo()
                && self.pty
            {
                self.editor.set_hidden(!echo);
            }
            match m.name.as_str() {
                "text" => {
                    for arg in &m.args {
                        let Some(s) = arg.as_str() else { continue };
                        let text = markup::render(s, level);
                        if self.pty {
                            let mut out = Vec::new();
                            self.editor
                                .print_above(&text.replace('\n', "\r\n"), &mut out);
                            self.push(out);
                        } else {
                            self.push(format!("{text}{nl}").into_bytes());
                        }
                    }
                }
                "prompt" => {
                    let text = markup::render(m.first_str().unwrap_or(""), level);
                    if self.pty {
                        let mut out = Vec::new();
                        self.editor.set_prompt(&text, &mut out);
                        self.push(out);
                    } else if !text.is_empty() {
                        self.push(text.into_bytes());
                    }
                }
                "exit_status" => {
                    let code = m
                        .args
                        .first()
                        .and_then(Value::as_u64)
                        .and_then(|c| u32::try_from(c).ok())
                        .unwrap_or(1);
                    self.finish_exec(code).await;
                    return Some(format!("exec finished with status {code}"));
                }
                other => tracing::debug!(name = other, "message not supported over ssh; ignored"),
            }
        }
        None
    }

    /// Ends an exec channel: flush output, exit status, EOF, close.
    async fn finish_exec(&mut self, code: u32) {
        if let Some(out) = self.output.take() {
            out.finish().await;
        }
        if let Some(ch) = self.channel {
            let _ = self.handle.exit_status_request(ch, code).await;
            let _ = self.handle.eof(ch).await;
            let _ = self.handle.close(ch).await;
        }
    }

    /// Shows `reason`, flushes, and closes the channel (the connection ends after it).
    async fn close(&mut self, reason: &str) {
        let text = if self.pty {
            format!("\r\n{reason}\r\n")
        } else {
            format!("{reason}\n")
        };
        self.push(text.into_bytes());
        if let Some(out) = self.output.take() {
            out.finish().await;
        }
        if let Some(ch) = self.channel {
            let _ = self.handle.eof(ch).await;
            let _ = self.handle.close(ch).await;
        }
    }
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn size_flags(cols: u32, rows: u32, flags: &mut Map<String, Value>) {
    if cols > 0 {
        flags.insert("SCREENWIDTH".into(), Value::from(clamp_u16(cols)));
    }
    if rows > 0 {
        flags.insert("SCREENHEIGHT".into(), Value::from(clamp_u16(rows)));
    }
}
