//! `fanout`: one line said in the room reaches every logged-in client; the time to the last.

use crate::bench::FanoutArgs;
use crate::bench::client::Conn;
use crate::bench::report::{Outcome, Progress, Summary, progress_line, round3};
use anyhow::{Result, anyhow, bail};
use std::sync::Arc;
use tokio::time::Instant;

use super::{close_all, login_all, run_id, target};

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
