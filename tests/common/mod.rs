//! Test harness: runs the real `portcullis` binary on 127.0.0.1 port 0 in a temporary
//! directory, and talks to it with raw telnet sockets and the real CLI.
//!
//! Synchronisation is by waiting for log lines and for text from the server, never by sleeping
//! a fixed time.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub mod piped;
pub mod web;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// Lines a process printed on stderr, shared with the thread that reads them.
#[derive(Clone, Default)]
pub struct Log {
    inner: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Log {
    pub fn attach(stream: impl Read + Send + 'static) -> Self {
        let log = Log::default();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("ECHO_PORTCULLIS_LOG").is_some() {
                    eprintln!("| {line}");
                }
                let (m, c) = &*l.inner;
                m.lock().unwrap().push(line);
                c.notify_all();
            }
        });
        log
    }

    pub fn lines(&self) -> Vec<String> {
        self.inner.0.lock().unwrap().clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `n` lines contain `needle`; returns the last such line.
    pub fn wait_count(&self, needle: &str, n: usize) -> String {
        let deadline = Instant::now() + WAIT;
        let (m, c) = &*self.inner;
        let mut lines = m.lock().unwrap();
        loop {
            let found: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "log never had {n} line(s) with {needle:?}; log was:\n{}",
                    lines.join("\n")
                );
            }
            lines = c.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_count(needle, 1)
    }
}

/// A running `portcullis start` in its own directory.
pub struct Portcullis {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub child: Child,
    pub log: Log,
    /// The telnet port.
    pub port: u16,
    /// The SSH port, when started with `start_ssh`.
    pub ssh_port: Option<u16>,
}

/// A config with SSH on 127.0.0.1:0 as well (fast rejections for tests), then `extra`
/// appended (top-level sections other than [telnet], [tls], [ssh]).
pub fn ssh_test_config(extra: &str) -> String {
    format!(
        "data_dir = \"data\"\n{extra}\n[telnet]\nbind = \"127.0.0.1:0\"\n[tls]\nenabled = false\n[ssh]\nbind = \"127.0.0.1:0\"\nauth_rejection_delay_ms = 50\n[web]\nenabled = false\n"
    )
}

/// A config for tests: telnet on 127.0.0.1:0, TLS and SSH off, then `extra` appended.
pub fn test_config(extra: &str) -> String {
    format!(
        "data_dir = \"data\"\n{extra}\n[telnet]\nbind = \"127.0.0.1:0\"\n[tls]\nenabled = false\n[ssh]\nenabled = false\n[web]\nenabled = false\n"
    )
}

impl Portcullis {
    /// Starts with the default test config plus `extra` (top-level sections such as
    /// `[limits]` with their keys).
    pub fn start(extra: &str) -> Self {
        Self::start_with(&test_config(extra))
    }

    /// Starts with this whole config file, in a new temporary directory.
    pub fn start_with(config_text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_text).unwrap();
        Self::start_in(dir, config)
    }

    pub fn start_in(dir: tempfile::TempDir, config: PathBuf) -> Self {
        let mut child = Command::new(BIN)
            .arg("start")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Log::attach(child.stderr.take().unwrap());
        let line = log.wait_for("listening protocol=\"telnet\"");
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        log.wait_for("server synced");
        let ssh_port = log
            .lines()
            .iter()
            .find(|l| l.contains("listening protocol=\"ssh\""))
            .and_then(|l| l.rsplit(':').next().and_then(|p| p.trim().parse().ok()));
        Portcullis {
            dir,
            config,
            child,
            log,
            port,
            ssh_port,
        }
    }

    /// Starts with SSH enabled too (see `ssh_test_config`).
    pub fn start_ssh(extra: &str) -> Self {
        let p = Self::start_with(&ssh_test_config(extra));
        assert!(p.ssh_port.is_some(), "ssh is not listening");
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the CLI with this instance's config.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.config, args, None)
    }

    /// Runs the CLI with `stdin` as its standard input.
    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        cli(&self.config, args, Some(stdin))
    }

    pub fn telnet(&self) -> Telnet {
        Telnet::connect(self.port)
    }

    /// Creates an account with the CLI (password `secret-NAME`).
    pub fn account(&self, name: &str) {
        let out = self.cli_stdin(&["accounts", "create", name], &format!("secret-{name}\n"));
        assert!(
            out.status.success(),
            "accounts create failed: {}",
            stderr(&out)
        );
    }

    /// A telnet client logged in as a freshly created account (made with the CLI, so the
    /// creation throttle does not apply).
    pub fn player(&self, name: &str) -> Telnet {
        self.account(name);
        let mut t = self.telnet();
        t.expect("> ");
        t.send_line(&format!("connect {name} secret-{name}"));
        t.expect(&format!("Welcome, {name}."));
        t.expect("Present:");
        t
    }

    /// The `status` output.
    pub fn status(&self) -> String {
        let out = self.cli(&["status"]);
        assert!(out.status.success(), "status failed: {}", stderr(&out));
        stdout(&out)
    }

    /// The server's pid, from `status`.
    pub fn server_pid(&self) -> u32 {
        let s = self.status();
        s.lines()
            .find_map(|l| l.strip_prefix("server: pid "))
            .and_then(|r| r.split(',').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no server pid in status:\n{s}"))
    }

    /// Stops with `portcullis stop` and waits for the process; returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let out = self.cli(&["stop"]);
        assert!(out.status.success(), "stop failed: {}", stderr(&out));
        wait_exit(&mut self.child)
    }
}

