//! Benchmarks: `cargo bench --bench portal`.
//!
//! Measures, on this machine, with the release build:
//! - the telnet codec's input throughput, the markup renderer's, and link frame encode/decode;
//! - `portcullis reload` time with logged-in sessions attached (as the command reports it);
//! - command round trip (a `say` to its echo) for one player, and fan-out with many players;
//! - the portal's resident memory per idle connection.
//!
//! Everything runs on 127.0.0.1 and stops by itself. Numbers are printed, not asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis::codec::markup::{self, ColourLevel};
use portcullis::codec::telnet::{EngineLimits, TelnetEngine};
use portcullis::shared::link::{self, PortalMsg};
use portcullis::shared::message::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

fn main() {
    codec();
    markup_render();
    link_frames();
    let p = Running::start();
    round_trip(&p);
    fan_out(&p);
    reload(&p);
    ssh_exec(&p);
    memory(&p);
}

fn report(what: &str, value: String) {
    println!("{what:<58} {value}");
}

fn codec() {
    let mut input = Vec::new();
    for i in 0..200_000 {
        input.extend_from_slice(format!("say hello number {i}, how are you today?\r\n").as_bytes());
        if i % 100 == 0 {
            input.extend_from_slice(&[255, 255, 255, 250, 31, 0, 80, 0, 24, 255, 240]);
        }
    }
    let mut e = TelnetEngine::new(EngineLimits::default());
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    let t = Instant::now();
    for chunk in input.chunks(4096) {
        e.feed(chunk, &mut out, &mut ev);
        ev.clear();
    }
    let s = t.elapsed().as_secs_f64();
    report(
        "telnet codec input",
        format!("{:.0} MiB/s", input.len() as f64 / s / 1048576.0),
    );
}

fn markup_render() {
    let line = "|wAlice|n says, \"|rHello|n |[b|Ythere|n, |500how|n are |#ff8800you|n?\"";
    let n = 200_000;
    let t = Instant::now();
    let mut bytes = 0;
    for _ in 0..n {
        bytes += markup::render(line, ColourLevel::Xterm256).len();
    }
    let s = t.elapsed().as_secs_f64();
    report(
        "markup render (xterm256), lines",
        format!("{:.2} M lines/s ({bytes} bytes)", n as f64 / s / 1e6),
    );
}

fn link_frames() {
    let msg = PortalMsg::DataIn {
        id: 12345,
        seq: 678,
        messages: vec![Message::text("say hello there, everyone in the lobby")],
    };
    let n = 200_000;
    let t = Instant::now();
    let mut total = 0;
    for _ in 0..n {
        let f = link::encode(&msg).unwrap();
        total += f.len();
        let back: PortalMsg = link::decode(&f).unwrap();
        assert_eq!(back, msg);
    }
    let s = t.elapsed().as_secs_f64();
    report(
        "link data_in encode+decode",
        format!(
            "{:.2} M msgs/s ({} bytes/frame)",
            n as f64 / s / 1e6,
            total / n
        ),
    );
}

struct Running {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    child: Child,
    port: u16,
    ssh_port: u16,
}

