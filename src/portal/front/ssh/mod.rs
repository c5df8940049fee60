//! The SSH front end: russh underneath, one portal session per connection.
//!
//! The russh handler ([`handler`]) is a thin adapter; the connection's task owns all session
//! state: its [`SessionPort`] (flags, caps, the way to the core), the line editor and the
//! bounded output. What is SSH's own lives here: channels, the PTY, the line editor, exec.
//!
//! Flow: authenticate (password, public key or keyboard-interactive, decided by the server;
//! or the registration user, which gets the connection screen) → one session channel → a PTY
//! (TERM and size become protocol_flags, like TTYPE and NAWS on telnet) → `shell` (the server
//! logs the account in: no connection screen) or `exec` (one talker command, then its exit
//! status). With a PTY the portal runs a line editor; without one, input is taken line by
//! line and nothing is echoed.

mod handler;

use crate::codec::lineedit::{EditEvent, LineEditor};
use crate::portal::core::CoreEvent;
use crate::portal::flags::term_flags;
use crate::portal::output::Output;
use crate::portal::port::{CloseReason, FromCore, SessionPort, line_too_long};
use crate::portal::repeats;
use crate::portal::slots::{Slot, Slots};
use crate::shared::config::{Limits, SshConfig};
use crate::shared::message::{Kind, Message};
use crate::shared::session::{Protocol, flag};
use handler::{METHODS, SshEvent, SshHandler};
use russh::keys::PrivateKey;
use russh::server::Handle;
use russh::{ChannelId, Disconnect, MethodSet, Preferred, SshId};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::Instrument;

/// What the server says it is. No library or version is revealed.
pub const SERVER_ID: &str = "SSH-2.0-Portcullis";
/// Events one connection may have waiting for its task.
const EVENT_CHANNEL: usize = 256;
/// Output messages held for a session whose shell has not started yet.
const MAX_EARLY_OUTPUT: usize = 500;
/// How long a closed session waits for the client to hang up before the server does.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Lines of input history per session.
const HISTORY: usize = 100;
/// SSH connections one address may have open before authenticating (key exchange and
/// authentication in progress): enough for a household behind one NAT logging in at once, too
/// few for one address to hold the portal's connections with handshakes it never finishes.
pub const HANDSHAKES_PER_ADDRESS: usize = 4;

/// Key exchanges offered, cheap ones only: anyone may ask for one before authenticating, so
/// an 8192-bit group (18) or a group of the client's choosing (GEX) would let a stranger spend
/// the portal's CPU at will. Curve25519 (and the post-quantum hybrid, where the build supports
/// it) for every current client, and the 4096-bit group 16 for old ones (RFC 8268's SHOULD);
/// not the 2048-bit group 14 (112-bit strength).
const KEX: &[russh::kex::Name] = &[
    russh::kex::MLKEM768X25519_SHA256,
    russh::kex::CURVE25519,
    russh::kex::CURVE25519_PRE_RFC_8731,
    russh::kex::DH_G16_SHA512,
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
            key: Cow::Borrowed(crate::ops::keys::HOST_KEY_ALGORITHMS),
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
    /// Gateway mode with `ssh_auth = "none"`: any user name, no authentication (the game
    /// behind runs its own login).
    pub anyone: bool,
    /// Time allowed to authenticate.
    pub auth_timeout: Duration,
    /// Connections not yet authenticated, in all and per address
    /// ([`HANDSHAKES_PER_ADDRESS`]).
    pub handshakes: Arc<Slots>,
}

/// Accepts SSH connections until `stop` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    core: mpsc::Sender<CoreEvent>,
    shared: SshShared,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let proxies = crate::portal::proxy_in::TrustedProxies::of(&shared.limits);
    crate::portal::accept_each(listener, stop, proxies, |stream, peer| {
        let core = core.clone();
        let shared = shared.clone();
        let span = tracing::info_span!("conn", protocol = Protocol::Ssh.key(), %peer, session = tracing::field::Empty);
        tokio::spawn(run_connection(stream, peer, core, shared).instrument(span));
    })
    .await;
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

/// What the SSH side of one connection owns.
struct SshConn {
    /// russh's handle, to close channels and the connection.
    handle: Handle,
    mode: Mode,
    channel: Option<ChannelId>,
    output: Option<Output>,
    /// Bound on queued output bytes.
    output_limit: usize,
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
    /// The connection's place among unauthenticated ones; given back on authentication.
    handshake: Option<Slot>,
}

