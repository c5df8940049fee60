//! The core's side of the server link: a server linking (hello, `sync_all`), syncing, going
//! away, and what it sends ([`ServerMsg`]); held input and authentication requests sent again
//! to the next server.

use super::{Core, LinkInfo, ServerLink, ServerStatus, ToSession, close, send_or_close};
use crate::portal::core::AuthAnswer;
use crate::portal::link_end::{LINK_QUEUE_BYTES, LinkTx};
use crate::shared::control::ControlResponse;
use crate::shared::link::{PortalMsg, ServerMsg, SyncReason, VERSION};
use crate::shared::message::Message;
use crate::shared::session::SessionId;
use std::time::{Duration, Instant};

impl Core {
    pub(super) fn link_id(&self) -> Option<u64> {
        match &self.link {
            ServerLink::Down => None,
            ServerLink::Syncing(l) | ServerLink::Up(l) => Some(l.link_id),
        }
    }

    pub(super) fn is_up(&self) -> bool {
        matches!(self.link, ServerLink::Up(_))
    }

    pub(super) fn link_up(&mut self, link_id: u64, pid: u32, tx: LinkTx) {
        if self.shutting_down.is_some() {
            let _ = tx.send(PortalMsg::Shutdown {
                reason: "the portal is shutting down".into(),
            });
            return;
        }
        if !matches!(self.link, ServerLink::Down) {
            tracing::warn!(pid, "a second server tried to link; refused");
            let _ = tx.send(PortalMsg::Refused {
                reason: "another server is already linked to this portal".into(),
            });
            return;
        }
        let reason = if self.reloading {
            SyncReason::Reload
        } else if self.had_server {
            SyncReason::Restart
        } else {
            SyncReason::Start
        };
        self.had_server = true;
        // Sessions attached to an upstream game are not the server's.
        let sessions = self
            .sessions
            .values()
            .filter(|e| e.upstream.is_none())
            .map(|e| e.session.get_sync_data())
            .collect::<Vec<_>>();
        tracing::info!(
            pid,
            sessions = sessions.len(),
            ?reason,
            "server linked; syncing"
        );
        let _ = tx.send(PortalMsg::Hello {
            version: VERSION,
            pid: std::process::id(),
            listeners: self.listeners.clone(),
        });
        let parts = crate::shared::link::sync_parts(sessions);
        let count = parts.len();
        for (i, sessions) in parts.into_iter().enumerate() {
            let last = i + 1 == count;
            let _ = tx.send(PortalMsg::SyncAll {
                reason,
                sessions,
                last,
            });
        }
        let now = Instant::now();
        self.link = ServerLink::Syncing(LinkInfo {
            link_id,
            pid,
            since: now,
            tx,
            heard: now,
            pinged: (now, 0),
        });
    }

