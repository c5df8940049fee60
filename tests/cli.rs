#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The command line and the configuration as an operator meets them: accounts with and without
//! a running server, `--config` placement, one-line errors, environment overrides, relative
//! paths, `status`, SIGTERM, session ids across restarts and a second `start`.

mod common;
use common::*;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A temporary directory holding `config.toml` (the test config plus `extra`).
fn config_dir(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, test_config(extra)).unwrap();
    (dir, config)
}

/// Runs `cmd` to completion within [`WAIT`] (killing it and failing otherwise), feeding it
/// `stdin` if given. A child that exits without reading its stdin is not an error.
fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    run_limited(cmd, stdin.map(str::as_bytes), WAIT)
}

/// The binary with `args` then `--config config`, no `RUST_LOG` from the caller.
fn bin(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG");
    cmd
}

/// Runs the CLI (bounded in time) with `config`, `args` and optional stdin.
fn cli_run(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    run(&mut bin(config, args), stdin)
}

/// Asserts `out` is a failure with exactly one stderr line starting `portcullis:`; returns it.
fn one_line_error(what: &str, out: &Output) -> String {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "{what}: expected failure, got {:?}; stdout:\n{}\nstderr:\n{err}",
        out.status,
        stdout(out)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected exactly one line on stderr, got:\n{err}"
    );
    assert!(
        lines[0].starts_with("portcullis:"),
        "{what}: stderr does not start with \"portcullis:\": {err}"
    );
    lines[0].to_string()
}

fn assert_ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): stdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// The port at the end of a `listening ... addr=HOST:PORT` log line.
fn port_of(line: &str) -> u16 {
    line.rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// A portal spawned by the test itself; killed if the test fails before it stops.
struct Spawned {
    child: Child,
    log: Log,
}

impl Spawned {
    fn start(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Log::attach(child.stderr.take().unwrap());
        Spawned { child, log }
    }
}

impl Drop for Spawned {
    /// SIGTERM first, so that the portal stops (and reaps) its server; SIGKILL after 5 s.
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// Session lines of a `status` output: (id, protocol, address, account, idle).
fn sessions(status: &str) -> Vec<(u64, String, String, String, String)> {
    status
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("ID"))
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "bad session line {l:?} in status:\n{status}");
            (
                f[0].parse()
                    .unwrap_or_else(|_| panic!("bad id in {l:?}:\n{status}")),
                f[1].to_string(),
                f[2].to_string(),
                f[3].to_string(),
                f[4].to_string(),
            )
        })
        .collect()
}