async fn run_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    core: mpsc::Sender<CoreEvent>,
    shared: SshShared,
) {
    let max_line = shared.limits.max_line_length;
    // Held until the connection authenticates.
    let key = crate::shared::addr::limit_key(peer.ip(), shared.limits.ipv6_prefix);
    let handshake = match shared.handshakes.take(key) {
        Ok(slot) => slot,
        Err(full) => {
            if repeats::refused(
                peer.ip(),
                "ssh connections refused: too many unauthenticated",
            ) {
                tracing::warn!(
                    ?full,
                    limit = HANDSHAKES_PER_ADDRESS,
                    "ssh connection refused: too many unauthenticated from this address"
                );
            }
            return;
        }
    };
    let mut port = match SessionPort::open(&core, Protocol::Ssh, peer, &shared.limits).await {
        Ok(port) => port,
        Err(refused) => {
            // The core logged why (summed up when it repeats).
            tracing::debug!(%refused, "ssh connection refused");
            return;
        }
    };
    // The transport is encrypted.
    let mut flags = Map::new();
    flags.insert(flag::SSL.into(), Value::Bool(true));
    let _ = port.set_flags(flags).await;

    let (ev_tx, mut ev_rx) = mpsc::channel(EVENT_CHANNEL);
    let handler = SshHandler::new(
        port.input.clone(),
        ev_tx,
        shared.registration_user.clone(),
        shared.anyone,
    );
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
            port.closed(CloseReason::SshHandshake(e.to_string())).await;
            return;
        }
        Err(_) => {
            port.closed(CloseReason::SshNoIdentification).await;
            return;
        }
    };
    let mut conn = SshConn {
        handle: running.handle(),
        mode: Mode::Waiting,
        channel: None,
        output: None,
        output_limit: shared.limits.output_buffer_bytes,
        pty: false,
        editor: LineEditor::new(max_line, HISTORY),
        raw_line: Vec::new(),
        raw_overflow: false,
        early: VecDeque::new(),
        authenticated: false,
        handshake: Some(handshake),
    };
    // Whether russh's connection task has ended (it must not be awaited again).
    let mut ended = false;
    let reason = loop {
        let paused = port.input.resume_at();
        tokio::select! {
            r = &mut running, if !ended => {
                ended = true;
                break match r {
                    Ok(()) => CloseReason::ClientClosed,
                    Err(e) => CloseReason::Ssh(e.to_string()),
                };
            }
            from_core = port.recv() => match from_core {
                FromCore::DataOut(msgs) => conn.data_out(&port, msgs),
                FromCore::ExitStatus(code) => {
                    conn.finish_exec(code).await;
                    break CloseReason::ExecFinished(code);
                }
                FromCore::Disconnect(reason) => {
                    conn.close(&reason).await;
                    break CloseReason::Disconnected(reason);
                }
                FromCore::ServerStatus(_) => {}
                FromCore::Gone => {
                    conn.close("Output buffer overflow.").await;
                    break CloseReason::OutputOverflow;
                }
            },
            // Over its input allowance, the session's events wait (and russh, then TCP,
            // push back on the client).
            () = tokio::time::sleep_until(paused.unwrap_or_else(std::time::Instant::now).into()), if paused.is_some() => {}
            ev = ev_rx.recv(), if paused.is_none() => match ev {
                Some(ev) => {
                    if let Err(reason) = conn.event(&mut port, ev).await {
                        break reason;
                    }
                }
                None => break CloseReason::Ssh("ssh connection ended".into()),
            },
            _ = tokio::time::sleep_until(deadline), if !conn.authenticated => {
                tracing::info!("ssh authentication timed out");
                let _ = conn.handle.disconnect(
                    Disconnect::ByApplication,
                    "authentication timed out".into(),
                    String::new(),
                ).await;
                break CloseReason::AuthTimeout;
            }
        }
        let drained = match &conn.output {
            // A client slow to take its output holds the loop here; the core's close does
            // not wait for it.
            Some(out) => tokio::select! {
                drained = out.wait_below_limit() => drained,
                closed = port.close_signal() => match closed {
                    FromCore::Disconnect(reason) => break CloseReason::Disconnected(reason),
                    _ => break CloseReason::OutputOverflow,
                },
            },
            None => true,
        };
        if let Some(out) = &conn.output
            && !drained
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
            break CloseReason::OutputOverflow;
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
            .disconnect(Disconnect::ByApplication, reason.to_string(), String::new())
            .await;
    }
    port.closed(reason).await;
}

impl SshConn {
    fn push(&mut self, bytes: Vec<u8>) {
        if let Some(out) = &mut self.output {
            out.push(bytes);
        }
    }

