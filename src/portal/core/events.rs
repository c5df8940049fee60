//! What the core is told and what it tells: [`CoreEvent`] (anything → the core), [`ToSession`]
//! (the core → one session's front end), and the typed values they carry.

use crate::portal::gateway::{ToUpstream, UpstreamState};
use crate::portal::port::CloseReason;
use crate::shared::control::{ControlRequest, ControlResponse};
use crate::shared::link::{AuthMethod, ServerMsg, Start};
use crate::shared::message::Message;
use crate::shared::session::{Protocol, SessionId};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use tokio::sync::{mpsc, oneshot};

/// Core → one session's front end (read through its [`super::port::SessionPort`]).
#[derive(Debug)]
pub enum ToSession {
    /// Output to render for the player.
    DataOut(Vec<Message>),
    /// The server changed protocol_flags (merge; null removes).
    SetFlags(Map<String, Value>),
    /// Send the reason and close.
    Disconnect(String),
    /// How the server is; every session is told, and front ends that can show it do.
    ServerStatus(ServerStatus),
    /// An SSH command finished with this exit status.
    ExitStatus(u32),
}

/// How the server is, as far as players can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerStatus {
    /// `portcullis reload` is under way.
    Reloading,
    /// The server went away and is being restarted.
    Down,
    /// A server is linked and synced.
    Running,
}

impl ServerStatus {
    /// The word a browser is told.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerStatus::Reloading => "reloading",
            ServerStatus::Down => "down",
            ServerStatus::Running => "running",
        }
    }
}

/// Anything → the core.
#[derive(Debug)]
pub enum CoreEvent {
    /// A front end accepted a connection and asks for a session id.
    Open {
        /// The front end's protocol.
        protocol: Protocol,
        /// Peer address (port 0 when the front end does not keep it).
        peer: SocketAddr,
        /// Channel to the connection task.
        handle: mpsc::Sender<ToSession>,
        /// The connection task's way to be closed when `handle` is full, so that a close
        /// cannot be lost: a reason to tell the player, or `None` when the client is cut off
        /// for not reading.
        close: oneshot::Sender<Option<String>>,
        /// The new session, or why the connection is refused.
        reply: oneshot::Sender<Result<Opened, String>>,
    },
    /// The front end knows what the client is (its negotiation settled, the SSH shell
    /// started, the page loaded): a gateway session connects to the game now.
    Ready {
        /// Session.
        id: SessionId,
    },
    /// A gateway session's player typed something (reported by its leg at most once a
    /// second): it is not idle.
    Active {
        /// Session.
        id: SessionId,
    },
    /// A gateway session's leg to the game changed state.
    Upstream {
        /// Session.
        id: SessionId,
        /// Its new state.
        state: UpstreamState,
    },
    /// Player input, normalised.
    DataIn {
        /// Session.
        id: SessionId,
        /// The messages.
        messages: Vec<Message>,
    },
    /// A step of an SSH session's life (shell or command), held and acked like input.
    Start {
        /// Session.
        id: SessionId,
        /// Which.
        start: Start,
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
        reason: CloseReason,
    },
    /// A server completed its hello.
    LinkUp {
        /// Distinguishes successive links.
        link_id: u64,
        /// Server process id.
        pid: u32,
        /// Writer to that server.
        tx: crate::portal::link_end::LinkTx,
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

/// A session the core opened.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Its id.
    pub id: SessionId,
    /// In gateway mode, the way to its leg: the port sends what the player types straight
    /// there (one task fewer on every line's way to the game).
    pub upstream: Option<mpsc::Sender<ToUpstream>>,
}

/// The server's answer to an authentication request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAnswer {
    /// Whether the client may log in.
    pub accepted: bool,
    /// Why not, for the log.
    pub reason: Option<String>,
}
