//! The web client in a real browser: Debian's headless Chromium, driven by playwright-core
//! (`tests/browser/webplay.mjs`), opens the page over HTTPS, logs in through the connection
//! screen, says something that a telnet player hears, and hears the telnet player back.
//! Once over the WebSocket, once with the WebSocket blocked so the page falls back to
//! long-polling. A screenshot of each page after login is kept in `target/web-screenshots/`.
//!
//! Chromium (`apt-get install chromium`) and the npm packages (`npm ci` in `tests/browser`)
//! are installed by `.ci/run`, which also sets `REQUIRE_BROWSER=1` so that there a missing
//! browser fails the tests instead of skipping them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Portcullis, WAIT};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Runs the browser script while `meanwhile` plays the telnet side; returns its JSON report.
fn play_in_browser(args: &Value, meanwhile: impl FnOnce()) -> Value {
    let mut child = Command::new("node")
        .arg(root().join("tests/browser/webplay.mjs"))
        .arg(args.to_string())
        .env("CHROMIUM", chromium())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(meanwhile)) {
        // Show what the browser saw before failing.
        let _ = child.kill();
        let out = common::wait_output(child, WAIT);
        eprintln!(
            "browser script output:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::panic::resume_unwind(panic);
    }
    let out = common::wait_output(child, WAIT + Duration::from_secs(40));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no report from the browser script; stdout: {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert_eq!(
        report["ok"],
        Value::Bool(true),
        "the browser run failed: {}\nstderr: {}",
        serde_json::to_string_pretty(&report).unwrap(),
        String::from_utf8_lossy(&out.stderr)
    );
    report
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
