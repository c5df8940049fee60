//! The web front end end to end, without a browser: the page and its assets, the WebSocket
//! JSON protocol, the terminal subprotocol, long-polling, bounds, Origin checks, session
//! tokens and resuming, reloads, and HTTPS. The contract is the web spec: routes, messages,
//! status codes and close codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::web::*;
use common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use tungstenite::Message as Frame;

const OTHER_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A token no session has (right length and alphabet).
const MADE_UP_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAA";

/// The row for `name` in a `who` listing (the lines after its `Name  Protocol  Idle` header).
fn who_row<'a>(who: &'a str, name: &str) -> &'a str {
    who.lines()
        .skip_while(|l| !(l.starts_with("Name") && l.contains("Protocol")))
        .skip(1)
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in who:\n{who}"))
}

/// The `session` kwargs' token, checked for shape.
fn token_of(session: &Value) -> String {
    let t = session["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in session {session}"))
        .to_string();
    assert!(
        is_token(&t),
        "token {t:?} is not 22 chars of URL-safe base64"
    );
    t
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

#[test]
fn the_page_and_its_assets_are_served_with_security_headers() {
    let p = Portcullis::start_web("", "");
    assert!(
        p.web_listening_line().contains("tls=false"),
        "{}",
        p.web_listening_line()
    );
    let port = p.web_port();

    for path in ["/", "/index.html"] {
        let r = request(None, port, "GET", path, &[], b"");
        assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
        let ct = r.header("content-type").unwrap_or("");
        assert!(
            ct.starts_with("text/html"),
            "GET {path}: content type {ct:?}"
        );
        let page = r.text();
        assert!(
            lower(&page).contains("<html"),
            "GET {path} is not a page:\n{page}"
        );
        // ansi.js is loaded by client.js (a module import), not by the page itself.
        for asset in ["/client.js", "/style.css"] {
            assert!(
                page.contains(asset),
                "the page does not load {asset}:\n{page}"
            );
        }
        // Nothing from elsewhere: the page works offline and leaks nothing to a CDN.
        for outside in [
            "src=\"http",
            "href=\"http",
            "src='http",
            "href='http",
            "src=\"//",
            "href=\"//",
        ] {
            assert!(
                !page.contains(outside),
                "the page loads something from elsewhere ({outside}):\n{page}"
            );
        }
        let csp = r
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("GET {path}: no Content-Security-Policy: {}", r.describe()));
        assert!(csp.contains("'self'"), "CSP {csp:?}");
        assert_eq!(
            r.header("x-content-type-options").map(lower).as_deref(),
            Some("nosniff"),
            "GET {path}: {}",
            r.describe()
        );
    }

    for (path, kind) in [
        ("/client.js", "javascript"),
        ("/ansi.js", "javascript"),
        ("/style.css", "text/css"),
    ] {
        let r = request(None, port, "GET", path, &[], b"");
        assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
        let ct = r.header("content-type").unwrap_or("");
        assert!(
            ct.contains(kind),
            "GET {path}: content type {ct:?}, wanted {kind}"
        );
        assert!(!r.body.is_empty(), "GET {path} is empty");
        if path == "/client.js" {
            assert!(
                r.text().contains("ansi.js"),
                "client.js does not load ansi.js"
            );
        }
        assert_eq!(
            r.header("x-content-type-options").map(lower).as_deref(),
            Some("nosniff"),
            "GET {path}: {}",
            r.describe()
        );
    }

    // Unknown paths, including attempts to climb out of the served files.
    request(None, port, "GET", "/nope", &[], b"").assert_error(404);
    let r = request(None, port, "GET", "/../config.toml", &[], b"");
    assert!(
        r.status == 404 || r.status == 400,
        "GET /../config.toml: {}",
        r.describe()
    );
    assert!(
        !r.text().contains("data_dir"),
        "the config leaked: {}",
        r.describe()
    );

    // Wrong methods.
    request(None, port, "POST", "/", &[], b"").assert_error(405);
    request(None, port, "GET", "/ajax/poll", &[], b"").assert_error(405);
    request(None, port, "DELETE", "/client.js", &[], b"").assert_error(405);
}

