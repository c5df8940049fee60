//! `hold`: idle connections held open, and the server's memory (VmRSS) per connection.

use crate::bench::HoldArgs;
use crate::bench::report::{Outcome, Progress, progress_line, round3};
use anyhow::{Context, Result, anyhow};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{open_file_limit, run_id, target};

/// VmRSS of `pid` in KiB, plus its descendants' when `children`.
fn rss_kib(pid: u32, children: bool) -> Result<u64> {
    fn one(pid: u32) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }
    let mut total = one(pid).ok_or_else(|| anyhow!("no VmRSS for pid {pid} (not running?)"))?;
    if children {
        // Parent of every process, from /proc/*/stat (field 4, after the command's ")").
        let mut parents = Vec::new();
        for e in std::fs::read_dir("/proc").context("/proc")?.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u32>().ok());
            if let Some(pp) = ppid {
                parents.push((p, pp));
            }
        }
        let mut family = vec![pid];
        let mut i = 0;
        while i < family.len() {
            let parent = family[i];
            for &(p, pp) in &parents {
                if pp == parent && !family.contains(&p) {
                    family.push(p);
                    total += one(p).unwrap_or(0);
                }
            }
            i += 1;
        }
    }
    Ok(total)
}

pub async fn hold(a: &HoldArgs, quiet: bool) -> Result<Outcome> {
    let c = &a.common;
    let target = target(c).await?;
    let spec = Arc::new(c.login_spec());
    let run = run_id();
    let mut o = Outcome::default();
    let mut n = a.sessions.max(1);
    if let Some(limit) = open_file_limit() {
        let cap = limit.saturating_sub(64).max(1);
        if n > cap {
            eprintln!(
                "portcullis-bench: --sessions {n} capped to {cap} (open-file limit {limit}; raise `ulimit -n`)"
            );
            o.row(
                "capped",
                format!("{n} -> {cap} by the open-file limit {limit}"),
            );
            o.set("capped_from", n);
            n = cap;
        }
    }
    let hold = Duration::from_secs_f64(a.hold_secs.unwrap_or(c.duration).clamp(0.0, 86400.0));
    let rss_before = match a.pid {
        Some(pid) => Some(rss_kib(pid, a.pid_children)?),
        None => None,
    };
    let progress = Arc::new(Progress::default());
    let line = progress_line(progress.clone(), "sessions open", quiet);
    let sem = Arc::new(Semaphore::new(c.connect_concurrency.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<Result<(), String>>(n);
    let open_start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (target, spec, sem, progress) =
            (target.clone(), spec.clone(), sem.clone(), progress.clone());
        let (mut stop, opened, run) = (stop_rx.clone(), opened_tx.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let conn = {
                let _permit = sem.acquire_owned().await;
                target.open_idle(i, &spec, &run).await
            };
            let mut conn = match conn {
                Ok(conn) => conn,
                Err(e) => {
                    progress.error();
                    let _ = opened.send(Err(format!("session {i}: {e:#}"))).await;
                    return false;
                }
            };
            progress.add(1);
            let _ = opened.send(Ok(())).await;
            // Read and discard until told to stop; a close ends it early.
            let far = Instant::now() + Duration::from_secs(86400 * 7);
            let open = tokio::select! {
                _ = stop.wait_for(|s| *s) => true,
                _ = conn.drain_until(far) => false,
            };
            // Keep it open until every session has been counted.
            let _ = stop.wait_for(|s| *s).await;
            drop(conn);
            open
        }));
    }
    drop(opened_tx);
    let (mut opened, mut open_errors, mut first_err) = (0usize, 0usize, None);
    let open_deadline = Instant::now()
        + c.timeout() * 2
        + c.timeout() * (n / c.connect_concurrency.max(1)).min(1000) as u32;
    while opened + open_errors < n {
        match tokio::time::timeout_at(open_deadline, opened_rx.recv()).await {
            Ok(Some(Ok(()))) => opened += 1,
            Ok(Some(Err(e))) => {
                open_errors += 1;
                first_err.get_or_insert(e);
            }
            Ok(None) => break,
            Err(_) => {
                first_err.get_or_insert("opening the sessions timed out".into());
                break;
            }
        }
    }
    let open_secs = open_start.elapsed().as_secs_f64();
    // Let the server settle after the last connection before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = match a.pid {
        Some(pid) => Some(rss_kib(pid, a.pid_children)?),
        None => None,
    };
    drop(line);
    let progress_hold = Arc::new(Progress::default());
    progress_hold.add(opened as u64);
    let line = progress_line(progress_hold, "holding sessions", quiet);
    tokio::time::sleep(hold).await;
    drop(line);
    let rss_end = match a.pid {
        Some(pid) => Some(rss_kib(pid, a.pid_children)?),
        None => None,
    };
    let _ = stop_tx.send(true);
    let mut still = 0usize;
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or(false)
        {
            still += 1;
        }
    }
    let per = match (rss_before, rss_after) {
        (Some(b), Some(a)) if opened > 0 => Some(a.saturating_sub(b) as f64 / opened as f64),
        _ => None,
    };
    o.row("protocol", format!("{:?}", c.protocol).to_lowercase());
    o.row(
        "sessions",
        format!("{opened} of {n} opened in {open_secs:.2} s ({open_errors} errors)"),
    );
    if let (Some(b), Some(af), Some(e)) = (rss_before, rss_after, rss_end) {
        o.row(
            if a.pid_children {
                "RSS (with children)"
            } else {
                "RSS"
            },
            format!("{b} KiB before, {af} KiB with the sessions, {e} KiB after holding"),
        );
    }
    if let Some(p) = per {
        o.row("per session", format!("{p:.1} KiB"));
    }
    o.row(
        "still connected",
        format!("{still} of {opened} after {:.1} s", hold.as_secs_f64()),
    );
    o.set("sessions_requested", a.sessions);
    o.set("sessions_opened", opened);
    o.set("open_errors", open_errors);
    o.set("open_secs", round3(open_secs));
    o.set("rss_before_kib", rss_before);
    o.set("rss_after_kib", rss_after);
    o.set("rss_end_kib", rss_end);
    o.set("kib_per_session", per.map(round3));
    o.set("hold_secs", round3(hold.as_secs_f64()));
    o.set("connected_after_hold", still);
    o.set("all_connected", opened == n && still == opened);
    o.set("first_error", first_err.clone());
    if let Some(e) = first_err {
        o.fail(e);
    } else if still < opened {
        o.fail(format!(
            "{} of {opened} sessions were disconnected while held",
            opened - still
        ));
    }
    Ok(o)
}
