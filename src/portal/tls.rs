//! The TLS front end: telnet over TLS. After the handshake the same telnet session task as
//! plain telnet runs on the encrypted stream (one engine, two transports), with protocol_key
//! `telnet/ssl` and the `SSL` protocol flag set.
//!
//! Handshakes are bounded in time by `[tls] handshake_timeout_secs` and in number like
//! sessions (`max_connections` in all, `max_connections_per_address` from one address); a client that speaks plain telnet
//! or garbage to this port fails the handshake and is closed with a log line. The certificate
//! lives in a [`ReloadableTls`]: `portcullis reload` and SIGHUP swap it for new handshakes
//! while every open session carries on.

use super::core::CoreEvent;
use super::telnet::{TelnetShared, run_session};
use crate::certs::ReloadableTls;
use crate::session::protocol;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tracing::Instrument;

/// Handshakes in progress per address.
type Pending = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One address's place among handshakes in progress; given back on drop.
struct PendingSlot {
    pending: Pending,
    ip: IpAddr,
}

impl PendingSlot {
    fn take(pending: &Pending, ip: IpAddr, max: usize) -> Option<Self> {
        let mut map = pending.lock().ok()?;
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PendingSlot {
            pending: pending.clone(),
            ip,
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.pending.lock()
            && let Some(n) = map.get_mut(&self.ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Accepts TLS connections until `stop` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    core: mpsc::Sender<CoreEvent>,
    shared: Arc<TelnetShared>,
    tls: Arc<ReloadableTls>,
    handshake_timeout: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let handshakes = Arc::new(Semaphore::new(shared.limits.max_connections));
    let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let per_address = shared.limits.max_connections_per_address;
    super::accept_each(listener, stop, |stream, peer| {
        // Handshakes in progress are bounded like sessions: in all and per address.
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many tls handshakes in progress; closed");
            return;
        };
        let Some(slot) = PendingSlot::take(&pending, peer.ip(), per_address) else {
            tracing::warn!(%peer, "too many tls handshakes from one address; closed");
            return;
        };
        let core = core.clone();
        let shared = shared.clone();
        let acceptor = tls.acceptor();
        let span = tracing::info_span!("conn", protocol = protocol::TELNET_TLS, %peer, session = tracing::field::Empty);
        tokio::spawn(
            async move {
                let handshake =
                    tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await;
                drop(slot);
                drop(permit);
                match handshake {
                    Ok(Ok(tls_stream)) => {
                        run_session(tls_stream, peer, protocol::TELNET_TLS, core, shared).await;
                    }
                    Ok(Err(e)) => tracing::info!(error = %e, "tls handshake failed; closed"),
                    Err(_) => tracing::info!(?handshake_timeout, "tls handshake timed out; closed"),
                }
            }
            .instrument(span),
        );
    })
    .await;
}