#[test]
fn websocket_players_talk_with_telnet_players() {
    let p = Portcullis::start_web("", "reconnect_grace_secs = 7\n");
    let port = p.web_port();
    let mut bob = p.player("bob");

    let mut alice = WebClient::connect(port, "/ws", &[])
        .unwrap_or_else(|e| panic!("handshake: {}", describe_ws_error(&e)));
    assert_eq!(alice.subprotocol, None);
    let s = alice.session();
    token_of(&s);
    assert_eq!(s["resumed"], false, "{s}");
    assert_eq!(s["grace_secs"], 7, "{s}");
    assert_eq!(s["protocol"], "webclient/websocket", "{s}");

    // The connection screen, as text, with its markup rendered rather than shown.
    let banner = alice.wait_msg("the connection screen as text", |m| {
        m[0] == "text" && m[1][0].as_str().is_some_and(|t| t.contains("Welcome to"))
    });
    let banner_text = banner[1][0].as_str().unwrap();
    assert!(
        !banner_text.contains("|w") && !banner_text.contains("|n"),
        "markup shown raw: {banner_text:?}"
    );
    assert!(
        plain(banner_text.as_bytes()).contains("connect <name> <password>"),
        "{banner_text:?}"
    );
    alice.expect("> ");

    alice.line("create alice secret-pass-1");
    alice.expect("Account alice created.");
    alice.expect("Welcome, alice.");
    bob.expect("alice has arrived.");

    alice.line("say hello");
    alice.expect("You say, \"hello\"");
    bob.expect("alice says, \"hello\"");

    bob.send_line("say hi from telnet");
    alice.expect("bob says, \"hi from telnet\"");

    bob.send_line("who");
    let who = bob.expect("2 players online.");
    let row = who_row(&who, "alice");
    assert!(row.contains("webclient/websocket"), "{row}");
    assert!(who_row(&who, "bob").contains("telnet"), "{who}");

    alice.line("look");
    alice.expect("Present: alice, bob.");

    // The page's hello reaches the server as protocol flags.
    alice.send(
        "hello",
        json!([]),
        json!({"client": "Portcullis web", "version": "1", "width": 100, "height": 30, "screenreader": false}),
    );
    alice.line("options");
    let opts = alice.expect("screen reader");
    assert!(
        opts.contains("Portcullis web"),
        "client name not set:\n{opts}"
    );
    assert!(
        opts.lines().any(|l| l.trim() == "width     100"),
        "width not set:\n{opts}"
    );
    assert!(
        opts.lines().any(|l| l.trim() == "height    30"),
        "height not set:\n{opts}"
    );

    // Out-of-band data both ways: the server's `ping` inputfunc answers in kind, as JSON.
    alice.send("ping", json!(["t1"]), json!({}));
    let pong = alice.wait_msg("a ping answer", |m| m[0] == "ping");
    assert_eq!(pong[1], json!(["t1"]), "{pong}");
    // And a name the server does not know does not break the session.
    alice.send("Char.Unknown", json!([]), json!({"x": 1}));
    alice.line("say still here");
    bob.expect("alice says, \"still here\"");

    alice.line("quit");
    let bye = alice.wait_named("disconnect");
    assert!(
        bye[1][0].as_str().is_some_and(|r| r.contains("Goodbye")),
        "{bye}"
    );
    alice.expect_closed();
    bob.expect("alice has left.");
}

#[test]
fn the_password_prompts_mask_the_input() {
    let p = Portcullis::start_web("", "");
    let port = p.web_port();
    let password = "long enough pw";

    let mut c = WebClient::connect(port, "/ws", &[]).unwrap();
    c.session();
    c.expect("> ");
    c.line("carol");
    c.expect("There is no account called carol. Create it? (yes/no)");
    c.line("yes");
    let choose = c.wait_msg("the password prompt", |m| {
        m[1][0]
            .as_str()
            .is_some_and(|t| t.contains("Choose a password"))
    });
    assert_eq!(choose[0], "prompt", "{choose}");
    assert_eq!(
        choose[2]["echo"], false,
        "the password is not masked: {choose}"
    );
    c.line(password);
    let repeat = c.wait_msg("the repeat prompt", |m| {
        m[1][0]
            .as_str()
            .is_some_and(|t| t.contains("Repeat the password"))
    });
    assert_eq!(repeat[0], "prompt", "{repeat}");
    assert_eq!(
        repeat[2]["echo"], false,
        "the repeat is not masked: {repeat}"
    );
    c.line(password);
    c.expect("Account carol created.");
    c.expect("Welcome, carol.");
    // Masking ends once the secrets are done.
    assert!(
        c.received.iter().any(|m| m[2]["echo"] == true),
        "echo never turned back on: {:?}",
        c.received
    );
    assert!(
        !c.frames.iter().any(|f| f.contains(password)),
        "the password was sent back: {:?}",
        c.frames
    );

    // Logging in by name: the Password: prompt is masked too.
    let mut d = WebClient::connect(port, "/ws", &[]).unwrap();
    d.session();
    d.expect("> ");
    d.line("carol");
    let pw = d.wait_msg("the Password: prompt", |m| {
        m[1][0].as_str().is_some_and(|t| t.contains("Password:"))
    });
    assert_eq!(pw[0], "prompt", "{pw}");
    assert_eq!(pw[2]["echo"], false, "{pw}");
    d.line(password);
    d.expect("Welcome, carol.");
    assert!(!d.frames.iter().any(|f| f.contains(password)));
    assert_eq!(p.log.count(password), 0, "the password reached the log");
}