impl Drop for Portcullis {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// Stops a child that is still running: SIGTERM (so a portal stops and reaps its server),
/// then SIGKILL if it has not exited within 5 s.
pub fn terminate(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "process did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn cli(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg("--config").arg(config);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Removes telnet commands (IAC sequences) and ANSI SGR sequences, for matching text.
pub fn plain(raw: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            0xFF if i + 1 < raw.len() => match raw[i + 1] {
                0xFF => {
                    out.push(0xFF);
                    i += 2;
                }
                0xFB..=0xFE => i += 3,
                0xFA => {
                    // Skip to IAC SE.
                    let mut j = i + 2;
                    while j + 1 < raw.len() && !(raw[j] == 0xFF && raw[j + 1] == 0xF0) {
                        j += 1;
                    }
                    i = j + 2;
                }
                _ => i += 2,
            },
            0x1B if i + 1 < raw.len() && raw[i + 1] == b'[' => {
                let mut j = i + 2;
                while j < raw.len() && !(0x40..=0x7E).contains(&raw[j]) {
                    j += 1;
                }
                i = j + 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// A raw telnet client: a TCP socket and everything it has received.
pub struct Telnet {
    pub stream: TcpStream,
    /// Every byte received so far.
    pub raw: Vec<u8>,
    /// Index into `plain(raw)` up to which `expect` has consumed text.
    seen: usize,
}

impl Telnet {
    pub fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Telnet {
            stream,
            raw: Vec::new(),
            seen: 0,
        }
    }

    /// The same client on an accepted stream (a scripted game's side of a connection).
    pub fn from_stream(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Telnet {
            stream,
            raw: Vec::new(),
            seen: 0,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes());
    }

    /// Reads what is available; false once the server closed the connection.
    pub fn pump(&mut self) -> bool {
        let mut buf = [0u8; 65536];
        match self.stream.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                true
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                true
            }
            Err(_) => false,
        }
    }

    /// Waits until `needle` is anywhere in the text received (ignoring what `expect` consumed).
    pub fn wait_contains(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.text().contains(needle) {
            assert!(
                self.pump() && Instant::now() < deadline,
                "never got {needle:?}; text was:\n{}",
                self.text()
            );
        }
    }

    /// Text received so far, without telnet commands and colour.
    pub fn text(&self) -> String {
        plain(&self.raw)
    }

    /// Waits for `needle` in text after what earlier expects consumed; returns the text up to
    /// and including it.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if let Some(found) = take_match(&text, &mut self.seen, needle) {
                return found;
            }
            let open = self.pump();
            if !open || Instant::now() > deadline {
                let text = self.text();
                // One last look: the text may have arrived with the close.
                if let Some(found) = take_match(&text, &mut self.seen, needle) {
                    return found;
                }
                panic!(
                    "never got {needle:?} ({}); after the last match the text was:\n{}",
                    if open {
                        "timed out"
                    } else {
                        "connection closed"
                    },
                    &text[self.seen.min(text.len())..]
                );
            }
        }
    }

    /// Waits until the server closes the connection; returns the text from the last match on.
    pub fn expect_closed(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        while self.pump() {
            assert!(Instant::now() < deadline, "connection was not closed");
        }
        let text = self.text();
        text[self.seen.min(text.len())..].to_string()
    }

    /// Forgets everything received so far (for byte-level checks on what comes next).
    pub fn clear(&mut self) {
        self.raw.clear();
        self.seen = 0;
    }

    /// Waits until the raw bytes contain `needle`.
    pub fn expect_raw(&mut self, needle: &[u8]) {
        let deadline = Instant::now() + WAIT;
        while !self.raw.windows(needle.len()).any(|w| w == needle) {
            assert!(
                self.pump() && Instant::now() < deadline,
                "never got raw {needle:?}; got {:?}",
                self.raw
            );
        }
    }
}

