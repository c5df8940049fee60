#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The same server output renders the same for the same client capabilities on every front
//! end: plain telnet (a raw socket), telnet over TLS (`openssl s_client`), SSH with a PTY
//! (OpenSSH `ssh -tt`) and the web client (WebSocket JSON).
//!
//! On each front end a player picks each setting in turn with the talker's `options` command
//! (colour none, ansi, xterm256, truecolour; the screen reader on with truecolour still set;
//! on telnet and TLS also latin-1), then says a line with several kinds of markup and
//! non-ASCII text. What the player receives must contain exactly what the library renders
//! for those capabilities ([`ClientCaps::render`], and [`ClientCaps::encode`] on telnet),
//! framed as that front end frames text: telnet doubles 0xFF and ends lines with CR LF, the
//! SSH line editor prints the text above the input line ending in CR LF, the web sends the
//! string in a `text` message. The expected capabilities are written out here, not taken
//! from the session, so a front end that ignores one (SSH once ignored the screen reader)
//! fails; every setting renders differently, which the tests check first.
//!
//! Every client program runs under `timeout` and is stopped by its PID; waits are bounded and
//! end as soon as the line arrives, never fixed sleeps.

mod common;
use common::piped::PipedChild;
use common::*;
use portcullis::codec::markup::ColourLevel;
use portcullis::shared::caps::{ClientCaps, Encoding};
use serde_json::json;
use std::process::Command;
use std::time::Instant;

/// What each player says after each setting (after a `case N: ` tag): foreground colour,
/// 24-bit colour, background colour, non-ASCII text (`ÿ` is 0xFF in latin-1, so telnet must
/// double it) and a decoration a screen reader drops.
const SAID: &str = "|rred|n |#ff8800orange|n |[bblue-bg|n café ÿ ====";

/// Seconds a client program may live whatever happens to the test.
const CLIENT_LIFETIME_SECS: &str = "120";

/// One setting a player picks, and the capabilities it must give.
struct Setting {
    /// What the failure messages call it.
    name: &'static str,
    /// The lines the player types to pick it.
    commands: &'static [&'static str],
    /// What the front end must render for.
    caps: ClientCaps,
}

fn caps(colour: ColourLevel, screen_reader: bool, encoding: Encoding) -> ClientCaps {
    ClientCaps {
        colour,
        encoding,
        screen_reader,
        width: 80,
        height: 24,
    }
}

/// The settings every front end goes through in order; with `latin1`, last of all latin-1
/// (screen reader off again, truecolour still set).
fn settings(latin1: bool) -> Vec<Setting> {
    use ColourLevel::*;
    use Encoding::*;
    let mut all = vec![
        Setting {
            name: "colour none",
            commands: &["options colour none"],
            caps: caps(None, false, Utf8),
        },
        Setting {
            name: "colour ansi",
            commands: &["options colour ansi"],
            caps: caps(Ansi16, false, Utf8),
        },
        Setting {
            name: "colour xterm256",
            commands: &["options colour xterm256"],
            caps: caps(Xterm256, false, Utf8),
        },
        Setting {
            name: "colour truecolour",
            commands: &["options colour truecolour"],
            caps: caps(TrueColour, false, Utf8),
        },
        Setting {
            name: "screen reader on (truecolour still set)",
            commands: &["options screenreader on"],
            caps: caps(TrueColour, true, Utf8),
        },
    ];
    if latin1 {
        all.push(Setting {
            name: "encoding latin-1 (truecolour, screen reader off)",
            commands: &["options screenreader off", "options encoding latin-1"],
            caps: caps(TrueColour, false, Latin1),
        });
    }
    // The test only means something if every setting gives different bytes.
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(
                a.caps.encode(&a.caps.render(&said_back(1))),
                b.caps.encode(&b.caps.render(&said_back(1))),
                "{} and {} render alike: the test could not tell them apart",
                a.name,
                b.name
            );
        }
    }
    all
}

/// What the player types for setting number `n`.
fn say(n: usize) -> String {
    format!("say case {n}: {SAID}")
}

/// The talker's answer to [`say`] as markup (it closes a colour the player opened).
fn said_back(n: usize) -> String {
    format!("You say, \"case {n}: {SAID}|n\"")
}

/// The start of that answer, plain in every rendering.
fn said_prefix(n: usize) -> String {
    format!("You say, \"case {n}: ")
}

