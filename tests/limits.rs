//! Limits and bad input, end to end against the real binary: connection caps, long lines,
//! command rate, stalled readers, timeouts, garbage, negotiation storms, HTTP on the telnet
//! port, login and creation throttles, and clients that never answer negotiations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL: u8 = 251;
const DO: u8 = 253;
const ECHO: u8 = 1;
const TTYPE: u8 = 24;
const TELOPT_EOR: u8 = 25;
const NAWS: u8 = 31;
const GMCP: u8 = 201;

/// Polls `cond` (with short pacing sleeps) until it holds; panics after [`WAIT`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The session rows of `portcullis status`: (protocol, address, account).
fn status_rows(p: &Portcullis) -> Vec<(String, String, String)> {
    let s = p.status();
    s.lines()
        .skip_while(|l| !l.trim_start().starts_with("ID"))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| (f[1].to_string(), f[2].to_string(), f[3].to_string()))
        })
        .collect()
}

/// The `sessions: N` count of `portcullis status`.
fn session_count(p: &Portcullis) -> usize {
    let s = p.status();
    s.lines()
        .find_map(|l| l.strip_prefix("sessions: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no session count in status:\n{s}"))
}

fn accounts_online(p: &Portcullis) -> Vec<String> {
    status_rows(p)
        .into_iter()
        .map(|(_, _, a)| a)
        .filter(|a| a != "-")
        .collect()
}

/// Writes without panicking: the portal may already have closed the connection, which is
/// what some of these tests provoke.
fn send_unchecked(t: &mut Telnet, bytes: &[u8]) {
    let _ = t.stream.write_all(bytes);
}

/// Waits until the client's text contains one of `needles`; returns its index.
fn first_of(t: &mut Telnet, needles: &[&str]) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = t.text();
        if let Some(i) = needles.iter().position(|n| text.contains(n)) {
            return i;
        }
        let open = t.pump();
        assert!(
            open && Instant::now() < deadline,
            "got none of {needles:?} ({}); text was:\n{text}",
            if open {
                "timed out"
            } else {
                "connection closed"
            }
        );
    }
}

/// A logged-in player is still fully served: `who` answers with the expected head count.
fn assert_answers_who(t: &mut Telnet, players: usize) {
    t.send_line("who");
    let s = if players == 1 { "" } else { "s" };
    t.expect(&format!("{players} player{s} online."));
}

/// Fixed-seed pseudo-random bytes (64-bit LCG, Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn byte(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 56) as u8
    }
}

#[test]
fn connections_per_address_are_capped() {
    let p = Portcullis::start("[limits]\nmax_connections_per_address = 2\n");
    let mut first = p.player("alice");
    let mut second = p.telnet();
    second.expect("> ");

    let mut third = p.telnet();
    third.expect("Too many connections from your address.");
    third.expect_closed();
    assert!(
        !third.text().contains("Welcome to"),
        "the refused connection got the connection screen:\n{}",
        third.text()
    );
    p.log
        .wait_for("connection refused: too many from one address");

    // The first two still work.
    assert_answers_who(&mut first, 1);
    p.account("bob");
    second.send_line("connect bob secret-bob");
    second.expect("Welcome, bob.");
    assert_answers_who(&mut second, 2);
    assert_eq!(session_count(&p), 2);

    // Closing one frees its slot for a new connection.
    drop(second);
    p.log.wait_for("session closed");
    let mut fourth = p.telnet();
    fourth.expect("> ");
    assert_answers_who(&mut first, 1);
}

#[test]
fn total_connections_are_capped() {
    let p = Portcullis::start("[limits]\nmax_connections = 2\nmax_connections_per_address = 100\n");
    let mut first = p.player("alice");
    let mut second = p.telnet();
    second.expect("> ");

    let mut third = p.telnet();
    third.expect("the server is full");
    third.expect_closed();
    p.log.wait_for("connection refused: portal full");

    assert_answers_who(&mut first, 1);
    second.send_line("who");
    second.expect("1 player online.");

    drop(second);
    p.log.wait_for("session closed");
    let mut fourth = p.telnet();
    fourth.expect("> ");
    assert_eq!(session_count(&p), 2);
}

