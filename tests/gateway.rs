//! Gateway mode end to end: the real binary in front of a scripted game on 127.0.0.1, with
//! raw telnet players. The test plays the game itself (a listener it accepts from), so every
//! byte the game gets and sends is checked exactly: the banner and prompts, typed lines, the
//! PROXY header, TTYPE/MTTS, NAWS and NEW-ENVIRON answers, GMCP both ways, MCCP2 from the
//! game, a reboot with the player kept, a quit, and a game that misbehaves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::web::{WebClient, web_test_config};
use common::*;
use serde_json::json;
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL: u8 = 251;
const WONT: u8 = 252;
const DO: u8 = 253;
const GA: u8 = 249;
const ECHO: u8 = 1;
const TTYPE: u8 = 24;
const NAWS: u8 = 31;
const NEW_ENVIRON: u8 = 39;
const MCCP2: u8 = 86;
const GMCP: u8 = 201;

/// The scripted game: a listener the test accepts connections from.
struct Game {
    listener: TcpListener,
    port: u16,
}

impl Game {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        Game { listener, port }
    }

    /// A game on a port that was just free.
    fn on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        Game { listener, port }
    }

    /// The next connection Portcullis makes, as a raw telnet peer.
    fn accept(&self) -> Telnet {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    return Telnet::from_stream(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "Portcullis never connected");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// The game asks NEW-ENVIRON for the variables `names` (all `VAR`s) and gets Portcullis'
/// answer, as text (`NAME\x01VALUE` groups).
fn ask_environ(up: &mut Telnet, names: &[&str]) -> String {
    let mut send = vec![IAC, SB, NEW_ENVIRON, 1];
    for name in names {
        send.push(0);
        send.extend_from_slice(name.as_bytes());
    }
    send.extend_from_slice(&[IAC, SE]);
    up.send(&send);
    String::from_utf8_lossy(&up.expect_subneg(NEW_ENVIRON, 1)).into_owned()
}

/// Portcullis in gateway mode in front of `game`, with `extra` keys in `[gateway]`.
fn portal(game_port: u16, extra: &str) -> Portcullis {
    Portcullis::start(&format!(
        "[gateway]\nenabled = true\nupstream = \"127.0.0.1:{game_port}\"\n{extra}\n"
    ))
}

/// The game waits for Portcullis to stop negotiating (its first bytes, if any), then the
/// test goes on. Returns what arrived.
fn settle(up: &mut Telnet) -> Vec<u8> {
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        up.pump();
    }
    std::mem::take(&mut up.raw)
}

#[test]
fn the_games_bytes_reach_the_player_and_typed_lines_reach_the_game() {
    let game = Game::new();
    let p = portal(game.port, "");
    let mut player = p.telnet();
    let mut up = game.accept();
    let banner = b"Welcome to Test MUD\r\n\x1b[1;31mred\x1b[0m |r|n 100%\r\nWhat is your name? ";
    up.send(banner);
    up.send(&[IAC, GA]);
    let mut want = banner.to_vec();
    want.extend_from_slice(&[IAC, GA]);
    player.expect_raw(&want);

    player.send_line("alice");
    up.expect_raw(b"alice\r\n");
    // An escaped IAC typed by the player is a character (ÿ), never a telnet command to the game.
    player.send(b"say \xff\xff hi\r\n");
    up.expect_raw("say ÿ hi\r\n".as_bytes());
    assert!(
        !up.raw.contains(&IAC),
        "no telnet command reached the game: {:?}",
        up.raw
    );

    let status = p.status();
    assert!(status.contains("UPSTREAM"), "{status}");
    assert!(status.contains("connected"), "{status}");

    // A killed server takes nobody off the game.
    let server = p.server_pid();
    let _ = std::process::Command::new("kill")
        .args(["-9", &server.to_string()])
        .status();
    p.log.wait_for("server link lost");
    up.send(b"still here\r\n");
    player.expect("still here");
    player.send_line("look");
    up.expect_raw(b"look\r\n");
}

