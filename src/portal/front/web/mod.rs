//! The web front end: the page players open in a browser, and the two ways it talks to the
//! portal, a WebSocket (`webclient/websocket`) and, where a proxy blocks WebSockets,
//! long-polling (`webclient/ajax`).
//!
//! One listener serves all of it, over HTTPS with the `[tls]` certificate (plain HTTP only
//! when `[web] tls = false`, behind a reverse proxy). Each TCP connection is a small HTTP/1.1
//! loop ([`http`]); the routes are:
//!
//! - `GET /`, `/client.js`, `/ansi.js`, `/style.css`: the page ([`assets`]);
//! - `GET /ws`: the WebSocket ([`ws`]);
//! - `POST /ajax/open|input|poll|close`: long-polling ([`ajax`]).
//!
//! Sessions live in the [`hub`], not in connections, so a page can lose its connection and
//! come back to the same session within `[web] reconnect_grace_secs`. The wire format is
//! documented in `docs/webclient.md`.

mod ajax;
mod assets;
pub mod http;
pub mod hub;
pub mod input;
pub mod session;
mod ws;

use crate::ops::certs::ReloadableTls;
use crate::portal::core::CoreEvent;
use crate::portal::repeats;
use crate::portal::slots::{Full, Slots};
use crate::shared::config::{Limits, WebConfig};
use http::{HttpError, Request, Response};
use hub::Hub;
use session::{PageControl, WebSession};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::Instrument;

/// How long an idle keep-alive connection (or a slow request head) is kept.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long writing one response may stall.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every web connection task shares.
#[derive(Debug)]
pub struct WebShared {
    /// `[web]`.
    pub config: WebConfig,
    /// `[limits]`.
    pub limits: Limits,
    /// Browser sessions.
    pub hub: Arc<Hub>,
    /// Whether the listener speaks HTTPS.
    pub secure: bool,
    /// The world's name (`[server] name`), for the page's title.
    pub name: String,
    /// HTTP connections held, in all and per address.
    connections: Arc<Slots>,
}

