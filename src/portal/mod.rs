//! The portal: the long-lived process that owns every player connection.
//!
//! It binds the front ends, the link socket (where the server connects) and the control socket
//! (where `portcullis reload|stop|status` connect), runs the [`core::Core`] that owns the
//! session registry, and, in `start` mode, supervises the server as its child.

pub mod control;
pub mod core;
pub mod fd_limit;
pub mod flags;
pub mod front;
pub mod gateway;
pub mod ids;
pub mod info;
pub mod link_end;
pub mod meter;
pub mod output;
pub mod port;
pub mod proxy_in;
pub mod repeats;
pub mod slots;
pub mod supervisor;

use front::{ssh, telnet, tls, web};

use crate::portal::ids::IdAllocator;
use crate::shared::addr;
use crate::shared::config::Loaded;
use crate::shared::control::ListenerInfo;
use crate::shared::session::listener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};

/// What can stop the portal from starting.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// A listener could not be bound.
    #[error("cannot listen for {what} on {addr}: {cause}")]
    Bind {
        /// Which front end or socket.
        what: &'static str,
        /// The address.
        addr: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The TLS certificate could not be loaded or made.
    #[error("tls certificate: {0}")]
    Certs(crate::ops::certs::CertError),
    /// The SSH host keys could not be loaded or made.
    #[error("ssh host keys: {0}")]
    HostKeys(crate::ops::keys::KeyError),
    /// Gateway mode cannot work as configured (TLS to the game).
    #[error("gateway: {0}")]
    Gateway(String),
    /// Another portal already runs on this data directory.
    #[error("a portal is already running on {0} (it holds portal.lock)")]
    AlreadyRunning(String),
    /// The open-file limit cannot hold the configured connections.
    #[error(
        "limits.max_connections = {max_connections} needs about {needed} open files, but this process may open only {limit} (RLIMIT_NOFILE, hard limit {hard}); raise it (ulimit -n, systemd LimitNOFILE=) or lower limits.max_connections"
    )]
    FileLimit {
        /// `limits.max_connections`.
        max_connections: usize,
        /// Descriptors the portal may need.
        needed: u64,
        /// The soft limit after raising it.
        limit: u64,
        /// The hard limit.
        hard: u64,
    },
    /// The data directory or a state file is unusable.
    #[error("{what} {path}: {cause}")]
    State {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: String,
        /// Why it failed.
        cause: std::io::Error,
    },
}

fn state_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PortalError {
    let path = path.display().to_string();
    move |cause| PortalError::State { what, path, cause }
}

/// Creates the data directory (mode 0700) if needed.
pub fn ensure_data_dir(dir: &Path) -> Result<(), PortalError> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(state_err("cannot create data directory", dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(state_err("cannot set mode of", dir))?;
    }
    Ok(())
}

/// Takes the data directory's portal lock (`portal.lock`, held for the portal's life), so that
/// two portals can never share a data directory, its sockets or its session ids.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, PortalError> {
    let path = dir.join("portal.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(state_err("cannot open lock file", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(PortalError::AlreadyRunning(dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(state_err("cannot lock", &path)(e)),
    }
}

