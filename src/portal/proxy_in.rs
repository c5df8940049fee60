//! PROXY headers from a load balancer in front of Portcullis (HAProxy, a cloud TCP balancer):
//! the real player's address, read before anything else on a connection from a trusted peer.
//!
//! Only peers in `[limits] trusted_proxies` may send one, and they must: the header is the
//! first thing read from such a connection (v1 or v2, parsed with `ppp`), exactly its bytes and
//! no more, within [`HEADER_TIMEOUT`]; a connection without a valid one is closed and logged.
//! From any other peer nothing is read here, and a header is taken for what it is, a client
//! pretending: the telnet front end refuses a connection that starts with one, and the TLS,
//! SSH and HTTP parsers refuse it as garbage.
//!
//! A `LOCAL` header (a balancer's health check) or an `UNKNOWN`/unspecified address keeps the
//! peer's own address.

use ipnet::IpNet;
use ppp::{HeaderResult, PartialResult, v1, v2};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How long a trusted peer has to send its header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest header accepted: a v1 line is at most 107 bytes, a v2 header 16 bytes and its
/// addresses plus TLVs (a balancer's TLVs are a few hundred bytes).
pub const MAX_HEADER: usize = 1024;

/// The signature a v2 header starts with.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The networks whose peers send PROXY headers (`[limits] trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// Why a trusted peer's connection was closed before it began.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Nothing (complete) arrived in time.
    #[error("no PROXY header within {0:?}")]
    Timeout(Duration),
    /// The peer closed or the read failed.
    #[error("connection ended before its PROXY header: {0}")]
    Closed(String),
    /// What arrived is not a PROXY header.
    #[error("bad PROXY header: {0}")]
    Malformed(String),
}