/// Bytes as a readable string for failure messages.
fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// From raw bytes, the line that starts with `prefix`, up to and including its LF, once it
/// has all arrived.
fn complete_line<'a>(raw: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let start = find(raw, prefix)?;
    let len = raw[start..].iter().position(|&b| b == b'\n')?;
    Some(&raw[start..=start + len])
}

/// How a byte-stream front end frames text in each direction.
#[derive(Clone, Copy)]
enum Framing {
    /// Telnet (plain or over TLS): text in the client's encoding, 0xFF doubled, CR LF.
    Telnet,
    /// A terminal behind SSH's line editor: UTF-8, Enter is CR; a line printed above the
    /// input line ends in CR LF.
    Terminal,
}

impl Framing {
    /// The bytes a client of this kind sends for a line typed with `caps`.
    fn typed(self, line: &str, caps: &ClientCaps) -> Vec<u8> {
        match self {
            Framing::Telnet => {
                let mut b = double_iac(&caps.encode(line));
                b.extend_from_slice(b"\r\n");
                b
            }
            Framing::Terminal => format!("{line}\r").into_bytes(),
        }
    }

    /// The bytes this front end must send for a line of output rendered as `rendered`.
    fn shown(self, rendered: &str, caps: &ClientCaps) -> Vec<u8> {
        let mut b = match self {
            Framing::Telnet => double_iac(&caps.encode(rendered)),
            Framing::Terminal => rendered.as_bytes().to_vec(),
        };
        b.extend_from_slice(b"\r\n");
        b
    }
}

/// Telnet data with every IAC (0xFF) doubled.
fn double_iac(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        out.push(b);
        if b == 0xFF {
            out.push(0xFF);
        }
    }
    out
}

/// A command running `program` under `timeout`, so it cannot outlive the test.
fn bounded(program: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", CLIENT_LIFETIME_SECS, program]);
    cmd
}

/// A client program (`openssl s_client`, `ssh -tt`) with piped standard streams: what is
/// written to its stdin goes to the server, its stdout is what the server sent, byte for byte.
struct Piped(PipedChild);

impl Piped {
    /// Runs `cmd` (made by [`bounded`]) with piped standard streams.
    fn spawn(cmd: Command) -> Self {
        Piped(PipedChild::spawn(cmd))
    }

    fn send(&mut self, bytes: &[u8]) {
        self.0.send(bytes);
    }

    /// Waits (bounded by [`WAIT`]) until `check` holds for the bytes received.
    fn wait_until<T>(&self, what: &str, mut check: impl FnMut(&[u8]) -> Option<T>) -> T {
        self.0.wait_until(|r| check(&r.bytes)).unwrap_or_else(|u| {
            panic!(
                "never got {what} ({}); text was:\n{}\n--- stderr\n{}",
                if u.timed_out {
                    "timed out"
                } else {
                    "the client finished"
                },
                u.text,
                self.0.stderr()
            )
        })
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        // End of input first (s_client hangs up on it); then SIGTERM to this PID, which
        // `timeout` passes on.
        drop(self.0.stdin.take());
        terminate(&mut self.0.child);
    }
}

/// A byte-stream client: a raw telnet socket or a client program.
enum Stream {
    Telnet(Telnet),
    Program(Piped),
}

impl Stream {
    fn send(&mut self, bytes: &[u8]) {
        match self {
            Stream::Telnet(t) => t.send(bytes),
            Stream::Program(p) => p.send(bytes),
        }
    }

    /// Waits (bounded by [`WAIT`]) until the plain text received contains `needle`.
    fn wait_text(&mut self, needle: &str) {
        match self {
            Stream::Telnet(t) => t.wait_contains(needle),
            Stream::Program(p) => {
                p.wait_until(&format!("{needle:?}"), |b| {
                    plain(b).contains(needle).then_some(())
                });
            }
        }
    }

    /// Waits (bounded by [`WAIT`]) for the whole line starting with `prefix`; returns it and
    /// everything received so far.
    fn wait_line(&mut self, prefix: &str) -> (Vec<u8>, Vec<u8>) {
        let what = format!("a whole line starting {prefix:?}");
        match self {
            Stream::Telnet(t) => {
                let deadline = Instant::now() + WAIT;
                loop {
                    if let Some(line) = complete_line(&t.raw, prefix.as_bytes()) {
                        return (line.to_vec(), t.raw.clone());
                    }
                    assert!(
                        t.pump() && Instant::now() < deadline,
                        "never got {what}; text was:\n{}",
                        t.text()
                    );
                }
            }
            Stream::Program(p) => p.wait_until(&what, |b| {
                complete_line(b, prefix.as_bytes()).map(|l| (l.to_vec(), b.to_vec()))
            }),
        }
    }
}