/// Whether process `pid` still exists (a zombie left to an init that does not reap counts as
/// gone: it runs nothing and holds nothing).
fn alive(pid: u32) -> bool {
    let exists = Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    if !exists {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

#[test]
fn accounts_are_managed_without_a_running_server() {
    let (dir, config) = config_dir("");

    let out = cli_run(
        &config,
        &["accounts", "create", "alice"],
        Some("first-pw\n"),
    );
    let said = assert_ok("accounts create alice", &out);
    assert!(said.contains("created account alice"), "{said}");

    let out = cli_run(&config, &["accounts", "list"], None);
    let list = assert_ok("accounts list", &out);
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("alice")),
        "{list}"
    );
    assert!(list.contains("1 account"), "{list}");

    // The same name in another case is taken.
    let out = cli_run(
        &config,
        &["accounts", "create", "ALICE"],
        Some("other-pw\n"),
    );
    let e = one_line_error("accounts create ALICE", &out);
    assert!(e.contains("taken"), "{e}");

    // Bad names and short passwords: one-line errors, nothing created.
    let out = cli_run(
        &config,
        &["accounts", "create", "9lives"],
        Some("long-enough\n"),
    );
    let e = one_line_error("accounts create 9lives", &out);
    assert!(e.contains("name"), "{e}");
    let out = cli_run(&config, &["accounts", "create", "bob"], Some("abc\n"));
    let e = one_line_error("accounts create bob (short password)", &out);
    assert!(e.contains("password"), "{e}");
    let out = cli_run(&config, &["accounts", "create", "carol"], None);
    let e = one_line_error("accounts create carol (no password)", &out);
    assert!(e.contains("password"), "{e}");
    let out = cli_run(&config, &["accounts", "passwd", "alice"], Some("abc\n"));
    let e = one_line_error("accounts passwd alice (short password)", &out);
    assert!(e.contains("password"), "{e}");
    let out = cli_run(
        &config,
        &["accounts", "passwd", "nobody"],
        Some("long-enough\n"),
    );
    let e = one_line_error("accounts passwd nobody", &out);
    assert!(e.contains("no such account"), "{e}");
    let list = assert_ok(
        "accounts list",
        &cli_run(&config, &["accounts", "list"], None),
    );
    assert!(list.contains("1 account\n"), "{list}");
    assert!(!list.contains("bob") && !list.contains("carol"), "{list}");

    let out = cli_run(
        &config,
        &["accounts", "passwd", "alice"],
        Some("second-pw\n"),
    );
    let said = assert_ok("accounts passwd alice", &out);
    assert!(said.contains("password changed"), "{said}");

    // The server sees the new password, not the old one.
    let p = Portcullis::start_in(dir, config.clone());
    let mut t = p.telnet();
    t.expect("> ");
    t.send_line("connect alice first-pw");
    t.expect("Wrong name or password.");
    t.send_line("connect alice second-pw");
    t.expect("Welcome, alice.");
    drop(t);
    assert!(p.stop().success());
}

#[test]
fn accounts_are_deleted_once() {
    let (_dir, config) = config_dir("");
    assert_ok(
        "accounts create alice",
        &cli_run(
            &config,
            &["accounts", "create", "alice"],
            Some("first-pw\n"),
        ),
    );
    let out = cli_run(&config, &["accounts", "delete", "alice"], None);
    let said = assert_ok("accounts delete alice", &out);
    assert!(said.contains("deleted account alice"), "{said}");
    let out = cli_run(&config, &["accounts", "delete", "alice"], None);
    let e = one_line_error("second accounts delete alice", &out);
    assert!(e.contains("no such account"), "{e}");
    let list = assert_ok(
        "accounts list",
        &cli_run(&config, &["accounts", "list"], None),
    );
    assert!(list.contains("0 accounts"), "{list}");
}

#[test]
fn accounts_work_while_the_server_runs() {
    let p = Portcullis::start("");
    let out = p.cli_stdin(&["accounts", "create", "dora"], "dora-pw-1\n");
    assert_ok("accounts create dora", &out);
    let mut t = p.telnet();
    t.expect("> ");
    t.send_line("connect dora dora-pw-1");
    t.expect("Welcome, dora.");

    // A password changed with the CLI counts at once for the next login.
    let out = p.cli_stdin(&["accounts", "passwd", "dora"], "dora-pw-2\n");
    assert_ok("accounts passwd dora", &out);
    let mut t2 = p.telnet();
    t2.expect("> ");
    t2.send_line("connect dora dora-pw-1");
    t2.expect("Wrong name or password.");
    t2.send_line("connect dora dora-pw-2");
    t2.expect("Welcome, dora.");

    let list = assert_ok("accounts list", &p.cli(&["accounts", "list"]));
    assert!(list.contains("dora"), "{list}");
    drop((t, t2));
    assert!(p.stop().success());
}