#[test]
fn an_overlong_line_is_cut_and_the_player_told() {
    let p = Portcullis::start("[limits]\nmax_line_length = 64\n");
    let mut alice = p.player("alice");
    let mut bob = p.player("bob");
    alice.expect("bob has arrived.");

    // 4 + 60 = 64 bytes kept; the 136 bytes after them must vanish.
    let kept = "A".repeat(60);
    let line = format!("say {kept}TAIL{}", "B".repeat(132));
    assert_eq!(line.len(), 200);
    alice.send_line(&line);
    alice.expect("Your line was longer than 64 bytes");
    alice.expect(&format!("You say, \"{kept}\""));
    bob.expect(&format!("alice says, \"{kept}\""));

    // The session goes on normally.
    alice.send_line("say after");
    alice.expect("You say, \"after\"");
    bob.expect("alice says, \"after\"");
    assert_answers_who(&mut alice, 2);
    // The neighbour is unaffected.
    bob.send_line("say fine here");
    bob.expect("You say, \"fine here\"");
    alice.expect("bob says, \"fine here\"");
    assert_answers_who(&mut bob, 2);

    for (who, t) in [("alice", &alice), ("bob", &bob)] {
        let text = t.text();
        assert!(
            !text.contains("TAIL") && !text.contains("BBBB"),
            "{who} saw the discarded part of the line:\n{text}"
        );
        assert!(
            !text.contains("Unknown command"),
            "the rest of the line ran as a command for {who}:\n{text}"
        );
    }
    assert!(
        !bob.text().contains("longer than"),
        "bob was told about alice's line"
    );
}

#[test]
fn commands_over_the_rate_are_refused_not_lost() {
    let p = Portcullis::start("[limits]\ncommand_rate = 1.0\ncommand_burst = 3\n");
    let mut talker = p.player("talker");
    let mut listener = p.player("listener");
    talker.expect("listener has arrived.");
    // The login used a token; at 1 token a second the bucket is full again after a second.
    // (A pacing wait for the limiter's refill, not synchronisation.)
    std::thread::sleep(Duration::from_millis(1300));

    let lines: Vec<String> = (1..=10).map(|k| format!("say b{k:02}")).collect();
    let burst: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
    talker.send(burst.as_bytes());

    let mut said = Vec::new();
    let mut refused = Vec::new();
    for (k, line) in lines.iter().enumerate() {
        let word = &line[4..];
        let ok = format!("You say, \"{word}\"");
        let no = format!("You are sending commands too fast; this was not run: {line}");
        match first_of(&mut talker, &[&ok, &no]) {
            0 => said.push(k + 1),
            _ => refused.push(k + 1),
        }
        let text = talker.text();
        assert!(
            !(text.contains(&ok) && text.contains(&no)),
            "{line:?} was both run and refused"
        );
    }
    assert!(
        said.starts_with(&[1, 2, 3]),
        "the burst was not honoured: said {said:?}"
    );
    assert!(
        refused.len() >= 6,
        "only {refused:?} refused, said {said:?}"
    );
    assert_eq!(said.len() + refused.len(), 10);

    // The listener heard exactly what was said, nothing refused.
    for k in &said {
        listener.expect(&format!("talker says, \"b{k:02}\""));
    }
    assert_answers_who(&mut listener, 2);
    let heard = listener.text();
    for k in &refused {
        assert!(
            !heard.contains(&format!("\"b{k:02}\"")),
            "refused line {k} reached the room:\n{heard}"
        );
    }
    // Once the bucket refills, the talker is served again.
    std::thread::sleep(Duration::from_millis(1100));
    talker.send_line("say again");
    talker.expect("You say, \"again\"");
}

