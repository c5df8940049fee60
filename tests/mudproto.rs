//! The MUD protocols end to end, byte by byte, against the real binary over plain telnet:
//! the options offered at the start, MCCP2 (server→client zlib, sync-flushed, ended cleanly,
//! bounded by the compression budget), MCCP3 (client→server zlib, ending mid-read, corrupt
//! input), GMCP, MSDP, MSSP, NEW-ENVIRON (MNES), the MTTS bits (screen readers), CHARSET, and
//! prompts marked with EOR or GA.
//!
//! Every client here is a raw socket speaking telnet bytes; compressed streams are made and
//! read with `flate2` directly, independently of the server's own MCCP code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const GA: u8 = 249;
const SE: u8 = 240;
/// The EOR command (the option is [`TELOPT_EOR`]).
const EOR: u8 = 239;

const SGA: u8 = 3;
const TTYPE: u8 = 24;
const TELOPT_EOR: u8 = 25;
const NAWS: u8 = 31;
const NEW_ENVIRON: u8 = 39;
const CHARSET: u8 = 42;
const MSDP: u8 = 69;
const MSSP: u8 = 70;
const MCCP2: u8 = 86;
const MCCP3: u8 = 87;
const GMCP: u8 = 201;

// MSDP framing bytes.
const MSDP_VAR: u8 = 1;
const MSDP_VAL: u8 = 2;
const MSDP_TABLE_OPEN: u8 = 3;
const MSDP_TABLE_CLOSE: u8 = 4;
const MSDP_ARRAY_OPEN: u8 = 5;
const MSDP_ARRAY_CLOSE: u8 = 6;

/// What a sync flush ends with: an empty stored block.
const SYNC_MARK: [u8; 4] = [0, 0, 0xFF, 0xFF];

// ---- helpers ----

/// A new connection that has received the whole connection screen: its first prompt, which
/// ends with GA since this client has agreed to nothing yet. (`expect("> ")` alone would match
/// the banner's `<name> `.) What was received is cleared.
fn fresh(p: &Portcullis) -> Telnet {
    let mut t = p.telnet();
    t.expect_raw(&[b'>', b' ', IAC, GA]);
    t.clear();
    t
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `IAC SB option <payload, IAC doubled> IAC SE`.
fn sb(option: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![IAC, SB, option];
    for &b in payload {
        if b == IAC {
            out.push(IAC);
        }
        out.push(b);
    }
    out.extend_from_slice(&[IAC, SE]);
    out
}

/// Deflates `input` into the client's zlib stream with `flush`.
fn deflate(c: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut pos = 0;
    loop {
        out.reserve(1024);
        let before = c.total_in();
        let status = c.compress_vec(&input[pos..], &mut out, flush).unwrap();
        pos += usize::try_from(c.total_in() - before).unwrap();
        if status == Status::StreamEnd {
            return out;
        }
        let finishing = matches!(flush, FlushCompress::Finish);
        if pos == input.len() && !finishing && out.len() < out.capacity() {
            return out;
        }
    }
}

/// Unix seconds now.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The `options` output's "flags" line as a map (values without spaces).
fn flags(options: &str) -> BTreeMap<String, String> {
    let line = options
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("flags"))
        .unwrap_or_else(|| panic!("no flags line in:\n{options}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Sends `options` and returns its whole output, up to the end of the flags line.
fn options(t: &mut Telnet) -> String {
    t.send_line("options");
    let mut text = t.expect("Your options");
    text.push_str(&t.expect("  flags"));
    text.push_str(&t.expect("\n"));
    text
}

fn assert_flag(f: &BTreeMap<String, String>, key: &str, value: &str) {
    assert_eq!(
        f.get(key).map(String::as_str),
        Some(value),
        "flag {key} should be {value}; flags were {f:?}"
    );
}

/// Every `IAC WILL/WONT/DO/DONT x` at the very start of `raw`, before any other byte.
fn leading_negotiations(raw: &[u8]) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < raw.len() && raw[i] == IAC && (WILL..=DONT).contains(&raw[i + 1]) {
        out.push((raw[i + 1], raw[i + 2]));
        i += 3;
    }
    out
}

/// A raw client reading the server's MCCP2 stream: everything after `IAC SB 86 IAC SE` is
/// inflated as it arrives, up to the end of the zlib stream; what follows is plain again.
struct Mccp2Client {
    t: Telnet,
    z: Decompress,
    /// Index in `t.raw` of the first compressed byte, once the start marker came.
    start: Option<usize>,
    /// Index in `t.raw` of the next compressed byte to inflate.
    zpos: usize,
    /// Index in `t.raw` of the first plain byte after the stream ended.
    end: Option<usize>,
    /// Everything inflated so far.
    inflated: Vec<u8>,
    /// How much of `plain(inflated)` `expect` has consumed.
    seen: usize,
}

impl Mccp2Client {
    fn new(t: Telnet) -> Self {
        let mut c = Mccp2Client {
            t,
            z: Decompress::new(true),
            start: None,
            zpos: 0,
            end: None,
            inflated: Vec::new(),
            seen: 0,
        };
        c.inflate();
        c
    }

    /// Inflates every compressed byte received so far. The server sync-flushes each write,
    /// so this never has to wait for later bytes to show what arrived.
    fn inflate(&mut self) {
        if self.start.is_none() {
            let Some(i) = find(&self.t.raw, &[IAC, SB, MCCP2, IAC, SE]) else {
                return;
            };
            self.start = Some(i + 5);
            self.zpos = i + 5;
        }
        let mut buf = vec![0u8; 64 * 1024];
        while self.end.is_none() && self.zpos < self.t.raw.len() {
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress(&self.t.raw[self.zpos..], &mut buf, FlushDecompress::None)
                .unwrap_or_else(|e| panic!("the server's MCCP2 stream is not valid zlib: {e}"));
            let used = usize::try_from(self.z.total_in() - in0).unwrap();
            let made = usize::try_from(self.z.total_out() - out0).unwrap();
            self.zpos += used;
            self.inflated.extend_from_slice(&buf[..made]);
            if status == Status::StreamEnd {
                self.end = Some(self.zpos);
            }
            if used == 0 && made == 0 {
                break;
            }
        }
    }

    fn pump(&mut self) -> bool {
        let open = self.t.pump();
        self.inflate();
        open
    }

    /// Waits for `needle` in the inflated text after what earlier expects consumed; then checks
    /// that the stream, once the server is quiet, stops on a sync-flush boundary with every
    /// byte inflated (nothing held back for later).
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = plain(&self.inflated);
            if let Some(pos) = text[self.seen.min(text.len())..].find(needle) {
                let start = self.seen;
                self.seen += pos + needle.len();
                self.settle();
                return text[start..self.seen].to_string();
            }
            assert!(
                self.pump() && Instant::now() < deadline,
                "never got {needle:?} in the inflated stream; it was:\n{}",
                &text[self.seen.min(text.len())..]
            );
        }
    }

    /// Waits until all compressed bytes so far are inflated and end on a sync flush.
    fn settle(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.inflate();
            let raw = &self.t.raw;
            if self.end.is_some() || (self.zpos == raw.len() && raw.ends_with(&SYNC_MARK)) {
                return;
            }
            let tail = raw[raw.len().saturating_sub(16)..].to_vec();
            assert!(
                self.pump() && Instant::now() < deadline,
                "the compressed stream did not stop on a sync flush: last bytes {tail:?}"
            );
        }
    }

    /// Waits for the zlib stream to end.
    fn expect_end(&mut self) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(end) = self.end {
                return end;
            }
            assert!(
                self.pump() && Instant::now() < deadline,
                "the MCCP2 stream never ended; inflated so far:\n{}",
                plain(&self.inflated)
            );
        }
    }

    /// Plain text received after the stream ended.
    fn after(&self) -> String {
        plain(&self.t.raw[self.end.expect("stream not ended")..])
    }

    /// Waits for `needle` in the plain text after the stream's end.
    fn expect_after(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.after().contains(needle) {
            assert!(
                self.pump() && Instant::now() < deadline,
                "never got {needle:?} after the stream ended; got:\n{}",
                self.after()
            );
        }
    }
}

