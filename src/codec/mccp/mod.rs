//! MCCP compression layer: the zlib streams behind MCCP2 (telnet option 86, server→client)
//! and MCCP3 (telnet option 87, client→server).
//!
//! This module owns only the byte transformation. It knows nothing of telnet negotiation and
//! does no I/O (sans-IO): the telnet engine decides *when* a stream starts and ends and writes or
//! recognises the `IAC SB 86 IAC SE` / `IAC SB 87 IAC SE` markers itself, outside the streams.
//!
//! * [`Compressor`] (MCCP2): after the caller has written `IAC SB 86 IAC SE` uncompressed, every
//!   later output chunk goes through [`Compressor::compress`], which emits a zlib (RFC 1950)
//!   stream and sync-flushes after each chunk (`Z_SYNC_FLUSH`), so the client can inflate and
//!   show everything handed to `compress` without waiting for later data.
//!   [`Compressor::finish`] ends the stream (`Z_FINISH`); the caller then writes uncompressed.
//! * [`Decompressor`] (MCCP3): after the client's `IAC SB 87 IAC SE`, every following input byte
//!   belongs to a zlib stream. [`Decompressor::decompress`] inflates it and, when the stream ends
//!   (`Z_STREAM_END`), reports through [`Inflated::End`] how many bytes of the input followed the
//!   end; those are plain telnet input again.
//!
//! Invariants:
//! * Bytes appended to a caller's `out` are never removed or rewritten; each call only appends.
//! * A `Compressor` that returned an error, and a `Decompressor` that returned an error, is
//!   poisoned: every later call fails with the same error and the caller must drop the stream
//!   (in practice, the connection), since the peer's zlib state can no longer be matched.
//! * One `decompress` call appends at most `max_output_per_call` bytes to `out`, whatever the
//!   input (a zlib bomb yields [`MccpError::TooMuch`], never unbounded growth). Scratch memory
//!   per call is a fixed-size stack buffer.
//! * After a stream has ended, a `Decompressor` consumes nothing: it reports
//!   `Inflated::End { rest: input.len() }` for any further input, i.e. "all of it is plain".
//! * No panics, no `unsafe`; the only dependency is `flate2` (miniz_oxide backend).

use std::fmt;

use flate2::{
    Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status as ZStatus,
};

/// Default compression level (zlib's `Z_DEFAULT_COMPRESSION` maps to 6).
const DEFAULT_LEVEL: u32 = 6;
/// Highest level the miniz_oxide backend accepts as an ordinary zlib level.
const MAX_LEVEL: u32 = 9;
/// Minimum spare capacity handed to the deflater per call.
const OUT_SLACK: usize = 64;
/// Most spare capacity reserved in `out` at once while compressing.
const OUT_STEP_MAX: usize = 64 * 1024;
/// Size of the stack scratch buffer used while inflating.
const INFLATE_CHUNK: usize = 8 * 1024;

/// Errors of the MCCP layer. On any of them the stream is unusable and the caller should drop
/// the connection (or at least stop using this compressor / decompressor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MccpError {
    /// The peer's zlib stream is malformed (bad header, invalid block, checksum mismatch, a
    /// preset dictionary request, ...).
    Corrupt(String),
    /// One `decompress` call would have produced more than `limit` bytes (likely a zlib bomb).
    TooMuch {
        /// The configured `max_output_per_call`.
        limit: usize,
    },
    /// The local zlib engine failed (compressor side; should not happen in practice).
    Io(String),
}

impl fmt::Display for MccpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MccpError::Corrupt(why) => write!(f, "corrupt MCCP stream: {why}"),
            MccpError::TooMuch { limit } => write!(
                f,
                "MCCP stream inflates to more than {limit} bytes in one call"
            ),
            MccpError::Io(why) => write!(f, "MCCP compression failed: {why}"),
        }
    }
}

impl std::error::Error for MccpError {}

