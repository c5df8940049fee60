//! The scenarios, one file each. Each sets up its connections first (not timed), then
//! measures. This file holds what they share: the run's token prefix, the target, logging
//! clients in and closing them.

mod fanout;
mod game;
mod handshakes;
mod hold;
mod reload;
mod roundtrip;

pub use fanout::fanout;
pub use game::game;
pub use handshakes::handshakes;
pub use hold::hold;
pub use reload::{reload, reported_reload_ms};
pub use roundtrip::roundtrip;

use super::Common;
use super::client::{Conn, LoginSpec, Target};
use super::report::{Progress, progress_line};
use anyhow::Result;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A prefix that makes this run's tokens unique.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("b{:x}{:x}", std::process::id() % 4096, nanos % 65536)
}

async fn target(common: &Common) -> Result<Arc<Target>> {
    Ok(Arc::new(
        Target::new(
            common.protocol,
            &common.addr,
            common.source_ips,
            common.timeout(),
            common.tls_resume,
        )
        .await?,
    ))
}

fn rate(n: usize, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

/// The open-file limit (soft) of this process, from /proc/self/limits.
fn open_file_limit() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Logs in `n` clients, `concurrency` at a time; in index order.
async fn login_all(
    target: &Arc<Target>,
    spec: &Arc<LoginSpec>,
    n: usize,
    concurrency: usize,
    run: &str,
    quiet: bool,
) -> Result<Vec<Conn>> {
    let progress = Arc::new(Progress::default());
    let _line = progress_line(progress.clone(), "logged in", quiet);
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (target, spec, sem, run, progress) = (
            target.clone(),
            spec.clone(),
            sem.clone(),
            run.to_string(),
            progress.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let r = target.logged_in(i, &spec, &run).await;
            match &r {
                Ok(_) => progress.add(1),
                Err(_) => progress.error(),
            }
            r
        }));
    }
    let mut conns = Vec::with_capacity(n);
    let mut first_err = None;
    let mut failed = 0;
    for t in tasks {
        match t.await.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(c) => conns.push(c),
            Err(e) => {
                failed += 1;
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        close_all(conns).await;
        return Err(e.context(format!("{failed} of {n} clients could not log in")));
    }
    Ok(conns)
}

async fn close_all(conns: Vec<Conn>) {
    let tasks: Vec<_> = conns.into_iter().map(|c| tokio::spawn(c.close())).collect();
    for t in tasks {
        let _ = t.await;
    }
}
