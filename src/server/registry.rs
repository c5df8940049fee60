//! The server session registry and the handle the login screen and the App act through.
//!
//! [`ServerSessions`] is owned by the server's main task alone. [`Effects`] borrows it together
//! with the outbox of link messages for one step of work, so every change to a session and
//! every message to the portal goes through one place.

use super::jobs::Job;
use crate::shared::link::ServerMsg;
use crate::shared::message::Message;
use crate::shared::session::{Session, SessionId, merge_flags};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};

/// Where a not-yet-logged-in session is in the connection screen.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LoginState {
    /// At the connection screen.
    #[default]
    Screen,
    /// Named an existing account; the next line is its password.
    AwaitPassword { name: String },
    /// Named an unknown account; asked whether to create it.
    ConfirmCreate { name: String },
    /// Creating: the next line is the new password.
    NewPassword { name: String },
    /// Creating: the next line repeats the new password.
    RepeatPassword { name: String, password: String },
}

/// One session on the server side.
#[derive(Debug)]
pub struct ServerSession {
    /// The synchronised state.
    pub session: Session,
    /// Connection-screen progress (not logged in only).
    pub login: LoginState,
    /// Set while a slow job (password hashing) runs for this session: the input's sequence
    /// number, acked when the job is done.
    pub busy: Option<u64>,
    /// Input that arrived while busy, handled in order afterwards.
    pub queue: VecDeque<(u64, Vec<Message>)>,
}

/// The server's session registry, ordered by id so listings are stable.
#[derive(Debug, Default)]
pub struct ServerSessions {
    map: BTreeMap<SessionId, ServerSession>,
}

impl ServerSessions {
    /// Adds or replaces a session.
    pub fn insert(&mut self, session: Session) {
        let id = session.data.id;
        self.map.insert(
            id,
            ServerSession {
                session,
                login: LoginState::Screen,
                busy: None,
                queue: VecDeque::new(),
            },
        );
    }

    /// Removes a session.
    pub fn remove(&mut self, id: SessionId) -> Option<ServerSession> {
        self.map.remove(&id)
    }

    /// One session.
    pub fn get(&self, id: SessionId) -> Option<&ServerSession> {
        self.map.get(&id)
    }

    /// One session, mutably.
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut ServerSession> {
        self.map.get_mut(&id)
    }

    /// All sessions.
    pub fn iter(&self) -> impl Iterator<Item = &ServerSession> {
        self.map.values()
    }

    /// Ids of all sessions.
    pub fn ids(&self) -> Vec<SessionId> {
        self.map.keys().copied().collect()
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// What the login screen and the App act through for one step of work.
pub struct Effects<'a> {
    /// The registry.
    pub sessions: &'a mut ServerSessions,
    /// Link messages to send when the step ends.
    pub out: &'a mut Vec<ServerMsg>,
    /// Slow account work to start when the step ends; the session waits for it.
    pub jobs: &'a mut Vec<(SessionId, Job)>,
}

impl Effects<'_> {
    /// Sends messages to one session (Evennia's `data_out`).
    pub fn data_out(&mut self, id: SessionId, messages: Vec<Message>) {
        self.out.push(ServerMsg::DataOut { id, messages });
    }

    /// Sends one line of text (markup allowed) to one session.
    pub fn msg(&mut self, id: SessionId, text: impl Into<String>) {
        self.data_out(id, vec![Message::text(text)]);
    }

    /// Sends a prompt; `echo: false` hides what the player types next.
    pub fn prompt(&mut self, id: SessionId, text: &str, echo: bool) {
        self.data_out(id, vec![Message::prompt(text).with("echo", echo)]);
    }

    /// Sends a line to every logged-in session except `except`.
    pub fn broadcast(&mut self, text: &str, except: Option<SessionId>) {
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|s| s.session.data.logged_in && Some(s.session.data.id) != except)
            .map(|s| s.session.data.id)
            .collect();
        for id in ids {
            self.msg(id, text);
        }
    }

    /// Logged-in sessions, by id.
    pub fn online(&self) -> impl Iterator<Item = &Session> {
        self.sessions
            .iter()
            .filter(|s| s.session.data.logged_in)
            .map(|s| &s.session)
    }

    /// One session.
    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(id).map(|s| &s.session)
    }

    /// The account name on a session, or `"someone"`.
    pub fn name(&self, id: SessionId) -> String {
        self.session(id)
            .and_then(|s| s.data.account_name.clone())
            .unwrap_or_else(|| "someone".into())
    }

    /// Logged-in sessions of the account called `name` (case-insensitive).
    pub fn find_online(&self, name: &str) -> Vec<SessionId> {
        self.online()
            .filter(|s| {
                s.data
                    .account_name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|s| s.data.id)
            .collect()
    }

    /// Changes protocol_flags here and on the portal (merge; `null` removes).
    pub fn set_flags(&mut self, id: SessionId, flags: Map<String, Value>) {
        if let Some(s) = self.sessions.get_mut(id) {
            merge_flags(&mut s.session.data.protocol_flags, &flags);
            self.out.push(ServerMsg::SetFlags { id, flags });
        }
    }

    /// Keeps a piece of App state for a session across server restarts: it is stored on the
    /// portal and comes back in `sync_all`.
    pub fn set_server_data(&mut self, id: SessionId, key: &str, value: Value) {
        if let Some(s) = self.sessions.get_mut(id) {
            s.session.data.server_data.insert(key.to_string(), value);
            let data = s.session.data.server_data.clone();
            self.out.push(ServerMsg::ServerData { id, data });
        }
    }

    /// Starts slow account work for a session; its further input waits until it is done.
    pub fn start_job(&mut self, id: SessionId, job: Job) {
        self.jobs.push((id, job));
    }

    /// Asks the portal to close a session after telling the player `reason`.
    pub fn disconnect(&mut self, id: SessionId, reason: &str) {
        self.out.push(ServerMsg::Disconnect {
            id,
            reason: reason.to_string(),
        });
    }
}
