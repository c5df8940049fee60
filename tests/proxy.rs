//! PROXY headers on the way in, end to end: Portcullis behind a load balancer. A header from
//! a trusted peer gives the session the real player's address (in `status`, the per-address
//! limits and what a game behind the gateway is told); a header from anyone else, or a trusted
//! peer without one, is refused with a log line. The balancer is a real HAProxy
//! (`send-proxy-v2`) where it is installed, and raw headers written by the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::web::connect_from;
use common::*;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn trusted(list: &str) -> String {
    format!("[limits]\ntrusted_proxies = [{list}]\nmax_connections_per_address = 1\n")
}

/// A telnet connection from 127.0.0.1 (the trusted proxy) that starts with `header`.
fn behind(port: u16, header: &[u8]) -> Telnet {
    let mut t = Telnet::connect(port);
    t.send(header);
    t
}

/// Waits until `status` lists a session from `address`.
fn wait_status(p: &Portcullis, address: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = p.status();
        if s.lines().any(|l| l.contains(address)) {
            return s;
        }
        assert!(Instant::now() < deadline, "no session from {address}:\n{s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_trusted_proxys_header_names_the_player_everywhere() {
    let p = Portcullis::start(&trusted("\"127.0.0.0/8\""));
    let mut a = behind(p.port, b"PROXY TCP4 203.0.113.5 127.0.0.1 51000 4000\r\n");
    a.expect("> ");
    let status = wait_status(&p, "203.0.113.5");
    assert!(!status.contains(" 127.0.0.1 "), "{status}");
    a.send_line("who");
    a.expect("> ");
    // The per-address limit (1 here) counts the real address: another player behind the
    // same proxy is let in, the same player twice is not.
    let mut b = behind(p.port, b"PROXY TCP4 198.51.100.9 127.0.0.1 51001 4000\r\n");
    b.expect("> ");
    let mut again = behind(p.port, b"PROXY TCP4 203.0.113.5 127.0.0.1 51002 4000\r\n");
    again.expect("Too many connections from your address.");
    // v2 works the same way.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[
        0x21, 0x11, 0, 12, 192, 0, 2, 44, 127, 0, 0, 1, 0xC8, 0x01, 0x0F, 0xA0,
    ]);
    let mut c = behind(p.port, &v2);
    c.expect("> ");
    wait_status(&p, "192.0.2.44");
}

#[test]
fn a_header_from_anyone_else_is_refused() {
    // Only 127.0.0.2 is trusted; the test connects from 127.0.0.1.
    let p = Portcullis::start(&trusted("\"127.0.0.2\""));
    let mut liar = behind(p.port, b"PROXY TCP4 203.0.113.5 127.0.0.1 51000 4000\r\n");
    liar.expect_closed();
    p.log
        .wait_for("PROXY header from a peer not in limits.trusted_proxies; refused");
    let mut v2 = behind(p.port, b"\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x0c");
    v2.expect_closed();
    // A trusted peer that sends no header is closed too.
    let mut plain = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    let mut from_proxy = connect_from(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))), p.port);
    from_proxy.write_all(b"look\r\n").unwrap();
    from_proxy
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 256];
    let n = from_proxy.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "got {:?}", String::from_utf8_lossy(&buf[..n]));
    p.log.wait_for("connection from a trusted proxy closed");
    // And an honest player from an untrusted address is served as ever.
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = plain.read(&mut buf).unwrap();
    assert!(n > 0);
}

/// A HAProxy child, stopped by its PID when dropped.
struct HaProxy(Child);

impl Drop for HaProxy {
    fn drop(&mut self) {
        terminate(&mut self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn behind_a_real_haproxy_the_player_keeps_their_address() {
    let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(haproxy) = haproxy else {
        eprintln!("haproxy is not installed (apt-get install haproxy); skipped");
        return;
    };
    let game = TcpListener::bind("127.0.0.1:0").unwrap();
    let game_port = game.local_addr().unwrap().port();
    let p = Portcullis::start(&format!(
        "{}[gateway]\nenabled = true\nupstream = \"127.0.0.1:{game_port}\"\n",
        trusted("\"127.0.0.1\"")
    ));
    let front = free_port();
    let cfg = p.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
             frontend mud\n  bind 127.0.0.1:{front}\n  default_backend portcullis\n\
             backend portcullis\n  server p 127.0.0.1:{} send-proxy-v2\n",
            p.port
        ),
    )
    .unwrap();
    let child = Command::new(haproxy)
        .args(["-db", "-f"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _guard = HaProxy(child);
    // The player comes from 127.0.0.3, through HAProxy on 127.0.0.1.
    let deadline = Instant::now() + WAIT;
    let stream = loop {
        match std::panic::catch_unwind(|| {
            connect_from(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))), front)
        }) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => panic!("haproxy never listened"),
        }
    };
    let mut player = Telnet::from_stream(stream);
    // The game behind the gateway is told the real address too (MNES IPADDRESS).
    game.set_nonblocking(false).unwrap();
    let (up, _) = game.accept().unwrap();
    let mut up = Telnet::from_stream(up);
    up.send(&[255, 253, 39]);
    up.expect_raw(&[255, 251, 39]);
    let mut send = vec![255, 250, 39, 1, 0];
    send.extend_from_slice(b"IPADDRESS");
    send.extend_from_slice(&[255, 240]);
    up.send(&send);
    let is = up.expect_subneg(39, 1);
    assert!(
        String::from_utf8_lossy(&is).contains("IPADDRESS\x01127.0.0.3"),
        "{is:?}"
    );
    up.send(b"Hello from the game\r\n");
    player.expect("Hello from the game");
    let status = wait_status(&p, "127.0.0.3");
    assert!(status.contains("connected"), "{status}");
}
