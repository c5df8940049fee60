//! The connection screen: what a session sees and can do before it is logged in.
//!
//! Evennia's words: `connect <name> <password>` and `create <name> <password>`, plus a
//! prompted flow (type a name, then the password with echo off; an unknown name offers to
//! create the account). Logins are throttled per address and per account, and creations per
//! address, by [`LoginThrottle`], which counts in the accounts database (so the counts survive
//! reloads) and counts each attempt when it starts. Passwords are never echoed and never logged.

use super::jobs::{Job, Outcome};
use super::registry::{Effects, LoginState};
use crate::ops::accounts::{self, Account, AccountStore, Admission, Limit, LoginThrottle, Ticket};
use crate::portal::repeats;
use crate::shared::addr;
use crate::shared::config::{AccountsConfig, TelnetLogin};
use crate::shared::control::ListenerInfo;
use crate::shared::message::Message;
use crate::shared::session::SessionId;
use crate::shared::session::{Protocol, listener};
use std::collections::HashMap;
use std::time::Duration;

/// The connection screen and its throttles.
pub struct LoginScreen {
    /// Whether players may create accounts.
    registration: bool,
    /// The world's name for the banner.
    world_name: String,
    /// Login and creation attempts, per address and per account.
    throttle: LoginThrottle,
    /// `[limits] ipv6_prefix`: an IPv6 client is throttled by its network.
    ipv6_prefix: u8,
    /// The attempt of each login or creation job under way, to forget on success.
    tickets: HashMap<SessionId, Ticket>,
    /// Password policy for plain telnet.
    telnet_login: TelnetLogin,
    /// Where players can connect with encryption, e.g. "TLS on port 4003", from the portal.
    secure: Vec<String>,
}

impl LoginScreen {
    /// A screen with the configured throttles.
    pub fn new(
        cfg: &AccountsConfig,
        ipv6_prefix: u8,
        world_name: &str,
        telnet_login: TelnetLogin,
    ) -> Self {
        LoginScreen {
            registration: cfg.registration,
            world_name: world_name.to_string(),
            throttle: LoginThrottle {
                per_address: Limit {
                    count: cfg.login_failures,
                    window: Duration::from_secs(cfg.login_failure_window_secs),
                },
                per_account: Limit {
                    count: cfg.account_failures,
                    window: Duration::from_secs(cfg.account_failure_window_secs),
                },
                account_delay: Duration::from_secs(cfg.account_failure_delay_secs),
                creations: Limit {
                    count: cfg.creations,
                    window: Duration::from_secs(cfg.creation_window_secs),
                },
            },
            ipv6_prefix,
            tickets: HashMap::new(),
            telnet_login,
            secure: Vec::new(),
        }
    }

    /// Learns the portal's front ends, to point plain-telnet players at the encrypted ones.
    pub fn set_listeners(&mut self, listeners: &[ListenerInfo]) {
        self.secure = listeners
            .iter()
            .filter_map(|l| {
                let port = l.addr.rsplit(':').next()?;
                match l.protocol.as_str() {
                    listener::TELNET_TLS => Some(format!("TLS on port {port}")),
                    listener::SSH => Some(format!("SSH: ssh -p {port} <name>@<this host>")),
                    listener::WEB => Some(format!("a browser: https://<this host>:{port}/")),
                    _ => None,
                }
            })
            .collect();
    }

    /// Whether this session's password would cross the network in clear, and policy cares.
    fn plain_policy(&self, w: &Effects, id: SessionId) -> TelnetLogin {
        match w.session(id) {
            Some(s) if s.data.protocol_key == Protocol::Telnet => self.telnet_login,
            _ => TelnetLogin::Allow,
        }
    }

    /// Where to go instead of plain telnet.
    fn elsewhere(&self) -> String {
        if self.secure.is_empty() {
            "ask the operator for an encrypted way in".into()
        } else {
            self.secure.join(", or ")
        }
    }