/// A fresh connection that asks for MCCP2; true if compression started, false if refused.
fn try_compress(p: &Portcullis) -> bool {
    let mut t = fresh(p);
    t.send(&[IAC, DO, MCCP2]);
    let deadline = Instant::now() + WAIT;
    loop {
        if find(&t.raw, &[IAC, SB, MCCP2, IAC, SE]).is_some() {
            return true;
        }
        if find(&t.raw, &[IAC, WONT, MCCP2]).is_some() {
            return false;
        }
        assert!(
            t.pump() && Instant::now() < deadline,
            "no answer to DO MCCP2: {:?}",
            t.raw
        );
    }
}

/// A minimal MSDP value, parsed independently of the server's codec.
#[derive(Debug, Clone, PartialEq)]
enum Msdp {
    Str(String),
    Array(Vec<Msdp>),
    Table(Vec<(String, Msdp)>),
}

/// Parses an MSDP payload into `(VAR, VAL)` pairs; panics on anything malformed.
fn parse_msdp(p: &[u8]) -> Vec<(String, Msdp)> {
    fn string(p: &[u8], i: &mut usize) -> String {
        let start = *i;
        while *i < p.len() && !(1..=6).contains(&p[*i]) {
            *i += 1;
        }
        String::from_utf8(p[start..*i].to_vec()).expect("MSDP string is UTF-8")
    }
    fn value(p: &[u8], i: &mut usize) -> Msdp {
        match p.get(*i) {
            Some(&MSDP_ARRAY_OPEN) => {
                *i += 1;
                let mut items = Vec::new();
                loop {
                    match p.get(*i) {
                        Some(&MSDP_ARRAY_CLOSE) => {
                            *i += 1;
                            return Msdp::Array(items);
                        }
                        Some(&MSDP_VAL) => {
                            *i += 1;
                            items.push(value(p, i));
                        }
                        other => panic!("bad byte {other:?} in MSDP array at {i} of {p:?}"),
                    }
                }
            }
            Some(&MSDP_TABLE_OPEN) => {
                *i += 1;
                let mut entries = Vec::new();
                loop {
                    match p.get(*i) {
                        Some(&MSDP_TABLE_CLOSE) => {
                            *i += 1;
                            return Msdp::Table(entries);
                        }
                        Some(&MSDP_VAR) => {
                            *i += 1;
                            let k = string(p, i);
                            assert_eq!(p.get(*i), Some(&MSDP_VAL), "VAR without VAL in {p:?}");
                            *i += 1;
                            entries.push((k, value(p, i)));
                        }
                        other => panic!("bad byte {other:?} in MSDP table at {i} of {p:?}"),
                    }
                }
            }
            _ => Msdp::Str(string(p, i)),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        assert_eq!(p[i], MSDP_VAR, "MSDP payload must start with VAR: {p:?}");
        i += 1;
        let name = string(p, &mut i);
        assert_eq!(p.get(i), Some(&MSDP_VAL), "VAR {name} without VAL in {p:?}");
        i += 1;
        out.push((name, value(p, &mut i)));
    }
    out
}

/// `IAC SB MSDP VAR name VAL value IAC SE`.
fn msdp_sb(name: &str, value: &str) -> Vec<u8> {
    let mut p = vec![MSDP_VAR];
    p.extend_from_slice(name.as_bytes());
    p.push(MSDP_VAL);
    p.extend_from_slice(value.as_bytes());
    sb(MSDP, &p)
}

/// Waits for the next MSDP subnegotiation after the `n - 1` already read; returns it parsed.
fn msdp_reply(t: &mut Telnet, n: usize) -> Vec<(String, Msdp)> {
    parse_msdp(&t.expect_subneg(MSDP, n))
}

fn str_items(v: &Msdp) -> Vec<String> {
    match v {
        Msdp::Array(items) => items
            .iter()
            .map(|i| match i {
                Msdp::Str(s) => s.clone(),
                other => panic!("array item is not a string: {other:?}"),
            })
            .collect(),
        other => panic!("expected an MSDP array, got {other:?}"),
    }
}

/// Parses an MSSP payload (`MSSP_VAR name (MSSP_VAL value)+`…) into name → values.
fn parse_mssp(p: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut name: Option<String> = None;
    let mut i = 0;
    assert_eq!(p.first(), Some(&1), "MSSP payload must start with MSSP_VAR");
    while i < p.len() {
        let kind = p[i];
        i += 1;
        let start = i;
        while i < p.len() && p[i] != 1 && p[i] != 2 {
            i += 1;
        }
        let s = String::from_utf8(p[start..i].to_vec()).unwrap();
        match kind {
            1 => {
                assert!(p.get(i) == Some(&2), "MSSP_VAR {s} without a value");
                out.entry(s.clone()).or_default();
                name = Some(s);
            }
            2 => out.get_mut(name.as_ref().unwrap()).unwrap().push(s),
            other => panic!("bad MSSP byte {other}"),
        }
    }
    out
}

/// Answers the server's three TTYPE requests (MTTS cycle) with `answers`.
fn ttype_cycle(t: &mut Telnet, answers: [&str; 3]) {
    t.send(&[IAC, WILL, TTYPE]);
    for (n, answer) in answers.iter().enumerate() {
        let req = t.expect_subneg(TTYPE, n + 1);
        assert_eq!(req, [1], "TTYPE SEND");
        let mut is = vec![0u8];
        is.extend_from_slice(answer.as_bytes());
        t.send(&sb(TTYPE, &is));
    }
}

// ---- 1. offers ----

#[test]
fn the_first_bytes_offer_every_mud_protocol() {
    let p = Portcullis::start("");
    let mut t = p.telnet();
    t.expect_raw(&[b'>', b' ', IAC, GA]);
    let offers = leading_negotiations(&t.raw);
    for (cmd, opt) in [
        (WILL, MCCP2),
        (WILL, MCCP3),
        (WILL, GMCP),
        (WILL, MSDP),
        (WILL, MSSP),
        (DO, NEW_ENVIRON),
        (DO, TTYPE),
        (DO, NAWS),
        (WILL, TELOPT_EOR),
        (WILL, CHARSET),
    ] {
        assert!(
            offers.contains(&(cmd, opt)),
            "the first bytes lack IAC {cmd} {opt}: {offers:?}"
        );
    }
    // Each offered once.
    let mut dedup = offers.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), offers.len(), "repeated offers: {offers:?}");
    // The banner follows the offers.
    assert!(t.raw.len() > offers.len() * 3);
}

