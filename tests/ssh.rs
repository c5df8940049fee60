#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The SSH front end driven by the real OpenSSH client (`ssh`, `ssh-keygen`), with `tmux`
//! giving it a terminal where a test needs one: password, keyboard-interactive and public-key
//! logins, exec, interactive sessions next to telnet players, window changes, reload and
//! crash, registration over SSH, piped input without a PTY, the shared login throttle and the
//! identification string.
//!
//! Every `ssh` runs with `-F /dev/null`, its own known_hosts file, no agent and a deadline;
//! passwords come from an SSH_ASKPASS script. Synchronisation is by polling for output (the
//! client's, tmux's screen or the portal's log) with deadlines, never by fixed sleeps.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one `ssh` run may take before it is killed and the test fails.
const SSH_DEADLINE: Duration = Duration::from_secs(30);

/// What one `ssh` run produced.
struct SshRun {
    /// Exit code (None if killed by a signal).
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl SshRun {
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

/// An OpenSSH client for one portal: its own directory, known_hosts and askpass script.
struct SshClient {
    dir: tempfile::TempDir,
    port: u16,
}

/// Single-quotes `s` for `sh`.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

impl SshClient {
    fn new(p: &Portcullis) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The password comes from the environment so one script serves every run.
        write_script(
            &dir.path().join("askpass"),
            "printf '%s\\n' \"$TEST_ASKPASS_SECRET\"\n",
        );
        SshClient {
            dir,
            port: p.ssh_port.unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn askpass(&self) -> PathBuf {
        self.path().join("askpass")
    }

    /// Options every run uses: no user config, our known_hosts, bounded connect.
    fn base_args(&self) -> Vec<String> {
        let kh = self.path().join("known_hosts");
        [
            "-F",
            "/dev/null",
            "-p",
            &self.port.to_string(),
            "-o",
            &format!("UserKnownHostsFile={}", kh.display()),
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "ConnectTimeout=10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// An `ssh` command with `args` after the base options; `secret` is what askpass answers.
    fn command(&self, args: &[&str], secret: Option<&str>) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.base_args()).args(args);
        cmd.env_remove("SSH_AUTH_SOCK")
            .env("HOME", self.path())
            .env("SSH_ASKPASS", self.askpass())
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .env("TEST_ASKPASS_SECRET", secret.unwrap_or(""));
        cmd
    }

    /// Runs `ssh` with `args` after the base options; `secret` is what askpass answers.
    fn run(&self, args: &[&str], secret: Option<&str>, stdin: Option<&[u8]>) -> SshRun {
        run_bounded(self.command(args, secret), stdin)
    }

    /// A password login (method `password`) running `command`.
    fn password(&self, user: &str, password: &str, command: &[&str]) -> SshRun {
        self.with_method("password", user, password, command)
    }

    /// A login with `method` (password or keyboard-interactive) answered by askpass.
    fn with_method(&self, method: &str, user: &str, password: &str, command: &[&str]) -> SshRun {
        let pref = format!("PreferredAuthentications={method}");
        let target = format!("{user}@127.0.0.1");
        let mut args = vec![
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            &pref,
            "-o",
            "NumberOfPasswordPrompts=1",
            &target,
        ];
        args.extend_from_slice(command);
        self.run(&args, Some(password), None)
    }

    /// A public-key login with the private key at `key` running `command`.
    fn key(&self, user: &str, key: &Path, command: &[&str]) -> SshRun {
        let key = key.display().to_string();
        let target = format!("{user}@127.0.0.1");
        let mut args = vec![
            "-i",
            &key,
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "PreferredAuthentications=publickey",
            &target,
        ];
        args.extend_from_slice(command);
        self.run(&args, None, None)
    }

    /// The shell command (for tmux) of an interactive `ssh -tt` as `user` with `password`
    /// (or, with None, no authentication at all: BatchMode).
    fn interactive_command(&self, user: &str, password: Option<&str>) -> String {
        let mut s = String::from("exec env -u SSH_AUTH_SOCK");
        s.push_str(&format!(
            " HOME={} SSH_ASKPASS={} SSH_ASKPASS_REQUIRE=force DISPLAY=:0 TEST_ASKPASS_SECRET={}",
            sq(&self.path().display().to_string()),
            sq(&self.askpass().display().to_string()),
            sq(password.unwrap_or(""))
        ));
        s.push_str(" timeout 300 ssh -tt");
        for a in self.base_args() {
            s.push(' ');
            s.push_str(&sq(&a));
        }
        s.push_str(" -o PubkeyAuthentication=no");
        match password {
            Some(_) => s.push_str(" -o PreferredAuthentications=password"),
            None => s.push_str(" -o BatchMode=yes -o PreferredAuthentications=password"),
        }
        s.push_str(&format!(" {}@127.0.0.1", sq(user)));
        s
    }
}

/// Generates an ed25519 key pair; returns the private key's path.
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(format!("{name}@test"))
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen failed: {}", stderr(&out));
    path
}

/// The SHA256 fingerprint `ssh-keygen -lf` prints for a public key file.
fn fingerprint(pubkey: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubkey)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -l failed: {}",
        stderr(&out)
    );
    let text = stdout(&out);
    let fp = text.split_whitespace().nth(1).unwrap_or("").to_string();
    assert!(fp.starts_with("SHA256:"), "no fingerprint in {text:?}");
    fp
}