#[test]
fn oversized_overlong_malformed_and_binary_messages_are_refused() {
    let p = Portcullis::start_web(
        "[limits]\nmax_line_length = 100\n",
        "max_message_bytes = 4096\n",
    );
    let port = p.web_port();
    let mut bob = p.player("bob");
    let mut alice = p.web_player("alice");
    bob.expect("alice has arrived.");

    // Bad JSON and wrong shapes: an error, and the connection carries on.
    for bad in [
        "this is not json",
        r#"["text", ["look"], {}"#,
        r#"{"text": "look"}"#,
        r#"[1, ["look"], {}]"#,
        r#"["text", ["look"], "kwargs"]"#,
        r#"[]"#,
    ] {
        alice.send_text(bad);
        let e = alice.wait_named("error");
        assert!(
            e[1][0]
                .as_str()
                .is_some_and(|r| r.starts_with("bad message")),
            "for {bad}: {e}"
        );
    }
    alice.line("say still talking");
    alice.expect("You say, \"still talking\"");
    bob.expect("alice says, \"still talking\"");

    // A line over [limits] max_line_length (but within max_message_bytes): the player is told;
    // nothing past the limit reaches anyone.
    let line = format!("say {}TAIL{}", "A".repeat(96), "B".repeat(200));
    assert!(line.len() > 100 && line.len() < 4000);
    alice.line(&line);
    let told = alice.wait_msg("word that the line was too long", |m| {
        m[0] == "error"
            || (m[0] == "text"
                && m[1][0]
                    .as_str()
                    .is_some_and(|t| t.contains("longer than") || t.contains("too long")))
    });
    assert!(!told.to_string().contains("TAIL"), "{told}");
    alice.line("say after the long line");
    alice.expect("You say, \"after the long line\"");
    bob.expect("alice says, \"after the long line\"");
    assert!(
        !bob.text().contains("TAIL") && !bob.text().contains("BBBB"),
        "bob got what was past the limit:\n{}",
        bob.text()
    );
    assert!(
        !alice.text().contains("Unknown command"),
        "part of the line ran as a command:\n{}",
        alice.text()
    );

    // A message over max_message_bytes: close 1009, logged.
    let mut big = WebClient::connect(port, "/ws", &[]).unwrap();
    big.session();
    let before = p.log.lines().len();
    let payload = json!(["text", ["x".repeat(8000)], {}]).to_string();
    big.send_unchecked(Frame::text(payload));
    match big.expect_closed() {
        Ended::Closed(Some((code, _))) => assert_eq!(code, 1009, "close code"),
        Ended::Closed(None) => panic!("closed without the 1009 code"),
        Ended::Dropped(_) => {}
    }
    wait_log(&p.log, before, "the oversized message", |l| {
        let l = lower(l);
        l.contains("1009")
            || l.contains("too large")
            || l.contains("too big")
            || l.contains("too long")
    });

    // A binary frame: close 1003.
    let mut bin = WebClient::connect(port, "/ws", &[]).unwrap();
    bin.session();
    bin.send_unchecked(Frame::binary(vec![1u8, 2, 3]));
    match bin.expect_closed() {
        Ended::Closed(Some((code, _))) => assert_eq!(code, 1003, "close code"),
        other => panic!("a binary frame did not get close 1003: {other:?}"),
    }

    // Everyone else is still served.
    alice.line("say unaffected");
    alice.expect("You say, \"unaffected\"");
    bob.expect("alice says, \"unaffected\"");
    let mut fresh = WebClient::connect(port, "/ws", &[]).unwrap();
    fresh.session();
    fresh.expect("Welcome to");
}

#[test]
fn origins_other_than_the_pages_own_are_refused() {
    let p = Portcullis::start_web("", "allowed_origins = [\"https://mud.example.org\"]\n");
    let port = p.web_port();
    let own = p.web_origin();

    for bad in [
        "https://evil.example".to_string(),
        "null".to_string(),
        format!("http://127.0.0.1:{port}.evil.example"),
        format!("http://127.0.0.1:{}", port + 1),
    ] {
        let bad = bad.as_str();
        let before = p.log.lines().len();
        let r = WebClient::connect(port, "/ws", &[("Origin", bad)]);
        assert_eq!(
            refused_status(&r),
            Some(403),
            "Origin {bad} was not refused with 403: {}",
            match &r {
                Ok(_) => "the upgrade succeeded".to_string(),
                Err(e) => describe_ws_error(e),
            }
        );
        wait_log(&p.log, before, "a refused origin", |l| {
            let l = lower(l);
            l.contains("origin") && l.contains("refus")
        });
        let r = request(None, port, "POST", "/ajax/open", &[("Origin", bad)], b"");
        r.assert_error(403);
    }

    for good in [Some(own.as_str()), None, Some("https://mud.example.org")] {
        let headers: Vec<(&str, &str)> = good.iter().map(|o| ("Origin", *o)).collect();
        let mut c = WebClient::connect(port, "/ws", &headers)
            .unwrap_or_else(|e| panic!("Origin {good:?} was refused: {}", describe_ws_error(&e)));
        assert_eq!(c.session()["resumed"], false);
        c.expect("Welcome to");
        let r = request(None, port, "POST", "/ajax/open", &headers, b"");
        assert_eq!(r.status, 200, "Origin {good:?}: {}", r.describe());
    }

    // Every POST is checked, not only /ajax/open.
    let a = AjaxClient::open(port);
    let body = json!([["text", ["look"], {}]]).to_string();
    for path in ["/ajax/input", "/ajax/poll", "/ajax/close"] {
        request(
            None,
            port,
            "POST",
            path,
            &[
                ("Origin", "https://evil.example"),
                ("X-Portcullis-Token", &a.token),
            ],
            body.as_bytes(),
        )
        .assert_error(403);
    }
    // The session was not closed by the refused /ajax/close.
    let mut a = a;
    a.expect("Welcome to");
}

