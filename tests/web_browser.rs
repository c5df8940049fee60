//! The web client in a real browser: Debian's headless Chromium, driven by playwright-core
//! (`tests/browser/webplay.mjs`), opens the page over HTTPS, logs in through the connection
//! screen, says something that a telnet player hears, and hears the telnet player back.
//! Once over the WebSocket, once with the WebSocket blocked so the page falls back to
//! long-polling. A screenshot of each page after login is kept in `target/web-screenshots/`.
//! Then: the page on a phone-sized touch screen and what a screen reader finds on it; a
//! `portcullis reload` under a connected page; and a network cut under it (a TCP proxy here
//! in the test), after which the page must resume its session by itself, both over the
//! WebSocket and over long-polling. The Rust side and the script meet at the script's `sync`
//! steps: it prints `{"step": …}` and waits for a line on its stdin.
//!
//! Chromium (`apt-get install chromium`) and the npm packages (`npm ci` in `tests/browser`)
//! are installed by `.ci/run`, which also sets `REQUIRE_BROWSER=1` so that there a missing
//! browser fails the tests instead of skipping them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Portcullis, WAIT};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Whether the browser tests can run here; if not, why (and they fail under REQUIRE_BROWSER).
fn browser_missing() -> Option<String> {
    let playwright = root().join("tests/browser/node_modules/playwright-core");
    let why = if !chromium().exists() {
        format!("no Chromium at {}", chromium().display())
    } else if Command::new("node").arg("--version").output().is_err() {
        "no node".to_string()
    } else if !playwright.exists() {
        "no playwright-core (run `npm ci` in tests/browser)".to_string()
    } else {
        return None;
    };
    if std::env::var_os("REQUIRE_BROWSER").is_some() {
        panic!("browser tests required but cannot run: {why}");
    }
    eprintln!("skipped: {why}; `.ci/run` installs what the browser tests need");
    Some(why)
}

fn screenshot_path(name: &str) -> PathBuf {
    let dir = root().join("target/web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The browser script, running: its stdout lines (JSON) come through a channel, its stdin
/// takes the "go on" lines for its `sync` steps. Dropped while the test panics, it kills the
/// script and shows what it printed.
struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stdout: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Browser {
    fn start(args: &Value) -> Self {
        let mut child = Command::new("node")
            .arg(root().join("tests/browser/webplay.mjs"))
            .arg(args.to_string())
            .env("CHROMIUM", chromium())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (mut err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Browser {
            stdin: child.stdin.take(),
            child,
            lines,
            stdout: Vec::new(),
            stderr,
        }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).to_string()
    }

    /// The next JSON line the script prints, within `limit`.
    fn next_json(&mut self, limit: Duration, what: &str) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} from the browser script in time")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the browser script ended before {what}")
                }
            };
            self.stdout.push(line.clone());
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                return v;
            }
        }
    }

    /// Waits for the script's `{"step": step}` (its `sync` step); returns that line.
    fn wait_step(&mut self, step: &str) -> Value {
        let v = self.next_json(WAIT + Duration::from_secs(20), &format!("step {step}"));
        assert_eq!(
            v["step"],
            step,
            "the browser script, waiting for step {step}: {}",
            serde_json::to_string_pretty(&v).unwrap()
        );
        v
    }

    /// Lets the script go on after a `sync` step.
    fn go_on(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the report, which must be `"ok": true`, and for the script to end.
    fn finish(mut self) -> Value {
        let report = loop {
            let v = self.next_json(WAIT + Duration::from_secs(40), "the report");
            if v.get("ok").is_some() {
                break v;
            }
        };
        assert_eq!(
            report["ok"],
            Value::Bool(true),
            "the browser run failed: {}\nstderr: {}",
            serde_json::to_string_pretty(&report).unwrap(),
            self.stderr()
        );
        self.stdin = None;
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the browser script did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        report
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            // Show what the browser saw before failing.
            while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                self.stdout.push(line);
            }
            eprintln!(
                "browser script output:\n{}\n{}",
                self.stdout.join("\n"),
                self.stderr()
            );
        }
    }
}

