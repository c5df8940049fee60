//! A WebSocket at `/ws` with the terminal subprotocol, made a byte stream so that the same
//! text connection runs over it; or, for websockify, binary frames of the raw stream with no
//! subprotocol.

use anyhow::{Context, Result, anyhow, bail};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Io;

/// The WebSocket subprotocol that carries plain terminal text.
const TERMINAL_SUBPROTOCOL: &str = "terminal.mudstandards.org";

/// Opens a WebSocket at `/ws` with the terminal subprotocol over `stream`, and makes it a
/// byte stream: what the client writes goes out one text frame per batch of whole lines, and
/// text frames from the server come in as bytes. A task bridges the two and ends with either.
pub(super) async fn websocket_io<S>(
    addr: SocketAddr,
    stream: S,
    timeout: Duration,
    binary: bool,
) -> Result<Box<dyn Io>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .context("WebSocket request")?;
    if !binary {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            tokio_tungstenite::tungstenite::http::HeaderValue::from_static(TERMINAL_SUBPROTOCOL),
        );
    }
    let (ws, response) =
        tokio::time::timeout(timeout, tokio_tungstenite::client_async(request, stream))
            .await
            .map_err(|_| anyhow!("WebSocket handshake timed out"))?
            .context("WebSocket handshake")?;
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    if !binary && chosen != Some(TERMINAL_SUBPROTOCOL) {
        bail!("the server did not accept the {TERMINAL_SUBPROTOCOL} subprotocol");
    }
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let (mut sink, mut source) = ws.split();
        let (mut from_client, mut to_client) = tokio::io::split(theirs);
        let mut buf = vec![0u8; 16 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            tokio::select! {
                n = from_client.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        // Whole lines only: the server takes each frame as complete lines.
                        if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
                            let lines: Vec<u8> = pending.drain(..=end).collect();
                            let frame = if binary {
                                Message::binary(lines)
                            } else {
                                Message::text(String::from_utf8_lossy(&lines).into_owned())
                            };
                            if sink.send(frame).await.is_err() {
                                break;
                            }
                        }
                    }
                },
                m = source.next() => match m {
                    Some(Ok(Message::Text(t))) => {
                        if to_client.write_all(t.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Binary(b))) => {
                        if to_client.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        let _ = sink.close().await;
    });
    Ok(Box::new(ours))
}