#[test]
fn a_dropped_websocket_resumes_with_its_token_until_the_grace_period_ends() {
    let grace = 3;
    let p = Portcullis::start_web("", &format!("reconnect_grace_secs = {grace}\n"));
    let port = p.web_port();
    let mut bob = p.player("bob");
    let alice = p.web_player("alice");
    let token = token_of(&alice.received[0][2]);
    bob.expect("alice has arrived.");

    // Dropped, and resumed with ?token=: the same session, still logged in, with what was
    // said meanwhile.
    alice.drop_connection();
    bob.send_line("say while you were away");
    bob.expect("You say, \"while you were away\"");
    let mut again = WebClient::connect(port, &format!("/ws?token={token}"), &[])
        .unwrap_or_else(|e| panic!("resume refused: {}", describe_ws_error(&e)));
    let s = again.session();
    assert_eq!(s["resumed"], true, "{s}");
    // A new token for every resume (the page keeps the one `session` gives it).
    assert_ne!(s["token"].as_str(), Some(token.as_str()), "{s}");
    again.expect("bob says, \"while you were away\"");
    again.line("look");
    again.expect("Present: alice, bob.");
    assert!(
        !again.text().contains("Welcome to"),
        "a resumed session was shown the connection screen:\n{}",
        again.text()
    );
    bob.send_line("who");
    let who = bob.expect("2 players online.");
    assert!(who_row(&who, "alice").contains("webclient/websocket"));
    assert!(!bob.text().contains("alice has left."), "{}", bob.text());

    // A made-up token: a new session.
    let mut stranger =
        WebClient::connect(port, &format!("/ws?token={MADE_UP_TOKEN}"), &[]).unwrap();
    let s = stranger.session();
    assert_eq!(s["resumed"], false, "{s}");
    assert_ne!(token_of(&s), MADE_UP_TOKEN);
    stranger.expect("Welcome to");

    // A token after quit: a new session.
    let mut carol = p.web_player("carol");
    let carol_token = token_of(&carol.received[0][2]);
    bob.expect("carol has arrived.");
    carol.line("quit");
    carol.wait_named("disconnect");
    carol.expect_closed();
    bob.expect("carol has left.");
    let mut back = WebClient::connect(port, &format!("/ws?token={carol_token}"), &[]).unwrap();
    let s = back.session();
    assert_eq!(s["resumed"], false, "a quit session was resumed: {s}");
    assert_ne!(token_of(&s), carol_token);
    back.expect("Welcome to");

    // Dropped and not resumed: the session ends after the grace period, not before.
    again.drop_connection();
    let dropped = Instant::now();
    bob.expect("alice has left.");
    let waited = dropped.elapsed();
    assert!(
        waited >= Duration::from_millis(grace * 1000 - 700),
        "the session ended {waited:?} after the drop, inside the {grace}s grace"
    );
    bob.send_line("who");
    let who = bob.expect("1 player online.");
    assert!(!who.contains("alice"), "{who}");
    let mut late = WebClient::connect(port, &format!("/ws?token={token}"), &[]).unwrap();
    let s = late.session();
    assert_eq!(s["resumed"], false, "an expired session was resumed: {s}");
    late.expect("Welcome to");
}