/// Runs the browser script while `meanwhile` plays the telnet side; returns its JSON report.
fn play_in_browser(args: &Value, meanwhile: impl FnOnce()) -> Value {
    let browser = Browser::start(args);
    meanwhile();
    browser.finish()
}

fn browser_says_and_hears(block_websocket: bool, shot: &Path, expect_protocol: &str) {
    let p = Portcullis::start_web_tls("", "");
    let mut bob = p.player("bob");
    let name = if block_websocket { "polly" } else { "webby" };
    let args = serde_json::json!({
        "url": format!("https://127.0.0.1:{}/", p.web_port()),
        "name": name,
        "password": "secret-pass-1",
        "say": "hello from the browser",
        "expect": "bob says, \"hi from telnet\"",
        "block_websocket": block_websocket,
        "screenshot": shot,
        "timeout_ms": 30000,
    });
    let report = play_in_browser(&args, || {
        // The telnet player hears the browser player, then answers.
        bob.expect(&format!("{name} says, \"hello from the browser\""));
        bob.clear();
        bob.send_line("who");
        let who = bob.expect("online");
        let row = who
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not in who: {who}"));
        assert!(row.contains(expect_protocol), "{row}");
        bob.send_line("say hi from telnet");
    });
    let transport = if block_websocket { "ajax" } else { "websocket" };
    assert_eq!(report["transport"], transport, "{report}");
    let output = report["output"].as_str().unwrap_or_default();
    assert!(
        output.contains("You say, \"hello from the browser\""),
        "{output}"
    );
    assert!(output.contains("bob says, \"hi from telnet\""), "{output}");
    // The password never shows on the page.
    assert!(!output.contains("secret-pass-1"), "{output}");
    let png = std::fs::read(shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "no screenshot at {}",
        shot.display()
    );
}

#[test]
fn a_browser_player_talks_with_a_telnet_player_over_the_websocket() {
    if browser_missing().is_some() {
        return;
    }
    browser_says_and_hears(
        false,
        &screenshot_path("websocket.png"),
        "webclient/websocket",
    );
}

#[test]
fn with_the_websocket_blocked_the_page_falls_back_to_long_polling() {
    if browser_missing().is_some() {
        return;
    }
    browser_says_and_hears(true, &screenshot_path("long-poll.png"), "webclient/ajax");
}

