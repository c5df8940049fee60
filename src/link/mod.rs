//! The link between portal and server: typed messages in length-delimited JSON frames.
//!
//! Documented in `docs/link-protocol.md`. Every frame is a 4-byte big-endian length followed by
//! that many bytes of UTF-8 JSON holding one [`PortalMsg`] (portal → server) or one
//! [`ServerMsg`] (server → portal). Frames are at most [`MAX_FRAME`] bytes; a bigger one is a
//! protocol error that closes the link. The first frame each way is `hello`, carrying
//! [`VERSION`]; a peer with another version is refused. The server connects to the portal.

use crate::message::Message;
use crate::session::{SessionId, SyncData};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Link protocol version; bumped on any incompatible change.
pub const VERSION: u32 = 1;

/// Largest frame either side accepts, in bytes.
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

/// How long a peer has to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server is being handed the session registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncReason {
    /// The portal has just started or the server is connecting for the first time.
    Start,
    /// The server restarted because `portcullis reload` asked it to.
    Reload,
    /// The server went away without being asked (crash, kill).
    Restart,
}

/// How an SSH client is trying to authenticate (the server decides: it owns the accounts).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A password (from `password` or `keyboard-interactive` auth).
    Password { password: String },
    /// A public key, `type base64`. `verified` is false when the client only asks whether the
    /// key would be accepted (no signature yet), true once russh has checked the signature.
    PublicKey { key: String, verified: bool },
}

impl std::fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a password.
        match self {
            AuthMethod::Password { .. } => write!(f, "Password"),
            AuthMethod::PublicKey { verified, .. } => write!(f, "PublicKey(verified: {verified})"),
        }
    }
}

/// Portal → server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalMsg {
    /// First frame: the link version, the portal's process id, and where players can connect
    /// (so the server can point players at the encrypted front ends).
    Hello {
        version: u32,
        pid: u32,
        #[serde(default)]
        listeners: Vec<crate::control::ListenerInfo>,
    },
    /// Every session the portal holds; the server rebuilds its registry from it (PSYNC).
    SyncAll {
        reason: SyncReason,
        sessions: Vec<SyncData>,
    },
    /// A new connection became a session.
    Connect { session: SyncData },
    /// A session's connection closed.
    Disconnect { id: SessionId, reason: String },
    /// An SSH client asks to log in as `username`; answered by `auth_result` with the same
    /// `req`. On success the account is remembered for the session and logged in when its
    /// shell starts (`ssh_shell`) or used for one command (`ssh_exec`).
    Auth {
        id: SessionId,
        req: u64,
        username: String,
        method: AuthMethod,
    },
    /// Input from a player, numbered per session; the server acks it once handled.
    DataIn {
        id: SessionId,
        seq: u64,
        messages: Vec<Message>,
    },
    /// The portal learnt something about a client (NAWS, TTYPE, CHARSET …): a partial
    /// protocol_flags update to merge. Login state is the server's and is not carried here.
    SyncOne {
        id: SessionId,
        protocol_flags: Map<String, Value>,
    },
    /// Exit promptly so that the supervisor (or systemd) can start a new server.
    Reload,
    /// The portal is stopping: exit and do not come back.
    Shutdown { reason: String },
    /// This connection is refused (version mismatch or another server already linked).
    Refused { reason: String },
}

/// Server → portal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame: the link version and the server's process id.
    Hello { version: u32, pid: u32 },
    /// The registry is rebuilt from `sync_all`; buffered input may now flow.
    Synced { sessions: usize },
    /// Output for a player.
    DataOut {
        id: SessionId,
        messages: Vec<Message>,
    },
    /// Input up to and including `seq` of session `id` is handled.
    Ack { id: SessionId, seq: u64 },
    /// An account logged in on a session.
    Login {
        id: SessionId,
        account_id: i64,
        account_name: String,
    },
    /// The account on a session logged out (the connection stays).
    Logout { id: SessionId },
    /// The server changed a session's protocol_flags (merge; `null` removes a key).
    SetFlags {
        id: SessionId,
        flags: Map<String, Value>,
    },
    /// The server's state for a session that must survive a server restart.
    ServerData {
        id: SessionId,
        data: Map<String, Value>,
    },
    /// Close one session, telling the player why.
    Disconnect { id: SessionId, reason: String },
    /// The answer to `auth`: whether the client may log in, and a reason when not.
    AuthResult {
        id: SessionId,
        req: u64,
        accepted: bool,
        reason: Option<String>,
    },
}

