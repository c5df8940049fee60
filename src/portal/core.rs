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
use crate::certs::ReloadableTls;
use crate::config::Limits;
use crate::control::{
    ControlRequest, ControlResponse, ListenerInfo, ServerInfo, SessionInfo, StatusReport,
};
use crate::ids::IdAllocator;
use crate::link::{AuthMethod, PortalMsg, ServerMsg, SyncReason, VERSION};
use crate::message::Message;
use crate::session::{Session, SessionId, now_unix};
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
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

/// Core → one front-end connection task.
#[derive(Debug)]
pub enum ToSession {
    /// Output to render for the player.
    DataOut(Vec<Message>),
    /// The server changed protocol_flags (merge; null removes).
    SetFlags(Map<String, Value>),
    /// Send the reason and close.
    Disconnect(String),
}

/// Anything → the core.
#[derive(Debug)]
pub enum CoreEvent {
    /// A front end accepted a connection and asks for a session id.
    Open {
        /// Protocol key of the front end.
        protocol_key: &'static str,
        /// Peer IP address.
        address: IpAddr,
        /// Channel to the connection task.
        handle: mpsc::Sender<ToSession>,
        /// The new id, or why the connection is refused.
        reply: oneshot::Sender<Result<SessionId, String>>,
    },
    /// Player input, normalised.
    DataIn {
        /// Session.
        id: SessionId,
        /// The messages.
        messages: Vec<Message>,
    },
    /// An SSH client asks to authenticate; the server decides.
    Auth {
        /// Session.
        id: SessionId,
        /// The SSH user name.
        username: String,
        /// Password or key.
        method: AuthMethod,
        /// Whether the server accepted, and why not.
        reply: oneshot::Sender<AuthAnswer>,
    },
    /// The front end learnt something about the client (NAWS, TTYPE, …).
    Flags {
        /// Session.
        id: SessionId,
        /// Partial protocol_flags update.
        flags: Map<String, Value>,
    },
    /// The connection closed.
    Closed {
        /// Session.
        id: SessionId,
        /// Why (for the log and the server).
        reason: String,
    },
    /// A server completed its hello.
    LinkUp {
        /// Distinguishes successive links.
        link_id: u64,
        /// Server process id.
        pid: u32,
        /// Writer to that server.
        tx: mpsc::UnboundedSender<PortalMsg>,
    },
    /// A message from a linked server.
    LinkMsg {
        /// Which link.
        link_id: u64,
        /// The message.
        msg: ServerMsg,
    },
    /// A link closed.
    LinkDown {
        /// Which link.
        link_id: u64,
        /// Why.
        reason: String,
    },
    /// A control-socket request.
    Control {
        /// The request.
        req: ControlRequest,
        /// Where the answer goes.
        reply: oneshot::Sender<ControlResponse>,
    },
    /// SIGHUP: load the TLS certificate again.
    ReloadCerts,
    /// Ctrl-C or SIGTERM.
    Shutdown {
        /// Why, for the log.
        reason: String,
    },
}

/// The server's answer to an authentication request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAnswer {
    /// Whether the client may log in.
    pub accepted: bool,
    /// Why not, for the log.
    pub reason: Option<String>,
}

/// An authentication request waiting for the server.
#[derive(Debug)]
struct PendingAuth {
    id: SessionId,
    username: String,
    method: AuthMethod,
    reply: oneshot::Sender<AuthAnswer>,
}