/// The page's own unit tests (the ANSI renderer), run by Node's test runner.
#[test]
fn the_pages_ansi_renderer_passes_its_unit_tests() {
    if Command::new("node").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("REQUIRE_BROWSER").is_none(),
            "node is required for the web client's tests"
        );
        eprintln!("skipped: no node");
        return;
    }
    let out = common::run_limited(
        Command::new("node")
            .arg("--test")
            .arg(root().join("webclient/test/"))
            .current_dir(root()),
        None,
        WAIT,
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The runner found and ran tests (an empty directory also "succeeds").
    let passed = report
        .lines()
        .find_map(|l| l.strip_prefix("# pass "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(passed >= 5, "too few tests ran:\n{report}");
}

/// A number from a report, or a panic that shows the report.
fn num(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("no number for {what} in the report: {v}"))
}

/// On a phone (390x844, touch), logging in with the prompted flow: the page fits the screen,
/// the field does not make iOS zoom, the output scrolls and follows its end; and what a
/// screen reader needs is there: a polite live log, a status, a labelled field whose masked
/// password prompt is its description.
#[test]
fn on_a_phone_the_page_fits_and_a_screen_reader_finds_its_way() {
    if browser_missing().is_some() {
        return;
    }
    let p = Portcullis::start_web_tls("", "");
    let shot = screenshot_path("phone.png");
    let mut steps = vec![json!({"check": "a11y"})];
    for cmd in ["help", "look", "help", "look", "help", "look"] {
        let answer = if cmd == "help" {
            "this text"
        } else {
            "Present:"
        };
        steps.push(json!({"send": cmd}));
        steps.push(json!({"expect": answer}));
    }
    steps.push(json!({"check": "phone"}));
    let args = json!({
        "url": format!("https://127.0.0.1:{}/", p.web_port()),
        "name": "thumb",
        "password": "secret-pass-1",
        "login": "prompted",
        "phone": true,
        "steps": steps,
        "screenshot": shot,
        "timeout_ms": 30000,
    });
    let report = play_in_browser(&args, || {});
    let pretty = serde_json::to_string_pretty(&report).unwrap();

    // Accessibility: one of each, found by role and label as assistive technology would.
    let a11y = &report["checks"]["a11y"];
    for key in ["log_count", "status_count", "command_count", "send_count"] {
        assert_eq!(a11y[key], 1, "{key}: {pretty}");
    }
    assert_eq!(a11y["log_id"], "output", "{pretty}");
    assert_eq!(a11y["log_aria_live"], "polite", "{pretty}");
    let input = &a11y["input"];
    assert_eq!(input["id"], "input", "{pretty}");
    assert_eq!(input["ax"]["name"], "Command", "{pretty}");
    assert_eq!(input["type"], "text", "{pretty}");
    // The masked password prompt: a password field described by the prompt's text.
    let masked = &report["masked"];
    assert_eq!(masked["type"], "password", "{pretty}");
    assert!(
        masked["describedby"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|id| id == "prompt")),
        "{pretty}"
    );
    for text in [&masked["described_text"], &masked["ax"]["description"]] {
        assert!(
            text.as_str()
                .is_some_and(|t| t.contains("Choose a password")),
            "{pretty}"
        );
    }
    assert_eq!(report["unmasked"]["type"], "text", "{pretty}");
    assert!(
        !report["output"]
            .as_str()
            .unwrap_or_default()
            .contains("secret-pass-1"),
        "{pretty}"
    );

    // The phone.
    let phone = &report["checks"]["phone"];
    let (vw, vh) = (
        num(&phone["viewport"]["width"], "viewport width"),
        num(&phone["viewport"]["height"], "viewport height"),
    );
    assert_eq!((vw, vh), (390.0, 844.0), "{pretty}");
    assert!(
        num(&phone["doc"]["scroll_width"], "scrollWidth")
            <= num(&phone["doc"]["client_width"], "clientWidth")
            && num(&phone["doc"]["body_scroll_width"], "body scrollWidth") <= vw,
        "the page scrolls sideways: {pretty}"
    );
    for el in ["input", "send"] {
        let b = &phone[el];
        assert!(
            num(&b["left"], el) >= 0.0
                && num(&b["right"], el) <= vw
                && num(&b["top"], el) >= 0.0
                && num(&b["bottom"], el) <= vh,
            "{el} is not inside the screen: {pretty}"
        );
    }
    assert!(
        num(&phone["input_font_px"], "font size") >= 16.0,
        "{pretty}"
    );
    let out = &phone["output"];
    assert!(
        num(&out["scroll_height"], "scrollHeight") > num(&out["client_height"], "clientHeight"),
        "the output does not scroll: {pretty}"
    );
    let (top, bottom) = (
        num(&out["box"]["top"], "output top"),
        num(&out["box"]["bottom"], "output bottom"),
    );
    let last = &phone["last_line"];
    assert!(
        last["text"]
            .as_str()
            .is_some_and(|t| t.contains("Present:")),
        "{pretty}"
    );
    let last_bottom = num(&last["box"]["bottom"], "last line bottom");
    assert!(
        last_bottom > top && last_bottom <= bottom + 1.0,
        "the last line is not in view: {pretty}"
    );
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
}