/// Server→client compression (MCCP2). The caller writes `IAC SB 86 IAC SE` uncompressed, then
/// passes every later output chunk through [`compress`](Self::compress).
pub struct Compressor {
    z: Compress,
    level: u32,
    failed: Option<MccpError>,
}

impl Compressor {
    /// A compressor producing a zlib (RFC 1950) stream at the default level (6).
    pub fn new() -> Self {
        Self::with_level(DEFAULT_LEVEL)
    }

    /// A compressor at `level` (0 = stored only, 1 = fastest … 9 = best); values above 9 are
    /// clamped to 9.
    pub fn with_level(level: u32) -> Self {
        let level = level.min(MAX_LEVEL);
        Compressor {
            z: Compress::new(Compression::new(level), true),
            level,
            failed: None,
        }
    }

    /// Compresses `input`, appending to `out`, and sync-flushes (`Z_SYNC_FLUSH`) so the client
    /// can inflate and show all of `input` at once.
    ///
    /// An empty `input` appends nothing: everything before it was already flushed.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), MccpError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if input.is_empty() {
            return Ok(());
        }
        let result = self.run(input, out, FlushCompress::Sync);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result.map(|_| ())
    }

    /// Ends the stream cleanly (`Z_FINISH`): appends the final block and the adler-32 trailer.
    /// Afterwards the caller writes uncompressed (e.g. after the client's `DONT MCCP2`, or when
    /// the server stops compressing).
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), MccpError> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        match self.run(&[], out, FlushCompress::Finish)? {
            ZStatus::StreamEnd => Ok(()),
            _ => Err(MccpError::Io("zlib stream did not end on finish".into())),
        }
    }

    /// Drives the deflater until `input` is consumed and the requested flush is complete.
    /// Returns the last status (`StreamEnd` once a finish completed).
    fn run(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        flush: FlushCompress,
    ) -> Result<ZStatus, MccpError> {
        let mut pos = 0usize;
        loop {
            let rest_in = input.get(pos..).unwrap_or_default();
            let remaining = rest_in.len();
            let want = remaining.min(OUT_STEP_MAX) + OUT_SLACK;
            if out.capacity() - out.len() < want {
                out.reserve(want);
            }
            let in_before = self.z.total_in();
            let out_before = out.len();
            let status = self
                .z
                .compress_vec(rest_in, out, flush)
                .map_err(|e| MccpError::Io(e.to_string()))?;
            let consumed = usize::try_from(self.z.total_in() - in_before)
                .map_err(|_| MccpError::Io("deflate consumed an impossible amount".into()))?;
            pos += consumed;
            let produced = out.len() - out_before;
            let out_full = out.len() == out.capacity();
            if status == ZStatus::StreamEnd {
                return Ok(status);
            }
            // The flush is complete once all input is in and the deflater stopped with room left.
            if pos >= input.len() && !out_full && !matches!(flush, FlushCompress::Finish) {
                return Ok(status);
            }
            if consumed == 0 && produced == 0 && !out_full {
                return Err(MccpError::Io("deflate made no progress".into()));
            }
        }
    }

    /// Approximate bytes of memory one compressor holds, for the caller's accounting.
    ///
    /// miniz_oxide (flate2's default backend) allocates a fixed state whatever the level: the
    /// 32 KiB sliding window plus match lookahead (~32.3 KiB), two `u16` hash-chain tables of
    /// 32 Ki entries (128 KiB), a 64 KiB LZ code buffer, an ~83 KiB output staging buffer and
    /// ~4 KiB of Huffman tables: about 312 KiB, rounded up here to 320 KiB. (C zlib at level 6
    /// with default `windowBits`/`memLevel` uses ~256 KiB.)
    pub fn memory_estimate() -> usize {
        320 * 1024
    }

    /// Uncompressed bytes accepted so far.
    pub fn bytes_in(&self) -> u64 {
        self.z.total_in()
    }

    /// Compressed bytes produced so far (including sync-flush markers and the zlib header).
    pub fn bytes_out(&self) -> u64 {
        self.z.total_out()
    }
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("level", &self.level)
            .field("bytes_in", &self.bytes_in())
            .field("bytes_out", &self.bytes_out())
            .field("failed", &self.failed)
            .finish()
    }
}

