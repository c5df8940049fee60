//! MCCP on one telnet session: MCCP2 compresses what the portal sends (each compressor holds
//! a place in the portal's compression budget, `limits.max_compressed_sessions`), MCCP3
//! inflates what the client sends before the telnet engine reads it.
//!
//! The zlib streams themselves are [`crate::codec::mccp`]'s; this module decides where they start and
//! end in the session's byte flow. Invariants: the telnet engine reads at most [`STEP`] plain
//! bytes at a time, whether they came from the socket or inflated from a few compressed ones
//! (a zlib bomb is a long stream read at the session's pace, never a buffer); a corrupt stream
//! ends the connection, a failed compressor only ends compression.

use crate::codec::mccp;
use crate::codec::telnet::{self, TelnetEngine, TelnetEvent};
use crate::portal::output::Output;
use crate::portal::slots::{Slot, Slots};
use std::sync::Arc;

/// Most plain bytes one [`Mccp::step`] hands the telnet engine: one read's worth, whether
/// it came from the socket or from the inflater.
pub const STEP: usize = 4096;

/// One session's compression state, both ways.
pub struct Mccp {
    /// MCCP2: output is compressed from the moment this is set; the slot is its place in
    /// the portal's compression budget.
    compress: Option<(mccp::Compressor, Slot<()>)>,
    /// MCCP3: input is inflated while this is set.
    inflate: Option<mccp::Decompressor>,
    /// The inflater stopped at a step's bound and may hold more plain bytes.
    inflating_more: bool,
    /// Socket bytes not yet handled (at most one read's).
    input: Vec<u8>,
    /// Compressors across the portal (each holds about
    /// [`mccp::Compressor::memory_estimate`] bytes).
    budget: Arc<Slots<()>>,
}

impl Mccp {
    /// No compression yet, drawing on `budget` when the client asks for MCCP2.
    pub fn new(budget: Arc<Slots<()>>) -> Self {
        Mccp {
            compress: None,
            inflate: None,
            inflating_more: false,
            input: Vec::new(),
            budget,
        }
    }

    /// Whether output is compressed.
    pub fn compressing(&self) -> bool {
        self.compress.is_some()
    }

    /// Hands pending output to the writer, compressed when MCCP2 is on.
    pub fn flush(&mut self, out: &mut Vec<u8>, output: &mut Output) {
        let chunk = std::mem::take(out);
        if chunk.is_empty() {
            return;
        }
        if let Some((c, _)) = &mut self.compress {
            let mut packed = Vec::with_capacity(chunk.len() / 2 + 16);
            match c.compress(&chunk, &mut packed) {
                Ok(()) => {
                    output.push(packed);
                    return;
                }
                Err(e) => {
                    // A compression error ends compression, not the connection.
                    tracing::warn!(error = %e, "mccp2 compression failed; sending uncompressed");
                    self.compress = None;
                }
            }
        }
        output.push(chunk);
    }

    /// MCCP2 on: the start marker goes out uncompressed, everything after it compressed. With
    /// the budget spent, the option is turned off again instead.
    pub fn start_output(
        &mut self,
        engine: &mut TelnetEngine,
        out: &mut Vec<u8>,
        output: &mut Output,
    ) {
        if self.compress.is_some() {
            return;
        }
        let Ok(slot) = self.budget.take(()) else {
            tracing::info!(
                max = self.budget.max_total(),
                "mccp2 refused: compression budget in use"
            );
            engine.request_local(telnet::MCCP2, false, out);
            return;
        };
        self.flush(out, output);
        telnet::encode_subnegotiation(telnet::MCCP2, &[], out);
        self.flush(out, output);
        self.compress = Some((mccp::Compressor::new(), slot));
        tracing::info!("mccp2 compression started");
    }

    /// MCCP2 off: ends the zlib stream cleanly, then plain output again.
    pub fn stop_output(&mut self, out: &mut Vec<u8>, output: &mut Output) {
        let Some((mut c, _slot)) = self.compress.take() else {
            return;
        };
        let pending = std::mem::take(out);
        let mut packed = Vec::new();
        if c.compress(&pending, &mut packed).is_ok() && c.finish(&mut packed).is_ok() {
            output.push(packed);
            return;
        }
        output.push(pending);
    }

