//! The server: the restartable process that owns accounts and the application.
//!
//! It connects to the portal's link socket, says hello, rebuilds its session registry from
//! the portal's `sync_all` (calling `at_sync` on every session), answers `synced`, and then
//! handles `data_in` in order, acking each input once handled. All state lives in one task;
//! slow account work runs on the blocking pool (see `jobs`) while that session's later input
//! waits its turn. Portal and server can restart independently: nothing here assumes the
//! other side's state beyond what the link carries.

pub mod app;
pub mod inputfuncs;
pub mod jobs;
pub mod login;
pub mod registry;
mod ssh;

use crate::codec::markup;
use crate::ops::accounts::{self, AccountError, AccountStore};
use crate::shared::config::Loaded;
use crate::shared::link::{self, LinkError, PortalMsg, ServerMsg, SyncReason};
use crate::shared::message::Message;
use crate::shared::session::{Protocol, Session, SessionId, SyncData};
use app::App;
use futures_util::FutureExt;
use jobs::{Done, Job, Outcome, Worker};
use login::LoginScreen;
use registry::{Effects, ServerSessions};
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

/// Most link frames handled in one step before the replies are written.
const LINK_BATCH: usize = 256;

/// How long the server keeps trying to reach the portal's link socket.
pub const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// How long a server that is asked to reload lets its input jobs under way finish (a
/// password hash takes well under a second).
pub const RELOAD_JOB_GRACE: Duration = Duration::from_secs(10);

/// What stops the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The accounts database could not be opened.
    #[error("accounts database: {0}")]
    Accounts(#[from] AccountError),
    /// The link failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// No portal to connect to.
    #[error("cannot reach the portal at {path}: {cause}")]
    NoPortal {
        /// Link socket path.
        path: String,
        /// Last error.
        cause: std::io::Error,
    },
    /// The portal refused this server.
    #[error("the portal refused this server: {0}")]
    Refused(String),
}

/// How a link session ended.
enum End {
    /// The portal asked for a reload: exit so a new server starts.
    Reload,
    /// The portal is stopping: exit for good.
    Shutdown,
    /// The link broke.
    Lost(String),
}

/// Runs the server. Supervised (a child of `portcullis start`) it exits when the link goes;
/// standalone it waits for a portal to come back.
pub async fn run(loaded: Loaded, supervised: bool) -> Result<(), ServerError> {
    let cfg = &loaded.config;
    crate::portal::ensure_data_dir(loaded.data_dir())
        .map_err(|e| ServerError::Link(LinkError::Handshake(e.to_string())))?;
    let db = loaded.database_path();
    let store = AccountStore::open(&db)?;
    // Refused logins a stranger can repeat are logged once, then summed up.
    let summaries = crate::portal::repeats::spawn_summaries();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let worker = Worker::new(&db, done_tx)?;
    let mut server = Server {
        sessions: ServerSessions::default(),
        out: Vec::new(),
        jobs: Vec::new(),
        store,
        worker,
        login: LoginScreen::new(
            &cfg.accounts,
            cfg.limits.ipv6_prefix,
            &cfg.server.name,
            cfg.telnet.login,
        ),
        app: Box::new(app::Talker {
            player_colour: cfg.server.player_colour,
        }),
        world_name: cfg.server.name.clone(),
        sync_parts: Vec::new(),
        jobs_in_flight: 0,
        auth_attempts: std::collections::HashMap::new(),
    };
    let mut done_rx = done_rx;
    let ended: Result<(), ServerError> = async {
        loop {
            let stream = connect(&loaded.link_socket()).await?;
            match server.link_session(stream, &mut done_rx).await? {
                End::Reload => {
                    tracing::info!("reloading: server exits for a new one to start");
                    return Ok(());
                }
                End::Shutdown => {
                    tracing::info!("server shut down by the portal");
                    return Ok(());
                }
                End::Lost(why) if supervised => {
                    return Err(ServerError::Link(LinkError::Handshake(format!(
                        "portal link lost: {why}"
                    ))));
                }
                End::Lost(why) => {
                    tracing::warn!(%why, "portal link lost; waiting for the portal to come back");
                }
            }
        }
    }
    .await;
    summaries.abort();
    crate::portal::repeats::sum_up_refusals();
    ended
}

