//! Browser sessions, which outlive the connections that carry them.
//!
//! A browser session is a portal session like any other, but its transport comes and goes:
//! a WebSocket that drops when the network changes, a page reload, or one long-poll request
//! after another. So the session is not a connection task: it is a [`WebSession`] with a
//! bounded outbox, found by its token, and a *pump* task that renders what the core sends
//! into the outbox. Transports *attach* (the newest wins; an older one is told it was
//! superseded), drain the outbox and *detach*. A session with nothing attached for
//! `[web] reconnect_grace_secs` is closed.
//!
//! Tokens are 128 random bits and bound to the address that opened the session.

use crate::markup;
use crate::message::{Kind, Message};
use crate::portal::core::{CoreEvent, ServerStatus};
use crate::portal::port::{CloseReason, FromCore, PortInput, PortReceiver, PortView, SessionPort};
use crate::session::{Protocol, SessionId, flag};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// How long a closed session's last messages (the reason it closed) wait for a transport:
/// a long-polling page comes back within moments. Shorter than the portal's shutdown grace,
/// so a goodbye can still be fetched while the portal stops.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// One message for the browser, with its JSON form made once.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The message, text already rendered (markup to ANSI).
    pub msg: Message,
    /// `[name, [args], {kwargs}]`.
    pub json: String,
    /// Its number in the session's output (from 1; 0 until queued).
    pub seq: u64,
}

impl Frame {
    /// Encodes a message.
    pub fn new(msg: Message) -> Self {
        let json = serde_json::to_string(&msg).unwrap_or_else(|_| "[\"text\",[\"\"],{}]".into());
        Frame { msg, json, seq: 0 }
    }
}

/// What a transport finds when it looks at its session.
#[derive(Debug, Default)]
pub struct Taken {
    /// Messages to deliver, oldest first.
    pub frames: Vec<Frame>,
    /// A newer transport attached; this one should end.
    pub superseded: bool,
    /// The session ended (why), and `frames` are its last messages.
    pub closed: Option<String>,
}

#[derive(Debug)]
struct State {
    outbox: VecDeque<Frame>,
    bytes: usize,
    /// Generation of the attached transport; 0 when none is.
    current: u64,
    next_gen: u64,
    /// When the last transport went away.
    detached_since: Option<Instant>,
    /// The last long-poll answer, kept until the next poll acknowledges it.
    last_batch: Option<(u64, Vec<Frame>)>,
    /// Messages written to a WebSocket that the page has not acknowledged yet (oldest
    /// first), to send again if the connection was lost with them; bounded like the outbox.
    ws_unacked: VecDeque<(u64, String)>,
    ws_unacked_bytes: usize,
    /// Set by the page's first `ack`: a client that never acknowledges has nothing kept.
    ws_acks: bool,
    /// Number of the last message queued.
    pushed: u64,
    /// Input messages (all but `hello` and `ack`) taken from the page so far.
    input_seen: u64,
    /// Number of the next long-poll answer.
    next_batch: u64,
    /// Set when the session ends, with the reason.
    closed: Option<CloseReason>,
}

impl State {
    /// Nothing queued, nothing attached (the grace period running since `detached_since`).
    fn new(detached_since: Option<Instant>) -> Self {
        State {
            outbox: VecDeque::new(),
            bytes: 0,
            current: 0,
            next_gen: 0,
            detached_since,
            last_batch: None,
            ws_unacked: VecDeque::new(),
            ws_unacked_bytes: 0,
            ws_acks: false,
            pushed: 0,
            input_seen: 0,
            next_batch: 1,
            closed: None,
        }
    }

    /// Forgets kept WebSocket output the page has (numbers up to `seen`).
    fn drop_acked(&mut self, seen: u64) {
        while self.ws_unacked.front().is_some_and(|(seq, _)| *seq <= seen) {
            if let Some((_, json)) = self.ws_unacked.pop_front() {
                self.ws_unacked_bytes -= json.len();
            }
        }
    }
}

/// One browser session.
#[derive(Debug)]
pub struct WebSession {
    /// Portal session id.
    pub id: SessionId,
    /// The token that finds it.
    pub token: String,
    /// The address that opened it (and the only one that may resume it).
    pub address: IpAddr,
    /// The transport that opened it: WebSocket or long-poll.
    pub protocol: Protocol,
    /// Where the page's input goes.
    pub input: PortInput,
    state: Mutex<State>,
    /// Bumped on every change a transport might wait for.
    changed: watch::Sender<u64>,
    /// protocol_flags and caps as this front end knows them, for rendering.
    view: Mutex<PortView>,
    /// Bound on `outbox` bytes.
    limit: usize,
}