#[test]
fn a_long_poll_token_works_from_a_new_address_and_is_replaced_on_resume() {
    // (The WebSocket side: tests/harden_edge.rs.)
    let p = Portcullis::start_web("", "poll_timeout_secs = 1\n");
    let port = p.web_port();
    let mut a = p.ajax_player("alice");
    let first = a.token.clone();

    // The phone moved: input and polls from the new address are served, and logged.
    let before = p.log.lines().len();
    a.from = Some(OTHER_ADDRESS);
    a.lines(&["say moved"]);
    a.expect("You say, \"moved\"");
    wait_log(&p.log, before, "the new address 127.0.0.2", |l| {
        l.contains("127.0.0.2") && l.contains("new address")
    });

    // Opening again with the token resumes the session with a new token; the old one works
    // until the new one is used, then no longer.
    let resume = json!({"token": first}).to_string();
    let r = request(
        Some(OTHER_ADDRESS),
        port,
        "POST",
        "/ajax/open",
        &[],
        resume.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let opened = r.json();
    assert_eq!(opened["resumed"], true, "{opened}");
    let second = opened["token"].as_str().unwrap().to_string();
    assert!(is_token(&second) && second != first, "{opened}");
    a.token = second;
    a.lines(&["say again"]);
    a.expect("You say, \"again\"");
    let r = request(
        Some(OTHER_ADDRESS),
        port,
        "POST",
        "/ajax/poll",
        &[("X-Portcullis-Token", &first)],
        b"",
    );
    r.assert_error(410);
    assert_eq!(p.log.count(&first), 0, "a token reached the log");
}

#[test]
fn long_poll_players_talk_and_their_sessions_end_on_close_or_silence() {
    let p = Portcullis::start_web(
        "",
        "poll_timeout_secs = 1\nreconnect_grace_secs = 3\nmax_message_bytes = 4096\n",
    );
    let port = p.web_port();
    let mut bob = p.player("bob");

    let mut a = AjaxClient::open(port);
    assert!(is_token(&a.token), "token {:?}", a.token);
    assert_eq!(a.opened["resumed"], false, "{}", a.opened);
    assert_eq!(a.opened["grace_secs"], 3, "{}", a.opened);
    assert_eq!(a.opened["poll_secs"], 1, "{}", a.opened);
    a.expect("Welcome to");
    a.expect("> ");
    a.lines(&["create alice secret-pass-1"]);
    a.expect("Welcome, alice.");
    bob.expect("alice has arrived.");

    a.lines(&["say hello from ajax"]);
    bob.expect("alice says, \"hello from ajax\"");
    bob.send_line("say hi poller");
    a.expect("bob says, \"hi poller\"");
    // Several lines in one request, in order.
    a.lines(&["say one", "say two"]);
    a.expect("You say, \"one\"");
    a.expect("You say, \"two\"");
    bob.send_line("who");
    let who = bob.expect("2 players online.");
    assert!(who_row(&who, "alice").contains("webclient/ajax"), "{who}");

    // Nothing to say: the poll is held about poll_secs, then answered [].
    let deadline = Instant::now() + WAIT;
    loop {
        let start = Instant::now();
        let msgs = a.poll();
        if msgs.is_empty() {
            let held = start.elapsed();
            assert!(
                held >= Duration::from_millis(800) && held < Duration::from_secs(10),
                "an empty poll was answered after {held:?} (poll_secs = 1)"
            );
            break;
        }
        assert!(Instant::now() < deadline, "polls never came back empty");
    }

    // Resuming by /ajax/open with the token.
    let r = request(
        None,
        port,
        "POST",
        "/ajax/open",
        &[],
        json!({"token": a.token}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json()["resumed"], true, "{}", r.describe());
    // A resume hands out a new token, which the page uses from then on.
    let renewed = r.json()["token"].as_str().unwrap_or_default().to_string();
    assert!(
        !renewed.is_empty() && renewed != a.token,
        "{}",
        r.describe()
    );
    a.token = renewed;

    // Refusals.
    let look = json!([["text", ["look"], {}]]).to_string();
    let bad = [("X-Portcullis-Token", MADE_UP_TOKEN)];
    request(None, port, "POST", "/ajax/input", &bad, look.as_bytes()).assert_error(410);
    request(None, port, "POST", "/ajax/poll", &bad, b"").assert_error(410);
    let big = json!([["text", [format!("say {}", "x".repeat(5000))], {}]]);
    a.input(&big).assert_error(413);
    a.post("/ajax/input", b"not json").assert_error(400);
    a.lines(&["say still here"]);
    bob.expect("alice says, \"still here\"");
    assert!(
        !bob.text().contains("xxxxxxxx"),
        "the oversized body was used"
    );

    // /ajax/close ends the session.
    let r = a.post("/ajax/close", b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    bob.expect("alice has left.");
    a.poll_raw().assert_error(410);
    a.input(&json!([["text", ["look"], {}]])).assert_error(410);

    // Not polling for longer than the grace period ends the session.
    let c = p.ajax_player("carol");
    let last_poll = Instant::now();
    bob.expect("carol has arrived.");
    bob.expect("carol has left.");
    let waited = last_poll.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "the session ended {waited:?} after its last poll, inside the 3 s grace"
    );
    c.poll_raw().assert_error(410);
}

#[test]
fn a_web_client_stays_through_a_reload_and_is_told() {
    let p = Portcullis::start_web("", "");
    let mut bob = p.player("bob");
    let mut alice = p.web_player("alice");
    bob.expect("alice has arrived.");

    let config = p.config.clone();
    let reload = std::thread::spawn(move || cli(&config, &["reload"], None));
    // A line typed while the server is away.
    p.log.wait_for("server exited for reload");
    alice.line("say during the reload");
    let out = reload.join().unwrap();
    assert!(out.status.success(), "reload failed: {}", stderr(&out));
    assert!(
        stdout(&out).contains("server reloaded in"),
        "{}",
        stdout(&out)
    );

    alice.wait_msg("server_status reloading", |m| {
        m[0] == "server_status" && m[1][0] == "reloading"
    });
    alice.wait_msg("server_status running after reloading", |m| {
        m[0] == "server_status" && m[1][0] == "running"
    });
    alice.wait_contains("You say, \"during the reload\"");
    bob.expect("alice says, \"during the reload\"");
    alice.wait_contains("The server was reloaded. You are still here.");
    assert!(alice.ended.is_none(), "{:?}", alice.ended);
    alice.line("who");
    alice.expect("2 players online.");
    assert!(
        !alice.received.iter().any(|m| m[0] == "disconnect"),
        "{:?}",
        alice.received
    );
}

#[test]
fn the_terminal_subprotocol_carries_plain_terminal_text() {
    let p = Portcullis::start_web("", "");
    let port = p.web_port();
    let mut bob = p.player("bob");

    let mut t = WebClient::connect(
        port,
        "/ws",
        &[("Sec-WebSocket-Protocol", "terminal.mudstandards.org")],
    )
    .unwrap_or_else(|e| panic!("handshake: {}", describe_ws_error(&e)));
    assert_eq!(t.subprotocol.as_deref(), Some("terminal.mudstandards.org"));
    t.expect("Welcome to");
    t.expect("> ");
    let raw = t.frames.concat();
    assert!(raw.contains("\r\n"), "no CRLF line ends: {raw:?}");
    assert!(
        !raw.replace("\r\n", "").contains('\n'),
        "a bare LF line end: {raw:?}"
    );
    assert!(
        !raw.trim_start().starts_with('[') && !raw.contains("\"session\""),
        "JSON on the terminal subprotocol: {raw:?}"
    );
    assert!(!t.text().contains("|w"), "markup shown raw: {raw:?}");

    t.send_text("create dave secret-pass-1");
    t.expect("Welcome, dave.");
    bob.expect("dave has arrived.");
    // One frame, two lines.
    t.send_text("say hi\nsay there");
    t.expect("You say, \"hi\"");
    t.expect("You say, \"there\"");
    bob.expect("dave says, \"hi\"");
    bob.expect("dave says, \"there\"");
    bob.send_line("say hello terminal");
    t.expect("bob says, \"hello terminal\"");
    // A terminal session cannot be resumed, so it ends with its connection (the grace
    // period is 60 s here: this would time out if it waited).
    t.drop_connection();
    bob.expect("dave has left.");

    // Asking for the JSON protocol by name gets it.
    let mut j = WebClient::connect(
        port,
        "/ws",
        &[("Sec-WebSocket-Protocol", "portcullis.json")],
    )
    .unwrap_or_else(|e| panic!("handshake: {}", describe_ws_error(&e)));
    assert_eq!(j.subprotocol.as_deref(), Some("portcullis.json"));
    assert_eq!(j.session()["resumed"], false);
    j.expect("Welcome to");
}

#[test]
fn https_serves_the_page() {
    let p = Portcullis::start_web_tls("", "");
    let line = p.web_listening_line();
    assert!(line.contains("tls=true"), "{line}");
    let port = p.web_port();
    let s_client = |req: String| {
        let mut cmd = Command::new("openssl");
        cmd.args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-quiet",
        ]);
        let out = run_limited(&mut cmd, Some(req.as_bytes()), WAIT);
        stdout(&out)
    };

    let got = s_client(format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    ));
    assert!(got.starts_with("HTTP/1.1 200"), "GET / over TLS:\n{got}");
    assert!(lower(&got).contains("<html"), "GET / over TLS:\n{got}");

    // Over HTTPS the page's own origin is https://.
    let open = |origin: &str| {
        s_client(format!(
            "POST /ajax/open HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ))
    };
    let ok = open(&format!("https://127.0.0.1:{port}"));
    assert!(ok.starts_with("HTTP/1.1 200"), "own https origin:\n{ok}");
    let refused = open(&format!("http://127.0.0.1:{port}"));
    assert!(
        refused.starts_with("HTTP/1.1 403"),
        "http origin on https:\n{refused}"
    );

    // Plain HTTP on the HTTPS port does not get the page.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(
        format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        !lower(&String::from_utf8_lossy(&buf)).contains("<html"),
        "the page was served without TLS"
    );
}