/// A client (`sink`) that never reads is disconnected once its output backs up past
/// `output_buffer_bytes`, while a flooding player who reads its echo promptly stays on.
fn stalled_reader_is_cut_off(output_buffer_bytes: usize) {
    let p = Portcullis::start(&format!(
        "[limits]\noutput_buffer_bytes = {output_buffer_bytes}\ncommand_rate = 100000.0\n\
         command_burst = 100000\ninput_buffer_lines = 1000\n"
    ));
    // `sink` never reads again after logging in.
    let sink = p.player("sink");
    let mut flooder = p.player("flooder");
    assert_eq!(accounts_online(&p), vec!["sink", "flooder"]);

    let filler = "x".repeat(1000);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut batch = 0usize;
    // Each batch is 16 lines (about 16 KB of echo), and the flooder reads its echo before
    // sending the next one: it is a client that reads. The sink's kernel buffers fill
    // meanwhile, then the portal's queue for it.
    while p.log.count("output buffer overflow") == 0 {
        assert!(
            Instant::now() < deadline,
            "no overflow after {batch} batches ({batch} x 16 KB to the sink)"
        );
        let text: String = (0..16)
            .map(|i| format!("say {batch}-{i} {filler}\r\n"))
            .collect();
        flooder.send(text.as_bytes());
        flooder.expect(&format!("You say, \"{batch}-15 "));
        // Keep its history short: every `expect` re-reads all of it.
        flooder.clear();
        batch += 1;
    }
    wait_until("status to drop the stalled sink", || {
        !accounts_online(&p).contains(&"sink".to_string())
    });
    assert_eq!(accounts_online(&p), vec!["flooder"], "{}", p.status());
    let cut = p.log.wait_for("disconnected reason=output buffer overflow");
    assert!(
        cut.contains("session=1"),
        "the wrong session was cut off: {cut}\n{}",
        p.log.lines().join("\n")
    );

    // The flooder stays connected and is told the sink left.
    flooder.expect("sink has left.");
    assert_answers_who(&mut flooder, 1);
    assert_eq!(session_count(&p), 1, "{}", p.status());
    drop(sink);
}

#[test]
fn a_client_that_stops_reading_is_disconnected_4_kib_buffer() {
    stalled_reader_is_cut_off(4096);
}

#[test]
fn a_client_that_stops_reading_is_disconnected_64_kib_buffer() {
    stalled_reader_is_cut_off(64 * 1024);
}

/// A client that reads promptly is not "stalled" because one message is larger than
/// `output_buffer_bytes`.
#[test]
fn one_message_over_the_output_limit_does_not_cut_off_a_reader() {
    let p = Portcullis::start("[limits]\noutput_buffer_bytes = 4096\n");
    let mut alice = p.player("alice");
    // 4096 bytes: exactly the default max_line_length, so nothing is cut; the echo
    // (`You say, "…"`) is a little over 4096 bytes.
    let long = "y".repeat(4092);
    alice.send_line(&format!("say {long}"));
    alice.expect(&format!("You say, \"{long}\""));
    assert_answers_who(&mut alice, 1);
    assert_eq!(accounts_online(&p), vec!["alice"]);
}

#[test]
fn an_idle_unlogged_connection_times_out() {
    let p = Portcullis::start("[limits]\nlogin_timeout_secs = 1\n");
    let start = Instant::now();
    let mut t = p.telnet();
    t.expect("> ");
    t.expect("Login timed out.");
    t.expect_closed();
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "timed out after {:?}, before the limit",
        start.elapsed()
    );
    wait_until("the session to be gone", || session_count(&p) == 0);
}

#[test]
fn an_idle_player_is_disconnected_and_an_active_one_is_not() {
    let p = Portcullis::start("[limits]\nidle_timeout_secs = 1\n");
    let mut idler = p.player("idler");
    let mut active = p.player("active");
    // `active` keeps typing (paced) until the idler is gone.
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    while !idler.text().contains("You have been idle too long.") {
        assert!(Instant::now() < deadline, "the idler was never timed out");
        n += 1;
        active.send_line(&format!("say still here {n}"));
        active.expect(&format!("You say, \"still here {n}\""));
        std::thread::sleep(Duration::from_millis(200));
        idler.pump();
    }
    idler.expect("You have been idle too long.");
    idler.expect_closed();
    active.expect("idler has left.");
    assert_answers_who(&mut active, 1);
    assert_eq!(accounts_online(&p), vec!["active"]);
    assert!(
        !active.text().contains("idle too long"),
        "the active player was told of idling"
    );
}