impl WebShared {
    /// Shared state for a listener.
    pub fn new(
        config: WebConfig,
        limits: Limits,
        core: mpsc::Sender<CoreEvent>,
        secure: bool,
        name: String,
    ) -> Arc<Self> {
        let per_address = config.http_connections_per_address;
        let hub = Hub::new(
            core,
            Duration::from_secs(config.reconnect_grace_secs),
            limits.output_buffer_bytes,
            &limits,
        );
        let connections = Slots::new(limits.max_connections, per_address);
        Arc::new(WebShared {
            config,
            limits,
            hub,
            secure,
            name,
            connections,
        })
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the last
    /// address in `X-Forwarded-For` that is not one.
    pub fn client_ip(&self, peer: IpAddr, req: &Request) -> IpAddr {
        if !self.config.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded: Vec<&str> = req
            .headers
            .iter()
            .filter(|(n, _)| n == "x-forwarded-for")
            .flat_map(|(_, v)| v.split(','))
            .collect();
        for hop in forwarded.iter().rev() {
            // An entry may carry a port (`198.51.100.7:4321`, `[2001:db8::7]:4321`); an
            // IPv4-mapped address is its IPv4 address, as on every listener.
            let hop = hop.trim();
            let parsed = hop
                .parse::<IpAddr>()
                .or_else(|_| hop.parse::<std::net::SocketAddr>().map(|a| a.ip()))
                .map(|ip| ip.to_canonical());
            match parsed {
                Ok(ip) if self.config.trusted_proxies.contains(&ip) => continue,
                Ok(ip) => return ip,
                Err(_) => {
                    tracing::info!(hop = %hop.trim(), "unparsable X-Forwarded-For entry; using the proxy's address");
                    return peer;
                }
            }
        }
        peer
    }

    /// Whether the request's `Origin` (if it has one: browsers always send it on these
    /// requests) is the page's own or an allowed one.
    pub fn origin_allowed(&self, req: &Request) -> bool {
        let Some(origin) = req.header("origin") else {
            return true;
        };
        let origin = origin.trim_end_matches('/');
        if self
            .config
            .allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let Some(host) = req.header("host") else {
            return false;
        };
        let same = |scheme: &str| {
            origin
                .strip_prefix(scheme)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
        };
        // Behind a TLS-terminating proxy the page is https while this listener is not.
        same("https://") || (!self.secure && same("http://"))
    }
}

/// Accepts web connections until `stop` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<WebShared>,
    tls: Option<Arc<ReloadableTls>>,
    handshake_timeout: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    // While the portal stops, browser sessions fetch their goodbye (a long-polling page over
    // a new connection), so the listener stays open until they are gone, or for a moment.
    let (stop_accepting, stopped) = tokio::sync::watch::channel(false);
    let hub = shared.hub.clone();
    let mut stop = stop;
    tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        let deadline = tokio::time::Instant::now() + crate::portal::core::SHUTDOWN_GRACE;
        while !hub.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop_accepting.send(true);
    });
    let proxies = crate::portal::proxy_in::TrustedProxies::of(&shared.limits);
    crate::portal::accept_each(listener, stopped, proxies, |stream, peer| {
        // Behind a reverse proxy every connection comes from the proxy: only the total bounds
        // those (the sessions are still counted per client address).
        let taken = if shared.config.trusted_proxies.contains(&peer.ip()) {
            shared.connections.take_unlimited_key(peer.ip())
        } else {
            shared.connections.take(crate::shared::addr::limit_key(
                peer.ip(),
                shared.limits.ipv6_prefix,
            ))
        };
        let slot = match taken {
            Ok(slot) => slot,
            Err(Full::Total) => {
                if repeats::refused(peer.ip(), "web connections refused: too many in all") {
                    tracing::warn!(%peer, "too many web connections; closed");
                }
                return;
            }
            Err(Full::PerKey) => {
                if repeats::refused(peer.ip(), "web connections refused: too many from one address") {
                    tracing::warn!(%peer, limit = shared.config.http_connections_per_address, "too many web connections from one address; closed");
                }
                return;
            }
        };
        let shared = shared.clone();
        let tls = tls.as_ref().map(|t| t.acceptor());
        let span = tracing::info_span!("http", %peer);
        tokio::spawn(
            async move {
                let _held = slot;
                match tls {
                    None => serve(stream, peer, shared).await,
                    Some(acceptor) => {
                        // A browser sent to http://host:4001/ (browsers assume http for a
                        // bare host:port) is redirected to https rather than cut off.
                        if !starts_like_tls(&stream, handshake_timeout).await {
                            redirect_to_https(stream).await;
                            return;
                        }
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                        {
                            // Boxed: the encrypted stream is moved (to the WebSocket) as a
                            // pointer, not copied.
                            Ok(Ok(s)) => serve(Box::new(s), peer, shared).await,
                            Ok(Err(e)) => tracing::info!(error = %e, "tls handshake failed; closed"),
                            Err(_) => tracing::info!("tls handshake timed out; closed"),
                        }
                    }
                }
            }
            .instrument(span),
        );
    })
    .await;
}

/// Whether a new connection's first byte is a TLS handshake record (0x16); false for plain
/// HTTP, and for a client that sends nothing in time (the handshake would fail anyway).
async fn starts_like_tls(stream: &tokio::net::TcpStream, wait: Duration) -> bool {
    let mut first = [0u8; 1];
    match tokio::time::timeout(wait, stream.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == 0x16,
        // Nothing in time, or gone: the handshake fails as it would have.
        _ => true,
    }
}

