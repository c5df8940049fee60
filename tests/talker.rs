//! The talker as players see it over telnet: logging in both ways, who, say, emote, tell,
//! options fed by NAWS/TTYPE, colour by client capability, and text that cannot smuggle
//! escape sequences to other players.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

const IAC: u8 = 255;
const WILL: u8 = 251;
const WONT: u8 = 252;
const DO: u8 = 253;
const SB: u8 = 250;
const SE: u8 = 240;
const ECHO: u8 = 1;
const TTYPE: u8 = 24;
const NAWS: u8 = 31;

#[test]
fn two_players_talk() {
    let p = Portcullis::start("");
    let mut alice = p.player("alice");
    let mut bob = p.player("bob");
    alice.expect("bob has arrived.");

    bob.send_line("who");
    let who = bob.expect("2 players online.");
    for name in ["alice", "bob"] {
        let row = who
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in who:\n{who}"));
        assert!(row.contains("telnet"), "{row}");
    }

    alice.send_line("say Hello, Bob!");
    alice.expect("You say, \"Hello, Bob!\"");
    bob.expect("alice says, \"Hello, Bob!\"");

    bob.send_line("'hi");
    alice.expect("bob says, \"hi\"");
    bob.send_line(":waves.");
    alice.expect("bob waves.");
    bob.expect("bob waves.");

    alice.send_line("tell BOB a secret");
    alice.expect("You tell bob: a secret");
    bob.expect("alice tells you: a secret");
    alice.send_line("tell carol hello");
    alice.expect("No one called carol is online.");

    bob.send_line("look");
    bob.expect("Present: alice, bob.");
    bob.send_line("frobnicate");
    bob.expect("Unknown command 'frobnicate'");

    bob.send_line("quit");
    bob.expect("Goodbye.");
    bob.expect_closed();
    alice.expect("bob has left.");
}

#[test]
fn prompted_login_hides_the_password_and_creates_accounts() {
    let p = Portcullis::start("");
    let mut t = p.telnet();
    t.expect("> ");
    t.send_line("carol");
    t.expect("There is no account called carol. Create it? (yes/no)");
    t.send_line("yes");
    t.expect("Choose a password");
    // Echo is turned off for the password: IAC WILL ECHO.
    t.expect_raw(&[IAC, WILL, ECHO]);
    t.send(&[IAC, DO, ECHO]);
    t.send_line("tiny");
    t.expect("Invalid password");
    t.send_line("long enough");
    t.expect("Repeat the password");
    t.send_line("long enough");
    t.expect("Account carol created.");
    t.expect("Welcome, carol.");
    // Echo comes back on after the password.
    t.expect_raw(&[IAC, WONT, ECHO]);
    // The password was never sent back to the player.
    assert!(!t.text().contains("long enough"));

    // Logging in by name, then password.
    let mut u = p.telnet();
    u.expect("> ");
    u.send_line("Carol");
    u.expect("Password:");
    u.send_line("wrong password");
    u.expect("Wrong name or password.");
    u.send_line("connect carol long enough");
    u.expect("Welcome, carol.");
    // Passwords never reach the log.
    assert_eq!(p.log.count("long enough"), 0);
    assert_eq!(p.log.count("wrong password"), 0);
}