#[test]
fn garbage_bytes_do_not_hurt_the_portal_or_the_neighbours() {
    let p = Portcullis::start(
        "[limits]\ncommand_rate = 100000.0\ncommand_burst = 100000\ninput_buffer_lines = 100000\n",
    );
    let mut neighbour = p.player("neighbour");
    let server_pid = p.server_pid();
    let mut g = p.telnet();
    g.expect("> ");

    let mut rng = Lcg(0x5eed_0f9a_7ba6_e5d1);
    let mut junk = Vec::with_capacity(70 * 1024);
    let specials: [&[u8]; 10] = [
        &[IAC; 7],
        &[IAC, SB, TTYPE, 0, b'x', b'y'], // unterminated subnegotiation
        &[IAC, WILL, NAWS, IAC, SB, NAWS, IAC, IAC, IAC, IAC, IAC, SE],
        &[IAC, SB, GMCP, 0xF0, 0x9F, 0x98, 0x80, b'{', IAC, SE],
        &[IAC, SE, IAC, 0xF1, IAC, 0xF9, IAC, 0xEF, IAC],
        b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\r\n",
        b"\x1b[31m|r|[b|555\x07\x08\x7f\r\0\r\r\n\n",
        b"connect \xff\xff \xff\r\n",
        &[IAC, SB, 200],
        &[IAC, 0xFD],
    ];
    let mut i = 0;
    while junk.len() < 64 * 1024 {
        if junk.len() % 2048 < 8 {
            junk.extend_from_slice(specials[i % specials.len()]);
            i += 1;
        }
        junk.push(rng.byte());
    }
    // One very long line, too.
    junk.extend(std::iter::repeat_n(b'z', 10_000));
    assert!(junk.windows(2).any(|w| w == [IAC, IAC]));

    send_unchecked(&mut g, &junk);
    // End any open subnegotiation and line and leave any half-done prompt (an empty line
    // answers a password or yes/no question), then a command with an answer nothing in the
    // garbage can produce: when it comes, the server has handled every line before it.
    send_unchecked(&mut g, &[IAC, SE, b'\r', b'\n', b'\r', b'\n']);
    g.send_line("create survivor hunter2-long");
    g.expect("Account survivor created.");
    g.expect("Welcome, survivor.");
    g.send_line("say made it");
    g.expect("You say, \"made it\"");
    neighbour.expect("survivor says, \"made it\"");
    // Hang up: the portal closes its side only after it has read every byte.
    g.stream.shutdown(Shutdown::Write).unwrap();
    g.expect_closed();
    p.log.wait_for("closed by client");
    neighbour.expect("survivor has left.");

    // Neither process died, the neighbour is served, status works.
    assert!(p.log.count("panicked") == 0, "{}", p.log.lines().join("\n"));
    assert_eq!(p.server_pid(), server_pid, "the server restarted");
    neighbour.send_line("say still fine");
    neighbour.expect("You say, \"still fine\"");
    assert_answers_who(&mut neighbour, 1);
    wait_until("the garbage session to be gone", || session_count(&p) == 1);
    assert_eq!(accounts_online(&p), vec!["neighbour"]);
    assert!(
        !neighbour.text().contains("The server went away"),
        "the server crashed:\n{}",
        neighbour.text()
    );
}

#[test]
fn a_negotiation_storm_is_cut_off() {
    let p = Portcullis::start("");
    let mut neighbour = p.player("neighbour");
    let mut storm = p.telnet();
    storm.expect("> ");
    let bytes: Vec<u8> = std::iter::repeat_n([IAC, WILL, 200], 2000)
        .flatten()
        .collect();
    send_unchecked(&mut storm, &bytes);
    storm.expect("Too many telnet negotiations");
    storm.expect_closed();
    p.log.wait_for("telnet negotiation storm");
    wait_until("the storm session to be gone", || session_count(&p) == 1);

    assert_answers_who(&mut neighbour, 1);
    neighbour.send_line("say calm");
    neighbour.expect("You say, \"calm\"");
}

#[test]
fn an_http_request_gets_a_hint_and_is_closed() {
    let p = Portcullis::start("");
    let mut t = p.telnet();
    t.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    t.expect("telnet port");
    let rest = t.expect_closed();
    assert_eq!(
        rest.trim_end().lines().count(),
        1,
        "more than the one-line hint after it: {rest:?}"
    );
    let text = t.text();
    assert!(
        !text.contains("Type ") && !text.contains("Unknown"),
        "the request reached the login screen:\n{text}"
    );
    p.log.wait_for("http request on a telnet port");
    wait_until("the session to be gone", || session_count(&p) == 0);
}