/// What can go wrong on the link.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The socket failed.
    #[error("link i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A frame did not hold a valid message.
    #[error("link frame is not a valid message: {0}")]
    Decode(#[from] serde_json::Error),
    /// The peer closed the link.
    #[error("link closed by peer")]
    Closed,
    /// The peer did not say hello in time, or said something else first.
    #[error("link handshake failed: {0}")]
    Handshake(String),
}

/// A framed link over any byte stream, reading `R` and writing `W`.
pub struct Link<S, R, W> {
    framed: Framed<S, LengthDelimitedCodec>,
    _types: std::marker::PhantomData<fn(W) -> R>,
}

/// The portal's end: reads server messages, writes portal messages.
pub type PortalEnd<S> = Link<S, ServerMsg, PortalMsg>;
/// The server's end: reads portal messages, writes server messages.
pub type ServerEnd<S> = Link<S, PortalMsg, ServerMsg>;

/// The codec both ends use.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

impl<S, R, W> Link<S, R, W>
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: for<'de> Deserialize<'de>,
    W: Serialize,
{
    /// Wraps a connected stream.
    pub fn new(stream: S) -> Self {
        Link {
            framed: Framed::new(stream, codec()),
            _types: std::marker::PhantomData,
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &W) -> Result<(), LinkError> {
        let body = serde_json::to_vec(msg)?;
        self.framed.send(Bytes::from(body)).await?;
        Ok(())
    }

    /// Receives one message; `Err(Closed)` at a clean end of stream.
    pub async fn recv(&mut self) -> Result<R, LinkError> {
        match self.framed.next().await {
            Some(Ok(frame)) => Ok(serde_json::from_slice(&frame)?),
            Some(Err(e)) => Err(LinkError::Io(e)),
            None => Err(LinkError::Closed),
        }
    }
}

/// Encodes one message as a frame body (for writers that hold the split sink).
pub fn encode<W: Serialize>(msg: &W) -> Result<Bytes, LinkError> {
    Ok(Bytes::from(serde_json::to_vec(msg)?))
}

/// Decodes one frame body.
pub fn decode<R: for<'de> Deserialize<'de>>(frame: &[u8]) -> Result<R, LinkError> {
    Ok(serde_json::from_slice(frame)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Session, protocol};

    #[tokio::test]
    async fn messages_round_trip_over_a_socket_pair() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let mut portal: PortalEnd<_> = Link::new(a);
        let mut server: ServerEnd<_> = Link::new(b);
        let s = Session::init_session(3, protocol::TELNET, "127.0.0.1");
        let msgs = vec![
            PortalMsg::Hello {
                version: VERSION,
                pid: 1,
                listeners: vec![crate::control::ListenerInfo {
                    protocol: "ssh".into(),
                    addr: "0.0.0.0:4004".into(),
                }],
            },
            PortalMsg::SyncAll {
                reason: SyncReason::Reload,
                sessions: vec![s.get_sync_data()],
            },
            PortalMsg::DataIn {
                id: 3,
                seq: 9,
                messages: vec![Message::text("héllo 🎉")],
            },
        ];
        for m in &msgs {
            portal.send(m).await.unwrap();
        }
        for m in &msgs {
            assert_eq!(&server.recv().await.unwrap(), m);
        }
        server
            .send(&ServerMsg::Ack { id: 3, seq: 9 })
            .await
            .unwrap();
        assert_eq!(
            portal.recv().await.unwrap(),
            ServerMsg::Ack { id: 3, seq: 9 }
        );
    }

    #[test]
    fn wire_form_is_externally_tagged_json() {
        let j = serde_json::to_string(&ServerMsg::Ack { id: 1, seq: 2 }).unwrap();
        assert_eq!(j, r#"{"ack":{"id":1,"seq":2}}"#);
        let j = serde_json::to_string(&PortalMsg::Reload).unwrap();
        assert_eq!(j, r#""reload""#);
    }

    #[tokio::test]
    async fn oversized_frame_is_an_error_not_a_panic() {
        use tokio::io::AsyncWriteExt;
        let (mut a, b) = tokio::io::duplex(64);
        let mut server: ServerEnd<_> = Link::new(b);
        let len = (MAX_FRAME as u32 + 1).to_be_bytes();
        tokio::spawn(async move {
            let _ = a.write_all(&len).await;
            let _ = a.write_all(&[b'x'; 32]).await;
        });
        assert!(matches!(server.recv().await, Err(LinkError::Io(_))));
    }

    #[tokio::test]
    async fn garbage_frame_is_a_decode_error() {
        let (a, b) = tokio::io::duplex(1024);
        let mut raw = Framed::new(a, codec());
        raw.send(Bytes::from_static(b"{not json")).await.unwrap();
        let mut server: ServerEnd<_> = Link::new(b);
        assert!(matches!(server.recv().await, Err(LinkError::Decode(_))));
    }
}
