//! The operator's requests to the core: `status`, `reload` (the server and the TLS
//! certificate), `stop`, a deleted account, and shutdown.

use super::{Core, ServerLink, ServerStatus, close};
use crate::shared::control::{
    ControlRequest, ControlResponse, ServerInfo, SessionInfo, StatusReport,
};
use crate::shared::link::PortalMsg;
use std::time::Instant;

/// What a session of a deleted account is told as it is disconnected.
pub(crate) const ACCOUNT_DELETED: &str = "Your account has been deleted.";
use tokio::sync::oneshot;

impl Core {
    pub(super) fn control(&mut self, req: ControlRequest, reply: oneshot::Sender<ControlResponse>) {
        match req {
            ControlRequest::Status => {
                let _ = reply.send(ControlResponse::Status(self.status()));
            }
            ControlRequest::Reload => {
                let notes: Vec<String> = self.reload_certs().into_iter().collect();
                if self.shutting_down.is_some() {
                    let _ = reply.send(ControlResponse::Error {
                        message: "the portal is shutting down".into(),
                    });
                    return;
                }
                match &self.link {
                    ServerLink::Up(l) => {
                        tracing::info!(pid = l.pid, "reload requested");
                        let _ = l.tx.send(PortalMsg::Reload);
                        self.reloading = true;
                        self.server_status(ServerStatus::Reloading);
                        self.reload_waiters.push((Instant::now(), reply, notes));
                    }
                    _ if self.reloading => {
                        self.reload_waiters.push((Instant::now(), reply, notes));
                    }
                    _ => {
                        let _ = reply.send(ControlResponse::Error {
                            message: "no server is linked to the portal right now".into(),
                        });
                    }
                }
            }
            ControlRequest::Stop => {
                let _ = reply.send(ControlResponse::Stopping);
                self.shutdown("stop requested");
            }
            ControlRequest::AccountDeleted { account_id, name } => {
                let _ = reply.send(self.account_deleted(account_id, &name));
            }
        }
    }

    /// The operator deleted an account. The server owns login state, so a linked server is
    /// told (it disconnects the account's sessions, those that only authenticated over SSH
    /// included); with none linked, the portal disconnects the sessions it knows are logged
    /// in as it, and a server that links later refuses the rest (it checks the accounts).
    /// Gateway sessions that authenticated over SSH as the account are not the server's:
    /// the portal disconnects those itself.
    fn account_deleted(&mut self, account_id: i64, name: &str) -> ControlResponse {
        let key = name.to_ascii_lowercase();
        let gateway: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, e)| {
                e.upstream
                    .as_ref()
                    .is_some_and(|up| up.ssh_account.as_deref() == Some(key.as_str()))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &gateway {
            if let Some(e) = self.sessions.get_mut(id) {
                close(e, ACCOUNT_DELETED.into());
            }
        }
        let ids: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.session.data.account_id == Some(account_id))
            .map(|(id, _)| *id)
            .collect();
        tracing::info!(account = %name, account_id, sessions = ids.len() + gateway.len(), "account deleted; logging it out");
        if matches!(self.link, ServerLink::Down) {
            for id in &ids {
                if let Some(e) = self.sessions.get_mut(id) {
                    close(e, ACCOUNT_DELETED.into());
                }
            }
        } else {
            self.to_server(PortalMsg::AccountDeleted { account_id });
        }
        ControlResponse::LoggedOut {
            sessions: ids.len() + gateway.len(),
        }
    }

    /// Loads the TLS certificate files again; new handshakes use them, open sessions carry on.
    /// A broken new file keeps the old certificate.
    /// Returns what happened, for the operator.
    pub(super) fn reload_certs(&self) -> Option<String> {
        let tls = self.tls.as_ref()?;
        Some(match tls.reload() {
            Ok(info) => {
                tracing::info!(
                    fingerprint = %info.fingerprint_sha256,
                    days_left = info.days_left,
                    "tls certificate reloaded"
                );
                format!(
                    "tls certificate reloaded: {} ({} days left)",
                    info.fingerprint_sha256, info.days_left
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "tls certificate not reloaded; kept the old one");
                format!("tls certificate NOT reloaded, the old one is kept: {e}")
            }
        })
    }

    pub(super) fn status(&self) -> StatusReport {
        let server = match &self.link {
            ServerLink::Down => None,
            ServerLink::Syncing(l) | ServerLink::Up(l) => Some(ServerInfo {
                pid: l.pid,
                uptime_secs: l.since.elapsed().as_secs_f64(),
                synced: self.is_up(),
            }),
        };
        let mut sessions: Vec<SessionInfo> = self
            .sessions
            .values()
            .map(|e| SessionInfo {
                id: e.session.data.id,
                protocol: e.session.data.protocol_key.to_string(),
                address: e.session.data.address.clone(),
                account: e.session.data.account_name.clone(),
                idle_secs: e.session.idle_secs(),
                upstream: e.upstream.as_ref().map(|u| u.state.to_string()),
            })
            .collect();
        sessions.sort_by_key(|s| s.id);
        StatusReport {
            portal_pid: std::process::id(),
            portal_uptime_secs: self.started.elapsed().as_secs_f64(),
            listeners: self.listeners.clone(),
            server,
            sessions,
        }
    }

    pub(super) fn shutdown(&mut self, reason: &str) {
        if self.shutting_down.is_some() {
            return;
        }
        tracing::info!(%reason, sessions = self.sessions.len(), "portal shutting down");
        self.shutting_down = Some(Instant::now());
        let _ = self.stop_tx.send(true);
        for e in self.sessions.values_mut() {
            close(e, "Portcullis is shutting down. Goodbye.".into());
        }
        self.to_server(PortalMsg::Shutdown {
            reason: reason.to_string(),
        });
        for (_, reply, _) in self.reload_waiters.drain(..) {
            let _ = reply.send(ControlResponse::Error {
                message: "the portal is shutting down".into(),
            });
        }
    }
}