/// A transport's hold on a session; dropping it detaches (however the transport ended).
#[derive(Debug)]
pub struct Attachment {
    session: Arc<WebSession>,
    /// Its generation.
    pub generation: u64,
    /// Wakes when the session changes.
    pub changes: watch::Receiver<u64>,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.session.detach(self.generation);
    }
}

impl WebSession {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Attaches a transport; any other attached transport is superseded.
    pub fn attach(self: &Arc<Self>) -> Attachment {
        let changes = self.changed.subscribe();
        let generation = {
            let mut s = self.lock();
            s.next_gen += 1;
            s.current = s.next_gen;
            s.detached_since = None;
            s.current
        };
        self.bump();
        Attachment {
            session: self.clone(),
            generation,
            changes,
        }
    }

    /// Detaches a transport (if it is still the attached one); the grace period starts.
    fn detach(&self, generation: u64) {
        {
            let mut s = self.lock();
            if s.current != generation {
                return;
            }
            s.current = 0;
            s.detached_since = Some(Instant::now());
        }
        self.bump();
    }

    /// Takes what there is to deliver for the transport of this generation.
    pub fn take(&self, generation: u64) -> Taken {
        let mut s = self.lock();
        if s.current != generation {
            return Taken {
                superseded: true,
                ..Taken::default()
            };
        }
        s.bytes = 0;
        Taken {
            frames: s.outbox.drain(..).collect(),
            superseded: false,
            closed: s.closed.as_ref().map(ToString::to_string),
        }
    }

    /// Takes what a long-poll answers, as a numbered batch. The previous batch is kept until
    /// a poll acknowledges it (`ack`, its number); a poll that does not (the answer was lost
    /// with a dropped connection) gets it again, first. Without an ack header nothing is kept.
    pub fn take_batch(&self, generation: u64, ack: Option<u64>) -> (Taken, Option<u64>) {
        let resend = {
            let mut s = self.lock();
            if s.current != generation {
                Vec::new()
            } else {
                match s.last_batch.take() {
                    Some((id, frames)) if ack.is_some_and(|a| a != id) => {
                        tracing::info!(batch = id, "long-poll answer not acknowledged; sent again");
                        frames
                    }
                    _ => Vec::new(),
                }
            }
        };
        let mut taken = self.take(generation);
        if taken.superseded {
            return (taken, None);
        }
        if !resend.is_empty() {
            let new = std::mem::replace(&mut taken.frames, resend);
            taken.frames.extend(new);
        }
        if taken.frames.is_empty() || ack.is_none() {
            return (taken, None);
        }
        let mut s = self.lock();
        let id = s.next_batch;
        s.next_batch += 1;
        s.last_batch = Some((id, taken.frames.clone()));
        (taken, Some(id))
    }

    /// Keeps messages about to be written to a WebSocket until the page acknowledges them
    /// (the oldest go first past the outbox's bound).
    pub fn ws_sending(&self, frames: &[Frame]) {
        let mut s = self.lock();
        if !s.ws_acks {
            return;
        }
        for f in frames {
            s.ws_unacked_bytes += f.json.len();
            s.ws_unacked.push_back((f.seq, f.json.clone()));
        }
        while s.ws_unacked_bytes > self.limit {
            match s.ws_unacked.pop_front() {
                Some((_, json)) => s.ws_unacked_bytes -= json.len(),
                None => break,
            }
        }
    }

    /// The page has every message up to number `seen`.
    pub fn ws_ack(&self, seen: u64) {
        let mut s = self.lock();
        s.ws_acks = true;
        s.drop_acked(seen);
    }

    /// What a page that resumes having `seen` messages must get again (oldest first), and
    /// whether some of what it missed is no longer kept.
    pub fn ws_replay(&self, seen: u64) -> (Vec<String>, bool) {
        let mut s = self.lock();
        s.drop_acked(seen);
        let next = match (s.ws_unacked.front(), s.outbox.front()) {
            (Some((seq, _)), _) => *seq,
            (None, Some(f)) => f.seq,
            (None, None) => s.pushed + 1,
        };
        let frames = s.ws_unacked.iter().map(|(_, json)| json.clone()).collect();
        (frames, seen.saturating_add(1) < next)
    }