async fn connect(path: &std::path::Path) -> Result<UnixStream, ServerError> {
    let deadline = tokio::time::Instant::now() + CONNECT_PATIENCE;
    loop {
        match UnixStream::connect(path).await {
            Ok(s) => return Ok(s),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(ServerError::NoPortal {
                    path: path.display().to_string(),
                    cause: e,
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// All server state, owned by the main task.
struct Server {
    /// The registry.
    sessions: ServerSessions,
    /// Link messages produced by the current step.
    out: Vec<ServerMsg>,
    /// Slow jobs produced by the current step.
    jobs: Vec<(SessionId, Job)>,
    /// Store connection for quick lookups on the main task.
    store: AccountStore,
    /// Runs hashing jobs off the main task.
    worker: Worker,
    /// The connection screen.
    login: LoginScreen,
    /// The game.
    app: Box<dyn App>,
    /// The world's name (`[server] name`), for MSDP SERVER_ID.
    world_name: String,
    /// The `sync_all` parts received so far, until the last.
    sync_parts: Vec<SyncData>,
    /// Input jobs started and not yet done (a reload waits for them).
    jobs_in_flight: usize,
    /// The client address and counted attempt of each SSH password check under way, by
    /// request: the session may not be the server's (gateway mode).
    auth_attempts: std::collections::HashMap<u64, (String, accounts::Ticket)>,
}

type Reader = link::LinkReader<OwnedReadHalf, PortalMsg>;
type Writer = link::LinkWriter<OwnedWriteHalf, ServerMsg>;

impl Server {
    async fn link_session(
        &mut self,
        stream: UnixStream,
        done_rx: &mut mpsc::UnboundedReceiver<Done>,
    ) -> Result<End, ServerError> {
        // A sync begins anew on every link.
        self.sync_parts.clear();
        let (mut reader, mut writer): (Reader, Writer) = link::ServerEnd::new(stream).split();
        writer
            .send(&ServerMsg::Hello {
                version: link::VERSION,
                pid: std::process::id(),
            })
            .await?;
        match reader.hello().await? {
            PortalMsg::Hello {
                version,
                pid,
                listeners,
            } if version == link::VERSION => {
                tracing::info!(portal_pid = pid, "linked to portal");
                self.login.set_listeners(&listeners);
            }
            PortalMsg::Refused { reason } => return Err(ServerError::Refused(reason)),
            other => {
                return Err(LinkError::Handshake(format!("expected hello, got {other:?}")).into());
            }
        }
        let mut purge = tokio::time::interval(Duration::from_secs(60));
        loop {
            let mut end = tokio::select! {
                msg = reader.recv() => self.link_msg(msg),
                Some(done) = done_rx.recv() => {
                    self.job_done(done);
                    None
                }
                _ = purge.tick() => {
                    self.login.purge(&self.store);
                    None
                }
            };
            self.start_jobs();
            // Frames that have already arrived are handled before anything is written, so a
            // burst of input is answered with one write on the link instead of one per frame.
            let mut batch = 1;
            while end.is_none() && batch < LINK_BATCH {
                let Some(msg) = reader.recv().now_or_never() else {
                    break;
                };
                end = self.link_msg(msg);
                self.start_jobs();
                batch += 1;
            }
            if matches!(end, Some(End::Reload)) {
                self.finish_jobs(done_rx).await;
            }
            if !self.out.is_empty() {
                for m in self.out.drain(..) {
                    writer.feed(&m).await?;
                }
                if let Err(e) = writer.flush().await {
                    return Ok(End::Lost(e.to_string()));
                }
            }
            if let Some(end) = end {
                return Ok(end);
            }
        }
    }

    fn effects(&mut self) -> (Effects<'_>, &mut LoginScreen, &mut dyn App, &AccountStore) {
        (
            Effects {
                sessions: &mut self.sessions,
                out: &mut self.out,
                jobs: &mut self.jobs,
            },
            &mut self.login,
            self.app.as_mut(),
            &self.store,
        )
    }

    /// One frame (or the link's end) from the portal.
    fn link_msg(&mut self, msg: Result<PortalMsg, LinkError>) -> Option<End> {
        match msg {
            Ok(msg) => self.portal_msg(msg),
            Err(LinkError::Closed) => Some(End::Lost("closed by portal".into())),
            Err(e) => Some(End::Lost(e.to_string())),
        }
    }

    fn portal_msg(&mut self, msg: PortalMsg) -> Option<End> {
        match msg {
            PortalMsg::Ping { n } => self.out.push(ServerMsg::Pong { n }),
            PortalMsg::SyncAll {
                reason,
                sessions,
                last,
            } => {
                self.sync_parts.extend(sessions);
                if last {
                    let sessions = std::mem::take(&mut self.sync_parts);
                    self.sync_all(reason, sessions);
                }
            }
            PortalMsg::Connect { session } => {
                let id = session.id;
                // An SSH session sees nothing until its shell starts.
                let screen = session.protocol_key != Protocol::Ssh;
                let mut s = Session::init_session(id, session.protocol_key, &session.address);
                s.load_sync_data(session);
                self.sessions.insert(s);
                if screen {
                    let (mut w, login, _, _) = self.effects();
                    login.show(&mut w, id);
                }
            }
            PortalMsg::Disconnect { id, reason } => {
                let logged_in = self
                    .sessions
                    .get(id)
                    .is_some_and(|s| s.session.data.logged_in);
                // An SSH command's session leaves without a word, as it came.
                let quiet = self
                    .sessions
                    .get(id)
                    .is_some_and(|s| ssh::is_exec(&s.session.data));
                if logged_in && !quiet {
                    let (mut w, _, app, _) = self.effects();
                    app.at_logout(&mut w, id, &reason);
                }
                self.sessions.remove(id);
                self.login.forget_session(id);
                if logged_in {
                    let world_name = self.world_name.clone();
                    let (mut w, ..) = self.effects();
                    inputfuncs::report_players(&mut w, &world_name);
                }
            }
            PortalMsg::DataIn { id, seq, messages } => self.data_in(id, seq, messages),
            PortalMsg::Start { id, seq, start } => self.start(id, seq, start),
            PortalMsg::Auth {
                id,
                req,
                username,
                method,
                address,
            } => self.auth(id, req, username, method, address),
            PortalMsg::SyncOne { id, protocol_flags } => {
                if let Some(s) = self.sessions.get_mut(id) {
                    s.session.update_flags(&protocol_flags);
                }
            }
            PortalMsg::AccountDeleted { account_id } => self.account_deleted(account_id),
            PortalMsg::Reload => return Some(End::Reload),
            PortalMsg::Shutdown { reason } => {
                tracing::info!(%reason, "portal asked the server to shut down");
                return Some(End::Shutdown);
            }
            PortalMsg::Refused { reason } => {
                return Some(End::Lost(format!("refused: {reason}")));
            }
            PortalMsg::Hello { .. } => tracing::warn!("unexpected hello from portal; ignored"),
        }
        None
    }

    /// Rebuilds the registry from the portal's sessions (PSYNC) and calls at_sync.
    fn sync_all(&mut self, reason: SyncReason, sessions: Vec<SyncData>) {
        self.sessions = ServerSessions::default();
        let count = sessions.len();
        let mut ids = Vec::with_capacity(count);
        for data in sessions {
            let id = data.id;
            let mut s = Session::init_session(id, data.protocol_key, &data.address);
            s.load_sync_data(data);
            // An account deleted while the server was away is logged out.
            if let Some(aid) = s.data.account_id
                && !matches!(self.store.get(aid), Ok(Some(_)))
            {
                s.data.account_id = None;
                s.data.account_name = None;
                s.data.logged_in = false;
                self.out.push(ServerMsg::Logout { id });
            }
            self.sessions.insert(s);
            ids.push(id);
        }
        for id in ids {
            let Some(data) = self.sessions.get(id).map(|s| &s.session.data) else {
                continue;
            };
            let logged_in = data.logged_in;
            // An SSH session that has not started its shell yet sees nothing until it does.
            let waiting_ssh = data.protocol_key == Protocol::Ssh && !ssh::shell_started(data);
            let exec = ssh::is_exec(data);
            let (mut w, login, app, _) = self.effects();
            if exec {
                // A command session has nothing to be told; its command has already run.
            } else if logged_in {
                app.at_sync(&mut w, id, reason);
            } else if !waiting_ssh {
                // Whatever the player was in the middle of is gone: start again, echo on.
                w.data_out(id, vec![Message::new("text").with("echo", true)]);
                login.show(&mut w, id);
            }
        }
        tracing::info!(sessions = count, ?reason, "registry rebuilt from portal");
        self.out.push(ServerMsg::Synced { sessions: count });
    }

    fn data_in(&mut self, id: SessionId, seq: u64, messages: Vec<Message>) {
        let Some(s) = self.sessions.get_mut(id) else {
            // Session already gone: nothing to do, but the portal may still hold the input.
            self.out.push(ServerMsg::Ack { id, seq });
            return;
        };
        if s.busy.is_some() {
            s.queue.push_back((seq, messages));
            return;
        }
        self.handle_input(id, seq, messages);
    }

    /// Handles one input; acks it unless it started a job (acked when the job is done).
    fn handle_input(&mut self, id: SessionId, seq: u64, messages: Vec<Message>) {
        let jobs_before = self.jobs.len();
        for m in messages {
            let Some(s) = self.sessions.get_mut(id) else {
                break;
            };
            s.session.touch(m.name == "text");
            let logged_in = s.session.data.logged_in;
            let m = if m.name == "text" {
                Message::text(markup::sanitize_input(m.first_str().unwrap_or("")))
            } else {
                m
            };
            let world_name = self.world_name.clone();
            let (mut w, login, app, store) = self.effects();
            if m.name != "text" && inputfuncs::handle(&mut w, id, &world_name, &m) {
                continue;
            }
            if logged_in {
                app.data_in(&mut w, id, &m);
            } else if m.name == "text" {
                login.data_in(&mut w, store, id, m.first_str().unwrap_or(""));
            }
        }
        if self.jobs.len() > jobs_before {
            if let Some(s) = self.sessions.get_mut(id) {
                s.busy = Some(seq);
            }
        } else {
            self.out.push(ServerMsg::Ack { id, seq });
        }
    }

    /// A session's peer address (what throttles key on).
    fn address(&self, id: SessionId) -> Option<String> {
        self.sessions
            .get(id)
            .map(|s| s.session.data.address.clone())
    }

    fn start_jobs(&mut self) {
        for (id, job) in self.jobs.drain(..) {
            tracing::debug!(session = id, ?job, "account job started");
            self.jobs_in_flight += 1;
            self.worker.start(id, job);
        }
    }

    /// Before a reload: lets the input jobs under way (and the input queued behind them)
    /// finish and be acked, so that the next server does not run any of them again (a
    /// password changed twice, an account created twice). Bounded by [`RELOAD_JOB_GRACE`];
    /// a job still running then is run again by the next server, as after a crash.
    async fn finish_jobs(&mut self, done_rx: &mut mpsc::UnboundedReceiver<Done>) {
        let deadline = tokio::time::Instant::now() + RELOAD_JOB_GRACE;
        if self.jobs_in_flight > 0 {
            tracing::info!(
                jobs = self.jobs_in_flight,
                "reload: finishing the jobs under way"
            );
        }
        while self.jobs_in_flight > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(done)) => {
                    self.job_done(done);
                    self.start_jobs();
                }
                _ => {
                    tracing::warn!(
                        jobs = self.jobs_in_flight,
                        "reload: jobs still running; the next server runs their input again"
                    );
                    return;
                }
            }
        }
    }

    fn job_done(&mut self, done: Done) {
        let Done {
            id,
            auth_req,
            outcome,
        } = done;
        if let Some(req) = auth_req {
            self.auth_done(id, req, outcome);
            return;
        }
        self.jobs_in_flight = self.jobs_in_flight.saturating_sub(1);
        let Some(seq) = self.sessions.get_mut(id).and_then(|s| s.busy.take()) else {
            return;
        };
        match outcome {
            Outcome::PasswordChanged => {
                let (mut w, ..) = self.effects();
                w.msg(id, "|gPassword changed.|n");
            }
            Outcome::WrongPassword => {
                let (mut w, ..) = self.effects();
                w.msg(id, "|rThat is not your current password.|n");
            }
            Outcome::Info(text) => {
                let (mut w, ..) = self.effects();
                w.msg(id, text);
            }
            Outcome::Error(e)
                if self
                    .sessions
                    .get(id)
                    .is_some_and(|s| s.session.data.logged_in) =>
            {
                let (mut w, ..) = self.effects();
                w.msg(id, format!("|r{e}|n"));
            }
            outcome => {
                let (mut w, login, _, store) = self.effects();
                if let Some(account) = login.job_done(&mut w, store, id, outcome) {
                    self.log_in(id, account.id, account.name);
                }
            }
        }
        self.out.push(ServerMsg::Ack { id, seq });
        // Input that waited for the job, in order, until another job starts.
        while let Some(s) = self.sessions.get_mut(id) {
            if s.busy.is_some() {
                break;
            }
            let Some((seq, messages)) = s.queue.pop_front() else {
                break;
            };
            self.handle_input(id, seq, messages);
        }
    }

    fn log_in(&mut self, id: SessionId, account_id: i64, account_name: String) {
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        let d = &mut s.session.data;
        d.account_id = Some(account_id);
        d.account_name = Some(account_name.clone());
        d.logged_in = true;
        tracing::info!(session = id, account = %account_name, "logged in");
        self.out.push(ServerMsg::Login {
            id,
            account_id,
            account_name,
        });
        let (mut w, _, app, _) = self.effects();
        // The connection screen's prompt ends here (a front end that keeps a prompt, like the
        // SSH line editor, clears it; an empty prompt shows nothing on telnet).
        w.prompt(id, "", true);
        app.at_login(&mut w, id);
        let world_name = self.world_name.clone();
        let (mut w, ..) = self.effects();
        inputfuncs::report_players(&mut w, &world_name);
    }
}
