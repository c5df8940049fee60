//! The portal's end of the link: accepts server connections on the link socket, checks the
//! hello, and turns frames into [`CoreEvent`]s. Also owns [`accept_unix`], the accept loop
//! that the link and control sockets share.
//!
//! Each accepted server gets a reader (this task) and a writer task fed by a [`LinkTx`],
//! which counts the bytes waiting in the writer's queue; the core takes a server whose queue
//! passes [`LINK_QUEUE_BYTES`] for one that is not reading and replaces it.

use super::core::CoreEvent;
use crate::shared::link::{self, LinkError, PortalEnd, PortalMsg, ServerMsg};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Most queued messages written to the server in one write.
const LINK_BATCH: usize = 256;

/// How long to wait after a failed accept (say, out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// Bytes waiting for a server before the core takes it for stuck (far beyond what a server
/// that reads leaves queued: input is bounded per session, the rest is control traffic).
pub const LINK_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// The way to a linked server's writer: a queue that never blocks the core, and how many
/// bytes (about) wait in it.
#[derive(Debug, Clone)]
pub struct LinkTx {
    tx: mpsc::UnboundedSender<(PortalMsg, usize)>,
    queued: Arc<AtomicUsize>,
}

impl LinkTx {
    /// Queues `msg` for the server; `false` when the writer has gone.
    pub fn send(&self, msg: PortalMsg) -> bool {
        let weight = weight(&msg);
        self.queued.fetch_add(weight, Ordering::Relaxed);
        if self.tx.send((msg, weight)).is_err() {
            self.queued.fetch_sub(weight, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// About how many bytes wait to be written.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// About how many bytes a message takes on the link (see [`Message::approx_bytes`]).
///
/// [`Message::approx_bytes`]: crate::shared::message::Message::approx_bytes
fn weight(msg: &PortalMsg) -> usize {
    match msg {
        PortalMsg::DataIn { messages, .. } => {
            64 + messages.iter().map(|m| m.approx_bytes()).sum::<usize>()
        }
        PortalMsg::SyncAll { sessions, .. } => 64 + sessions.len() * 1024,
        _ => 256,
    }
}

/// Accepts connections on a Unix socket until `done` turns true, running `serve` for each one
/// on its own task; returns the tasks still running then (dropping them aborts them).
/// `serve` logs its own errors, so one client's failure never reaches this loop; a failed
/// accept is logged as "`what` socket accept failed" and retried after a short pause.
pub(super) async fn accept_unix<F, Fut>(
    listener: UnixListener,
    what: &'static str,
    mut done: watch::Receiver<bool>,
    mut serve: F,
) -> JoinSet<()>
where
    F: FnMut(UnixStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = done.wait_for(|d| *d) => return tasks,
        };
        // Forget the tasks that have finished, so the set holds only live ones.
        while tasks.try_join_next().is_some() {}
        match accepted {
            Ok((stream, _)) => {
                tasks.spawn(serve(stream));
            }
            Err(e) => {
                tracing::error!(error = %e, "{what} socket accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Accepts servers on the link socket until `done` (the core has stopped).
pub async fn accept_servers(
    listener: UnixListener,
    core: mpsc::Sender<CoreEvent>,
    done: watch::Receiver<bool>,
) {
    let links = accept_unix(listener, "link", done, |stream| {
        let core = core.clone();
        async move {
            if let Err(e) = serve(stream, core).await {
                tracing::warn!(error = %e, "server link ended with an error");
            }
        }
    })
    .await;
    // The core has stopped: nothing reads what a server sends any more.
    drop(links);
}

async fn serve(stream: UnixStream, core: mpsc::Sender<CoreEvent>) -> Result<(), LinkError> {
    // The kernel's word for who connected: the pid the core would kill if this server hangs
    // is the peer's own, not whatever its hello claims.
    let peer_pid = stream
        .peer_cred()
        .ok()
        .and_then(|c| c.pid())
        .and_then(|p| u32::try_from(p).ok());
    let (mut reader, mut writer) = PortalEnd::new(stream).split();
    let pid = match reader.hello().await? {
        ServerMsg::Hello { version, pid } if version == link::VERSION => match peer_pid {
            Some(peer) if peer != pid => {
                tracing::warn!(
                    claimed = pid,
                    peer,
                    "server's hello names another pid; using its own"
                );
                peer
            }
            _ => pid,
        },
        ServerMsg::Hello { version, .. } => {
            let reason = format!(
                "link version {version} is not supported; this portal speaks {}",
                link::VERSION
            );
            let _ = writer
                .send(&PortalMsg::Refused {
                    reason: reason.clone(),
                })
                .await;
            return Err(LinkError::Handshake(reason));
        }
        other => {
            return Err(LinkError::Handshake(format!(
                "expected hello, got {other:?}"
            )));
        }
    };
    let link_id = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<(PortalMsg, usize)>();
    let tx = LinkTx {
        tx,
        queued: Arc::new(AtomicUsize::new(0)),
    };
    let queued = tx.queued.clone();
    let write_task = tokio::spawn(async move {
        // Everything already queued goes out in one write (up to LINK_BATCH frames), rather
        // than one write per message.
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            let (mut last, mut n) = (false, 0);
            while let Some((msg, weight)) = next.take() {
                last = matches!(msg, PortalMsg::Refused { .. } | PortalMsg::Shutdown { .. });
                n += 1;
                let fed = writer.feed(&msg).await;
                queued.fetch_sub(weight, Ordering::Relaxed);
                match fed {
                    Ok(()) => {}
                    Err(LinkError::Io(e)) => {
                        tracing::warn!(error = %e, "link write failed");
                        return;
                    }
                    Err(e) => tracing::error!(error = %e, "cannot encode link message"),
                }
                if !last && n < LINK_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if let Err(e) = writer.flush().await {
                tracing::warn!(error = %e, "link write failed");
                break;
            }
            if last {
                break;
            }
        }
    });
    if core
        .send(CoreEvent::LinkUp { link_id, pid, tx })
        .await
        .is_err()
    {
        return Ok(());
    }
    let reason = loop {
        match reader.recv().await {
            Ok(msg) => {
                if core
                    .send(CoreEvent::LinkMsg { link_id, msg })
                    .await
                    .is_err()
                {
                    break "portal stopping".to_string();
                }
            }
            Err(LinkError::Decode(e)) => break format!("bad frame from server: {e}"),
            Err(LinkError::Closed) => break "server closed the link".to_string(),
            Err(LinkError::Io(e)) => break format!("link read failed: {e}"),
            Err(e @ LinkError::Handshake(_)) => break e.to_string(),
        }
    };
    write_task.abort();
    let _ = core.send(CoreEvent::LinkDown { link_id, reason }).await;
    Ok(())
}