#[test]
fn config_option_goes_before_or_after_the_subcommand() {
    let p = Portcullis::start("");
    let before = run(
        Command::new(BIN)
            .arg("--config")
            .arg(&p.config)
            .arg("status"),
        None,
    );
    let before = assert_ok("portcullis --config X status", &before);
    assert!(before.starts_with("portal: pid "), "{before}");
    let after = run(
        Command::new(BIN)
            .arg("status")
            .arg("--config")
            .arg(&p.config),
        None,
    );
    let after = assert_ok("portcullis status --config X", &after);
    assert!(after.starts_with("portal: pid "), "{after}");
    // Also for a nested subcommand.
    let nested = run(
        Command::new(BIN)
            .arg("--config")
            .arg(&p.config)
            .args(["accounts", "list"]),
        None,
    );
    let nested = assert_ok("portcullis --config X accounts list", &nested);
    assert!(nested.contains("0 accounts"), "{nested}");
    assert!(p.stop().success());
}

#[test]
fn errors_are_one_line_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();

    // Missing config file.
    let missing = dir.path().join("nope.toml");
    for args in [&["status"][..], &["start"], &["accounts", "list"]] {
        let e = one_line_error("missing config", &cli_run(&missing, args, None));
        assert!(e.contains("nope.toml") && e.contains("not found"), "{e}");
    }

    // An unknown key names the key and the file.
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, test_config("[limits]\nmax_lines = 3\n")).unwrap();
    let e = one_line_error("unknown key", &cli_run(&unknown, &["status"], None));
    assert!(e.contains("max_lines"), "{e}");
    assert!(e.contains("unknown.toml"), "{e}");

    // A bad value names the dotted key.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "data_dir = \"data\"\n[telnet]\nbind = \"nowhere\"\n[tls]\nenabled = false\n[ssh]\nenabled = false\n",
    )
    .unwrap();
    let e = one_line_error("bad value", &cli_run(&bad, &["start"], None));
    assert!(e.contains("telnet.bind"), "{e}");
    let out_of_range = dir.path().join("range.toml");
    std::fs::write(
        &out_of_range,
        test_config("[limits]\nmax_line_length = 1\n"),
    )
    .unwrap();
    let e = one_line_error("out of range", &cli_run(&out_of_range, &["start"], None));
    assert!(e.contains("limits.max_line_length"), "{e}");

    // An unknown key or a bad value in the environment is named too.
    let good = dir.path().join("good.toml");
    std::fs::write(&good, test_config("")).unwrap();
    let out = run(
        bin(&good, &["status"]).env("PORTCULLIS_TELNET__BOGUS", "1"),
        None,
    );
    let e = one_line_error("unknown environment key", &out);
    assert!(e.to_ascii_lowercase().contains("telnet.bogus"), "{e}");
    assert!(
        e.contains("PORTCULLIS_") && e.contains("environment"),
        "{e}"
    );
    let out = run(
        bin(&good, &["status"]).env("PORTCULLIS_TELNET__BIND", "nowhere"),
        None,
    );
    let e = one_line_error("bad environment value", &out);
    assert!(e.to_ascii_lowercase().contains("telnet.bind"), "{e}");

    // A port in use: cannot listen, nothing left behind running.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let (_pdir, in_use) = config_dir("");
    std::fs::write(
        &in_use,
        std::fs::read_to_string(&in_use)
            .unwrap()
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let e = one_line_error("port in use", &cli_run(&in_use, &["start"], None));
    assert!(e.contains("cannot listen"), "{e}");
    assert!(e.contains(&port.to_string()), "{e}");
    drop(busy);

    // Control commands with no portal.
    for cmd in ["status", "reload", "stop"] {
        let e = one_line_error(cmd, &cli_run(&good, &[cmd], None));
        assert!(e.contains("no running portal"), "{cmd}: {e}");
    }

    // Clap's errors: unknown subcommand, missing and extra arguments.
    for args in [
        &["frobnicate"][..],
        &["accounts", "create"],
        &["accounts", "create", "a", "b"],
        &["accounts"],
        &["status", "--bogus"],
    ] {
        let out = cli_run(&good, args, None);
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("error"),
            "{args:?}: no error on stderr: {}",
            stderr(&out)
        );
    }
}

