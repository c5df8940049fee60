//! The scenarios. Each sets up its connections first (not timed), then measures.

use super::client::{Conn, LoginSpec, Protocol, Target, write_all};
use super::report::{Outcome, Progress, Summary, progress_line, round3};
use super::text::find;
use super::{Common, FanoutArgs, HandshakesArgs, HoldArgs, ReloadArgs, RoundtripArgs};
use anyhow::{Context, Result, anyhow, bail};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

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

pub async fn roundtrip(a: &RoundtripArgs, quiet: bool) -> Result<Outcome> {
    let c = &a.common;
    let target = target(c).await?;
    let spec = Arc::new(c.login_spec());
    let run = run_id();
    let setup = Instant::now();
    let conns = login_all(
        &target,
        &spec,
        a.clients.max(1),
        c.connect_concurrency,
        &run,
        quiet,
    )
    .await?;
    let setup_secs = setup.elapsed().as_secs_f64();
    let progress = Arc::new(Progress::default());
    let line = progress_line(progress.clone(), "lines", quiet);
    let start = Instant::now();
    let end = start + c.duration();
    let (lines, wait) = (a.lines, c.timeout());
    let interval = Duration::from_millis(a.interval_ms);
    let n = conns.len();
    let mut tasks = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let (spec, run, progress) = (spec.clone(), run.clone(), progress.clone());
        // Paced: client i's lines are due at start + (i / n + k) * interval; a line whose
        // echo came late is followed by the next at once (no catching up).
        let mut tick = (!interval.is_zero()).then(|| {
            let mut t =
                tokio::time::interval_at(start + interval.mul_f64(i as f64 / n as f64), interval);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut timeouts, mut dropped, mut why) = (0usize, false, None::<String>);
            let mut k = 0usize;
            while if lines == 0 {
                Instant::now() < end
            } else {
                k < lines
            } {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                    if lines == 0 && Instant::now() >= end {
                        break;
                    }
                }
                let token = format!("{run}c{i}n{k}e");
                k += 1;
                let t = Instant::now();
                let r = match conn.send_line(&spec.say_line(&token)).await {
                    Ok(()) => conn.expect(&spec.expect_text(&token), t + wait).await,
                    Err(e) => Err(e),
                };
                match r {
                    Ok(true) => {
                        lat.push(t.elapsed());
                        progress.add(1);
                    }
                    Ok(false) => {
                        timeouts += 1;
                        progress.error();
                        why.get_or_insert(format!("client {i}: no echo of line {k} in time"));
                    }
                    Err(e) => {
                        dropped = true;
                        progress.error();
                        why.get_or_insert(format!("client {i}: {e:#}"));
                        break;
                    }
                }
            }
            // Not closed here: a talker announces a departure to everyone still connected,
            // so clients that finish early would flood those still measuring (with 1,000
            // clients, up to ~500,000 "has left" lines inside the measured window). All
            // connections close together once every client is done.
            (conn, lat, timeouts, dropped, why)
        }));
    }
    let mut lat = Vec::new();
    let (mut timeouts, mut dropped, mut why) = (0, 0, None);
    let mut conns = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (conn, l, to, d, w) = t.await?;
        conns.push(conn);
        lat.extend(l);
        timeouts += to;
        dropped += usize::from(d);
        if why.is_none() {
            why = w;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(line);
    close_all(conns).await;
    let s = Summary::of(&lat);
    let per_sec = rate(lat.len(), secs);
    let mut o = Outcome::default();
    o.row("protocol", format!("{:?}", c.protocol).to_lowercase());
    o.row("clients", a.clients.to_string());
    o.row(
        "pacing",
        if interval.is_zero() {
            "none: next line as soon as the echo is in".to_string()
        } else {
            format!(
                "a line every {} ms per client ({:.0} lines/s offered)",
                a.interval_ms,
                n as f64 / interval.as_secs_f64()
            )
        },
    );
    o.row("setup (connect + log in)", format!("{setup_secs:.2} s"));
    o.row("lines", format!("{} echoed in {secs:.2} s", lat.len()));
    o.row("throughput", format!("{per_sec:.1} lines/s"));
    o.row("latency", Summary::human(s));
    o.row("timeouts", timeouts.to_string());
    o.row("connections dropped", dropped.to_string());
    o.set("clients", a.clients);
    o.set("interval_ms", a.interval_ms);
    o.set("lines_echoed", lat.len());
    o.set("timeouts", timeouts);
    o.set("connections_dropped", dropped);
    o.set("elapsed_secs", round3(secs));
    o.set("setup_secs", round3(setup_secs));
    o.set("lines_per_sec", round3(per_sec));
    o.set("latency_ms", Summary::json(s));
    if let Some(w) = why {
        o.fail(w);
    } else if lat.is_empty() {
        o.fail("no line was echoed");
    }
    Ok(o)
}