// ---- 2. MCCP2 ----

#[test]
fn mccp2_compresses_with_sync_flush_and_ends_cleanly() {
    let p = Portcullis::start("");
    p.account("alice");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, MCCP2]);
    t.expect_raw(&[IAC, SB, MCCP2, IAC, SE]);
    let mut z = Mccp2Client::new(t);
    let start = z.start.unwrap();

    z.t.send_line("connect alice secret-alice");
    z.expect("Welcome, alice.");
    z.expect("Present: alice.");
    // zlib header (deflate, 32K window), not a raw deflate stream.
    assert_eq!(z.t.raw[start] & 0x0F, 8, "zlib CM must be deflate");
    assert_eq!(
        (u16::from(z.t.raw[start]) << 8 | u16::from(z.t.raw[start + 1])) % 31,
        0,
        "zlib header check"
    );

    // Every later write is compressed and flushed too.
    z.t.send_line("say squeezed");
    z.expect("You say, \"squeezed\"");
    z.t.send_line("options");
    let opts = z.expect("  flags");
    let rest = z.expect("\n");
    let f = flags(&format!("{opts}{rest}"));
    assert_flag(&f, "MCCP", "true");

    // The client stops compression: the zlib stream ends cleanly, then output is plain.
    z.t.send(&[IAC, DONT, MCCP2]);
    let end = z.expect_end();
    let acked = find(&z.inflated, &[IAC, WONT, MCCP2]).is_some()
        || find(&z.t.raw[end..], &[IAC, WONT, MCCP2]).is_some();
    assert!(acked, "DONT MCCP2 was not answered with WONT MCCP2");
    z.t.send_line("look");
    z.expect_after("Present: alice.");
    z.t.send_line("options");
    z.expect_after("MCCP=false");
    // Nothing sneaked into the ended stream.
    assert!(!plain(&z.inflated).contains("MCCP=false"));
}