#[test]
fn environment_overrides_the_config_file() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let (_dir, config) = config_dir("");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("127.0.0.1:0", &format!("127.0.0.1:{busy_port}")),
    )
    .unwrap();
    let mut cmd = bin(&config, &["start"]);
    cmd.env("PORTCULLIS_TELNET__BIND", "127.0.0.1:0")
        .env("PORTCULLIS_SERVER__NAME", "Env World");
    let mut s = Spawned::start(&mut cmd);
    let port = port_of(&s.log.wait_for("listening protocol=\"telnet\""));
    assert_ne!(port, busy_port);
    s.log.wait_for("server synced");
    // The server child sees the environment too.
    let mut t = Telnet::connect(port);
    t.expect("Env World");
    t.expect("> ");
    let out = cli_run(&config, &["stop"], None);
    assert_ok("stop", &out);
    assert!(wait_exit(&mut s.child).success());
    drop(busy);
}

#[test]
fn relative_data_dir_is_next_to_the_config_file() {
    let top = tempfile::tempdir().unwrap();
    let install = top.path().join("install");
    std::fs::create_dir(&install).unwrap();
    std::fs::write(install.join("config.toml"), test_config("")).unwrap();
    let elsewhere = top.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();

    // An absolute --config from another directory.
    let out = run(
        Command::new(BIN)
            .current_dir(&elsewhere)
            .args(["accounts", "create", "erin", "--config"])
            .arg(install.join("config.toml")),
        Some("erin-pw-1\n"),
    );
    assert_ok("accounts create erin", &out);
    let data = install.join("data");
    let db = data.join("portcullis.sqlite3");
    assert!(db.is_file(), "no database at {}", db.display());
    assert!(!elsewhere.join("data").exists(), "data dir made in the cwd");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600, "database mode {:o}", mode(&db));
    assert_eq!(mode(&data), 0o700, "data dir mode {:o}", mode(&data));

    // A relative --config resolves against the cwd, data_dir against the config file.
    let out = run(
        Command::new(BIN).current_dir(top.path()).args([
            "accounts",
            "list",
            "--config",
            "install/config.toml",
        ]),
        None,
    );
    let list = assert_ok("accounts list", &out);
    assert!(list.contains("erin"), "{list}");
    assert!(
        !top.path().join("data").exists(),
        "data dir made in the cwd"
    );
}

#[test]
fn status_shows_listener_server_and_sessions() {
    let p = Portcullis::start("");
    let _alice = p.player("alice");
    let mut anon = p.telnet();
    anon.expect("> ");
    let status = p.status();
    assert!(
        status.contains(&format!("listening: telnet 127.0.0.1:{}", p.port)),
        "{status}"
    );
    assert!(
        status.contains(&format!("portal: pid {}", p.child.id())),
        "{status}"
    );
    let server_pid = p.server_pid();
    assert_ne!(server_pid, p.child.id());
    assert!(alive(server_pid));
    assert!(status.contains("sessions: 2"), "{status}");
    let s = sessions(&status);
    assert_eq!(s.len(), 2, "{status}");
    let idle_ok = |idle: &str| {
        idle.len() >= 2
            && idle[..idle.len() - 1].parse::<u64>().is_ok()
            && idle.ends_with(['s', 'm', 'h', 'd'])
    };
    for (id, protocol, address, _, idle) in &s {
        assert!(*id > 0, "{status}");
        assert_eq!(protocol, "telnet", "{status}");
        assert!(address.starts_with("127.0.0.1"), "{status}");
        assert!(idle_ok(idle), "bad idle {idle:?} in:\n{status}");
    }
    let accounts: Vec<&str> = s.iter().map(|x| x.3.as_str()).collect();
    assert_eq!(accounts, ["alice", "-"], "{status}");
    assert!(s[0].0 < s[1].0, "{status}");
    drop(anon);
    assert!(p.stop().success());
}

