//! Hardening of the edge (issue 13), end to end: each test plays an attacker (or an operator
//! with an unusual but valid config) against the real binary, and asserts what a player or
//! operator would notice: the process stays up, neighbours keep being served, memory and the
//! log stay bounded, and a clear error is given where one is due.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::web::*;
use common::*;

/// The smallest buffers the config accepts still serve a telnet and a WebSocket session (a
/// WebSocket config derived from them once made tungstenite assert after the 101, so every
/// browser got a dropped connection).
#[test]
fn smallest_accepted_buffers_serve_telnet_and_websocket() {
    let p = Portcullis::start_web(
        "[limits]\noutput_buffer_bytes = 4096\nmax_line_length = 64\n",
        "max_message_bytes = 1024\n",
    );
    let mut t = p.telnet();
    t.expect("> ");
    let mut w = WebClient::connect(p.web_port(), "/ws", &[])
        .unwrap_or_else(|e| panic!("websocket handshake failed: {}", describe_ws_error(&e)));
    w.session();
    w.expect("> ");
    w.line("create alice secret-pass-1");
    w.expect("Welcome, alice.");
    // The process is up and a second telnet player is served too.
    let mut t2 = p.telnet();
    t2.expect("> ");
    assert_eq!(p.log.count("panicked"), 0, "{}", p.log.lines().join("\n"));
    drop(t);
}
