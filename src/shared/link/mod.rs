//! The link between portal and server: typed messages in length-delimited JSON frames.
//!
//! Documented in `docs/link-protocol.md`. Every frame is a 4-byte big-endian length followed by
//! that many bytes of UTF-8 JSON holding one [`PortalMsg`] (portal → server) or one
//! [`ServerMsg`] (server → portal). Frames are at most [`MAX_FRAME`] bytes; a bigger one is a
//! protocol error that closes the link. The first frame each way is `hello`, carrying
//! [`VERSION`]; a peer with another version is refused. The server connects to the portal.
//!
//! Both ends use the same framing: a [`Link`] over the Unix socket, split into a
//! [`LinkReader`] (with [`LinkReader::hello`] enforcing [`HELLO_TIMEOUT`]) and a
//! [`LinkWriter`] (`feed` several messages, then one `flush`, so a burst is one write).

use crate::shared::message::Message;
use crate::shared::session::{SessionId, SyncData};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::marker::PhantomData;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// Link protocol version; bumped on any incompatible change.
pub const VERSION: u32 = 4;

/// Largest frame either side accepts, in bytes.
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

/// Most bytes of sessions one `sync_all` part carries (well under [`MAX_FRAME`]).
pub const SYNC_PART_BYTES: usize = 1024 * 1024;

/// Splits the portal's sessions into `sync_all` parts of at most [`SYNC_PART_BYTES`] each
/// (a session bigger than that goes alone). A session too big for any frame (its
/// server_data is the server's, so this is the server's doing) loses its server_data, with an
/// error in the log, rather than the whole sync its frame. Always at least one part.
pub fn sync_parts(sessions: Vec<SyncData>) -> Vec<Vec<SyncData>> {
    let mut parts = Vec::new();
    let mut part = Vec::new();
    let mut size = 0;
    for mut s in sessions {
        let mut n = serde_json::to_vec(&s).map_or(0, |v| v.len());
        if n > MAX_FRAME / 2 {
            tracing::error!(
                session = s.id,
                bytes = n,
                "session too big to sync; its server_data is dropped"
            );
            s.server_data.clear();
            n = serde_json::to_vec(&s).map_or(0, |v| v.len());
        }
        if !part.is_empty() && size + n > SYNC_PART_BYTES {
            parts.push(std::mem::take(&mut part));
            size = 0;
        }
        size += n;
        part.push(s);
    }
    parts.push(part);
    parts
}

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

/// A step of an SSH session's life, which reaches the server in order with its input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// An interactive shell started: log the authenticated account in (or show the
    /// connection screen to the registration user).
    Shell,
    /// Run one command as the authenticated account, then answer `exit_status`.
    Exec { command: String },
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
        listeners: Vec<crate::shared::control::ListenerInfo>,
    },
    /// Part of every session the portal holds; the server rebuilds its registry from the
    /// parts (PSYNC). The parts follow `hello` one after another, each at most
    /// [`SYNC_PART_BYTES`] of sessions so that no number of sessions makes a frame too big;
    /// `last` marks the final one, after which the server answers `synced`.
    SyncAll {
        reason: SyncReason,
        sessions: Vec<SyncData>,
        last: bool,
    },
    /// A new connection became a session.
    Connect { session: SyncData },
    /// A session's connection closed.
    Disconnect { id: SessionId, reason: String },
    /// An SSH client asks to log in as `username`; answered by `auth_result` with the same
    /// `req`. On success the account is remembered for the session and logged in when its
    /// shell starts or used for one command (`start`). `address` is the client's (the
    /// throttles count it): a session attached to a game behind the gateway is not the
    /// server's, yet its SSH login may be checked against the accounts.
    Auth {
        id: SessionId,
        req: u64,
        username: String,
        method: AuthMethod,
        address: String,
    },
    /// Input from a player, numbered per session; the server acks it once handled.
    DataIn {
        id: SessionId,
        seq: u64,
        messages: Vec<Message>,
    },
    /// An SSH session's shell or command started; numbered with the session's input and
    /// acked like it.
    Start {
        id: SessionId,
        seq: u64,
        start: Start,
    },
    /// The operator deleted this account: log out and disconnect its sessions, and refuse it
    /// to sessions that authenticated as it but have not started yet.
    AccountDeleted { account_id: i64 },
    /// The portal learnt something about a client (NAWS, TTYPE, CHARSET …): a partial
    /// protocol_flags update to merge. Login state is the server's and is not carried here.
    SyncOne {
        id: SessionId,
        protocol_flags: Map<String, Value>,
    },
    /// Are you there? Answered at once with `pong` and the same number; a server that does
    /// not answer in time is taken for hung.
    Ping { n: u64 },
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
    /// The answer to `ping`.
    Pong { n: u64 },
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
    /// An SSH command (`start` `exec`) finished with this exit status; the session closes.
    ExitStatus { id: SessionId, code: u32 },
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

