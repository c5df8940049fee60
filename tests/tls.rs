#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Telnet over TLS driven by real clients: `openssl s_client` (logins, talk with plain telnet
//! and SSH players, protocol versions, served certificates and their fingerprints), the
//! `portcullis certs` CLI, certificate reloads by `portcullis reload` and SIGHUP (a broken new
//! certificate keeps the old one), sessions that outlive a server reload and crash, bad input
//! on the TLS port, start-up errors for broken certificate files, the plain telnet password
//! policy, and tintin++ `#ssl` in tmux when it is installed.
//!
//! Every external program runs with a deadline and is killed at the end; long-lived clients
//! run under `timeout` as well. Synchronisation is by polling for output (the client's, tmux's
//! screen or the portal's log) with deadlines, never by fixed sleeps.

mod common;
use common::piped::{PipedChild, Received};
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const IAC: u8 = 255;
const WILL: u8 = 251;
const DO: u8 = 253;
const SB: u8 = 250;
const SE: u8 = 240;
const TTYPE: u8 = 24;
const NAWS: u8 = 31;

/// How long one run of a short-lived program (openssl, ssh) may take.
const RUN_DEADLINE: Duration = Duration::from_secs(30);

/// Seconds a long-lived client (s_client, tintin++) may live whatever happens to the test.
const CLIENT_LIFETIME_SECS: &str = "300";

const TINTIN: &str = "/usr/games/tt++";

// Short-lived programs.

/// What one run of a program produced.
struct Run {
    /// Exit code (None if killed by a signal).
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).replace("\r\n", "\n")
    }

    fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.out(),
            self.stderr
        )
    }
}

/// Runs `cmd` with `stdin` as its input, killing it (and failing) after [`RUN_DEADLINE`].
fn run_bounded(mut cmd: Command, stdin: &[u8]) -> Run {
    let out = run_limited(&mut cmd, Some(stdin), RUN_DEADLINE);
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn openssl(args: &[&str], stdin: &[u8]) -> Run {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    run_bounded(cmd, stdin)
}

/// One `openssl s_client` handshake with `extra` options; it hangs up as soon as it is done.
fn handshake(port: u16, extra: &[&str]) -> Run {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec!["s_client", "-connect", &connect];
    args.extend_from_slice(extra);
    openssl(&args, b"")
}

/// The SHA-256 fingerprint on a line like `sha256 Fingerprint=AB:CD:…` (`openssl x509
/// -fingerprint -sha256` and `portcullis certs show` both print one).
fn fingerprint_in(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (algorithm, fp) = l.trim().split_once(" Fingerprint=")?;
        algorithm
            .eq_ignore_ascii_case("sha256")
            .then(|| fp.trim().to_string())
    })
}

/// The fingerprint of the certificate a new connection to `port` is shown, as openssl sees it.
fn served_fingerprint(port: u16) -> String {
    let hs = handshake(port, &[]);
    assert_eq!(hs.code, Some(0), "s_client: {}", hs.describe());
    let x = openssl(&["x509", "-noout", "-fingerprint", "-sha256"], &hs.stdout);
    assert_eq!(x.code, Some(0), "openssl x509: {}", x.describe());
    fingerprint_in(&x.out()).unwrap_or_else(|| panic!("no fingerprint in {}", x.describe()))
}

/// Polls new connections until they are shown the certificate with `fingerprint`.
fn wait_served(port: u16, fingerprint: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let served = served_fingerprint(port);
        if served == fingerprint {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "new connections still get {served}, not {fingerprint}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The fingerprint `portcullis certs show` prints.
fn certs_show(p: &Portcullis) -> String {
    let out = p.cli(&["certs", "show"]);
    assert!(out.status.success(), "certs show: {}", stderr(&out));
    fingerprint_in(&stdout(&out))
        .unwrap_or_else(|| panic!("no fingerprint in certs show:\n{}", stdout(&out)))
}

/// The names (subject alternative names) `portcullis certs show` lists.
fn shown_names(p: &Portcullis) -> Vec<String> {
    let out = p.cli(&["certs", "show"]);
    assert!(out.status.success(), "certs show: {}", stderr(&out));
    let text = stdout(&out);
    text.lines()
        .find_map(|l| l.strip_prefix("names:"))
        .unwrap_or_else(|| panic!("no names in certs show:\n{text}"))
        .split(',')
        .map(|n| n.trim().to_string())
        .collect()
}

/// Runs `portcullis certs generate --force` with `args`; returns the new fingerprint.
fn certs_generate_force(p: &Portcullis, args: &[&str]) -> String {
    let mut all = vec!["certs", "generate", "--force"];
    all.extend_from_slice(args);
    let out = p.cli(&all);
    assert!(out.status.success(), "certs generate: {}", stderr(&out));
    fingerprint_in(&stdout(&out))
        .unwrap_or_else(|| panic!("no fingerprint in certs generate:\n{}", stdout(&out)))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn send_signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// The protocol column of `name`'s row in `who` output.
fn who_protocol(who: &str, name: &str) -> Option<String> {
    who.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next() == Some(name)).then(|| f.next().unwrap_or("").to_string())
    })
}