/// Answers a plain-HTTP request on the HTTPS port with a redirect to the same page over
/// https, then closes.
async fn redirect_to_https(mut stream: tokio::net::TcpStream) {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        REQUEST_TIMEOUT,
        http::read_request(&mut stream, &mut buf, 0),
    );
    let response = match read.await {
        Ok(Ok(req)) => match req.header("host") {
            Some(host) if !host.is_empty() && !host.contains(['\r', '\n', ' ']) => {
                let path = if req.path.starts_with('/') {
                    req.path.as_str()
                } else {
                    "/"
                };
                let location = format!("https://{host}{path}");
                tracing::info!(%location, "plain http on the https port; redirected");
                Response::new(
                    301,
                    "text/plain; charset=utf-8",
                    format!("This page is served over https: {location}\n"),
                )
                .with("Location", location)
            }
            _ => Response::error(400, "this port speaks https"),
        },
        Ok(Err(HttpError::Refused { status, reason })) => Response::error(status, &reason),
        _ => return,
    };
    let bytes = response.encode(false, false);
    let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await;
    let _ = stream.shutdown().await;
}

/// What a request asks of the connection after its response.
enum Next {
    /// Answer and carry on (or close, per keep-alive).
    Respond(Response),
    /// Hand the connection to the WebSocket.
    Upgrade,
}