/// A long-poll answer lost with its connection is sent again, and a poll whose client went
/// away lets go of the session at once (so its output waits for the next poll).
#[test]
fn a_lost_long_poll_answer_is_sent_again_until_acknowledged() {
    let p = Portcullis::start_web("", "poll_timeout_secs = 1\n");
    let port = p.web_port();
    let mut bob = p.player("bob");
    let alice = p.ajax_player("alice");
    bob.expect("alice has arrived.");
    let poll = |ack: &str| alice.post_with("/ajax/poll", b"", &[("X-Portcullis-Ack", ack)]);
    let said = |r: &HttpResponse| plain_text(r.json().as_array().unwrap());

    bob.send_line("say first");
    bob.expect("You say, \"first\"");
    let r = poll("0");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(said(&r).contains("bob says, \"first\""), "{}", r.describe());
    let batch: u64 = r.header("X-Portcullis-Batch").unwrap().parse().unwrap();

    // The page never saw that answer: its next poll still acknowledges the batch before.
    let r = poll("0");
    assert!(
        said(&r).contains("bob says, \"first\""),
        "an unacknowledged answer was not sent again: {}",
        r.describe()
    );
    let again: u64 = r.header("X-Portcullis-Batch").unwrap().parse().unwrap();
    assert_ne!(again, batch);
    // Acknowledged: nothing more (an empty answer after poll_timeout_secs).
    let r = poll(&again.to_string());
    assert_eq!(r.json(), json!([]), "{}", r.describe());

    // A poll whose client goes away while it is held.
    let log_mark = p.log.lines().len();
    let mut s = connect_from(None, port);
    let req = format!(
        "POST /ajax/poll HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Portcullis-Token: {}\r\nX-Portcullis-Ack: {again}\r\nContent-Length: 0\r\n\r\n",
        alice.token
    );
    s.write_all(req.as_bytes()).unwrap();
    // Held (nothing to say yet), and abandoned.
    drop(s);
    wait_log(&p.log, log_mark, "long-poll client went away", |l| {
        l.contains("long-poll client went away")
    });
    bob.send_line("say second");
    bob.expect("You say, \"second\"");
    let r = poll(&again.to_string());
    assert!(
        said(&r).contains("bob says, \"second\""),
        "output after an abandoned poll was lost: {}",
        r.describe()
    );
}