/// `status` rows (ID PROTOCOL ADDRESS ACCOUNT IDLE) with protocol `protocol`.
fn status_rows(p: &Portcullis, protocol: &str) -> Vec<Vec<String>> {
    p.status()
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f.len() >= 4 && f[0].parse::<u64>().is_ok() && f[1] == protocol)
        .collect()
}

/// `ssh -p PORT USER@127.0.0.1 COMMAND…` with a password answered by an SSH_ASKPASS script.
fn ssh_exec(p: &Portcullis, user: &str, password: &str, command: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let askpass = dir.path().join("askpass");
    std::fs::write(
        &askpass,
        "#!/bin/sh\nprintf '%s\\n' \"$TEST_ASKPASS_SECRET\"\n",
    )
    .unwrap();
    chmod(&askpass, 0o700);
    let port = p.ssh_port.expect("ssh is not listening").to_string();
    let known_hosts = format!("UserKnownHostsFile={}", dir.path().join("kh").display());
    let target = format!("{user}@127.0.0.1");
    let mut cmd = Command::new("ssh");
    cmd.args([
        "-F",
        "/dev/null",
        "-p",
        &port,
        "-o",
        &known_hosts,
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "NumberOfPasswordPrompts=1",
        &target,
    ])
    .args(command)
    .env_remove("SSH_AUTH_SOCK")
    .env("HOME", dir.path())
    .env("SSH_ASKPASS", &askpass)
    .env("SSH_ASKPASS_REQUIRE", "force")
    .env("DISPLAY", ":0")
    .env("TEST_ASKPASS_SECRET", password);
    run_bounded(cmd, b"")
}

// A long-lived `openssl s_client` player.

/// `openssl s_client -quiet -no_ign_eof` as a telnet client: what is written to its stdin goes
/// to the server, what it prints on stdout is what the server sent.
struct SClient {
    /// The s_client process and what it printed.
    p: PipedChild,
    /// Index into `plain(bytes)` up to which `expect` has consumed text.
    seen: usize,
}

impl SClient {
    fn connect(port: u16) -> Self {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", CLIENT_LIFETIME_SECS, "openssl", "s_client"])
            .arg("-connect")
            .arg(format!("127.0.0.1:{port}"))
            // -nocommands: a line starting with Q, R, k or K is text, not an s_client command.
            .args(["-quiet", "-no_ign_eof", "-nocommands"]);
        SClient {
            p: PipedChild::spawn(cmd),
            seen: 0,
        }
    }

    /// Sends raw bytes (s_client passes them on unchanged).
    fn send(&mut self, bytes: &[u8]) {
        self.p.send(bytes);
    }

    fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes());
    }

    fn stderr(&self) -> String {
        self.p.stderr()
    }

    /// Waits until `check` holds for what was received; panics with `what` after [`WAIT`] or
    /// when s_client finished first.
    fn wait_until<T>(&self, what: &str, check: impl FnMut(&Received) -> Option<T>) -> T {
        self.p.wait_until(check).unwrap_or_else(|u| {
            panic!(
                "s_client never got {what} ({}); text after the last match:\n{}\n--- s_client stderr\n{}",
                if u.timed_out {
                    "timed out"
                } else {
                    "connection closed"
                },
                u.text.get(self.seen.min(u.text.len())..).unwrap_or(""),
                self.stderr()
            )
        })
    }

    /// Waits for `needle` in the text after what earlier expects consumed; returns the text up
    /// to and including it.
    fn expect(&mut self, needle: &str) -> String {
        let seen = self.seen;
        let (text, end) = self.wait_until(&format!("{needle:?}"), |r| {
            let text = plain(&r.bytes);
            let pos = text.get(seen.min(text.len())..)?.find(needle)?;
            let end = seen + pos + needle.len();
            Some((text, end))
        });
        self.seen = end;
        text[seen..end].to_string()
    }

    /// Waits until the raw bytes contain `needle`.
    fn expect_raw(&self, needle: &[u8]) {
        self.expect_raw_count(needle, 1);
    }

    /// Waits until the raw bytes contain `needle` `n` times.
    fn expect_raw_count(&self, needle: &[u8], n: usize) {
        self.wait_until(&format!("{n} × raw {needle:?}"), |r| {
            let count = r
                .bytes
                .windows(needle.len())
                .filter(|w| *w == needle)
                .count();
            (count >= n).then_some(())
        });
    }

    /// Runs `options` and returns its output, the `flags` list included.
    fn options(&mut self) -> String {
        self.send_line("options");
        self.send_line("say end of options");
        self.expect("You say, \"end of options\"")
    }

    /// Waits for the connection screen's prompt, then logs in.
    fn login(&mut self, name: &str, password: &str) {
        self.expect(" online.");
        self.expect("> ");
        self.send_line(&format!("connect {name} {password}"));
        self.expect(&format!("Welcome, {name}."));
        self.expect("Present:");
    }

    /// Waits until the server has closed the connection and s_client has finished; returns
    /// its exit code.
    fn wait_finished(&mut self) -> Option<i32> {
        self.wait_until("the end of the connection", |r| r.closed.then_some(()));
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.p.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "s_client did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether s_client is still running (its connection is open).
    fn running(&mut self) -> bool {
        !self.p.out.0.lock().unwrap().closed && matches!(self.p.child.try_wait(), Ok(None))
    }
}