/// Serves HTTP requests on one connection until it closes or upgrades.
async fn serve<S>(stream: S, peer: SocketAddr, shared: Arc<WebShared>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut stream = stream;
    let mut buf = Vec::new();
    loop {
        let read = tokio::time::timeout(
            REQUEST_TIMEOUT,
            http::read_request(&mut stream, &mut buf, shared.config.max_message_bytes),
        )
        .await;
        let req = match read {
            Err(_) => return,
            Ok(Err(HttpError::Closed)) => return,
            Ok(Err(HttpError::Io(e))) => {
                tracing::debug!(error = %e, "http connection failed");
                return;
            }
            Ok(Err(HttpError::Refused { status, reason })) => {
                tracing::info!(status, %reason, "bad http request; closing");
                let r = Response::error(status, &reason).encode(false, false);
                let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&r)).await;
                return;
            }
            Ok(Ok(req)) => req,
        };
        let ip = shared.client_ip(peer.ip(), &req);
        let keep_alive = req.keep_alive();
        let head_only = req.method == "HEAD";
        let next = if req.path == "/ajax/poll" {
            // A held poll watches its connection: a client that went away must not be
            // handed output (it would be lost), and its session's grace period starts now.
            let answer = route(&req, ip, &shared);
            tokio::pin!(answer);
            let mut probe = [0u8; 256];
            loop {
                tokio::select! {
                    next = &mut answer => break next,
                    r = stream.read(&mut probe) => match r {
                        Ok(0) | Err(_) => {
                            tracing::info!("long-poll client went away");
                            return;
                        }
                        // A pipelined request: kept for after this one.
                        Ok(n) if buf.len() + n <= http::MAX_HEAD + shared.config.max_message_bytes => {
                            buf.extend_from_slice(&probe[..n]);
                        }
                        Ok(_) => {
                            tracing::info!("too much pipelined behind a long-poll; closing");
                            return;
                        }
                    },
                }
            }
        } else {
            route(&req, ip, &shared).await
        };
        let response = match next {
            Next::Upgrade => {
                // Boxed, so the HTTP loop's task does not carry the WebSocket's state inline
                // (measured: about 5 KiB less per browser session).
                Box::pin(ws::upgrade(stream, buf, req, ip, shared)).await;
                return;
            }
            Next::Respond(r) => r,
        };
        if response.status >= 400 {
            tracing::debug!(status = response.status, method = %req.method, path = %req.path, "http error");
        }
        let bytes = response.encode(keep_alive, head_only);
        match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
        if !keep_alive {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

async fn route(req: &Request, ip: IpAddr, shared: &Arc<WebShared>) -> Next {
    let method = req.method.as_str();
    let path = req.path.as_str();
    if let Some(asset) = assets::find(path) {
        return Next::Respond(match method {
            "GET" | "HEAD" => asset.response(shared.secure),
            _ => Response::error(405, "use GET").with("Allow", "GET, HEAD"),
        });
    }
    match path {
        "/ws" => {
            if method != "GET" {
                return Next::Respond(Response::error(405, "use GET").with("Allow", "GET"));
            }
            if !req.header_has("upgrade", "websocket") {
                return Next::Respond(
                    Response::error(426, "this is the WebSocket endpoint")
                        .with("Upgrade", "websocket"),
                );
            }
            Next::Upgrade
        }
        "/ajax/open" | "/ajax/input" | "/ajax/poll" | "/ajax/close" => {
            if method != "POST" {
                return Next::Respond(Response::error(405, "use POST").with("Allow", "POST"));
            }
            if !shared.origin_allowed(req) {
                if repeats::refused(ip, "long-poll requests refused: foreign origin") {
                    tracing::warn!(origin = req.header("origin").unwrap_or(""), %ip, "long-poll request from a foreign origin refused");
                }
                return Next::Respond(Response::error(403, "origin not allowed"));
            }
            Next::Respond(ajax::handle(path, req, ip, shared).await)
        }
        _ => Next::Respond(Response::error(404, "no such page")),
    }
}

/// Finds a session by token for `ip`, as an HTTP error when it cannot be used.
fn resume(shared: &WebShared, token: &str, ip: IpAddr) -> Result<Arc<WebSession>, Response> {
    shared
        .hub
        .find(token, ip)
        .ok_or_else(|| Response::error(410, "this session has ended; open a new one"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/ws".into(),
            query: None,
            version: 1,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    fn shared(secure: bool, config: WebConfig) -> Arc<WebShared> {
        let (tx, _rx) = mpsc::channel(1);
        WebShared::new(config, Limits::default(), tx, secure, "Test".into())
    }

    #[tokio::test]
    async fn origins_must_be_the_pages_own_or_listed() {
        let config = WebConfig {
            allowed_origins: vec!["https://mud.example.org".into()],
            ..WebConfig::default()
        };
        let s = shared(true, config.clone());
        let host = ("host", "play.example.org:4001");
        assert!(s.origin_allowed(&request(&[host])));
        assert!(s.origin_allowed(&request(&[
            host,
            ("origin", "https://play.example.org:4001")
        ])));
        assert!(s.origin_allowed(&request(&[host, ("origin", "https://MUD.example.org")])));
        assert!(!s.origin_allowed(&request(&[host, ("origin", "https://evil.example")])));
        assert!(!s.origin_allowed(&request(&[host, ("origin", "null")])));
        // An https page must not be driven from an http origin of the same host.
        assert!(!s.origin_allowed(&request(&[
            host,
            ("origin", "http://play.example.org:4001")
        ])));
        assert!(!s.origin_allowed(&request(&[("origin", "https://play.example.org:4001")])));
        let plain = shared(false, config);
        assert!(plain.origin_allowed(&request(&[
            host,
            ("origin", "http://play.example.org:4001")
        ])));
        assert!(plain.origin_allowed(&request(&[
            host,
            ("origin", "https://play.example.org:4001")
        ])));
    }

    #[tokio::test]
    async fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let config = WebConfig {
            trusted_proxies: vec![proxy],
            ..WebConfig::default()
        };
        let s = shared(false, config);
        let req = request(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.0.0.1")]);
        assert_eq!(
            s.client_ip(proxy, &req),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(s.client_ip(stranger, &req), stranger);
        assert_eq!(s.client_ip(proxy, &request(&[])), proxy);
        let bad = request(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(s.client_ip(proxy, &bad), proxy);
        // One client counts once, however the proxy writes its address.
        for written in [
            "::ffff:198.51.100.7",
            "198.51.100.7:4321",
            "[::ffff:198.51.100.7]:80",
        ] {
            let req = request(&[("x-forwarded-for", written)]);
            assert_eq!(
                s.client_ip(proxy, &req),
                "198.51.100.7".parse::<IpAddr>().unwrap(),
                "{written}"
            );
        }
    }
}
