//! `roundtrip`: many logged-in clients, each timing a line to its echo.

use crate::bench::RoundtripArgs;
use crate::bench::report::{Outcome, Progress, Summary, progress_line, round3};
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::{close_all, login_all, rate, run_id, target};

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