/// How far one [`Decompressor::inflate_some`] call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input consumed; the rest is the caller's to give again (or, once the
    /// stream ended, plain input that followed it).
    pub consumed: usize,
    /// The zlib stream ended.
    pub ended: bool,
    /// The call stopped at its output bound: more plain bytes may come even without more
    /// input.
    pub more: bool,
}

/// What a successful [`Decompressor::decompress`] call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inflated {
    /// All of the input was consumed and the zlib stream goes on.
    Data,
    /// The zlib stream ended (`Z_STREAM_END`). The last `rest` bytes of the input followed the
    /// end and were not consumed: the caller must process `input[input.len() - rest..]` as plain
    /// telnet input. Once ended, every later call reports `End { rest: input.len() }`.
    End {
        /// Count of trailing, unconsumed (plain) bytes of this call's input.
        rest: usize,
    },
}

#[derive(Debug)]
enum InflateState {
    Active,
    Ended,
    Failed(MccpError),
}

/// Client→server decompression (MCCP3): after the client's `IAC SB 87 IAC SE`, every following
/// input byte is part of a zlib stream.
///
/// Bound: one [`decompress`](Self::decompress) call appends at most `max_output_per_call` bytes
/// to `out`. If the input of one call would inflate to more than that, the call fails with
/// [`MccpError::TooMuch`] (having appended at most the limit) and the decompressor is poisoned;
/// the caller then drops the connection. Choose the limit from the largest read the caller
/// feeds at once: deflate expands at most ~1032:1, so e.g. 4 KiB reads with a 5 MiB limit can
/// never trip it legitimately, while a bomb is cut off after at most the limit.
pub struct Decompressor {
    z: Decompress,
    max_output_per_call: usize,
    state: InflateState,
}

impl Decompressor {
    /// A decompressor for a zlib (RFC 1950) stream, appending at most `max_output_per_call`
    /// bytes per call (a value of 0 is treated as 1).
    pub fn new(max_output_per_call: usize) -> Self {
        Decompressor {
            z: Decompress::new(true),
            max_output_per_call: max_output_per_call.max(1),
            state: InflateState::Active,
        }
    }

    /// Inflates `input`, appending plain bytes to `out`.
    ///
    /// * `Ok(Inflated::Data)`: all of `input` was consumed; the stream continues.
    /// * `Ok(Inflated::End { rest })`: the stream ended; the last `rest` bytes of `input` are
    ///   plain input for the caller. Further calls return `End { rest: input.len() }`.
    /// * `Err(Corrupt)`: malformed stream. `Err(TooMuch)`: this call would append more than
    ///   `max_output_per_call` bytes. After either, the decompressor is poisoned and every
    ///   later call returns the same error.
    ///
    /// An empty `input` is fine (it may still drain nothing; it never fails on its own).
    pub fn decompress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Inflated, MccpError> {
        match &self.state {
            InflateState::Active => {}
            InflateState::Ended => return Ok(Inflated::End { rest: input.len() }),
            InflateState::Failed(err) => return Err(err.clone()),
        }
        match self.inflate(input, out) {
            Ok(result) => {
                if let Inflated::End { .. } = result {
                    self.state = InflateState::Ended;
                }
                Ok(result)
            }
            Err(err) => {
                self.state = InflateState::Failed(err.clone());
                Err(err)
            }
        }
    }

    fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Inflated, MccpError> {
        // One byte past the bound tells a bomb from a stream that fills it exactly.
        let before = out.len();
        let limit = self.max_output_per_call;
        let p = self.inflate_bounded(input, out, limit.saturating_add(1))?;
        if out.len() - before > limit {
            out.truncate(before + limit);
            return Err(MccpError::TooMuch { limit });
        }
        Ok(if p.ended {
            Inflated::End {
                rest: input.len() - p.consumed,
            }
        } else {
            Inflated::Data
        })
    }