fn pub_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

fn assert_ok(run: &SshRun, what: &str) {
    assert_eq!(run.code, Some(0), "{what}: {}", run.describe());
}

fn assert_denied(run: &SshRun, what: &str) {
    assert_eq!(run.code, Some(255), "{what}: {}", run.describe());
    assert!(
        run.stderr.contains("Permission denied"),
        "{what}: {}",
        run.describe()
    );
}

/// An interactive SSH session as `user` (password `secret-USER`), logged in.
fn ssh_shell(client: &SshClient, user: &str) -> Tmux {
    let t = Tmux::start(
        &client.interactive_command(user, Some(&format!("secret-{user}"))),
        120,
        35,
    );
    t.wait_for(&format!("Welcome, {user}."));
    t
}

/// Lines of `status` for SSH sessions.
fn ssh_status_lines(p: &Portcullis) -> Vec<String> {
    p.status()
        .lines()
        .filter(|l| {
            let mut f = l.split_whitespace();
            f.next().is_some_and(|id| id.parse::<u64>().is_ok()) && f.next() == Some("ssh")
        })
        .map(str::to_string)
        .collect()
}

// 1. Password and keyboard-interactive logins.

#[test]
fn password_login_runs_a_command_and_a_wrong_password_is_refused() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let c = SshClient::new(&p);

    let ok = c.password("alice", "secret-alice", &["who"]);
    assert_ok(&ok, "password login");
    let out = ok.out();
    assert!(out.contains("Name"), "{}", ok.describe());
    assert!(who_lists(&out, "alice"), "{}", ok.describe());

    let bad = c.password("alice", "not-the-password", &["who"]);
    assert_denied(&bad, "wrong password");
    assert!(!bad.out().contains("online"), "{}", bad.describe());
    let line = p.log.wait_for("ssh authentication rejected");
    assert!(line.contains("alice"), "{line}");
    p.log.wait_for("ssh login failed");

    let unknown = c.password("nobody", "secret-alice", &["who"]);
    assert_denied(&unknown, "unknown account");

    let kbd = c.with_method("keyboard-interactive", "alice", "secret-alice", &["who"]);
    assert_ok(&kbd, "keyboard-interactive login");
    assert!(who_lists(&kbd.out(), "alice"), "{}", kbd.describe());
    let kbd_bad = c.with_method("keyboard-interactive", "alice", "nope", &["who"]);
    assert_denied(&kbd_bad, "keyboard-interactive with a wrong password");
}

/// A player who mistypes the password gets asked again on the same connection, as with any
/// SSH server, rather than being cut off after one try (`max_auth_attempts` allows several).
#[test]
fn a_mistyped_password_can_be_retried_on_the_same_connection() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let c = SshClient::new(&p);
    // Wrong the first time it is asked, right the second.
    let flag = c.path().join("asked-once");
    let twice = c.path().join("askpass-twice");
    write_script(
        &twice,
        &format!(
            "if [ -e {f} ]; then echo secret-alice; else : > {f}; echo wrong; fi\n",
            f = sq(&flag.display().to_string())
        ),
    );
    for method in ["keyboard-interactive", "password"] {
        let _ = std::fs::remove_file(&flag);
        let pref = format!("PreferredAuthentications={method}");
        let mut cmd = c.command(
            &[
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                &pref,
                "-o",
                "NumberOfPasswordPrompts=3",
                "alice@127.0.0.1",
                "who",
            ],
            None,
        );
        cmd.env("SSH_ASKPASS", &twice);
        let run = run_bounded(cmd, None);
        assert!(flag.exists(), "askpass was never asked");
        assert_ok(
            &run,
            &format!("{method}: wrong password, then the right one"),
        );
        assert!(who_lists(&run.out(), "alice"), "{}", run.describe());
    }
}

