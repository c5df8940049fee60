//! The TLS front end: telnet over TLS. After the handshake the same telnet session task as
//! plain telnet runs on the encrypted stream (one engine, two transports), with protocol_key
//! `telnet/ssl` and the `SSL` protocol flag set.
//!
//! Handshakes are bounded in time by `[tls] handshake_timeout_secs` and in number like
//! sessions (`max_connections` in all, `max_connections_per_address` from one address); a client that speaks plain telnet
//! or garbage to this port fails the handshake and is closed with a log line. The certificate
//! lives in a [`ReloadableTls`]: `portcullis reload` and SIGHUP swap it for new handshakes
//! while every open session carries on.

use super::telnet::{TelnetShared, run_session};
use crate::ops::certs::ReloadableTls;
use crate::portal::core::CoreEvent;
use crate::portal::repeats;
use crate::portal::slots::{Full, Slots};
use crate::shared::session::Protocol;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::Instrument;

/// Accepts TLS connections until `stop` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    core: mpsc::Sender<CoreEvent>,
    shared: Arc<TelnetShared>,
    tls: Arc<ReloadableTls>,
    handshake_timeout: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    // Handshakes in progress are bounded like sessions: in all and per address.
    let handshakes = Slots::new(
        shared.limits.max_connections,
        shared.limits.max_connections_per_address,
    );
    let proxies = crate::portal::proxy_in::TrustedProxies::of(&shared.limits);
    crate::portal::accept_each(listener, stop, proxies, |stream, peer| {
        let key = crate::shared::addr::limit_key(peer.ip(), shared.limits.ipv6_prefix);
        let slot = match handshakes.take(key) {
            Ok(slot) => slot,
            Err(Full::Total) => {
                if repeats::refused(peer.ip(), "tls handshakes refused: too many in progress") {
                    tracing::warn!(%peer, "too many tls handshakes in progress; closed");
                }
                return;
            }
            Err(Full::PerKey) => {
                if repeats::refused(peer.ip(), "tls handshakes refused: too many from one address") {
                    tracing::warn!(%peer, "too many tls handshakes from one address; closed");
                }
                return;
            }
        };
        let core = core.clone();
        let shared = shared.clone();
        let acceptor = tls.acceptor();
        let span = tracing::info_span!("conn", protocol = Protocol::TelnetTls.key(), %peer, session = tracing::field::Empty);
        tokio::spawn(
            async move {
                let handshake =
                    tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await;
                drop(slot);
                match handshake {
                    Ok(Ok(tls_stream)) => {
                        // Boxed: the encrypted stream moves into the session as a pointer
                        // rather than being copied into its task (measured: 24.6 → 23.4 KiB per
                        // idle session with 2,000).
                        run_session(Box::new(tls_stream), peer, Protocol::TelnetTls, core, shared)
                            .await;
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