#[test]
fn mccp2_budget_refuses_extra_sessions_and_is_given_back() {
    let p = Portcullis::start("[limits]\nmax_compressed_sessions = 1");
    let mut a = fresh(&p);
    a.send(&[IAC, DO, MCCP2]);
    a.expect_raw(&[IAC, SB, MCCP2, IAC, SE]);
    let mut a = Mccp2Client::new(a);

    // The budget is full: a second client is told WONT and stays plain.
    let mut b = fresh(&p);
    b.send(&[IAC, DO, MCCP2]);
    b.expect_raw(&[IAC, WONT, MCCP2]);
    p.log.wait_for("mccp2 refused");
    b.send_line("who");
    b.expect("0 players online.");
    assert!(find(&b.raw, &[IAC, SB, MCCP2]).is_none(), "{:?}", b.raw);

    // The first client stops compressing: the budget is free again.
    a.t.send(&[IAC, DONT, MCCP2]);
    a.expect_end();
    a.t.send_line("who");
    a.expect_after("0 players online.");
    let mut c = fresh(&p);
    c.send(&[IAC, DO, MCCP2]);
    c.expect_raw(&[IAC, SB, MCCP2, IAC, SE]);

    // A compressing client that goes away gives its share back too (the portal may take a
    // moment to notice the close, so ask again with fresh clients until the deadline).
    c.send_line("quit");
    drop(c);
    p.log.wait_for("session closed");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut attempts = 0;
    loop {
        attempts += 1;
        if try_compress(&p) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after a compressing session closed, MCCP2 was still refused ({attempts} tries): \
             its share of max_compressed_sessions was never given back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- 3. MCCP3 ----

#[test]
fn mccp3_inflates_client_input_and_returns_to_plain() {
    let p = Portcullis::start("");
    p.account("carol");
    let mut bob = p.player("bob");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, MCCP3]);
    let mut c = Compress::new(Compression::default(), true);
    // The start marker and the first compressed bytes in one write.
    let mut w = sb(MCCP3, &[]);
    w.extend(deflate(
        &mut c,
        b"connect carol secret-carol\r\n",
        FlushCompress::Sync,
    ));
    t.send(&w);
    t.expect("Welcome, carol.");
    bob.expect("carol has arrived.");

    t.send(&deflate(&mut c, b"say compressed\r\n", FlushCompress::Sync));
    t.expect("You say, \"compressed\"");
    bob.expect("carol says, \"compressed\"");

    // A line split over two compressed writes, and telnet commands inside the stream.
    t.send(&deflate(&mut c, b"say spl", FlushCompress::Sync));
    let mut naws = vec![IAC, WILL, NAWS];
    naws.extend(sb(NAWS, &[0, 101, 0, 41]));
    naws.extend_from_slice(b"it\r\n");
    t.send(&deflate(&mut c, &naws, FlushCompress::Sync));
    t.expect("You say, \"split\"");
    t.send(&deflate(&mut c, b"options\r\n", FlushCompress::Sync));
    let mut opts = t.expect("Your options");
    opts.push_str(&t.expect("  flags"));
    opts.push_str(&t.expect("\n"));
    assert!(opts.contains("width     101"), "{opts}");
    assert!(opts.contains("height    41"), "{opts}");
    assert_flag(&flags(&opts), "MCCP3", "true");

    // The client ends its stream; plain bytes follow in the same write.
    let mut w = deflate(&mut c, b"say last compressed\r\n", FlushCompress::Finish);
    w.extend_from_slice(b"say plain again\r\n");
    t.send(&w);
    t.expect("You say, \"last compressed\"");
    t.expect("You say, \"plain again\"");
    bob.expect("carol says, \"plain again\"");
    t.send_line("say still plain");
    t.expect("You say, \"still plain\"");

    // It may start again later.
    let mut c2 = Compress::new(Compression::fast(), true);
    let mut w = sb(MCCP3, &[]);
    w.extend(deflate(
        &mut c2,
        b"say again compressed\r\n",
        FlushCompress::Sync,
    ));
    t.send(&w);
    t.expect("You say, \"again compressed\"");
}

#[test]
fn mccp3_corrupt_input_closes_only_that_session() {
    let p = Portcullis::start("");
    let mut bob = p.player("bob");
    let mut dave = p.player("dave");
    bob.expect("dave has arrived.");
    dave.send(&[IAC, DO, MCCP3]);
    let mut w = sb(MCCP3, &[]);
    // A zlib header, then a block that cannot be inflated (reserved block type 3).
    w.extend_from_slice(&[0x78, 0x9c, 0x07, 0xff, 0xff, 0xff, 0xff, 0x00, 0x13]);
    dave.send(&w);
    dave.expect_closed();
    p.log.wait_for("corrupt mccp3 input");
    bob.expect("dave has left.");
    // The neighbour goes on as before.
    bob.send_line("say still here");
    bob.expect("You say, \"still here\"");
    bob.send_line("who");
    bob.expect("1 player online.");
}