/// Whether `who` output lists `name` online (an exec session is online while it runs).
fn who_lists(out: &str, name: &str) -> bool {
    out.contains(" online.")
        && out
            .lines()
            .any(|l| l.starts_with(name) && l.contains("ssh"))
}

/// Runs a prepared `ssh` command, killing it (and failing) after the deadline.
fn run_bounded(mut cmd: Command, stdin: Option<&[u8]>) -> SshRun {
    let out = run_limited(&mut cmd, stdin, SSH_DEADLINE);
    SshRun {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// 2. Public keys.

#[test]
fn public_key_login_follows_the_keys_the_cli_adds_and_removes() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let c = SshClient::new(&p);
    let key = keygen(c.path(), "id");
    let other = keygen(c.path(), "other");
    let fp = fingerprint(&pub_path(&key));

    // Before the key is registered it is refused.
    assert_denied(&c.key("alice", &key, &["who"]), "key not yet added");

    let pubfile = pub_path(&key).display().to_string();
    let out = p.cli(&["accounts", "add-key", "alice", &pubfile]);
    assert!(out.status.success(), "add-key: {}", stderr(&out));
    assert!(stdout(&out).contains(&fp), "{}", stdout(&out));

    let out = p.cli(&["accounts", "keys", "alice"]);
    assert!(out.status.success(), "keys: {}", stderr(&out));
    let listed = stdout(&out);
    assert!(
        listed.lines().any(|l| l.starts_with(&fp)),
        "`accounts keys` does not list {fp}:\n{listed}"
    );
    assert!(listed.contains("1 key"), "{listed}");

    let run = c.key("alice", &key, &["who"]);
    assert_ok(&run, "registered key");
    assert!(who_lists(&run.out(), "alice"), "{}", run.describe());
    p.log.wait_for("ssh public key accepted");

    // A key alice never registered, and alice's key for another account, are refused.
    assert_denied(&c.key("alice", &other, &["who"]), "unregistered key");
    p.account("bob");
    assert_denied(&c.key("bob", &key, &["who"]), "alice's key for bob");

    let out = p.cli(&["accounts", "remove-key", "alice", &fp]);
    assert!(out.status.success(), "remove-key: {}", stderr(&out));
    let out = p.cli(&["accounts", "keys", "alice"]);
    assert!(!stdout(&out).contains(&fp), "{}", stdout(&out));
    assert_denied(&c.key("alice", &key, &["who"]), "removed key");
}

#[test]
fn talker_sshkey_add_lets_the_player_log_in_with_that_key() {
    let p = Portcullis::start_ssh("");
    let mut dave = p.player("dave");
    let c = SshClient::new(&p);
    let key = keygen(c.path(), "id");
    let fp = fingerprint(&pub_path(&key));
    let line = std::fs::read_to_string(pub_path(&key)).unwrap();

    dave.send_line(&format!("sshkey add {}", line.trim()));
    dave.expect(&fp);
    dave.send_line("sshkey list");
    dave.expect("Your SSH keys");
    dave.expect(&fp);

    let run = c.key("dave", &key, &["who"]);
    assert_ok(&run, "key added in the talker");
    // The telnet session is listed, and so is the exec session while it runs.
    let out = run.out();
    assert!(out.contains("2 players online."), "{}", run.describe());
    assert!(
        out.lines()
            .any(|l| l.starts_with("dave") && l.contains("telnet")),
        "{}",
        run.describe()
    );

    dave.send_line(&format!("sshkey remove {fp}"));
    dave.expect(&format!("Removed key {fp}."));
    assert_denied(&c.key("dave", &key, &["who"]), "key removed in the talker");
}

// 3. Exec.

#[test]
fn exec_runs_one_command_with_plain_output_and_an_exit_status() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let mut bob = p.player("bob");
    let c = SshClient::new(&p);

    let who = c.password("alice", "secret-alice", &["who"]);
    assert_ok(&who, "exec who");
    assert!(
        !who.stdout.contains(&0x1b),
        "exec output has escape sequences: {:?}",
        who.out()
    );
    assert!(who.out().contains("Name"), "{}", who.describe());
    // alice's exec session is online while it runs.
    assert!(
        who.out().contains("2 players online."),
        "{}",
        who.describe()
    );

    let bad = c.password("alice", "secret-alice", &["frobnicate"]);
    assert_eq!(bad.code, Some(1), "{}", bad.describe());
    assert!(
        bad.out().contains("Unknown command 'frobnicate'"),
        "{}",
        bad.describe()
    );

    let say = c.password("alice", "secret-alice", &["say", "hi", "from", "exec"]);
    assert_ok(&say, "exec say");
    assert!(
        say.out().contains("You say, \"hi from exec\""),
        "{}",
        say.describe()
    );
    bob.expect("alice says, \"hi from exec\"");

    // The exec sessions never arrived in the room, and once closed they are gone.
    p.log.wait_count("session closed", 3);
    bob.send_line("who");
    let seen = bob.expect("online.");
    assert!(seen.contains("1 player online."), "{seen}");
    assert!(
        !seen.lines().any(|l| l.starts_with("alice")),
        "alice's exec session is listed by who:\n{seen}"
    );
    assert!(
        !bob.text().contains("alice has arrived"),
        "an exec arrived in the room:\n{}",
        bob.text()
    );
}