impl TrustedProxies {
    /// The networks in `entries` (`10.0.0.0/8`, `2001:db8::/32`, or one address); an entry that
    /// is neither is named in the error.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                crate::shared::config::parse_network(e)
                    .ok_or_else(|| format!("{e:?} is not an address or a network like 10.0.0.0/8"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether a connection from `ip` must start with a PROXY header.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// Whether any network is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The trusted networks of a (validated) `[limits]`, for one listener.
    pub fn of(limits: &crate::shared::config::Limits) -> std::sync::Arc<Self> {
        let parsed = TrustedProxies::parse(&limits.trusted_proxies).unwrap_or_else(|e| {
            // Config validation already refused this; never trust what cannot be read.
            tracing::error!(error = %e, "limits.trusted_proxies; no proxy trusted");
            TrustedProxies::default()
        });
        std::sync::Arc::new(parsed)
    }
}

/// Whether the first bytes of a connection look like a PROXY header (v1 or v2).
pub fn looks_like_header(first: &[u8]) -> bool {
    first.starts_with(b"PROXY ")
        || (first.len() >= 6 && V2_SIGNATURE.starts_with(&first[..first.len().min(12)]))
}

/// Reads the PROXY header a trusted peer sends first, consuming exactly its bytes; the
/// player's address it names (the peer's own for LOCAL or an unspecified address).
pub async fn read_header(
    stream: &mut TcpStream,
    peer: SocketAddr,
) -> Result<SocketAddr, ProxyError> {
    match tokio::time::timeout(HEADER_TIMEOUT, read(stream, peer)).await {
        Ok(r) => r,
        Err(_) => Err(ProxyError::Timeout(HEADER_TIMEOUT)),
    }
}

async fn read(stream: &mut TcpStream, peer: SocketAddr) -> Result<SocketAddr, ProxyError> {
    let mut buf = vec![0u8; MAX_HEADER];
    loop {
        let n = stream
            .peek(&mut buf)
            .await
            .map_err(|e| ProxyError::Closed(e.to_string()))?;
        if n == 0 {
            return Err(ProxyError::Closed("closed".into()));
        }
        let (len, source) = match parse_header(&buf[..n]) {
            Parsed::Header { len, source } => (len, source),
            Parsed::Incomplete => {
                // More of it is on its way; peeking again at once would return the same.
                stream
                    .readable()
                    .await
                    .map_err(|e| ProxyError::Closed(e.to_string()))?;
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            Parsed::Malformed(e) => return Err(ProxyError::Malformed(e)),
        };
        let mut header = vec![0u8; len];
        stream
            .read_exact(&mut header)
            .await
            .map_err(|e| ProxyError::Closed(e.to_string()))?;
        return Ok(source.unwrap_or(peer));
    }
}

/// What the first bytes of a trusted peer's connection hold, as [`parse_header`] judges them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header of `len` bytes (at most [`MAX_HEADER`] and the bytes given), naming the
    /// player at `source`; `None` for LOCAL or an unknown address (the peer's own stands).
    Header {
        /// The header's length: exactly the bytes to consume.
        len: usize,
        /// The player's address, if the header names one.
        source: Option<SocketAddr>,
    },
    /// The beginning of a header, shorter than [`MAX_HEADER`]: wait for more.
    Incomplete,
    /// Not a PROXY header, or none complete within [`MAX_HEADER`] bytes.
    Malformed(String),
}

/// Judges the first bytes of a connection (only the first [`MAX_HEADER`] count), with no
/// I/O: the pure half of [`read_header`], which peeks, calls this and consumes `len` bytes.
pub fn parse_header(first: &[u8]) -> Parsed {
    let first = &first[..first.len().min(MAX_HEADER)];
    match HeaderResult::parse(first) {
        HeaderResult::V1(Ok(h)) => Parsed::Header {
            len: h.header.len(),
            source: v1_source(&h.addresses),
        },
        HeaderResult::V2(Ok(h)) => Parsed::Header {
            len: h.len(),
            source: v2_source(&h),
        },
        r if r.is_incomplete() && first.len() < MAX_HEADER => Parsed::Incomplete,
        // `ppp` judges some v1 prefixes malformed (one cut after the source port and its
        // space: "invalid TCP port for the destination"), so a valid header split by the
        // network would be refused. A v1 header is one line: until its CR LF (or the longest
        // line), there is nothing to judge.
        HeaderResult::V1(Err(_)) if v1_unfinished(first) => Parsed::Incomplete,
        HeaderResult::V1(Err(e)) => Parsed::Malformed(e.to_string()),
        HeaderResult::V2(Err(e)) => Parsed::Malformed(e.to_string()),
    }
}

/// The longest v1 header, CR LF included (proxy-protocol.txt, section 2.1).
const V1_MAX: usize = 107;

/// Whether `first` begins a v1 header whose line has not ended yet.
fn v1_unfinished(first: &[u8]) -> bool {
    first.starts_with(b"PROXY ") && first.len() < V1_MAX && !first.windows(2).any(|w| w == b"\r\n")
}

fn v1_source(a: &v1::Addresses) -> Option<SocketAddr> {
    match a {
        v1::Addresses::Tcp4(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
        v1::Addresses::Tcp6(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
        v1::Addresses::Unknown => None,
    }
}

fn v2_source(h: &v2::Header) -> Option<SocketAddr> {
    if h.command == v2::Command::Local {
        return None;
    }
    match h.addresses {
        v2::Addresses::IPv4(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
        v2::Addresses::IPv6(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    #[test]
    fn networks_and_addresses_are_trusted() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into(), "192.0.2.7".into()])
            .unwrap();
        assert!(t.trusts("10.1.2.3".parse().unwrap()));
        assert!(t.trusts("::1".parse().unwrap()));
        assert!(t.trusts("::ffff:192.0.2.7".parse().unwrap()));
        assert!(!t.trusts("192.0.2.8".parse().unwrap()));
        assert!(
            TrustedProxies::parse(&["nowhere".into()])
                .unwrap_err()
                .contains("nowhere")
        );
    }

    #[tokio::test]
    async fn exactly_the_header_is_read_and_its_source_returned() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (mut c, mut s) = pair().await;
        c.write_all(b"PROXY TCP4 203.0.113.5 127.0.0.1 51000 4000\r\nhello")
            .await
            .unwrap();
        assert_eq!(
            read_header(&mut s, peer).await.unwrap(),
            "203.0.113.5:51000".parse().unwrap()
        );
        let mut rest = [0u8; 5];
        s.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"hello");

        let (mut c, mut s) = pair().await;
        let header = crate::portal::gateway::proxy::header(
            crate::portal::gateway::proxy::Version::V2,
            "[2001:db8::5]:7000".parse().unwrap(),
            "[::1]:4000".parse().unwrap(),
        );
        // In two pieces, as a slow network would deliver it.
        c.write_all(&header[..10]).await.unwrap();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            c.write_all(&header[10..]).await.unwrap();
            c.write_all(b"\xff\xfb\x01").await.unwrap();
            c
        });
        assert_eq!(
            read_header(&mut s, peer).await.unwrap(),
            "[2001:db8::5]:7000".parse().unwrap()
        );
        let _c = writer.await.unwrap();
        let mut rest = [0u8; 3];
        s.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"\xff\xfb\x01");
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (mut c, mut s) = pair().await;
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(matches!(
            read_header(&mut s, peer).await,
            Err(ProxyError::Malformed(_))
        ));
        let (mut c, mut s) = pair().await;
        c.write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2")
            .await
            .unwrap();
        drop(c);
        assert!(read_header(&mut s, peer).await.is_err());
        let (mut c, mut s) = pair().await;
        c.write_all(&[b'P'; 2000]).await.unwrap();
        assert!(read_header(&mut s, peer).await.is_err());
    }

    #[test]
    fn parse_header_judges_bytes_without_io() {
        let line = b"PROXY TCP4 203.0.113.5 127.0.0.1 51000 4000\r\n";
        let mut first = line.to_vec();
        first.extend_from_slice(b"look");
        assert_eq!(
            parse_header(&first),
            Parsed::Header {
                len: line.len(),
                source: Some("203.0.113.5:51000".parse().unwrap())
            }
        );
        assert_eq!(parse_header(&line[..20]), Parsed::Incomplete);
        assert!(matches!(parse_header(b"GET / "), Parsed::Malformed(_)));
        // A v2 header announcing 2000 bytes: incomplete, but not within the bound, so refused.
        let mut big = V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x21, 0x11, 0x07, 0xd0]);
        big.resize(MAX_HEADER, 0);
        assert_eq!(parse_header(&big[..MAX_HEADER - 1]), Parsed::Incomplete);
        assert!(matches!(parse_header(&big), Parsed::Malformed(_)));
        assert_eq!(
            parse_header(b"PROXY UNKNOWN\r\n"),
            Parsed::Header {
                len: 15,
                source: None
            }
        );
    }

    #[test]
    fn a_header_cut_anywhere_is_incomplete() {
        // As a slow network may deliver it: any prefix of a valid header waits for more.
        let v1 = b"PROXY TCP4 203.0.113.5 127.0.0.1 51000 4000\r\n".to_vec();
        let v6 = b"PROXY TCP6 :: :: 0 0\r\n".to_vec();
        let v2 = crate::portal::gateway::proxy::header(
            crate::portal::gateway::proxy::Version::V2,
            "[2001:db8::5]:7000".parse().unwrap(),
            "[::1]:4000".parse().unwrap(),
        );
        for header in [v1, v6, v2] {
            for cut in 1..header.len() {
                assert_eq!(
                    parse_header(&header[..cut]),
                    Parsed::Incomplete,
                    "{:?} cut at {cut}",
                    String::from_utf8_lossy(&header)
                );
            }
            assert!(matches!(parse_header(&header), Parsed::Header { .. }));
        }
    }

    #[test]
    fn headers_are_recognised_by_their_first_bytes() {
        assert!(looks_like_header(b"PROXY TCP4 1.2.3.4"));
        assert!(looks_like_header(V2_SIGNATURE));
        assert!(looks_like_header(b"\r\n\r\n\0\r"));
        assert!(!looks_like_header(b"\r\n"));
        assert!(!looks_like_header(b"look\r\n"));
    }
}
