//! The portal's end of the link: accepts server connections on the link socket, checks the
//! hello, and turns frames into [`CoreEvent`]s.
//!
//! Each accepted server gets a reader (this task) and a writer task fed by an unbounded
//! channel. The writer's queue is bounded in practice by what feeds it: player input is capped
//! per session by `limits.input_buffer_lines`, and everything else is control traffic.

use super::core::CoreEvent;
use crate::link::{self, LinkError, PortalMsg, ServerMsg};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

/// Most queued messages written to the server in one write.
const LINK_BATCH: usize = 256;

static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// Accepts servers until the listener fails.
pub async fn accept_servers(listener: UnixListener, core: mpsc::Sender<CoreEvent>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let core = core.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, core).await {
                        tracing::warn!(error = %e, "server link ended with an error");
                    }
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "link socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve(stream: UnixStream, core: mpsc::Sender<CoreEvent>) -> Result<(), LinkError> {
    let (r, w) = stream.into_split();
    let mut reader = FramedRead::new(r, link::codec());
    let mut writer = FramedWrite::new(w, link::codec());
    let first = tokio::time::timeout(link::HELLO_TIMEOUT, reader.next())
        .await
        .map_err(|_| LinkError::Handshake("no hello within the timeout".into()))?;
    let frame = first.ok_or(LinkError::Closed)??;
    let pid = match link::decode::<ServerMsg>(&frame)? {
        ServerMsg::Hello { version, pid } if version == link::VERSION => pid,
        ServerMsg::Hello { version, .. } => {
            let reason = format!(
                "link version {version} is not supported; this portal speaks {}",
                link::VERSION
            );
            let _ = writer
                .send(link::encode(&PortalMsg::Refused {
                    reason: reason.clone(),
                })?)
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
    let (tx, mut rx) = mpsc::unbounded_channel::<PortalMsg>();
    let write_task = tokio::spawn(async move {
        // Everything already queued goes out in one write (up to LINK_BATCH frames), rather
        // than one write per message.
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            let (mut last, mut n) = (false, 0);
            while let Some(msg) = next.take() {
                last = matches!(msg, PortalMsg::Refused { .. } | PortalMsg::Shutdown { .. });
                n += 1;
                match link::encode(&msg) {
                    Ok(frame) => {
                        if let Err(e) = writer.feed(frame).await {
                            tracing::warn!(error = %e, "link write failed");
                            return;
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot encode link message"),
                }
                if !last && n < LINK_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if let Err(e) = SinkExt::<bytes::Bytes>::flush(&mut writer).await {
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
        match reader.next().await {
            Some(Ok(frame)) => match link::decode::<ServerMsg>(&frame) {
                Ok(msg) => {
                    if core
                        .send(CoreEvent::LinkMsg { link_id, msg })
                        .await
                        .is_err()
                    {
                        break "portal stopping".to_string();
                    }
                }
                Err(e) => break format!("bad frame from server: {e}"),
            },
            Some(Err(e)) => break format!("link read failed: {e}"),
            None => break "server closed the link".to_string(),
        }
    };
    write_task.abort();
    let _ = core.send(CoreEvent::LinkDown { link_id, reason }).await;
    Ok(())
}