    /// Refuses a password over plain telnet under `deny`; true if refused.
    fn refuse_plain(&self, w: &mut Effects, id: SessionId) -> bool {
        if self.plain_policy(w, id) != TelnetLogin::Deny {
            return false;
        }
        set_state(w, id, LoginState::Screen);
        w.msg(
            id,
            format!(
                "|yPasswords are not accepted over plain telnet here.|n Connect with {}.",
                self.elsewhere()
            ),
        );
        w.prompt(id, "> ", true);
        true
    }

    /// Shows the banner and resets the flow.
    pub fn show(&self, w: &mut Effects, id: SessionId) {
        if let Some(s) = w.sessions.get_mut(id) {
            s.login = LoginState::Screen;
        }
        let online = w.online().count();
        let create = if self.registration {
            "\n |wcreate|n <name> <password>    make a new account"
        } else {
            ""
        };
        let notice = match self.plain_policy(w, id) {
            // Nothing to point at: a warning would only be noise.
            TelnetLogin::Allow => String::new(),
            TelnetLogin::Warn if self.secure.is_empty() => String::new(),
            TelnetLogin::Warn => format!(
                "\n |yThis connection is not encrypted.|n For a private one use {}.",
                self.elsewhere()
            ),
            TelnetLogin::Deny => format!(
                "\n |yPasswords are not accepted over plain telnet here.|n Connect with {}.",
                self.elsewhere()
            ),
        };
        w.msg(
            id,
            format!(
                "|c==============================================================|n\n \
                 Welcome to |w{}|n.{notice}\n\n \
                 |wconnect|n <name> <password>   log in{create}\n \
                 Or just type your name and answer the questions.\n \
                 |whelp|n, |wwho|n, |wquit|n\n\n \
                 {online} player{} online.\n\
                 |c==============================================================|n",
                self.world_name,
                if online == 1 { "" } else { "s" },
            ),
        );
        w.prompt(id, "> ", true);
    }

    /// Handles one line typed at the connection screen.
    pub fn data_in(&mut self, w: &mut Effects, store: &AccountStore, id: SessionId, line: &str) {
        let Some(state) = w.sessions.get(id).map(|s| s.login.clone()) else {
            return;
        };
        let address = w
            .session(id)
            .map(|s| s.data.address.clone())
            .unwrap_or_default();
        match state {
            LoginState::Screen => self.screen_command(w, store, id, &address, line),
            LoginState::AwaitPassword { name } => {
                after_secret(w, id, false);
                self.try_login(w, store, id, &address, name, line.to_string());
            }
            LoginState::ConfirmCreate { name } => {
                let answer = line.trim().to_ascii_lowercase();
                if answer == "y" || answer == "yes" {
                    set_state(w, id, LoginState::NewPassword { name });
                    w.prompt(
                        id,
                        &format!(
                            "Choose a password (at least {} characters): ",
                            accounts::MIN_PASSWORD_LEN
                        ),
                        false,
                    );
                } else {
                    self.show(w, id);
                }
            }
            LoginState::NewPassword { name } => {
                after_secret(w, id, true);
                if let Err(e) = accounts::validate_password(line) {
                    w.msg(id, format!("|r{}|n", sentence(&e.to_string())));
                    w.prompt(id, "Choose a password: ", false);
                    return;
                }
                set_state(
                    w,
                    id,
                    LoginState::RepeatPassword {
                        name,
                        password: line.to_string(),
                    },
                );
                w.prompt(id, "Repeat the password: ", false);
            }
            LoginState::RepeatPassword { name, password } => {
                if line != password {
                    after_secret(w, id, true);
                    w.msg(id, "|rThe passwords differ.|n");
                    set_state(w, id, LoginState::NewPassword { name });
                    w.prompt(id, "Choose a password: ", false);
                    return;
                }
                after_secret(w, id, false);
                set_state(w, id, LoginState::Screen);
                self.try_create(w, store, id, &address, name, password);
            }
        }
    }

