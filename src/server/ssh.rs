//! What the server does for SSH sessions: authentication requests (passwords checked off the
//! game loop, keys at once, both under the same login throttle as telnet `connect`), and a session's start (a shell
//! logs the authenticated account in; a command runs as it and answers its exit status).
//!
//! The account an SSH client authenticated as is kept in the session's server_data until its
//! shell or command starts, so a reload in between does not lose it.

use super::Server;
use super::jobs::{Job, Outcome};
use crate::ops::accounts::{AccountError, Admission, Ticket};
use crate::portal::repeats;
use crate::shared::link::{AuthMethod, ServerMsg, Start};
use crate::shared::message::Message;
use crate::shared::session::{SessionId, SyncData};
use std::time::Duration;

/// server_data key: the account an SSH client authenticated as.
const SSH_ACCOUNT: &str = "ssh_account";
/// server_data key: set once an SSH session's shell has started.
const SSH_SHELL: &str = "ssh_shell";
/// What a session of a deleted account is told as it is disconnected.
const ACCOUNT_DELETED: &str = "Your account has been deleted.";
/// server_data key: set on an SSH session that runs one command (logged in, but quietly).
const SSH_EXEC: &str = "ssh_exec";

/// Whether an SSH session's shell has started (it sees nothing before).
/// Password checks whose address the server keeps at once (each holds a few bytes; the
/// portal bounds SSH connections long before this).
const MAX_AUTH_IN_FLIGHT: usize = 65_536;

pub(super) fn shell_started(data: &SyncData) -> bool {
    data.server_data.contains_key(SSH_SHELL)
}

/// Whether a session runs one SSH command: logged in while it runs (listed in `who`), but it
/// neither arrives nor leaves, and is not told about reloads.
pub(super) fn is_exec(data: &SyncData) -> bool {
    data.server_data.contains_key(SSH_EXEC)
}

impl Server {
    /// A session's shell or command started; acked like input once handled. (It comes
    /// before any of the session's input, so no account job can be running for it.)
    pub(super) fn start(&mut self, id: SessionId, seq: u64, start: Start) {
        if let Some(s) = self.sessions.get_mut(id) {
            s.session.touch(false);
            match start {
                Start::Shell => self.ssh_shell(id),
                Start::Exec { command } => self.ssh_exec(id, &command),
            }
        }
        self.out.push(ServerMsg::Ack { id, seq });
    }

