//! `game`: a minimal telnet game to stand behind a proxy under test (Portcullis' gateway,
//! stunnel, websockify), so that what is measured is the proxy, not the game.
//!
//! It greets with a banner and `Name: `, answers the first line with `Welcome, NAME.` and every
//! later line with `You say: LINE`, each followed by a `> ` prompt and IAC GA. Telnet commands
//! from the client are skipped (it offers nothing, so nothing needs an answer). It runs until
//! it is killed; it prints `listening on ADDR` once bound.

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::bench::GameArgs;
use crate::bench::report::Outcome;

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
/// The longest line kept; the rest of a longer one is dropped.
const MAX_LINE: usize = 8192;

/// Serves the game until the process is killed.
pub async fn game(a: &GameArgs) -> Result<Outcome> {
    let listener = TcpListener::bind(&a.common.addr)
        .await
        .with_context(|| format!("cannot listen on {}", a.common.addr))?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream));
    }
}

/// Telnet parser state: only what is needed to skip commands.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Data,
    Iac,
    Option,
    Sb,
    SbIac,
}

async fn serve(mut stream: TcpStream) {
    if stream
        .write_all(b"Welcome to the echo game.\r\nName: \xff\xf9")
        .await
        .is_err()
    {
        return;
    }
    let mut name: Option<String> = None;
    let mut line = Vec::new();
    let mut state = State::Data;
    let mut buf = vec![0u8; 8192];
    let mut out = Vec::new();
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            state = match (state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, b'\n') => {
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    let text = String::from_utf8_lossy(&line).into_owned();
                    line.clear();
                    match &name {
                        None => {
                            out.extend_from_slice(format!("Welcome, {text}.\r\n> ").as_bytes());
                            name = Some(text);
                        }
                        Some(_) => {
                            out.extend_from_slice(format!("You say: {text}\r\n> ").as_bytes())
                        }
                    }
                    out.extend_from_slice(&[IAC, 249]);
                    State::Data
                }
                (State::Data, b) => {
                    if line.len() < MAX_LINE {
                        line.push(b);
                    }
                    State::Data
                }
                (State::Iac, SB) => State::Sb,
                (State::Iac, 251..=254) => State::Option,
                (State::Iac, IAC) => {
                    line.push(IAC);
                    State::Data
                }
                (State::Iac, _) | (State::Option, _) => State::Data,
                (State::Sb, IAC) => State::SbIac,
                (State::Sb, _) => State::Sb,
                (State::SbIac, SE) => State::Data,
                (State::SbIac, _) => State::Sb,
            };
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}