#[test]
fn mccp3_stream_that_ends_at_once_leaves_plain_input() {
    // A client starts MCCP3 and ends the (empty) stream in the same write, followed only by a
    // negotiation: what comes next is plain telnet, not a new zlib stream.
    let p = Portcullis::start("");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, MCCP3]);
    let mut c = Compress::new(Compression::default(), true);
    let mut w = sb(MCCP3, &[]);
    w.extend(deflate(&mut c, b"", FlushCompress::Finish));
    // An option nobody supports: the server refuses it (our sign that it read this far).
    w.extend_from_slice(&[IAC, WILL, 99]);
    t.send(&w);
    t.expect_raw(&[IAC, DONT, 99]);
    t.send_line("who");
    t.expect("0 players online.");
    assert_eq!(p.log.count("corrupt mccp3 input"), 0);
}

#[test]
fn mccp3_bomb_is_bounded_and_the_session_survives() {
    // 8 MiB of one letter without a line break compresses to a few KiB; the portal inflates it
    // a step at a time and keeps only the first max_line_length bytes. (The input allowance is
    // raised so that the 8 MiB pass in a moment; tests/harden_portal.rs checks it at its
    // default.)
    let p = Portcullis::start("[limits]\ninput_bytes_per_sec = 67108864\n");
    p.account("bomb");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, MCCP3]);
    let mut c = Compress::new(Compression::best(), true);
    let mut w = sb(MCCP3, &[]);
    w.extend(deflate(
        &mut c,
        b"connect bomb secret-bomb\r\n",
        FlushCompress::Sync,
    ));
    t.send(&w);
    t.expect("Welcome, bomb.");
    let big = vec![b'x'; 8 << 20];
    let packed = deflate(&mut c, &big, FlushCompress::Sync);
    assert!(packed.len() < 64 * 1024, "{}", packed.len());
    t.send(&packed);
    t.send(&deflate(
        &mut c,
        b"\r\nsay survived\r\n",
        FlushCompress::Sync,
    ));
    t.expect("Your line was longer than 4096 bytes");
    t.expect("You say, \"survived\"");
    assert_eq!(p.log.count("corrupt mccp3 input"), 0);
}

#[test]
fn mccp2_and_mccp3_at_once() {
    // What tintin++ does: compression both ways on one connection.
    let p = Portcullis::start("");
    p.account("tess");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, MCCP2, IAC, DO, MCCP3]);
    t.expect_raw(&[IAC, SB, MCCP2, IAC, SE]);
    let mut z = Mccp2Client::new(t);
    let mut c = Compress::new(Compression::default(), true);
    let mut w = sb(MCCP3, &[]);
    w.extend(deflate(
        &mut c,
        b"connect tess secret-tess\r\n",
        FlushCompress::Sync,
    ));
    z.t.send(&w);
    z.expect("Welcome, tess.");
    z.t.send(&deflate(&mut c, b"options\r\n", FlushCompress::Sync));
    let mut opts = z.expect("  flags");
    opts.push_str(&z.expect("\n"));
    let f = flags(&opts);
    assert_flag(&f, "MCCP", "true");
    assert_flag(&f, "MCCP3", "true");
    z.t.send(&deflate(&mut c, b"quit\r\n", FlushCompress::Sync));
    z.expect("Goodbye.");
    let deadline = Instant::now() + WAIT;
    while z.pump() {
        assert!(Instant::now() < deadline, "not closed after quit");
    }
}

// ---- 4. GMCP ----