/// `portcullis stop` tells browser players why, on both transports, before the portal goes.
#[test]
fn stopping_the_portal_tells_browser_players() {
    let p = Portcullis::start_web("", "");
    let mut ws = p.web_player("alice");
    let mut poll = p.ajax_player("polly");
    // A polling page gets the reason too (in a held poll, or the next one).
    let held = std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT;
        while !poll.received.iter().any(|m| m[0] == "disconnect") {
            assert!(
                Instant::now() < deadline,
                "no disconnect: {:?}",
                poll.received
            );
            poll.poll();
        }
        poll
    });
    let status = p.stop();
    assert!(status.success(), "{status}");
    let bye = ws.wait_named("disconnect");
    assert!(
        bye[1][0]
            .as_str()
            .unwrap_or_default()
            .contains("shutting down"),
        "{bye}"
    );
    ws.expect_closed();
    let poll = held.join().unwrap();
    let last = poll.received.last().unwrap();
    assert_eq!(last[0], "disconnect", "{last}");
    assert!(
        last[1][0]
            .as_str()
            .unwrap_or_default()
            .contains("shutting down"),
        "{last}"
    );
}

/// The page learns the world's name (`[server] name`) for its title, on both transports.
#[test]
fn the_session_names_the_world() {
    let p = Portcullis::start_web("[server]\nname = \"Dragonmoor\"\n", "");
    let port = p.web_port();
    let mut ws = WebClient::connect(port, "/ws", &[]).unwrap();
    assert_eq!(ws.session()["name"], "Dragonmoor");
    let ajax = AjaxClient::open(port);
    assert_eq!(ajax.opened["name"], "Dragonmoor", "{}", ajax.opened);
}

/// Non-session messages a client has received (what the page counts as `seen`).
fn seen_by(c: &WebClient) -> u64 {
    c.received.iter().filter(|m| m[0] != "session").count() as u64
}

/// Output written into a WebSocket that died before the page read it is sent again when the
/// page resumes with how much it had seen; input the portal took is counted, so the page
/// knows what to send again.
#[test]
fn a_resumed_websocket_gets_again_what_died_with_the_last_connection() {
    let p = Portcullis::start_web("", "");
    let port = p.web_port();
    let mut bob = p.player("bob");
    let mut alice = p.web_player("alice");
    let token = token_of(&alice.received[0][2]);
    bob.expect("alice has arrived.");
    alice.line("look");
    alice.expect("Present: alice, bob.");
    // The page acknowledges what it has, which also asks the portal to keep what follows.
    let seen = seen_by(&alice);
    alice.send("ack", json!([seen]), json!({}));

    // Bob speaks; the portal writes it to alice's socket, which dies unread.
    bob.send_line("say lost one");
    bob.send_line("say lost two");
    bob.expect("You say, \"lost two\"");
    let mut peek = [0u8; 1];
    alice.ws.get_ref().set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(
        alice.ws.get_ref().peek(&mut peek).unwrap(),
        1,
        "nothing written"
    );
    let log_mark = p.log.lines().len();
    alice.drop_connection();

    let mut again = WebClient::connect(port, &format!("/ws?token={token}&seen={seen}"), &[])
        .unwrap_or_else(|e| panic!("resume refused: {}", describe_ws_error(&e)));
    let s = again.session();
    assert_eq!(s["resumed"], true, "{s}");
    let input_seen = s["input_seen"].as_u64().unwrap();
    again.expect("bob says, \"lost two\"");
    let text = again.text();
    assert_eq!(text.matches("bob says, \"lost one\"").count(), 1, "{text}");
    assert_eq!(text.matches("bob says, \"lost two\"").count(), 1, "{text}");
    wait_log(&p.log, log_mark, "the replay", |l| {
        l.contains("sending again what the page missed")
    });

    // Input: two more lines, then a drop: the next session message counts them.
    again.line("say three");
    again.line("say four");
    bob.expect("alice says, \"four\"");
    again.drop_connection();
    let mut third = WebClient::connect(port, &format!("/ws?token={token}"), &[]).unwrap();
    let s = third.session();
    assert_eq!(s["input_seen"].as_u64(), Some(input_seen + 2), "{s}");
}