    fn screen_command(
        &mut self,
        w: &mut Effects,
        store: &AccountStore,
        id: SessionId,
        address: &str,
        line: &str,
    ) {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("").to_ascii_lowercase();
        let args: Vec<&str> = words.collect();
        match (cmd.as_str(), args.as_slice()) {
            ("", _) => w.prompt(id, "> ", true),
            ("connect" | "create", _) if self.refuse_plain(w, id) => {}
            (_, []) if accounts::validate_name(line.trim()).is_ok() && self.refuse_plain(w, id) => {}
            ("connect", [name, password @ ..]) if !password.is_empty() => {
                let password = password.join(" ");
                self.try_login(w, store, id, address, name.to_string(), password);
            }
            ("connect", [name]) => self.ask_password(w, store, id, name),
            ("create", [name, password @ ..]) if !password.is_empty() => {
                let password = password.join(" ");
                self.try_create(w, store, id, address, name.to_string(), password);
            }
            ("connect", _) => w.msg(id, "Usage: connect <name> <password>"),
            ("create", _) => w.msg(id, "Usage: create <name> <password>"),
            ("quit" | "qquit", _) => w.disconnect(id, "Goodbye."),
            ("help" | "look" | "l", _) => self.show(w, id),
            ("who", _) => {
                let n = w.online().count();
                w.msg(id, format!("{n} player{} online.", if n == 1 { "" } else { "s" }));
            }
            (_, []) if accounts::validate_name(line.trim()).is_ok() => {
                self.ask_password(w, store, id, line.trim());
            }
            _ => w.msg(
                id,
                "Type |wconnect <name> <password>|n, |wcreate <name> <password>|n, your name, or |whelp|n.",
            ),
        }
    }