#[test]
fn gmcp_hello_ping_and_odd_payloads() {
    let p = Portcullis::start("");
    p.account("mud");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, GMCP]);
    t.send(&sb(
        GMCP,
        br#"Core.Hello {"client":"Mudlet","version":"4.17.2"}"#,
    ));
    t.send(&sb(GMCP, br#"Core.Supports.Set ["Char 1","Room 1"]"#));
    t.send_line("connect mud secret-mud");
    t.expect("Welcome, mud.");
    let opts = options(&mut t);
    assert!(opts.contains("client    Mudlet"), "{opts}");
    let f = flags(&opts);
    assert_flag(&f, "GMCP", "true");
    assert_flag(&f, "CLIENTVERSION", "4.17.2");
    assert_flag(&f, "XTERM256", "true");
    assert_flag(&f, "TRUECOLOR", "true");
    assert!(
        opts.contains(r#"GMCP_SUPPORTS=["Char 1","Room 1"]"#),
        "{opts}"
    );

    // Core.Ping is answered with Core.Ping.
    t.clear();
    t.send(&sb(GMCP, b"Core.Ping"));
    assert_eq!(t.expect_subneg(GMCP, 1), b"Core.Ping");

    // An emoji (first byte 0xF0, the value of SE) inside SB is data, both ways.
    t.send(&sb(GMCP, "Core.Ping \"🎉\"".as_bytes()));
    assert_eq!(t.expect_subneg(GMCP, 2), "Core.Ping \"🎉\"".as_bytes());
    t.send_line("say after the party");
    t.expect("You say, \"after the party\"");

    // An escaped 0xFF (IAC IAC) is data too; it is not UTF-8, so the message is ignored
    // with a log line, and what follows still works.
    t.clear();
    let bad = sb(GMCP, b"Core.Ping \"\xFF\"");
    assert!(find(&bad, &[IAC, IAC]).is_some());
    t.send(&bad);
    t.send_line("say still parsing");
    t.expect("You say, \"still parsing\"");
    p.log.wait_for("bad out-of-band payload ignored");
    assert!(
        subnegotiations(&t.raw, GMCP).is_empty(),
        "the invalid ping was answered: {:?}",
        t.raw
    );
    t.send(&sb(GMCP, b"Core.Ping"));
    assert_eq!(t.expect_subneg(GMCP, 1), b"Core.Ping");
}

#[test]
fn an_explicit_client_name_outranks_a_terminal_type() {
    // What telnetlib3 5.0.1 does: Core.Hello names the client, then every TTYPE request is
    // answered with the same terminal type (no MTTS cycle). The first TTYPE answer is then a
    // terminal, not a client name, and must not replace the name the client gave itself.
    let p = Portcullis::start("");
    p.account("tlee");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, GMCP]);
    t.send(&sb(
        GMCP,
        br#"Core.Hello {"client":"telnetlib3","version":"5.0.1"}"#,
    ));
    t.send(&[IAC, WILL, TTYPE]);
    for n in 1..=2 {
        assert_eq!(t.expect_subneg(TTYPE, n), [1]);
        t.send(&sb(TTYPE, b"\0xterm-256color"));
    }
    t.send_line("connect tlee secret-tlee");
    t.expect("Welcome, tlee.");
    let opts = options(&mut t);
    assert!(opts.contains("terminal  xterm-256color"), "{opts}");
    assert!(opts.contains("client    telnetlib3"), "{opts}");
}

// ---- 5. MSDP ----

#[test]
fn msdp_list_report_and_send() {
    let p = Portcullis::start("[server]\nname = \"Test World\"");
    p.account("mia");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, MSDP]);
    t.clear();

    t.send(&msdp_sb("LIST", "COMMANDS"));
    let reply = msdp_reply(&mut t, 1);
    assert_eq!(reply.len(), 1, "{reply:?}");
    assert_eq!(reply[0].0, "COMMANDS");
    let mut commands = str_items(&reply[0].1);
    commands.sort();
    for c in ["LIST", "REPORT", "SEND", "UNREPORT", "RESET"] {
        assert!(commands.contains(&c.to_string()), "{commands:?}");
    }

    t.send(&msdp_sb("LIST", "REPORTABLE_VARIABLES"));
    let reply = msdp_reply(&mut t, 2);
    assert_eq!(reply[0].0, "REPORTABLE_VARIABLES");
    let vars = str_items(&reply[0].1);
    for v in ["SERVER_ID", "SERVER_TIME", "PLAYERS", "ACCOUNT_NAME"] {
        assert!(vars.contains(&v.to_string()), "{vars:?}");
    }

    t.send(&msdp_sb("SEND", "SERVER_ID"));
    let reply = msdp_reply(&mut t, 3);
    assert_eq!(
        reply,
        vec![("SERVER_ID".to_string(), Msdp::Str("Test World".into()))]
    );

    t.send_line("connect mia secret-mia");
    t.expect("Welcome, mia.");
    t.send(&msdp_sb("REPORT", "PLAYERS"));
    let reply = msdp_reply(&mut t, 4);
    assert_eq!(reply, vec![("PLAYERS".to_string(), Msdp::Str("1".into()))]);

    // Another player arrives: PLAYERS is reported again, unasked.
    let mut noah = p.player("noah");
    let reply = msdp_reply(&mut t, 5);
    assert_eq!(reply, vec![("PLAYERS".to_string(), Msdp::Str("2".into()))]);
    noah.send_line("quit");
    noah.expect_closed();
    let reply = msdp_reply(&mut t, 6);
    assert_eq!(reply, vec![("PLAYERS".to_string(), Msdp::Str("1".into()))]);

    t.send(&msdp_sb("SEND", "ACCOUNT_NAME"));
    let reply = msdp_reply(&mut t, 7);
    assert_eq!(
        reply,
        vec![("ACCOUNT_NAME".to_string(), Msdp::Str("mia".into()))]
    );

    // REPORTED_VARIABLES is a list like every LIST answer, even with one variable in it.
    t.send(&msdp_sb("LIST", "REPORTED_VARIABLES"));
    let reply = msdp_reply(&mut t, 8);
    assert_eq!(reply[0].0, "REPORTED_VARIABLES");
    assert_eq!(
        reply[0].1,
        Msdp::Array(vec![Msdp::Str("PLAYERS".into())]),
        "LIST REPORTED_VARIABLES must answer with an MSDP array"
    );
    // And with none.
    t.send(&msdp_sb("UNREPORT", "PLAYERS"));
    t.send(&msdp_sb("LIST", "REPORTED_VARIABLES"));
    let reply = msdp_reply(&mut t, 9);
    assert_eq!(
        reply,
        vec![("REPORTED_VARIABLES".to_string(), Msdp::Array(Vec::new()))],
        "an empty list must be an empty MSDP array"
    );
}