/// A long-poll input request sent again (its answer was lost) is not taken twice.
#[test]
fn a_long_poll_input_sent_twice_is_taken_once() {
    let p = Portcullis::start_web("", "");
    let mut bob = p.player("bob");
    let polly = p.ajax_player("polly");
    bob.expect("polly has arrived.");
    let reopened = polly.post(
        "/ajax/open",
        json!({"token": polly.token}).to_string().as_bytes(),
    );
    let seen = reopened.json()["input_seen"].as_u64().unwrap();
    assert!(seen >= 1, "{}", reopened.describe());
    let next = (seen + 1).to_string();
    let body = json!([["hello", [], {"width": 90}], ["text", ["say only once"], {}]]).to_string();
    for _ in 0..2 {
        let r = polly.post_with(
            "/ajax/input",
            body.as_bytes(),
            &[("X-Portcullis-Input-Seq", next.as_str())],
        );
        assert_eq!(r.status, 204, "{}", r.describe());
    }
    bob.expect("polly says, \"only once\"");
    bob.send_line("say marker");
    let said = bob.expect("You say, \"marker\"");
    assert!(!said.contains("only once"), "taken twice: {said}");
    let reopened = polly.post(
        "/ajax/open",
        json!({"token": polly.token}).to_string().as_bytes(),
    );
    assert_eq!(reopened.json()["input_seen"].as_u64(), Some(seen + 1));
}

/// Behind a reverse proxy the client's address comes from X-Forwarded-For, but only when the
/// connection comes from a listed proxy; anyone else's header is ignored.
#[test]
fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let p = Portcullis::start_web("", "trusted_proxies = [\"127.0.0.1\"]\n");
    let port = p.web_port();
    let proxy = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let stranger = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let forwarded = [("X-Forwarded-For", "203.0.113.7")];
    let r = request(proxy, port, "POST", "/ajax/open", &forwarded, b"");
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = request(stranger, port, "POST", "/ajax/open", &forwarded, b"");
    assert_eq!(r.status, 200, "{}", r.describe());
    let status = p.status();
    let rows: Vec<&str> = status
        .lines()
        .filter(|l| l.contains("webclient/ajax"))
        .collect();
    assert_eq!(rows.len(), 2, "{status}");
    assert!(rows.iter().any(|r| r.contains("203.0.113.7")), "{status}");
    assert!(rows.iter().any(|r| r.contains("127.0.0.2")), "{status}");
    assert!(!rows.iter().any(|r| r.contains("127.0.0.1")), "{status}");
}

/// A browser sent to http:// on the HTTPS port (what a bare host:port means to it) is
/// redirected to the https page, not cut off.
#[test]
fn plain_http_on_the_https_port_is_redirected() {
    let p = Portcullis::start_web_tls("", "");
    let port = p.web_port();
    let host = format!("127.0.0.1:{port}");
    // (The helper sends Host: 127.0.0.1:PORT.)
    let r = request(None, port, "GET", "/index.html", &[], b"");
    assert_eq!(r.status, 301, "{}", r.describe());
    assert_eq!(
        r.header("location"),
        Some(format!("https://{host}/index.html").as_str()),
        "{}",
        r.describe()
    );
}

/// One address holds at most `http_connections_per_address` HTTP connections; the next is
/// closed at once and logged, while other addresses and later connections are served.
#[test]
fn http_connections_per_address_are_bounded() {
    let p = Portcullis::start_web("", "http_connections_per_address = 3\n");
    let port = p.web_port();
    let held: Vec<TcpStream> = (0..3).map(|_| connect_from(None, port)).collect();
    let mut fourth = connect_from(None, port);
    fourth.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        fourth.read(&mut buf).unwrap_or(0),
        0,
        "the fourth was not closed"
    );
    p.log.wait_for("too many web connections from one address");
    // Another address is served meanwhile.
    let other = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    assert_eq!(request(other, port, "GET", "/", &[], b"").status, 200);
    // And once the held ones go, this address is served again.
    drop(held);
    let deadline = Instant::now() + WAIT;
    loop {
        let mut s = connect_from(None, port);
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut head = [0u8; 12];
        if s.read(&mut head).unwrap_or(0) >= 12 && head.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_page_sending_thousands_of_lines_in_one_message_is_paced_and_a_neighbour_is_not() {
    // One WebSocket message of 30,000 empty lines: each line is input work, as on telnet.
    let p = Portcullis::start_web("", "");
    let mut neighbour = p.player("neighbour");
    let mut flooder = p.web_player("flooder");
    let log_before = p.log.lines().len();
    flooder.line(&"\n".repeat(30_000));
    round_trips_stay_short(&mut neighbour, Duration::from_secs(1));
    p.log.wait_for("input over its allowance; reading paused");
    let written = p.log.lines().len() - log_before;
    assert!(written < 100, "the flood wrote {written} log lines");
}
