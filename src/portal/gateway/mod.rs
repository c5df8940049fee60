//! Gateway mode: the portal as the front door of an existing telnet game.
//!
//! With `[gateway] enabled`, every session a front end opens is attached to an upstream
//! **leg** ([`leg`]) instead of the server: a telnet client connection to the game, owned by
//! the portal, so a server reload or crash never cuts a player off. The core keeps the session
//! in its registry (limits, timeouts, `status`); the session's port sends what the player
//! types straight to the leg, which bounds its rate, and the leg sends the game's output
//! straight to the session's front end.
//!
//! - [`answers`]: what the game is told about the player (TTYPE/MTTS, NAWS, NEW-ENVIRON);
//! - [`text`]: the game's bytes as `text` and `prompt` messages;
//! - [`proxy`]: the PROXY header that tells the game the player's address.

pub mod answers;
mod leg;
pub mod proxy;
pub mod text;
pub mod tls;

use crate::portal::core::{CoreEvent, ToSession};
use crate::portal::info::PortalInfo;
use crate::shared::config::{ClientAddress, GatewayConfig};
use crate::shared::message::Message;
use crate::shared::session::{Protocol, SessionId};
use answers::Answers;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::Instrument;

/// Capacity of a leg's input channel (lines, flags, out-of-band messages).
pub const LEG_CHANNEL: usize = 256;

/// What the core hands a session's leg.
#[derive(Debug)]
pub enum ToUpstream {
    /// The front end knows what the client is: connect now.
    Ready,
    /// A line the player typed (already cut and cleaned).
    Line(String),
    /// An out-of-band message from the player (GMCP, MSDP, the page's own).
    Oob(Message),
    /// The session's protocol_flags changed (window size, client …).
    Flags(Map<String, Value>),
}

/// Where a leg is, for `portcullis status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamState {
    /// Waiting for the front end to learn what the client is.
    Waiting,
    /// The first connection attempt.
    Connecting,
    /// Connected to the game.
    Connected,
    /// The game went away; this attempt (1-based) is next or under way.
    Reconnecting(u32),
    /// The leg ended; the session is closing.
    Closed,
}

impl std::fmt::Display for UpstreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamState::Waiting => f.write_str("waiting"),
            UpstreamState::Connecting => f.write_str("connecting"),
            UpstreamState::Connected => f.write_str("connected"),
            UpstreamState::Reconnecting(n) => write!(f, "reconnecting {n}"),
            UpstreamState::Closed => f.write_str("closed"),
        }
    }
}

/// Two legs whose game connections close within this of each other saw the game go down,
/// not a player quit.
pub const CLOSE_WINDOW: Duration = Duration::from_secs(2);

/// The gateway's settings, shared by every leg.
#[derive(Debug)]
pub struct Gateway {
    /// `[gateway]`.
    pub config: GatewayConfig,
    /// Where a leg leaves the game's MSSP, for the portal's own answer to crawlers.
    pub info: Arc<PortalInfo>,
    /// `[limits] command_rate` and `command_burst`: each leg bounds the player's lines.
    pub rate: (f64, u32),
    /// TLS to the game, when `upstream_tls` is on.
    pub tls: Option<tls::UpstreamTls>,
    /// When game connections last closed in order (the latest few, within [`CLOSE_WINDOW`]).
    closes: Mutex<VecDeque<Instant>>,
}

impl Gateway {
    /// The gateway for `config` (which has been validated); the reason it cannot work (a
    /// CA file for `upstream_tls` that cannot be read).
    pub fn new(
        config: GatewayConfig,
        info: Arc<PortalInfo>,
        rate: (f64, u32),
    ) -> Result<Arc<Self>, String> {
        let tls = tls::connector(&config)?;
        Ok(Arc::new(Gateway {
            config,
            info,
            rate,
            tls,
            closes: Mutex::new(VecDeque::new()),
        }))
    }

    /// A leg's game connection closed in order at `at`: notes it, and says whether another
    /// leg's closed within [`CLOSE_WINDOW`] before it.
    fn note_close(&self, at: Instant) -> bool {
        let Ok(mut closes) = self.closes.lock() else {
            return false;
        };
        closes.retain(|t| at.saturating_duration_since(*t) < CLOSE_WINDOW);
        let others = !closes.is_empty();
        if closes.len() >= 16 {
            closes.pop_front();
        }
        closes.push_back(at);
        others
    }

    /// Whether another leg's game connection closed after `at` (and within the window).
    fn closed_since(&self, at: Instant) -> bool {
        self.closes
            .lock()
            .map(|c| {
                c.iter()
                    .any(|t| *t > at && t.duration_since(at) < CLOSE_WINDOW)
            })
            .unwrap_or(false)
    }

    /// Starts the leg of a new session and returns the way to it. The leg connects once the
    /// front end is ready, and ends when the returned sender is dropped.
    pub fn attach(
        self: &Arc<Self>,
        id: SessionId,
        protocol: Protocol,
        peer: SocketAddr,
        handle: mpsc::Sender<ToSession>,
        core: mpsc::Sender<CoreEvent>,
    ) -> mpsc::Sender<ToUpstream> {
        let (tx, rx) = mpsc::channel(LEG_CHANNEL);
        let ipaddress = (self.config.client_address == ClientAddress::Mnes).then_some(peer.ip());
        let leg = leg::Leg {
            id,
            gateway: self.clone(),
            peer,
            answers: Answers::new(Map::new(), protocol, ipaddress),
            handle,
            core,
            rx,
            held: VecDeque::new(),
            held_bytes: 0,
            bucket: crate::portal::core::Bucket::new(self.rate.1),
            reported_active: None,
        };
        let span = tracing::info_span!("upstream", session = id);
        tokio::spawn(leg.run().instrument(span));
        tx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> Arc<Gateway> {
        let info = Arc::new(PortalInfo::new("t", Vec::new(), Default::default()));
        Gateway::new(GatewayConfig::default(), info, (10.0, 30)).unwrap()
    }

    #[test]
    fn closes_together_mean_the_game_went() {
        let g = gateway();
        let t0 = Instant::now();
        assert!(!g.note_close(t0), "the first close has no company");
        assert!(!g.closed_since(t0));
        assert!(g.note_close(t0 + Duration::from_millis(100)));
        assert!(g.closed_since(t0));
        // A close long after is on its own again.
        assert!(!g.note_close(t0 + CLOSE_WINDOW * 3));
    }

    #[test]
    fn the_close_record_is_bounded() {
        let g = gateway();
        let t0 = Instant::now();
        for i in 0..1000 {
            g.note_close(t0 + Duration::from_micros(i));
        }
        assert!(g.closes.lock().unwrap().len() <= 16);
    }
}