#[test]
fn the_game_learns_the_client_as_a_mud_client_would_tell_it() {
    let game = Game::new();
    let p = portal(game.port, "");
    let mut player = p.telnet();
    // The player's client: a window of 100x40, three terminal types, and agreement to what
    // Portcullis offers.
    player.send(&[IAC, WILL, NAWS, IAC, SB, NAWS, 0, 100, 0, 40, IAC, SE]);
    player.send(&[IAC, WILL, TTYPE]);
    for name in ["TESTCLIENT", "XTERM-256COLOR", "MTTS 13"] {
        player.expect_subneg(TTYPE, 1);
        player.clear();
        let mut is = vec![IAC, SB, TTYPE, 0];
        is.extend_from_slice(name.as_bytes());
        is.extend_from_slice(&[IAC, SE]);
        player.send(&is);
    }
    // A forged address from the client is dropped (and logged).
    let mut forged = vec![IAC, WILL, NEW_ENVIRON, IAC, SB, NEW_ENVIRON, 0, 0];
    forged.extend_from_slice(b"IPADDRESS\x016.6.6.6");
    forged.extend_from_slice(&[IAC, SE]);
    player.send(&forged);

    let mut up = game.accept();
    up.send(&[IAC, DO, NAWS, IAC, DO, TTYPE, IAC, DO, NEW_ENVIRON]);
    up.expect_raw(&[IAC, WILL, NAWS]);
    up.expect_raw(&[IAC, SB, NAWS, 0, 100, 0, 40, IAC, SE]);
    let mut answers = Vec::new();
    for n in 1..=3 {
        up.send(&[IAC, SB, TTYPE, 1, IAC, SE]);
        let is = up.expect_subneg(TTYPE, n);
        answers.push(String::from_utf8_lossy(&is[1..]).into_owned());
    }
    // MTTS 13 (ANSI, UTF-8, 256 colours) plus PROXY (128) and MNES (512); not SSL.
    assert_eq!(answers, ["TESTCLIENT", "XTERM-256COLOR", "MTTS 653"]);
    let text = ask_environ(&mut up, &["IPADDRESS", "CLIENT_NAME"]);
    assert!(text.contains("IPADDRESS\x01127.0.0.1"), "{text:?}");
    assert!(!text.contains("6.6.6.6"), "{text:?}");
    assert!(text.contains("CLIENT_NAME\x01TESTCLIENT"), "{text:?}");
    p.log.wait_for("the gateway owns; dropped");

    // A resize reaches the game as NAWS.
    player.send(&[IAC, SB, NAWS, 0, 120, 0, 50, IAC, SE]);
    up.expect_raw(&[IAC, SB, NAWS, 0, 120, 0, 50, IAC, SE]);
}

#[test]
fn a_password_prompt_hides_what_the_player_types() {
    let game = Game::new();
    let p = portal(game.port, "");
    let mut player = p.telnet();
    let mut up = game.accept();
    settle(&mut up);
    up.send(b"Password: ");
    up.send(&[IAC, WILL, ECHO]);
    up.expect_raw(&[IAC, DO, ECHO]);
    // Portcullis echoes nothing itself and tells the player's client to stop echoing.
    player.expect_raw(&[IAC, WILL, ECHO]);
    player.send(&[IAC, DO, ECHO]);
    player.send_line("hunter2");
    up.expect_raw(b"hunter2\r\n");
    up.send(&[IAC, WONT, ECHO]);
    player.expect_raw(&[IAC, WONT, ECHO]);
}

fn proxy_header_test(version: &str) -> (Vec<u8>, u16, u16) {
    let game = Game::new();
    let p = portal(game.port, &format!("client_address = \"{version}\""));
    let player = p.telnet();
    let player_port = player.stream.local_addr().unwrap().port();
    let mut up = game.accept();
    up.send(b"hello\r\n");
    let raw = settle(&mut up);
    drop(player);
    (raw, player_port, game.port)
}