/// Receiving half of a link: frames in, `R` out. The portal reads [`ServerMsg`], the server
/// [`PortalMsg`].
pub struct LinkReader<S, R> {
    /// Length-delimited frames from the peer, at most [`MAX_FRAME`] bytes each.
    frames: FramedRead<S, LengthDelimitedCodec>,
    /// The message type this half decodes; carries no data.
    _msg: PhantomData<fn() -> R>,
}

impl<S, R> LinkReader<S, R>
where
    S: AsyncRead + Unpin,
    R: for<'de> Deserialize<'de>,
{
    /// Reads frames from one half of a connected stream.
    pub fn new(half: S) -> Self {
        LinkReader {
            frames: FramedRead::new(half, codec()),
            _msg: PhantomData,
        }
    }

    /// Receives one message; `Err(Closed)` at a clean end of stream. Cancel-safe: a message
    /// is never lost when this future is dropped (it can sit in a `select!`).
    pub async fn recv(&mut self) -> Result<R, LinkError> {
        match self.frames.next().await {
            Some(Ok(frame)) => decode(&frame),
            Some(Err(e)) => Err(LinkError::Io(e)),
            None => Err(LinkError::Closed),
        }
    }

    /// Receives one message, or `Ok(None)` when none arrived within `limit`.
    pub async fn recv_timeout(&mut self, limit: Duration) -> Result<Option<R>, LinkError> {
        match tokio::time::timeout(limit, self.recv()).await {
            Ok(msg) => msg.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Receives the peer's first message, which must arrive within [`HELLO_TIMEOUT`]. Whether
    /// it is a `hello` with the right [`VERSION`] is for the caller to judge: each end answers
    /// a wrong one differently.
    pub async fn hello(&mut self) -> Result<R, LinkError> {
        self.recv_timeout(HELLO_TIMEOUT)
            .await?
            .ok_or_else(|| LinkError::Handshake("no hello within the timeout".into()))
    }
}

/// Sending half of a link: `W` in, frames out. The portal writes [`PortalMsg`], the server
/// [`ServerMsg`].
pub struct LinkWriter<S, W> {
    /// Length-delimited frames to the peer; `feed` fills its buffer, `flush` writes it.
    frames: FramedWrite<S, LengthDelimitedCodec>,
    /// The message type this half encodes; carries no data.
    _msg: PhantomData<fn(W)>,
}

impl<S, W> LinkWriter<S, W>
where
    S: AsyncWrite + Unpin,
    W: Serialize,
{
    /// Writes frames to one half of a connected stream.
    pub fn new(half: S) -> Self {
        LinkWriter {
            frames: FramedWrite::new(half, codec()),
            _msg: PhantomData,
        }
    }

    /// Queues one message without flushing, so that several go out in one write. (The
    /// buffer is written early only when it grows past the codec's backpressure boundary.)
    pub async fn feed(&mut self, msg: &W) -> Result<(), LinkError> {
        self.frames.feed(encode(msg)?).await?;
        Ok(())
    }

    /// Writes everything queued by [`feed`](Self::feed). Only the socket can fail here.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        SinkExt::<Bytes>::flush(&mut self.frames).await
    }

    /// Sends one message and flushes it.
    pub async fn send(&mut self, msg: &W) -> Result<(), LinkError> {
        self.frames.send(encode(msg)?).await?;
        Ok(())
    }
}

/// Both halves of a link over one Unix stream socket, reading `R` and writing `W`.
pub struct Link<R, W> {
    /// Where the peer's messages arrive.
    reader: LinkReader<OwnedReadHalf, R>,
    /// Where ours go.
    writer: LinkWriter<OwnedWriteHalf, W>,
}

/// The portal's end: reads server messages, writes portal messages.
pub type PortalEnd = Link<ServerMsg, PortalMsg>;
/// The server's end: reads portal messages, writes server messages.
pub type ServerEnd = Link<PortalMsg, ServerMsg>;

/// The codec both ends use.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

impl<R, W> Link<R, W>
where
    R: for<'de> Deserialize<'de>,
    W: Serialize,
{
    /// Wraps a connected socket.
    pub fn new(stream: UnixStream) -> Self {
        let (r, w) = stream.into_split();
        Link {
            reader: LinkReader::new(r),
            writer: LinkWriter::new(w),
        }
    }

    /// Splits the link so that reading and writing can live in different tasks.
    pub fn split(self) -> (LinkReader<OwnedReadHalf, R>, LinkWriter<OwnedWriteHalf, W>) {
        (self.reader, self.writer)
    }

    /// Sends one message and flushes it.
    pub async fn send(&mut self, msg: &W) -> Result<(), LinkError> {
        self.writer.send(msg).await
    }

    /// Receives one message; `Err(Closed)` at a clean end of stream.
    pub async fn recv(&mut self) -> Result<R, LinkError> {
        self.reader.recv().await
    }
}

/// Encodes one message as a frame body.
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

    #[test]
    fn no_number_of_sessions_makes_a_sync_frame_too_big() {
        // 10,000 sessions whose clients sent the biggest flags a client may.
        let mut flags = Map::new();
        for k in ["CLIENTNAME", "TERM", "CLIENTVERSION", "ENCODING"] {
            flags.insert(k.into(), Value::from("\\\"".repeat(200)));
        }
        flags.insert(
            "GMCP_SUPPORTS".into(),
            Value::Array(vec![Value::from("\"".repeat(30)); 64]),
        );
        crate::shared::session::bound_peer_flags(&mut flags);
        let sessions: Vec<SyncData> = (0..10_000)
            .map(|id| {
                let mut s = crate::shared::session::Session::init_session(
                    id,
                    crate::shared::session::Protocol::Telnet,
                    "2001:db8::1",
                );
                s.update_flags(&flags);
                s.get_sync_data()
            })
            .collect();
        let parts = sync_parts(sessions);
        assert!(parts.len() > 10, "{} parts", parts.len());
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 10_000);
        for p in parts {
            let msg = PortalMsg::SyncAll {
                reason: SyncReason::Reload,
                sessions: p,
                last: false,
            };
            let frame = encode(&msg).unwrap();
            assert!(
                frame.len() <= SYNC_PART_BYTES + 64 * 1024,
                "{}",
                frame.len()
            );
        }
        // No sessions: one empty part, so the server still hears `last`.
        assert_eq!(sync_parts(Vec::new()).len(), 1);
    }
    use crate::shared::session::{Protocol, Session};

    #[tokio::test]
    async fn messages_round_trip_over_a_socket_pair() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut portal = PortalEnd::new(a);
        let mut server = ServerEnd::new(b);
        let s = Session::init_session(3, Protocol::Telnet, "127.0.0.1");
        let msgs = vec![
            PortalMsg::Hello {
                version: VERSION,
                pid: 1,
                listeners: vec![crate::shared::control::ListenerInfo {
                    protocol: "ssh".into(),
                    addr: "0.0.0.0:4004".into(),
                }],
            },
            PortalMsg::SyncAll {
                reason: SyncReason::Reload,
                sessions: vec![s.get_sync_data()],
                last: true,
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
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut server = ServerEnd::new(b);
        let len = (MAX_FRAME as u32 + 1).to_be_bytes();
        tokio::spawn(async move {
            let _ = a.write_all(&len).await;
            let _ = a.write_all(&[b'x'; 32]).await;
        });
        assert!(matches!(server.recv().await, Err(LinkError::Io(_))));
    }

    #[tokio::test]
    async fn garbage_frame_is_a_decode_error() {
        use tokio::io::AsyncWriteExt;
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"\0\0\0\x09{not json").await.unwrap();
        let mut server = ServerEnd::new(b);
        assert!(matches!(server.recv().await, Err(LinkError::Decode(_))));
    }

    #[tokio::test]
    async fn a_frame_is_a_big_endian_length_then_json() {
        use tokio::io::AsyncReadExt;
        let (a, mut b) = UnixStream::pair().unwrap();
        let (_, mut writer) = ServerEnd::new(a).split();
        writer
            .send(&ServerMsg::Ack { id: 1, seq: 2 })
            .await
            .unwrap();
        let json = br#"{"ack":{"id":1,"seq":2}}"#;
        let mut got = vec![0; 4 + json.len()];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got[..4], (json.len() as u32).to_be_bytes());
        assert_eq!(&got[4..], json);
    }

    #[tokio::test]
    async fn fed_messages_wait_for_flush_then_arrive_in_order() {
        let (a, b) = UnixStream::pair().unwrap();
        let (_, mut writer) = ServerEnd::new(a).split();
        let (mut reader, _) = PortalEnd::new(b).split();
        for seq in 1..=3 {
            writer.feed(&ServerMsg::Ack { id: 7, seq }).await.unwrap();
        }
        let early = reader
            .recv_timeout(Duration::from_millis(20))
            .await
            .unwrap();
        assert_eq!(early, None, "fed frames stay buffered until flush");
        writer.flush().await.unwrap();
        for seq in 1..=3 {
            assert_eq!(reader.recv().await.unwrap(), ServerMsg::Ack { id: 7, seq });
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_fails_the_hello_after_the_timeout() {
        let (_a, b) = UnixStream::pair().unwrap();
        let (mut reader, _) = PortalEnd::new(b).split();
        let started = tokio::time::Instant::now();
        match reader.hello().await {
            Err(LinkError::Handshake(why)) => assert_eq!(why, "no hello within the timeout"),
            other => panic!("expected a handshake error, got {:?}", other.map(|_| ())),
        }
        assert!(started.elapsed() >= HELLO_TIMEOUT);
    }

    #[tokio::test]
    async fn a_closed_peer_is_closed_not_a_timeout() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(a);
        let (mut reader, _) = PortalEnd::new(b).split();
        assert!(matches!(reader.hello().await, Err(LinkError::Closed)));
    }
}