#[test]
fn sigterm_tells_players_and_exits_cleanly() {
    let mut p = Portcullis::start("");
    let mut t = p.player("alice");
    let server_pid = p.server_pid();
    let portal_pid = p.child.id();
    let killed = Command::new("kill")
        .args(["-TERM", &portal_pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    t.expect("Portcullis is shutting down");
    t.expect_closed();
    let status = wait_exit(&mut p.child);
    assert!(status.success(), "portal exited with {status:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(server_pid) {
        assert!(
            Instant::now() < deadline,
            "server process {server_pid} still alive after the portal exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing answers any more, and the sockets are gone.
    let e = one_line_error("status after SIGTERM", &p.cli(&["status"]));
    assert!(e.contains("no running portal"), "{e}");
    assert!(!p.path().join("data/control.sock").exists());
    assert!(!p.path().join("data/link.sock").exists());
}

#[test]
fn session_ids_are_not_reused_after_a_restart() {
    let ids_of =
        |p: &Portcullis| -> Vec<u64> { sessions(&p.status()).iter().map(|s| s.0).collect() };

    let p = Portcullis::start("");
    let mut a = p.telnet();
    a.expect("> ");
    let mut b = p.telnet();
    b.expect("> ");
    let first = ids_of(&p);
    assert_eq!(first.len(), 2, "{first:?}");
    drop((a, b));
    let (status, dir, config) = p.stop_keeping_dir();
    assert!(status.success());

    let p = Portcullis::start_in(dir, config);
    let mut c = p.telnet();
    c.expect("> ");
    let second = ids_of(&p);
    assert_eq!(second.len(), 1, "{second:?}");
    let old_max = first.iter().max().unwrap();
    assert!(
        second[0] > *old_max,
        "new id {} is not above the old ids {first:?}",
        second[0]
    );
    drop(c);
    assert!(p.stop().success());
}

#[test]
fn a_second_start_on_the_same_data_dir_is_refused() {
    let p = Portcullis::start("");
    let out = cli_run(&p.config, &["start"], None);
    let err = stderr(&out);
    assert!(!out.status.success(), "second start succeeded: {err}");
    assert!(err.contains("already running"), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("portcullis:"), "{err}");
    // The first one is untouched.
    let mut t = p.telnet();
    t.expect("> ");
    let status = p.status();
    assert!(status.contains("sessions: 1"), "{status}");
    drop(t);
    assert!(p.stop().success());
}

#[test]
fn error_causes_are_not_repeated() {
    // `portcullis: no running portal (cannot connect to X: Connection refused (os error 111))`
    // should not go on to repeat `: Connection refused (os error 111)`.
    let (dir, config) = config_dir("");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    // A stale control socket (nothing listening) and a missing one.
    let stale = std::os::unix::net::UnixListener::bind(dir.path().join("data/control.sock"));
    drop(stale);
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let (_bdir, busy_config) = config_dir("");
    std::fs::write(
        &busy_config,
        std::fs::read_to_string(&busy_config)
            .unwrap()
            .replace("127.0.0.1:0", &busy.local_addr().unwrap().to_string()),
    )
    .unwrap();
    let (_mdir, missing_config) = config_dir("");
    let cases = [
        ("status, stale socket", cli_run(&config, &["status"], None)),
        ("stop, no socket", cli_run(&missing_config, &["stop"], None)),
        (
            "start, port in use",
            cli_run(&busy_config, &["start"], None),
        ),
    ];
    let repeated: Vec<String> = cases
        .iter()
        .map(|(what, out)| (what, one_line_error(what, out)))
        .filter(|(_, e)| e.matches("(os error").count() > 1)
        .map(|(what, e)| format!("{what}: {e}"))
        .collect();
    assert!(
        repeated.is_empty(),
        "the cause is printed twice:\n{}",
        repeated.join("\n")
    );
}

#[test]
fn concurrent_starts_on_one_data_dir_leave_exactly_one_portal() {
    // Two `start`s at the same moment (say systemd and an operator): one must win and the
    // other must say that a portal is already running, every time. Several rounds, since the
    // check-then-bind window is narrow.
    for round in 0..5 {
        let (_dir, config) = config_dir("");
        let mut a = Spawned::start(&mut bin(&config, &["start"]));
        let mut b = Spawned::start(&mut bin(&config, &["start"]));
        let deadline = Instant::now() + WAIT;
        let (loser, winner) = loop {
            let ea = a.child.try_wait().unwrap();
            let eb = b.child.try_wait().unwrap();
            match (ea, eb) {
                (Some(_), Some(_)) => panic!(
                    "round {round}: both starts exited;\nfirst:\n{}\nsecond:\n{}",
                    a.log.lines().join("\n"),
                    b.log.lines().join("\n")
                ),
                (Some(s), None) => break ((s, &a), &mut b),
                (None, Some(s)) => break ((s, &b), &mut a),
                (None, None) => {}
            }
            assert!(
                a.log.count("portal started") == 0 || b.log.count("portal started") == 0,
                "round {round}: two portals started on one data directory;\nfirst:\n{}\nsecond:\n{}",
                a.log.lines().join("\n"),
                b.log.lines().join("\n")
            );
            assert!(
                Instant::now() < deadline,
                "round {round}: neither start exited"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let (status, loser) = loser;
        // The loser's output is complete once it has exited and its pipe is drained.
        let deadline = Instant::now() + WAIT;
        while !loser
            .log
            .lines()
            .iter()
            .any(|l| l.starts_with("portcullis:"))
        {
            assert!(
                Instant::now() < deadline,
                "round {round}: the losing start printed no error:\n{}",
                loser.log.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let lines = loser.log.lines();
        let err = lines.iter().find(|l| l.starts_with("portcullis:")).unwrap();
        assert!(
            !status.success(),
            "round {round}: loser exited with {status:?}"
        );
        assert!(
            err.contains("already running"),
            "round {round}: the losing start said: {err}"
        );
        winner.log.wait_for("server synced");
        let st = assert_ok("status", &cli_run(&config, &["status"], None));
        assert!(
            st.starts_with(&format!("portal: pid {}", winner.child.id())),
            "round {round}: status does not come from the winner:\n{st}"
        );
        assert_ok("stop", &cli_run(&config, &["stop"], None));
        assert!(wait_exit(&mut winner.child).success());
    }
}

#[test]
fn a_killed_portal_leaves_no_server_and_restarts_cleanly() {
    let (dir, config) = config_dir("");
    let mut s = Spawned::start(&mut bin(&config, &["start"]));
    let port = port_of(&s.log.wait_for("listening protocol=\"telnet\""));
    s.log.wait_for("server synced");
    let mut t = Telnet::connect(port);
    t.expect("> ");
    let st = assert_ok("status", &cli_run(&config, &["status"], None));
    let old_id = sessions(&st)[0].0;
    let server_pid: u32 = st
        .lines()
        .find_map(|l| l.strip_prefix("server: pid "))
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no server pid in:\n{st}"));

    s.child.kill().unwrap();
    s.child.wait().unwrap();
    t.expect_closed();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(server_pid) {
        assert!(
            Instant::now() < deadline,
            "server {server_pid} outlived its killed portal"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let e = one_line_error("status after kill -9", &cli_run(&config, &["status"], None));
    assert!(e.contains("no running portal"), "{e}");

    // The stale sockets do not stop a new start, and ids carry on past the old ones.
    let p = Portcullis::start_in(dir, config);
    let mut t = p.telnet();
    t.expect("> ");
    let new_id = sessions(&p.status())[0].0;
    assert!(new_id > old_id, "new id {new_id} not above old id {old_id}");
    drop(t);
    assert!(p.stop().success());
}
