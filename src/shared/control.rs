//! The control socket: how `portcullis reload|stop|status` (and `accounts delete`) talk to a
//! running portal.
//!
//! A Unix socket `control.sock` in the data directory. The client writes one JSON request line,
//! the portal answers with one JSON response line and closes. Only the local user who can open
//! the socket file (mode 0600) can use it. Requests and responses are bounded in size.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Longest request or response line accepted, in bytes.
pub const MAX_LINE: u64 = 4 * 1024 * 1024;

/// What the CLI asks of the portal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum ControlRequest {
    /// Listeners, server and sessions.
    Status,
    /// Restart the server, keeping every connection; answered when the new server is synced.
    Reload,
    /// Tell every player, close every connection, stop the server and the portal.
    Stop,
    /// The CLI deleted this account from the database: log it out everywhere (its sessions are
    /// told and disconnected) and refuse it to SSH clients that authenticated before.
    AccountDeleted { account_id: i64, name: String },
}

/// What the portal answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum ControlResponse {
    /// Answer to `status`.
    Status(StatusReport),
    /// The new server is synced; `millis` from the request to that moment. `notes` says what
    /// else was reloaded (the TLS certificate) or refused.
    Reloaded {
        millis: u64,
        #[serde(default)]
        notes: Vec<String>,
    },
    /// The portal is stopping.
    Stopping,
    /// Answer to `account_deleted`: how many of the portal's sessions were logged in as it
    /// (sessions only authenticated over SSH, not yet started, are refused as well).
    LoggedOut { sessions: usize },
    /// The request failed.
    Error { message: String },
}

/// Everything `portcullis status` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The portal's process id.
    pub portal_pid: u32,
    /// Seconds since the portal started.
    pub portal_uptime_secs: f64,
    /// Front ends listening.
    pub listeners: Vec<ListenerInfo>,
    /// The linked server, if one is connected.
    pub server: Option<ServerInfo>,
    /// One entry per session.
    pub sessions: Vec<SessionInfo>,
}

/// One listening front end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListenerInfo {
    /// Protocol key, e.g. `telnet`.
    pub protocol: String,
    /// Address actually bound.
    pub addr: String,
}

/// The linked server process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Its process id.
    pub pid: u32,
    /// Seconds since it linked.
    pub uptime_secs: f64,
    /// Whether it has finished syncing.
    pub synced: bool,
}

/// One session, as `status` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Session id.
    pub id: u64,
    /// Protocol key.
    pub protocol: String,
    /// Peer address.
    pub address: String,
    /// Logged-in account, if any.
    pub account: Option<String>,
    /// Seconds since the last visible command.
    pub idle_secs: f64,
    /// In gateway mode, the session's leg to the game: `connected`, `reconnecting N` …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

/// What can go wrong talking to the portal.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing listens on the socket.
    #[error("no running portal (cannot connect to {path}: {cause})")]
    NoPortal {
        /// The socket path tried.
        path: String,
        /// Why it failed.
        cause: std::io::Error,
    },
    /// The socket failed mid-way.
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    /// The answer was not understood.
    #[error("bad answer from portal: {0}")]
    Decode(#[from] serde_json::Error),
    /// No answer in time.
    #[error("the portal did not answer within {0:?}")]
    Timeout(Duration),
}

/// Sends one request to the portal listening at `socket` and waits for its answer.
pub async fn request(
    socket: &Path,
    req: &ControlRequest,
    timeout: Duration,
) -> Result<ControlResponse, ControlError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|cause| ControlError::NoPortal {
            path: socket.display().to_string(),
            cause,
        })?;
    let work = async {
        let (r, mut w) = stream.into_split();
        let mut line = serde_json::to_vec(req)?;
        line.push(b'\n');
        w.write_all(&line).await?;
        let mut answer = String::new();
        BufReader::new(r.take(MAX_LINE))
            .read_line(&mut answer)
            .await?;
        Ok::<_, ControlError>(serde_json::from_str(&answer)?)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ControlError::Timeout(timeout))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        assert_eq!(
            serde_json::to_string(&ControlRequest::Reload).unwrap(),
            r#"{"command":"reload"}"#
        );
        assert_eq!(
            serde_json::to_string(&ControlResponse::Reloaded {
                millis: 5,
                notes: vec![]
            })
            .unwrap(),
            r#"{"result":"reloaded","millis":5,"notes":[]}"#
        );
    }
}
