use super::*;

use std::io::{Read, Write};

use flate2::bufread::ZlibDecoder as BufZlibDecoder;
use flate2::write::{ZlibDecoder, ZlibEncoder};

/// Small deterministic PRNG (xorshift64*) so tests need no extra crates.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 56) as u8).collect()
    }
}

/// MUD-ish text: compressible but not trivial.
fn mud_text(lines: usize) -> Vec<u8> {
    let mut rng = Rng::new(7);
    let words: [&[u8]; 8] = [
        b"the ",
        b"orc ",
        b"hits ",
        b"you ",
        b"\x1b[1;31mHARD\x1b[0m ",
        b"gold ",
        b"\xff\xf9 ",
        b"north ",
    ];
    let mut out = Vec::new();
    for i in 0..lines {
        for _ in 0..(3 + rng.next() % 9) {
            out.extend_from_slice(words[(rng.next() % 8) as usize]);
        }
        out.extend_from_slice(format!("#{i}\r\n").as_bytes());
    }
    out
}

fn zlib_encode(data: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Feeds `pieces` in order until the stream ends; returns (output, index of the piece that
/// ended it, its `rest`).
fn feed(d: &mut Decompressor, pieces: &[&[u8]]) -> (Vec<u8>, Option<(usize, usize)>) {
    let mut out = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        match d.decompress(piece, &mut out).unwrap() {
            Inflated::Data => {}
            Inflated::End { rest } => return (out, Some((i, rest))),
        }
    }
    (out, None)
}

// ---------------------------------------------------------------- Compressor (MCCP2)

#[test]
fn compress_chunks_are_available_after_each_sync_flush() {
    let text = mud_text(200);
    let chunks: Vec<&[u8]> = text.chunks(97).collect();
    let mut c = Compressor::new();
    let mut dec = ZlibDecoder::new(Vec::new());
    let mut expected = Vec::new();
    let mut wire_total = 0usize;
    for chunk in &chunks {
        let mut wire = Vec::new();
        c.compress(chunk, &mut wire).unwrap();
        assert!(!wire.is_empty());
        // A sync flush ends with an empty stored block: 00 00 ff ff.
        assert_eq!(&wire[wire.len() - 4..], &[0, 0, 0xff, 0xff]);
        wire_total += wire.len();
        dec.write_all(&wire).unwrap();
        dec.flush().unwrap();
        expected.extend_from_slice(chunk);
        // Everything written so far is available without any later chunk.
        assert_eq!(dec.get_ref(), &expected);
    }
    assert_eq!(c.bytes_in(), text.len() as u64);
    assert_eq!(c.bytes_out(), wire_total as u64);
    assert!(c.bytes_out() < c.bytes_in(), "text should compress");
}

#[test]
fn compress_one_byte_at_a_time_also_flushes() {
    let mut c = Compressor::with_level(9);
    let mut dec = ZlibDecoder::new(Vec::new());
    let text = b"Welcome to the MUD!\r\n> ";
    for (i, b) in text.iter().enumerate() {
        let mut wire = Vec::new();
        c.compress(&[*b], &mut wire).unwrap();
        dec.write_all(&wire).unwrap();
        dec.flush().unwrap();
        assert_eq!(dec.get_ref().as_slice(), &text[..=i]);
    }
}

#[test]
fn compress_large_random_input_round_trips() {
    // Incompressible and larger than any internal buffer: exercises the output-full loop.
    let data = Rng::new(99).bytes(1_000_000);
    for level in [0, 1, 6, 9] {
        let mut c = Compressor::with_level(level);
        let mut wire = Vec::new();
        c.compress(&data, &mut wire).unwrap();
        c.compress(b"tail", &mut wire).unwrap();
        let mut dec = ZlibDecoder::new(Vec::new());
        dec.write_all(&wire).unwrap();
        dec.flush().unwrap();
        assert_eq!(dec.get_ref().len(), data.len() + 4, "level {level}");
        assert_eq!(&dec.get_ref()[..data.len()], &data[..]);
        assert_eq!(&dec.get_ref()[data.len()..], b"tail");
    }
}

#[test]
fn compress_appends_without_touching_existing_bytes() {
    let mut c = Compressor::new();
    let mut out = b"IAC SB 86 IAC SE".to_vec();
    c.compress(b"hello", &mut out).unwrap();
    assert!(out.starts_with(b"IAC SB 86 IAC SE"));
    let mut dec = ZlibDecoder::new(Vec::new());
    dec.write_all(&out[16..]).unwrap();
    dec.flush().unwrap();
    assert_eq!(dec.get_ref(), b"hello");
}

#[test]
fn finish_ends_stream_and_leaves_following_bytes_alone() {
    let text = mud_text(50);
    let mut c = Compressor::new();
    let mut wire = Vec::new();
    for chunk in text.chunks(300) {
        c.compress(chunk, &mut wire).unwrap();
    }
    c.finish(&mut wire).unwrap();
    let stream_len = wire.len();
    wire.extend_from_slice(b"plain after MCCP2 \xff\xfb\x56");

    let mut dec = BufZlibDecoder::new(&wire[..]);
    let mut plain = Vec::new();
    // read_to_end only succeeds if the zlib stream really ends (else UnexpectedEof).
    dec.read_to_end(&mut plain).unwrap();
    assert_eq!(plain, text);
    assert_eq!(dec.total_in(), stream_len as u64);
    assert_eq!(dec.into_inner(), b"plain after MCCP2 \xff\xfb\x56");

    // The low-level inflater agrees that the stream ended exactly there.
    let mut z = Decompress::new(true);
    let mut buf = vec![0u8; text.len() + 64];
    let st = z
        .decompress(&wire[..stream_len], &mut buf, FlushDecompress::Finish)
        .unwrap();
    assert_eq!(st, ZStatus::StreamEnd);
    assert_eq!(z.total_in(), stream_len as u64);
}

#[test]
fn finish_without_data_is_a_valid_empty_stream() {
    let c = Compressor::new();
    let mut wire = Vec::new();
    c.finish(&mut wire).unwrap();
    let mut dec = BufZlibDecoder::new(&wire[..]);
    let mut plain = Vec::new();
    dec.read_to_end(&mut plain).unwrap();
    assert!(plain.is_empty());
    assert!(dec.into_inner().is_empty());
}

#[test]
fn compress_empty_input_is_a_no_op() {
    let mut c = Compressor::default();
    let mut wire = Vec::new();
    c.compress(&[], &mut wire).unwrap();
    assert!(wire.is_empty());
    c.compress(b"x", &mut wire).unwrap();
    let n = wire.len();
    c.compress(&[], &mut wire).unwrap();
    assert_eq!(wire.len(), n);
    c.finish(&mut wire).unwrap();
    let mut d = Decompressor::new(1024);
    let mut out = Vec::new();
    assert_eq!(
        d.decompress(&wire, &mut out).unwrap(),
        Inflated::End { rest: 0 }
    );
    assert_eq!(out, b"x");
}

#[test]
fn levels_are_clamped_and_estimates_sane() {
    let c = Compressor::with_level(42);
    assert_eq!(c.level, 9);
    assert!(format!("{c:?}").contains("level: 9"));
    assert!(Compressor::memory_estimate() >= 256 * 1024);
    assert!(Decompressor::memory_estimate() >= 32 * 1024);
}

// ---------------------------------------------------------------- Decompressor (MCCP3)

#[test]
fn mccp3_round_trip_with_our_compressor() {
    let text = mud_text(100);
    let mut c = Compressor::new();
    let mut wire = Vec::new();
    for chunk in text.chunks(50) {
        c.compress(chunk, &mut wire).unwrap();
    }
    c.finish(&mut wire).unwrap();
    let mut d = Decompressor::new(1 << 20);
    let (out, end) = feed(&mut d, &wire.chunks(7).collect::<Vec<_>>());
    assert_eq!(out, text);
    assert_eq!(end, Some(((wire.len() - 1) / 7, 0)));
    assert!(d.is_ended());
    assert_eq!(d.bytes_in(), wire.len() as u64);
    assert_eq!(d.bytes_out(), text.len() as u64);
}

#[test]
fn decompress_every_split_point_and_every_pair() {
    let data = b"You are standing in an open field west of a white house.\r\n".repeat(3);
    let z = zlib_encode(&data);
    assert!(z.len() < 120, "stream should be small, is {}", z.len());
    // One split point.
    for i in 0..=z.len() {
        let mut d = Decompressor::new(4096);
        let (out, end) = feed(&mut d, &[&z[..i], &z[i..]]);
        assert_eq!(out, data, "split at {i}");
        let ended_at = if i == z.len() { 0 } else { 1 };
        assert_eq!(end, Some((ended_at, 0)), "split at {i}");
    }
    // Two split points.
    for i in 0..=z.len() {
        for j in i..=z.len() {
            let mut d = Decompressor::new(4096);
            let (out, end) = feed(&mut d, &[&z[..i], &z[i..j], &z[j..]]);
            assert_eq!(out, data, "split at {i},{j}");
            assert_eq!(end.map(|e| e.1), Some(0));
        }
    }
}

#[test]
fn decompress_byte_by_byte() {
    let data = mud_text(40);
    let z = zlib_encode(&data);
    let mut d = Decompressor::new(4096);
    let mut out = Vec::new();
    for (i, b) in z.iter().enumerate() {
        let r = d.decompress(&[*b], &mut out).unwrap();
        if i + 1 < z.len() {
            assert_eq!(r, Inflated::Data, "byte {i}");
        } else {
            assert_eq!(r, Inflated::End { rest: 0 });
        }
    }
    assert_eq!(out, data);
}

#[test]
fn decompress_sync_flushed_client_stream_incrementally() {
    // A real MCCP3 client sync-flushes every line; each line must come out as soon as its
    // bytes arrive.
    let mut enc = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let mut d = Decompressor::new(4096);
    let mut out = Vec::new();
    let mut expected = Vec::new();
    for line in [
        &b"look\r\n"[..],
        b"say hi\r\n",
        b"\xff\xfd\x01",
        b"quit\r\n",
    ] {
        enc.write_all(line).unwrap();
        enc.flush().unwrap();
        let wire = std::mem::take(enc.get_mut());
        assert_eq!(d.decompress(&wire, &mut out).unwrap(), Inflated::Data);
        expected.extend_from_slice(line);
        assert_eq!(out, expected);
    }
    let tail = enc.finish().unwrap();
    assert_eq!(
        d.decompress(&tail, &mut out).unwrap(),
        Inflated::End { rest: 0 }
    );
    assert_eq!(out, expected);
}

#[test]
fn stream_end_mid_chunk_reports_exact_rest() {
    let data = mud_text(30);
    let z = zlib_encode(&data);
    let plain = b"\xff\xfa\x18\x00plain telnet\xff\xf0";
    let mut wire = z.clone();
    wire.extend_from_slice(plain);
    for i in 0..=wire.len() {
        let mut d = Decompressor::new(1 << 16);
        let mut out = Vec::new();
        let first = d.decompress(&wire[..i], &mut out).unwrap();
        if i < z.len() {
            assert_eq!(first, Inflated::Data, "split at {i}");
            let second = d.decompress(&wire[i..], &mut out).unwrap();
            assert_eq!(second, Inflated::End { rest: plain.len() }, "split at {i}");
        } else {
            assert_eq!(first, Inflated::End { rest: i - z.len() }, "split at {i}");
            // Later calls: the stream has ended, so all of their input is plain.
            let second = d.decompress(&wire[i..], &mut out).unwrap();
            assert_eq!(
                second,
                Inflated::End {
                    rest: wire.len() - i
                }
            );
        }
        assert_eq!(out, data);
        assert!(d.is_ended());
    }
}

#[test]
fn calls_after_end_consume_nothing() {
    let z = zlib_encode(b"bye");
    let mut d = Decompressor::new(64);
    let mut out = Vec::new();
    assert_eq!(
        d.decompress(&z, &mut out).unwrap(),
        Inflated::End { rest: 0 }
    );
    assert_eq!(
        d.decompress(b"more", &mut out).unwrap(),
        Inflated::End { rest: 4 }
    );
    assert_eq!(
        d.decompress(&[], &mut out).unwrap(),
        Inflated::End { rest: 0 }
    );
    assert_eq!(out, b"bye");
}

#[test]
fn decompress_empty_input_is_fine() {
    let z = zlib_encode(b"abc");
    let mut d = Decompressor::new(64);
    let mut out = Vec::new();
    assert_eq!(d.decompress(&[], &mut out).unwrap(), Inflated::Data);
    assert_eq!(d.decompress(&z[..3], &mut out).unwrap(), Inflated::Data);
    assert_eq!(d.decompress(&[], &mut out).unwrap(), Inflated::Data);
    assert_eq!(d.decompress(&[], &mut out).unwrap(), Inflated::Data);
    assert_eq!(
        d.decompress(&z[3..], &mut out).unwrap(),
        Inflated::End { rest: 0 }
    );
    assert_eq!(out, b"abc");
}

#[test]
fn corrupt_inputs_are_errors_not_panics() {
    let fixed: [&[u8]; 6] = [
        // Not deflate (CM = 15).
        b"\xff\xff\xff\xff",
        // Header check bits wrong.
        b"\x78\x9d\x00",
        // Valid header, block type 3 (reserved).
        b"\x78\x9c\x07",
        // Valid header, stored block whose LEN/NLEN disagree.
        b"\x78\x9c\x01\x05\x00\x05\x00hello",
        // Preset dictionary requested (FDICT), which MCCP never uses.
        b"\x78\xbb\x00\x00\x00\x01",
        // Plain text, as a client that never really started compressing would send.
        b"look\r\n",
    ];
    for input in fixed {
        let mut d = Decompressor::new(4096);
        let mut out = Vec::new();
        let r = d.decompress(input, &mut out);
        assert!(
            matches!(r, Err(MccpError::Corrupt(_))),
            "{input:?} -> {r:?}"
        );
        // Poisoned: the same error again, even for empty input.
        assert_eq!(d.decompress(&[], &mut out), r);
    }

    // Checksum mismatch in the adler-32 trailer.
    let mut z = zlib_encode(b"checksummed");
    let last = z.len() - 1;
    z[last] ^= 0x55;
    let mut d = Decompressor::new(4096);
    let mut out = Vec::new();
    assert!(matches!(
        d.decompress(&z, &mut out),
        Err(MccpError::Corrupt(_))
    ));

    // Random bytes, and random bytes after a valid header: never a panic. Whatever does not
    // fail must at least stay within the bound.
    let mut corrupt = 0;
    for seed in 0..2000u64 {
        let mut rng = Rng::new(seed);
        let mut input = rng.bytes(1 + (seed as usize % 200));
        if seed % 2 == 0 {
            input.splice(0..0, [0x78, 0x9c]);
        }
        let mut d = Decompressor::new(1 << 16);
        let mut out = Vec::new();
        let mut failed = false;
        for piece in input.chunks(1 + (seed as usize % 13)) {
            match d.decompress(piece, &mut out) {
                Ok(_) => {}
                Err(MccpError::Corrupt(_)) => {
                    failed = true;
                    break;
                }
                Err(e) => panic!("seed {seed}: unexpected {e}"),
            }
            assert!(out.len() <= 1 << 20);
        }
        corrupt += usize::from(failed);
    }
    assert!(
        corrupt > 1800,
        "only {corrupt} of 2000 garbage inputs rejected"
    );
}

#[test]
fn zlib_bomb_is_cut_off_at_the_bound() {
    let zeros = vec![0u8; 10_000_000];
    let bomb = zlib_encode(&zeros);
    assert!(bomb.len() < 20_000, "bomb is {} bytes", bomb.len());
    let limit = 64 * 1024;

    // All at once.
    let mut d = Decompressor::new(limit);
    let mut out = Vec::new();
    let r = d.decompress(&bomb, &mut out);
    assert_eq!(r, Err(MccpError::TooMuch { limit }));
    assert!(out.len() <= limit, "out grew to {}", out.len());
    assert!(out.iter().all(|&b| b == 0));
    // Poisoned afterwards.
    assert_eq!(
        d.decompress(&[], &mut out),
        Err(MccpError::TooMuch { limit })
    );
    assert!(out.len() <= limit);

    // In small pieces: every call stays bounded until one trips the limit.
    let mut d = Decompressor::new(limit);
    let mut tripped = false;
    for piece in bomb.chunks(100) {
        let mut out = Vec::new();
        let r = d.decompress(piece, &mut out);
        assert!(out.len() <= limit);
        match r {
            Ok(Inflated::Data) => {}
            Err(MccpError::TooMuch { limit: l }) => {
                assert_eq!(l, limit);
                tripped = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(tripped);

    // Appending to a non-empty `out`: the bound is on this call's growth.
    let mut d = Decompressor::new(limit);
    let mut out = vec![1u8; 1000];
    assert!(d.decompress(&bomb, &mut out).is_err());
    assert!(out.len() <= 1000 + limit);
}

#[test]
fn large_legitimate_stream_within_bound_per_call() {
    // 1 MB of compressible data fed in 1 KiB reads with a generous bound: no false alarm.
    let data = mud_text(20_000);
    assert!(data.len() > 500_000);
    let z = zlib_encode(&data);
    let mut d = Decompressor::new(2 << 20);
    let (out, end) = feed(&mut d, &z.chunks(1024).collect::<Vec<_>>());
    assert_eq!(out.len(), data.len());
    assert!(out == data);
    assert_eq!(end.map(|e| e.1), Some(0));
}

#[test]
fn exact_limit_is_allowed() {
    let data = vec![b'a'; 10_000];
    let z = zlib_encode(&data);
    let mut d = Decompressor::new(10_000);
    let mut out = Vec::new();
    assert_eq!(
        d.decompress(&z, &mut out).unwrap(),
        Inflated::End { rest: 0 }
    );
    assert_eq!(out, data);

    let mut d = Decompressor::new(9_999);
    let mut out = Vec::new();
    assert_eq!(
        d.decompress(&z, &mut out),
        Err(MccpError::TooMuch { limit: 9_999 })
    );
    assert!(out.len() <= 9_999);
}

#[test]
fn errors_display() {
    assert_eq!(
        MccpError::TooMuch { limit: 5 }.to_string(),
        "MCCP stream inflates to more than 5 bytes in one call"
    );
    assert!(
        MccpError::Corrupt("bad".into())
            .to_string()
            .contains("corrupt")
    );
    assert!(MccpError::Io("x".into()).to_string().contains("failed"));
    let d = Decompressor::new(0);
    assert!(format!("{d:?}").contains("max_output_per_call: 1"));
}

#[test]
fn a_bomb_inflates_a_bounded_step_at_a_time_and_loses_nothing() {
    let data = vec![b'\n'; 4_000_000];
    let mut z = Vec::new();
    let mut c = Compressor::new();
    c.compress(&data, &mut z).unwrap();
    c.finish(&mut z).unwrap();
    let mut d = Decompressor::new(1);
    let mut input = z.clone();
    input.extend_from_slice(b"after");
    let mut plain = Vec::new();
    let mut steps = 0;
    loop {
        let mut out = Vec::new();
        let p = d.inflate_some(&input, &mut out, 4096).unwrap();
        assert!(out.len() <= 4096, "a step gave {} bytes", out.len());
        plain.extend_from_slice(&out);
        input.drain(..p.consumed);
        steps += 1;
        if p.ended {
            break;
        }
        assert!(p.more || !input.is_empty(), "stalled after {steps} steps");
    }
    assert_eq!(plain.len(), data.len());
    assert_eq!(
        input, b"after",
        "what followed the stream is left for the caller"
    );
    assert!(steps >= 4_000_000 / 4096);
    let p = d.inflate_some(b"x", &mut Vec::new(), 10).unwrap();
    assert!(p.ended && p.consumed == 0);
}

#[test]
fn inflate_some_reports_corrupt_input_and_stays_poisoned() {
    let mut d = Decompressor::new(1);
    let mut out = Vec::new();
    assert!(matches!(
        d.inflate_some(&[0x78, 0x9c, 0xff, 0xff, 0xff, 0xff], &mut out, 100),
        Err(MccpError::Corrupt(_))
    ));
    assert!(d.inflate_some(&[], &mut out, 100).is_err());
}