/// Token bucket for the per-session command rate.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(burst: u32) -> Self {
        Bucket {
            tokens: f64::from(burst),
            last: Instant::now(),
        }
    }

    fn take(&mut self, rate: f64, burst: u32) -> bool {
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

/// One portal session.
#[derive(Debug)]
struct Entry {
    /// The session's state, as the portal knows it.
    session: Session,
    /// Channel to its connection task.
    handle: mpsc::Sender<ToSession>,
    /// Input not yet acked by a server, oldest first; resent after a server restart.
    pending: VecDeque<(u64, Vec<Message>)>,
    /// Sequence number for the next input.
    next_seq: u64,
    /// Command rate limiter.
    bucket: Bucket,
    /// Set once a disconnect has been asked of the connection task.
    closing: bool,
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
    tx: mpsc::UnboundedSender<PortalMsg>,
}

/// Everything the core owns.
pub struct Core {
    limits: Limits,
    ids: IdAllocator,
    sessions: HashMap<SessionId, Entry>,
    per_address: HashMap<IpAddr, usize>,
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
            limits,
            ids,
            sessions: HashMap::new(),
            per_address: HashMap::new(),
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
        }
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
                protocol_key,
                address,
                handle,
                reply,
            } => {
                let r = self.open(protocol_key, address, handle);
                let _ = reply.send(r);
            }
            CoreEvent::DataIn { id, messages } => self.data_in(id, messages),
            CoreEvent::Auth {
                id,
                username,
                method,
                reply,
            } => self.auth(id, username, method, reply),
            CoreEvent::Flags { id, flags } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.session.update_flags(&flags);
                    self.to_server(PortalMsg::SyncOne {
                        id,
                        protocol_flags: flags,
                    });
                }
            }
            CoreEvent::Closed { id, reason } => self.closed(id, reason),
            CoreEvent::LinkUp { link_id, pid, tx } => self.link_up(link_id, pid, tx),
            CoreEvent::LinkMsg { link_id, msg } => {
                if self.link_id() == Some(link_id) {
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
        protocol_key: &'static str,
        address: IpAddr,
        handle: mpsc::Sender<ToSession>,
    ) -> Result<SessionId, String> {
        if self.shutting_down.is_some() {
            return Err("The portal is shutting down.".into());
        }
        if self.sessions.len() >= self.limits.max_connections {
            tracing::warn!(%address, limit = self.limits.max_connections, "connection refused: portal full");
            return Err("Sorry, the server is full. Try again later.".into());
        }
        let n = self.per_address.get(&address).copied().unwrap_or(0);
        if n >= self.limits.max_connections_per_address {
            tracing::warn!(%address, limit = self.limits.max_connections_per_address, "connection refused: too many from one address");
            return Err("Too many connections from your address.".into());
        }
        let id = match self.ids.next_id() {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "cannot allocate a session id");
                return Err("Internal error; try again later.".into());
            }
        };
        *self.per_address.entry(address).or_insert(0) += 1;
        let session = Session::init_session(id, protocol_key, &address.to_string());
        let data = session.get_sync_data();
        self.sessions.insert(
            id,
            Entry {
                session,
                handle,
                pending: VecDeque::new(),
                next_seq: 1,
                bucket: Bucket::new(self.limits.command_burst),
                closing: false,
            },
        );
        self.to_server(PortalMsg::Connect { session: data });
        if !self.is_up() {
            self.notice(
                id,
                "The server is starting; what you type will be handled in a moment.",
            );
        }
        Ok(id)
    }

    fn data_in(&mut self, id: SessionId, messages: Vec<Message>) {
        let up = matches!(self.link, ServerLink::Up(_));
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
            tracing::info!(session = id, "command rate exceeded; input refused");
            let text = format!("You are sending commands too fast; this was not run: {line}");
            send_or_close(e, ToSession::DataOut(vec![Message::text(text)]));
            return;
        }
        if e.pending.len() >= limits.input_buffer_lines {
            tracing::warn!(
                session = id,
                held = e.pending.len(),
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
        let seq = e.next_seq;
        e.next_seq += 1;
        e.pending.push_back((seq, messages.clone()));
        if up {
            self.to_server(PortalMsg::DataIn { id, seq, messages });
        }
    }

    fn auth(
        &mut self,
        id: SessionId,
        username: String,
        method: AuthMethod,
        reply: oneshot::Sender<AuthAnswer>,
    ) {
        if !self.sessions.contains_key(&id) {
            return;
        }
        let req = self.next_auth;
        self.next_auth += 1;
        if self.is_up() {
            self.to_server(PortalMsg::Auth {
                id,
                req,
                username: username.clone(),
                method: method.clone(),
            });
        }
        self.pending_auth.insert(
            req,
            PendingAuth {
                id,
                username,
                method,
                reply,
            },
        );
    }

    fn closed(&mut self, id: SessionId, reason: String) {
        self.pending_auth.retain(|_, p| p.id != id);
        let Some(e) = self.sessions.remove(&id) else {
            return;
        };
        if let Ok(ip) = e.session.data.address.parse::<IpAddr>()
            && let Some(n) = self.per_address.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_address.remove(&ip);
            }
        }
        if !e.pending.is_empty() {
            tracing::info!(
                session = id,
                unhandled = e.pending.len(),
                "session closed with input not yet handled"
            );
        }
        tracing::info!(session = id, %reason, "session closed");
        self.count_players();
        self.to_server(PortalMsg::Disconnect { id, reason });
    }

    fn link_id(&self) -> Option<u64> {
        match &self.link {
            ServerLink::Down => None,
            ServerLink::Syncing(l) | ServerLink::Up(l) => Some(l.link_id),
        }
    }

    fn is_up(&self) -> bool {
        matches!(self.link, ServerLink::Up(_))
    }

    fn link_up(&mut self, link_id: u64, pid: u32, tx: mpsc::UnboundedSender<PortalMsg>) {
        if self.shutting_down.is_some() {
            let _ = tx.send(PortalMsg::Shutdown {
                reason: "the portal is shutting down".into(),
            });
            return;
        }
        if !matches!(self.link, ServerLink::Down) {
            tracing::warn!(pid, "a second server tried to link; refused");
            let _ = tx.send(PortalMsg::Refused {
                reason: "another server is already linked to this portal".into(),
            });
            return;
        }
        let reason = if self.reloading {
            SyncReason::Reload
        } else if self.had_server {
            SyncReason::Restart
        } else {
            SyncReason::Start
        };
        self.had_server = true;
        let sessions = self
            .sessions
            .values()
            .map(|e| e.session.get_sync_data())
            .collect::<Vec<_>>();
        tracing::info!(
            pid,
            sessions = sessions.len(),
            ?reason,
            "server linked; syncing"
        );
        let _ = tx.send(PortalMsg::Hello {
            version: VERSION,
            pid: std::process::id(),
            listeners: self.listeners.clone(),
        });
        let _ = tx.send(PortalMsg::SyncAll { reason, sessions });
        self.link = ServerLink::Syncing(LinkInfo {
            link_id,
            pid,
            since: Instant::now(),
            tx,
        });
    }

    fn link_down(&mut self, link_id: u64, reason: &str) {
        if self.link_id() != Some(link_id) {
            return;
        }
        self.link = ServerLink::Down;
        if self.shutting_down.is_some() {
            tracing::info!("server link closed");
            return;
        }
        if self.reloading {
            tracing::info!("server exited for reload");
            return;
        }
        tracing::warn!(%reason, "server link lost; input is held until a server links again");
        self.server_status("down");
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.notice(
                id,
                "|yThe server went away; it is being restarted. What you type is kept.|n",
            );
        }
    }

    fn server_msg(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Hello { .. } => {
                tracing::warn!("unexpected second hello from server; ignored");
            }
            ServerMsg::Synced { sessions } => self.synced(sessions),
            ServerMsg::DataOut { id, messages } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    send_or_close(e, ToSession::DataOut(messages));
                }
            }
            ServerMsg::Ack { id, seq } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    while e.pending.front().is_some_and(|(s, _)| *s <= seq) {
                        e.pending.pop_front();
                    }
                }
            }
            ServerMsg::Login {
                id,
                account_id,
                account_name,
            } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    tracing::info!(session = id, account = %account_name, "logged in");
                    let d = &mut e.session.data;
                    d.account_id = Some(account_id);
                    d.account_name = Some(account_name);
                    d.logged_in = true;
                }
                self.count_players();
            }
            ServerMsg::Logout { id } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    let d = &mut e.session.data;
                    d.account_id = None;
                    d.account_name = None;
                    d.logged_in = false;
                }
                self.count_players();
            }
            ServerMsg::SetFlags { id, flags } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.session.update_flags(&flags);
                    send_or_close(e, ToSession::SetFlags(flags));
                }
            }
            ServerMsg::ServerData { id, data } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.session.data.server_data = data;
                }
            }
            ServerMsg::AuthResult {
                id,
                req,
                accepted,
                reason,
            } => {
                if let Some(p) = self.pending_auth.remove(&req)
                    && p.id == id
                {
                    let _ = p.reply.send(AuthAnswer { accepted, reason });
                }
            }
            ServerMsg::Disconnect { id, reason } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.closing = true;
                    let _ = e.handle.try_send(ToSession::Disconnect(reason));
                }
            }
        }
    }

    fn synced(&mut self, count: usize) {
        let ServerLink::Syncing(info) = std::mem::replace(&mut self.link, ServerLink::Down) else {
            tracing::warn!("synced from a server that was not syncing; ignored");
            return;
        };
        let tx = info.tx.clone();
        self.link = ServerLink::Up(info);
        let mut resent = 0usize;
        for (id, e) in &self.sessions {
            for (seq, messages) in &e.pending {
                let _ = tx.send(PortalMsg::DataIn {
                    id: *id,
                    seq: *seq,
                    messages: messages.clone(),
                });
                resent += 1;
            }
        }
        for (req, p) in &self.pending_auth {
            let _ = tx.send(PortalMsg::Auth {
                id: p.id,
                req: *req,
                username: p.username.clone(),
                method: p.method.clone(),
            });
        }
        tracing::info!(sessions = count, resent, "server synced");
        self.server_status("running");
        if self.reloading {
            self.reloading = false;
            for (start, reply, notes) in self.reload_waiters.drain(..) {
                let millis = start.elapsed().as_millis() as u64;
                tracing::info!(millis, "reload complete");
                let _ = reply.send(ControlResponse::Reloaded { millis, notes });
            }
        }
    }

    fn control(&mut self, req: ControlRequest, reply: oneshot::Sender<ControlResponse>) {
        match req {
            ControlRequest::Status => {
                let _ = reply.send(ControlResponse::Status(self.status()));
            }
            ControlRequest::Reload => {
                let notes: Vec<String> = self.reload_certs().into_iter().collect();
                if self.shutting_down.is_some() {
                    let _ = reply.send(ControlResponse::Error {
                        message: "the portal is shutting down".into(),
                    });
                    return;
                }
                match &self.link {
                    ServerLink::Up(l) => {
                        tracing::info!(pid = l.pid, "reload requested");
                        let _ = l.tx.send(PortalMsg::Reload);
                        self.reloading = true;
                        self.server_status("reloading");
                        self.reload_waiters.push((Instant::now(), reply, notes));
                    }
                    _ if self.reloading => {
                        self.reload_waiters.push((Instant::now(), reply, notes));
                    }
                    _ => {
                        let _ = reply.send(ControlResponse::Error {
                            message: "no server is linked to the portal right now".into(),
                        });
                    }
                }
            }
            ControlRequest::Stop => {
                let _ = reply.send(ControlResponse::Stopping);
                self.shutdown("stop requested");
            }
        }
    }

    /// Loads the TLS certificate files again; new handshakes use them, open sessions carry on.
    /// A broken new file keeps the old certificate.
    /// Returns what happened, for the operator.
    fn reload_certs(&self) -> Option<String> {
        let tls = self.tls.as_ref()?;
        Some(match tls.reload() {
            Ok(info) => {
                tracing::info!(
                    fingerprint = %info.fingerprint_sha256,
                    days_left = info.days_left,
                    "tls certificate reloaded"
                );
                format!(
                    "tls certificate reloaded: {} ({} days left)",
                    info.fingerprint_sha256, info.days_left
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "tls certificate not reloaded; kept the old one");
                format!("tls certificate NOT reloaded, the old one is kept: {e}")
            }
        })
    }

    fn status(&self) -> StatusReport {
        let server = match &self.link {
            ServerLink::Down => None,
            ServerLink::Syncing(l) | ServerLink::Up(l) => Some(ServerInfo {
                pid: l.pid,
                uptime_secs: l.since.elapsed().as_secs_f64(),
                synced: self.is_up(),
            }),
        };
        let mut sessions: Vec<SessionInfo> = self
            .sessions
            .values()
            .map(|e| SessionInfo {
                id: e.session.data.id,
                protocol: e.session.data.protocol_key.clone(),
                address: e.session.data.address.clone(),
                account: e.session.data.account_name.clone(),
                idle_secs: e.session.idle_secs(),
            })
            .collect();
        sessions.sort_by_key(|s| s.id);
        StatusReport {
            portal_pid: std::process::id(),
            portal_uptime_secs: self.started.elapsed().as_secs_f64(),
            listeners: self.listeners.clone(),
            server,
            sessions,
        }
    }

    fn shutdown(&mut self, reason: &str) {
        if self.shutting_down.is_some() {
            return;
        }
        tracing::info!(%reason, sessions = self.sessions.len(), "portal shutting down");
        self.shutting_down = Some(Instant::now());
        let _ = self.stop_tx.send(true);
        for e in self.sessions.values_mut() {
            e.closing = true;
            let _ = e.handle.try_send(ToSession::Disconnect(
                "Portcullis is shutting down. Goodbye.".into(),
            ));
        }
        self.to_server(PortalMsg::Shutdown {
            reason: reason.to_string(),
        });
        for (_, reply, _) in self.reload_waiters.drain(..) {
            let _ = reply.send(ControlResponse::Error {
                message: "the portal is shutting down".into(),
            });
        }
    }

    fn on_tick(&mut self) {
        let now = now_unix();
        let login = self.limits.login_timeout_secs as f64;
        let idle = self.limits.idle_timeout_secs as f64;
        for e in self.sessions.values_mut() {
            if e.closing {
                continue;
            }
            let d = &e.session.data;
            let reason = if !d.logged_in && login > 0.0 && now - d.conn_time > login {
                Some("Login timed out.")
            } else if d.logged_in && idle > 0.0 && now - d.cmd_last_visible > idle {
                Some("You have been idle too long.")
            } else {
                None
            };
            if let Some(reason) = reason {
                tracing::info!(session = d.id, reason, "timeout");
                e.closing = true;
                let _ = e.handle.try_send(ToSession::Disconnect(reason.into()));
            }
        }
        let expired: Vec<usize> = self
            .reload_waiters
            .iter()
            .enumerate()
            .filter(|(_, (t, _, _))| t.elapsed() > RELOAD_TIMEOUT)
            .map(|(i, _)| i)
            .collect();
        for i in expired.into_iter().rev() {
            let (_, reply, _) = self.reload_waiters.remove(i);
            let _ = reply.send(ControlResponse::Error {
                message: format!("no server synced within {RELOAD_TIMEOUT:?}"),
            });
        }
    }

    fn to_server(&self, msg: PortalMsg) {
        // Connects, disconnects and flag syncs go to a syncing server too: it applies them after
        // rebuilding from sync_all, so nothing that happens during a reload is missed. Input
        // waits for `synced`, see `data_in`.
        match &self.link {
            ServerLink::Up(l) | ServerLink::Syncing(l) => {
                let _ = l.tx.send(msg);
            }
            ServerLink::Down => {}
        }
    }

    /// Tells every browser session how the server is (`reloading`, `down`, `running`), so
    /// the page can show it; other protocols get text notices instead, where there are any.
    fn server_status(&mut self, status: &str) {
        for e in self.sessions.values_mut() {
            if crate::session::protocol::is_web(&e.session.data.protocol_key) {
                let mut m = Message::new("server_status");
                m.args.push(Value::String(status.into()));
                send_or_close(e, ToSession::DataOut(vec![m]));
            }
        }
    }

    /// A portal-made line to one player.
    fn notice(&mut self, id: SessionId, text: &str) {
        if let Some(e) = self.sessions.get_mut(&id) {
            send_or_close(e, ToSession::DataOut(vec![Message::text(text)]));
        }
    }
}

/// Sends to a connection task without waiting; a full channel means the client stopped
/// reading, so the session is cut off (its task sees the closed channel and closes).
fn send_or_close(e: &mut Entry, cmd: ToSession) {
    match e.handle.try_send(cmd) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(
                session = e.session.data.id,
                "session output channel full; disconnecting stalled client"
            );
            e.closing = true;
            let (dead, _) = mpsc::channel(1);
            e.handle = dead;
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}