#[test]
fn a_proxy_v1_header_is_the_first_thing_the_game_reads() {
    let (raw, player_port, game_port) = proxy_header_test("proxy-v1");
    let want = format!("PROXY TCP4 127.0.0.1 127.0.0.1 {player_port} {game_port}\r\n");
    assert!(
        raw.starts_with(want.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
}

#[test]
fn a_proxy_v2_header_is_the_first_thing_the_game_reads() {
    let (raw, player_port, game_port) = proxy_header_test("proxy-v2");
    let mut want = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    want.extend_from_slice(&[0x21, 0x11, 0, 12, 127, 0, 0, 1, 127, 0, 0, 1]);
    want.extend_from_slice(&player_port.to_be_bytes());
    want.extend_from_slice(&game_port.to_be_bytes());
    assert!(raw.starts_with(&want), "{raw:?}");
}

#[test]
fn gmcp_passes_both_ways_exactly() {
    let game = Game::new();
    let p = portal(game.port, "");
    let mut player = p.telnet();
    // The player's client takes the GMCP Portcullis offers.
    player.expect_raw(&[IAC, WILL, GMCP]);
    player.send(&[IAC, DO, GMCP]);
    let mut up = game.accept();
    up.send(&[IAC, WILL, GMCP]);
    up.expect_raw(&[IAC, DO, GMCP]);
    let vitals = br#"Char.Vitals {"hp":10,"maxhp":[1]}"#;
    let mut sb = vec![IAC, SB, GMCP];
    sb.extend_from_slice(vitals);
    sb.extend_from_slice(&[IAC, SE]);
    up.send(&sb);
    assert_eq!(player.expect_subneg(GMCP, 1), vitals);

    let supports = br#"Core.Supports.Set ["Char 1"]"#;
    let mut sb = vec![IAC, SB, GMCP];
    sb.extend_from_slice(supports);
    sb.extend_from_slice(&[IAC, SE]);
    player.send(&sb);
    assert_eq!(up.expect_subneg(GMCP, 1), supports);
}

#[test]
fn mccp2_from_the_game_is_inflated() {
    use flate2::{Compression, write::ZlibEncoder};
    let game = Game::new();
    let p = portal(game.port, "");
    let mut player = p.telnet();
    let mut up = game.accept();
    up.send(&[IAC, WILL, MCCP2]);
    up.expect_raw(&[IAC, DO, MCCP2]);
    up.send(&[IAC, SB, MCCP2, IAC, SE]);
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(b"compressed hello\r\n").unwrap();
    z.flush().unwrap();
    up.send(&z.get_ref().clone());
    player.expect("compressed hello");
    // And a bomb: a little compressed data that inflates past the bound ends that player's
    // connection with a reason, and nobody else's.
    let mut other = p.telnet();
    let mut up2 = game.accept();
    up2.send(b"second player\r\n");
    other.expect("second player");
    let mut bomb = ZlibEncoder::new(Vec::new(), Compression::best());
    bomb.write_all(&vec![b'a'; 8 * 1024 * 1024]).unwrap();
    up.send(&bomb.finish().unwrap());
    let rest = player.expect_closed();
    assert!(rest.contains("bad compressed data"), "{rest}");
    up2.send(b"still fine\r\n");
    other.expect("still fine");
}

/// A process's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_compressed_flood_to_a_player_who_stops_reading_is_bounded() {
    use flate2::{Compression, write::ZlibEncoder};
    let game = Game::new();
    let p = portal(game.port, "");
    // The player connects and then reads nothing at all.
    let player = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    let mut up = game.accept();
    up.send(&[IAC, WILL, MCCP2]);
    up.expect_raw(&[IAC, DO, MCCP2]);
    up.send(&[IAC, SB, MCCP2, IAC, SE]);
    let before = peak_rss_kib(p.child.id());
    // 512 MiB of text, compressed to well under a megabyte, written as fast as Portcullis reads.
    let mut stream = up.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        let line = [b'a'; 1023];
        let mut sent = 0usize;
        for _ in 0..(512 * 1024) {
            z.write_all(&line).unwrap();
            z.write_all(b"\n").unwrap();
            if z.get_ref().len() > 64 * 1024 {
                let chunk = std::mem::take(z.get_mut());
                if stream.write_all(&chunk).is_err() {
                    return sent;
                }
                sent += chunk.len();
            }
        }
        sent
    });
    // The player is cut off as a stalled reader; the leg goes with it.
    p.log.wait_for("output buffer overflow");
    let _ = writer.join();
    let peak = peak_rss_kib(p.child.id());
    assert!(
        peak < before + 64 * 1024,
        "the portal grew from {before} KiB to {peak} KiB"
    );
    drop(player);
}