// 4. Telnet and SSH players together.

#[test]
fn ssh_and_telnet_players_talk_and_output_keeps_a_half_typed_line() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let c = SshClient::new(&p);
    let alice = ssh_shell(&c, "alice");
    let screen = alice.screen();
    assert!(
        !screen.contains("connect <name>"),
        "an authenticated SSH login saw the connection screen:\n{screen}"
    );
    assert!(screen.contains("Present: alice."), "{screen}");

    let mut bob = p.player("bob");
    alice.wait_for("bob has arrived.");
    bob.send_line("who");
    let who = bob.expect("players online.");
    assert!(
        who.lines()
            .any(|l| l.starts_with("alice") && l.split_whitespace().nth(1) == Some("ssh")),
        "{who}"
    );
    assert!(
        who.lines()
            .any(|l| l.starts_with("bob") && l.split_whitespace().nth(1) == Some("telnet")),
        "{who}"
    );

    alice.type_line("say hi bob");
    bob.expect("alice says, \"hi bob\"");
    alice.wait_for("You say, \"hi bob\"");

    // Half a line typed, then output arrives: it is printed above and the line is redrawn.
    alice.type_text("hel");
    let deadline = Instant::now() + WAIT;
    while !alice.cursor_line().trim_end().ends_with("hel") {
        assert!(
            Instant::now() < deadline,
            "typed text never showed:\n{}",
            alice.screen()
        );
        std::thread::sleep(Duration::from_millis(30));
    }
    bob.send_line("say interrupting");
    alice.wait_for("bob says, \"interrupting\"");
    let deadline = Instant::now() + WAIT;
    loop {
        let visible = alice.visible();
        let cursor = alice.cursor_line();
        let said = visible
            .iter()
            .position(|l| l.contains("bob says, \"interrupting\""));
        let y: usize = alice.display("#{cursor_y}").parse().unwrap();
        let ok = cursor.trim_end().ends_with("hel") && said.is_some_and(|i| i < y);
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the half-typed line was not kept below the output (cursor line {cursor:?}):\n{}",
            visible.join("\n")
        );
        std::thread::sleep(Duration::from_millis(30));
    }
    alice.enter();
    alice.wait_for("Unknown command 'hel'");
    assert!(!alice.dead(), "ssh exited:\n{}", alice.screen());
}