#[test]
fn msdp_unreport_stops_reports() {
    let p = Portcullis::start("");
    p.account("mia");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, MSDP]);
    t.send_line("connect mia secret-mia");
    t.expect("Welcome, mia.");
    t.clear();
    t.send(&msdp_sb("REPORT", "PLAYERS"));
    assert_eq!(
        msdp_reply(&mut t, 1),
        vec![("PLAYERS".to_string(), Msdp::Str("1".into()))]
    );
    t.send(&msdp_sb("UNREPORT", "PLAYERS"));
    let _olga = p.player("olga");
    // SERVER_TIME is the barrier: a PLAYERS report for olga would have come before it.
    t.send(&msdp_sb("SEND", "SERVER_TIME"));
    let reply = msdp_reply(&mut t, 2);
    assert_eq!(reply.len(), 1, "{reply:?}");
    assert_eq!(reply[0].0, "SERVER_TIME", "unreported PLAYERS was sent");
    let Msdp::Str(time) = &reply[0].1 else {
        panic!("{reply:?}")
    };
    let time: u64 = time.parse().unwrap();
    assert!(time.abs_diff(now()) < 120, "SERVER_TIME {time}");
}

// ---- 6. MSSP ----

#[test]
fn mssp_reports_name_players_uptime_port_and_operator_fields() {
    let p = Portcullis::start("[server]\nname = \"Test World\"\n[mssp]\nGENRE = \"Social\"");
    let started = now();
    let _pat = p.player("pat");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, MSSP]);
    let vars = parse_mssp(&t.expect_subneg(MSSP, 1));
    let one = |k: &str| -> String {
        let v = vars
            .get(k)
            .unwrap_or_else(|| panic!("MSSP lacks {k}: {vars:?}"));
        assert_eq!(v.len(), 1, "{k}: {v:?}");
        v[0].clone()
    };
    assert_eq!(one("NAME"), "Test World");
    assert_eq!(one("PLAYERS"), "1");
    let uptime: u64 = one("UPTIME").parse().unwrap();
    assert!(
        uptime <= now() && uptime + 120 >= started,
        "UPTIME {uptime} is not when the portal started (~{started})"
    );
    assert_eq!(one("PORT"), p.port.to_string());
    assert_eq!(one("GENRE"), "Social");
    assert!(one("CODEBASE").starts_with("Portcullis"), "{vars:?}");
    // NAME, PLAYERS and UPTIME lead, as crawlers expect.
    let payload = subnegotiations(&t.raw, MSSP).remove(0);
    assert!(payload.starts_with(b"\x01NAME\x02Test World\x01PLAYERS\x02"));
}

// ---- 7. NEW-ENVIRON / MNES ----

#[test]
fn new_environ_mnes_variables_become_flags() {
    let p = Portcullis::start("");
    p.account("tim");
    let mut t = fresh(&p);
    t.send(&[IAC, WILL, NEW_ENVIRON]);
    let req = t.expect_subneg(NEW_ENVIRON, 1);
    assert_eq!(req[0], 1, "NEW-ENVIRON SEND: {req:?}");
    for var in ["CLIENT_NAME", "CLIENT_VERSION", "MTTS"] {
        let mut want = vec![0u8];
        want.extend_from_slice(var.as_bytes());
        assert!(
            find(&req, &want).is_some(),
            "SEND does not ask for {var}: {req:?}"
        );
    }
    let mut is = vec![0u8];
    for (k, v) in [
        ("CLIENT_NAME", "TinTin++"),
        ("CLIENT_VERSION", "2.02"),
        ("MTTS", "2825"),
    ] {
        is.push(0);
        is.extend_from_slice(k.as_bytes());
        is.push(1);
        is.extend_from_slice(v.as_bytes());
    }
    t.send(&sb(NEW_ENVIRON, &is));
    t.send_line("connect tim secret-tim");
    t.expect("Welcome, tim.");
    let opts = options(&mut t);
    assert!(opts.contains("client    TinTin++"), "{opts}");
    let f = flags(&opts);
    assert_flag(&f, "CLIENTVERSION", "2.02");
    // 2825 = SSL 2048 + MNES 512 + TRUECOLOR 256 + 256 colours 8 + ANSI 1.
    for on in ["MNES", "TRUECOLOR", "XTERM256", "ANSI"] {
        assert_flag(&f, on, "true");
    }
    // SSL follows the transport, not the client's claim: this one is plain telnet.
    assert_ne!(f.get("SSL").map(String::as_str), Some("true"), "{f:?}");
    assert!(opts.contains("(not encrypted)"), "{opts}");
    for off in ["SCREENREADER", "MSLP", "VT100", "PROXY"] {
        assert_flag(&f, off, "false");
    }
    assert!(opts.contains("colour    truecolour"), "{opts}");
}

// ---- 8. MTTS: all 12 bits, and the screen reader ----