pub async fn fanout(a: &FanoutArgs, quiet: bool) -> Result<Outcome> {
    let c = &a.common;
    let target = target(c).await?;
    let spec = Arc::new(c.login_spec());
    let run = run_id();
    let n = a.clients.max(1);
    let mut conns: Vec<Option<Conn>> =
        login_all(&target, &spec, n, c.connect_concurrency, &run, quiet)
            .await?
            .into_iter()
            .map(Some)
            .collect();
    let progress = Arc::new(Progress::default());
    let line = progress_line(progress.clone(), "rounds", quiet);
    let wait = c.timeout();
    let mut times = Vec::new();
    let mut failures = 0usize;
    let mut why = None;
    let start = Instant::now();
    for r in 0..a.rounds {
        let sayer = r % n;
        let token = format!("{run}f{r}e");
        let expect = Arc::new(spec.expect_text(&token));
        let mut tasks = Vec::with_capacity(n);
        let spawn = |mut conn: Conn, deadline: Instant, expect: Arc<String>| {
            tokio::spawn(async move {
                let r = conn.expect(&expect, deadline).await;
                let at = Instant::now();
                (conn, r.map(|ok| ok.then_some(at)))
            })
        };
        for (i, slot) in conns.iter_mut().enumerate() {
            if i != sayer {
                let conn = slot.take().ok_or_else(|| anyhow!("client {i} lost"))?;
                tasks.push(spawn(conn, Instant::now() + wait, expect.clone()));
            }
        }
        tokio::task::yield_now().await;
        let mut conn = conns[sayer]
            .take()
            .ok_or_else(|| anyhow!("client {sayer} lost"))?;
        let t0 = Instant::now();
        conn.send_line(&spec.say_line(&token)).await?;
        tasks.push(spawn(conn, t0 + wait, expect.clone()));
        let mut last = Some(t0);
        let mut missing = 0;
        let mut returned = Vec::with_capacity(n);
        for t in tasks {
            let (conn, got) = t.await?;
            match got {
                Ok(Some(at)) => last = last.map(|l| l.max(at)),
                Ok(None) => missing += 1,
                Err(e) => bail!("round {r}: a client's connection failed: {e:#}"),
            }
            returned.push(conn);
        }
        // Put them back in order: the others in index order, then the sayer.
        let mut it = returned.into_iter();
        for (i, slot) in conns.iter_mut().enumerate() {
            if i != sayer {
                *slot = it.next();
            }
        }
        conns[sayer] = it.next();
        if missing == 0 {
            if let Some(l) = last {
                times.push(l - t0);
            }
            progress.add(1);
        } else {
            failures += 1;
            progress.error();
            why.get_or_insert(format!(
                "round {r}: {missing} of {n} clients did not get the line in time"
            ));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(line);
    close_all(conns.into_iter().flatten().collect()).await;
    let s = Summary::of(&times);
    let mut o = Outcome::default();
    o.row("protocol", format!("{:?}", c.protocol).to_lowercase());
    o.row("clients", n.to_string());
    o.row("rounds", format!("{} complete in {secs:.2} s", times.len()));
    o.row("time to last client", Summary::human(s));
    o.row("rounds failed", failures.to_string());
    o.set("clients", n);
    o.set("rounds", a.rounds);
    o.set("rounds_complete", times.len());
    o.set("rounds_failed", failures);
    o.set("elapsed_secs", round3(secs));
    o.set("fanout_ms", Summary::json(s));
    if let Some(w) = why {
        o.fail(w);
    }
    Ok(o)
}

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

/// "reloaded in N ms" from a reload command's output.
pub fn reported_reload_ms(output: &str) -> Option<f64> {
    let rest = output.split("reloaded in ").nth(1)?;
    let mut parts = rest.split_whitespace();
    let value: f64 = parts.next()?.parse().ok()?;
    match parts.next()? {
        u if u.starts_with("ms") => Some(value),
        u if u.starts_with('s') => Some(value * 1000.0),
        _ => None,
    }
}

pub async fn reload(a: &ReloadArgs, quiet: bool) -> Result<Outcome> {
    let c = &a.common;
    let target = target(c).await?;
    let spec = Arc::new(c.login_spec());
    let run = run_id();
    let n = a.clients.max(1);
    let conns = login_all(&target, &spec, n, c.connect_concurrency, &run, quiet).await?;
    let progress = Arc::new(Progress::default());
    let line = progress_line(progress.clone(), "lines echoed", quiet);
    let interval = Duration::from_millis(a.interval_ms);
    let lines = a.lines;
    let start = Instant::now();
    let typing = interval * lines as u32;
    let deadline = start + typing + Duration::from_secs_f64(a.settle_secs.clamp(0.0, 3600.0));
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let (mut r, mut w) = conn.split();
        let sent_at: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::with_capacity(lines)));
        let tokens: Vec<String> = (0..lines).map(|k| format!("{run}r{i}n{k}e")).collect();
        let tokens = Arc::new(tokens);
        let (spec_w, sent_w, tokens_w) = (spec.clone(), sent_at.clone(), tokens.clone());
        writers.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(start, interval);
            let mut sent = 0usize;
            let typing = async {
                for token in tokens_w.iter() {
                    tick.tick().await;
                    let mut bytes = spec_w.say_line(token).into_bytes();
                    bytes.extend_from_slice(b"\r\n");
                    if let Ok(mut s) = sent_w.lock() {
                        s.push(Instant::now());
                    }
                    if write_all(&mut w, &bytes).await.is_err() {
                        break;
                    }
                    sent += 1;
                }
            };
            let _ = tokio::time::timeout_at(deadline, typing).await;
            (sent, w)
        }));
        let (spec_r, progress) = (spec.clone(), progress.clone());
        readers.push(tokio::spawn(async move {
            let expects: Vec<Vec<u8>> = tokens
                .iter()
                .map(|t| spec_r.expect_text(t).into_bytes())
                .collect();
            let mut next = 0usize;
            let mut lat = Vec::new();
            let mut dropped = false;
            while next < expects.len() {
                // Match in order; what is before a match is consumed.
                while next < expects.len() {
                    let Some(p) = find(&r.reader.text, &expects[next], 0) else {
                        break;
                    };
                    r.reader.text.drain(..p + expects[next].len());
                    if let Some(t) = sent_at.lock().ok().and_then(|s| s.get(next).copied()) {
                        lat.push(t.elapsed());
                    }
                    progress.add(1);
                    next += 1;
                }
                if next == expects.len() {
                    break;
                }
                match r.reader.read_some(&mut r.io, deadline).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(_) => {
                        dropped = true;
                        break;
                    }
                }
            }
            // Echoes out of order after a missing one still count as echoed, not lost.
            let late = expects[next..]
                .iter()
                .filter(|e| find(&r.reader.text, e, 0).is_some())
                .count();
            (next + late, next < expects.len(), dropped, lat, r)
        }));
    }
    // Mid-run: the reload.
    tokio::time::sleep_until(start + typing / 2).await;
    let cmd_start = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&a.reload_cmd)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    let wall_ms = cmd_start.elapsed().as_secs_f64() * 1e3;
    let (cmd_ok, cmd_text) = match output {
        Err(_) => (
            false,
            "the reload command timed out after 120 s".to_string(),
        ),
        Ok(Err(e)) => (false, format!("the reload command could not run: {e}")),
        Ok(Ok(out)) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), text.trim().to_string())
        }
    };
    let reported = reported_reload_ms(&cmd_text);
    let mut sent = 0;
    let mut keep = Vec::new();
    for w in writers {
        let (s, w) = w.await?;
        sent += s;
        keep.push(w);
    }
    let (mut echoed, mut dropped, mut incomplete) = (0usize, 0usize, 0usize);
    let mut lat = Vec::new();
    for r in readers {
        let (e, inc, d, l, r) = r.await?;
        echoed += e;
        incomplete += usize::from(inc);
        dropped += usize::from(d);
        lat.extend(l);
        drop(r);
    }
    drop(keep);
    let secs = start.elapsed().as_secs_f64();
    drop(line);
    let lost = sent.saturating_sub(echoed);
    let s = Summary::of(&lat);
    let reload_ms = reported.unwrap_or(wall_ms);
    let mut o = Outcome::default();
    o.row("protocol", format!("{:?}", c.protocol).to_lowercase());
    o.row("clients", n.to_string());
    o.row(
        "reload",
        format!(
            "{reload_ms:.0} ms ({}), command {wall_ms:.0} ms wall{}",
            if reported.is_some() {
                "as reported"
            } else {
                "wall time"
            },
            if cmd_ok { "" } else { ", FAILED" }
        ),
    );
    o.row("lines sent", sent.to_string());
    o.row("lines echoed", echoed.to_string());
    o.row("lines lost", lost.to_string());
    o.row("connections dropped", dropped.to_string());
    o.row("echo latency", Summary::human(s));
    o.set("clients", n);
    o.set("reload_ms", round3(reload_ms));
    o.set(
        "reload_ms_source",
        if reported.is_some() {
            "reported"
        } else {
            "wall"
        },
    );
    o.set("reload_command_wall_ms", round3(wall_ms));
    o.set("reload_command_ok", cmd_ok);
    o.set("reload_output", cmd_text.clone());
    o.set("lines_sent", sent);
    o.set("lines_echoed", echoed);
    o.set("lines_lost", lost);
    o.set("connections_dropped", dropped);
    o.set("clients_incomplete", incomplete);
    o.set("elapsed_secs", round3(secs));
    o.set("echo_latency_ms", Summary::json(s));
    if !cmd_ok {
        o.fail(format!(
            "reload command failed: {}",
            super::text::tail(cmd_text.as_bytes(), 200)
        ));
    } else if dropped > 0 {
        o.fail(format!("{dropped} connections dropped"));
    } else if lost > 0 || sent < n * lines {
        o.fail(format!("{lost} lines lost ({sent} sent of {})", n * lines));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_times() {
        assert_eq!(
            reported_reload_ms("server reloaded in 13 ms (16 ms including this command)"),
            Some(13.0)
        );
        assert_eq!(reported_reload_ms("reloaded in 1.5 s"), Some(1500.0));
        assert_eq!(reported_reload_ms("done"), None);
    }
}