    pub(super) fn link_down(&mut self, link_id: u64, reason: &str) {
        if self.link_id() != Some(link_id) {
            return;
        }
        self.link = ServerLink::Down;
        if self.shutting_down.is_some() {
            tracing::info!("server link closed");
            return;
        }
        if self.reloading {
            tracing::info!("server exited for reload");
            return;
        }
        tracing::warn!(%reason, "server link lost; input is held until a server links again");
        self.server_status(ServerStatus::Down);
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.upstream.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.notice(
                id,
                "|yThe server went away; it is being restarted. What you type is kept.|n",
            );
        }
    }

    pub(super) fn server_msg(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Hello { .. } => {
                tracing::warn!("unexpected second hello from server; ignored");
            }
            ServerMsg::Synced { sessions } => self.synced(sessions),
            // Hearing from the server at all is what counts (see `check_server`).
            ServerMsg::Pong { .. } => {}
            ServerMsg::DataOut { id, messages } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    send_or_close(e, ToSession::DataOut(messages));
                }
            }
            ServerMsg::Ack { id, seq } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    while e.pending.front().is_some_and(|(s, _)| *s <= seq) {
                        if let Some((_, held)) = e.pending.pop_front() {
                            e.pending_bytes = e.pending_bytes.saturating_sub(held.weight());
                        }
                    }
                }
            }
            ServerMsg::Login {
                id,
                account_id,
                account_name,
            } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    tracing::info!(session = id, account = %account_name, "logged in");
                    let d = &mut e.session.data;
                    d.account_id = Some(account_id);
                    d.account_name = Some(account_name);
                    d.logged_in = true;
                }
                self.count_players();
            }
            ServerMsg::Logout { id } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    let d = &mut e.session.data;
                    d.account_id = None;
                    d.account_name = None;
                    d.logged_in = false;
                }
                self.count_players();
            }
            ServerMsg::SetFlags { id, flags } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.session.update_flags(&flags);
                    send_or_close(e, ToSession::SetFlags(flags));
                }
            }
            ServerMsg::ServerData { id, data } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.session.data.server_data = data;
                }
            }
            ServerMsg::AuthResult {
                id,
                req,
                accepted,
                reason,
            } => {
                if let Some(p) = self.pending_auth.remove(&req)
                    && p.id == id
                {
                    if accepted
                        && let Some(up) =
                            self.sessions.get_mut(&id).and_then(|e| e.upstream.as_mut())
                    {
                        up.ssh_account = Some(p.username.to_ascii_lowercase());
                    }
                    let _ = p.reply.send(AuthAnswer { accepted, reason });
                }
            }
            ServerMsg::ExitStatus { id, code } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    send_or_close(e, ToSession::ExitStatus(code));
                }
            }
            ServerMsg::Disconnect { id, reason } => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    close(e, reason);
                }
            }
        }
    }

    pub(super) fn synced(&mut self, count: usize) {
        let ServerLink::Syncing(info) = std::mem::replace(&mut self.link, ServerLink::Down) else {
            tracing::warn!("synced from a server that was not syncing; ignored");
            return;
        };
        let tx = info.tx.clone();
        self.link = ServerLink::Up(info);
        let mut resent = 0usize;
        for (id, e) in &self.sessions {
            for (seq, held) in &e.pending {
                let _ = tx.send(held.to_msg(*id, *seq));
                resent += 1;
            }
        }
        for (req, p) in &self.pending_auth {
            let _ = tx.send(PortalMsg::Auth {
                id: p.id,
                req: *req,
                username: p.username.clone(),
                method: p.method.clone(),
                address: p.address.clone(),
            });
        }
        tracing::info!(sessions = count, resent, "server synced");
        self.server_status(ServerStatus::Running);
        if self.reloading {
            self.reloading = false;
            for (start, reply, notes) in self.reload_waiters.drain(..) {
                let millis = start.elapsed().as_millis() as u64;
                tracing::info!(millis, "reload complete");
                let _ = reply.send(ControlResponse::Reloaded { millis, notes });
            }
        }
    }

    /// Pings a linked server every quarter of the heartbeat timeout, and kills one that has
    /// not answered within it, has not synced within it, or does not read its link: the
    /// supervisor (or systemd) starts a new one, which gets the held input.
    pub(super) fn check_server(&mut self) {
        let timeout = self.heartbeat;
        let every = (timeout / 4).max(Duration::from_secs(1));
        let stuck = match &mut self.link {
            ServerLink::Down => None,
            ServerLink::Syncing(l) if l.since.elapsed() > timeout => {
                Some(format!("not synced after {} s", timeout.as_secs()))
            }
            ServerLink::Up(l) | ServerLink::Syncing(l) => {
                if l.heard.elapsed() > timeout {
                    Some(format!("no answer for {} s", timeout.as_secs()))
                } else if l.tx.queued() > LINK_QUEUE_BYTES {
                    Some(format!(
                        "not reading its link ({} bytes waiting)",
                        l.tx.queued()
                    ))
                } else {
                    if l.pinged.0.elapsed() >= every {
                        l.pinged = (Instant::now(), l.pinged.1 + 1);
                        l.tx.send(PortalMsg::Ping { n: l.pinged.1 });
                    }
                    None
                }
            }
        };
        if let Some(why) = stuck {
            self.server_stuck(&why);
        }
    }

    /// A linked server stopped working: kill it and carry on as when a server crashes.
    fn server_stuck(&mut self, why: &str) {
        let (ServerLink::Up(l) | ServerLink::Syncing(l)) = &self.link else {
            return;
        };
        let (link_id, pid) = (l.link_id, l.pid);
        tracing::error!(
            pid,
            why,
            "server not responding; killing it so that a new one starts"
        );
        let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
        if pid == 0 || pid == std::process::id() {
            tracing::error!(pid, "not a server process; not killed");
        } else if let Err(e) = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL) {
            tracing::error!(pid, error = %e, "cannot kill the server");
        }
        // A reload under way has failed; what happens next is a restart, and players hear.
        self.reloading = false;
        for (_, reply, _) in self.reload_waiters.drain(..) {
            let _ = reply.send(ControlResponse::Error {
                message: format!("the new server stopped responding ({why}); it was killed"),
            });
        }
        self.link_down(link_id, why);
    }

    pub(super) fn to_server(&self, msg: PortalMsg) {
        // Connects, disconnects and flag syncs go to a syncing server too: it applies them after
        // rebuilding from sync_all, so nothing that happens during a reload is missed. Input
        // waits for `synced`, see `data_in`.
        match &self.link {
            ServerLink::Up(l) | ServerLink::Syncing(l) => {
                let _ = l.tx.send(msg);
            }
            ServerLink::Down => {}
        }
    }

    /// Tells every session how the server is; front ends that can show it (the browser's)
    /// do, the others have text notices where there are any.
    pub(super) fn server_status(&mut self, status: ServerStatus) {
        for e in self.sessions.values_mut().filter(|e| e.upstream.is_none()) {
            send_or_close(e, ToSession::ServerStatus(status));
        }
    }

    /// A portal-made line to one player.
    pub(super) fn notice(&mut self, id: SessionId, text: &str) {
        if let Some(e) = self.sessions.get_mut(&id) {
            send_or_close(e, ToSession::DataOut(vec![Message::text(text)]));
        }
    }
}