    /// The prompted flow: a name was typed.
    fn ask_password(&mut self, w: &mut Effects, store: &AccountStore, id: SessionId, name: &str) {
        match store.find(name) {
            Ok(Some(account)) => {
                set_state(w, id, LoginState::AwaitPassword { name: account.name });
                w.prompt(id, "Password: ", false);
            }
            Ok(None) if self.registration => match accounts::validate_name(name) {
                Ok(()) => {
                    set_state(w, id, LoginState::ConfirmCreate { name: name.into() });
                    w.prompt(
                        id,
                        &format!("There is no account called {name}. Create it? (yes/no) "),
                        true,
                    );
                }
                Err(e) => w.msg(id, format!("|r{}|n", sentence(&e.to_string()))),
            },
            Ok(None) => w.msg(id, "There is no account with that name."),
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                w.msg(id, "|rInternal error; try again later.|n");
            }
        }
    }

    fn try_login(
        &mut self,
        w: &mut Effects,
        store: &AccountStore,
        id: SessionId,
        address: &str,
        name: String,
        password: String,
    ) {
        // Whatever happens next, the flow is back at the screen: a refused attempt must not
        // leave the session taking every later line as a password.
        set_state(w, id, LoginState::Screen);
        match self
            .throttle
            .begin_login(store, &self.throttle_key(address), &name)
        {
            Ok(Admission::Go { ticket, delay }) => {
                if !delay.is_zero() {
                    if repeats::refused(&name, "logins delayed: too many failures for account") {
                        tracing::warn!(session = id, %address, account = %name, delay_secs = delay.as_secs(), "login delayed: too many failures for account");
                    }
                    w.msg(
                        id,
                        format!(
                            "|yMany failed logins for this account lately; checking in {} seconds.|n",
                            delay.as_secs().max(1)
                        ),
                    );
                }
                self.tickets.insert(id, ticket);
                w.start_job(
                    id,
                    Job::Login {
                        name,
                        password,
                        delay,
                    },
                );
            }
            Ok(Admission::Refused { wait }) => {
                if repeats::refused(address, "logins refused: too many failures from address") {
                    tracing::warn!(session = id, %address, "login refused: too many failures from address");
                }
                w.msg(
                    id,
                    format!(
                        "|rToo many failed logins from your address. Try again in {} seconds.|n",
                        wait.as_secs().max(1)
                    ),
                );
                self.show_prompt(w, id);
            }
            Err(e) => {
                tracing::error!(error = %e, "login throttle failed");
                w.msg(id, "|rInternal error; try again later.|n");
                self.show_prompt(w, id);
            }
        }
    }

    fn try_create(
        &mut self,
        w: &mut Effects,
        store: &AccountStore,
        id: SessionId,
        address: &str,
        name: String,
        password: String,
    ) {
        if !self.registration {
            w.msg(id, "|rNew accounts are made by the operator here.|n");
            return;
        }
        match self
            .throttle
            .begin_creation(store, &self.throttle_key(address))
        {
            Ok(Admission::Go { ticket, .. }) => {
                self.tickets.insert(id, ticket);
                w.start_job(id, Job::Create { name, password });
            }
            Ok(Admission::Refused { wait }) => {
                if repeats::refused(address, "account creations refused: throttled") {
                    tracing::warn!(session = id, %address, "account creation refused: throttled");
                }
                w.msg(
                    id,
                    format!(
                        "|rToo many new accounts from your address. Try again in {} seconds.|n",
                        wait.as_secs().max(1)
                    ),
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "creation throttle failed");
                w.msg(id, "|rInternal error; try again later.|n");
            }
        }
    }

    fn show_prompt(&self, w: &mut Effects, id: SessionId) {
        w.prompt(id, "> ", true);
    }

    /// A login or create job finished. Returns the account to log in, if any.
    pub fn job_done(
        &mut self,
        w: &mut Effects,
        store: &AccountStore,
        id: SessionId,
        outcome: Outcome,
    ) -> Option<Account> {
        let address = w.session(id)?.data.address.clone();
        let ticket = self.tickets.remove(&id);
        // A success (or a job that never checked anything) forgets its own attempt only; a
        // failure stays counted.
        let forget = |ticket: Option<Ticket>| {
            if let Some(t) = ticket
                && let Err(e) = self.throttle.succeeded(store, t)
            {
                tracing::error!(error = %e, "login throttle failed");
            }
        };
        match outcome {
            Outcome::LoggedIn(a) => {
                forget(ticket);
                Some(a)
            }
            Outcome::Created(a) => {
                tracing::info!(session = id, account = %a.name, "account created");
                w.msg(id, format!("|gAccount {} created.|n", a.name));
                Some(a)
            }
            Outcome::LoginFailed => {
                tracing::info!(session = id, %address, "login failed");
                w.msg(id, "|rWrong name or password.|n");
                self.show_prompt(w, id);
                None
            }
            Outcome::Error(e) => {
                forget(ticket);
                w.msg(id, format!("|r{e}|n"));
                self.show_prompt(w, id);
                None
            }
            Outcome::PasswordChanged | Outcome::WrongPassword | Outcome::Info(_) => None,
        }
    }

    /// What the throttles count `address` under: an IPv6 address by its network.
    pub fn throttle_key(&self, address: &str) -> String {
        addr::throttle_key(address, self.ipv6_prefix)
    }

    /// The login throttle (shared with SSH authentication).
    pub fn throttle(&self) -> &LoginThrottle {
        &self.throttle
    }

    /// A session went away: its job's attempt, if any, stays counted.
    pub fn forget_session(&mut self, id: SessionId) {
        self.tickets.remove(&id);
    }

    /// Whether players may create their own accounts.
    pub fn registration(&self) -> bool {
        self.registration
    }

    /// Forgets attempts that left every window (called now and then).
    pub fn purge(&mut self, store: &AccountStore) {
        if let Err(e) = self.throttle.purge(store) {
            tracing::error!(error = %e, "login throttle purge failed");
        }
    }
}

/// Ends the line of a hidden password entry (the client did not echo the player's Enter),
/// turning echo back on unless another secret follows.
fn after_secret(w: &mut Effects, id: SessionId, keep_hidden: bool) {
    let m = Message::text("");
    let m = if keep_hidden { m } else { m.with("echo", true) };
    w.data_out(id, vec![m]);
}

fn set_state(w: &mut Effects, id: SessionId, state: LoginState) {
    if let Some(s) = w.sessions.get_mut(id) {
        s.login = state;
    }
}

/// An error message as a sentence.
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}
