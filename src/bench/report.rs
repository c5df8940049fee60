//! Results: latency summaries, the human table, the JSON document, the progress line.

use serde_json::{Map, Value, json};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A latency summary in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Summarises durations (nearest-rank percentiles); `None` for no samples.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1;
            ms[i]
        };
        Some(Summary {
            count: ms.len(),
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: ms[ms.len() - 1],
        })
    }

    pub fn json(summary: Option<Summary>) -> Value {
        match summary {
            None => Value::Null,
            Some(s) => json!({
                "count": s.count,
                "mean": round3(s.mean),
                "p50": round3(s.p50),
                "p90": round3(s.p90),
                "p99": round3(s.p99),
                "max": round3(s.max),
            }),
        }
    }

    /// "p50 1.23 ms, p90 …" for the table.
    pub fn human(summary: Option<Summary>) -> String {
        match summary {
            None => "no samples".into(),
            Some(s) => format!(
                "p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                ms(s.max)
            ),
        }
    }
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// What a scenario produced: rows for the table, results for the JSON, and whether its own
/// invariants held.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rows: Vec<(String, String)>,
    pub results: Map<String, Value>,
    /// Why the scenario failed its invariants, if it did.
    pub failure: Option<String>,
}

impl Outcome {
    pub fn row(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.rows.push((name.into(), value.into()));
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.results.insert(key.to_string(), value.into());
    }

    pub fn fail(&mut self, why: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(why.into());
        }
    }

    /// The table printed on stdout.
    pub fn table(&self, title: &str) -> String {
        let width = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut s = format!("{title}\n");
        for (k, v) in &self.rows {
            s.push_str(&format!("  {k:<width$}  {v}\n"));
        }
        match &self.failure {
            None => s.push_str(&format!("  {:<width$}  ok\n", "result")),
            Some(f) => s.push_str(&format!("  {:<width$}  FAILED: {f}\n", "result")),
        }
        s
    }
}

/// The whole JSON document.
pub fn document(scenario: &str, parameters: Value, outcome: &Outcome) -> Value {
    json!({
        "tool": "portcullis-bench",
        "version": env!("CARGO_PKG_VERSION"),
        "scenario": scenario,
        "parameters": parameters,
        "results": Value::Object(outcome.results.clone()),
        "ok": outcome.failure.is_none(),
        "failure": outcome.failure,
        "date": rfc3339_utc(SystemTime::now()),
        "machine": machine(),
    })
}

/// `nproc` and the CPU model from /proc/cpuinfo.
pub fn machine() -> Value {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    json!({ "nproc": nproc, "cpu": model })
}

/// RFC 3339 in UTC with seconds, e.g. `2025-01-31T12:34:56Z`.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Counters shown on the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    /// Things done (handshakes, lines, sessions…).
    pub done: AtomicU64,
    pub errors: AtomicU64,
    stop: AtomicBool,
}

impl Progress {
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Prints `label: done, rate/s, errors` on stderr once a second, starting after 2 s, until
/// the returned guard is dropped. Nothing when `quiet`.
pub fn progress_line(progress: Arc<Progress>, label: &'static str, quiet: bool) -> ProgressGuard {
    let p = progress.clone();
    let start = Instant::now();
    let handle = (!quiet).then(|| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + Duration::from_secs(2),
                Duration::from_secs(1),
            );
            let mut last = (0u64, Instant::now());
            let tty = std::io::stderr().is_terminal();
            loop {
                tick.tick().await;
                if p.stop.load(Ordering::Relaxed) {
                    break;
                }
                let done = p.done.load(Ordering::Relaxed);
                let now = Instant::now();
                let rate = (done - last.0.min(done)) as f64 / (now - last.1).as_secs_f64();
                last = (done, now);
                let line = format!(
                    "[{:>4.0} s] {label}: {done} ({rate:.0}/s), errors {}",
                    start.elapsed().as_secs_f64(),
                    p.errors.load(Ordering::Relaxed)
                );
                let mut err = std::io::stderr().lock();
                if tty {
                    let _ = write!(err, "\r\x1b[K{line}");
                } else {
                    let _ = writeln!(err, "{line}");
                }
                let _ = err.flush();
            }
        })
    });
    ProgressGuard {
        progress,
        handle,
        printed_tty: std::io::stderr().is_terminal() && !quiet,
    }
}

/// Stops the progress line when dropped.
pub struct ProgressGuard {
    progress: Arc<Progress>,
    handle: Option<tokio::task::JoinHandle<()>>,
    printed_tty: bool,
}

impl Drop for ProgressGuard {
    fn drop(&mut self) {
        self.progress.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let finished = h.is_finished();
            h.abort();
            if self.printed_tty && !finished {
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661); // 2000-02-29
        assert_eq!(rfc3339_utc(t), "2000-02-29T01:01:01Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_735_689_599); // last second of 2024
        assert_eq!(rfc3339_utc(t), "2024-12-31T23:59:59Z");
    }

    #[test]
    fn percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Summary::of(&v).unwrap();
        assert_eq!((s.p50, s.p90, s.p99, s.max), (50.0, 90.0, 99.0, 100.0));
        assert!(Summary::of(&[]).is_none());
    }
}
