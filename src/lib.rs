//! Portcullis: a secure front door for text worlds.
//!
//! Two processes from one binary: the long-lived **portal** ([`portal`]) owns every player
//! connection; the restartable **server** ([`server`]) owns accounts and the application.
//! They speak the typed [`link`] protocol and keep their session registries in sync
//! ([`session`]), so the server can be reloaded without dropping a player or a line.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod bench;
pub mod caps;
pub mod certs;
pub mod config;
pub mod control;
pub mod ids;
pub mod keys;
pub mod lineedit;
pub mod link;
pub mod markup;
pub mod mccp;
pub mod message;
pub mod oob;
pub mod portal;
pub mod server;
pub mod session;
pub mod telnet;
