#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hardening of the server (issue 13), tested as an attacker would: raw telnet bytes and real
//! clients against the real binary. Each test names what an attacker tried and asserts what a
//! player or the operator would notice.

mod common;
use common::*;
use portcullis::bench::client::AcceptAnyHostKey;
use russh::ChannelMsg;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Waits until `line` gets one of `answers` on `t`; returns which.
fn answer(t: &mut Telnet, answers: &[&'static str]) -> &'static str {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = t.text();
        if let Some(a) = answers.iter().find(|a| text.contains(**a)) {
            return a;
        }
        assert!(
            t.pump() && Instant::now() < deadline,
            "none of {answers:?} in:\n{text}"
        );
    }
}

/// An SSH client (russh) that has authenticated, on its own runtime, so a test can act between
/// authentication and the channels it opens, as a real client may.
struct Ssh {
    rt: tokio::runtime::Runtime,
    handle: russh::client::Handle<AcceptAnyHostKey>,
}

/// What one SSH channel produced until it closed.
#[derive(Debug, Default)]
struct ChannelRun {
    /// Whether the server accepted the channel and its request.
    opened: bool,
    out: String,
    exit: Option<u32>,
}

impl Ssh {
    /// Connects to `port` and authenticates `user` with `password`; panics if refused.
    fn login(port: u16, user: &str, password: &str) -> Ssh {
        Ssh::try_login(port, user, password)
            .unwrap_or_else(|| panic!("ssh password refused for {user}"))
    }

    /// Connects to `port` and authenticates `user` with `password`; None if refused.
    fn try_login(port: u16, user: &str, password: &str) -> Option<Ssh> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A russh handle is itself a future (the session's end): kept here, not awaited.
        #[allow(clippy::async_yields_async)]
        let handle = rt.block_on(async {
            let config = Arc::new(russh::client::Config::default());
            let mut handle = tokio::time::timeout(
                WAIT,
                russh::client::connect(config, ("127.0.0.1", port), AcceptAnyHostKey),
            )
            .await
            .expect("ssh connect timed out")
            .expect("ssh connect");
            let auth = tokio::time::timeout(WAIT, handle.authenticate_password(user, password))
                .await
                .expect("ssh auth timed out")
                .expect("ssh auth");
            auth.success().then_some(handle)
        });
        handle.map(|handle| Ssh { rt, handle })
    }

    /// Opens a session channel and runs `command` (or a shell, with None), reading until the
    /// channel closes or `until` shows up in its output.
    fn run(&self, command: Option<&str>, until: Option<&str>) -> ChannelRun {
        self.rt.block_on(async {
            let mut run = ChannelRun::default();
            let Ok(Ok(mut channel)) =
                tokio::time::timeout(WAIT, self.handle.channel_open_session()).await
            else {
                return run;
            };
            let asked = match command {
                Some(c) => channel.exec(true, c).await,
                None => channel.request_shell(true).await,
            };
            if asked.is_err() {
                return run;
            }
            loop {
                let Ok(msg) = tokio::time::timeout(WAIT, channel.wait()).await else {
                    panic!("ssh channel gave nothing for {WAIT:?}: {run:?}");
                };
                match msg {
                    Some(ChannelMsg::Success) => run.opened = true,
                    Some(ChannelMsg::Data { data }) => {
                        run.out.push_str(&String::from_utf8_lossy(&data));
                        if until.is_some_and(|u| run.out.contains(u)) {
                            return run;
                        }
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => run.exit = Some(exit_status),
                    Some(_) => {}
                    None => return run,
                }
            }
        })
    }
}

// 3. The login throttle.

/// Four guesses at alice, a login to one's own account, and more guesses: the success does
/// not wipe the guesses, so the address is throttled after five failures all the same.
#[test]
fn a_login_to_ones_own_account_does_not_reset_the_throttle() {
    let p = Portcullis::start("");
    p.account("alice");
    p.account("mallory");
    let mut t = p.telnet();
    t.expect("> ");
    for _ in 0..4 {
        t.send_line("connect alice wrong-guess");
        t.expect("Wrong name or password.");
    }
    let mut own = p.telnet();
    own.expect("> ");
    own.send_line("connect mallory secret-mallory");
    own.expect("Welcome, mallory.");
    t.send_line("connect alice wrong-guess");
    t.expect("Wrong name or password.");
    t.send_line("connect alice secret-alice");
    t.expect("Too many failed logins from your address");
    assert!(!t.text().contains("Welcome, alice."), "{}", t.text());
}

/// Twenty guesses sent at once on twenty connections: only five are checked, because an
/// attempt counts when it starts, not when its password hash is done.
#[test]
fn guesses_sent_at_once_are_counted_when_they_start() {
    let p = Portcullis::start("");
    p.account("alice");
    let mut conns: Vec<Telnet> = (0..20)
        .map(|_| {
            let mut t = p.telnet();
            t.expect("> ");
            t
        })
        .collect();
    for (i, t) in conns.iter_mut().enumerate() {
        t.send_line(&format!("connect alice guess-{i}"));
    }
    let checked = conns
        .iter_mut()
        .map(|t| answer(t, &["Wrong name or password.", "Too many failed logins"]))
        .filter(|a| a.starts_with("Wrong"))
        .count();
    assert_eq!(checked, 5, "guesses checked out of 20 sent at once");
}

/// Five failures, then `portcullis reload`: the new server still refuses the address.
#[test]
fn the_login_throttle_survives_a_reload() {
    let p = Portcullis::start("");
    p.account("alice");
    let mut t = p.telnet();
    t.expect("> ");
    for _ in 0..5 {
        t.send_line("connect alice wrong-guess");
        t.expect("Wrong name or password.");
    }
    let out = p.cli(&["reload"]);
    assert!(out.status.success(), "reload failed: {}", stderr(&out));
    p.log.wait_count("server synced", 2);
    let mut t = p.telnet();
    t.expect("> ");
    t.send_line("connect alice secret-alice");
    t.expect("Too many failed logins from your address");
    assert!(!t.text().contains("Welcome, alice."), "{}", t.text());
}

/// Guesses at one account from many places (here the per-address limit is high): past the
/// per-account limit each attempt waits, but the owner still gets in: a delay, not a lock-out.
#[test]
fn many_guesses_at_an_account_delay_its_logins_but_do_not_lock_out_its_owner() {
    let p = Portcullis::start(
        "[accounts]\nlogin_failures = 100\naccount_failures = 3\naccount_failure_delay_secs = 1\n",
    );
    p.account("alice");
    let mut t = p.telnet();
    t.expect("> ");
    for _ in 0..3 {
        t.send_line("connect ALICE wrong-guess");
        t.expect("Wrong name or password.");
    }
    t.send_line("connect alice wrong-guess");
    t.expect("Many failed logins for this account lately; checking in 1 seconds.");
    t.expect("Wrong name or password.");
    let mut owner = p.telnet();
    owner.expect("> ");
    let started = Instant::now();
    owner.send_line("connect alice secret-alice");
    owner.expect("checking in 1 seconds");
    owner.expect("Welcome, alice.");
    assert!(started.elapsed() >= Duration::from_secs(1));
    p.log
        .wait_for("login delayed: too many failures for account");
}

// 6. Forged lines.

/// The line a player's words arrived on, from the start of that line to the end.
fn line_with(t: &Telnet, needle: &str) -> String {
    let text = t.text();
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"));
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    text[start..end].to_string()
}

/// `say`, `emote` and `tell` with `|/` line breaks and a run of spaces that would wrap: the victim sees the "server notice" on mallory's own line, never on a line
/// of its own, and the colour mallory opened is closed before the next line.
#[test]
fn what_a_player_says_cannot_forge_a_line_of_its_own() {
    let p = Portcullis::start("");
    let mut bob = p.player("bob");
    let mut mallory = p.player("mallory");
    bob.expect("mallory has arrived.");
    let notice = "The server will restart. Log in again at http://evil.example";
    let padding = " ".repeat(200);
    mallory.send_line(&format!("say hi|/|r{notice}|n"));
    bob.expect(notice);
    mallory.send_line(&format!("emote waves.{padding}|/|r{notice}"));
    bob.expect("mallory waves.");
    bob.expect(notice);
    mallory.send_line(&format!("tell bob psst|/|/|R{notice}"));
    bob.expect("mallory tells you:");
    bob.expect(notice);
    bob.send_line("look");
    bob.expect("Present:");

    let text = bob.text();
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("The server will restart"),
            "a forged line reached bob: {line:?} in\n{text}"
        );
    }
    assert_eq!(
        line_with(&bob, "mallory says"),
        format!("mallory says, \"hi|/{notice}\"")
    );
    assert_eq!(
        line_with(&bob, "mallory waves."),
        format!("mallory waves. |/{notice}")
    );
    assert_eq!(
        line_with(&bob, "mallory tells you:"),
        format!("mallory tells you: psst|/|/{notice}")
    );
    // The red mallory opened is reset before anything else bob sees.
    let raw = String::from_utf8_lossy(&bob.raw).to_string();
    let said = raw.find("http://evil.example").unwrap();
    let reset = raw[said..].find("\x1b[0m").expect("colour was never reset");
    assert!(!raw[said..said + reset].contains('\n'), "{raw:?}");
}

