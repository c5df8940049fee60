//! Runs the server as a child process of the portal and restarts it when it exits.
//!
//! Policy: a server that exits while the portal is running is started again. If it ran for
//! at least [`STABLE_AFTER`] (or exited cleanly, as it does for `reload`), the restart is
//! immediate; otherwise the delay doubles from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`], so a
//! server that cannot start does not spin. On shutdown the supervisor waits
//! [`STOP_GRACE`] for the child to exit after the portal told it to, then kills it.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// A server that ran this long is considered to have started fine.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);
/// First delay before restarting a server that died young.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest delay between restarts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a stopping server gets before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The binary to start the server from: this one, or, if it was replaced on disk while the
/// portal runs (Linux then names it "… (deleted)"), the new file at the same path, which is
/// what a reload after an upgrade should start.
fn server_exe() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if let Some(path) = exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        return Ok(PathBuf::from(path));
    }
    Ok(exe)
}

fn spawn(config: &PathBuf) -> std::io::Result<Child> {
    let exe = server_exe()?;
    Command::new(exe)
        // glibc: argon2 allocates ~19 MiB per password check; without a fixed mmap threshold
        // glibc keeps such blocks in per-thread arenas after they are freed (hundreds of MiB
        // after a burst of logins). With it they go back to the system at once.
        .env("MALLOC_MMAP_THRESHOLD_", "4194304")
        .env("MALLOC_ARENA_MAX", "2")
        .arg("server")
        .arg("--supervised")
        .arg("--config")
        .arg(config)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
}

fn describe(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}

/// Keeps a server child running until `stop` turns true.
pub async fn supervise(config: PathBuf, mut stop: watch::Receiver<bool>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let mut child = match spawn(&config) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the server process");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        tracing::info!(pid = child.id(), "server process started");
        let status = tokio::select! {
            s = child.wait() => s,
            _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                match tokio::time::timeout(STOP_GRACE, child.wait()).await {
                    Ok(s) => tracing::info!(status = %describe(&s), "server process stopped"),
                    Err(_) => {
                        tracing::warn!("server did not stop in time; killing it");
                        let _ = child.kill().await;
                    }
                }
                return;
            }
        };
        if *stop.borrow() {
            return;
        }
        let clean = matches!(&status, Ok(s) if s.success());
        if clean || started.elapsed() >= STABLE_AFTER {
            tracing::info!(status = %describe(&status), "server process exited; starting a new one");
            backoff = FIRST_BACKOFF;
        } else {
            tracing::warn!(status = %describe(&status), delay = ?backoff, "server process died young; restarting after a delay");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