    /// Inflates from `input` until `out` has grown by `max_out` bytes, the input is used up
    /// or the stream ends, whichever comes first: the caller decides how much plain input it
    /// handles at a time, and what is left stays in `input` (and in the inflater) for the
    /// next call. A zlib bomb is then just a long stream, handled at the caller's pace.
    ///
    /// After an error the decompressor is poisoned, as with [`decompress`](Self::decompress).
    pub fn inflate_some(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<Progress, MccpError> {
        match &self.state {
            InflateState::Active => {}
            InflateState::Ended => {
                return Ok(Progress {
                    consumed: 0,
                    ended: true,
                    more: false,
                });
            }
            InflateState::Failed(err) => return Err(err.clone()),
        }
        let result = self.inflate_bounded(input, out, max_out);
        match &result {
            Ok(p) if p.ended => self.state = InflateState::Ended,
            Ok(_) => {}
            Err(err) => self.state = InflateState::Failed(err.clone()),
        }
        result
    }

    fn inflate_bounded(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<Progress, MccpError> {
        let mut buf = [0u8; INFLATE_CHUNK];
        let mut pos = 0usize;
        let mut produced_total = 0usize;
        loop {
            let room = max_out.saturating_sub(produced_total).min(INFLATE_CHUNK);
            if room == 0 {
                return Ok(Progress {
                    consumed: pos,
                    ended: false,
                    more: true,
                });
            }
            let in_before = self.z.total_in();
            let out_before = self.z.total_out();
            let rest_in = input.get(pos..).unwrap_or_default();
            let status = self
                .z
                .decompress(rest_in, &mut buf[..room], FlushDecompress::None)
                .map_err(|e| MccpError::Corrupt(e.to_string()))?;
            let consumed = usize::try_from(self.z.total_in() - in_before)
                .map_err(|_| MccpError::Corrupt("inflate consumed an impossible amount".into()))?;
            let produced = usize::try_from(self.z.total_out() - out_before)
                .map_err(|_| MccpError::Corrupt("inflate produced an impossible amount".into()))?;
            pos += consumed;
            let chunk = buf
                .get(..produced)
                .ok_or_else(|| MccpError::Corrupt("inflate overran its buffer".into()))?;
            out.extend_from_slice(chunk);
            produced_total += produced;
            if status == ZStatus::StreamEnd {
                return Ok(Progress {
                    consumed: pos,
                    ended: true,
                    more: false,
                });
            }
            // With room left in `buf`, the inflater stopped for want of input: done for now.
            if pos >= input.len() && produced < room {
                return Ok(Progress {
                    consumed: pos,
                    ended: false,
                    more: false,
                });
            }
            if consumed == 0 && produced == 0 {
                return Err(MccpError::Corrupt("inflate made no progress".into()));
            }
        }
    }

    /// Compressed bytes consumed so far.
    pub fn bytes_in(&self) -> u64 {
        self.z.total_in()
    }

    /// Plain bytes produced so far.
    pub fn bytes_out(&self) -> u64 {
        self.z.total_out()
    }

    /// Approximate bytes of memory one decompressor holds, for the caller's accounting.
    ///
    /// miniz_oxide's inflate state is a 32 KiB window plus ~11 KiB of Huffman decode tables
    /// (~43 KiB); rounded up to 48 KiB. Each `decompress` call additionally uses an 8 KiB stack
    /// buffer while it runs, and `out` grows by at most `max_output_per_call`.
    pub fn memory_estimate() -> usize {
        48 * 1024
    }

    /// Whether the zlib stream has ended (`Inflated::End` was reported).
    pub fn is_ended(&self) -> bool {
        matches!(self.state, InflateState::Ended)
    }
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("max_output_per_call", &self.max_output_per_call)
            .field("state", &self.state)
            .field("bytes_in", &self.bytes_in())
            .field("bytes_out", &self.bytes_out())
            .finish()
    }
}

#[cfg(test)]
mod tests;