impl Drop for SClient {
    fn drop(&mut self) {
        // End of input makes s_client hang up; SIGTERM (forwarded by `timeout`) if it does not.
        drop(self.p.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.p.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        terminate(&mut self.p.child);
    }
}

/// The session flags in `options` output (`KEY=value` words after "flags").
fn option_flags(options: &str) -> Vec<String> {
    let start = options
        .find("\n  flags ")
        .unwrap_or_else(|| panic!("no flags in options:\n{options}"));
    options[start..]
        .split_whitespace()
        .filter(|w| w.contains('='))
        .map(str::to_string)
        .collect()
}

/// A TLS player logged in as a freshly created account (password `secret-NAME`).
fn tls_player(p: &Portcullis, name: &str) -> SClient {
    p.account(name);
    let mut c = SClient::connect(p.tls_port());
    c.login(name, &format!("secret-{name}"));
    c
}

/// Reads from `stream` until the server closes it; fails if that takes longer than `limit`.
/// Returns how long it took and what arrived.
fn wait_closed(stream: &mut TcpStream, limit: Duration) -> (Duration, Vec<u8>) {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (start.elapsed(), got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (start.elapsed(), got),
        }
        assert!(
            start.elapsed() < limit,
            "the server did not close the connection within {limit:?}; got {got:?}"
        );
    }
}

// 1. The first start's certificate.

#[test]
fn first_start_makes_a_self_signed_certificate_that_new_connections_are_shown() {
    let p = Portcullis::start_tls("", "");
    let port = p.tls_port();
    let generated = p.log.wait_for("generated self-signed TLS certificate");

    let cert = p.path().join("certs/cert.pem");
    let key = p.path().join("certs/key.pem");
    assert_eq!(mode(&cert), 0o644, "{}", cert.display());
    assert_eq!(mode(&key), 0o600, "{}", key.display());
    assert_eq!(mode(&p.path().join("certs")), 0o700);

    let show = p.cli(&["certs", "show"]);
    assert!(show.status.success(), "certs show: {}", stderr(&show));
    let shown = stdout(&show);
    let fp = fingerprint_in(&shown).unwrap_or_else(|| panic!("no fingerprint:\n{shown}"));
    assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
    assert!(
        fp.split(':').all(|b| b.len() == 2
            && b.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())),
        "{fp}"
    );
    let names = shown
        .lines()
        .find_map(|l| l.strip_prefix("names:"))
        .unwrap_or_else(|| panic!("no names in certs show:\n{shown}"));
    assert!(names.split(',').any(|n| n.trim() == "localhost"), "{shown}");
    assert!(shown.contains("ECDSA P-256"), "{shown}");
    assert!(shown.contains("(self-signed)"), "{shown}");

    // What a client is shown is that certificate; the log said so too.
    assert_eq!(served_fingerprint(port), fp);
    assert!(generated.contains(&fp), "{generated}");
    let listening = p.log.wait_for("listening protocol=\"telnet/ssl\"");
    assert!(
        listening.contains(&format!("fingerprint={fp}")),
        "{listening}"
    );

    // openssl accepts it for "localhost" when told to trust exactly this certificate.
    let cert_arg = cert.display().to_string();
    let verified = handshake(
        port,
        &[
            "-CAfile",
            &cert_arg,
            "-verify_hostname",
            "localhost",
            "-verify_return_error",
        ],
    );
    assert_eq!(verified.code, Some(0), "{}", verified.describe());
    assert!(
        verified.out().contains("Verify return code: 0 (ok)"),
        "{}",
        verified.describe()
    );

    let check = p.cli(&["certs", "check"]);
    assert!(check.status.success(), "certs check: {}", stderr(&check));
    let checked = stdout(&check);
    assert!(checked.lines().any(|l| l == "ok"), "{checked}");
    assert!(
        checked.contains("warning: certificate is self-signed"),
        "{checked}"
    );
    assert!(!checked.contains("problem:"), "{checked}");

    // A second start serves the same pair rather than making a new one.
    let (status, dir, config) = p.stop_keeping_dir();
    assert!(status.success(), "{status:?}");
    let p = Portcullis::start_in(dir, config);
    assert_eq!(p.log.count("generated self-signed"), 0);
    assert_eq!(served_fingerprint(p.tls_port()), fp);
}