    /// Counts input messages from the page: of `n` numbered from `first`, how many are new
    /// (a resent long-poll request carries some the portal already took).
    pub fn input_arrived(&self, first: Option<u64>, n: u64) -> u64 {
        let mut s = self.lock();
        match first {
            Some(first) if n > 0 => {
                let skip = s.input_seen.saturating_add(1).saturating_sub(first).min(n);
                s.input_seen = s.input_seen.max(first.saturating_add(n - 1));
                skip
            }
            _ => {
                s.input_seen = s.input_seen.saturating_add(n);
                0
            }
        }
    }

    /// Input messages taken from the page so far.
    pub fn input_seen(&self) -> u64 {
        self.lock().input_seen
    }

    /// Queues messages; false (and the session closed) if the outbox would pass its bound.
    pub fn push(&self, frames: impl IntoIterator<Item = Frame>) -> bool {
        let ok = {
            let mut s = self.lock();
            if s.closed.is_some() {
                return false;
            }
            for mut f in frames {
                s.pushed += 1;
                f.seq = s.pushed;
                s.bytes += f.json.len();
                s.outbox.push_back(f);
            }
            if s.bytes > self.limit {
                s.outbox.clear();
                s.bytes = 0;
                s.closed = Some(CloseReason::OutputOverflow);
                false
            } else {
                true
            }
        };
        self.bump();
        ok
    }

    /// Queues one message.
    pub fn push_msg(&self, msg: Message) -> bool {
        self.push([Frame::new(msg)])
    }

    /// Ends the session from the browser's side (the page said it is leaving).
    pub fn end(&self, reason: &str) {
        self.close(CloseReason::BrowserClosed(reason.to_string()));
    }

    /// Ends the session; transports deliver what is queued, then close.
    fn close(&self, reason: CloseReason) {
        {
            let mut s = self.lock();
            if s.closed.is_none() {
                s.closed = Some(reason);
            }
        }
        self.bump();
    }

    /// Why the session ended, if it did.
    pub fn closed(&self) -> Option<CloseReason> {
        self.lock().closed.clone()
    }

    fn view(&self) -> MutexGuard<'_, PortView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Merges flags this front end learnt (the page's `hello`) or the server set.
    pub fn merge_flags(&self, update: &Map<String, Value>) {
        self.view().merge(update);
    }

    /// Renders server output for the browser for the session's caps (markup becomes ANSI,
    /// or plain text for a screen reader); out-of-band messages pass as they are.
    fn render(&self, msgs: Vec<Message>) -> Vec<Frame> {
        let caps = *self.view().caps();
        msgs.into_iter()
            .map(|mut m| {
                if m.kind() != Kind::OutOfBand {
                    for arg in &mut m.args {
                        if let Value::String(s) = arg {
                            *s = caps.render(s);
                        }
                    }
                }
                Frame::new(m)
            })
            .collect()
    }
}

/// Why a session could not be found for a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No live session has this token (never had, expired or closed).
    Unknown,
    /// The token belongs to a session opened from another address.
    WrongAddress {
        /// The address that opened it.
        owner: IpAddr,
    },
}

/// Every browser session, by token.
#[derive(Debug)]
pub struct Hub {
    sessions: Mutex<HashMap<String, Arc<WebSession>>>,
    rng: SystemRandom,
    core: mpsc::Sender<CoreEvent>,
    grace: Duration,
    outbox_limit: usize,
    /// The longest line a page may send.
    max_line: usize,
}

