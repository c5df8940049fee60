//! Reload and crash: players keep typing while the server is reloaded and while it is killed
//! with SIGKILL; no connection drops and every line comes back, in order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const PLAYERS: usize = 6;
const LINES: usize = 60;

fn wait_until(counter: &AtomicUsize, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    while counter.load(Ordering::SeqCst) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "players stopped typing"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn players_typing_through_a_reload_and_a_kill_lose_nothing() {
    let p = Portcullis::start("[limits]\ncommand_rate = 1000.0\ncommand_burst = 1000\n");
    let players: Vec<Telnet> = (0..PLAYERS)
        .map(|i| p.player(&format!("player{i}")))
        .collect();
    let sent = Arc::new(AtomicUsize::new(0));

    let handles: Vec<_> = players
        .into_iter()
        .enumerate()
        .map(|(i, mut t)| {
            let sent = sent.clone();
            std::thread::spawn(move || {
                for k in 0..LINES {
                    t.send_line(&format!("say p{i}-{k}"));
                    sent.fetch_add(1, Ordering::SeqCst);
                    // Pace the typing so that it spans the reload and the kill.
                    std::thread::sleep(Duration::from_millis(8));
                    t.pump();
                }
                for k in 0..LINES {
                    t.expect(&format!("You say, \"p{i}-{k}\""));
                }
                t
            })
        })
        .collect();

    // Reload while everyone is typing.
    wait_until(&sent, PLAYERS * LINES / 4);
    let first_pid = p.server_pid();
    let out = p.cli(&["reload"]);
    assert!(out.status.success(), "reload failed: {}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("server reloaded in"), "{said}");

    // Then kill the new server outright while they are still typing.
    wait_until(&sent, PLAYERS * LINES * 2 / 3);
    let second_pid = p.server_pid();
    assert_ne!(first_pid, second_pid);
    let killed = std::process::Command::new("kill")
        .args(["-9", &second_pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let mut players: Vec<Telnet> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    p.log.wait_count("server synced", 3);

    for (i, t) in players.iter_mut().enumerate() {
        // Told of the reload and of the restart.
        t.wait_contains("The server was reloaded. You are still here.");
        t.wait_contains("The server is back after a restart. You are still here.");
        // Everyone heard everyone else, too.
        let other = (i + 1) % PLAYERS;
        for k in 0..LINES {
            t.wait_contains(&format!("player{other} says, \"p{other}-{k}\""));
        }
        // Still connected and still logged in: a command works.
        t.send_line("who");
        t.expect(&format!("{PLAYERS} players online."));
    }
    let status = p.status();
    assert_eq!(
        status
            .lines()
            .filter(|l| l.contains(" telnet ") && l.contains("player"))
            .count(),
        PLAYERS,
        "{status}"
    );
    assert!(p.stop().success());
}

#[test]
fn reload_reports_its_time_and_a_fresh_connection_screen_survives() {
    let p = Portcullis::start("");
    // A player half-way through the prompted login flow.
    let mut t = p.telnet();
    t.expect("> ");
    let mut alice = p.player("alice");
    let mut bob = p.player("bob");
    bob.send_line("tell alice ping");
    alice.expect("bob tells you: ping");
    let out = p.cli(&["reload"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    let ms: u64 = said
        .split("reloaded in ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no time in {said:?}"));
    assert!(ms < 10_000, "reload took {ms} ms");
    alice.expect("The server was reloaded.");
    alice.send_line("say still here");
    alice.expect("You say, \"still here\"");
    // App state kept in server_data survived the reload: `reply` still knows bob.
    alice.send_line("reply pong");
    alice.expect("You tell bob: pong");
    bob.expect("alice tells you: pong");
    // The unlogged session gets the connection screen again and can log in.
    t.expect("Welcome to");
    t.send_line("connect alice secret-alice");
    t.expect("Welcome, alice.");
}

/// `portcullis portal` and `portcullis server` as separate processes (as systemd units would
/// run them): a server replaced by hand picks up every session.
#[test]
fn standalone_portal_keeps_players_while_its_server_is_replaced() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, test_config("")).unwrap();
    let spawn = |what: &str| {
        let mut c = Command::new(BIN)
            .arg(what)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Log::attach(c.stderr.take().unwrap());
        (c, log)
    };
    let (mut portal, plog) = spawn("portal");
    let line = plog.wait_for("listening protocol=\"telnet\"");
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let (mut server, _slog) = spawn("server");
    plog.wait_for("server synced");

    let made = cli(
        &config,
        &["accounts", "create", "hana"],
        Some("secret-hana\n"),
    );
    assert!(made.status.success());
    let mut t = Telnet::connect(port);
    t.expect("> ");
    t.send_line("connect hana secret-hana");
    t.expect("Welcome, hana.");

    // The server dies; the player keeps typing; a new server is started by hand.
    server.kill().unwrap();
    server.wait().unwrap();
    t.expect("The server went away");
    t.send_line("say typed while no server ran");
    let (mut server2, _slog2) = spawn("server");
    t.expect("The server is back after a restart.");
    t.expect("You say, \"typed while no server ran\"");

    let out = cli(&config, &["stop"], None);
    assert!(out.status.success());
    assert!(wait_exit(&mut portal).success());
    assert!(wait_exit(&mut server2).success());
}

/// Upgrading in place: the binary is replaced on disk while the portal runs, and a reload
/// starts the server from the new file (not the deleted old one).
#[test]
fn reload_after_the_binary_is_replaced_starts_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("portcullis");
    std::fs::copy(BIN, &exe).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, test_config("")).unwrap();
    let mut child = std::process::Command::new(&exe)
        .args(["start", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::attach(child.stderr.take().unwrap());
    // Whatever happens below, the portal does not outlive the test.
    struct Reap(u32);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-9", &self.0.to_string()])
                .status();
        }
    }
    let _reap = Reap(child.id());
    log.wait_for("server synced");
    // Replace the file the way an upgrade does: a new file renamed over the old path.
    let fresh = dir.path().join("portcullis.new");
    std::fs::copy(BIN, &fresh).unwrap();
    std::fs::rename(&fresh, &exe).unwrap();
    let out = cli(&config, &["reload"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("server reloaded in"));
    let out = cli(&config, &["stop"], None);
    assert!(out.status.success());
    assert!(wait_exit(&mut child).success());
}
