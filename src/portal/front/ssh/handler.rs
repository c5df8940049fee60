//! The russh side of one SSH connection: a thin adapter (as in warpgate). Authentication is
//! asked of the server through the session's port (the server owns the accounts); every channel event
//! becomes an [`SshEvent`] on a bounded channel to the connection's task, which owns all
//! session state. No callback waits on that task, so a slow player never stalls russh's
//! connection loop; a client that floods past the event bound is disconnected.

use crate::portal::core::AuthAnswer;
use crate::portal::port::PortInput;
use crate::shared::link::AuthMethod;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use std::borrow::Cow;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

/// How long an authentication waits for the server (it may be restarting).
const AUTH_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Channel events, from the russh handler to the connection task.
pub enum SshEvent {
    /// Authentication succeeded as this user.
    Authenticated { user: String },
    /// The session channel opened; output goes to `writer`.
    ChannelOpen {
        channel: ChannelId,
        writer: Pin<Box<dyn AsyncWrite + Send>>,
    },
    /// A PTY was requested.
    Pty { term: String, cols: u32, rows: u32 },
    /// The client resized its terminal.
    WindowChange { cols: u32, rows: u32 },
    /// An interactive shell was requested.
    Shell,
    /// One command was requested.
    Exec(Vec<u8>),
    /// Keystrokes or input bytes.
    Data(Vec<u8>),
    /// The channel closed.
    Closed,
}

/// Errors that end an SSH connection from the handler.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// russh failed.
    #[error("ssh: {0}")]
    Russh(#[from] russh::Error),
    /// The client sent more than the connection task could take in.
    #[error("input flood: the client sent faster than the session could take it")]
    Flood,
}

/// The russh handler: a thin adapter that asks through the session's port and forwards
/// events.
pub struct SshHandler {
    /// The session's input side: authentication is asked through it.
    input: PortInput,
    events: mpsc::Sender<SshEvent>,
    registration_user: Option<String>,
    /// Any user name is let in without authentication (gateway mode, `ssh_auth = "none"`).
    anyone: bool,
    channel: Option<ChannelId>,
}

impl SshHandler {
    /// The handler of the session `input` belongs to: asks through it about authentication,
    /// forwards channel events to `events`, lets `registration_user` in without
    /// authentication (or, with `anyone`, every user), and refuses commands longer than the
    /// session's line limit.
    pub fn new(
        input: PortInput,
        events: mpsc::Sender<SshEvent>,
        registration_user: Option<String>,
        anyone: bool,
    ) -> Self {
        SshHandler {
            input,
            events,
            registration_user,
            anyone,
            channel: None,
        }
    }

    fn forward(&self, ev: SshEvent) -> Result<(), SshError> {
        self.events.try_send(ev).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                tracing::warn!("ssh event queue full; disconnecting");
                SshError::Flood
            }
            // The connection task is gone; the connection is ending anyway.
            mpsc::error::TrySendError::Closed(_) => SshError::Flood,
        })
    }

    /// Asks the server whether `user` may log in this way.
    async fn ask(&self, user: &str, method: AuthMethod) -> Auth {
        let Ok(answer) = self.input.auth(user, method).await else {
            return Auth::reject();
        };
        match tokio::time::timeout(AUTH_ANSWER_TIMEOUT, answer).await {
            Ok(Ok(AuthAnswer { accepted: true, .. })) => Auth::Accept,
            Ok(Ok(AuthAnswer { reason, .. })) => {
                tracing::info!(
                    user,
                    reason = reason.as_deref().unwrap_or(""),
                    "ssh authentication rejected"
                );
                retry()
            }
            _ => {
                tracing::warn!(user, "no answer from the server to an ssh authentication");
                retry()
            }
        }
    }

    fn accepted(&self, auth: Auth, user: &str) -> Result<Auth, SshError> {
        if auth == Auth::Accept {
            self.forward(SshEvent::Authenticated {
                user: user.to_string(),
            })?;
        }
        Ok(auth)
    }
}

/// The methods a client may use.
pub const METHODS: &[MethodKind] = &[
    MethodKind::PublicKey,
    MethodKind::Password,
    MethodKind::KeyboardInteractive,
];

/// A rejection that leaves every method open, so a mistyped password can be tried again
/// (russh otherwise drops the method that failed); `max_auth_attempts` still applies.
fn retry() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(METHODS)),
        partial_success: false,
    }
}

/// `type base64` of a public key, without its comment.
fn canonical_key(key: &russh::keys::PublicKey) -> Option<String> {
    let line = key.to_openssh().ok()?;
    let mut parts = line.split_whitespace();
    Some(format!("{} {}", parts.next()?, parts.next()?))
}

impl russh::server::Handler for SshHandler {
    type Error = SshError;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        if self.anyone {
            // Gateway mode (`ssh_auth = "none"`): the game behind runs its own login.
            tracing::info!(user, "gateway: ssh without authentication");
            return self.accepted(Auth::Accept, user);
        }
        if self.registration_user.as_deref() == Some(user) {
            tracing::info!(
                user,
                "registration user: connection screen without authentication"
            );
            return self.accepted(Auth::Accept, user);
        }
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let auth = self
            .ask(
                user,
                AuthMethod::Password {
                    password: password.to_string(),
                },
            )
            .await;
        self.accepted(auth, user)
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let Some(key) = canonical_key(offer.public_key) else {
            return Ok(Auth::reject());
        };
        Ok(self
            .ask(
                user,
                AuthMethod::PublicKey {
                    key,
                    verified: false,
                },
            )
            .await)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let Some(key) = canonical_key(key.public_key) else {
            return Ok(Auth::reject());
        };
        let auth = self
            .ask(
                user,
                AuthMethod::PublicKey {
                    key,
                    verified: true,
                },
            )
            .await;
        self.accepted(auth, user)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
            });
        };
        let Some(answer) = response.next() else {
            return Ok(Auth::reject());
        };
        let password = String::from_utf8_lossy(&answer).into_owned();
        let auth = self.ask(user, AuthMethod::Password { password }).await;
        self.accepted(auth, user)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.channel.is_some() {
            tracing::info!("second session channel refused");
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.channel = Some(channel.id());
        let writer: Pin<Box<dyn AsyncWrite + Send>> = Box::pin(channel.make_writer());
        self.forward(SshEvent::ChannelOpen {
            channel: channel.id(),
            writer,
        })?;
        // Events reach us through the handler callbacks; the channel object itself is not
        // read, so it is dropped rather than left to fill up.
        drop(channel);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        self.forward(SshEvent::Pty {
            term: term.chars().take(64).collect(),
            cols: col_width,
            rows: row_height,
        })
    }

    async fn window_change_request(
        &mut self,
        _channel: ChannelId,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(SshEvent::WindowChange {
            cols: col_width,
            rows: row_height,
        })
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        self.forward(SshEvent::Shell)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if data.len() > self.input.max_line() {
            session.channel_failure(channel)?;
            return Ok(());
        }
        session.channel_success(channel)?;
        self.forward(SshEvent::Exec(data.to_vec()))
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(subsystem = name, "subsystem refused");
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn data(
        &mut self,
        _channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(SshEvent::Data(data.to_vec()))
    }

    async fn channel_close(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.forward(SshEvent::Closed)
    }
}
