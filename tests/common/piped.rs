//! A client program run with piped standard streams (`openssl s_client`, `ssh -tt`): what is
//! written to its stdin goes to the server, and two threads collect, byte for byte, what it
//! prints on stdout (what the server sent) and on stderr.

use std::io::Read;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};

/// What a client program has printed on stdout, and whether it has finished.
#[derive(Default)]
pub struct Received {
    /// Every byte so far.
    pub bytes: Vec<u8>,
    /// Its stdout closed.
    pub closed: bool,
}

/// A running client program and what it printed; the caller stops it (by its PID).
pub struct PipedChild {
    /// The process.
    pub child: Child,
    /// Its standard input.
    pub stdin: Option<ChildStdin>,
    /// Its standard output so far, with a condition variable signalled on each read.
    pub out: Arc<(Mutex<Received>, Condvar)>,
    /// Its standard error so far.
    pub err: Arc<Mutex<Vec<u8>>>,
}

impl PipedChild {
    /// Runs `cmd` with piped standard streams.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let out: Arc<(Mutex<Received>, Condvar)> = Arc::default();
        let mut so = child.stdout.take().unwrap();
        let o = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                let n = so.read(&mut buf).unwrap_or(0);
                let (m, c) = &*o;
                let mut r = m.lock().unwrap();
                if n == 0 {
                    r.closed = true;
                    c.notify_all();
                    return;
                }
                r.bytes.extend_from_slice(&buf[..n]);
                c.notify_all();
            }
        });
        let err: Arc<Mutex<Vec<u8>>> = Arc::default();
        let mut se = child.stderr.take().unwrap();
        let e = err.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = se.read(&mut buf) {
                if n == 0 {
                    return;
                }
                e.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PipedChild {
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }
}

/// Why [`PipedChild::wait_until`] gave up.
pub struct Unmet {
    /// The text received, markup and telnet commands stripped.
    pub text: String,
    /// The wait ran out (else the program finished first).
    pub timed_out: bool,
}

impl PipedChild {
    /// Writes to the program's standard input.
    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// What it printed on standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Waits (bounded by [`super::WAIT`]) until `check` holds for what was received, or the
    /// program finished first.
    pub fn wait_until<T>(&self, mut check: impl FnMut(&Received) -> Option<T>) -> Result<T, Unmet> {
        let deadline = std::time::Instant::now() + super::WAIT;
        let (m, c) = &*self.out;
        let mut r = m.lock().unwrap();
        loop {
            if let Some(t) = check(&r) {
                return Ok(t);
            }
            let now = std::time::Instant::now();
            if r.closed || now >= deadline {
                return Err(Unmet {
                    text: super::plain(&r.bytes),
                    timed_out: now >= deadline,
                });
            }
            r = c.wait_timeout(r, deadline - now).unwrap().0;
        }
    }
}
