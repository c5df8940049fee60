//! Gateway mode in front of a real game: the `portcullis` binary leads its players to
//! Evennia (PyPI `evennia`, a MUD server nobody here wrote) on 127.0.0.1. One test plays it
//! through in order: a telnet player creates an account and looks at Limbo, a WebSocket
//! player hears what the first one says, both stay connected through `evennia reload`, both
//! are told and led back when Evennia is stopped and started again, and `portcullis status`
//! shows their game connections.
//!
//! Slow (Evennia starts in tens of seconds, and the first run installs it), so it runs only
//! with `SLOW_TESTS=1`; otherwise it says it was skipped. Evennia lives in a venv at
//! `target/evennia-venv`, which `.ci/run` creates and the test creates too when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::web::{WebClient, describe_ws_error, web_test_config};
use common::*;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The venv Evennia is installed in (the same path `.ci/run` uses).
const VENV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/evennia-venv");
/// How long `pip install evennia` may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(900);
/// How long one Evennia command (`start`, `stop`, `reload`, `migrate`) may take.
const EVENNIA_LIMIT: Duration = Duration::from_secs(120);
/// Evennia's server logs a line with this each time it is up: "Evennia Server successfully
/// started.", "… restarted in 'reset' mode." (after its first start's initial setup),
/// "Server successfully reloaded.".
const SERVER_UP: &str = "Server successfully";
/// Evennia's connection screen says this.
const SCREEN: &str = "connect <username> <password>";