/// How many times `needle` occurs in `text`.
fn occurrences(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// The page kept one session throughout: no "disconnected" state, no second connection
/// screen, every session message after the first a resume of the same session (each under a
/// new token).
/// What another player saw of `name` through a reload or a drop: one arrival, no departure.
fn assert_stayed(bob_saw: &str, name: &str) {
    assert!(!bob_saw.contains(&format!("{name} has left.")), "{bob_saw}");
    assert_eq!(
        occurrences(bob_saw, &format!("{name} has arrived.")),
        1,
        "{bob_saw}"
    );
}

fn assert_one_session(report: &Value) {
    let pretty = serde_json::to_string_pretty(report).unwrap();
    let states: Vec<&str> = report["states"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!states.contains(&"disconnected"), "{pretty}");
    assert_eq!(states.last(), Some(&"connected"), "{pretty}");
    let output = report["output"].as_str().unwrap_or_default();
    assert_eq!(occurrences(output, "Welcome to "), 1, "{pretty}");
    assert!(!output.contains("The old session had ended"), "{pretty}");
    let sessions = report["sessions"].as_array().unwrap();
    assert!(!sessions.is_empty(), "{pretty}");
    // Each resume is the same session under a new token (the old one is spent).
    for pair in sessions.windows(2) {
        assert_ne!(pair[1]["token"], pair[0]["token"], "{pretty}");
        assert_eq!(pair[1]["resumed"], true, "{pretty}");
    }
}

/// `portcullis reload` while a browser player is connected: the page stays connected on its
/// session, is told the server is reloading and back, shows the server's notice, and goes on.
fn reload_under_the_page(block_websocket: bool) {
    let p = Portcullis::start_web_tls("", "");
    let mut bob = p.player("bob");
    let name = if block_websocket {
        "relpoll"
    } else {
        "reloady"
    };
    let args = json!({
        "url": format!("https://127.0.0.1:{}/", p.web_port()),
        "name": name,
        "password": "secret-pass-1",
        "block_websocket": block_websocket,
        "steps": [
            {"sync": "logged_in"},
            {"expect": "The server was reloaded. You are still here.", "anywhere": true},
            {"state": "connected"},
            {"status": "Connected ("},
            {"send": "say after the reload"},
            {"expect": "You say, \"after the reload\""},
        ],
        "timeout_ms": 30000,
    });
    let mut browser = Browser::start(&args);
    browser.wait_step("logged_in");
    bob.expect(&format!("{name} has arrived."));
    let out = p.cli(&["reload"]);
    assert!(
        out.status.success() && common::stdout(&out).contains("reloaded"),
        "reload: {}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    browser.go_on();
    bob.expect(&format!("{name} says, \"after the reload\""));
    let report = browser.finish();
    let pretty = serde_json::to_string_pretty(&report).unwrap();
    assert_one_session(&report);
    // Not even a moment of reconnecting: the connection stayed open.
    assert_eq!(
        report["states"],
        json!(["connecting", "connected"]),
        "{pretty}"
    );
    assert_eq!(report["sessions"].as_array().unwrap().len(), 1, "{pretty}");
    let statuses = report["server_status"].as_array().unwrap();
    assert!(statuses.contains(&json!("reloading")), "{pretty}");
    assert_eq!(statuses.last(), Some(&json!("running")), "{pretty}");
    let transport = if block_websocket { "ajax" } else { "websocket" };
    assert_eq!(report["transport"], transport, "{pretty}");
    let bob_saw = bob.text();
    assert_stayed(&bob_saw, name);
}

#[test]
fn a_reload_keeps_the_page_connected_on_its_session() {
    if browser_missing().is_some() {
        return;
    }
    reload_under_the_page(false);
}

#[test]
fn a_reload_keeps_a_long_polling_page_on_its_session() {
    if browser_missing().is_some() {
        return;
    }
    reload_under_the_page(true);
}

/// A TCP proxy in front of the web port whose connections can all be cut at once, and which
/// can refuse new ones (accept and close at once) for a while: a network that goes away.
struct Proxy {
    port: u16,
    refusing: Arc<AtomicBool>,
    /// How many connections were refused, and a signal when one is.
    refused: Arc<(Mutex<usize>, Condvar)>,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let refusing = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new((Mutex::new(0), Condvar::new()));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (r, n, s, o) = (
            refusing.clone(),
            refused.clone(),
            stop.clone(),
            open.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if r.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    *n.0.lock().unwrap() += 1;
                    n.1.notify_all();
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let mut open = o.lock().unwrap();
                for sock in [&client, &upstream] {
                    open.push(sock.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), upstream.try_clone().unwrap());
                pipe(upstream, client);
            }
        });
        Proxy {
            port,
            refusing,
            refused,
            stop,
            open,
        }
    }

    /// Cuts every connection open now, both ways.
    fn cut(&self) {
        for sock in self.open.lock().unwrap().drain(..) {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }

    fn refuse(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
    }

    /// Waits until at least `n` connections have been refused.
    fn wait_refused(&self, n: usize) {
        let (count, signal) = &*self.refused;
        let (count, timeout) = signal
            .wait_timeout_while(count.lock().unwrap(), WAIT, |c| *c < n)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "only {} connection(s) came while refusing",
            *count
        );
    }
}

