//! The portal's end of the control socket: one request line in, one response line out.

use super::core::CoreEvent;
use super::link_end::accept_unix;
use crate::shared::control::{ControlRequest, ControlResponse, MAX_LINE};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

/// How long answers already given (say, `stop`'s) may take to reach their clients once the
/// core has stopped.
const ANSWER_GRACE: Duration = Duration::from_secs(1);

/// Accepts control clients on the control socket until `done` (the core has stopped), then
/// lets the answers already given reach their clients.
pub async fn accept_control(
    listener: UnixListener,
    core: mpsc::Sender<CoreEvent>,
    done: watch::Receiver<bool>,
) {
    let mut clients = accept_unix(listener, "control", done, |stream| {
        let core = core.clone();
        async move {
            if let Err(e) = serve(stream, core).await {
                tracing::debug!(error = %e, "control client error");
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(ANSWER_GRACE, async {
        while clients.join_next().await.is_some() {}
    })
    .await;
}

async fn serve(stream: UnixStream, core: mpsc::Sender<CoreEvent>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    BufReader::new(r.take(MAX_LINE))
        .read_line(&mut line)
        .await?;
    let resp = match serde_json::from_str::<ControlRequest>(&line) {
        Ok(req) => {
            tracing::debug!(?req, "control request");
            let (reply, rx) = oneshot::channel();
            if core.send(CoreEvent::Control { req, reply }).await.is_err() {
                ControlResponse::Error {
                    message: "the portal is stopping".into(),
                }
            } else {
                rx.await.unwrap_or(ControlResponse::Error {
                    message: "the portal is stopping".into(),
                })
            }
        }
        Err(e) => ControlResponse::Error {
            message: format!("bad request: {e}"),
        },
    };
    let mut out = serde_json::to_vec(&resp).unwrap_or_default();
    out.push(b'\n');
    w.write_all(&out).await?;
    w.shutdown().await
}