#[test]
fn a_game_reboot_keeps_the_player_and_holds_what_they_type() {
    let game = Game::new();
    let port = game.port;
    let p = portal(
        port,
        "reconnect_max_delay_secs = 1\nreconnect_attempts = 20",
    );
    let mut player = p.telnet();
    let mut up = game.accept();
    up.send(b"Banner one\r\n");
    player.expect("Banner one");
    // The game goes down: listener first, then the connection.
    drop(game);
    drop(up);
    player.expect("The game is restarting; you will be reconnected.");
    player.send_line("look");
    std::thread::sleep(Duration::from_millis(300));
    let status = p.status();
    assert!(status.contains("reconnecting"), "{status}");
    // It comes back on the same port.
    let game = Game::on(port);
    let mut up = game.accept();
    up.send(b"Banner two\r\nName: ");
    player.expect("Reconnected to the game.");
    player.expect("Banner two");
    // The line typed while it was away reaches it after its banner.
    up.expect_raw(b"look\r\n");
    // Again, with a game that waits for the player to speak first: the held line still goes.
    drop(game);
    drop(up);
    player.expect("The game is restarting; you will be reconnected.");
    player.send_line("hello again");
    let game = Game::on(port);
    let mut up = game.accept();
    up.expect_raw(b"hello again\r\n");
    player.expect("Reconnected to the game.");
}

#[test]
fn a_game_that_drops_everyone_and_is_back_at_once_keeps_them_all() {
    let game = Game::new();
    let p = portal(game.port, "reconnect_max_delay_secs = 1");
    let mut a = p.telnet();
    let mut up_a = game.accept();
    let mut b = p.telnet();
    let mut up_b = game.accept();
    up_a.send(b"one\r\n");
    a.expect("one");
    up_b.send(b"two\r\n");
    b.expect("two");
    // A restart that closes every connection while the port stays open (a copyover that
    // drops sockets): the closes come together, so it is the game going, not two quits.
    drop(up_a);
    drop(up_b);
    a.expect("The game is restarting; you will be reconnected.");
    b.expect("The game is restarting; you will be reconnected.");
    let mut up = game.accept();
    let mut up2 = game.accept();
    up.send(b"Welcome back\r\n");
    up2.send(b"Welcome back\r\n");
    a.expect("Welcome back");
    b.expect("Welcome back");
}

#[test]
fn when_the_game_closes_on_purpose_its_last_words_arrive_and_the_player_is_closed() {
    let game = Game::new();
    let p = portal(game.port, "");
    let mut player = p.telnet();
    let mut up = game.accept();
    up.send(b"Hello\r\n");
    player.expect("Hello");
    player.send_line("quit");
    up.expect_raw(b"quit\r\n");
    up.send(b"Goodbye, come back soon!\r\n");
    up.stream.shutdown(std::net::Shutdown::Both).unwrap();
    let rest = player.expect_closed();
    assert!(rest.contains("Goodbye, come back soon!"), "{rest}");
    assert!(rest.contains("The game closed the connection."), "{rest}");
    p.log.wait_for("the game closed the connection");
}

#[test]
fn a_game_that_never_answers_is_given_up_on_with_a_reason() {
    // A port with nothing behind it.
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let p = portal(port, "reconnect_attempts = 2\nreconnect_max_delay_secs = 1");
    let mut player = p.telnet();
    player.expect("The game is not answering yet");
    player.send_line("hello?");
    let rest = player.expect_closed();
    assert!(rest.contains("could not be reached"), "{rest}");
}

#[test]
fn a_flooding_game_is_bounded_and_disturbs_no_one_else() {
    let game = Game::new();
    let p = portal(game.port, "");
    let mut calm = p.telnet();
    let mut calm_up = game.accept();
    let mut victim = p.telnet();
    let mut loud = game.accept();
    settle(&mut loud);
    // Endless negotiation, a subnegotiation that never ends, and a line that never ends.
    let mut storm = Vec::new();
    for _ in 0..5000 {
        storm.extend_from_slice(&[IAC, WILL, 99]);
    }
    loud.send(&storm);
    let mut sb = vec![IAC, SB, GMCP];
    sb.extend_from_slice(&vec![b'x'; 200_000]);
    loud.send(&sb);
    loud.send(&[IAC, SE]);
    let endless = vec![b'y'; 100_000];
    loud.send(&endless);
    loud.send(b"\r\nafter the flood\r\n");
    victim.expect("after the flood");
    p.log.wait_for("negotiation storm from the game");
    calm_up.send(b"calm\r\n");
    calm.expect("calm");
    calm.send_line("ok");
    calm_up.expect_raw(b"ok\r\n");
}