#[test]
fn mtts_4095_sets_every_bit_and_screen_readers_get_no_decoration() {
    let p = Portcullis::start("");
    p.account("sam");
    let mut t = fresh(&p);
    ttype_cycle(&mut t, ["TESTCLIENT", "XTERM-256COLOR", "MTTS 4095"]);
    // The connection screen again, now for a screen reader: no rules, no escape codes.
    t.clear();
    t.send_line("help");
    let screen = t.expect("online.");
    assert!(screen.contains("connect"), "{screen}");
    assert!(!screen.contains("===="), "{screen}");
    t.expect("> ");
    assert!(!t.raw.contains(&0x1B), "escape codes for a screen reader");

    t.send_line("connect sam secret-sam");
    t.expect("Welcome, sam.");
    let opts = options(&mut t);
    assert!(opts.contains("screen reader yes"), "{opts}");
    let f = flags(&opts);
    for bit in [
        "ANSI",
        "VT100",
        "UTF-8",
        "XTERM256",
        "MOUSE_TRACKING",
        "OSC_COLOR_PALETTE",
        "SCREENREADER",
        "PROXY",
        "TRUECOLOR",
        "MNES",
        "MSLP",
    ] {
        assert_flag(&f, bit, "true");
    }
    // The SSL bit (2048) is the client's claim; the transport here is plain.
    assert_ne!(f.get("SSL").map(String::as_str), Some("true"), "{f:?}");
    t.clear();
    t.send_line("look");
    t.expect("Present: sam.");
    t.send_line("help");
    let help = t.expect("Colour:");
    assert!(!help.contains("===="), "{help}");
    t.send_line("say |rred|n words");
    t.expect("You say, \"red words\"");
    assert!(!t.raw.contains(&0x1B), "escape codes for a screen reader");
}

// ---- CHARSET ----

#[test]
fn charset_utf8_is_offered_and_agreed() {
    let p = Portcullis::start("");
    p.account("cyd");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, CHARSET]);
    let req = t.expect_subneg(CHARSET, 1);
    assert_eq!(req[0], 1, "CHARSET REQUEST: {req:?}");
    assert!(find(&req, b"UTF-8").is_some(), "{req:?}");
    let mut accepted = vec![2u8];
    accepted.extend_from_slice(b"UTF-8");
    t.send(&sb(CHARSET, &accepted));
    t.send_line("connect cyd secret-cyd");
    t.expect("Welcome, cyd.");
    let f = flags(&options(&mut t));
    assert_flag(&f, "ENCODING", "utf-8");
    assert_flag(&f, "UTF-8", "true");
}

// ---- 9. EOR vs GA ----

/// Asserts every `IAC <cmd>` in `raw` comes right after a prompt `"> "`; returns how many.
fn prompt_marks(raw: &[u8], cmd: u8) -> usize {
    let mut n = 0;
    for (i, w) in raw.windows(2).enumerate() {
        if w == [IAC, cmd] && (i == 0 || raw[i - 1] != IAC) {
            assert!(
                i >= 2 && &raw[i - 2..i] == b"> ",
                "IAC {cmd} after something other than a prompt at {i}: {:?}",
                String::from_utf8_lossy(&raw[i.saturating_sub(40)..i])
            );
            n += 1;
        }
    }
    n
}

#[test]
fn prompts_end_with_eor_or_ga_and_text_never_does() {
    let p = Portcullis::start("");

    // Agreed to EOR: prompts end IAC EOR, never GA.
    let mut eor = fresh(&p);
    eor.send(&[IAC, DO, TELOPT_EOR]);
    eor.clear();
    eor.send_line("help");
    eor.expect("online.");
    eor.expect_raw(&[b'>', b' ', IAC, EOR]);
    eor.send_line("who");
    eor.expect("0 players online.");
    assert_eq!(prompt_marks(&eor.raw, EOR), 1, "{:?}", eor.raw);
    assert_eq!(
        prompt_marks(&eor.raw, GA),
        0,
        "GA with EOR on: {:?}",
        eor.raw
    );

    // Refused EOR: prompts end IAC GA.
    let mut ga = fresh(&p);
    ga.send(&[IAC, DONT, TELOPT_EOR]);
    ga.clear();
    ga.send_line("help");
    ga.expect("online.");
    ga.expect_raw(&[b'>', b' ', IAC, GA]);
    ga.send_line("who");
    ga.expect("0 players online.");
    assert_eq!(prompt_marks(&ga.raw, GA), 1, "{:?}", ga.raw);
    assert_eq!(prompt_marks(&ga.raw, EOR), 0);

    // Asked for SGA (and never answered EOR): neither mark.
    let mut sga = fresh(&p);
    sga.send(&[IAC, DO, SGA]);
    sga.expect_raw(&[IAC, WILL, SGA]);
    sga.clear();
    sga.send_line("help");
    sga.expect("online.");
    sga.expect("> ");
    sga.send_line("who");
    sga.expect("0 players online.");
    assert_eq!(prompt_marks(&sga.raw, GA), 0, "{:?}", sga.raw);
    assert_eq!(prompt_marks(&sga.raw, EOR), 0, "{:?}", sga.raw);
}

/// telnetlib3 announces MCCP3, sends one frame uncompressed, then compresses: plain bytes
/// after the start marker are read as plain, and the zlib stream is taken when it begins.
#[test]
fn plain_text_after_mccp3_start_is_read_plainly_until_the_stream_begins() {
    let p = Portcullis::start("");
    p.account("tess");
    let mut t = fresh(&p);
    t.send(&[IAC, DO, MCCP3]);
    let mut w = sb(MCCP3, &[]);
    w.extend_from_slice(b"connect tess secret-tess\r\n");
    t.send(&w);
    t.expect("Welcome, tess.");
    p.log.wait_for("plain input after the mccp3 start marker");
    let mut c = Compress::new(Compression::default(), true);
    t.send(&deflate(
        &mut c,
        b"say now compressed\r\n",
        FlushCompress::Sync,
    ));
    t.expect("You say, \"now compressed\"");
}
