//! Hardening of the edge (issue 13), end to end: each test plays an attacker (or an operator
//! with an unusual but valid config) against the real binary, and asserts what a player or
//! operator would notice: the process stays up, neighbours keep being served, memory and the
//! log stay bounded, and a clear error is given where one is due.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::web::*;
use common::*;

/// The smallest buffers the config accepts still serve a telnet and a WebSocket session (a
/// WebSocket config derived from them once made tungstenite assert after the 101, so every
/// browser got a dropped connection).
#[test]
fn smallest_accepted_buffers_serve_telnet_and_websocket() {
    let p = Portcullis::start_web(
        "[limits]\noutput_buffer_bytes = 4096\nmax_line_length = 64\n",
        "max_message_bytes = 1024\n",
    );
    let mut t = p.telnet();
    t.expect("> ");
    let mut w = WebClient::connect(p.web_port(), "/ws", &[])
        .unwrap_or_else(|e| panic!("websocket handshake failed: {}", describe_ws_error(&e)));
    w.session();
    w.expect("> ");
    w.line("create alice secret-pass-1");
    w.expect("Welcome, alice.");
    // The process is up and a second telnet player is served too.
    let mut t2 = p.telnet();
    t2.expect("> ");
    assert_eq!(p.log.count("panicked"), 0, "{}", p.log.lines().join("\n"));
    drop(t);
}

/// A long-poll client that never acknowledges an answer (before logging in: `ping` is all it
/// needs) cannot make the portal hold more than `output_buffer_bytes` for it: once the answer
/// it keeps asking for again passes the bound, its session is closed like a stalled reader's,
/// with a log line; a neighbour is unaffected.
#[test]
fn unacknowledged_long_poll_answers_are_bounded() {
    const LIMIT: usize = 64 * 1024;
    let p = Portcullis::start_web(
        &format!(
            "[limits]\noutput_buffer_bytes = {LIMIT}\ncommand_rate = 1000.0\ncommand_burst = 1000\n"
        ),
        "poll_timeout_secs = 5\n",
    );
    let mut neighbour = p.telnet();
    neighbour.expect("> ");
    let attacker = AjaxClient::open(p.web_port());
    let payload = "x".repeat(8 * 1024);
    let mut largest = 0;
    let mut ended = None;
    for _ in 0..4 * LIMIT / payload.len() {
        let r = attacker.input(&serde_json::json!([["ping", [payload], {}]]));
        if r.status != 204 {
            ended = Some(r);
            break;
        }
        // Always acknowledges batch 0, which never exists: every answer is kept and sent again.
        let r = attacker.post_with("/ajax/poll", b"", &[("X-Portcullis-Ack", "0")]);
        if r.status != 200 {
            ended = Some(r);
            break;
        }
        largest = largest.max(r.body.len());
    }
    let ended = ended.unwrap_or_else(|| {
        panic!("the session was never closed; the last answer held {largest} bytes (limit {LIMIT})")
    });
    let why = ended.assert_error(410);
    assert!(why.contains("output buffer overflow"), "{why}");
    assert!(
        largest <= LIMIT,
        "an answer of {largest} bytes passed the {LIMIT}-byte bound"
    );
    p.log.wait_for("long-poll client too far behind");
    neighbour.send_line("look");
    neighbour.expect("> ");
}

/// A TCP connection to 127.0.0.1:`port` with a small receive buffer, so a client that stops
/// reading fills the path to it quickly.
fn connect_small_window(port: u16) -> std::net::TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        s.connect(([127, 0, 0, 1], port).into()).await.unwrap()
    });
    let s = s.into_std().unwrap();
    s.set_nonblocking(false).unwrap();
    s
}

/// A WebSocket client that stops reading is dropped within the write-stall bound, whichever
/// write it stops in: here the messages sent again to a page that resumes its session (which
/// had no bound), after it asked for plenty of output (pings, before logging in) and
/// acknowledged none. A neighbour is served meanwhile.
#[test]
fn websocket_client_that_never_reads_is_dropped_and_neighbours_are_served() {
    let p = Portcullis::start_web(
        "[limits]\noutput_buffer_bytes = 33554432\ncommand_rate = 100000.0\ncommand_burst = 100000\n",
        "",
    );
    let port = p.web_port();
    let mut bob = p.web_player("bob");

    // Plenty of output, kept by the portal until acknowledged (the first ack turns that on).
    let mut attacker = WebClient::connect(port, "/ws", &[]).unwrap();
    let token = attacker.session()["token"].as_str().unwrap().to_string();
    attacker.send("ack", serde_json::json!([0]), serde_json::json!({}));
    const PINGS: usize = 400;
    let payload = "y".repeat(32 * 1024);
    for _ in 0..PINGS {
        attacker.send("ping", serde_json::json!([payload]), serde_json::json!({}));
        attacker.wait_named("ping");
    }
    attacker.drop_connection();

    // Back, with a small window, asking for all of it again, and reading nothing.
    let stream = connect_small_window(port);
    let raw = stream.try_clone().unwrap();
    let (_ws, _) = tungstenite::client(
        format!("ws://127.0.0.1:{port}/ws?token={token}&seen=0"),
        stream,
    )
    .unwrap_or_else(|e| panic!("websocket handshake failed: {e}"));
    let started = std::time::Instant::now();

    bob.line("say still here");
    bob.expect("You say, \"still here\"");

    p.log.wait_for("websocket write stalled");
    let took = started.elapsed();
    assert!(took < WAIT, "dropped only after {took:?}");
    // The portal closed the connection: what it had written drains, then the end.
    raw.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut r = &raw;
    loop {
        match std::io::Read::read(&mut r, &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_ne!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock,
                    "the connection stayed open"
                );
                break;
            }
        }
    }
    bob.line("say after");
    bob.expect("You say, \"after\"");
}