impl Running {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "[telnet]\nbind = \"127.0.0.1:0\"\n[tls]\nenabled = false\n\
             [limits]\nmax_connections = 5000\nmax_connections_per_address = 5000\n\
             command_rate = 100000.0\ncommand_burst = 100000\n[accounts]\ncreations = 100000\n\
             [ssh]\nbind = \"127.0.0.1:0\"\n[web]\nenabled = false\n",
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .args(["start", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn,portcullis::portal=info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut port, mut ssh_port) = (0, 0);
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.split("addr=127.0.0.1:").nth(1) {
                if line.contains("\"ssh\"") {
                    ssh_port = rest.trim().parse().unwrap();
                } else {
                    port = rest.trim().parse().unwrap();
                }
                if port != 0 && ssh_port != 0 {
                    break;
                }
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let r = Running {
            dir,
            config,
            child,
            port,
            ssh_port,
        };
        // Wait until the server is linked.
        while !r.cli(&["status"]).contains("server: pid") {
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn player(&self, name: &str) -> Client {
        let mut c = Client::connect(self.port);
        c.wait_for(b"> ");
        c.send(&format!("create {name} password-{name}\r\n"));
        c.wait_for(b"Present:");
        c
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.cli(&["stop"]);
        let _ = self.child.wait();
    }
}

struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client { s, buf: Vec::new() }
    }

    fn send(&mut self, line: &str) {
        self.s.write_all(line.as_bytes()).unwrap();
    }

    fn wait_for(&mut self, needle: &[u8]) {
        let mut chunk = [0u8; 65536];
        loop {
            if let Some(p) = self.buf.windows(needle.len()).position(|w| w == needle) {
                self.buf.drain(..p + needle.len());
                return;
            }
            let n = self.s.read(&mut chunk).unwrap();
            assert!(n > 0, "closed while waiting");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn round_trip(p: &Running) {
    let mut c = p.player("solo");
    let mut times = Vec::new();
    for i in 0..2000 {
        let t = Instant::now();
        c.send(&format!("say ping {i}\r\n"));
        c.wait_for(format!("ping {i}\"").as_bytes());
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (p50, p99) = (percentile(&mut times, 0.5), percentile(&mut times, 0.99));
    report(
        "say round trip, 1 player, 2000 commands",
        format!("p50 {p50:.0} µs, p99 {p99:.0} µs"),
    );
}

fn fan_out(p: &Running) {
    const N: usize = 50;
    const LINES: usize = 40;
    let mut clients: Vec<Client> = (0..N).map(|i| p.player(&format!("fan{i}"))).collect();
    let t = Instant::now();
    for k in 0..LINES {
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(&format!("say m{i}-{k}\r\n"));
        }
    }
    // Everyone hears the last line of the last player.
    let last = format!("fan{} says, \"m{}-{}\"", N - 1, N - 1, LINES - 1);
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let last = last.clone();
            std::thread::spawn(move || {
                if i == N - 1 {
                    c.wait_for(format!("You say, \"m{i}-{}\"", LINES - 1).as_bytes());
                } else {
                    c.wait_for(last.as_bytes());
                }
                c
            })
        })
        .collect();
    let _clients: Vec<Client> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let s = t.elapsed().as_secs_f64();
    let delivered = N * LINES * N;
    report(
        &format!("fan-out: {N} players x {LINES} says, all hear all"),
        format!("{:.2} s, {:.0} lines delivered/s", s, delivered as f64 / s),
    );
}

fn reload(p: &Running) {
    // The fan-out players (50) and the solo player are still logged in.
    let mut ms = Vec::new();
    for _ in 0..20 {
        let out = p.cli(&["reload"]);
        let v: f64 = out
            .split("reloaded in ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no time in {out:?}"));
        ms.push(v);
    }
    let (p50, max) = (percentile(&mut ms, 0.5), percentile(&mut ms, 1.0));
    report(
        "reload with 51 logged-in sessions, 20 times",
        format!("p50 {p50:.0} ms, max {max:.0} ms"),
    );
}

fn ssh_exec(p: &Running) {
    let key = p.dir.path().join("id_bench");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut add = Command::new(BIN)
        .args(["accounts", "add-key", "solo"])
        .arg(key.with_extension("pub"))
        .arg("--config")
        .arg(&p.config)
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{:?}",
        std::mem::take(&mut add.stderr)
    );
    let known = p.dir.path().join("known_hosts");
    let mut ms = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let out = Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .args(["-o", "StrictHostKeyChecking=accept-new"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known.display()))
            .arg("-i")
            .arg(&key)
            .args(["-p", &p.ssh_port.to_string(), "solo@127.0.0.1", "who"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (p50, max) = (percentile(&mut ms, 0.5), percentile(&mut ms, 1.0));
    report(
        "ssh exec `who` with an ed25519 key (whole ssh process), 20x",
        format!("p50 {p50:.0} ms, max {max:.0} ms"),
    );
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn memory(p: &Running) {
    let pid = p.child.id();
    let before = rss_kib(pid);
    const N: usize = 2000;
    let mut conns: Vec<Client> = Vec::with_capacity(N);
    for _ in 0..N {
        conns.push(Client::connect(p.port));
    }
    for c in conns.iter_mut() {
        c.wait_for(b"> ");
    }
    let after = rss_kib(pid);
    report(
        &format!("portal RSS, {N} idle telnet connections"),
        format!(
            "{} KiB -> {} KiB, {:.1} KiB per connection",
            before,
            after,
            (after.saturating_sub(before)) as f64 / N as f64
        ),
    );
}
