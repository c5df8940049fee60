//! A text connection over any transport: its reader (telnet commands and ANSI escapes
//! stripped, bounded text kept while waiting for a match), its halves, and bounded writes.

use crate::bench::text::{TextFilter, find, tail};
use anyhow::{Context, Result, anyhow, bail};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::{Instant, timeout_at};

use super::{Io, LoginSpec, SshHandle};

/// A text connection.
pub struct Conn {
    io: Box<dyn Io>,
    pub(super) reader: TextReader,
    ssh: Option<SshHandle>,
}

/// The reading side's state: the filter and the text not yet consumed.
pub struct TextReader {
    filter: TextFilter,
    /// Text received and not yet consumed by a match.
    pub text: Vec<u8>,
    buf: Vec<u8>,
    /// Whether the peer closed the connection.
    pub closed: bool,
}

/// Text kept while waiting for a match, at most (older text is dropped).
const MAX_TEXT: usize = 1 << 20;

impl TextReader {
    fn new() -> Self {
        TextReader {
            filter: TextFilter::default(),
            text: Vec::new(),
            buf: vec![0; 16384],
            closed: false,
        }
    }

    /// Reads once (until `deadline`): `Ok(true)` when something arrived, `Ok(false)` on
    /// timeout; an error once the connection is closed.
    pub async fn read_some<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut R,
        deadline: Instant,
    ) -> Result<bool> {
        if self.closed {
            bail!("connection closed");
        }
        match timeout_at(deadline, io.read(&mut self.buf)).await {
            Err(_) => Ok(false),
            Ok(Ok(0)) => {
                self.closed = true;
                bail!("connection closed by the server")
            }
            Ok(Ok(n)) => {
                self.filter.feed(&self.buf[..n], &mut self.text);
                Ok(true)
            }
            Ok(Err(e)) => {
                self.closed = true;
                Err(e).context("read")
            }
        }
    }

    /// Waits for the first of `needles` (earliest in the text); consumes the text through it
    /// and returns its index, or `None` at the deadline.
    pub async fn expect_any<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut R,
        needles: &[&[u8]],
        deadline: Instant,
    ) -> Result<Option<usize>> {
        loop {
            let hit = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| find(&self.text, n, 0).map(|p| (p, i, n.len())))
                .min();
            if let Some((pos, i, len)) = hit {
                self.text.drain(..pos + len);
                return Ok(Some(i));
            }
            if self.text.len() > MAX_TEXT {
                let cut = self.text.len() - MAX_TEXT / 2;
                self.text.drain(..cut);
            }
            if !self.read_some(io, deadline).await? {
                return Ok(None);
            }
        }
    }
}

impl Conn {
    pub(super) fn new(io: Box<dyn Io>, ssh: Option<SshHandle>) -> Self {
        Conn {
            io,
            reader: TextReader::new(),
            ssh,
        }
    }

    /// Sends `line` and CR LF.
    pub async fn send_line(&mut self, line: &str) -> Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        write_all(&mut self.io, &bytes).await
    }

    pub async fn expect_any(
        &mut self,
        needles: &[&[u8]],
        deadline: Instant,
    ) -> Result<Option<usize>> {
        self.reader
            .expect_any(&mut self.io, needles, deadline)
            .await
    }

    /// Waits for `needle`; false at the deadline.
    pub async fn expect(&mut self, needle: &str, deadline: Instant) -> Result<bool> {
        Ok(self
            .expect_any(&[needle.as_bytes()], deadline)
            .await?
            .is_some())
    }

    /// Sends the say line for `token` and waits (up to `wait`) for its expected text.
    pub async fn probe(&mut self, spec: &LoginSpec, token: &str, wait: Duration) -> Result<bool> {
        self.send_line(&spec.say_line(token)).await?;
        self.expect(&spec.expect_text(token), Instant::now() + wait)
            .await
    }

    /// Waits for the screen: `ready` when given, else the first text and then 250 ms of
    /// quiet (at most 2 s more); proceeds after 1 s if nothing comes at all. The text read
    /// is consumed.
    pub async fn settle(&mut self, ready: &str, wait: Duration) -> Result<()> {
        let start = Instant::now();
        if !ready.is_empty() {
            if !self.expect(ready, start + wait).await? {
                bail!(
                    "no {ready:?} (the --ready-marker) within {} s; got {:?}",
                    wait.as_secs(),
                    self.tail()
                );
            }
            self.reader.text.clear();
            return Ok(());
        }
        let first = start + Duration::from_secs(1).min(wait);
        while self.reader.text.is_empty() {
            if !self.reader.read_some(&mut self.io, first).await? {
                return Ok(());
            }
        }
        let last = Instant::now() + Duration::from_secs(2);
        loop {
            let quiet = (Instant::now() + Duration::from_millis(250)).min(last);
            if !self.reader.read_some(&mut self.io, quiet).await? || Instant::now() >= last {
                break;
            }
        }
        self.reader.text.clear();
        Ok(())
    }

    /// Waits for `ready` when given (an error if it does not come), else for the first text
    /// (going on without it at the deadline). The text read is consumed.
    pub async fn first_text(&mut self, ready: &str, wait: Duration) -> Result<()> {
        let deadline = Instant::now() + wait;
        if !ready.is_empty() {
            if !self.expect(ready, deadline).await? {
                bail!(
                    "no {ready:?} (the --ready-marker) within {} s; got {:?}",
                    wait.as_secs(),
                    self.tail()
                );
            }
        } else {
            while self.reader.text.is_empty()
                && self.reader.read_some(&mut self.io, deadline).await?
            {}
        }
        self.reader.text.clear();
        Ok(())
    }

    /// The last text received, for error messages.
    pub fn tail(&self) -> String {
        tail(&self.reader.text, 160)
    }

    pub fn text_mut(&mut self) -> &mut Vec<u8> {
        &mut self.reader.text
    }

    /// Splits into a reader and a writer (the SSH connection stays with the reader).
    pub fn split(self) -> (ConnReader, WriteHalf<Box<dyn Io>>) {
        let (r, w) = tokio::io::split(self.io);
        (
            ConnReader {
                io: r,
                reader: self.reader,
                _ssh: self.ssh,
            },
            w,
        )
    }

    /// Reads and discards everything until the connection closes (or `until`); returns
    /// whether it was still open at `until`.
    pub async fn drain_until(&mut self, until: Instant) -> bool {
        loop {
            match self.reader.read_some(&mut self.io, until).await {
                Ok(true) => self.reader.text.clear(),
                Ok(false) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Closes politely (bounded).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
        if let Some(h) = self.ssh.take() {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                h.disconnect(russh::Disconnect::ByApplication, "", "en"),
            )
            .await;
        }
    }
}

/// The reading half of a split [`Conn`].
pub struct ConnReader {
    pub io: ReadHalf<Box<dyn Io>>,
    pub reader: TextReader,
    _ssh: Option<SshHandle>,
}

/// Writes and flushes (TLS needs the flush), bounded by 10 s.
pub async fn write_all<W: AsyncWrite + Unpin + ?Sized>(w: &mut W, bytes: &[u8]) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(10), async {
        w.write_all(bytes).await?;
        w.flush().await
    })
    .await
    .map_err(|_| anyhow!("write timed out (the server is not reading)"))?
    .context("write")
}
