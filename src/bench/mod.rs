//! `portcullis-bench`: a load and benchmark tool for telnet-style text servers (MUDs,
//! talkers), over telnet, telnet over TLS, or SSH, in the manner of redis-benchmark or pgbench.
//! It measures Portcullis and its peers (Evennia over telnet, OpenSSH's sshd for SSH
//! handshakes, stunnel for TLS handshakes) with the same clients.
//!
//! Scenarios: `handshakes` (TLS or SSH handshakes per second), `roundtrip` (a line to its
//! echo, many logged-in clients), `fanout` (one line to every client in the room), `hold`
//! (idle connections and the server's memory), `reload` (clients typing through a server
//! reload: nothing may be lost).
//!
//! **Benchmarks only**: the TLS client accepts any certificate and the SSH client any host
//! key ([`client::DangerousAcceptAnyCertificate`], [`client::AcceptAnyHostKey`]).

pub mod client;
pub mod report;
pub mod scenarios;
pub mod text;

use clap::{Args, Parser, Subcommand};
use client::{LoginSpec, Protocol};
use std::path::PathBuf;
use std::time::Duration;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "portcullis-bench",
    version,
    about = "Load and benchmark tool for telnet-style text servers over telnet, TLS or SSH",
    long_about = "Load and benchmark tool for telnet-style text servers (MUDs, talkers) over \
telnet, telnet over TLS, or SSH. Prints a table on stdout; with --json also a JSON document. \
Exits 0 on success, 1 when a scenario fails its own invariants (or cannot run).\n\n\
For benchmarks only: TLS certificates and SSH host keys are NOT verified."
)]
pub struct Cli {
    /// Also write the results as JSON to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// What to measure.
#[derive(Subcommand, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Scenario {
    /// TLS or SSH handshakes per second (complete the handshake, then close; SSH: key exchange
    /// through host-key verification, no authentication).
    Handshakes(HandshakesArgs),
    /// N logged-in clients each send a line and wait for its echo, M times.
    Roundtrip(RoundtripArgs),
    /// One client says a token; time until the last of N clients has it, over R rounds.
    Fanout(FanoutArgs),
    /// N idle connections (telnet/TLS: at the connection screen; SSH: authenticated shells)
    /// and the server's resident memory before and after.
    Hold(HoldArgs),
    /// Clients keep typing while a reload command runs once mid-run: nothing may be lost.
    Reload(ReloadArgs),
    /// Not a measurement: a minimal telnet game on --addr for a proxy under test to stand in
    /// front of (Portcullis' gateway, stunnel, websockify). Runs until killed.
    Game(GameArgs),
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Handshakes(_) => "handshakes",
            Scenario::Roundtrip(_) => "roundtrip",
            Scenario::Fanout(_) => "fanout",
            Scenario::Hold(_) => "hold",
            Scenario::Reload(_) => "reload",
            Scenario::Game(_) => "game",
        }
    }

    pub fn common(&self) -> &Common {
        match self {
            Scenario::Handshakes(a) => &a.common,
            Scenario::Roundtrip(a) => &a.common,
            Scenario::Fanout(a) => &a.common,
            Scenario::Hold(a) => &a.common,
            Scenario::Reload(a) => &a.common,
            Scenario::Game(a) => &a.common,
        }
    }
}

/// Options every scenario takes.
#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct Common {
    /// Transport.
    #[arg(long, value_enum, default_value = "telnet")]
    pub protocol: Protocol,
    /// Server address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:4000")]
    pub addr: String,
    /// Seconds to run (handshakes; roundtrip with --lines 0; hold without --hold-secs).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Account names are this prefix and the client's index.
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
    /// Index of the first account (bench0 by default).
    #[arg(long, default_value_t = 0)]
    pub first_user: usize,
    /// Password of every account.
    #[arg(long, default_value = "bench-password")]
    #[serde(skip)]
    pub password: String,
    /// Line sent to log in at the connection screen ({user}, {password}).
    #[arg(long, default_value = "connect {user} {password}")]
    pub login: String,
    /// Line sent to create the account when logging in does not work.
    #[arg(long, default_value = "create {user} {password}")]
    pub create: String,
    /// Try --create before --login (avoids failed-login throttles on a fresh server).
    #[arg(long)]
    pub create_first: bool,
    /// Text meaning "logged in" after a login or create line (repeatable). Only text after
    /// the line counts, and a `say` probe confirms it, so a connection screen that says
    /// "Welcome to …" does not fool it.
    #[arg(long = "logged-in-marker", default_values = ["Welcome", "You become", "Out-of-Character"])]
    pub logged_in_markers: Vec<String>,
    /// Text meaning a login or create line was refused (repeatable; only makes failing faster).
    #[arg(long = "login-failed-marker", default_values = [
        "Wrong name or password", "There is no account", "ncorrect", "Too many",
        "already exists", "is taken", "Usage:", "not available", "made by the operator",
    ])]
    pub failed_markers: Vec<String>,
    /// Text meaning the connection screen is up; "" = wait for the first output and 250 ms of
    /// quiet (or 1 s with no output at all).
    #[arg(long, default_value = "")]
    pub ready_marker: String,
    /// The round-trip line ({token} is unique per line).
    #[arg(long, default_value = "say {token}")]
    pub say: String,
    /// What to wait for after the round-trip line.
    #[arg(long, default_value = "{token}")]
    pub expect: String,
    /// SSH: when password authentication is refused, log in as this user with no
    /// authentication (Portcullis' registration user, which gets the connection screen) and
    /// create the account there. "" to not try.
    #[arg(long, default_value = "new")]
    pub ssh_register_user: String,
    /// Seconds any single wait may take (connect, handshake, login step, echo).
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 32)]
    pub connect_concurrency: usize,
    /// Spread connections over source addresses 127.0.0.1..=127.0.0.N (loopback targets;
    /// per-address limits and ephemeral ports).
    #[arg(long, default_value_t = 1)]
    pub source_ips: u32,
    /// Allow TLS session resumption (off: every handshake is a full one).
    #[arg(long)]
    pub tls_resume: bool,
}

