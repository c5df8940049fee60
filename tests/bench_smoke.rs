//! Smoke test for `portcullis-bench`: every scenario once, briefly, against a real Portcullis
//! (telnet, TLS and SSH on loopback), checking the JSON it writes. Not a benchmark: it only
//! keeps the tool from rotting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{BIN, Portcullis};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_portcullis-bench");

const EXTRA: &str =
    "[accounts]\ncreations = 1000\n[limits]\ncommand_rate = 1000.0\ncommand_burst = 1000\n";

/// Runs `portcullis-bench --quiet --json FILE <args>`; asserts success; returns the JSON.
fn bench(dir: &Path, name: &str, args: &[&str]) -> Value {
    let json = dir.join(format!("{name}.json"));
    let out = Command::new(BENCH)
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "portcullis-bench {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("result"), "no table:\n{stdout}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["scenario"], args[0], "{doc}");
    assert_eq!(doc["ok"], true, "{doc}");
    assert!(doc["machine"]["nproc"].as_u64().unwrap() >= 1, "{doc}");
    let date = doc["date"].as_str().unwrap();
    assert!(date.len() == 20 && date.ends_with('Z') && date.as_bytes()[10] == b'T');
    assert!(doc["parameters"].is_object());
    doc["results"].clone()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

#[test]
fn every_scenario_runs() {
    let p = Portcullis::start_tls("", EXTRA);
    let dir = p.path().to_path_buf();
    let telnet = format!("127.0.0.1:{}", p.port);
    let tls = format!("127.0.0.1:{}", p.tls_port());
    let ssh = format!("127.0.0.1:{}", p.ssh_port.unwrap());

    let r = bench(
        &dir,
        "roundtrip",
        &[
            "roundtrip",
            "--addr",
            &telnet,
            "--clients",
            "3",
            "--lines",
            "5",
        ],
    );
    assert_eq!(num(&r, "lines_echoed"), 15.0, "{r}");
    assert_eq!(num(&r, "timeouts"), 0.0);
    assert!(num(&r, "lines_per_sec") > 0.0);
    assert!(num(&r["latency_ms"], "p99") > 0.0);
    assert!(num(&r["latency_ms"], "max") >= num(&r["latency_ms"], "p50"));

    let r = bench(
        &dir,
        "ssh",
        &[
            "handshakes",
            "--protocol",
            "ssh",
            "--addr",
            &ssh,
            "--duration",
            "2",
            "--concurrency",
            "2",
        ],
    );
    assert!(num(&r, "rate_per_sec") > 0.0, "{r}");
    assert_eq!(num(&r, "errors"), 0.0, "{r}");
    assert!(num(&r["latency_ms"], "p50") > 0.0);

    let r = bench(
        &dir,
        "tls",
        &[
            "handshakes",
            "--protocol",
            "tls",
            "--addr",
            &tls,
            "--duration",
            "2",
        ],
    );
    assert!(num(&r, "rate_per_sec") > 0.0, "{r}");
    assert_eq!(num(&r, "errors"), 0.0, "{r}");

    let r = bench(
        &dir,
        "fanout",
        &[
            "fanout",
            "--addr",
            &telnet,
            "--clients",
            "3",
            "--rounds",
            "3",
        ],
    );
    assert_eq!(num(&r, "rounds_complete"), 3.0, "{r}");
    assert!(num(&r["fanout_ms"], "max") > 0.0);

    let pid = p.child.id().to_string();
    let r = bench(
        &dir,
        "hold",
        &[
            "hold",
            "--addr",
            &telnet,
            "--sessions",
            "10",
            "--pid",
            &pid,
            "--hold-secs",
            "1",
        ],
    );
    assert_eq!(num(&r, "sessions_opened"), 10.0, "{r}");
    assert_eq!(num(&r, "connected_after_hold"), 10.0, "{r}");
    assert_eq!(r["all_connected"], true);
    assert!(num(&r, "rss_before_kib") > 0.0 && num(&r, "rss_after_kib") > 0.0);
    assert!(r["kib_per_session"].is_number());

    let reload_cmd = format!("'{BIN}' reload --config '{}'", p.config.display());
    let r = bench(
        &dir,
        "reload",
        &[
            "reload",
            "--addr",
            &telnet,
            "--clients",
            "3",
            "--lines",
            "20",
            "--interval-ms",
            "50",
            "--reload-cmd",
            &reload_cmd,
        ],
    );
    assert_eq!(num(&r, "lines_sent"), 60.0, "{r}");
    assert_eq!(num(&r, "lines_echoed"), 60.0, "{r}");
    assert_eq!(num(&r, "lines_lost"), 0.0, "{r}");
    assert_eq!(num(&r, "connections_dropped"), 0.0, "{r}");
    assert_eq!(r["reload_ms_source"], "reported", "{r}");
    assert!(num(&r, "reload_ms") > 0.0);

    // A failed invariant exits 1 with one line on stderr: nothing listens here.
    let out = Command::new(BENCH)
        .args([
            "--quiet",
            "roundtrip",
            "--addr",
            "127.0.0.1:1",
            "--timeout",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// The WebSocket transport (terminal subprotocol over HTTPS) of the tool.
#[test]
fn the_round_trip_runs_over_a_websocket() {
    let p = Portcullis::start_web_tls("", "");
    let dir = p.path().to_path_buf();
    let web = format!("127.0.0.1:{}", p.web_port());
    let r = bench(
        &dir,
        "roundtrip-wss",
        &[
            "roundtrip",
            "--protocol",
            "wss",
            "--addr",
            &web,
            "--clients",
            "3",
            "--lines",
            "5",
        ],
    );
    assert_eq!(num(&r, "lines_echoed"), 15.0, "{r}");
    assert_eq!(num(&r, "timeouts"), 0.0, "{r}");
    assert_eq!(num(&r, "connections_dropped"), 0.0, "{r}");
}
