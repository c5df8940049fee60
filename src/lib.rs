//! Portcullis: a secure front door for text worlds.
//!
//! Two processes from one binary: the long-lived **portal** ([`portal`]) owns every player
//! connection; the restartable **server** ([`server`]) owns accounts and the application.
//! They speak the typed [`shared::link`] protocol and keep their session registries in sync
//! ([`shared::session`]), so the server can be reloaded without dropping a player or a line.
//!
//! The folders follow that shape (see `docs/architecture.md`):
//! - [`shared`]: what both processes (and the CLI) share: the session model, messages,
//!   client capabilities, the link and control protocols, the configuration;
//! - [`codec`]: pure codecs with no I/O: telnet, MCCP, out-of-band (GMCP, MSDP, MSSP,
//!   NEW-ENVIRON), the SSH line editor, colour markup;
//! - [`portal`]: the portal process: its core, the session port, its front ends, its link;
//! - [`server`]: the server process: the registry, login, account jobs, the App;
//! - [`ops`]: what the operator manages from the command line and the processes use:
//!   accounts, SSH host keys, TLS certificates;
//! - [`bench`]: the load and benchmark tool.
#![forbid(unsafe_code)]

pub mod bench;
pub mod codec;
pub mod ops;
pub mod portal;
pub mod server;
pub mod shared;
