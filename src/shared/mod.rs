//! What both processes, and the operator's CLI, share: the session model ([`session`]: the
//! synced state, [`session::Protocol`], the protocol_flags names), the messages players and
//! games exchange ([`message`]), what a client can take ([`caps`]), the portal ↔ server
//! link ([`link`]), the CLI ↔ portal control protocol ([`control`]) and the configuration
//! ([`config`]), and how client addresses are counted by the limits ([`addr`]).

pub mod addr;
pub mod caps;
pub mod config;
pub mod control;
pub mod link;
pub mod message;
pub mod session;