/// Copies `from` into `to` on a thread until either side ends.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
        self.cut();
    }
}

/// The network under the page goes away and comes back: the page reconnects by itself to the
/// same session, gets what was said meanwhile and sends what the player typed meanwhile.
fn a_cut_under_the_page(block_websocket: bool) {
    let p = Portcullis::start_web_tls("", "");
    let mut bob = p.player("bob");
    let proxy = Proxy::start(p.web_port());
    let name = if block_websocket { "cutpoll" } else { "cutty" };
    let args = json!({
        "url": format!("https://127.0.0.1:{}/", proxy.port),
        "name": name,
        "password": "secret-pass-1",
        "block_websocket": block_websocket,
        "steps": [
            {"sync": "logged_in"},
            {"state": "reconnecting"},
            {"send": "say typed during the cut"},
            {"status": "(1 line waiting)"},
            {"sync": "queued"},
            {"state": "connected"},
            {"expect": "bob says, \"said during the cut\"", "anywhere": true},
            {"expect": "You say, \"typed during the cut\"", "anywhere": true},
        ],
        "timeout_ms": 30000,
    });
    let mut browser = Browser::start(&args);
    browser.wait_step("logged_in");
    bob.expect(&format!("{name} has arrived."));
    // Bob speaks at once, whether or not the portal has noticed the cut yet: what it writes
    // into the dying connection is kept until the page acknowledges it, and sent again when
    // the page resumes (a long-poll answer likewise).
    proxy.refuse(true);
    proxy.cut();
    bob.send_line("say said during the cut");
    browser.go_on();
    browser.wait_step("queued");
    bob.expect("You say, \"said during the cut\"");
    // The page tried to come back while the network was still down, and goes on trying.
    proxy.wait_refused(1);
    proxy.refuse(false);
    browser.go_on();
    bob.expect(&format!("{name} says, \"typed during the cut\""));
    let report = browser.finish();
    let pretty = serde_json::to_string_pretty(&report).unwrap();
    assert_one_session(&report);
    assert!(
        report["states"]
            .as_array()
            .unwrap()
            .contains(&json!("reconnecting")),
        "{pretty}"
    );
    let transport = if block_websocket { "ajax" } else { "websocket" };
    assert_eq!(report["transport"], transport, "{pretty}");
    if !block_websocket {
        // The WebSocket came back with ?token= and was resumed.
        assert!(
            report["sessions"].as_array().unwrap().len() >= 2,
            "{pretty}"
        );
    }
    let output = report["output"].as_str().unwrap_or_default();
    assert_eq!(
        occurrences(output, "bob says, \"said during the cut\""),
        1,
        "{pretty}"
    );
    let bob_saw = bob.text();
    assert_stayed(&bob_saw, name);
    assert_eq!(
        occurrences(&bob_saw, &format!("{name} says, \"typed during the cut\"")),
        1,
        "{bob_saw}"
    );
}

#[test]
fn after_a_network_cut_the_page_resumes_its_websocket_session() {
    if browser_missing().is_some() {
        return;
    }
    a_cut_under_the_page(false);
}

#[test]
fn after_a_network_cut_a_long_polling_page_resumes_its_session() {
    if browser_missing().is_some() {
        return;
    }
    a_cut_under_the_page(true);
}

