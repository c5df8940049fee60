//! The portal's core: the one task that owns the portal session registry and the server link.
//!
//! Front-end connection tasks, the link reader, the control socket and the signal handler all
//! talk to the core through [`CoreEvent`]s on one channel; the core answers through each
//! session's [`ToSession`] channel and the link writer. Nothing else touches the registry.
//!
//! Invariants:
//! - Every line a player sends is either delivered to a server and acked, still held in that
//!   session's `pending` queue (resent in order to the next server after it syncs), or refused
//!   with a message to the player (rate limit, full buffer). Nothing is dropped silently.
//! - `pending` never holds more than `limits.input_buffer_lines` entries.
//! - A session whose `ToSession` channel is full (a client that stopped reading) is
//!   disconnected; the core never waits on a session.

use super::info::PortalInfo;
use super::port::CloseReason;
use super::repeats;
use super::slots::{Full, Slot, Slots};
use crate::ops::certs::ReloadableTls;
use crate::portal::gateway::{Gateway, ToUpstream, UpstreamState};
use crate::portal::ids::IdAllocator;
use crate::portal::link_end::LinkTx;
use crate::shared::addr;
use crate::shared::config::Limits;
use crate::shared::control::{ControlResponse, ListenerInfo};
use crate::shared::link::{AuthMethod, PortalMsg, Start};
use crate::shared::message::Message;
use crate::shared::session::{Protocol, Session, SessionId, now_unix};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Capacity of each session's command channel; a session this far behind is stalled.
pub const SESSION_CHANNEL: usize = 1024;

/// Capacity of the core's event channel.
pub const CORE_CHANNEL: usize = 4096;

/// How long `portcullis reload` waits for the new server to sync.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How long shutdown waits for sessions to flush their goodbye.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

mod events;
mod operator;
mod server_link;

pub use events::{AuthAnswer, CoreEvent, Opened, ServerStatus, ToSession};

/// An authentication request waiting for the server.
#[derive(Debug)]
struct PendingAuth {
    id: SessionId,
    /// The client's address.
    address: String,
    username: String,
    method: AuthMethod,
    reply: oneshot::Sender<AuthAnswer>,
}

