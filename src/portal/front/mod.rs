//! The portal's front ends, one per way a player connects. Each keeps only what is its own
//! and does everything else through its session's [`crate::portal::port::SessionPort`]:
//! - [`telnet`]: plain telnet, and the telnet engine, MUD protocols and MCCP every telnet
//!   session runs;
//! - [`tls`]: telnet over TLS (the handshake, then the same telnet session);
//! - [`ssh`]: SSH through russh, with a line editor for PTY sessions and one-command exec;
//! - [`web`]: the browser client over HTTPS (WebSocket and long-poll), with sessions that
//!   outlive their connections.

pub mod ssh;
pub mod telnet;
pub mod tls;
pub mod web;