// 2. Logging in and talking over TLS.

#[test]
fn a_tls_player_logs_in_and_talks_with_telnet_and_ssh_players() {
    let p = Portcullis::start_tls("", "");
    let mut alice = SClient::connect(p.tls_port());
    // Telnet negotiation travels inside TLS, then the connection screen.
    alice.expect_raw(&[IAC, DO, TTYPE]);
    alice.expect_raw(&[IAC, DO, NAWS]);
    let screen = alice.expect(" online.");
    assert!(screen.contains("Welcome to Portcullis."), "{screen}");
    assert!(screen.contains("connect <name> <password>"), "{screen}");
    assert!(!screen.contains("not encrypted"), "{screen}");

    alice.send_line("create tls1 password1");
    alice.expect("Welcome, tls1.");
    let options = alice.options();
    assert!(
        options.contains("protocol  telnet/ssl (encrypted)"),
        "{options}"
    );
    assert!(
        option_flags(&options).iter().any(|f| f == "SSL=true"),
        "{options}"
    );

    let mut bob = p.player("bob");
    alice.expect("bob has arrived.");
    bob.send_line("options");
    let options = bob.expect("screen reader");
    assert!(
        options.contains("protocol  telnet (not encrypted)"),
        "{options}"
    );

    bob.send_line("who");
    let who = bob.expect("2 players online.");
    assert_eq!(
        who_protocol(&who, "tls1").as_deref(),
        Some("telnet/ssl"),
        "{who}"
    );
    assert_eq!(
        who_protocol(&who, "bob").as_deref(),
        Some("telnet"),
        "{who}"
    );
    alice.send_line("who");
    let who = alice.expect("2 players online.");
    assert_eq!(
        who_protocol(&who, "tls1").as_deref(),
        Some("telnet/ssl"),
        "{who}"
    );
    assert_eq!(
        who_protocol(&who, "bob").as_deref(),
        Some("telnet"),
        "{who}"
    );

    // An SSH exec sees both.
    p.account("carol");
    let who = ssh_exec(&p, "carol", "secret-carol", &["who"]);
    assert_eq!(who.code, Some(0), "ssh who: {}", who.describe());
    let out = who.out();
    assert_eq!(
        who_protocol(&out, "tls1").as_deref(),
        Some("telnet/ssl"),
        "{out}"
    );
    assert_eq!(
        who_protocol(&out, "bob").as_deref(),
        Some("telnet"),
        "{out}"
    );

    alice.send_line("say Hello over TLS!");
    alice.expect("You say, \"Hello over TLS!\"");
    bob.expect("tls1 says, \"Hello over TLS!\"");
    bob.send_line("say And back in clear.");
    alice.expect("bob says, \"And back in clear.\"");
    let said = ssh_exec(&p, "carol", "secret-carol", &["say", "from", "ssh"]);
    assert_eq!(said.code, Some(0), "ssh say: {}", said.describe());
    alice.expect("carol says, \"from ssh\"");
    bob.expect("carol says, \"from ssh\"");

    let rows = status_rows(&p, "telnet/ssl");
    assert_eq!(rows.len(), 1, "{}", p.status());
    assert_eq!(rows[0][3], "tls1", "{rows:?}");

    // Quitting ends the TLS session properly: close_notify, so s_client exits cleanly.
    alice.send_line("quit");
    alice.expect("Goodbye.");
    bob.expect("tls1 has left.");
    assert_eq!(alice.wait_finished(), Some(0), "{}", alice.stderr());
    assert!(
        !alice.stderr().contains("unexpected eof"),
        "{}",
        alice.stderr()
    );
}