impl Hub {
    /// A hub with no sessions.
    pub fn new(
        core: mpsc::Sender<CoreEvent>,
        grace: Duration,
        outbox_limit: usize,
        max_line: usize,
    ) -> Arc<Self> {
        Arc::new(Hub {
            sessions: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
            core,
            grace,
            outbox_limit,
            max_line,
        })
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<WebSession>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds the live session for `token`, if `address` may use it.
    pub fn find(&self, token: &str, address: IpAddr) -> Result<Arc<WebSession>, Lookup> {
        let s = self.map().get(token).cloned().ok_or(Lookup::Unknown)?;
        if s.address != address {
            return Err(Lookup::WrongAddress { owner: s.address });
        }
        // A closed session is found only while its last messages wait to be fetched.
        if s.closed().is_some() && s.lock().outbox.is_empty() {
            return Err(Lookup::Unknown);
        }
        Ok(s)
    }

    /// Opens a new portal session for a browser at `address` (`secure`: over HTTPS); the
    /// error is the reason the core refused it, for the player.
    pub async fn open(
        self: &Arc<Self>,
        protocol: Protocol,
        address: IpAddr,
        secure: bool,
    ) -> Result<Arc<WebSession>, String> {
        let token = self.new_token().ok_or("Internal error; try again later.")?;
        let span = tracing::info_span!("conn", protocol = protocol.key(), peer = %address, session = tracing::field::Empty);
        let mut port = SessionPort::open(&self.core, protocol, address, self.max_line)
            .instrument(span.clone())
            .await
            .map_err(|refused| refused.to_string())?;
        // What the front end knows about a browser, told to the server as TTYPE/MTTS would.
        let mut told = Map::new();
        for key in [flag::ANSI, flag::XTERM256, flag::TRUECOLOR, flag::UTF8] {
            told.insert(key.into(), Value::Bool(true));
        }
        told.insert(flag::SSL.into(), Value::Bool(secure));
        told.insert(flag::ENCODING.into(), Value::from("utf-8"));
        told.insert(flag::CLIENTNAME.into(), Value::from("web browser"));
        let _ = port.set_flags(told).await;
        let (input, view, rx) = port.into_parts();
        let session = Arc::new(WebSession {
            id: input.id(),
            token: token.clone(),
            address,
            protocol,
            input,
            state: Mutex::new(State::new(Some(Instant::now()))),
            changed: watch::Sender::new(0),
            view: Mutex::new(view),
            limit: self.outbox_limit,
        });
        self.map().insert(token, session.clone());
        tokio::spawn(pump(self.clone(), session.clone(), rx).instrument(span));
        Ok(session)
    }

    fn new_token(&self) -> Option<String> {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes).ok()?;
        Some(base64url(&bytes))
    }