/// Token bucket for the per-session command rate.
#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(burst: u32) -> Self {
        Bucket {
            tokens: f64::from(burst),
            last: Instant::now(),
        }
    }

    pub(crate) fn take(&mut self, rate: f64, burst: u32) -> bool {
        let now = Instant::now();
        let add = now.duration_since(self.last).as_secs_f64() * rate;
        self.tokens = (self.tokens + add).min(f64::from(burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Input held for the server until it acks it: what the player sent, or a step of an SSH
/// session's life, which must reach the server in order with it.
#[derive(Debug, Clone)]
enum Held {
    /// `data_in` messages.
    Data(Vec<Message>),
    /// A shell or command started.
    Start(Start),
}

impl Held {
    /// About how many bytes it holds.
    fn weight(&self) -> usize {
        match self {
            Held::Data(messages) => messages.iter().map(Message::approx_bytes).sum(),
            Held::Start(Start::Shell) => 8,
            Held::Start(Start::Exec { command }) => 8 + command.len(),
        }
    }

    /// The link message that carries it.
    fn to_msg(&self, id: SessionId, seq: u64) -> PortalMsg {
        match self {
            Held::Data(messages) => PortalMsg::DataIn {
                id,
                seq,
                messages: messages.clone(),
            },
            Held::Start(start) => PortalMsg::Start {
                id,
                seq,
                start: start.clone(),
            },
        }
    }
}

/// One portal session as the core keeps it.
#[derive(Debug)]
struct PortalSession {
    /// The session's state, as the portal knows it.
    session: Session,
    /// Channel to its connection task.
    handle: mpsc::Sender<ToSession>,
    /// Input not yet acked by a server, oldest first; resent after a server restart.
    pending: VecDeque<(u64, Held)>,
    /// About how many bytes `pending` holds (`limits.input_buffer_bytes`).
    pending_bytes: usize,
    /// Sequence number for the next input.
    next_seq: u64,
    /// Command rate limiter.
    bucket: Bucket,
    /// Set once a disconnect has been asked of the connection task.
    closing: bool,
    /// The connection task's close signal, for when `handle` is full (see [`close`]).
    close: Option<oneshot::Sender<Option<String>>>,
    /// Its place among the portal's sessions (in all and from its address).
    _slot: Slot,
    /// Its leg to the game, in gateway mode; such a session is not the server's.
    upstream: Option<Upstream>,
}

/// A gateway session's leg, as the core sees it.
#[derive(Debug)]
struct Upstream {
    /// To the leg; dropping it ends the leg.
    tx: mpsc::Sender<ToUpstream>,
    /// Where the leg is, for `status`.
    state: UpstreamState,
    /// The account an SSH client authenticated as (`ssh_auth = "accounts"`), as its
    /// lower-cased name: the server does not know this session, so the portal logs it out
    /// when the account is deleted.
    ssh_account: Option<String>,
}

impl PortalSession {
    /// Numbers `held` in the session's input and keeps it until a server acks it; the link
    /// message that carries it.
    fn hold(&mut self, held: Held) -> PortalMsg {
        let seq = self.next_seq;
        self.next_seq += 1;
        let msg = held.to_msg(self.session.data.id, seq);
        self.pending_bytes += held.weight();
        self.pending.push_back((seq, held));
        msg
    }
}

/// The server link as the core sees it.
#[derive(Debug)]
enum ServerLink {
    /// No server linked.
    Down,
    /// A server linked; it is rebuilding its registry.
    Syncing(LinkInfo),
    /// A server linked and synced: input flows.
    Up(LinkInfo),
}

#[derive(Debug)]
struct LinkInfo {
    link_id: u64,
    pid: u32,
    since: Instant,
    tx: LinkTx,
    /// When the server last sent anything (a `pong` at least every heartbeat).
    heard: Instant,
    /// When the last `ping` went out, and its number.
    pinged: (Instant, u64),
}

/// Everything the core owns.
pub struct Core {
    limits: Limits,
    ids: IdAllocator,
    sessions: HashMap<SessionId, PortalSession>,
    /// Sessions in all and per address (`max_connections`, `max_connections_per_address`).
    slots: Arc<Slots>,
    link: ServerLink,
    /// Whether any server has linked since the portal started.
    had_server: bool,
    /// `reload` requests waiting for the next server to sync, with what else was reloaded.
    reload_waiters: Vec<(Instant, oneshot::Sender<ControlResponse>, Vec<String>)>,
    /// Set while a reload is under way (so the next sync says `reload`).
    reloading: bool,
    listeners: Vec<ListenerInfo>,
    started: Instant,
    /// Authentication requests the server has not answered, by request number; sent again
    /// to a new server after it syncs.
    pending_auth: HashMap<u64, PendingAuth>,
    /// Number for the next authentication request.
    next_auth: u64,
    /// Set once shutdown began.
    shutting_down: Option<Instant>,
    /// Tells the supervisor and listeners to stop.
    stop_tx: tokio::sync::watch::Sender<bool>,
    /// The TLS certificate, reloaded with the server and on SIGHUP.
    tls: Option<Arc<ReloadableTls>>,
    /// Facts for clients; the core keeps its player count.
    info: Arc<PortalInfo>,
    /// Gateway mode: where sessions are attached instead of the server, and the way back to
    /// the core that each leg reports on.
    gateway: Option<(Arc<Gateway>, mpsc::WeakSender<CoreEvent>)>,
    /// When the process's refusals were last summed up (every [`repeats::INTERVAL`]).
    noted_at: Instant,
    /// How long a linked server may go without answering (`server.heartbeat_timeout_secs`).
    heartbeat: Duration,
}

impl Core {
    /// A core with no sessions and no server.
    pub fn new(
        limits: Limits,
        ids: IdAllocator,
        listeners: Vec<ListenerInfo>,
        stop_tx: tokio::sync::watch::Sender<bool>,
        tls: Option<Arc<ReloadableTls>>,
        info: Arc<PortalInfo>,
    ) -> Self {
        Core {
            slots: Slots::new(limits.max_connections, limits.max_connections_per_address),
            limits,
            ids,
            sessions: HashMap::new(),
            link: ServerLink::Down,
            had_server: false,
            reload_waiters: Vec::new(),
            reloading: false,
            listeners,
            started: Instant::now(),
            pending_auth: HashMap::new(),
            next_auth: 1,
            shutting_down: None,
            stop_tx,
            tls,
            info,
            gateway: None,
            noted_at: Instant::now(),
            heartbeat: Duration::from_secs(20),
        }
    }

    /// Sets how long a linked server may go without answering before it is killed.
    pub fn with_heartbeat(mut self, timeout: Duration) -> Self {
        self.heartbeat = timeout;
        self
    }

    /// Attaches every new session to `gateway` (gateway mode); `core` is the core's own
    /// event channel, for the legs' reports.
    pub fn with_gateway(mut self, gateway: Arc<Gateway>, core: &mpsc::Sender<CoreEvent>) -> Self {
        self.gateway = Some((gateway, core.downgrade()));
        self
    }

    /// Runs until shutdown has finished.
    pub async fn run(mut self, mut rx: mpsc::Receiver<CoreEvent>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => self.handle(ev),
                    None => break,
                },
                _ = tick.tick() => self.on_tick(),
            }
            // Stop once every player has had the goodbye and the server has gone (so it got
            // the shutdown and will not wait for this portal to come back), or at the grace.
            if let Some(t) = self.shutting_down
                && ((self.sessions.is_empty() && matches!(self.link, ServerLink::Down))
                    || t.elapsed() > SHUTDOWN_GRACE)
            {
                break;
            }
        }
        tracing::info!(remaining = self.sessions.len(), "portal core stopped");
    }

    /// Recounts logged-in players for MSSP (on login, logout and close only).
    fn count_players(&self) {
        let players = self
            .sessions
            .values()
            .filter(|e| e.session.data.logged_in)
            .count();
        self.info
            .players
            .store(players, std::sync::atomic::Ordering::Relaxed);
    }

    fn handle(&mut self, ev: CoreEvent) {
        match ev {
            CoreEvent::Open {
                protocol,
                peer,
                handle,
                close,
                reply,
            } => {
                let r = self.open(protocol, peer, handle, close);
                let _ = reply.send(r);
            }
            CoreEvent::Ready { id } => self.send_upstream(id, ToUpstream::Ready),
            CoreEvent::Active { id } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.session.touch(true);
                }
            }
            CoreEvent::Upstream { id, state } => {
                if let Some(u) = self.sessions.get_mut(&id).and_then(|e| e.upstream.as_mut()) {
                    u.state = state;
                }
            }
            CoreEvent::DataIn { id, messages } => self.data_in(id, messages),
            CoreEvent::Start { id, start } => self.start(id, start),
            CoreEvent::Auth {
                id,
                username,
                method,
                reply,
            } => self.auth(id, username, method, reply),
            CoreEvent::Flags { id, flags } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.session.update_flags(&flags);
                    if e.upstream.is_some() {
                        self.send_upstream(id, ToUpstream::Flags(flags));
                    } else {
                        self.to_server(PortalMsg::SyncOne {
                            id,
                            protocol_flags: flags,
                        });
                    }
                }
            }
            CoreEvent::Closed { id, reason } => self.closed(id, reason),
            CoreEvent::LinkUp { link_id, pid, tx } => self.link_up(link_id, pid, tx),
            CoreEvent::LinkMsg { link_id, msg } => {
                if self.link_id() == Some(link_id) {
                    if let ServerLink::Up(l) | ServerLink::Syncing(l) = &mut self.link {
                        l.heard = Instant::now();
                    }
                    self.server_msg(msg);
                }
            }
            CoreEvent::LinkDown { link_id, reason } => self.link_down(link_id, &reason),
            CoreEvent::Control { req, reply } => self.control(req, reply),
            CoreEvent::ReloadCerts => {
                self.reload_certs();
            }
            CoreEvent::Shutdown { reason } => self.shutdown(&reason),
        }
    }

    fn open(
        &mut self,
        protocol: Protocol,
        peer: SocketAddr,
        handle: mpsc::Sender<ToSession>,
        close: oneshot::Sender<Option<String>>,
    ) -> Result<Opened, String> {
        let address = peer.ip();
        if self.shutting_down.is_some() {
            return Err("The portal is shutting down.".into());
        }
        let slot = match self
            .slots
            .take(addr::limit_key(address, self.limits.ipv6_prefix))
        {
            Ok(slot) => slot,
            Err(Full::Total) => {
                if repeats::refused(address, "connections refused: portal full") {
                    tracing::warn!(%address, limit = self.limits.max_connections, "connection refused: portal full");
                }
                return Err("Sorry, the server is full. Try again later.".into());
            }
            Err(Full::PerKey) => {
                if repeats::refused(address, "connections refused: too many from one address") {
                    tracing::warn!(%address, limit = self.limits.max_connections_per_address, "connection refused: too many from one address");
                }
                return Err("Too many connections from your address.".into());
            }
        };
        let id = match self.ids.next_id() {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "cannot allocate a session id");
                return Err("Internal error; try again later.".into());
            }
        };
        let session = Session::init_session(id, protocol, &address.to_string());
        let upstream = match &self.gateway {
            Some((gateway, core)) => match core.upgrade() {
                Some(core) => Some(Upstream {
                    tx: gateway.attach(id, protocol, peer, handle.clone(), core),
                    state: UpstreamState::Waiting,
                    ssh_account: None,
                }),
                None => return Err("The portal is shutting down.".into()),
            },
            None => None,
        };
        let leg = upstream.as_ref().map(|u| u.tx.clone());
        let data = session.get_sync_data();
        self.sessions.insert(
            id,
            PortalSession {
                session,
                handle,
                pending: VecDeque::new(),
                pending_bytes: 0,
                next_seq: 1,
                bucket: Bucket::new(self.limits.command_burst),
                closing: false,
                close: Some(close),
                _slot: slot,
                upstream,
            },
        );
        if leg.is_some() {
            return Ok(Opened { id, upstream: leg });
        }
        self.to_server(PortalMsg::Connect { session: data });
        if !self.is_up() {
            self.notice(
                id,
                "The server is starting; what you type will be handled in a moment.",
            );
        }
        Ok(Opened { id, upstream: None })
    }

    /// Hands a gateway session's leg something to do, without waiting: a leg this far
    /// behind has a game that stopped reading, and a line it cannot take is refused aloud.
    fn send_upstream(&mut self, id: SessionId, cmd: ToUpstream) {
        let Some(e) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(u) = &e.upstream else {
            return;
        };
        match u.tx.try_send(cmd) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(ToUpstream::Line(line))) => {
                tracing::warn!(session = id, "the game is not taking input; line refused");
                let text = format!("The game is not taking input; this was not sent: {line}");
                send_or_close(e, ToSession::DataOut(vec![Message::text(text)]));
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(session = id, "the game is not taking input; update dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn data_in(&mut self, id: SessionId, messages: Vec<Message>) {
        let up = self.is_up();
        let limits = &self.limits;
        let Some(e) = self.sessions.get_mut(&id) else {
            return;
        };
        if e.closing {
            return;
        }
        let line = messages
            .first()
            .and_then(Message::first_str)
            .unwrap_or("")
            .to_string();
        if !e.bucket.take(limits.command_rate, limits.command_burst) {
            let address = &e.session.data.address;
            if repeats::refused(address, "commands refused: rate exceeded") {
                tracing::info!(session = id, %address, "command rate exceeded; input refused");
            }
            let text = format!("You are sending commands too fast; this was not run: {line}");
            send_or_close(e, ToSession::DataOut(vec![Message::text(text)]));
            return;
        }
        if e.upstream.is_some() {
            // A gateway session's port sends input straight to its leg; input that reaches
            // the core anyway goes the same way, under the same rate.
            e.session.touch(messages.iter().any(|m| m.name == "text"));
            for m in messages {
                let cmd = match m.kind() {
                    crate::shared::message::Kind::Text => {
                        ToUpstream::Line(m.first_str().unwrap_or("").to_owned())
                    }
                    _ => ToUpstream::Oob(m),
                };
                self.send_upstream(id, cmd);
            }
            return;
        }
        let weight: usize = messages.iter().map(Message::approx_bytes).sum();
        if e.pending.len() >= limits.input_buffer_lines
            || (!e.pending.is_empty() && e.pending_bytes + weight > limits.input_buffer_bytes)
        {
            tracing::warn!(
                session = id,
                held = e.pending.len(),
                held_bytes = e.pending_bytes,
                "input buffer full; input refused"
            );
            let text = format!(
                "The server is busy or restarting and {} lines are waiting; this was not delivered: {line}",
                e.pending.len()
            );
            send_or_close(e, ToSession::DataOut(vec![Message::text(text)]));
            return;
        }
        let visible = messages.iter().any(|m| m.name == "text");
        e.session.touch(visible);
        let msg = e.hold(Held::Data(messages));
        if up {
            self.to_server(msg);
        }
    }

    /// A shell or command started: held and numbered with the session's input (not counted
    /// against its command rate: it happens once a connection).
    fn start(&mut self, id: SessionId, start: Start) {
        let up = self.is_up();
        let Some(e) = self.sessions.get_mut(&id) else {
            return;
        };
        if e.closing {
            return;
        }
        e.session.touch(false);
        if e.upstream.is_some() {
            match start {
                Start::Shell => self.send_upstream(id, ToUpstream::Ready),
                Start::Exec { .. } => {
                    let text = "This game runs no commands; connect with `ssh -t` for a terminal.";
                    send_or_close(e, ToSession::DataOut(vec![Message::text(text)]));
                    send_or_close(e, ToSession::ExitStatus(1));
                }
            }
            return;
        }
        let msg = e.hold(Held::Start(start));
        if up {
            self.to_server(msg);
        }
    }

    fn auth(
        &mut self,
        id: SessionId,
        username: String,
        method: AuthMethod,
        reply: oneshot::Sender<AuthAnswer>,
    ) {
        let Some(address) = self
            .sessions
            .get(&id)
            .map(|e| e.session.data.address.clone())
        else {
            return;
        };
        let req = self.next_auth;
        self.next_auth += 1;
        if self.is_up() {
            self.to_server(PortalMsg::Auth {
                id,
                req,
                username: username.clone(),
                method: method.clone(),
                address: address.clone(),
            });
        }
        self.pending_auth.insert(
            req,
            PendingAuth {
                id,
                address,
                username,
                method,
                reply,
            },
        );
    }

    fn closed(&mut self, id: SessionId, reason: CloseReason) {
        self.pending_auth.retain(|_, p| p.id != id);
        // Dropping the entry gives its slot back.
        let Some(e) = self.sessions.remove(&id) else {
            return;
        };
        if !e.pending.is_empty() {
            tracing::info!(
                session = id,
                unhandled = e.pending.len(),
                "session closed with input not yet handled"
            );
        }
        tracing::info!(session = id, %reason, "session closed");
        self.count_players();
        if e.upstream.is_some() {
            // Dropping the entry dropped the way to its leg, which closes its connection.
            return;
        }
        self.to_server(PortalMsg::Disconnect {
            id,
            reason: reason.to_string(),
        });
    }

    /// Sums up the process's refusals of the last interval: one line per address and kind.
    fn log_noted(&mut self) {
        if self.noted_at.elapsed() < repeats::INTERVAL {
            return;
        }
        self.noted_at = Instant::now();
        repeats::sum_up_refusals();
    }

    fn on_tick(&mut self) {
        self.log_noted();
        self.check_server();
        let now = now_unix();
        let login = self.limits.login_timeout_secs as f64;
        let idle = self.limits.idle_timeout_secs as f64;
        for e in self.sessions.values_mut() {
            if e.closing {
                continue;
            }
            let d = &e.session.data;
            // A game behind the gateway runs its own login.
            let login = if e.upstream.is_some() { 0.0 } else { login };
            let reason = if !d.logged_in && login > 0.0 && now - d.conn_time > login {
                Some("Login timed out.")
            } else if d.logged_in && idle > 0.0 && now - d.cmd_last_visible > idle {
                Some("You have been idle too long.")
            } else {
                None
            };
            if let Some(reason) = reason {
                tracing::info!(session = d.id, reason, "timeout");
                close(e, reason.into());
            }
        }
        let expired: Vec<usize> = self
            .reload_waiters
            .iter()
            .enumerate()
            .filter(|(_, (t, _, _))| t.elapsed() > RELOAD_TIMEOUT)
            .map(|(i, _)| i)
            .collect();
        if !expired.is_empty() && self.reload_waiters.len() == expired.len() {
            // The reload is over, failed: a later crash is a crash, and players are told.
            self.reloading = false;
        }
        for i in expired.into_iter().rev() {
            let (_, reply, _) = self.reload_waiters.remove(i);
            let _ = reply.send(ControlResponse::Error {
                message: format!("no server synced within {RELOAD_TIMEOUT:?}"),
            });
        }
    }
}