#[test]
fn a_tls_client_answering_mtts_keeps_the_ssl_flag() {
    let p = Portcullis::start_tls("", "");
    p.account("mira");
    let mut c = SClient::connect(p.tls_port());
    c.expect_raw(&[IAC, DO, TTYPE]);
    c.send(&[IAC, WILL, TTYPE]);
    // MTTS cycle: name, terminal, MTTS bits (ANSI | UTF-8 | 256 colours = 13; the client does
    // not claim the SSL bit, 2048, itself).
    for (i, answer) in ["TESTCLIENT", "XTERM-256COLOR", "MTTS 13"]
        .iter()
        .enumerate()
    {
        c.expect_raw_count(&[IAC, SB, TTYPE, 1, IAC, SE], i + 1);
        let mut sb = vec![IAC, SB, TTYPE, 0];
        sb.extend_from_slice(answer.as_bytes());
        sb.extend_from_slice(&[IAC, SE]);
        c.send(&sb);
    }
    c.login("mira", "secret-mira");
    let options = c.options();
    // The answers arrived...
    assert!(options.contains("client    TESTCLIENT"), "{options}");
    assert!(options.contains("terminal  XTERM-256COLOR"), "{options}");
    assert!(options.contains("colour    xterm256"), "{options}");
    // ...and the session is still known to be encrypted.
    assert!(
        options.contains("protocol  telnet/ssl (encrypted)"),
        "{options}"
    );
    let flags = option_flags(&options);
    assert!(
        flags.iter().any(|f| f == "SSL=true"),
        "the client's MTTS answer turned the SSL flag of a TLS session off: {flags:?}"
    );
}

// 3. Protocol versions.

#[test]
fn tls_1_0_and_1_1_are_refused_by_the_server_and_1_2_and_1_3_work() {
    let p = Portcullis::start_tls("", "");
    let port = p.tls_port();
    for flag in ["-tls1", "-tls1_1"] {
        let failures = p.log.count("tls handshake failed");
        // SECLEVEL=0 so that the client really offers the old version.
        let r = handshake(port, &[flag, "-cipher", "DEFAULT@SECLEVEL=0"]);
        assert_ne!(r.code, Some(0), "{flag}: {}", r.describe());
        assert!(
            !r.stderr.contains("no protocols available"),
            "{flag}: the client did not offer it: {}",
            r.describe()
        );
        // The server answered the ClientHello with an alert.
        assert!(
            r.stderr.contains("alert"),
            "{flag}: no alert from the server: {}",
            r.describe()
        );
        assert!(!r.out().contains("BEGIN CERTIFICATE"), "{}", r.describe());
        p.log.wait_count("tls handshake failed", failures + 1);
    }
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let r = handshake(port, &[flag]);
        assert_eq!(r.code, Some(0), "{flag}: {}", r.describe());
        assert!(
            r.out().contains(&format!("New, {version}, Cipher is")),
            "{flag}: {}",
            r.describe()
        );
    }
}

// 4. Certificate reloads.

#[test]
fn reload_and_sighup_serve_a_new_certificate_and_a_broken_one_keeps_the_old() {
    let p = Portcullis::start_tls("hostnames = [\"mud.example\"]", "");
    let port = p.tls_port();
    let mut alice = tls_player(&p, "alice");
    let first = certs_show(&p);
    assert_eq!(served_fingerprint(port), first);
    assert_eq!(shown_names(&p), ["localhost", "mud.example"]);

    // A new pair on disk changes nothing until the portal is told.
    let second = certs_generate_force(&p, &["--host", "example.test"]);
    assert_ne!(second, first);
    assert_eq!(certs_show(&p), second);
    assert_eq!(shown_names(&p), ["localhost", "example.test"]);
    assert_eq!(served_fingerprint(port), first);

    let out = p.cli(&["reload"]);
    assert!(out.status.success(), "reload: {}", stderr(&out));
    p.log.wait_for("tls certificate reloaded");
    assert_eq!(served_fingerprint(port), second);
    let cert_arg = p.path().join("certs/cert.pem").display().to_string();
    let verified = handshake(
        port,
        &[
            "-CAfile",
            &cert_arg,
            "-verify_hostname",
            "example.test",
            "-verify_return_error",
        ],
    );
    assert_eq!(verified.code, Some(0), "{}", verified.describe());

    // The session from before is still there, on its old keys.
    alice.expect("The server was reloaded");
    alice.send_line("say still here");
    alice.expect("You say, \"still here\"");

    // SIGHUP to the portal, with a pair for `[tls] hostnames` (no --host).
    let third = certs_generate_force(&p, &[]);
    assert_ne!(third, second);
    assert_eq!(shown_names(&p), ["localhost", "mud.example"]);
    send_signal("-HUP", p.child.id());
    wait_served(port, &third);
    p.log.wait_count("tls certificate reloaded", 2);
    assert_eq!(certs_show(&p), third);

    // A broken certificate file: the portal keeps serving the last good one.
    std::fs::write(p.path().join("certs/cert.pem"), "garbage\n").unwrap();
    send_signal("-HUP", p.child.id());
    let kept = p.log.wait_for("kept the old one");
    assert!(kept.contains("cert.pem"), "{kept}");
    assert_eq!(p.log.count("tls certificate reloaded"), 2);
    assert_eq!(served_fingerprint(port), third);
    // So does `portcullis reload`, which still reloads the server.
    let out = p.cli(&["reload"]);
    assert!(out.status.success(), "reload: {}", stderr(&out));
    p.log.wait_count("kept the old one", 2);
    assert_eq!(served_fingerprint(port), third);

    assert!(alice.running(), "s_client ended: {}", alice.stderr());
    alice.send_line("say still here after all that");
    alice.expect("You say, \"still here after all that\"");
    let rows = status_rows(&p, "telnet/ssl");
    assert_eq!(rows.len(), 1, "{}", p.status());
    assert_eq!(rows[0][3], "alice", "{rows:?}");
}