/// `quit` in a terminal: the player reads "Goodbye." on its own line (not only in ssh's
/// "Received disconnect" notice), the client ends, and the session is gone.
#[test]
fn quit_in_a_terminal_says_goodbye_and_ends_the_session() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let c = SshClient::new(&p);
    let alice = ssh_shell(&c, "alice");
    alice.type_line("quit");
    let deadline = Instant::now() + WAIT;
    while !alice.dead() {
        assert!(
            Instant::now() < deadline,
            "ssh did not end after quit:\n{}",
            alice.screen()
        );
        std::thread::sleep(Duration::from_millis(30));
    }
    let screen = alice.screen();
    assert!(
        screen.lines().any(|l| l.trim() == "Goodbye."),
        "the player never saw Goodbye. (the output before the disconnect was lost):\n{screen}"
    );
    p.log.wait_for("reason=Goodbye.");
    assert!(ssh_status_lines(&p).is_empty(), "{}", p.status());
}

// 5. Window size and terminal type.

/// Types `options` until its output satisfies `check`; returns that output.
fn options_until(t: &Tmux, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let before = t.screen().matches("Your options").count();
        t.type_line("options");
        let screen = t.wait_count("Your options", before + 1);
        let last = screen
            .rsplit("Your options")
            .next()
            .unwrap_or("")
            .to_string();
        if check(&last) {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "options never showed {what}; last:\n{last}"
        );
    }
}

fn option_value(options: &str, key: &str) -> Option<String> {
    options.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix(key)?;
        rest.starts_with(' ').then(|| rest.trim().to_string())
    })
}

#[test]
fn terminal_size_and_type_follow_the_client() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let c = SshClient::new(&p);
    let alice = ssh_shell(&c, "alice");
    let term = stdout(&alice.tmux(&["show-options", "-gv", "default-terminal"]))
        .trim()
        .to_string();
    assert!(!term.is_empty());

    let opts = options_until(&alice, "the first options", |_| true);
    assert_eq!(
        option_value(&opts, "width").as_deref(),
        Some("120"),
        "{opts}"
    );
    assert_eq!(
        option_value(&opts, "height").as_deref(),
        Some("35"),
        "{opts}"
    );
    assert_eq!(
        option_value(&opts, "terminal").as_deref(),
        Some(term.as_str()),
        "{opts}"
    );

    let out = alice.resize(90, 25);
    assert!(out.status.success(), "resize-window: {}", stderr(&out));
    options_until(&alice, "width 90 and height 25", |o| {
        option_value(o, "width").as_deref() == Some("90")
            && option_value(o, "height").as_deref() == Some("25")
    });
}

// 6. Reload and crash.

#[test]
fn an_ssh_player_stays_through_a_reload_and_a_server_crash() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let c = SshClient::new(&p);
    let alice = ssh_shell(&c, "alice");
    let before = ssh_status_lines(&p);
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].contains("alice"), "{before:?}");

    let first_pid = p.server_pid();
    let out = p.cli(&["reload"]);
    assert!(out.status.success(), "reload: {}", stderr(&out));
    alice.wait_for("The server was reloaded");
    alice.type_line("say after reload");
    alice.wait_for("You say, \"after reload\"");

    let second_pid = p.server_pid();
    assert_ne!(first_pid, second_pid);
    let killed = Command::new("kill")
        .args(["-9", &second_pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    alice.wait_for("The server is back after a restart");
    alice.type_line("say after restart");
    alice.wait_for("You say, \"after restart\"");

    assert!(!alice.dead(), "ssh exited:\n{}", alice.screen());
    let after = ssh_status_lines(&p);
    assert_eq!(
        after.first().and_then(|l| l.split_whitespace().next()),
        before[0].split_whitespace().next(),
        "the SSH session changed: {before:?} → {after:?}"
    );
    assert!(after[0].contains("alice"), "{after:?}");
}

// 7. Registration over SSH.

#[test]
fn the_registration_user_gets_the_connection_screen_and_can_create_an_account() {
    let p = Portcullis::start_ssh("");
    let c = SshClient::new(&p);
    // BatchMode: no password can be asked; `new` is let in by the `none` method.
    let t = Tmux::start(&c.interactive_command("new", None), 120, 35);
    t.wait_for("connect <name> <password>");
    t.wait_for("create <name> <password>");
    t.type_line("create carol password123");
    t.wait_for("Welcome, carol.");
    p.log.wait_for("account created");

    let run = c.password("carol", "password123", &["who"]);
    assert_ok(&run, "carol's password login");
    assert!(
        run.out()
            .lines()
            .any(|l| l.starts_with("carol") && l.contains("ssh")),
        "{}",
        run.describe()
    );
}

#[test]
fn without_registration_the_registration_user_is_refused() {
    let p = Portcullis::start_ssh("[accounts]\nregistration = false\n");
    let c = SshClient::new(&p);
    let run = c.run(
        &[
            "-o",
            "BatchMode=yes",
            "-o",
            "PubkeyAuthentication=no",
            "new@127.0.0.1",
            "who",
        ],
        None,
        None,
    );
    assert_denied(&run, "registration user with registration off");
}

// 8. No PTY.

#[test]
fn piped_input_without_a_pty_is_not_echoed() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let c = SshClient::new(&p);
    let run = c.run(
        &[
            "-T",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
            "alice@127.0.0.1",
        ],
        Some("secret-alice"),
        Some(b"say piped\nquit\n"),
    );
    assert!(
        matches!(run.code, Some(0 | 255)),
        "ssh failed: {}",
        run.describe()
    );
    let out = run.out();
    assert!(out.contains("Welcome, alice."), "{}", run.describe());
    assert!(out.contains("You say, \"piped\""), "{}", run.describe());
    assert!(
        out.lines().any(|l| l.trim() == "Goodbye."),
        "Goodbye. never reached stdout (output sent just before the disconnect was lost): {}",
        run.describe()
    );
    assert!(
        !out.lines()
            .any(|l| l.trim() == "say piped" || l.trim() == "quit"),
        "the input was echoed back: {}",
        run.describe()
    );
    assert!(!run.stdout.contains(&0x1b), "{}", run.describe());
}

