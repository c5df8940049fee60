//! `reload`: clients typing through a server reload; nothing may be lost or dropped.

use crate::bench::ReloadArgs;
use crate::bench::client::write_all;
use crate::bench::report::{Outcome, Progress, Summary, progress_line, round3};
use crate::bench::text::find;
use anyhow::Result;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use super::{login_all, run_id, target};

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
            crate::bench::text::tail(cmd_text.as_bytes(), 200)
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