impl Portcullis {
    /// Stops with `portcullis stop` like [`Portcullis::stop`], but keeps the directory (and so
    /// the config and data) for a later [`Portcullis::start_in`]; returns the exit status, the
    /// directory and the config path.
    pub fn stop_keeping_dir(mut self) -> (std::process::ExitStatus, tempfile::TempDir, PathBuf) {
        let out = self.cli(&["stop"]);
        assert!(out.status.success(), "stop failed: {}", stderr(&out));
        let status = wait_exit(&mut self.child);
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (status, dir, self.config.clone())
    }
}

/// `ssh_test_config(extra)` with telnet over TLS on 127.0.0.1:0 as well; `tls_keys` (lines such
/// as `handshake_timeout_secs = 1`) go into its `[tls]` section.
pub fn tls_test_config(tls_keys: &str, extra: &str) -> String {
    let mut keys = tls_keys.to_string();
    if !keys.is_empty() && !keys.ends_with('\n') {
        keys.push('\n');
    }
    let config = ssh_test_config(extra);
    assert!(config.contains("[tls]\nenabled = false\n"));
    config.replace(
        "[tls]\nenabled = false\n",
        &format!("[tls]\nbind = \"127.0.0.1:0\"\n{keys}"),
    )
}

impl Portcullis {
    /// Starts with `tls_test_config(tls_keys, extra)`: telnet, TLS and SSH on loopback.
    pub fn start_tls(tls_keys: &str, extra: &str) -> Self {
        Self::start_with(&tls_test_config(tls_keys, extra))
    }

    /// The telnet-over-TLS port, from the portal's `listening` log line.
    pub fn tls_port(&self) -> u16 {
        let line = self.log.wait_for("listening protocol=\"telnet/ssl\"");
        line.split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no TLS port in {line:?}"))
    }
}

/// The payloads (IAC-unescaped) of every complete `IAC SB option … IAC SE` in raw telnet bytes,
/// in order. Only meaningful for bytes that are not compressed (MCCP2).
pub fn subnegotiations(raw: &[u8], option: u8) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < raw.len() {
        if raw[i] != 0xFF {
            i += 1;
            continue;
        }
        match raw[i + 1] {
            0xFB..=0xFE => i += 3,
            0xFA if i + 2 < raw.len() => {
                let opt = raw[i + 2];
                let mut payload = Vec::new();
                let mut j = i + 3;
                let mut complete = false;
                while j < raw.len() {
                    if raw[j] == 0xFF && j + 1 < raw.len() {
                        if raw[j + 1] == 0xF0 {
                            complete = true;
                            j += 2;
                            break;
                        }
                        if raw[j + 1] != 0xFF {
                            // IAC <command> inside SB: malformed, not counted.
                            j += 1;
                            break;
                        }
                        payload.push(0xFF);
                        j += 2;
                    } else {
                        payload.push(raw[j]);
                        j += 1;
                    }
                }
                if complete && opt == option {
                    found.push(payload);
                }
                i = j;
            }
            _ => i += 2,
        }
    }
    found
}

impl Telnet {
    /// Waits until the raw bytes hold at least `n` subnegotiations for `option`; returns the
    /// payload of the `n`th (1-based), IAC-unescaped.
    pub fn expect_subneg(&mut self, option: u8, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = subnegotiations(&self.raw, option);
            if found.len() >= n {
                return found[n - 1].clone();
            }
            assert!(
                self.pump() && Instant::now() < deadline,
                "never got subnegotiation #{n} for option {option}; raw was {:?}",
                self.raw
            );
        }
    }
}