// 5. Reload and crash of the server.

#[test]
fn a_tls_session_survives_a_server_reload_and_a_kill() {
    let p = Portcullis::start_tls("", "");
    let mut alice = tls_player(&p, "alice");
    let mut bob = p.player("bob");
    alice.expect("bob has arrived.");
    let before = status_rows(&p, "telnet/ssl");
    assert_eq!(before.len(), 1, "{}", p.status());
    assert_eq!(before[0][3], "alice", "{before:?}");

    let first_pid = p.server_pid();
    let out = p.cli(&["reload"]);
    assert!(out.status.success(), "reload: {}", stderr(&out));
    alice.expect("The server was reloaded");
    alice.send_line("say after reload");
    alice.expect("You say, \"after reload\"");
    bob.expect("alice says, \"after reload\"");

    let second_pid = p.server_pid();
    assert_ne!(first_pid, second_pid);
    send_signal("-9", second_pid);
    alice.expect("The server is back after a restart");
    p.log.wait_count("server synced", 3);
    alice.send_line("say after restart");
    alice.expect("You say, \"after restart\"");
    bob.expect("alice says, \"after restart\"");

    assert!(alice.running(), "s_client ended: {}", alice.stderr());
    let after = status_rows(&p, "telnet/ssl");
    assert_eq!(after.len(), 1, "{}", p.status());
    assert_eq!(after[0][0], before[0][0], "the session changed");
    assert_eq!(after[0][3], "alice", "{after:?}");

    // Stopping the portal says goodbye over TLS and closes the session cleanly.
    drop(bob);
    let status = p.stop();
    assert!(status.success(), "{status:?}");
    alice.expect("shutting down");
    assert_eq!(alice.wait_finished(), Some(0), "{}", alice.stderr());
    assert!(
        !alice.stderr().contains("unexpected eof"),
        "{}",
        alice.stderr()
    );
}

// 6. Bad input on the TLS port.

#[test]
fn plain_text_and_silence_on_the_tls_port_are_closed_and_neighbours_stay() {
    let p = Portcullis::start_tls("handshake_timeout_secs = 1", "");
    let port = p.tls_port();
    let mut alice = tls_player(&p, "alice");
    let mut bob = p.player("bob");
    alice.expect("bob has arrived.");

    // Plain telnet to the TLS port is not a handshake.
    let failed = p.log.count("tls handshake failed");
    let mut raw = TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.write_all(b"connect bob x\r\n").unwrap();
    let (took, got) = wait_closed(&mut raw, Duration::from_secs(5));
    assert!(
        !String::from_utf8_lossy(&got).contains("Welcome"),
        "got {got:?}"
    );
    let line = p.log.wait_count("tls handshake failed", failed + 1);
    assert!(line.contains("telnet/ssl"), "{line}");
    eprintln!("plain text on the TLS port was closed after {took:?}");

    // A client that says nothing is closed after handshake_timeout_secs.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (took, got) = wait_closed(&mut silent, Duration::from_secs(5));
    assert!(got.is_empty(), "got {got:?}");
    assert!(
        took >= Duration::from_millis(900),
        "closed after only {took:?}"
    );
    p.log.wait_for("tls handshake timed out");

    // Neither became a session, and the players next door noticed nothing.
    assert_eq!(status_rows(&p, "telnet/ssl").len(), 1, "{}", p.status());
    alice.send_line("say unbothered");
    alice.expect("You say, \"unbothered\"");
    bob.expect("alice says, \"unbothered\"");
    bob.send_line("say me too");
    alice.expect("bob says, \"me too\"");
}

// 7. Start-up errors.

/// A certificate and key made by `openssl req` (key mode 0600).
fn openssl_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let r = openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=x",
            "-days",
            "30",
            "-keyout",
            &k,
            "-out",
            &c,
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "openssl req: {}", r.describe());
    chmod(&key, 0o600);
    (cert, key)
}

/// A directory with a config whose `[tls]` uses `cert` and `key` (relative to it).
fn cert_config(cert: &str, key: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        tls_test_config(&format!("cert = \"{cert}\"\nkey = \"{key}\"\n"), ""),
    )
    .unwrap();
    (dir, config)
}