#[test]
fn failed_logins_are_throttled_per_address() {
    let p = Portcullis::start("");
    p.account("alice");
    let mut t = p.telnet();
    t.expect("> ");
    for _ in 0..5 {
        t.send_line("connect alice wrong");
        t.expect("Wrong name or password.");
    }
    // Even the right password is refused now.
    t.send_line("connect alice secret-alice");
    t.expect("Too many failed logins");
    t.send_line("who");
    t.expect("0 players online.");
    assert!(!t.text().contains("Welcome, alice."));

    // A new session from the same address is throttled too, in both login flows.
    let mut t2 = p.telnet();
    t2.expect("> ");
    t2.send_line("connect alice secret-alice");
    t2.expect("Too many failed logins");
    t2.send_line("alice");
    t2.expect("Password:");
    t2.send_line("secret-alice");
    t2.expect("Too many failed logins");
    t2.expect("> ");
    // Back at the connection screen: the next line is a command, not another password.
    let mark = t2.text().len();
    t2.send_line("who");
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = t2.text().get(mark..).unwrap_or_default().to_string();
        if answer.contains("0 players online.") {
            break;
        }
        assert!(
            !answer.contains("Too many failed logins"),
            "after a throttled prompted login, `who` was taken as alice's password:{answer}"
        );
        assert!(
            t2.pump() && Instant::now() < deadline,
            "no answer to `who`:{answer}"
        );
    }
    assert!(!t2.text().contains("Welcome, alice."));
    assert!(accounts_online(&p).is_empty(), "{}", p.status());
}

#[test]
fn account_creation_is_throttled_per_address() {
    let p = Portcullis::start("[accounts]\ncreations = 2\n");
    let mut kept = Vec::new();
    for k in 1..=2 {
        let mut t = p.telnet();
        t.expect("> ");
        t.send_line(&format!("create newbie{k} hunter2-long"));
        t.expect(&format!("Account newbie{k} created."));
        kept.push(t);
    }
    let mut t = p.telnet();
    t.expect("> ");
    t.send_line("create newbie3 hunter2-long");
    t.expect("Too many new accounts");
    // The prompted flow is throttled too.
    t.send_line("newbie4");
    t.expect("Create it?");
    t.send_line("yes");
    t.expect("password");
    t.send_line("hunter2-long");
    t.expect("Repeat the password:");
    t.send_line("hunter2-long");
    t.expect("Too many new accounts");

    let list = stdout(&p.cli(&["accounts", "list"]));
    assert!(
        list.contains("newbie1") && list.contains("newbie2"),
        "{list}"
    );
    assert!(
        !list.contains("newbie3") && !list.contains("newbie4"),
        "a throttled account was created:\n{list}"
    );
    let mut online = accounts_online(&p);
    online.sort();
    assert_eq!(online, vec!["newbie1", "newbie2"]);
}

#[test]
fn a_client_that_never_answers_negotiation_can_play() {
    let p = Portcullis::start("");
    let mut neighbour = p.player("neighbour");
    p.account("quiet");
    // `Telnet` is a raw socket: it never sends a single IAC, whatever it is asked.
    let mut t = p.telnet();
    t.expect_raw(&[IAC, DO, TTYPE]);
    t.expect_raw(&[IAC, WILL, TELOPT_EOR]);
    t.expect("> ");
    // The prompted login hides the password with WILL ECHO; no answer comes, and the login
    // still goes through.
    t.send_line("quiet");
    t.expect("Password:");
    t.expect_raw(&[IAC, WILL, ECHO]);
    t.send_line("secret-quiet");
    t.expect("Welcome, quiet.");
    t.send_line("say can you hear me");
    t.expect("You say, \"can you hear me\"");
    neighbour.expect("quiet says, \"can you hear me\"");
    assert_answers_who(&mut t, 2);
    let mut online = accounts_online(&p);
    online.sort();
    assert_eq!(online, vec!["neighbour", "quiet"]);
}