/// A phone that changes networks comes back to its session from a new address (it was
/// refused with 403, which the page took as the end). The token is replaced on every resume:
/// the one it came back with is spent once the page uses the new one, so a token seen in a
/// URL does not open the session later; and the change of address is logged.
#[test]
fn a_web_session_resumes_from_a_new_address_with_a_new_token() {
    let new_address: std::net::IpAddr = [127, 0, 0, 2].into();
    let p = Portcullis::start_web("", "poll_timeout_secs = 1\n");
    let port = p.web_port();
    let mut phone = p.web_player("alice");
    let first = phone.session()["token"].as_str().unwrap().to_string();
    phone.drop_connection();

    let mut phone = WebClient::connect_from(
        Some(new_address),
        port,
        &format!("/ws?token={first}&seen=0"),
        &[],
    )
    .unwrap_or_else(|e| {
        panic!(
            "resume from a new address refused: {}",
            describe_ws_error(&e)
        )
    });
    let s = phone.session();
    assert_eq!(s["resumed"], true, "{s}");
    let second = s["token"].as_str().unwrap().to_string();
    assert_ne!(second, first, "the token was not replaced");
    phone.line("say on the train");
    phone.expect("You say, \"on the train\"");
    p.log.wait_for("browser session used from a new address");
    assert_eq!(p.log.count(&first), 0, "a token reached the log");

    // The page uses its new token (another network change); the first one is spent now.
    phone.drop_connection();
    let mut phone = WebClient::connect(port, &format!("/ws?token={second}&seen=0"), &[]).unwrap();
    assert_eq!(phone.session()["resumed"], true);
    let mut thief = WebClient::connect(port, &format!("/ws?token={first}"), &[]).unwrap();
    assert_eq!(
        thief.session()["resumed"],
        false,
        "a spent token opened the session"
    );
    phone.line("say still mine");
    phone.expect("You say, \"still mine\"");

    // Long-poll: a poll from a new address is served too.
    let mut a = AjaxClient::open(port);
    a.expect("> ");
    a.from = Some(new_address);
    a.lines(&["look"]);
    let r = a.poll_raw();
    assert_eq!(r.status, 200, "{}", r.describe());
}

/// The session-id mark survives a power cut: after the counter file is renamed into place,
/// the directory that holds it is synced (a rename is only durable then), before the portal
/// hands out ids. Watched with `strace` on the real binary.
#[test]
fn the_session_id_mark_is_durable_once_renamed() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("strace is not installed; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, test_config("")).unwrap();
    let trace = dir.path().join("trace.txt");
    let mut child = std::process::Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=openat,rename,renameat,renameat2,fsync,close",
            "-o",
        ])
        .arg(&trace)
        .arg(BIN)
        .arg("start")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::attach(child.stderr.take().unwrap());
    let started = log.wait_for("portal started");
    let pid: i32 = started
        .split_whitespace()
        .find_map(|w| w.strip_prefix("pid="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {started:?}"));
    log.wait_for("server synced");
    // Stop the portal itself (strace ends with it).
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    wait_exit(&mut child);

    let trace = std::fs::read_to_string(&trace).unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    let renamed = lines
        .iter()
        .position(|l| l.contains("rename") && l.contains("session-ids.tmp"))
        .unwrap_or_else(|| panic!("no rename of the id mark in the trace:\n{trace}"));
    // The portal (the process that renamed, not the server child whose SQLite syncs the same
    // directory) opens the directory after the rename and syncs that descriptor.
    let pid = lines[renamed].split_whitespace().next().unwrap();
    let after: Vec<&str> = lines[renamed..]
        .iter()
        .filter(|l| l.split_whitespace().next() == Some(pid))
        .cloned()
        .collect();
    let synced = after.iter().enumerate().any(|(k, open)| {
        let Some(fd) = open
            .contains(&format!("openat(AT_FDCWD, \"{data}\""))
            .then(|| open.rsplit("= ").next())
            .flatten()
            .and_then(|fd| fd.trim().parse::<i32>().ok())
        else {
            return false;
        };
        after[k..]
            .iter()
            .take_while(|l| !l.contains(&format!("close({fd})")))
            .any(|l| l.contains(&format!("fsync({fd})")))
    });
    assert!(
        synced,
        "the data directory was not synced after the rename:\n{}",
        lines[renamed..]
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `portcullis start` under `ulimit -n 64` with room configured for 1,000 connections: it
/// refuses to start with an error that names the key and the limit (it used to start, and
/// refuse every player past ~60 with EMFILE). With only the soft limit low, it raises it to
/// the hard limit and starts.
#[test]
fn the_open_file_limit_is_raised_or_the_start_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, test_config("[limits]\nmax_connections = 1000\n")).unwrap();
    let under = |ulimit: &str| {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "ulimit {ulimit} 64 && exec \"$0\" start --config \"$1\""
            ))
            .arg(BIN)
            .arg(&config)
            .env("RUST_LOG", "info");
        cmd
    };

    let out = run_limited(&mut under("-n"), None, WAIT);
    let err = stderr(&out);
    assert!(!out.status.success(), "started under ulimit -n 64:\n{err}");
    for what in ["limits.max_connections = 1000", "RLIMIT_NOFILE", "64"] {
        assert!(
            err.contains(what),
            "the error does not say {what:?}:\n{err}"
        );
    }

    // Only the soft limit is low: raised, and the portal starts.
    let mut child = under("-S -n")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::attach(child.stderr.take().unwrap());
    log.wait_for("raised the open-file limit");
    log.wait_for("server synced");
    terminate(&mut child);
}

