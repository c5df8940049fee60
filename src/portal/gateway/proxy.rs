//! The HAProxy PROXY header the gateway writes first to the game, so the game learns the
//! player's real address (`[gateway] client_address = "proxy-v1" | "proxy-v2"`).
//!
//! Built with the `ppp` crate (HAProxy's proxy-protocol.txt is the reference). The source is
//! the player's address and port (port 0 for a browser: the web front end keeps only its IP);
//! the destination is the game's address as the portal reached it. When the two families
//! differ, the IPv4 one is written IPv4-mapped so the header stays one family (v1 has no mixed
//! form; v2 would mislabel the lengths).

use std::net::{IpAddr, SocketAddr};

/// Which PROXY header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// The text header: `PROXY TCP4 src dst sport dport\r\n`.
    V1,
    /// The binary header (signature, `0x21`, family, length, addresses).
    V2,
}

/// The header for a player at `source` reaching the game at `destination`.
pub fn header(version: Version, source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let (source, destination) = same_family(source, destination);
    match version {
        Version::V1 => ppp::v1::Addresses::from((source, destination))
            .to_string()
            .into_bytes(),
        Version::V2 => {
            use ppp::v2::{Builder, Command, Protocol, Version as V};
            match Builder::with_addresses(
                V::Two | Command::Proxy,
                Protocol::Stream,
                (source, destination),
            )
            .build()
            {
                Ok(bytes) => bytes,
                // Building into a Vec cannot fail for two addresses of one family; should it,
                // LOCAL (no address) is the header's own way of saying "not known".
                Err(e) => {
                    tracing::error!(error = %e, "cannot build a PROXY v2 header; sending LOCAL");
                    Builder::new(V::Two | Command::Local, 0)
                        .build()
                        .unwrap_or_default()
                }
            }
        }
    }
}

/// Both addresses in one family: IPv4 becomes IPv4-mapped IPv6 when the other is IPv6.
fn same_family(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    let v6 = |s: SocketAddr| match s.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), s.port()),
        IpAddr::V6(_) => s,
    };
    if a.is_ipv4() == b.is_ipv4() {
        (a, b)
    } else {
        (v6(a), v6(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_is_haproxys_text_line() {
        let h = header(
            Version::V1,
            addr("203.0.113.7:51234"),
            addr("127.0.0.1:4201"),
        );
        assert_eq!(h, b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 4201\r\n");
        let h = header(Version::V1, addr("[2001:db8::1]:5"), addr("[::1]:4201"));
        assert_eq!(h, b"PROXY TCP6 2001:db8::1 ::1 5 4201\r\n");
    }

    #[test]
    fn v2_is_the_binary_header_byte_for_byte() {
        let h = header(
            Version::V2,
            addr("203.0.113.7:51234"),
            addr("127.0.0.1:4201"),
        );
        let mut want = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        want.extend_from_slice(&[0x21, 0x11, 0, 12]);
        want.extend_from_slice(&[203, 0, 113, 7, 127, 0, 0, 1]);
        want.extend_from_slice(&51234u16.to_be_bytes());
        want.extend_from_slice(&4201u16.to_be_bytes());
        assert_eq!(h, want);
    }

    #[test]
    fn mixed_families_become_ipv6() {
        let h = header(Version::V1, addr("198.51.100.2:7"), addr("[::1]:4201"));
        assert_eq!(h, b"PROXY TCP6 ::ffff:198.51.100.2 ::1 7 4201\r\n");
        let h = header(Version::V2, addr("[2001:db8::1]:7"), addr("127.0.0.1:4201"));
        assert_eq!(&h[12..16], &[0x21, 0x21, 0, 36]);
    }
}
