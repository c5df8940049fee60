//! Every browser session, by token: the [`Hub`] opens them, finds them, and runs each one's
//! *pump*.
//!
//! A browser session is a portal session like any other, but its transport comes and goes:
//! a WebSocket that drops when the network changes, a page reload, or one long-poll request
//! after another. So the session is not a connection task: it is a [`WebSession`] with a
//! bounded outbox, found by its token, and a *pump* task that renders what the core sends
//! into the outbox. Transports *attach* (the newest wins; an older one is told it was
//! superseded), drain the outbox and *detach*. A session with nothing attached for
//! `[web] reconnect_grace_secs` is closed.
//!
//! Tokens are 128 random bits, secret (never in a log line), and replaced on every resume
//! ([`Hub::rotate`]), so one seen in a URL (a proxy's log) is spent once the page is back.
//! They are not bound to an address: a phone that changes networks resumes its session from
//! its new one, and the change is logged.

use super::session::{PageControl, WebSession};
use crate::codec::markup;
use crate::portal::core::CoreEvent;
use crate::portal::port::{CloseReason, FromCore, PortReceiver, SessionPort};
use crate::shared::config::Limits;
use crate::shared::session::{Protocol, flag};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::Instrument;

/// How long a closed session's last messages (the reason it closed) wait for a transport:
/// a long-polling page comes back within moments. Shorter than the portal's shutdown grace,
/// so a goodbye can still be fetched while the portal stops.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// Every browser session, by token.
#[derive(Debug)]
pub struct Hub {
    sessions: Mutex<HashMap<String, Arc<WebSession>>>,
    rng: SystemRandom,
    core: mpsc::Sender<CoreEvent>,
    grace: Duration,
    outbox_limit: usize,
    /// The portal's limits (the longest line a page may send, input allowances).
    limits: Limits,
}

impl Hub {
    /// A hub with no sessions.
    pub fn new(
        core: mpsc::Sender<CoreEvent>,
        grace: Duration,
        outbox_limit: usize,
        limits: &Limits,
    ) -> Arc<Self> {
        Arc::new(Hub {
            sessions: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
            core,
            grace,
            outbox_limit,
            limits: limits.clone(),
        })
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<WebSession>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds the live session for `token`, used from `address` (a new address is recorded
    /// and logged); None when no live session has this token (never had, expired or closed).
    pub fn find(&self, token: &str, address: IpAddr) -> Option<Arc<WebSession>> {
        let mut map = self.map();
        let s = map.get(token).cloned()?;
        if let Some(spent) = s.forget_previous(token) {
            map.remove(&spent);
        }
        drop(map);
        // A closed session is found only while its last messages wait to be fetched.
        if s.closed().is_some() && s.outbox_is_empty() {
            return None;
        }
        let before = s.set_address(address);
        if before != address {
            tracing::info!(session = s.id(), from = %before, to = %address, "browser session used from a new address");
        }
        Some(s)
    }

    /// Gives a resumed session a new token; the one it was resumed with keeps working until
    /// the page uses the new one (so a lost answer does not lose the session), and the one
    /// before it stops. None (nothing changed) if no randomness could be had.
    pub fn rotate(&self, session: &Arc<WebSession>) -> Option<String> {
        let token = self.new_token()?;
        let mut map = self.map();
        if let Some(spent) = session.set_token(token.clone()) {
            map.remove(&spent);
        }
        map.insert(token.clone(), session.clone());
        Some(token)
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
        let mut port = SessionPort::open(
            &self.core,
            protocol,
            std::net::SocketAddr::new(address, 0),
            &self.limits,
        )
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
        // A page knows all it will say about itself at once.
        let _ = port.input.ready().await;
        let (input, view, rx) = port.into_parts();
        let session = Arc::new(WebSession::new(
            token.clone(),
            address,
            protocol,
            input,
            view,
            self.outbox_limit,
        ));
        self.map().insert(session.token(), session.clone());
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

    /// Number of live sessions (a session just resumed is found by two tokens).
    pub fn len(&self) -> usize {
        self.map()
            .iter()
            .filter(|(token, s)| s.token() == **token)
            .count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Renders what the core sends into the session's outbox, and closes the session when the
/// core says so, when its outbox overflows, or when no transport came back in time.
async fn pump(hub: Arc<Hub>, session: Arc<WebSession>, mut rx: PortReceiver) {
    let mut changes = session.subscribe();
    let mut expired = false;
    let reason = loop {
        // With nothing attached, the session ends when the grace period runs out; an attach
        // or detach wakes this loop (through `changes`) to move the deadline.
        let expires = session
            .detached_since()
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
                        tracing::warn!(limit = session.limit(), "output buffer overflow; closing");
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
                    session
                        .detached_since()
                        .is_some_and(|t| t.elapsed() >= hub.grace)
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
        while !session.outbox_is_empty() {
            tokio::select! {
                r = changes.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
    session.input.closed(reason).await;
    for token in session.tokens() {
        hub.remove(&token);
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
mod tests {
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
}