/// The player reloads the page (F5) on each transport: the new page comes back to the same
/// session (its token and how much the last page saw are in sessionStorage), with no
/// connection screen and no "missed output" warning, and talk goes on both ways.
fn reload_the_page(block_websocket: bool) {
    let p = Portcullis::start_web_tls("", "");
    let mut bob = p.player("bob");
    let name = if block_websocket { "f5poll" } else { "f5ws" };
    let args = json!({
        "url": format!("https://127.0.0.1:{}/", p.web_port()),
        "name": name,
        "password": "secret-pass-1",
        "block_websocket": block_websocket,
        "steps": [
            {"sync": "logged_in"},
            {"reload": true},
            {"state": "connected"},
            {"sync": "reloaded"},
            {"expect": "bob says, \"while the page reloads\"", "anywhere": true},
            {"send": "say back again"},
            {"expect": "You say, \"back again\""},
        ],
        "timeout_ms": 30000,
    });
    let mut browser = Browser::start(&args);
    browser.wait_step("logged_in");
    bob.expect(&format!("{name} has arrived."));
    browser.go_on();
    browser.wait_step("reloaded");
    bob.send_line("say while the page reloads");
    browser.go_on();
    bob.expect(&format!("{name} says, \"back again\""));
    let report = browser.finish();
    let pretty = serde_json::to_string_pretty(&report).unwrap();
    let sessions = report["sessions"].as_array().unwrap();
    assert!(sessions.len() >= 2, "{pretty}");
    // Each resume is the same session under a new token (the old one is spent).
    for pair in sessions.windows(2) {
        assert_ne!(pair[1]["token"], pair[0]["token"], "{pretty}");
        assert_eq!(pair[1]["resumed"], true, "{pretty}");
    }
    // The reloaded page shows what was said once, and no connection screen.
    let output = report["output"].as_str().unwrap_or_default();
    assert_eq!(
        occurrences(output, "bob says, \"while the page reloads\""),
        1,
        "{pretty}"
    );
    assert!(!output.contains("Welcome to "), "{pretty}");
    assert!(!output.contains("could not be kept"), "{pretty}");
    assert!(!output.contains("The old session had ended"), "{pretty}");
    let bob_saw = bob.text();
    assert_stayed(&bob_saw, name);
    assert_eq!(
        occurrences(&bob_saw, &format!("{name} says, \"back again\"")),
        1,
        "{bob_saw}"
    );
}

#[test]
fn a_reloaded_page_comes_back_to_its_websocket_session() {
    if browser_missing().is_some() {
        return;
    }
    reload_the_page(false);
}

#[test]
fn a_reloaded_page_comes_back_to_its_long_polling_session() {
    if browser_missing().is_some() {
        return;
    }
    reload_the_page(true);
}

/// What a player sees and types: colour markup arrives as coloured text (the connection
/// screen's cyan rule, the welcome in green, a `say` in red truecolour markup), and the input
/// line has history on the arrow keys.
#[test]
fn colours_show_and_the_input_line_has_history() {
    if browser_missing().is_some() {
        return;
    }
    let p = Portcullis::start_web_tls("", "");
    let args = json!({
        "url": format!("https://127.0.0.1:{}/", p.web_port()),
        "name": "painter",
        "password": "secret-pass-1",
        "steps": [
            {"send": "look"},
            {"expect": "Present:"},
            {"send": "say |#ff0000red words|n"},
            {"expect": "You say, \"red words\""},
            {"press": "ArrowUp"},
            {"input_is": "say |#ff0000red words|n"},
            {"press": "ArrowUp"},
            {"input_is": "look"},
            {"press": "ArrowDown"},
            {"input_is": "say |#ff0000red words|n"},
            {"check": "colours"},
        ],
        "timeout_ms": 30000,
    });
    let report = play_in_browser(&args, || {});
    let pretty = serde_json::to_string_pretty(&report).unwrap();
    let coloured = report["checks"]["colours"]["coloured"].as_array().unwrap();
    let colour_of = |needle: &str| {
        coloured
            .iter()
            .find(|s| s["text"].as_str().unwrap_or_default().contains(needle))
            .map(|s| s["color"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        colour_of("red words").as_deref(),
        Some("rgb(255, 0, 0)"),
        "{pretty}"
    );
    assert!(colour_of("Welcome, painter").is_some(), "{pretty}");
    assert!(colour_of("=====").is_some(), "{pretty}");
    // The markup itself is not shown in what the server said (the echo of the typed line
    // shows what was typed).
    let output = report["output"].as_str().unwrap_or_default();
    let said = output
        .lines()
        .find(|l| l.starts_with("You say,"))
        .unwrap_or_default();
    assert_eq!(said, "You say, \"red words\"", "{pretty}");
}