    /// An SSH authentication request: passwords are checked off the main task, keys here.
    pub(super) fn auth(
        &mut self,
        id: SessionId,
        req: u64,
        username: String,
        method: AuthMethod,
        address: String,
    ) {
        let reject = |why: &str| ServerMsg::AuthResult {
            id,
            req,
            accepted: false,
            reason: Some(why.to_string()),
        };
        let key = self.login.throttle_key(&address);
        let throttle = self.login.throttle();
        let admitted = match &method {
            AuthMethod::Password { .. } => throttle.begin_login(&self.store, &key, &username),
            // Asking whether a key would do costs nothing; a signed key is refused like a
            // password when the address is throttled.
            AuthMethod::PublicKey { .. } => {
                throttle
                    .address_wait(&self.store, &key)
                    .map(|wait| match wait {
                        Some(wait) => Admission::Refused { wait },
                        None => Admission::Go {
                            ticket: Ticket::default(),
                            delay: Duration::ZERO,
                        },
                    })
            }
        };
        let (ticket, delay) = match admitted {
            Ok(Admission::Go { ticket, delay }) => (ticket, delay),
            Ok(Admission::Refused { wait }) => {
                if repeats::refused(
                    &address,
                    "ssh logins refused: too many failures from address",
                ) {
                    tracing::warn!(session = id, %address, "ssh login refused: too many failures from address");
                }
                self.out.push(reject(&format!(
                    "too many failed logins from this address; retry in {} s",
                    wait.as_secs().max(1)
                )));
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "login throttle failed");
                self.out.push(reject("internal error"));
                return;
            }
        };
        match method {
            AuthMethod::Password { password } => {
                if !delay.is_zero()
                    && repeats::refused(
                        &username,
                        "ssh logins delayed: too many failures for account",
                    )
                {
                    tracing::warn!(session = id, %address, account = %username, delay_secs = delay.as_secs(), "ssh login delayed: too many failures for account");
                }
                if self.auth_attempts.len() < MAX_AUTH_IN_FLIGHT {
                    self.auth_attempts.insert(req, (address, ticket));
                }
                self.worker.start_auth(
                    id,
                    req,
                    Job::Login {
                        name: username,
                        password,
                        delay,
                    },
                );
            }
            AuthMethod::PublicKey { key, verified } => {
                let account = match self.store.has_key(&username, &key) {
                    Ok(true) => self.store.find(&username).ok().flatten(),
                    Ok(false) | Err(AccountError::NotFound(_)) => None,
                    Err(e) => {
                        tracing::error!(error = %e, "account key lookup failed");
                        None
                    }
                };
                match (account, verified) {
                    (Some(_), false) => self.out.push(ServerMsg::AuthResult {
                        id,
                        req,
                        accepted: true,
                        reason: None,
                    }),
                    (Some(a), true) => {
                        tracing::info!(session = id, account = %a.name, "ssh public key accepted");
                        self.remember_ssh_account(id, a.id, &a.name);
                        self.out.push(ServerMsg::AuthResult {
                            id,
                            req,
                            accepted: true,
                            reason: None,
                        });
                    }
                    (None, false) => self.out.push(reject("key not registered")),
                    (None, true) => {
                        if let Err(e) = self.login.throttle().record_failure(&self.store, &key) {
                            tracing::error!(error = %e, "login throttle failed");
                        }
                        self.out.push(reject("key not registered"));
                    }
                }
            }
        }
    }

    /// Keeps the account an SSH client authenticated as, until its shell or command starts
    /// (kept in server_data, so a reload in between does not lose it).
    fn remember_ssh_account(&mut self, id: SessionId, account_id: i64, name: &str) {
        let (mut w, ..) = self.effects();
        w.set_server_data(
            id,
            SSH_ACCOUNT,
            serde_json::json!({ "id": account_id, "name": name }),
        );
    }

    fn ssh_account(&self, id: SessionId) -> Option<(i64, String)> {
        let v = self
            .sessions
            .get(id)?
            .session
            .data
            .server_data
            .get(SSH_ACCOUNT)?;
        Some((v.get("id")?.as_i64()?, v.get("name")?.as_str()?.to_string()))
    }

    /// The operator deleted an account: every session logged in as it, or authenticated as
    /// it over SSH and not started yet, is told and disconnected.
    pub(super) fn account_deleted(&mut self, account_id: i64) {
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .map(|s| s.session.data.id)
            .filter(|&id| {
                self.sessions
                    .get(id)
                    .is_some_and(|s| s.session.data.account_id == Some(account_id))
                    || self.ssh_account(id).is_some_and(|(a, _)| a == account_id)
            })
            .collect();
        tracing::info!(
            account_id,
            sessions = ids.len(),
            "account deleted; its sessions are disconnected"
        );
        let (mut w, ..) = self.effects();
        for id in ids {
            w.disconnect(id, ACCOUNT_DELETED);
        }
    }

    /// The account an SSH client authenticated as, if it still exists; a session whose account
    /// was deleted meanwhile is told and disconnected.
    fn live_ssh_account(&mut self, id: SessionId) -> Option<Option<(i64, String)>> {
        let Some((account_id, name)) = self.ssh_account(id) else {
            return Some(None);
        };
        match self.store.get(account_id) {
            Ok(Some(_)) => Some(Some((account_id, name))),
            Ok(None) => {
                tracing::warn!(session = id, account = %name, "ssh session refused: account deleted");
                let (mut w, ..) = self.effects();
                w.disconnect(id, ACCOUNT_DELETED);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                let (mut w, ..) = self.effects();
                w.disconnect(id, "Internal error; try again later.");
                None
            }
        }
    }

    /// The shell started: log the authenticated account in, or show the connection screen.
    fn ssh_shell(&mut self, id: SessionId) {
        if self
            .sessions
            .get(id)
            .is_some_and(|s| s.session.data.logged_in)
        {
            return;
        }
        let Some(account) = self.live_ssh_account(id) else {
            return;
        };
        let (mut w, ..) = self.effects();
        w.set_server_data(id, SSH_SHELL, serde_json::Value::Bool(true));
        match account {
            Some((account_id, name)) => self.log_in(id, account_id, name),
            None => {
                let (mut w, login, _, _) = self.effects();
                login.show(&mut w, id);
            }
        }
    }

    /// One command: run it as the authenticated account, then answer its exit status.
    fn ssh_exec(&mut self, id: SessionId, command: &str) {
        let Some(account) = self.live_ssh_account(id) else {
            self.out.push(ServerMsg::ExitStatus { id, code: 1 });
            return;
        };
        let Some((account_id, name)) = account else {
            let (mut w, ..) = self.effects();
            w.msg(id, "Log in with a password or key to run commands.");
            self.out.push(ServerMsg::ExitStatus { id, code: 1 });
            return;
        };
        // The session is logged in for as long as the command runs (it is listed in `who`
        // and `status`, and logged out with its account), but quietly: no arrival, no
        // departure.
        let (mut w, ..) = self.effects();
        w.set_server_data(id, SSH_EXEC, serde_json::Value::Bool(true));
        if let Some(s) = self.sessions.get_mut(id) {
            let d = &mut s.session.data;
            d.account_id = Some(account_id);
            d.account_name = Some(name.clone());
            d.logged_in = true;
        }
        tracing::info!(session = id, account = %name, "ssh command");
        self.out.push(ServerMsg::Login {
            id,
            account_id,
            account_name: name,
        });
        let jobs_before = self.jobs.len();
        let (mut w, _, app, _) = self.effects();
        let known = app.data_in(&mut w, id, &Message::text(command));
        if self.jobs.len() > jobs_before {
            self.jobs.truncate(jobs_before);
            let (mut w, ..) = self.effects();
            w.msg(id, "That command is not available over exec.");
            self.out.push(ServerMsg::ExitStatus { id, code: 1 });
            return;
        }
        self.out.push(ServerMsg::ExitStatus {
            id,
            code: if known { 0 } else { 1 },
        });
    }

    pub(super) fn auth_done(&mut self, id: SessionId, req: u64, outcome: Outcome) {
        let (address, ticket) = match self.auth_attempts.remove(&req) {
            Some((address, ticket)) => (address, Some(ticket)),
            None => match self.address(id) {
                Some(address) => (address, None),
                None => return,
            },
        };
        let (accepted, reason) = match outcome {
            Outcome::LoggedIn(a) => {
                tracing::info!(session = id, account = %a.name, "ssh password accepted");
                // Only this attempt is forgotten; the address's failures stay counted.
                if let Some(t) = ticket
                    && let Err(e) = self.login.throttle().succeeded(&self.store, t)
                {
                    tracing::error!(error = %e, "login throttle failed");
                }
                self.remember_ssh_account(id, a.id, &a.name);
                (true, None)
            }
            Outcome::LoginFailed => {
                tracing::info!(session = id, %address, "ssh login failed");
                (false, Some("wrong name or password".to_string()))
            }
            other => (false, Some(format!("{other:?}"))),
        };
        self.out.push(ServerMsg::AuthResult {
            id,
            req,
            accepted,
            reason,
        });
    }
}