    /// Handles one event from the handler; `Err(reason)` ends the connection.
    async fn event(&mut self, port: &mut SessionPort, ev: SshEvent) -> Result<(), CloseReason> {
        match &ev {
            SshEvent::Data(bytes) => {
                let lines = bytes.iter().filter(|b| matches!(b, b'\r' | b'\n')).count();
                port.input.charge(bytes.len(), lines.max(1));
            }
            _ => port.input.charge(0, 1),
        }
        match ev {
            SshEvent::Authenticated { user } => {
                tracing::info!(%user, "ssh authenticated");
                self.authenticated = true;
                self.handshake = None;
                if port.input.upstream() {
                    // A game behind the gateway is offered the user name (NEW-ENVIRON USER).
                    let mut flags = Map::new();
                    flags.insert(flag::USER.into(), Value::from(user));
                    port.set_flags(flags).await?;
                }
            }
            SshEvent::ChannelOpen { channel, writer } => {
                self.channel = Some(channel);
                self.output = Some(Output::start(writer, self.output_limit));
            }
            SshEvent::Pty { term, cols, rows } => {
                self.pty = true;
                let mut flags = Map::new();
                flags.insert(flag::TERM.into(), Value::from(term.clone()));
                flags.insert(flag::CLIENTNAME.into(), Value::from(term.clone()));
                flags.insert(flag::UTF8.into(), Value::Bool(true));
                term_flags(&term, &mut flags);
                size_flags(cols, rows, &mut flags);
                let mut out = Vec::new();
                self.editor.set_width(clamp_u16(cols), &mut out);
                port.set_flags(flags).await?;
            }
            SshEvent::WindowChange { cols, rows } => {
                let mut flags = Map::new();
                size_flags(cols, rows, &mut flags);
                let mut out = Vec::new();
                self.editor.set_width(clamp_u16(cols), &mut out);
                self.push(out);
                port.set_flags(flags).await?;
            }
            SshEvent::Shell => {
                if self.mode == Mode::Waiting {
                    self.mode = Mode::Shell;
                    port.input.shell().await?;
                    let early: Vec<Message> = self.early.drain(..).collect();
                    self.render(port, early);
                }
            }
            SshEvent::Exec(command) => {
                if self.mode == Mode::Waiting {
                    self.mode = Mode::Exec;
                    self.early.clear();
                    port.input.exec(&String::from_utf8_lossy(&command)).await?;
                }
            }
            SshEvent::Data(bytes) => {
                if self.mode == Mode::Shell {
                    return self.input(port, &bytes).await;
                }
            }
            SshEvent::Closed => return Err(CloseReason::ChannelClosed),
        }
        Ok(())
    }

    /// Player input in a shell.
    async fn input(&mut self, port: &SessionPort, bytes: &[u8]) -> Result<(), CloseReason> {
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
                        return Err(CloseReason::EndOfInput);
                    }
                    EditEvent::Interrupt | EditEvent::TooLong { .. } => {}
                }
            }
        } else {
            let max = port.input.max_line();
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
                            tracing::info!(limit = max, "input line too long; cut");
                            self.push(format!("{}\n", line_too_long(max)).into_bytes());
                        }
                    }
                    _ => self.raw_line.push(b),
                }
            }
        }
        for line in lines {
            port.input.line(&line).await?;
        }
        Ok(())
    }

    /// Output from the server; held until the shell starts.
    fn data_out(&mut self, port: &SessionPort, msgs: Vec<Message>) {
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
            return;
        }
        self.render(port, msgs);
    }

    /// Renders messages to the client for the session's caps.
    fn render(&mut self, port: &SessionPort, msgs: Vec<Message>) {
        // Without a terminal (exec, `ssh -T`) output is plain text: it is likely piped.
        let caps = if self.pty {
            *port.caps()
        } else {
            port.caps().without_colour()
        };
        for m in msgs {
            if let Some(echo) = m.echo()
                && self.pty
            {
                self.editor.set_hidden(!echo);
            }
            match m.kind() {
                Kind::Text => {
                    for s in m.lines() {
                        let text = caps.render_str(s, m.raw());
                        if self.pty {
                            let mut out = Vec::new();
                            self.editor
                                .print_above(&text.replace('\n', "\r\n"), &mut out);
                            self.push(out);
                        } else {
                            self.push(format!("{text}\n").into_bytes());
                        }
                    }
                }
                Kind::Prompt => {
                    let text = caps.render_str(m.first_str().unwrap_or(""), m.raw());
                    if self.pty {
                        let mut out = Vec::new();
                        self.editor.set_prompt(&text, &mut out);
                        self.push(out);
                    } else if !text.is_empty() {
                        self.push(text.into_owned().into_bytes());
                    }
                }
                Kind::OutOfBand => {
                    tracing::debug!(name = %m.name, "message not supported over ssh; ignored")
                }
            }
        }
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
        flags.insert(flag::SCREENWIDTH.into(), Value::from(clamp_u16(cols)));
    }
    if rows > 0 {
        flags.insert(flag::SCREENHEIGHT.into(), Value::from(clamp_u16(rows)));
    }
}
