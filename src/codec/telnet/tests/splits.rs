//! Split invariance: a rich session fed in every possible split, and deterministic xorshift
//! fuzzing (no panics, bounded buffers, same result for any split of arbitrary input).

use super::*;

/// A session exercising every code path, from a freshly started engine.
fn rich_session() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[IAC, WILL, TTYPE, IAC, DO, TELOPT_EOR, IAC, DO, CHARSET]);
    v.extend_from_slice(b"hello\r\n");
    v.extend_from_slice(&[IAC, WILL, NAWS]);
    v.extend_from_slice(&[IAC, SB, NAWS, 0, IAC, IAC, 0, IAC, IAC, IAC, SE]);
    v.extend_from_slice(&ttype_is(b"TINTIN++"));
    v.extend_from_slice(&[b'a', IAC, IAC, b'b', b'\r', 0]);
    v.extend_from_slice(b"next\n");
    v.extend_from_slice(&ttype_is(b"XTERM"));
    v.extend_from_slice(&[IAC, SB, 200, 0xF0, 0x9F, IAC, IAC, 0xF0, IAC, SE, IAC, NOP]);
    v.extend_from_slice(b"x\r\r\n");
    v.extend_from_slice(&[IAC, SB, CHARSET, CHARSET_ACCEPTED]);
    v.extend_from_slice(b"UTF-8");
    v.extend_from_slice(&[IAC, SE]);
    v.extend_from_slice(&ttype_is(b"MTTS 137"));
    v.extend_from_slice(&[IAC, WILL, 200, IAC, DO, 200, IAC, DO, ECHO, IAC, WONT, NAWS]);
    v.extend_from_slice(b"\xF0\x9F\x98\x80 hi\n");
    v.extend_from_slice(&[IAC, SB, NAWS, 0, 80, 0, 24, IAC, WILL, SGA]);
    v.extend_from_slice(&[b'e', IAC, EC, b'f', b'\r']);
    v.extend_from_slice(
        b"0123456789012345678901234567890123456789012345678901234567890123456789\n",
    );
    v.extend_from_slice(&[IAC, SB, 201]);
    v.extend(std::iter::repeat_n(0xF0, 40));
    v.extend_from_slice(&[IAC, SE, b't', b'a', b'i', b'l', b'\r']);
    v
}

fn run_chunks(chunks: &[&[u8]]) -> (Vec<u8>, Vec<TelnetEvent>) {
    let mut e = started();
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    for c in chunks {
        e.feed(c, &mut out, &mut ev);
    }
    (out, ev)
}

#[test]
fn rich_session_expected_result() {
    let input = rich_session();
    let (out, ev) = run_chunks(&[&input]);
    let mut expected_out = TTYPE_SEND_BYTES.to_vec(); // WILL TTYPE
    expected_out.extend_from_slice(&[IAC, SB, CHARSET, CHARSET_REQUEST]); // DO CHARSET
    expected_out.extend_from_slice(b";UTF-8");
    expected_out.extend_from_slice(&[IAC, SE]);
    expected_out.extend_from_slice(&TTYPE_SEND_BYTES); // after TINTIN++
    expected_out.extend_from_slice(&TTYPE_SEND_BYTES); // after XTERM
    expected_out.extend_from_slice(&[IAC, DONT, 200, IAC, WONT, 200, IAC, WONT, ECHO]);
    expected_out.extend_from_slice(&[IAC, DONT, NAWS, IAC, DO, SGA]);
    assert_eq!(out, expected_out);
    assert_eq!(
        ev,
        vec![
            OptionEnabled {
                option: TTYPE,
                local: false
            },
            OptionEnabled {
                option: TELOPT_EOR,
                local: true
            },
            OptionEnabled {
                option: CHARSET,
                local: true
            },
            line(b"hello"),
            OptionEnabled {
                option: NAWS,
                local: false
            },
            Naws {
                width: 255,
                height: 255
            },
            ClientName("TINTIN++".into()),
            line(b"a\xFFb"),
            line(b"next"),
            TerminalType("XTERM".into()),
            line(b"x"),
            line(b""),
            Charset("UTF-8".into()),
            Mtts(137),
            OptionDisabled {
                option: NAWS,
                local: false
            },
            line("\u{1F600} hi".as_bytes()),
            Naws {
                width: 80,
                height: 24
            },
            OptionEnabled {
                option: SGA,
                local: false
            },
            line(b"f"),
            LineTooLong { limit: 64 },
            line(b"0123456789012345678901234567890123456789012345678901234567890123"),
            SubnegotiationTooLong { option: 201 },
            line(b"tail"),
        ]
    );
}

#[test]
fn every_split_gives_identical_results() {
    let input = rich_session();
    let whole = run_chunks(&[&input]);
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(run_chunks(&[a, b]), whole, "split at {i}");
    }
    for i in 0..=input.len() {
        for j in i..=input.len() {
            let r = run_chunks(&[&input[..i], &input[i..j], &input[j..]]);
            assert_eq!(r, whole, "split at {i},{j}");
        }
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run_chunks(&bytes), whole, "byte by byte");
}

/// Deterministic xorshift fuzzing: no panics, bounded buffers, and split
/// invariance on arbitrary (mostly malformed) input.
#[test]
fn fuzz_no_panic_bounded_and_split_invariant() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const PALETTE: [u8; 16] = [
        IAC, IAC, SB, SE, WILL, WONT, DO, DONT, b'\r', b'\n', 0, 0xF0, TTYPE, NAWS, CHARSET, b'a',
    ];
    for _ in 0..300 {
        let len = (next() % 300) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 3 == 0 {
                    (r >> 8) as u8
                } else {
                    PALETTE[((r >> 8) % 16) as usize]
                }
            })
            .collect();
        let whole = run_chunks(&[&input]);
        for ev in &whole.1 {
            if let Line(l) = ev {
                assert!(l.len() <= limits().max_line);
            }
        }
        let cut = if len == 0 {
            0
        } else {
            (next() as usize) % (len + 1)
        };
        let (a, b) = input.split_at(cut);
        assert_eq!(run_chunks(&[a, b]), whole);

        let mut e = started();
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        for c in input.chunks(7) {
            e.feed(c, &mut out, &mut ev);
            assert!(e.sb.len() <= limits().max_subneg);
            assert!(e.line.len() <= limits().max_line);
        }
        assert_eq!(
            ev.iter().filter(|x| **x == NegotiationStorm).count(),
            usize::from(e.neg.stormed())
        );
    }
}
