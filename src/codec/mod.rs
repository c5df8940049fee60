//! Pure codecs: bytes in, events and bytes out, no I/O and nothing from the rest of the crate
//! but each other. Each is tested byte for byte in its own files.
//! - [`telnet`]: the telnet engine (RFC 854/855, RFC 1143 negotiation, NAWS, TTYPE/MTTS,
//!   CHARSET, EOR/GA, NEW-ENVIRON), sans-IO;
//! - [`mccp`]: the zlib streams of MCCP2 and MCCP3;
//! - [`oob`]: GMCP, MSDP, MSSP and NEW-ENVIRON payloads;
//! - [`lineedit`]: the line editor for SSH terminals, with display widths;
//! - [`markup`]: colour markup rendered for a colour level, and input sanitising.

pub mod lineedit;
pub mod markup;
pub mod mccp;
pub mod oob;
pub mod telnet;
