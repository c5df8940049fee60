//! `handshakes`: TLS or SSH handshakes per second, nothing else on the connection.

use crate::bench::HandshakesArgs;
use crate::bench::client::Protocol;
use crate::bench::report::{Outcome, Progress, Summary, progress_line, round3};
use anyhow::{Result, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use super::{rate, target};

pub async fn handshakes(a: &HandshakesArgs, quiet: bool) -> Result<Outcome> {
    let c = &a.common;
    if !matches!(c.protocol, Protocol::Tls | Protocol::Ssh) {
        bail!("handshakes needs --protocol tls or ssh");
    }
    let target = target(c).await?;
    let progress = Arc::new(Progress::default());
    let line = progress_line(progress.clone(), "handshakes", quiet);
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + c.duration();
    let mut workers = Vec::new();
    for _ in 0..a.concurrency.max(1) {
        let (target, progress, counter) = (target.clone(), progress.clone(), counter.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut errors, mut first_err) = (0usize, None::<String>);
            while Instant::now() < end {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let r = match target.protocol {
                    Protocol::Tls => target.tls_handshake(i).await,
                    _ => target.ssh_handshake(i).await,
                };
                match r {
                    Ok(()) => {
                        lat.push(t.elapsed());
                        progress.add(1);
                    }
                    Err(e) => {
                        errors += 1;
                        progress.error();
                        first_err.get_or_insert(format!("{e:#}"));
                        // Do not spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (lat, errors, first_err)
        }));
    }
    let mut lat = Vec::new();
    let (mut errors, mut first_err) = (0, None);
    for w in workers {
        let (l, e, f) = w.await?;
        lat.extend(l);
        errors += e;
        if first_err.is_none() {
            first_err = f;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(line);
    let s = Summary::of(&lat);
    let mut o = Outcome::default();
    let per_sec = rate(lat.len(), secs);
    o.row("protocol", format!("{:?}", c.protocol).to_lowercase());
    o.row("concurrency", a.concurrency.to_string());
    o.row("handshakes", format!("{} in {secs:.2} s", lat.len()));
    o.row("rate", format!("{per_sec:.1} handshakes/s"));
    o.row("latency", Summary::human(s));
    o.row("errors", errors.to_string());
    if let Some(f) = &first_err {
        o.row("first error", f.clone());
    }
    o.set("handshakes", lat.len());
    o.set("errors", errors);
    o.set("elapsed_secs", round3(secs));
    o.set("rate_per_sec", round3(per_sec));
    o.set("latency_ms", Summary::json(s));
    o.set("first_error", first_err.clone());
    if lat.is_empty() {
        o.fail(format!(
            "no handshake succeeded: {}",
            first_err.unwrap_or_else(|| "none attempted".into())
        ));
    }
    Ok(o)
}