/// Whether the slow tests were asked for (`SLOW_TESTS=1`); if not, says so and the test
/// returns. (Not a `PORTCULLIS_` name: Portcullis reads those as configuration keys and
/// refuses to start on an unknown one, and the binary under test inherits this environment.)
fn slow_tests_enabled(test: &str) -> bool {
    assert!(
        std::env::var_os("PORTCULLIS_SLOW_TESTS").is_none(),
        "PORTCULLIS_SLOW_TESTS is set: portcullis would read it as the config key `slow_tests` \
         and refuse to start; the slow tests are asked for with SLOW_TESTS=1"
    );
    if std::env::var("SLOW_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("{test}: skipped (starts a real Evennia, slow; set SLOW_TESTS=1 to run it)");
    false
}

fn venv_bin(name: &str) -> PathBuf {
    Path::new(VENV).join("bin").join(name)
}

fn evennia_imports() -> bool {
    Command::new(venv_bin("python"))
        .args(["-c", "import evennia"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Creates the venv with Evennia in it unless it is already there.
fn ensure_venv() {
    if evennia_imports() {
        return;
    }
    eprintln!("installing evennia into {VENV} (pip)");
    if !venv_bin("python").exists() {
        let out = run_limited(
            Command::new("python3").args(["-m", "venv", VENV]),
            None,
            EVENNIA_LIMIT,
        );
        assert!(out.status.success(), "python3 -m venv: {}", stderr(&out));
    }
    let out = run_limited(
        Command::new(venv_bin("pip")).args([
            "install",
            "-q",
            "--disable-pip-version-check",
            "evennia",
        ]),
        None,
        INSTALL_LIMIT,
    );
    assert!(
        out.status.success() && evennia_imports(),
        "pip install evennia failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// An Evennia game in a temporary directory. Dropping it runs `evennia stop`, then kills
/// every Evennia process it ever saw that is still alive.
struct Evennia {
    dir: tempfile::TempDir,
    telnet_port: u16,
    /// Every portal and server pid seen in `server/*.pid`.
    pids: Vec<u32>,
}

impl Evennia {
    fn game(&self) -> PathBuf {
        self.dir.path().join("game")
    }

    /// `evennia ARGS` in `cwd` with the venv first on PATH (Evennia starts twistd from it),
    /// bounded by [`EVENNIA_LIMIT`].
    fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let path = format!(
            "{}:{}",
            venv_bin("").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(venv_bin("evennia"));
        cmd.args(args).current_dir(cwd).env("PATH", path);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_limited(&mut cmd, None, EVENNIA_LIMIT)
    }

    /// `evennia ARGS` in the game directory; fails the test if it fails.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let out = Self::run_in(&self.game(), args, env);
        assert!(
            out.status.success(),
            "evennia {args:?} failed:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        out
    }

    /// `evennia --init`, loopback-only settings, `evennia migrate`.
    fn create() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Self::run_in(dir.path(), &["--init", "game"], &[]);
        assert!(
            out.status.success(),
            "evennia --init failed:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        let telnet_port = free_port();
        let amp_port = free_port();
        let (web, ws) = (free_port(), free_port());
        let settings = dir.path().join("game/server/conf/settings.py");
        let mut text = std::fs::read_to_string(&settings).unwrap();
        text.push_str(&format!(
            r#"
# --- tests/gateway_evennia.rs: loopback only, telnet only, throttles off ---
TELNET_ENABLED = True
TELNET_PORTS = [{telnet_port}]
TELNET_INTERFACES = ["127.0.0.1"]
SSL_ENABLED = False
SSH_ENABLED = False
WEBSERVER_ENABLED = False
WEBCLIENT_ENABLED = False
WEBSOCKET_CLIENT_ENABLED = False
WEBSERVER_PORTS = [({web}, {web})]
WEBSERVER_INTERFACES = ["127.0.0.1"]
WEBSOCKET_CLIENT_PORT = {ws}
WEBSOCKET_CLIENT_INTERFACE = "127.0.0.1"
AMP_HOST = "127.0.0.1"
AMP_INTERFACE = "127.0.0.1"
AMP_PORT = {amp_port}
IRC_ENABLED = False
RSS_ENABLED = False
GRAPEVINE_ENABLED = False
DISCORD_ENABLED = False
GAME_INDEX_ENABLED = False
CREATION_THROTTLE_LIMIT = None
CREATION_THROTTLE_TIMEOUT = None
LOGIN_THROTTLE_LIMIT = None
LOGIN_THROTTLE_TIMEOUT = None
MAX_COMMAND_RATE = 100000
MAX_CONNECTION_RATE = 100000
PASSWORD_HASHERS = ("django.contrib.auth.hashers.MD5PasswordHasher",)
"#
        ));
        std::fs::write(&settings, text).unwrap();
        let e = Evennia {
            dir,
            telnet_port,
            pids: Vec::new(),
        };
        e.run(&["migrate"], &[]);
        e
    }

    /// Lines of the server's log with `needle`.
    fn server_log_count(&self, needle: &str) -> usize {
        std::fs::read_to_string(self.game().join("server/logs/server.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until the server's log has `n` lines with `needle` (bounded by
    /// [`EVENNIA_LIMIT`]), then notes the pids.
    fn wait_server_log(&mut self, needle: &str, n: usize) {
        let deadline = Instant::now() + EVENNIA_LIMIT;
        while self.server_log_count(needle) < n {
            assert!(
                Instant::now() < deadline,
                "Evennia's server log never had {n} line(s) with {needle:?}:\n{}",
                std::fs::read_to_string(self.game().join("server/logs/server.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.note_pids();
    }

    /// Remembers the pids in `server/portal.pid` and `server/server.pid`.
    fn note_pids(&mut self) {
        for f in ["portal.pid", "server.pid"] {
            let pid = std::fs::read_to_string(self.game().join("server").join(f))
                .ok()
                .and_then(|s| s.trim().parse().ok());
            if let Some(pid) = pid
                && !self.pids.contains(&pid)
            {
                self.pids.push(pid);
            }
        }
    }

    /// `evennia start` (creating the superuser on the first), then waits until the server
    /// says it is up: `ready` more lines with [`SERVER_UP`] in its log.
    fn start(&mut self, ready: usize) {
        let before = self.server_log_count(SERVER_UP);
        self.run(
            &["start"],
            &[
                ("EVENNIA_SUPERUSER_USERNAME", "admin"),
                ("EVENNIA_SUPERUSER_PASSWORD", "admin-pass-1234"),
            ],
        );
        self.note_pids();
        self.wait_server_log(SERVER_UP, before + ready);
    }
}

impl Drop for Evennia {
    fn drop(&mut self) {
        self.note_pids();
        let _ = Self::run_in(&self.game(), &["stop"], &[]);
        for pid in &self.pids {
            // Only a pid that is still an Evennia process (twistd from this game).
            let alive = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("twistd"));
            if alive {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// A player's client, telnet or WebSocket.
trait Player {
    /// Types a line.
    fn type_line(&mut self, line: &str);
    /// Waits for `needle` after what earlier waits consumed.
    fn wait(&mut self, needle: &str) -> String;
    /// All the text received.
    fn all_text(&self) -> String;
}

impl Player for Telnet {
    fn type_line(&mut self, line: &str) {
        self.send_line(line);
    }
    fn wait(&mut self, needle: &str) -> String {
        self.expect(needle)
    }
    fn all_text(&self) -> String {
        self.text()
    }
}

impl Player for WebClient {
    fn type_line(&mut self, line: &str) {
        self.line(line);
    }
    fn wait(&mut self, needle: &str) -> String {
        self.expect(needle)
    }
    fn all_text(&self) -> String {
        self.text()
    }
}

/// Creates the account `name` at Evennia's connection screen (answering its confirmation
/// question) and logs in.
fn create_and_connect(player: &mut impl Player, name: &str) {
    let password = format!("{name}-pass-1234");
    player.type_line(&format!("create {name} {password}"));
    player.wait("Is this what you intended?");
    player.type_line("y");
    player.wait(&format!("A new account '{name}' was created"));
    connect(player, name);
}

/// Logs in to the account `name` at Evennia's connection screen.
fn connect(player: &mut impl Player, name: &str) {
    player.type_line(&format!("connect {name} {name}-pass-1234"));
    player.wait(&format!("You become {name}"));
}

/// `look` shows Limbo.
fn look(player: &mut impl Player) {
    player.type_line("look");
    player.wait("Limbo");
}

#[test]
fn players_reach_a_real_evennia_through_reload_and_restart() {
    if !slow_tests_enabled("players_reach_a_real_evennia_through_reload_and_restart") {
        return;
    }
    let t0 = Instant::now();
    ensure_venv();

    // Evennia: a new game on loopback, started once (its first start restarts its server
    // once after the initial setup, hence two lines with SERVER_UP).
    let mut evennia = Evennia::create();
    let t_start = Instant::now();
    evennia.start(2);
    eprintln!(
        "evennia up on 127.0.0.1:{} in {:.1?} (first start), {:.1?} since the test began",
        evennia.telnet_port,
        t_start.elapsed(),
        t0.elapsed()
    );

    // Portcullis in gateway mode, with telnet and the web client on loopback, patient
    // enough to outlast Evennia's start.
    let p = Portcullis::start_with(&web_test_config(
        &format!(
            "[gateway]\nenabled = true\nupstream = \"127.0.0.1:{}\"\nreconnect_attempts = 60\nreconnect_max_delay_secs = 2\n",
            evennia.telnet_port
        ),
        "",
    ));

    // 1. A telnet player sees Evennia's connection screen, makes an account, logs in, and
    //    `look` shows Limbo.
    let mut alice = p.telnet();
    alice.expect(SCREEN);
    create_and_connect(&mut alice, "alice");
    look(&mut alice);

    // 2. A WebSocket player does the same; what one says the other hears.
    let mut bob = WebClient::connect(p.web_port(), "/ws", &[])
        .unwrap_or_else(|e| panic!("websocket: {}", describe_ws_error(&e)));
    bob.session();
    bob.expect(SCREEN);
    create_and_connect(&mut bob, "bob");
    look(&mut bob);
    alice.send_line("say hello");
    bob.expect("alice says, \"hello\"");
    bob.line("say hi alice");
    alice.expect("bob says, \"hi alice\"");

    // 3. `evennia reload`: Evennia's portal keeps the connections while its server restarts,
    //    so nobody is disconnected and Portcullis has nothing to say.
    let ups = evennia.server_log_count(SERVER_UP);
    let t_reload = Instant::now();
    evennia.run(&["reload"], &[]);
    evennia.wait_server_log(SERVER_UP, ups + 1);
    alice.expect("Server restarted");
    bob.expect("Server restarted");
    eprintln!("evennia reloaded in {:.1?}", t_reload.elapsed());
    look(&mut alice);
    look(&mut bob);
    for text in [alice.all_text(), bob.all_text()] {
        assert!(
            !text.contains("The game is restarting"),
            "a reload looked like a restart:\n{text}"
        );
    }
    alice.send_line("say still here");
    bob.expect("alice says, \"still here\"");

    // 4. A full restart: `evennia stop`, then `evennia start`. Each player is told, led back
    //    when Evennia answers again, sees its connection screen, and logs in again.
    let t_stop = Instant::now();
    evennia.run(&["stop"], &[]);
    eprintln!("evennia stopped in {:.1?}", t_stop.elapsed());
    alice.expect("The game is restarting; you will be reconnected.");
    bob.expect("The game is restarting; you will be reconnected.");
    let t_restart = Instant::now();
    evennia.start(1);
    eprintln!("evennia started again in {:.1?}", t_restart.elapsed());
    // Portcullis gets in as soon as Evennia's portal listens, before its server is up; such
    // a connection is told " ... Server restarted." once the server is, but Evennia shows it
    // no connection screen until the player types something (`look` shows it again).
    alice.expect("Reconnected to the game.");
    bob.expect("Reconnected to the game.");
    alice.send_line("look");
    alice.expect(SCREEN);
    bob.line("look");
    bob.expect(SCREEN);
    connect(&mut alice, "alice");
    connect(&mut bob, "bob");
    look(&mut alice);
    alice.send_line("say welcome back");
    bob.expect("alice says, \"welcome back\"");

    // 5. `portcullis status` lists both sessions with their game connection up.
    let status = p.status();
    assert!(status.contains("UPSTREAM"), "{status}");
    let connected: Vec<&str> = status
        .lines()
        .filter(|l| l.trim_end().ends_with("connected"))
        .collect();
    assert_eq!(
        connected.len(),
        2,
        "two sessions connected to the game:\n{status}"
    );
    assert!(connected.iter().any(|l| l.contains("telnet")), "{status}");

    drop(alice);
    drop(bob);
    drop(p);
    let t_down = Instant::now();
    drop(evennia);
    eprintln!(
        "evennia stopped at the end in {:.1?}; whole test {:.1?}",
        t_down.elapsed(),
        t0.elapsed()
    );
}
