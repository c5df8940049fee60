//! Fuzz the inbound PROXY v1/v2 header reader's judgement,
//! `portcullis::portal::proxy_in::parse_header` (what `read_header` calls on the bytes it
//! peeked from a trusted load balancer), with arbitrary bytes and with our own headers.
//!
//! Input layout: byte 0 is the mode, bytes 1..3 (little-endian u16) a split position.
//! - mode bit 0 clear: the rest of the input is the start of the connection;
//! - mode bit 0 set: a header is built with `portal::gateway::proxy::header` (the gateway's
//!   outbound writer; v1 when mode bit 1 is clear, else v2) from addresses taken from the
//!   rest of the input (mode bits 2 and 3: source and destination are IPv6; each address then
//!   its port, big-endian), and the bytes left over follow it as the player's first data.
//!
//! Invariants:
//! - no panic;
//! - bounded: an accepted header's `len` is at least 1 and at most `MAX_HEADER` and the bytes
//!   given; `Incomplete` only for fewer than `MAX_HEADER` bytes;
//! - a header is exactly its bytes: its first `len` bytes alone give the same verdict, and
//!   (as a slow network delivers it) a shorter prefix is never `Malformed`, nor a different
//!   header;
//! - round trip: a header the gateway writes is accepted whatever follows it, with its own
//!   length, naming the player's address (IPv4-mapped when the two families differ, as the
//!   writer documents).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::portal::gateway::proxy::{Version, header};
use portcullis::portal::proxy_in::{MAX_HEADER, Parsed, parse_header};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Takes up to `n` bytes from the front of `data`, padding with zeros.
fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = N.min(data.len());
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

fn address(v6: bool, data: &mut &[u8]) -> SocketAddr {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(take::<16>(data)))
    } else {
        IpAddr::V4(Ipv4Addr::from(take::<4>(data)))
    };
    SocketAddr::new(ip, u16::from_be_bytes(take::<2>(data)))
}

/// The source as the header carries it: one family for both addresses.
fn as_written(source: SocketAddr, destination: SocketAddr) -> SocketAddr {
    match source.ip() {
        IpAddr::V4(ip) if destination.is_ipv6() => {
            SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), source.port())
        }
        _ => source,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let mode = data[0];
    let split = usize::from(u16::from_le_bytes([data[1], data[2]]));
    let mut rest = &data[3..];

    let (stream, expected) = if mode & 1 == 0 {
        (rest.to_vec(), None)
    } else {
        let version = if mode & 2 == 0 {
            Version::V1
        } else {
            Version::V2
        };
        let source = address(mode & 4 != 0, &mut rest);
        let destination = address(mode & 8 != 0, &mut rest);
        let mut bytes = header(version, source, destination);
        let len = bytes.len();
        bytes.extend_from_slice(rest);
        (bytes, Some((len, as_written(source, destination))))
    };

    let verdict = parse_header(&stream);
    match &verdict {
        Parsed::Header { len, .. } => {
            assert!(
                (1..=MAX_HEADER.min(stream.len())).contains(len),
                "header of {len} bytes out of {}",
                stream.len()
            );
            assert_eq!(
                parse_header(&stream[..*len]),
                verdict,
                "the header's own bytes judged differently"
            );
            // The reader never judges zero bytes (that is a closed connection).
            if *len > 1 {
                let cut = 1 + split % (*len - 1);
                match parse_header(&stream[..cut]) {
                    Parsed::Incomplete => {}
                    other => {
                        panic!("prefix of {cut} bytes of a {len}-byte header gave {other:?}")
                    }
                }
            }
        }
        Parsed::Incomplete => assert!(stream.len() < MAX_HEADER),
        Parsed::Malformed(_) => {}
    }

    if let Some((len, source)) = expected {
        assert_eq!(
            verdict,
            Parsed::Header {
                len,
                source: Some(source)
            },
            "our own header did not round-trip"
        );
    }
});