#[test]
fn naws_and_ttype_reach_the_server_and_colour_follows_the_client() {
    let p = Portcullis::start("");
    p.account("dave");
    let mut t = p.telnet();
    // The portal asks for TTYPE and NAWS.
    t.expect_raw(&[IAC, DO, TTYPE]);
    t.expect_raw(&[IAC, DO, NAWS]);
    // Agree to both and send a 132x40 window (with no IAC escaping needed).
    t.send(&[IAC, WILL, NAWS, IAC, SB, NAWS, 0, 132, 0, 40, IAC, SE]);
    t.send(&[IAC, WILL, TTYPE]);
    // MTTS cycle: name, terminal, MTTS bits (ANSI | UTF-8 | 256 colours = 13).
    for answer in ["TESTCLIENT", "XTERM-256COLOR", "MTTS 13"] {
        t.expect_raw(&[IAC, SB, TTYPE, 1, IAC, SE]);
        let mut sb = vec![IAC, SB, TTYPE, 0];
        sb.extend_from_slice(answer.as_bytes());
        sb.extend_from_slice(&[IAC, SE]);
        t.send(&sb);
        // Each answer clears the request just seen, so the next wait needs a new one.
        t.clear();
    }
    t.send_line("connect dave secret-dave");
    t.expect("Welcome, dave.");
    t.send_line("options");
    let opts = t.expect("screen reader");
    assert!(opts.contains("client    TESTCLIENT"), "{opts}");
    assert!(opts.contains("terminal  XTERM-256COLOR"), "{opts}");
    assert!(opts.contains("width     132"), "{opts}");
    assert!(opts.contains("height    40"), "{opts}");
    assert!(opts.contains("colour    xterm256"), "{opts}");

    // A window change later is seen too.
    t.send(&[IAC, SB, NAWS, 0, 100, 0, 30, IAC, SE]);
    t.send_line("options");
    let opts = t.expect("screen reader");
    assert!(opts.contains("width     100"), "{opts}");

    // xterm256 markup reaches this client as a 256-colour sequence.
    t.clear();
    t.send_line("say |500red");
    t.expect("You say");
    let raw = String::from_utf8_lossy(&t.raw).into_owned();
    assert!(raw.contains("\x1b[38;5;196m"), "{raw:?}");

    // Turning colour off strips it.
    t.send_line("options colour none");
    t.expect("Option set.");
    t.clear();
    t.send_line("say |rplain");
    t.expect("You say, \"plain\"");
    assert!(
        !t.raw.contains(&0x1b),
        "{:?}",
        String::from_utf8_lossy(&t.raw)
    );
}

#[test]
fn raw_escape_and_control_bytes_never_reach_another_player() {
    let p = Portcullis::start("");
    let mut eve = p.player("eve");
    let mut frank = p.player("frank");
    eve.expect("frank has arrived.");
    frank.clear();
    // ESC [2J would clear the victim's screen; BEL rings; a C1 CSI (0x9b) as UTF-8.
    eve.send(b"say \x1b[2Jboom\x07 \xc2\x9b31m ok\r\n");
    eve.expect("You say");
    frank.expect("eve says");
    frank.expect("ok\"");
    let raw = &frank.raw;
    assert!(
        !raw.windows(4).any(|w| w == b"\x1b[2J"),
        "screen clear reached frank: {:?}",
        String::from_utf8_lossy(raw)
    );
    assert!(!raw.contains(&0x07), "BEL reached frank");
    assert!(
        !raw.windows(2).any(|w| w == [0xc2, 0x9b]),
        "C1 CSI reached frank"
    );
    assert!(frank.text().contains("eve says, \"[2Jboom 31m ok\""));
}

#[test]
fn latin1_input_is_kept_not_dropped() {
    let p = Portcullis::start("");
    let mut g = p.player("gina");
    // 0xE9 is not valid UTF-8 on its own: it is read as latin-1 é.
    g.send(b"say caf\xe9\r\n");
    g.expect("You say, \"café\"");
    // And a wide UTF-8 text passes through intact.
    g.send_line("say 漢字 🎉");
    g.expect("You say, \"漢字 🎉\"");
}

#[test]
fn plain_telnet_is_warned_or_refused_by_policy() {
    // warn (the default): the screen points at SSH, and passwords still work.
    let p = Portcullis::start_ssh("");
    let ssh_port = p.ssh_port.unwrap();
    p.account("ivan");
    let mut t = p.telnet();
    let screen = t.expect("> ");
    assert!(
        screen.contains("This connection is not encrypted."),
        "{screen}"
    );
    assert!(screen.contains(&format!("ssh -p {ssh_port}")), "{screen}");
    t.send_line("connect ivan secret-ivan");
    t.expect("Welcome, ivan.");
    drop(p);

    // deny: no password crosses plain telnet, by any route; who/quit still work.
    let p = Portcullis::start_with(&ssh_test_config("").replace(
        "[telnet]\nbind = \"127.0.0.1:0\"\n",
        "[telnet]\nbind = \"127.0.0.1:0\"\nlogin = \"deny\"\n",
    ));
    p.account("judy");
    let mut t = p.telnet();
    let screen = t.expect("> ");
    assert!(
        screen.contains("Passwords are not accepted over plain telnet here."),
        "{screen}"
    );
    for attempt in ["connect judy secret-judy", "create kim secret-kim", "judy"] {
        t.send_line(attempt);
        t.expect("Passwords are not accepted over plain telnet here.");
    }
    t.send_line("who");
    t.expect("0 players online.");
    assert!(!t.text().contains("Welcome, judy"));
    assert!(!t.text().contains("Password:"));
}