/// Runs `portcullis start`, which must fail; returns its one `portcullis:` error line.
fn start_fails(config: &Path) -> String {
    let mut cmd = Command::new(BIN);
    cmd.arg("start")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info");
    let r = run_bounded(cmd, b"");
    assert!(
        r.code.is_some_and(|c| c != 0),
        "start did not fail: {}",
        r.describe()
    );
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("portcullis:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", r.describe());
    errors[0].to_string()
}

#[test]
fn broken_certificate_files_stop_the_start_with_one_clear_line() {
    let pairs = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = openssl_pair(pairs.path(), "a");
    let (_cert_b, key_b) = openssl_pair(pairs.path(), "b");

    // Only the certificate: the line names the missing key, and nothing is made over it.
    let (dir, config) = cert_config("certs/cert.pem", "certs/key.pem");
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    let cert = dir.path().join("certs/cert.pem");
    let key = dir.path().join("certs/key.pem");
    std::fs::copy(&cert_a, &cert).unwrap();
    let line = start_fails(&config);
    assert!(line.contains(&key.display().to_string()), "{line}");
    assert!(!key.exists(), "a key was made: {line}");
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        std::fs::read(&cert_a).unwrap()
    );

    // Only the key: the line names the missing certificate.
    std::fs::remove_file(&cert).unwrap();
    std::fs::copy(&key_a, &key).unwrap();
    chmod(&key, 0o600);
    let line = start_fails(&config);
    assert!(line.contains(&cert.display().to_string()), "{line}");
    assert!(!cert.exists(), "a certificate was made: {line}");

    // A key from another pair.
    let (dir, config) = cert_config("cert.pem", "key.pem");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::copy(&cert_a, &cert).unwrap();
    std::fs::copy(&key_b, &key).unwrap();
    chmod(&key, 0o600);
    let line = start_fails(&config);
    assert!(line.contains("does not match"), "{line}");
    assert!(line.contains(&key.display().to_string()), "{line}");
    let check = cli(&config, &["certs", "check"], None);
    assert!(!check.status.success(), "certs check passed a mismatch");
    assert!(
        stdout(&check).contains("does not match"),
        "{}",
        stdout(&check)
    );
    assert!(
        stderr(&check).starts_with("portcullis:"),
        "{}",
        stderr(&check)
    );

    // The right key, readable by everyone.
    std::fs::copy(&key_a, &key).unwrap();
    chmod(&key, 0o644);
    let line = start_fails(&config);
    assert!(line.contains("chmod 600"), "{line}");
    let check = cli(&config, &["certs", "check"], None);
    assert!(!check.status.success(), "certs check passed mode 0644");
    assert!(stdout(&check).contains("chmod 600"), "{}", stdout(&check));
    chmod(&key, 0o600);
    let check = cli(&config, &["certs", "check"], None);
    assert!(check.status.success(), "certs check: {}", stdout(&check));

    // `certs generate` does not replace files without --force.
    let out = cli(&config, &["certs", "generate"], None);
    assert!(!out.status.success(), "generate replaced existing files");
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        std::fs::read(&cert_a).unwrap()
    );
    assert_eq!(std::fs::read(&key).unwrap(), std::fs::read(&key_a).unwrap());
    let out = cli(&config, &["certs", "generate", "--force"], None);
    assert!(out.status.success(), "generate --force: {}", stderr(&out));
    assert_ne!(
        std::fs::read(&cert).unwrap(),
        std::fs::read(&cert_a).unwrap()
    );
    assert_eq!(mode(&key), 0o600);
}

// 8. The plain telnet password policy.

#[test]
fn plain_telnet_warns_by_default_and_points_at_the_tls_port() {
    let p = Portcullis::start_tls("", "");
    let tls = p.tls_port();
    let mut t = p.telnet();
    let screen = t.expect(" online.");
    assert!(
        screen.contains("This connection is not encrypted."),
        "{screen}"
    );
    assert!(screen.contains(&format!("TLS on port {tls}")), "{screen}");
    // Warned, but allowed.
    p.account("bob");
    t.send_line("connect bob secret-bob");
    t.expect("Welcome, bob.");

    let mut s = SClient::connect(tls);
    let screen = s.expect(" online.");
    assert!(!screen.contains("not encrypted"), "{screen}");
}

#[test]
fn with_login_deny_plain_telnet_refuses_passwords_and_tls_takes_them() {
    let text = tls_test_config("", "").replace("[telnet]\n", "[telnet]\nlogin = \"deny\"\n");
    let p = Portcullis::start_with(&text);
    let tls = p.tls_port();
    p.account("carol");

    let mut t = p.telnet();
    let screen = t.expect(" online.");
    assert!(
        screen.contains("Passwords are not accepted over plain telnet here."),
        "{screen}"
    );
    assert!(screen.contains(&format!("TLS on port {tls}")), "{screen}");
    t.send_line("connect carol secret-carol");
    t.expect("Passwords are not accepted over plain telnet here.");
    t.expect("> ");
    // The name alone does not lead to a password prompt either.
    t.send_line("carol");
    t.expect("Passwords are not accepted over plain telnet here.");
    t.expect("> ");
    assert!(!t.text().contains("Welcome, carol."), "{}", t.text());
    assert!(!t.text().contains("Password:"), "{}", t.text());

    let mut s = SClient::connect(tls);
    s.login("carol", "secret-carol");
    s.send_line("options");
    s.expect("protocol  telnet/ssl (encrypted)");
    assert_eq!(p.log.count("secret-carol"), 0);
}

