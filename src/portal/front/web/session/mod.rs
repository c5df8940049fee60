//! One browser session's state: a bounded outbox of rendered [`Frame`]s that transports
//! attach to and drain (the newest attached wins), what the page has acknowledged, the last
//! long-poll answer, and the session's [`PortView`] for rendering. Also the web front end's
//! own control messages to the page, [`PageControl`], kept apart from the game's.
//!
//! Invariant: the outbox, the unacknowledged WebSocket output and the long-poll answer kept
//! for resending (with what joins it) are each bounded by the session's `limit` in bytes; an
//! outbox or a long-poll answer past it closes the session.

use crate::portal::core::ServerStatus;
use crate::portal::port::{CloseReason, PortInput, PortView};
use crate::shared::message::{Kind, Message};
use crate::shared::session::{Protocol, SessionId};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::watch;

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

/// What finds a session and where it was last used from; the hub changes both.
#[derive(Debug)]
struct Key {
    /// The token that finds it (a new one on every resume).
    token: String,
    /// The token before the last resume, which still finds it until the page shows it has
    /// the new one (the answer carrying it may be lost).
    previous: Option<String>,
    /// The address it was last used from.
    address: IpAddr,
}

/// One browser session.
#[derive(Debug)]
pub struct WebSession {
    /// Its token and address.
    key: Mutex<Key>,
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
    /// A session with nothing queued and nothing attached (its grace period starts now).
    pub(super) fn new(
        token: String,
        address: IpAddr,
        protocol: Protocol,
        input: PortInput,
        view: PortView,
        limit: usize,
    ) -> Self {
        WebSession {
            key: Mutex::new(Key {
                token,
                previous: None,
                address,
            }),
            protocol,
            input,
            state: Mutex::new(State::new(Some(Instant::now()))),
            changed: watch::Sender::new(0),
            view: Mutex::new(view),
            limit,
        }
    }

    /// The portal session id.
    pub fn id(&self) -> SessionId {
        self.input.id()
    }

    /// Wakes on every change a transport or the pump might wait for.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Since when nothing is attached, if nothing is.
    pub(super) fn detached_since(&self) -> Option<Instant> {
        self.lock().detached_since
    }

    /// Whether nothing waits to be delivered.
    pub(super) fn outbox_is_empty(&self) -> bool {
        self.lock().outbox.is_empty()
    }

    /// The bound on queued output, in bytes.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// The token that finds it now.
    pub fn token(&self) -> String {
        self.key().token.clone()
    }

    /// The address it was last used from.
    pub fn address(&self) -> IpAddr {
        self.key().address
    }

    /// Gives it a new token; the old one stays usable until [`WebSession::forget_previous`].
    /// Returns the token that stops working now (the one before the old), if any.
    pub(super) fn set_token(&self, token: String) -> Option<String> {
        let mut k = self.key();
        let old = std::mem::replace(&mut k.token, token);
        k.previous.replace(old)
    }

    /// The page used the current token: the previous one stops working; it is returned.
    pub(super) fn forget_previous(&self, used: &str) -> Option<String> {
        let mut k = self.key();
        if k.token == used {
            k.previous.take()
        } else {
            None
        }
    }

    /// Every token that finds it now.
    pub(super) fn tokens(&self) -> Vec<String> {
        let k = self.key();
        k.previous
            .iter()
            .cloned()
            .chain([k.token.clone()])
            .collect()
    }

    /// Records the address it is used from now; the one before.
    pub(super) fn set_address(&self, address: IpAddr) -> IpAddr {
        std::mem::replace(&mut self.key().address, address)
    }

    fn key(&self) -> MutexGuard<'_, Key> {
        self.key.lock().unwrap_or_else(|p| p.into_inner())
    }

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
    ///
    /// The batch is bounded like the outbox: a client that keeps asking for its answer again
    /// while output piles up is as far behind as a stalled reader, and the session is closed
    /// the same way (the poll finds it closed).
    pub fn take_batch(&self, generation: u64, ack: Option<u64>) -> (Taken, Option<u64>) {
        let mut s = self.lock();
        if s.current != generation {
            return (
                Taken {
                    superseded: true,
                    ..Taken::default()
                },
                None,
            );
        }
        let mut frames = match s.last_batch.take() {
            Some((id, frames)) if ack.is_some_and(|a| a != id) => {
                tracing::info!(batch = id, "long-poll answer not acknowledged; sent again");
                frames
            }
            _ => Vec::new(),
        };
        let resent: usize = frames.iter().map(|f| f.json.len()).sum();
        if resent + s.bytes > self.limit {
            tracing::warn!(
                limit = self.limit,
                bytes = resent + s.bytes,
                "long-poll client too far behind (answers not acknowledged); closing as a stalled reader"
            );
            s.outbox.clear();
            s.bytes = 0;
            if s.closed.is_none() {
                s.closed = Some(CloseReason::OutputOverflow);
            }
            let closed = s.closed.as_ref().map(ToString::to_string);
            drop(s);
            self.bump();
            return (
                Taken {
                    closed,
                    ..Taken::default()
                },
                None,
            );
        }
        s.bytes = 0;
        frames.extend(s.outbox.drain(..));
        let closed = s.closed.as_ref().map(ToString::to_string);
        let batch = if frames.is_empty() || ack.is_none() {
            None
        } else {
            let id = s.next_batch;
            s.next_batch += 1;
            s.last_batch = Some((id, frames.clone()));
            Some(id)
        };
        (
            Taken {
                frames,
                superseded: false,
                closed,
            },
            batch,
        )
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
    pub(super) fn close(&self, reason: CloseReason) {
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
    pub(super) fn render(&self, msgs: Vec<Message>) -> Vec<Frame> {
        let caps = *self.view().caps();
        msgs.into_iter()
            .map(|mut m| {
                if m.kind() != Kind::OutOfBand && !m.raw() {
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

#[cfg(test)]
pub(super) mod tests;