/// Sends to a connection task without waiting; a full channel means the client stopped
/// reading, so the session is cut off through its close signal.
fn send_or_close(e: &mut PortalSession, cmd: ToSession) {
    match e.handle.try_send(cmd) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(
                session = e.session.data.id,
                "session output channel full; disconnecting stalled client"
            );
            e.closing = true;
            stall(e, None);
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// Asks a session's connection task to tell the player `reason` and close. There is one way
/// to close a session and it cannot be lost: after the output already queued when there is
/// room, else at once through the session's close signal (the player is not keeping up).
/// Either way the task ends and reports `Closed`, which removes the session.
fn close(e: &mut PortalSession, reason: String) {
    e.closing = true;
    match e.handle.try_send(ToSession::Disconnect(reason)) {
        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(ToSession::Disconnect(reason))) => {
            stall(e, Some(reason));
        }
        Err(mpsc::error::TrySendError::Full(_)) => stall(e, None),
    }
}

/// Fires a session's close signal (once): with a reason to tell the player, or `None` for a
/// client cut off for not reading. Later sends to the session are dropped.
fn stall(e: &mut PortalSession, reason: Option<String>) {
    if let Some(signal) = e.close.take() {
        let _ = signal.send(reason);
    }
    let (dead, _) = mpsc::channel(1);
    e.handle = dead;
}