// 9. tintin++.

/// Single-quotes `s` for `sh`.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn tintin_connects_with_ssl_and_reports_its_client_and_size() {
    if !Path::new(TINTIN).exists() {
        eprintln!("note: {TINTIN} is not installed (Debian package tintin++); skipping");
        return;
    }
    let p = Portcullis::start_tls("", "");
    let port = p.tls_port();
    p.account("tina");
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        &format!(
            "exec env HOME={} timeout {CLIENT_LIFETIME_SECS} {TINTIN}",
            sq(&home.path().display().to_string())
        ),
        120,
        35,
    );
    t.wait_for("T I N T I N");
    t.type_line(&format!("#ssl x 127.0.0.1 {port}"));
    t.wait_for(" online.");
    t.type_line("connect tina secret-tina");
    t.wait_for("Welcome, tina.");
    t.type_line("options");
    t.type_line("say end of options");
    let screen = t.wait_for("You say, \"end of options\"");
    let options = &screen[screen.rfind("Your options").unwrap_or(0)..];
    let options = &options[..options.find("You say").unwrap_or(options.len())];
    assert!(
        options.contains("protocol  telnet/ssl (encrypted)"),
        "{options}"
    );
    // Its TTYPE says TINTIN++, its NEW-ENVIRON CLIENT_NAME TinTin++.
    assert!(
        options.to_ascii_uppercase().contains("CLIENT    TINTIN++"),
        "{options}"
    );
    assert!(options.contains("width     120"), "{options}");
    // tintin++ takes both compressions, over TLS too.
    p.log.wait_for("mccp2 compression started");
    p.log.wait_for("mccp3 compression started by the client");

    let rows = status_rows(&p, "telnet/ssl");
    assert_eq!(rows.len(), 1, "{}", p.status());
    assert_eq!(rows[0][3], "tina", "{rows:?}");

    // tintin++ remembered the certificate it was shown: the one `certs show` describes.
    let saved: Vec<PathBuf> = std::fs::read_dir(home.path().join(".tintin/ssl"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    assert_eq!(saved.len(), 1, "{saved:?}\n{}", t.screen());
    let x = openssl(
        &[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            &saved[0].display().to_string(),
        ],
        b"",
    );
    assert_eq!(x.code, Some(0), "{}", x.describe());
    assert_eq!(fingerprint_in(&x.out()), Some(certs_show(&p)));

    t.type_line("quit");
    t.wait_for("Goodbye.");

    // The session knew it was encrypted all along.
    let flags = option_flags(options);
    assert!(
        flags.iter().any(|f| f == "SSL=true"),
        "tintin++'s MTTS answer turned the SSL flag of its TLS session off: {flags:?}"
    );
}

/// Handshakes in progress count against the per-address limit: silent TLS connections past
/// it are closed at once instead of being held until the handshake timeout.
#[test]
fn pending_handshakes_are_bounded_per_address() {
    use std::io::Read;
    let p = Portcullis::start_tls(
        "handshake_timeout_secs = 30",
        "[limits]\nmax_connections_per_address = 2\n",
    );
    let port = p.tls_port();
    let held: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // Connections are accepted in order, so these two hold the address's two slots.
    let mut extra = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    let started = std::time::Instant::now();
    let n = extra.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the third handshake was not refused");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the third handshake was held instead of refused"
    );
    p.log.wait_for("too many tls handshakes from one address");
    drop(held);
}

/// The web client's HTTPS port shows the same certificate as telnet over TLS, and a reload
/// swaps it on both.
#[test]
fn the_web_port_shares_the_certificate_and_its_reload() {
    let p = Portcullis::start_web_tls("", "");
    let (tls, web) = (p.tls_port(), p.web_port());
    let first = certs_show(&p);
    assert_eq!(served_fingerprint(tls), first);
    assert_eq!(served_fingerprint(web), first);
    let second = certs_generate_force(&p, &[]);
    assert_ne!(second, first);
    let out = p.cli(&["reload"]);
    assert!(out.status.success(), "reload: {}", stderr(&out));
    p.log.wait_for("tls certificate reloaded");
    assert_eq!(served_fingerprint(web), second);
    assert_eq!(served_fingerprint(tls), second);
}