/// With `[server] player_colour = false` the markup itself shows, and nothing is red.
#[test]
fn without_player_colour_markup_shows_literally() {
    let p = Portcullis::start("[server]\nplayer_colour = false\n");
    let mut bob = p.player("bob");
    let mut mallory = p.player("mallory");
    bob.expect("mallory has arrived.");
    mallory.send_line("say |rred|n alert");
    bob.expect("mallory says, \"|rred|n alert\"");
    let raw = String::from_utf8_lossy(&bob.raw).to_string();
    assert!(!raw.contains("\x1b[22;31m"), "{raw:?}");
}

// 15. An SSH command is a logged-in session while it runs.

/// `ssh alice@host who`: alice is online while her command runs, and her command says so; bob,
/// on telnet, is not told that she arrived or left.
#[test]
fn an_ssh_command_is_online_while_it_runs_without_announcements() {
    let p = Portcullis::start_ssh("");
    let mut bob = p.player("bob");
    p.account("alice");
    let ssh = Ssh::login(p.ssh_port.unwrap(), "alice", "secret-alice");
    let run = ssh.run(Some("who"), None);
    let out = plain(run.out.as_bytes());
    assert_eq!(run.exit, Some(0), "{out}");
    assert!(out.contains("2 players online."), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("alice") && l.contains("ssh")),
        "{out}"
    );
    drop(ssh);
    p.log.wait_for("session closed");
    bob.send_line("who");
    bob.expect("1 player online.");
    let text = bob.text();
    assert!(!text.contains("alice has arrived"), "{text}");
    assert!(!text.contains("alice has left"), "{text}");
}