/// Finds `needle` in `text` after byte `seen`; moves `seen` past it and returns the text from
/// the old `seen` up to and including it (what every client's `expect` returns).
pub fn take_match(text: &str, seen: &mut usize, needle: &str) -> Option<String> {
    let pos = text[(*seen).min(text.len())..].find(needle)?;
    let start = *seen;
    *seen += pos + needle.len();
    Some(text[start..*seen].to_string())
}

/// Runs `cmd` to completion, writing `stdin` to it (stdin is closed when `None`), killing it
/// and failing the test if it takes longer than `limit`.
pub fn run_limited(cmd: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        // A thread, so a child that does not read its input cannot block the test.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    wait_output_of(child, limit, &format!("{cmd:?}"))
}

/// Waits for a spawned child (stdout and stderr piped), killing it and failing the test if it
/// takes longer than `limit`.
pub fn wait_output(child: Child, limit: Duration) -> Output {
    wait_output_of(child, limit, "the child process")
}

fn wait_output_of(mut child: Child, limit: Duration, what: &str) -> Output {
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&out.join().unwrap()),
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A terminal program (ssh -tt, tintin++ …) in its own tmux server, with its socket in a
/// temporary directory so tests never share one.
pub struct Tmux {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    name: String,
}

impl Tmux {
    /// Starts `command` in a detached `width`×`height` session; the pane stays (dead) if the
    /// command exits, so its last screen can be read.
    pub fn start(command: &str, width: u16, height: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let t = Tmux {
            socket: dir.path().join("tmux.sock"),
            _dir: dir,
            name: "main".into(),
        };
        let (w, h) = (width.to_string(), height.to_string());
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-s",
            &t.name,
            "-x",
            &w,
            "-y",
            &h,
            command,
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
        ]);
        assert!(out.status.success(), "tmux failed: {}", stderr(&out));
        t
    }

    /// Resizes the window, as a player resizing their terminal.
    pub fn resize(&self, width: u16, height: u16) -> std::process::Output {
        let (w, h) = (width.to_string(), height.to_string());
        self.tmux(&["resize-window", "-t", &self.name, "-x", &w, "-y", &h])
    }

    pub fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .arg("10")
            .arg("tmux")
            .arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn display(&self, format: &str) -> String {
        let out = self.tmux(&["display-message", "-p", "-t", &self.name, format]);
        stdout(&out).trim_end().to_string()
    }

    /// Everything in the pane, scrollback included, wrapped lines joined.
    pub fn screen(&self) -> String {
        stdout(&self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", &self.name]))
    }

    /// The visible lines.
    pub fn visible(&self) -> Vec<String> {
        stdout(&self.tmux(&["capture-pane", "-p", "-t", &self.name]))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The visible line the cursor is on.
    pub fn cursor_line(&self) -> String {
        let y: usize = self.display("#{cursor_y}").parse().unwrap();
        self.visible().get(y).cloned().unwrap_or_default()
    }

    pub fn dead(&self) -> bool {
        self.display("#{pane_dead}") == "1"
    }

    /// Polls until `check` is true of the screen; returns that screen.
    pub fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.screen();
            if check(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the pane never showed {what}; it shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |s| s.contains(needle))
    }

    /// Waits until `needle` appears at least `n` times.
    pub fn wait_count(&self, needle: &str, n: usize) -> String {
        self.wait_until(&format!("{n} × {needle:?}"), |s| {
            s.matches(needle).count() >= n
        })
    }

    /// Types `text` (literally, no Enter).
    pub fn type_text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", &self.name, "-l", text]);
        assert!(out.status.success(), "send-keys: {}", stderr(&out));
    }

    pub fn enter(&self) {
        let out = self.tmux(&["send-keys", "-t", &self.name, "Enter"]);
        assert!(out.status.success(), "send-keys: {}", stderr(&out));
    }

    /// Types `text` then Enter.
    pub fn type_line(&self, text: &str) {
        self.type_text(text);
        self.enter();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// A neighbour's `say` comes back within `bound`, twenty times in a row.
pub fn round_trips_stay_short(neighbour: &mut Telnet, bound: Duration) -> Duration {
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let t0 = Instant::now();
        neighbour.send_line(&format!("say ping {i}"));
        neighbour.expect(&format!("You say, \"ping {i}\""));
        worst = worst.max(t0.elapsed());
    }
    assert!(worst < bound, "a neighbour's say took {worst:?}");
    worst
}