#[test]
fn ssh_needs_no_account_and_its_user_name_reaches_the_game() {
    // Skips itself where OpenSSH's client is missing, as the SSH tests do.
    if std::process::Command::new("ssh")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("no ssh client; skipped");
        return;
    }
    let game = Game::new();
    let p = Portcullis::start_ssh(&format!(
        "[gateway]\nenabled = true\nupstream = \"127.0.0.1:{}\"\n",
        game.port
    ));
    let ssh_port = p.ssh_port.unwrap();
    let known = p.path().join("known_hosts");
    let mut child = std::process::Command::new("ssh")
        .args([
            "-tt",
            "-p",
            &ssh_port.to_string(),
            "-o",
            &format!("UserKnownHostsFile={}", known.display()),
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "BatchMode=yes",
            "alice@127.0.0.1",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = game.accept();
    up.send(&[IAC, DO, NEW_ENVIRON]);
    up.expect_raw(&[IAC, WILL, NEW_ENVIRON]);
    let text = ask_environ(&mut up, &["USER"]);
    assert!(text.contains("USER\x01alice"), "{text:?}");
    up.send(b"Welcome, SSH player\r\n");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"look\r").unwrap();
    up.expect_raw(b"look\r\n");
    // Let the game's line reach the terminal before the client is stopped.
    std::thread::sleep(Duration::from_millis(500));
    drop(stdin);
    terminate(&mut child);
    let out = wait_output(child, Duration::from_secs(5));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Welcome, SSH player"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_browser_gets_the_games_lines_prompts_and_gmcp() {
    let game = Game::new();
    let p = Portcullis::start_with(&web_test_config(
        &format!(
            "[gateway]\nenabled = true\nupstream = \"127.0.0.1:{}\"\n",
            game.port
        ),
        "",
    ));
    let mut page = WebClient::connect(p.web_port(), "/ws", &[]).unwrap();
    page.session();
    let mut up = game.accept();
    // A browser is offered GMCP: the page takes JSON messages.
    up.send(&[IAC, WILL, GMCP]);
    up.expect_raw(&[IAC, DO, GMCP]);
    up.send(b"Welcome, \x1b[32mbrowser\x1b[0m |g!\r\nName: ");
    up.send(&[IAC, GA]);
    let text = page.wait_named("text");
    assert_eq!(text[1], json!(["Welcome, \u{1b}[32mbrowser\u{1b}[0m |g!"]));
    assert_eq!(text[2]["raw"], json!(true));
    let prompt = page.wait_named("prompt");
    assert_eq!(prompt[1], json!(["Name: "]));
    let mut sb = vec![IAC, SB, GMCP];
    sb.extend_from_slice(br#"Room.Info {"num":1}"#);
    sb.extend_from_slice(&[IAC, SE]);
    up.send(&sb);
    let gmcp = page.wait_named("Room.Info");
    assert_eq!(gmcp[1], json!([{"num": 1}]));
    page.line("bob");
    up.expect_raw(b"bob\r\n");
    page.send("Char.Skills.Get", json!([{"group": "x"}]), json!({}));
    assert_eq!(
        up.expect_subneg(GMCP, 1),
        br#"Char.Skills.Get {"group":"x"}"#
    );
    // The game's WILL ECHO masks the page's input.
    up.send(&[IAC, WILL, ECHO]);
    let masked = page.wait_msg("echo off", |m| m[2]["echo"] == json!(false));
    assert_eq!(masked[0], json!("text"));
}

#[test]
fn a_crawler_asking_portcullis_gets_the_games_mssp_with_portcullis_ports() {
    const MSSP: u8 = 70;
    let game = Game::new();
    let p = portal(game.port, "");
    // A player's leg hears the game's MSSP.
    let _player = p.telnet();
    let mut up = game.accept();
    up.send(&[IAC, WILL, MSSP]);
    up.expect_raw(&[IAC, DO, MSSP]);
    let mut sb = vec![IAC, SB, MSSP];
    sb.extend_from_slice(
        b"\x01NAME\x02Old MUD\x01PLAYERS\x0217\x01PORT\x024201\x01CODEBASE\x02CircleMUD 3.1",
    );
    sb.extend_from_slice(&[IAC, SE]);
    up.send(&sb);
    p.log.wait_for("the game's MSSP");
    // A crawler then asks Portcullis.
    let mut crawler = p.telnet();
    crawler.expect_raw(&[IAC, WILL, MSSP]);
    crawler.send(&[IAC, DO, MSSP]);
    let vars = String::from_utf8_lossy(&crawler.expect_subneg(MSSP, 1)).into_owned();
    assert!(vars.contains("\x01NAME\x02Old MUD"), "{vars:?}");
    assert!(vars.contains("\x01PLAYERS\x0217"), "{vars:?}");
    assert!(vars.contains("\x01CODEBASE\x02CircleMUD 3.1"), "{vars:?}");
    assert!(
        vars.contains(&format!("\x01PORT\x02{}", p.port)),
        "{vars:?}"
    );
    assert!(vars.contains("\x01MCCP\x021"), "{vars:?}");
}

#[test]
fn the_command_rate_holds_for_the_game_too() {
    let game = Game::new();
    let p = Portcullis::start(&format!(
        "[gateway]\nenabled = true\nupstream = \"127.0.0.1:{}\"\n[limits]\ncommand_rate = 0.5\ncommand_burst = 2\n",
        game.port
    ));
    let mut player = p.telnet();
    let mut up = game.accept();
    up.send(b"Name: ");
    player.expect("Name: ");
    player.send(b"one\r\ntwo\r\nthree\r\n");
    player.expect("You are sending commands too fast; this was not sent: three");
    up.expect_raw(b"one\r\ntwo\r\n");
    std::thread::sleep(Duration::from_millis(300));
    up.pump();
    assert!(
        !String::from_utf8_lossy(&up.raw).contains("three"),
        "{:?}",
        up.raw
    );
}

/// OpenSSL's TLS server on 127.0.0.1:`port` with `cert` and `key` in `dir`, as a game: what
/// the test writes to its stdin goes to Portcullis, what Portcullis sends is on its stdout.
fn s_server(dir: &std::path::Path, port: u16, cert: &str, key: &str) -> std::process::Child {
    let child = std::process::Command::new("openssl")
        .current_dir(dir)
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            cert,
            "-key",
            key,
        ])
        .arg("-quiet")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// Runs `openssl` with `args` in `dir`, failing the test if it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

