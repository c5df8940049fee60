//! The telnet wire numbers: command bytes (RFC 854, RFC 885 for EOR), option codes,
//! subnegotiation sub-commands and the MTTS bits. Re-exported from [`super`], so they are
//! `telnet::IAC`, `telnet::mtts::UTF8` and so on.

// ---- Telnet command bytes (RFC 854, RFC 885 for EOR) ----
pub const IAC: u8 = 255;
pub const DONT: u8 = 254;
pub const DO: u8 = 253;
pub const WONT: u8 = 252;
pub const WILL: u8 = 251;
pub const SB: u8 = 250;
pub const GA: u8 = 249;
pub const EL: u8 = 248;
pub const EC: u8 = 247;
pub const AYT: u8 = 246;
pub const AO: u8 = 245;
pub const IP: u8 = 244;
pub const BRK: u8 = 243;
pub const DM: u8 = 242;
pub const NOP: u8 = 241;
pub const SE: u8 = 240;
/// The EOR *command* (239). The EOR *option* is [`TELOPT_EOR`] (25).
pub const EOR: u8 = 239;

// ---- Option codes ----
pub const ECHO: u8 = 1;
pub const SGA: u8 = 3;
pub const TTYPE: u8 = 24;
/// The END-OF-RECORD option (RFC 885); named to avoid clashing with [`EOR`].
pub const TELOPT_EOR: u8 = 25;
pub const NAWS: u8 = 31;
pub const NEW_ENVIRON: u8 = 39;
pub const CHARSET: u8 = 42;
pub const MSDP: u8 = 69;
pub const MSSP: u8 = 70;
pub const MCCP2: u8 = 86;
/// MCCP3: client→server compression.
pub const MCCP3: u8 = 87;
pub const GMCP: u8 = 201;

// ---- Subnegotiation sub-commands ----
pub const TTYPE_IS: u8 = 0;
pub const TTYPE_SEND: u8 = 1;
pub const CHARSET_REQUEST: u8 = 1;
pub const CHARSET_ACCEPTED: u8 = 2;
pub const CHARSET_REJECTED: u8 = 3;

/// MTTS bit values (as reported in [`TelnetEvent::Mtts`](super::TelnetEvent::Mtts)).
pub mod mtts {
    pub const ANSI: u32 = 1;
    pub const VT100: u32 = 2;
    pub const UTF8: u32 = 4;
    pub const COLORS_256: u32 = 8;
    pub const MOUSE_TRACKING: u32 = 16;
    pub const OSC_COLOR_PALETTE: u32 = 32;
    pub const SCREEN_READER: u32 = 64;
    pub const PROXY: u32 = 128;
    pub const TRUECOLOR: u32 = 256;
    pub const MNES: u32 = 512;
    pub const MSLP: u32 = 1024;
    pub const SSL: u32 = 2048;
}