// 9. The login throttle is shared with telnet.

#[test]
fn failed_ssh_logins_throttle_telnet_logins_from_the_same_address() {
    let p = Portcullis::start_ssh("");
    p.account("alice");
    let c = SshClient::new(&p);
    for i in 1..=5 {
        let run = c.password("alice", "wrong", &["who"]);
        assert_denied(&run, &format!("failure {i}"));
    }
    p.log.wait_count("ssh login failed", 5);
    assert_eq!(p.log.count("ssh login failed"), 5);

    let mut t = p.telnet();
    t.expect("> ");
    t.send_line("connect alice secret-alice");
    t.expect("Too many failed logins");

    // And the right password over SSH is refused too while the address is throttled.
    let run = c.password("alice", "secret-alice", &["who"]);
    assert_denied(&run, "throttled address, right password");
    p.log.wait_for("ssh login refused: too many failures");
}

// 10. Identification string.

#[test]
fn the_identification_string_names_no_library_or_version() {
    let p = Portcullis::start_ssh("");
    let s = TcpStream::connect(("127.0.0.1", p.ssh_port.unwrap())).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert_eq!(line.trim_end_matches(['\r', '\n']), "SSH-2.0-Portcullis");
    assert!(line.ends_with("\r\n"), "{line:?}");
}

// 10. Input work is paced the same way as telnet's.

#[test]
fn a_flood_of_line_breaks_over_ssh_is_paced_and_a_neighbour_is_not() {
    let p = Portcullis::start_ssh("");
    p.account("flooder");
    let mut neighbour = p.player("neighbour");
    let log_before = p.log.lines().len();
    let c = SshClient::new(&p);
    let mut cmd = c.command(
        &[
            "-T",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
            "flooder@127.0.0.1",
        ],
        Some("secret-flooder"),
    );
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Half a megabyte of empty lines, as fast as ssh takes them (it stops taking them once
    // the portal stops reading; the thread ends when ssh is killed).
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &vec![b'\n'; 512 * 1024]);
    });
    p.log.wait_for("account=flooder");
    round_trips_stay_short(&mut neighbour, Duration::from_secs(1));
    // The flooder is paced, or cut off for not keeping up with the refusals it caused
    // (one SSH packet can carry 32 KiB of line breaks).
    let deadline = Instant::now() + WAIT;
    while p.log.count("input over its allowance; reading paused") == 0
        && p.log.count("disconnecting stalled client") == 0
    {
        assert!(
            Instant::now() < deadline,
            "the flood was neither paced nor cut off"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let written = p.log.lines().len() - log_before;
    assert!(written < 100, "the flood wrote {written} log lines");
    terminate(&mut child);
    let _ = writer.join();
}