#[test]
fn tls_to_the_game_checks_its_certificate() {
    // A CA, and a certificate it signed for 127.0.0.1, made with OpenSSL.
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&[
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=Test CA",
        "-days",
        "2",
    ]);
    openssl(d, &ca);
    let mut csr = vec!["req"];
    csr.extend_from_slice(&ec);
    csr.extend_from_slice(&[
        "-keyout",
        "game.key",
        "-out",
        "game.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(d, &csr);
    std::fs::write(
        d.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "game.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "game.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    // The game: OpenSSL's own TLS server; what it reads from stdin goes to Portcullis.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut game = s_server(d, port, "game.pem", "game.key");
    let ca = d.join("ca.pem");
    let p = portal(
        port,
        &format!(
            "upstream_tls = true\nupstream_ca = {:?}",
            ca.display().to_string()
        ),
    );
    let mut player = p.telnet();
    let deadline = Instant::now() + WAIT;
    while !p.status().contains("connected") {
        assert!(
            Instant::now() < deadline,
            "the leg never connected over TLS"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdin = game.stdin.take().unwrap();
    stdin.write_all(b"Welcome over TLS\r\n").unwrap();
    stdin.flush().unwrap();
    player.expect("Welcome over TLS");
    player.send_line("look");
    let mut stdout = game.stdout.take().unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !String::from_utf8_lossy(&got).contains("look") {
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(
            n > 0 && Instant::now() < deadline,
            "the game never got the line: {got:?}"
        );
        got.extend_from_slice(&buf[..n]);
    }
    terminate(&mut game);
    drop(p);

    // A game whose certificate the CA did not sign is refused, and the player is told.
    let other = tempfile::tempdir().unwrap();
    let mut rogue = vec!["req", "-x509"];
    rogue.extend_from_slice(&ec);
    rogue.extend_from_slice(&[
        "-keyout",
        "k.pem",
        "-out",
        "c.pem",
        "-subj",
        "/CN=127.0.0.1",
        "-days",
        "2",
    ]);
    openssl(other.path(), &rogue);
    let mut impostor = s_server(other.path(), port, "c.pem", "k.pem");
    let p = portal(
        port,
        &format!(
            "upstream_tls = true\nupstream_ca = {:?}\nreconnect_attempts = 1\nreconnect_max_delay_secs = 1",
            ca.display().to_string()
        ),
    );
    let mut player = p.telnet();
    p.log.wait_for("tls: invalid peer certificate");
    let rest = player.expect_closed();
    assert!(rest.contains("could not be reached"), "{rest}");
    terminate(&mut impostor);
}

#[test]
fn ssh_with_accounts_checks_the_password_before_the_game_sees_anyone() {
    if std::process::Command::new("ssh")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("no ssh client; skipped");
        return;
    }
    let game = Game::new();
    let p = Portcullis::start_ssh(&format!(
        "[gateway]\nenabled = true\nupstream = \"127.0.0.1:{}\"\nssh_auth = \"accounts\"\n",
        game.port
    ));
    p.account("alice");
    let home = tempfile::tempdir().unwrap();
    let ssh = |secret: &str| ssh_with_password(&p, home.path(), "alice", secret);
    // A wrong password: refused, and no connection to the game was ever made.
    let wrong = ssh("not-the-password");
    let out = wait_output(wrong, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        assert!(
            game.listener.accept().is_err(),
            "the game got a connection from a refused login"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The right one: the game's screen, and the account name offered as USER.
    let mut child = ssh("secret-alice");
    let mut up = game.accept();
    up.send(&[IAC, DO, NEW_ENVIRON]);
    up.expect_raw(&[IAC, WILL, NEW_ENVIRON]);
    let text = ask_environ(&mut up, &["USER"]);
    assert!(text.contains("USER\x01alice"), "{text:?}");
    up.send(b"Hello, account holder\r\n");
    std::thread::sleep(Duration::from_millis(500));
    drop(child.stdin.take());
    terminate(&mut child);
    let out = wait_output(child, Duration::from_secs(5));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Hello, account holder"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_game_address_must_be_host_and_port() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("config.toml");
    std::fs::write(
        &config,
        test_config("[gateway]\nenabled = true\nupstream = \"localhost\"\n"),
    )
    .unwrap();
    let out = cli(&config, &["start"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("gateway.upstream"),
        "{}",
        stderr(&out)
    );
}

/// OpenSSH logging in to the portal's SSH port as `user` with `secret` as its password
/// (given through SSH_ASKPASS), with a terminal; its stdin, stdout and stderr are piped.
fn ssh_with_password(
    p: &Portcullis,
    home: &std::path::Path,
    user: &str,
    secret: &str,
) -> std::process::Child {
    let askpass = home.join("askpass");
    std::fs::write(&askpass, "#!/bin/sh\nprintf '%s\\n' \"$TEST_SECRET\"\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::process::Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-tt",
            "-p",
            &p.ssh_port.unwrap().to_string(),
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            &format!("UserKnownHostsFile={}", home.join("kh").display()),
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "PreferredAuthentications=password",
            &format!("{user}@127.0.0.1"),
        ])
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", home)
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .env("TEST_SECRET", secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// `accounts delete` reaches a gateway session that authenticated over SSH as the account:
/// the server never knew it, so the portal closes it, and the game sees the player leave.
#[test]
fn a_deleted_account_is_logged_out_of_the_gateway() {
    if std::process::Command::new("ssh")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("no ssh client; skipped");
        return;
    }
    let game = Game::new();
    let p = Portcullis::start_ssh(&format!(
        "[gateway]\nenabled = true\nupstream = \"127.0.0.1:{}\"\nssh_auth = \"accounts\"\n",
        game.port
    ));
    p.account("alice");
    p.account("bob");
    let home = tempfile::tempdir().unwrap();
    let alice = ssh_with_password(&p, home.path(), "Alice", "secret-alice");
    let mut alice_up = game.accept();
    alice_up.send(b"Hello, alice\r\n");
    let mut bob = ssh_with_password(&p, home.path(), "bob", "secret-bob");
    let mut bob_up = game.accept();
    bob_up.send(b"Hello, bob\r\n");

    let out = p.cli(&["accounts", "delete", "alice"]);
    assert!(out.status.success(), "delete failed: {}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("logged out of 1 session"), "{said}");
    // The game sees alice go; her client is told why and ends.
    alice_up.expect_closed();
    let out = wait_output(alice, Duration::from_secs(10));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("Your account has been deleted."),
        "{screen}"
    );
    // Bob plays on.
    bob_up.send(b"Still here, bob\r\n");
    std::thread::sleep(Duration::from_millis(300));
    bob_up.send(b"x\r\n");
    drop(bob.stdin.take());
    terminate(&mut bob);
    let out = wait_output(bob, Duration::from_secs(5));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("Still here, bob"), "{screen}");
}