/// Binds a Unix socket, removing a stale file left by a portal that died (the caller holds
/// the data directory's lock, so no live portal owns it).
async fn bind_unix(path: &Path, what: &'static str) -> Result<UnixListener, PortalError> {
    if path.exists() {
        std::fs::remove_file(path).map_err(state_err("cannot remove stale socket", path))?;
    }
    let l = UnixListener::bind(path).map_err(|cause| PortalError::Bind {
        what,
        addr: path.display().to_string(),
        cause,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(state_err("cannot set mode of", path))?;
    Ok(l)
}

/// Binds a front end's listener; the address it got (the port, when 0 was asked for).
async fn bind(
    what: &'static str,
    addr: std::net::SocketAddr,
) -> Result<(TcpListener, std::net::SocketAddr), PortalError> {
    let failed = |cause| PortalError::Bind {
        what,
        addr: addr.to_string(),
        cause,
    };
    let l = TcpListener::bind(addr).await.map_err(failed)?;
    let bound = l.local_addr().map_err(failed)?;
    Ok((l, bound))
}

/// Runs the portal until it is stopped. With `supervise`, the server runs as a child.
pub async fn run(loaded: Loaded, supervise: bool) -> Result<(), PortalError> {
    let cfg = &loaded.config;
    fd_limit::ensure(cfg)?;
    ensure_data_dir(loaded.data_dir())?;
    let _lock = lock_data_dir(loaded.data_dir())?;
    let control_path = loaded.control_socket();

    // Bind every front end first, so that a port in use fails before anything starts.
    let mut listeners = Vec::new();
    let mut telnet_listener = None;
    if cfg.telnet.enabled {
        let (l, addr) = bind("telnet", cfg.telnet.bind).await?;
        tracing::info!(protocol = listener::TELNET, %addr, "listening");
        listeners.push(ListenerInfo {
            protocol: listener::TELNET.into(),
            addr: addr.to_string(),
        });
        telnet_listener = Some(l);
    }
    // One certificate for telnet over TLS and the web page, reloaded together.
    let certificate = if cfg.tls.enabled || (cfg.web.enabled && cfg.web.tls) {
        let paths = crate::ops::certs::CertPaths::new(&cfg.tls.cert, &cfg.tls.key);
        crate::ops::certs::ensure_self_signed(
            &paths,
            &cfg.tls.hostnames,
            crate::ops::certs::DEFAULT_DAYS,
        )
        .map_err(PortalError::Certs)?;
        Some(Arc::new(
            crate::ops::certs::ReloadableTls::new(paths).map_err(PortalError::Certs)?,
        ))
    } else {
        None
    };
    let mut tls_listener = None;
    if let (true, Some(tls)) = (cfg.tls.enabled, &certificate) {
        let tls = tls.clone();
        let info = tls.current();
        let (l, addr) = bind("tls", cfg.tls.bind).await?;
        tracing::info!(protocol = listener::TELNET_TLS, %addr, fingerprint = %info.fingerprint_sha256, days_left = info.days_left, "listening");
        listeners.push(ListenerInfo {
            protocol: listener::TELNET_TLS.into(),
            addr: addr.to_string(),
        });
        tls_listener = Some((l, tls));
    }
    let mut ssh_listener = None;
    if cfg.ssh.enabled {
        let keys = crate::ops::keys::HostKeys::new(&cfg.ssh.keys_dir)
            .load_or_generate()
            .map_err(PortalError::HostKeys)?;
        let (l, addr) = bind("ssh", cfg.ssh.bind).await?;
        tracing::info!(protocol = listener::SSH, %addr, "listening");
        listeners.push(ListenerInfo {
            protocol: listener::SSH.into(),
            addr: addr.to_string(),
        });
        // In gateway mode there is no Portcullis connection screen to register at.
        let registration_user = (cfg.accounts.registration
            && !cfg.ssh.registration_user.is_empty()
            && !cfg.gateway.enabled)
            .then(|| cfg.ssh.registration_user.clone());
        let shared = ssh::SshShared {
            config: Arc::new(ssh::russh_config(&cfg.ssh, keys)),
            limits: Arc::new(cfg.limits.clone()),
            registration_user,
            anyone: cfg.gateway.enabled
                && cfg.gateway.ssh_auth == crate::shared::config::SshAuth::None,
            auth_timeout: Duration::from_secs(cfg.ssh.auth_timeout_secs),
            handshakes: crate::portal::slots::Slots::new(
                cfg.limits.max_connections,
                ssh::HANDSHAKES_PER_ADDRESS,
            ),
        };
        ssh_listener = Some((l, shared));
    }
    let mut web_listener = None;
    if cfg.web.enabled {
        let (l, addr) = bind("web", cfg.web.bind).await?;
        tracing::info!(protocol = listener::WEB, tls = cfg.web.tls, %addr, "listening");
        listeners.push(ListenerInfo {
            protocol: if cfg.web.tls {
                listener::WEB
            } else {
                listener::WEB_PLAIN
            }
            .into(),
            addr: addr.to_string(),
        });
        web_listener = Some(l);
    }
    if listeners.is_empty() {
        tracing::warn!("no front end is enabled; players cannot connect");
    }

    let link_path = loaded.link_socket();
    let link_listener = bind_unix(&link_path, "the server link").await?;
    let control_listener = bind_unix(&control_path, "control").await?;
    let ids_path = loaded.data_dir().join("session-ids");
    let ids =
        IdAllocator::open(&ids_path).map_err(state_err("cannot use session-id file", &ids_path))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let (core_tx, core_rx) = mpsc::channel(core::CORE_CHANNEL);
    let tls = certificate.clone();
    let info = Arc::new(info::PortalInfo::new(
        &cfg.server.name,
        listeners.clone(),
        cfg.mssp.clone(),
    ));
    let telnet_shared = telnet::TelnetShared::new(cfg.limits.clone(), info.clone());
    let mut core = core::Core::new(
        cfg.limits.clone(),
        ids,
        listeners,
        stop_tx,
        tls,
        info.clone(),
    )
    .with_heartbeat(Duration::from_secs(cfg.server.heartbeat_timeout_secs));
    if cfg.gateway.enabled {
        tracing::info!(upstream = %cfg.gateway.upstream, client_address = ?cfg.gateway.client_address, "gateway mode: players are led to the upstream game");
        let gateway = gateway::Gateway::new(
            cfg.gateway.clone(),
            info.clone(),
            (cfg.limits.command_rate, cfg.limits.command_burst),
        )
        .map_err(PortalError::Gateway)?;
        core = core.with_gateway(gateway, &core_tx);
    }

    // Set once the core has stopped: the link and control sockets stop accepting.
    let (core_done, done) = watch::channel(false);
    let link_task = tokio::spawn(link_end::accept_servers(
        link_listener,
        core_tx.clone(),
        done.clone(),
    ));
    let control_task = tokio::spawn(control::accept_control(
        control_listener,
        core_tx.clone(),
        done,
    ));
    if let Some(l) = telnet_listener {
        tokio::spawn(telnet::accept_loop(
            l,
            core_tx.clone(),
            telnet_shared.clone(),
            stop_rx.clone(),
        ));
    }
    if let Some((l, tls)) = tls_listener {
        tokio::spawn(tls::accept_loop(
            l,
            core_tx.clone(),
            telnet_shared.clone(),
            tls,
            Duration::from_secs(cfg.tls.handshake_timeout_secs),
            stop_rx.clone(),
        ));
    }
    if let Some((l, shared)) = ssh_listener {
        tokio::spawn(ssh::accept_loop(
            l,
            core_tx.clone(),
            shared,
            stop_rx.clone(),
        ));
    }
    if let Some(l) = web_listener {
        let shared = web::WebShared::new(
            cfg.web.clone(),
            cfg.limits.clone(),
            core_tx.clone(),
            cfg.web.tls,
            cfg.server.name.clone(),
        );
        let tls = if cfg.web.tls {
            certificate.clone()
        } else {
            None
        };
        tokio::spawn(web::accept_loop(
            l,
            shared,
            tls,
            Duration::from_secs(cfg.tls.handshake_timeout_secs),
            stop_rx.clone(),
        ));
    }
    let supervisor = if supervise {
        Some(tokio::spawn(supervisor::supervise(
            loaded.path.clone(),
            stop_rx.clone(),
        )))
    } else {
        None
    };
    tokio::spawn(signals(core_tx.clone()));
    tracing::info!(pid = std::process::id(), data_dir = %loaded.data_dir().display(), "portal started");

    core.run(core_rx).await;

    if let Some(s) = supervisor {
        let _ = s.await;
    }
    let _ = core_done.send(true);
    // `portcullis stop` has its answer before the portal exits.
    let _ = tokio::join!(link_task, control_task);
    let _ = std::fs::remove_file(&link_path);
    let _ = std::fs::remove_file(&control_path);
    tracing::info!("portal stopped");
    Ok(())
}

/// How many connections from trusted proxies may be waiting for their PROXY header at once,
/// per listener.
const MAX_PENDING_HEADERS: usize = 1024;

/// Accepts TCP connections until `stop` turns true, handing each (with Nagle off) to
/// `serve`, which spawns its task. A connection from a trusted proxy first has its PROXY
/// header read (in a task of its own, bounded in number and time) and is then served with the
/// address the header names. Accept errors (out of file descriptors and the like) are logged
/// and retried after a short wait rather than spun on.
///
/// Every address handed on is [`addr::canonical`]: an IPv4-mapped IPv6 peer is its IPv4 address.
pub async fn accept_each<F>(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    proxies: Arc<proxy_in::TrustedProxies>,
    mut serve: F,
) where
    F: FnMut(tokio::net::TcpStream, std::net::SocketAddr),
{
    let (headers_tx, mut headers) = mpsc::channel(MAX_PENDING_HEADERS);
    let pending = Arc::new(());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some((stream, real)) = headers.recv() => {
                serve(stream, addr::canonical(real));
                continue;
            }
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            // An IPv4 client on a dual-stack listener is its IPv4 address from here on.
            Ok((stream, peer)) if proxies.trusts(addr::canonical(peer).ip()) => {
                let peer = addr::canonical(peer);
                let _ = stream.set_nodelay(true);
                // Each waiting header holds a clone of `pending`: their number is bounded.
                if Arc::strong_count(&pending) > MAX_PENDING_HEADERS {
                    if repeats::refused(
                        peer.ip(),
                        "connections refused: too many PROXY headers pending",
                    ) {
                        tracing::warn!(%peer, "too many PROXY headers pending; closed");
                    }
                    continue;
                }
                let held = pending.clone();
                let tx = headers_tx.clone();
                tokio::spawn(async move {
                    let mut stream = stream;
                    match proxy_in::read_header(&mut stream, peer).await {
                        Ok(real) => {
                            tracing::debug!(%peer, %real, "PROXY header");
                            let _ = tx.send((stream, real)).await;
                        }
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "connection from a trusted proxy closed")
                        }
                    }
                    drop(held);
                });
            }
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                serve(stream, addr::canonical(peer));
            }
            Err(e) => {
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Turns Ctrl-C and SIGTERM into a core shutdown, and SIGHUP into a certificate reload.
async fn signals(core: mpsc::Sender<crate::portal::core::CoreEvent>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(h)) => (t, h),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot listen for signals");
            return;
        }
    };
    loop {
        let reason = tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupt (Ctrl-C)",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the TLS certificate");
                let _ = core.send(core::CoreEvent::ReloadCerts).await;
                continue;
            }
        };
        let _ = core
            .send(core::CoreEvent::Shutdown {
                reason: reason.into(),
            })
            .await;
        return;
    }
}