    fn remove(&self, token: &str) {
        self.map().remove(token);
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Renders what the core sends into the session's outbox, and closes the session when the
/// core says so, when its outbox overflows, or when no transport came back in time.
async fn pump(hub: Arc<Hub>, session: Arc<WebSession>, mut rx: PortReceiver) {
    let mut changes = session.changed.subscribe();
    let mut expired = false;
    let reason = loop {
        // With nothing attached, the session ends when the grace period runs out; an attach
        // or detach wakes this loop (through `changes`) to move the deadline.
        let expires = session
            .lock()
            .detached_since
            .map(|t| tokio::time::Instant::from_std(t + hub.grace));
        let expiry = async {
            match expires {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = changes.changed() => {
                // Ended from the browser's side (`end`), or the outbox overflowed.
                if let (Ok(()), Some(reason)) = (r, session.closed()) {
                    break reason;
                }
            }
            from_core = rx.recv_with(|flags| session.merge_flags(flags)) => match from_core {
                FromCore::DataOut(msgs) => {
                    let frames = session.render(msgs);
                    if !session.push(frames) {
                        tracing::warn!(limit = session.limit, "output buffer overflow; closing");
                        break session.closed().unwrap_or(CloseReason::OutputOverflow);
                    }
                }
                FromCore::ServerStatus(status) => {
                    session.push_msg(PageControl::ServerStatus(status).message());
                }
                FromCore::ExitStatus(_) => {}
                FromCore::Disconnect(reason) => {
                    session.push_msg(PageControl::Disconnect(markup::strip(&reason)).message());
                    let reason = CloseReason::Disconnected(reason);
                    session.close(reason.clone());
                    break reason;
                }
                FromCore::Gone => {
                    session.close(CloseReason::OutputOverflow);
                    break CloseReason::OutputOverflow;
                }
            },
            _ = expiry => {
                let gone = {
                    let s = session.lock();
                    s.detached_since.is_some_and(|t| t.elapsed() >= hub.grace)
                };
                if gone {
                    let reason = CloseReason::BrowserGone(hub.grace.as_secs());
                    session.close(reason.clone());
                    expired = true;
                    break reason;
                }
            }
        }
    };
    // Give the page a moment to fetch the last messages (why it was closed), over the
    // attached transport or the next poll; the session counts as open until then, so the
    // portal does not finish stopping before its goodbye is out. Nobody is coming back to
    // a session that ran out its grace period.
    if !expired {
        let deadline = tokio::time::Instant::now() + CLOSE_LINGER;
        while !session.lock().outbox.is_empty() {
            tokio::select! {
                r = changes.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
    session.input.closed(reason).await;
    hub.remove(&session.token);
}

/// Messages of the web front end's own to the page, kept apart from the game's: they travel
/// in the same `[name, [args], {kwargs}]` shape, under names the page reserves.
#[derive(Debug, Clone, PartialEq)]
pub enum PageControl {
    /// The session's token and state, first on every WebSocket (`session`).
    Session(Map<String, Value>),
    /// How the server is (`server_status`).
    ServerStatus(ServerStatus),
    /// Something the page sent was refused (`error`).
    Error(String),
    /// The session ends, and why (`disconnect`).
    Disconnect(String),
}

impl PageControl {
    /// The message the page reads.
    pub fn message(self) -> Message {
        let (name, arg, kwargs) = match self {
            PageControl::Session(kwargs) => ("session", None, kwargs),
            PageControl::ServerStatus(s) => ("server_status", Some(s.as_str().into()), Map::new()),
            PageControl::Error(why) => ("error", Some(why), Map::new()),
            PageControl::Disconnect(why) => ("disconnect", Some(why), Map::new()),
        };
        Message {
            name: name.into(),
            args: arg.map(Value::String).into_iter().collect(),
            kwargs,
        }
    }
}

/// URL-safe base64 without padding (RFC 4648 §5).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = ((n >> (18 - 6 * i)) & 63) as usize;
            out.push(char::from(ALPHABET[idx]));
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"\xfb\xff\xbf", "-_-_"),
        ];
        for (input, want) in cases {
            assert_eq!(base64url(input), want);
        }
        assert_eq!(base64url(&[0u8; 16]).len(), 22);
    }

    /// A session with no hub or core, for unit tests.
    pub(in crate::portal::web) fn session(limit: usize) -> Arc<WebSession> {
        session_to(limit, PortInput::for_test(1, mpsc::channel(1).0, 1024))
    }

    /// A session whose input goes to `input`.
    pub(in crate::portal::web) fn session_to(limit: usize, input: PortInput) -> Arc<WebSession> {
        Arc::new(WebSession {
            id: 1,
            token: "t".into(),
            address: IpAddr::from([127, 0, 0, 1]),
            protocol: Protocol::WebSocket,
            input,
            state: Mutex::new(State::new(None)),
            changed: watch::Sender::new(0),
            view: Mutex::new(PortView::default()),
            limit,
        })
    }

    #[test]
    fn the_newest_transport_wins_and_gets_what_was_queued() {
        let s = session(1 << 20);
        let a = s.attach();
        assert!(s.push_msg(Message::text("one")));
        let b = s.attach();
        assert!(s.take(a.generation).superseded);
        let t = s.take(b.generation);
        assert!(!t.superseded);
        assert_eq!(t.frames.len(), 1);
        assert_eq!(t.frames[0].json, r#"["text",["one"],{}]"#);
        // Detaching an old generation does not detach the new one.
        drop(a);
        assert_eq!(s.lock().current, b.generation);
        assert!(s.lock().detached_since.is_none());
        drop(b);
        assert!(s.lock().detached_since.is_some());
    }

    #[test]
    fn a_long_poll_answer_is_sent_again_until_acknowledged() {
        let s = session(1 << 20);
        let a = s.attach();
        s.push_msg(Message::text("one"));
        let (t, batch) = s.take_batch(a.generation, Some(0));
        assert_eq!(t.frames.len(), 1);
        let first = batch.unwrap();
        drop(a);
        // The answer was lost: the next poll still acknowledges the batch before it.
        s.push_msg(Message::text("two"));
        let b = s.attach();
        let (t, batch) = s.take_batch(b.generation, Some(0));
        let texts: Vec<_> = t
            .frames
            .iter()
            .map(|f| f.msg.first_str().unwrap())
            .collect();
        assert_eq!(texts, ["one", "two"]);
        let second = batch.unwrap();
        assert_ne!(first, second);
        drop(b);
        // Acknowledged: not sent again.
        let c = s.attach();
        s.push_msg(Message::text("three"));
        let (t, _) = s.take_batch(c.generation, Some(second));
        let texts: Vec<_> = t
            .frames
            .iter()
            .map(|f| f.msg.first_str().unwrap())
            .collect();
        assert_eq!(texts, ["three"]);
        // Without an ack header, nothing is kept for later.
        s.push_msg(Message::text("four"));
        let (t, batch) = s.take_batch(c.generation, None);
        assert_eq!(t.frames.len(), 1);
        assert_eq!(batch, None);
        assert!(s.lock().last_batch.is_none());
    }

    #[test]
    fn websocket_output_is_kept_until_acknowledged_and_replayed_after_a_drop() {
        let s = session(1 << 20);
        let a = s.attach();
        // Nothing is kept for a client that never acknowledges.
        s.push_msg(Message::text("zero"));
        let t = s.take(a.generation);
        s.ws_sending(&t.frames);
        assert!(s.lock().ws_unacked.is_empty());
        s.ws_ack(1);
        for t in ["one", "two", "three"] {
            s.push_msg(Message::text(t));
        }
        let t = s.take(a.generation);
        assert_eq!(
            t.frames.iter().map(|f| f.seq).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        s.ws_sending(&t.frames);
        s.ws_ack(2);
        drop(a);
        // The connection died with "two" and "three" unread; the page saw "zero" and "one".
        s.push_msg(Message::text("four"));
        let (again, gap) = s.ws_replay(2);
        assert_eq!(
            again,
            [r#"["text",["two"],{}]"#, r#"["text",["three"],{}]"#]
        );
        assert!(!gap);
        // "four" is still in the outbox, after them.
        let b = s.attach();
        assert_eq!(s.take(b.generation).frames[0].seq, 5);
        // A page that saw nothing, after the kept messages were acknowledged: a gap.
        s.ws_ack(4);
        let (again, gap) = s.ws_replay(0);
        assert!(again.is_empty());
        assert!(gap);
    }

    #[test]
    fn resent_input_is_counted_once() {
        let s = session(1 << 20);
        assert_eq!(s.input_arrived(None, 2), 0);
        assert_eq!(s.input_seen(), 2);
        // A long-poll POST of messages 3..=5, then the same POST again, then 5..=6.
        assert_eq!(s.input_arrived(Some(3), 3), 0);
        assert_eq!(s.input_arrived(Some(3), 3), 3);
        assert_eq!(s.input_arrived(Some(5), 2), 1);
        assert_eq!(s.input_seen(), 6);
        assert_eq!(s.input_arrived(Some(7), 0), 0);
        // Numbers from a hostile page cannot overflow anything.
        assert_eq!(s.input_arrived(Some(u64::MAX), 5), 0);
        assert_eq!(s.input_seen(), u64::MAX);
        assert_eq!(s.input_arrived(None, 5), 0);
        assert!(!s.ws_replay(u64::MAX).1);
    }

    #[test]
    fn an_outbox_past_its_bound_closes_the_session() {
        let s = session(100);
        assert!(s.push_msg(Message::text("x".repeat(40))));
        assert!(!s.push_msg(Message::text("y".repeat(80))));
        assert_eq!(s.closed(), Some(CloseReason::OutputOverflow));
        let attached = s.attach();
        let t = s.take(attached.generation);
        assert!(!t.superseded);
        assert!(t.frames.is_empty(), "an overflowed outbox is dropped");
        assert!(t.closed.unwrap().contains("overflow"));
    }

    #[test]
    fn text_is_rendered_for_the_sessions_colour_level() {
        let s = session(1 << 20);
        let mut flags = Map::new();
        flags.insert("ANSI".into(), Value::Bool(true));
        s.merge_flags(&flags);
        let f = s.render(vec![Message::text("|rred|n"), Message::new("Char.Vitals")]);
        assert_eq!(f[0].msg.first_str(), Some("\x1b[22;31mred\x1b[0m"));
        assert_eq!(f[1].json, r#"["Char.Vitals",[],{}]"#);
        flags.insert("SCREENREADER".into(), Value::Bool(true));
        s.merge_flags(&flags);
        let f = s.render(vec![Message::text("|rred|n")]);
        assert_eq!(f[0].msg.first_str(), Some("red"));
    }
}
