//! Client addresses as the limits and throttles count them.
//!
//! Invariants kept here:
//! - An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack `[::]` listener sees
//!   of an IPv4 client) is that IPv4 address: [`canonical`] is applied where connections are
//!   accepted, so sessions, logs, limits and throttles all see `a.b.c.d`.
//! - An IPv6 client is counted by its network, the address cut to `[limits] ipv6_prefix`
//!   bits (default /64, what one subscriber or one host usually gets): holding a whole /64
//!   must not buy unlimited connections or guesses. IPv4 is counted by the full address.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The usual IPv6 prefix one subscriber gets: the default of `[limits] ipv6_prefix`.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// `addr` with an IPv4-mapped IPv6 address turned into the IPv4 address it carries.
#[must_use]
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// What per-address limits count `ip` under: an IPv4 address (or an IPv4-mapped one) as
/// itself, an IPv6 address as its first `ipv6_prefix` bits (at most 128).
#[must_use]
pub fn limit_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u32::from(ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// What the login throttles count an address (as a session carries it) under, as text:
/// `a.b.c.d` for IPv4, `2001:db8::/64` for IPv6 (the network, see [`limit_key`]). Text that
/// is not an address is counted as it is.
#[must_use]
pub fn throttle_key(address: &str, ipv6_prefix: u8) -> String {
    match address.parse::<IpAddr>() {
        Ok(ip) => match limit_key(ip, ipv6_prefix) {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(net) => format!("{net}/{}", ipv6_prefix.min(128)),
        },
        Err(_) => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_is_counted_by_its_network() {
        let a = limit_key(ip("2001:db8:1:2:aaaa::1"), 64);
        let b = limit_key(ip("2001:db8:1:2:ffff:1:2:3"), 64);
        assert_eq!(a, b);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, limit_key(ip("2001:db8:1:3::1"), 64));
        assert_eq!(
            limit_key(ip("2001:db8:1:2::1"), 48),
            limit_key(ip("2001:db8:1:ffff::1"), 48)
        );
        assert_eq!(limit_key(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(limit_key(ip("2001:db8::1"), 200), ip("2001:db8::1"));
        assert_eq!(limit_key(ip("2001:db8::1"), 0), ip("::"));
    }

    #[test]
    fn ipv4_and_ipv4_mapped_are_the_ipv4_address() {
        assert_eq!(limit_key(ip("192.0.2.7"), 64), ip("192.0.2.7"));
        assert_eq!(limit_key(ip("::ffff:192.0.2.7"), 64), ip("192.0.2.7"));
        assert_ne!(limit_key(ip("192.0.2.8"), 64), ip("192.0.2.7"));
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        assert_eq!(canonical(mapped), "127.0.0.1:4000".parse().unwrap());
    }

    #[test]
    fn throttle_keys_name_the_network() {
        assert_eq!(throttle_key("2001:db8:0:5::77", 64), "2001:db8:0:5::/64");
        assert_eq!(throttle_key("2001:db8:0:5::78", 64), "2001:db8:0:5::/64");
        assert_eq!(throttle_key("::ffff:10.1.2.3", 64), "10.1.2.3");
        assert_eq!(throttle_key("10.1.2.3", 64), "10.1.2.3");
        assert_eq!(throttle_key("not an address", 64), "not an address");
    }
}