/// Goes through [`settings`] on a byte-stream front end (logged in already) and checks each
/// rendering.
fn check_stream(front: &str, client: &mut Stream, framing: Framing, latin1: bool) {
    for (i, s) in settings(latin1).iter().enumerate() {
        let n = i + 1;
        for c in s.commands {
            client.send(&framing.typed(c, &s.caps));
        }
        client.send(&framing.typed(&say(n), &s.caps));
        let (got, raw) = client.wait_line(&said_prefix(n));
        let want = framing.shown(&s.caps.render(&said_back(n)), &s.caps);
        assert!(
            find(&raw, &want).is_some(),
            "{front}, {}: the line was not rendered for these capabilities\n  \
             want: {}\n  got:  {}",
            s.name,
            show(&want),
            show(&got)
        );
    }
}

/// Telnet, telnet over TLS, SSH and the web (plain HTTP) on loopback, account creation
/// unthrottled.
fn start() -> Portcullis {
    let config = tls_test_config("", "[accounts]\ncreations = 1000\n");
    assert!(config.ends_with("[web]\nenabled = false\n"), "{config}");
    let config = config.replace(
        "[web]\nenabled = false\n",
        "[web]\nbind = \"127.0.0.1:0\"\ntls = false\n",
    );
    Portcullis::start_with(&config)
}

#[test]
fn plain_telnet_renders_each_setting_as_the_library_does() {
    let p = start();
    let mut client = Stream::Telnet(p.player("alice"));
    check_stream("telnet", &mut client, Framing::Telnet, true);
}

#[test]
fn telnet_over_tls_renders_each_setting_as_the_library_does() {
    let p = start();
    p.account("alice");
    let mut cmd = bounded("openssl");
    cmd.args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", p.tls_port()))
        // -nocommands: a line starting with Q, R, k or K is text, not an s_client command.
        .args(["-quiet", "-no_ign_eof", "-nocommands"]);
    let mut client = Stream::Program(Piped::spawn(cmd));
    client.wait_text(" online.");
    client.wait_text("> ");
    client.send(b"connect alice secret-alice\r\n");
    client.wait_text("Welcome, alice.");
    client.wait_text("Present:");
    check_stream("telnet over TLS", &mut client, Framing::Telnet, true);
}

#[test]
fn ssh_with_a_pty_renders_each_setting_as_the_library_does() {
    let p = start();
    p.account("alice");
    let dir = tempfile::tempdir().unwrap();
    let askpass = dir.path().join("askpass");
    std::fs::write(&askpass, "#!/bin/sh\nprintf '%s\\n' secret-alice\n").unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut cmd = bounded("ssh");
    cmd.args(["-tt", "-e", "none", "-F", "/dev/null", "-p"])
        .arg(p.ssh_port.unwrap().to_string())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            dir.path().join("known_hosts").display()
        ))
        .args([
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
            "alice@127.0.0.1",
        ])
        // No agent: the password from askpass is the only way in.
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", dir.path())
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .env("TERM", "xterm-256color");
    let mut client = Stream::Program(Piped::spawn(cmd));
    client.wait_text("Welcome, alice.");
    client.wait_text("Present:");
    check_stream("SSH", &mut client, Framing::Terminal, false);
}

#[test]
fn the_web_client_gets_each_setting_rendered_as_the_library_does() {
    let p = start();
    let mut c = p.web_player("alice");
    for (i, s) in settings(false).iter().enumerate() {
        let n = i + 1;
        for cmd in s.commands {
            c.line(cmd);
        }
        c.line(&say(n));
        let prefix = said_prefix(n);
        let m = c.wait_msg(&format!("a text message starting {prefix:?}"), |m| {
            m[0] == "text"
                && m[1][0]
                    .as_str()
                    .is_some_and(|t| t.starts_with(prefix.as_str()))
        });
        let want = s.caps.render(&said_back(n));
        assert_eq!(
            m[1],
            json!([want]),
            "web, {}: the text was not rendered for these capabilities",
            s.name
        );
    }
}