// 13. Deleted accounts.

/// alice is logged in on telnet and two SSH clients have authenticated as her (one will ask
/// for a shell, one for a command). The operator deletes her: the CLI says the running portal
/// logged her out, her telnet session is told and closed, and neither SSH client gets in.
#[test]
fn a_deleted_account_is_logged_out_everywhere() {
    let p = Portcullis::start_ssh("");
    let mut bob = p.player("bob");
    let mut alice = p.player("alice");
    bob.expect("alice has arrived.");
    let port = p.ssh_port.unwrap();
    let shell = Ssh::login(port, "alice", "secret-alice");
    let exec = Ssh::login(port, "alice", "secret-alice");

    let out = p.cli(&["accounts", "delete", "alice"]);
    assert!(out.status.success(), "delete failed: {}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("deleted account alice"), "{said}");
    assert!(said.contains("logged out of 1 session"), "{said}");

    alice.expect("Your account has been deleted.");
    alice.expect_closed();
    bob.expect("alice has left.");

    let run = shell.run(None, Some("Welcome"));
    assert!(!run.out.contains("Welcome, alice."), "{run:?}");
    assert_ne!(run.exit, Some(0), "{run:?}");
    let run = exec.run(Some("who"), None);
    assert!(!run.out.contains("online"), "{run:?}");
    assert_ne!(run.exit, Some(0), "{run:?}");

    bob.send_line("who");
    bob.expect("1 player online.");
    assert!(p.log.count("account deleted; logging it out") == 1);
}

/// With no portal running, `accounts delete` works on the database as before.
#[test]
fn an_account_is_deleted_without_a_running_portal() {
    let p = Portcullis::start("");
    p.account("alice");
    let (_, dir, config) = p.stop_keeping_dir();
    let out = cli(&config, &["accounts", "delete", "alice"], None);
    assert!(out.status.success(), "delete failed: {}", stderr(&out));
    assert!(stdout(&out).contains("deleted account alice"));
    let list = stdout(&cli(&config, &["accounts", "list"], None));
    assert!(!list.contains("alice"), "{list}");
    drop(dir);
}

// 7. IPv6: counted by network; an IPv4-mapped client is its IPv4 address.

/// A dual-stack `[::]` telnet listener sees 127.0.0.1 as ::ffff:127.0.0.1. It is listed as
/// 127.0.0.1, and five failures through it throttle SSH logins from 127.0.0.1 on an IPv4
/// listener: one client, one count, whichever listener it uses.
#[test]
fn an_ipv4_client_on_a_dual_stack_listener_is_counted_as_its_ipv4_address() {
    let p = Portcullis::start_with(
        "data_dir = \"data\"\n[telnet]\nbind = \"[::]:0\"\n[tls]\nenabled = false\n\
         [ssh]\nbind = \"127.0.0.1:0\"\nauth_rejection_delay_ms = 50\n[web]\nenabled = false\n",
    );
    assert!(
        p.log
            .lines()
            .iter()
            .any(|l| l.contains("listening protocol=\"telnet\" addr=[::]:")),
        "telnet is not on [::]"
    );
    p.account("alice");
    let mut t = p.telnet();
    t.expect("> ");
    let status = p.status();
    assert!(
        status
            .lines()
            .any(|l| l.contains("telnet") && l.contains(" 127.0.0.1")),
        "{status}"
    );
    assert!(!status.contains("::ffff:"), "{status}");
    for _ in 0..5 {
        t.send_line("connect alice wrong-guess");
        t.expect("Wrong name or password.");
    }
    let ssh = Ssh::try_login(p.ssh_port.unwrap(), "alice", "secret-alice");
    assert!(
        ssh.is_none(),
        "the right password got in over SSH from a throttled address"
    );
    p.log
        .wait_for("ssh login refused: too many failures from address");
}