impl Common {
    pub fn login_spec(&self) -> LoginSpec {
        LoginSpec {
            user_prefix: self.user_prefix.clone(),
            first_user: self.first_user,
            password: self.password.clone(),
            login: self.login.clone(),
            create: self.create.clone(),
            logged_in_markers: self.logged_in_markers.clone(),
            failed_markers: self.failed_markers.clone(),
            ready_marker: self.ready_marker.clone(),
            say: self.say.clone(),
            expect: self.expect.clone(),
            create_first: self.create_first,
            ssh_register_user: self.ssh_register_user.clone(),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.clamp(0.1, 3600.0))
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration.clamp(0.0, 86400.0))
    }
}

#[derive(Args, Debug, serde::Serialize)]
pub struct HandshakesArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

#[derive(Args, Debug, serde::Serialize)]
pub struct RoundtripArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// Logged-in clients.
    #[arg(long, default_value_t = 10)]
    pub clients: usize,
    /// Lines each client sends (0: as many as fit in --duration).
    #[arg(long, default_value_t = 100)]
    pub lines: usize,
    /// Milliseconds from one of a client's lines to its next; the clients' first lines are
    /// spread evenly over one interval, so N clients offer N * 1000 / interval lines/s. 0: each
    /// client sends its next line as soon as the echo is in, all starting at once (every
    /// client always has a line waiting, so latency is mostly queueing: about clients ÷
    /// throughput).
    #[arg(long, default_value_t = 0)]
    pub interval_ms: u64,
}

#[derive(Args, Debug, serde::Serialize)]
pub struct FanoutArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// Logged-in clients (all in the same room).
    #[arg(long, default_value_t = 10)]
    pub clients: usize,
    /// Rounds (the speaker rotates).
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
}

#[derive(Args, Debug, serde::Serialize)]
pub struct HoldArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// Idle connections to open (capped by the open-file limit).
    #[arg(long, default_value_t = 100)]
    pub sessions: usize,
    /// The server process whose VmRSS is measured.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Include the RSS of the process's descendants (e.g. Portcullis' server child).
    #[arg(long)]
    pub pid_children: bool,
    /// Seconds to hold the connections (default: --duration).
    #[arg(long)]
    pub hold_secs: Option<f64>,
}

/// `game`: where to listen is `--addr`.
#[derive(Args, Debug, serde::Serialize)]
pub struct GameArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, serde::Serialize)]
pub struct ReloadArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// Logged-in clients typing.
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Shell command run once mid-run (e.g. "portcullis reload --config X"); its "reloaded in
    /// N ms" is reported, else its wall time.
    #[arg(long)]
    pub reload_cmd: String,
    /// Lines each client sends.
    #[arg(long, default_value_t = 50)]
    pub lines: usize,
    /// Milliseconds between one client's lines.
    #[arg(long, default_value_t = 100)]
    pub interval_ms: u64,
    /// Seconds to wait for the last echoes after the last line.
    #[arg(long, default_value_t = 20.0)]
    pub settle_secs: f64,
}

/// Runs the scenario; returns its name, its parameters and its outcome.
pub async fn run(cli: &Cli) -> anyhow::Result<(serde_json::Value, report::Outcome)> {
    let params = serde_json::to_value(&cli.scenario)?;
    let outcome = match &cli.scenario {
        Scenario::Handshakes(a) => scenarios::handshakes(a, cli.quiet).await?,
        Scenario::Roundtrip(a) => scenarios::roundtrip(a, cli.quiet).await?,
        Scenario::Fanout(a) => scenarios::fanout(a, cli.quiet).await?,
        Scenario::Hold(a) => scenarios::hold(a, cli.quiet).await?,
        Scenario::Reload(a) => scenarios::reload(a, cli.quiet).await?,
        Scenario::Game(a) => scenarios::game(a).await?,
    };
    Ok((params, outcome))
}
