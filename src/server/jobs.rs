//! Slow account work (argon2 hashing) run off the server's main task.
//!
//! Hashing takes tens of milliseconds on purpose; doing it on the main task would stall every
//! player. Each [`Job`] runs on one of a small, fixed pool of threads, each with its own
//! [`AccountStore`] connection, and its [`Outcome`] comes back to the main task as an event.
//! Passwords live only inside the job; they are never logged.

use crate::ops::accounts::{Account, AccountError, AccountStore};
use crate::shared::session::SessionId;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Work that needs a password hash.
#[derive(Clone)]
pub enum Job {
    /// Check a name and password, after `delay` (an account with many recent failures).
    Login {
        name: String,
        password: String,
        delay: Duration,
    },
    /// Make a new account.
    Create { name: String, password: String },
    /// Change a logged-in account's password, checking the old one.
    ChangePassword {
        name: String,
        old: String,
        new: String,
    },
    /// Add an SSH public key line to an account.
    AddKey { name: String, line: String },
    /// List an account's SSH keys.
    ListKeys { name: String },
    /// Remove an account's SSH key by fingerprint.
    RemoveKey { name: String, fingerprint: String },
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print passwords.
        match self {
            Job::Login { name, .. } => write!(f, "Login({name})"),
            Job::Create { name, .. } => write!(f, "Create({name})"),
            Job::ChangePassword { name, .. } => write!(f, "ChangePassword({name})"),
            Job::AddKey { name, .. } => write!(f, "AddKey({name})"),
            Job::ListKeys { name } => write!(f, "ListKeys({name})"),
            Job::RemoveKey { name, .. } => write!(f, "RemoveKey({name})"),
        }
    }
}

/// What a job found.
#[derive(Debug)]
pub enum Outcome {
    /// Login succeeded.
    LoggedIn(Account),
    /// Wrong name or password.
    LoginFailed,
    /// Account made.
    Created(Account),
    /// Password changed.
    PasswordChanged,
    /// The old password was wrong.
    WrongPassword,
    /// Done; a message for the player.
    Info(String),
    /// Refused or failed; the message is safe to show the player.
    Error(String),
}

/// A finished job, back on the main task.
#[derive(Debug)]
pub struct Done {
    /// The session it ran for.
    pub id: SessionId,
    /// For an SSH authentication, the request it answers (no input waits on it).
    pub auth_req: Option<u64>,
    /// The result.
    pub outcome: Outcome,
}

/// Threads that run account jobs. Each argon2 check holds about 19 MiB while it runs and the
/// allocator keeps that per thread, so a small fixed pool bounds the server's memory whatever
/// the number of simultaneous logins (a `spawn_blocking` per job grew it by 19 MiB a thread).
pub const WORKER_THREADS: usize = 2;

/// Jobs that may wait for a worker thread; past this the player is told to try again.
pub const JOB_QUEUE: usize = 1024;

/// A queued job: the session, the SSH request it answers (if any), the work.
type Queued = (SessionId, Option<u64>, Job);

/// Runs jobs on [`WORKER_THREADS`] threads, each with its own store connection.
pub struct Worker {
    tx: std::sync::mpsc::SyncSender<Queued>,
    done: mpsc::UnboundedSender<Done>,
}

impl Worker {
    /// Starts the worker threads on the database at `path`, reporting to `done`.
    pub fn new(path: &Path, done: mpsc::UnboundedSender<Done>) -> Result<Self, AccountError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Queued>(JOB_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..WORKER_THREADS {
            let store = AccountStore::open(path)?;
            let rx = rx.clone();
            let done = done.clone();
            std::thread::Builder::new()
                .name(format!("accounts-{n}"))
                .spawn(move || {
                    loop {
                        let next = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok((id, auth_req, job)) = next else { break };
                        let outcome = run(&store, job);
                        if done
                            .send(Done {
                                id,
                                auth_req,
                                outcome,
                            })
                            .is_err()
                        {
                            break;
                        }
                    }
                })?;
        }
        Ok(Worker { tx, done })
    }

    /// Starts one job.
    pub fn start(&self, id: SessionId, job: Job) {
        self.queue(id, None, job);
    }

    /// Starts the check for an SSH authentication request `req`.
    pub fn start_auth(&self, id: SessionId, req: u64, job: Job) {
        self.queue(id, Some(req), job);
    }

    fn queue(&self, id: SessionId, auth_req: Option<u64>, job: Job) {
        // A delayed check waits on a timer, not on a worker thread, so it holds no worker.
        if let Job::Login { delay, .. } = &job
            && !delay.is_zero()
        {
            let delay = *delay;
            let tx = self.tx.clone();
            let done = self.done.clone();
            let mut job = job;
            if let Job::Login { delay, .. } = &mut job {
                *delay = Duration::ZERO;
            }
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                Worker { tx, done }.queue(id, auth_req, job);
            });
            return;
        }
        if self.tx.try_send((id, auth_req, job)).is_err() {
            tracing::warn!(session = id, "account job queue full; job refused");
            let _ = self.done.send(Done {
                id,
                auth_req,
                outcome: Outcome::Error("the server is busy; try again in a moment".into()),
            });
        }
    }
}

fn run(store: &AccountStore, job: Job) -> Outcome {
    let r = match job {
        Job::Login { name, password, .. } => {
            store.authenticate(&name, &password).map(|a| match a {
                Some(a) => Outcome::LoggedIn(a),
                None => Outcome::LoginFailed,
            })
        }
        Job::Create { name, password } => store.create(&name, &password).map(Outcome::Created),
        Job::ChangePassword { name, old, new } => match store.authenticate(&name, &old) {
            Ok(Some(_)) => store
                .set_password(&name, &new)
                .map(|()| Outcome::PasswordChanged),
            Ok(None) => Ok(Outcome::WrongPassword),
            Err(e) => Err(e),
        },
        Job::AddKey { name, line } => match crate::ops::keys::parse_public_key_line(&line) {
            Ok(k) => store
                .add_key(&name, &k.fingerprint, &k.openssh, &k.comment)
                .map(|()| {
                    Outcome::Info(format!(
                        "Added {} key {}. You can now log in with it over SSH.",
                        k.algorithm, k.fingerprint
                    ))
                }),
            Err(e) => Ok(Outcome::Error(capitalise(&e.to_string()))),
        },
        Job::ListKeys { name } => store.keys(&name).map(|keys| {
            if keys.is_empty() {
                return Outcome::Info(
                    "You have no SSH keys. Add one with: sshkey add <contents of your .pub file>"
                        .into(),
                );
            }
            let mut s = String::from("|wYour SSH keys|n");
            for k in keys {
                let kind = k.openssh.split(' ').next().unwrap_or("?");
                s.push_str(&format!(
                    "\n  {} {kind} {}",
                    k.fingerprint,
                    crate::codec::markup::escape(&k.comment)
                ));
            }
            Outcome::Info(s)
        }),
        Job::RemoveKey { name, fingerprint } => store
            .remove_key(&name, &fingerprint)
            .map(|()| Outcome::Info(format!("Removed key {fingerprint}."))),
    };
    r.unwrap_or_else(|e| match e {
        AccountError::Database(_)
        | AccountError::Io(_)
        | AccountError::Hash(_)
        | AccountError::UnsupportedSchema { .. } => {
            tracing::error!(error = %e, "account store failed");
            Outcome::Error("internal error; try again later".into())
        }
        other => Outcome::Error(capitalise(&other.to_string())),
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}
