//! The TLS front end: telnet over TLS. After the handshake the same telnet session task as
//! plain telnet runs on the encrypted stream (one engine, two transports), with protocol_key
//! `telnet/ssl` and the `SSL` protocol flag set.
//!
//! Handshakes are bounded by `[tls] handshake_timeout_secs`; a client that speaks plain telnet
//! or garbage to this port fails the handshake and is closed with a log line. The certificate
//! lives in a [`ReloadableTls`]: `portcullis reload` and SIGHUP swap it for new handshakes
//! while every open session carries on.

use super::core::CoreEvent;
use super::telnet::{TelnetShared, run_session};
use crate::certs::ReloadableTls;
use crate::session::protocol;
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
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let core = core.clone();
                let shared = shared.clone();
                let acceptor = tls.acceptor();
                let span = tracing::info_span!("conn", protocol = protocol::TELNET_TLS, %peer, session = tracing::field::Empty);
                tokio::spawn(
                    async move {
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls_stream)) => {
                                run_session(tls_stream, peer, protocol::TELNET_TLS, core, shared)
                                    .await;
                            }
                            Ok(Err(e)) => {
                                tracing::info!(error = %e, "tls handshake failed; closed")
                            }
                            Err(_) => tracing::info!(
                                ?handshake_timeout,
                                "tls handshake timed out; closed"
                            ),
                        }
                    }
                    .instrument(span),
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
