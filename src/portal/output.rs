//! Bounded output for one connection: a writer task that owns the write half, fed through a
//! queue whose size in bytes is tracked.
//!
//! Invariant: the connection task never holds more than `limit` bytes queued plus one batch
//! of output. When a batch pushes the queue past `limit`, the connection task stops taking
//! new output and waits for the writer to drain below `limit`; if the client accepts nothing
//! for [`STALL_TIMEOUT`] meanwhile, it is a reader that stopped reading and is disconnected.
//! A burst, or a single message bigger than `limit`, does not cut off a client that reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// How long a client may accept no output while over the limit before it is disconnected.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a closing connection waits for its last output to reach the client.
pub const FLUSH_GRACE: Duration = Duration::from_secs(2);

/// The writer side of one connection.
pub struct Output {
    tx: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Bytes handed to the writer and not yet written to the socket.
    queued: Arc<AtomicUsize>,
    /// Signalled by the writer after each write.
    drained: Arc<Notify>,
    /// Bound on `queued` before the connection waits.
    limit: usize,
    task: JoinHandle<()>,
}

impl Output {
    /// Starts the writer task on `writer`.
    pub fn start<W>(mut writer: W, limit: usize) -> Self
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let queued = Arc::new(AtomicUsize::new(0));
        let drained = Arc::new(Notify::new());
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let (q, d) = (queued.clone(), drained.clone());
        let task = tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                if writer.write_all(&chunk).await.is_err() {
                    break;
                }
                q.fetch_sub(chunk.len(), Ordering::Relaxed);
                d.notify_one();
            }
            let _ = writer.shutdown().await;
            d.notify_one();
        });
        Output {
            tx: Some(tx),
            queued,
            drained,
            limit,
            task,
        }
    }

    /// Queues bytes for the client.
    pub fn push(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        if let Some(tx) = &self.tx {
            self.queued.fetch_add(bytes.len(), Ordering::Relaxed);
            let _ = tx.send(bytes);
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// The configured bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether the writer has stopped (the socket failed).
    pub fn is_closed(&self) -> bool {
        self.task.is_finished()
    }

    /// If over the limit, waits for the writer to drain below it. False when the client
    /// accepted nothing for [`STALL_TIMEOUT`] (or the socket failed): disconnect it.
    pub async fn wait_below_limit(&self) -> bool {
        if self.queued() <= self.limit {
            return true;
        }
        let wait = async {
            while self.queued() > self.limit && !self.task.is_finished() {
                let before = self.queued();
                match tokio::time::timeout(STALL_TIMEOUT, self.drained.notified()).await {
                    Ok(()) => {}
                    Err(_) if self.queued() >= before => return false,
                    Err(_) => {}
                }
            }
            !self.task.is_finished()
        };
        wait.await
    }

    /// Closes the queue and lets what is queued reach the client, within [`FLUSH_GRACE`].
    pub async fn finish(mut self) {
        self.tx = None;
        if !self.task.is_finished() {
            let _ = tokio::time::timeout(FLUSH_GRACE, &mut self.task).await;
        }
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_reading_client_is_never_over_the_limit_for_long() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut out = Output::start(a, 4096);
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = [0u8; 4096];
            while total < 100_000 {
                total += b.read(&mut buf).await.unwrap();
            }
            total
        });
        // One message far bigger than the limit, then a burst.
        out.push(vec![b'x'; 50_000]);
        assert!(out.wait_below_limit().await);
        for _ in 0..50 {
            out.push(vec![b'y'; 1000]);
        }
        assert!(out.wait_below_limit().await);
        assert_eq!(reader.await.unwrap(), 100_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_reported() {
        let (a, _b) = tokio::io::duplex(1024);
        let mut out = Output::start(a, 4096);
        out.push(vec![b'x'; 10_000]);
        assert!(!out.wait_below_limit().await);
    }
}