    /// Takes bytes read from the socket. They are handled by [`Mccp::step`], one bounded
    /// step at a time; the caller reads again only once [`Mccp::has_input`] is false, so at
    /// most one read's bytes wait here.
    pub fn push_input(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Whether input is waiting for [`Mccp::step`]: socket bytes not handled yet, or plain
    /// bytes the inflater holds beyond the last step's bound.
    pub fn has_input(&self) -> bool {
        !self.input.is_empty() || self.inflating_more
    }

    /// Runs at most [`STEP`] plain bytes through the telnet engine: socket bytes as they
    /// are, or what MCCP3 inflates them to. Returns how many plain bytes the engine read (for
    /// the session's input meter). `Err` (why) when the compressed input is corrupt: the
    /// connection must close.
    pub fn step(
        &mut self,
        engine: &mut TelnetEngine,
        out: &mut Vec<u8>,
        events: &mut Vec<TelnetEvent>,
    ) -> Result<usize, String> {
        let Some(d) = &mut self.inflate else {
            let n = self.input.len().min(STEP);
            let before = events.len();
            let used = engine.feed(&self.input[..n], out, events).min(n);
            self.input.drain(..used);
            if events[before..].contains(&TelnetEvent::CompressionStart) {
                tracing::info!("mccp3 compression started by the client");
                self.inflate = Some(mccp::Decompressor::new(STEP));
            }
            return Ok(used);
        };
        if d.bytes_in() == 0 && !self.inflating_more && !zlib_header(&self.input) {
            if self.input.is_empty() {
                return Ok(0);
            }
            // The stream has not begun and this is not its first bytes: the client
            // (telnetlib3 does this) sent plain telnet after announcing MCCP3. Read the plain
            // part as plain; the stream begins where a zlib header follows a complete telnet
            // unit, in this read or a later one.
            tracing::info!("plain input after the mccp3 start marker; read as plain");
            let split = zlib_start(&self.input).unwrap_or(self.input.len());
            feed_all(engine, &self.input[..split], out, events);
            self.input.drain(..split);
            return Ok(split);
        }
        let mut plain = Vec::new();
        let progress = match d.inflate_some(&self.input, &mut plain, STEP) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "corrupt mccp3 input; disconnecting");
                return Err(e.to_string());
            }
        };
        self.input.drain(..progress.consumed.min(self.input.len()));
        self.inflating_more = progress.more;
        if progress.ended {
            // The rest is plain (and may start compression again).
            tracing::debug!("mccp3 stream ended by the client");
            self.inflate = None;
        }
        // Inflated bytes are plain telnet. A start marker inside an already compressed
        // stream means nothing more: keep feeding past it.
        feed_all(engine, &plain, out, events);
        Ok(plain.len())
    }
}

/// Feeds all of `bytes` to the engine, past any compression start marker.
fn feed_all(
    engine: &mut TelnetEngine,
    bytes: &[u8],
    out: &mut Vec<u8>,
    events: &mut Vec<TelnetEvent>,
) {
    let mut at = 0;
    while at < bytes.len() {
        at += engine.feed(&bytes[at..], out, events);
    }
}

/// Whether `bytes` can start a zlib stream (RFC 1950: CMF says deflate with a window up to
/// 32 KiB, and CMF·256 + FLG is a multiple of 31). With one byte only the CMF is checked.
fn zlib_header(bytes: &[u8]) -> bool {
    match bytes {
        [cmf, flg, ..] => {
            cmf & 0x0F == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0
        }
        [cmf] => cmf & 0x0F == 8 && cmf >> 4 <= 7,
        [] => false,
    }
}

/// Where a zlib stream begins in `bytes` that start with plain telnet: the first zlib header
/// right after a complete telnet unit (a subnegotiation's IAC SE, a negotiation command, or a
/// line end).
fn zlib_start(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        let next = match bytes[i..] {
            [telnet::IAC, telnet::SE, ..] => i + 2,
            [telnet::IAC, cmd, _, ..] if (telnet::WILL..=telnet::DONT).contains(&cmd) => i + 3,
            [b'\n', ..] => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        if next < bytes.len() && zlib_header(&bytes[next..]) {
            return Some(next);
        }
        i = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zlib_stream_is_found_after_a_complete_telnet_unit() {
        let mut z = Vec::new();
        let mut c = mccp::Compressor::new();
        c.compress(b"look\r\n", &mut z).unwrap();
        assert!(zlib_header(&z));
        let mut input = b"say hi\r\n".to_vec();
        input.extend_from_slice(&z);
        assert_eq!(zlib_start(&input), Some(8));
        assert_eq!(zlib_start(b"plain text only\r\n"), None);
    }
}