/// An attacker that opens SSH connections from one address and stops after the key-exchange
/// offer (KEXINIT) holds at most a few of them: with `max_connections` no larger than what one
/// address may hold, it used to take every place and lock a neighbour out. And the offer has
/// no key exchange a stranger could make expensive (8192-bit group 18, GEX).
#[test]
fn stalled_ssh_handshakes_cannot_lock_out_a_neighbour() {
    use std::io::{Read, Write};
    let p =
        Portcullis::start_ssh("[limits]\nmax_connections = 20\nmax_connections_per_address = 20\n");
    let ssh_port = p.ssh_port.unwrap();
    p.account("bob");

    let mut held = Vec::new();
    for _ in 0..20 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", ssh_port)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(b"SSH-2.0-stall\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // The version line and the server's KEXINIT (or the end, when refused).
        while !String::from_utf8_lossy(&got).contains("curve25519") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let offer = String::from_utf8_lossy(&got).into_owned();
        if offer.contains("curve25519") {
            for expensive in [
                "diffie-hellman-group18",
                "group-exchange",
                "diffie-hellman-group17",
            ] {
                assert!(!offer.contains(expensive), "{expensive} offered: {offer:?}");
            }
        }
        held.push(s);
    }
    p.log.wait_for("too many unauthenticated from this address");

    let mut bob = Telnet::from_stream(connect_from(Some([127, 0, 0, 2].into()), p.port));
    bob.expect("> ");
    bob.send_line("connect bob secret-bob");
    bob.expect("Welcome, bob.");
    drop(held);
}

/// Opens `n` connections to `port` that are refused at once, waiting for each to be closed.
fn refused_connections(port: u16, n: usize) {
    use std::io::Read;
    for _ in 0..n {
        let mut s = connect_from(None, port);
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 64];
        while matches!(s.read(&mut buf), Ok(m) if m > 0) {}
    }
}

/// Refusals before a session exists (SSH handshakes over the per-address bound here) are
/// logged once per address and kind, then summed up with a count: a stranger opening
/// connections as fast as it can writes a few lines, not one per connection.
#[test]
fn refused_ssh_connections_are_summed_up_in_the_log() {
    use std::io::Write;
    let p = Portcullis::start_ssh("");
    let ssh_port = p.ssh_port.unwrap();
    // Four unauthenticated connections are all one address may hold.
    let held: Vec<std::net::TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect_from(None, ssh_port);
            s.write_all(b"SSH-2.0-stall\r\n").unwrap();
            s
        })
        .collect();
    p.log.wait_count("port: connected", 4);
    let before = p.log.lines().len();
    refused_connections(ssh_port, 300);
    let line = p
        .log
        .wait_for("ssh connections refused: too many unauthenticated (repeated)");
    let written = p.log.lines()[before..]
        .iter()
        .filter(|l| l.contains("unauthenticated"))
        .count();
    assert!(written <= 3, "300 refusals wrote {written} lines");
    let count: u64 = line
        .split("count=")
        .nth(1)
        .and_then(|c| c.split(|ch: char| !ch.is_ascii_digit()).next())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}"));
    assert!(count >= 250, "the summary counts {count} of 300: {line}");
    drop(held);
}

/// The same for HTTP connections over `http_connections_per_address`.
#[test]
fn refused_web_connections_are_summed_up_in_the_log() {
    let p = Portcullis::start_web("", "http_connections_per_address = 2\n");
    let port = p.web_port();
    let held: Vec<std::net::TcpStream> = (0..2).map(|_| connect_from(None, port)).collect();
    let before = p.log.lines().len();
    refused_connections(port, 300);
    p.log
        .wait_for("web connections refused: too many from one address (repeated)");
    let written = p.log.lines()[before..]
        .iter()
        .filter(|l| l.contains("too many web connections"))
        .count();
    assert!(written <= 2, "300 refusals wrote {written} lines");
    drop(held);
}
