//! The `portcullis` command line: start, portal, server, reload, stop, status, accounts.
//!
//! Every subcommand takes `--config PATH` (default `./config.toml`) before or after its name.
//! Failures print one line on stderr and exit non-zero.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use portcullis::ops::accounts::AccountStore;
use portcullis::shared::config::{self, Loaded};
use portcullis::shared::control::{self, ControlRequest, ControlResponse, StatusReport};
use portcullis::shared::session::short_duration;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "portcullis",
    version,
    about = "A secure front door for text worlds"
)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        default_value = "config.toml",
        value_name = "PATH"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the portal in the foreground with the server as its supervised child (the default).
    Start,
    /// Run the portal alone (the server is started separately, e.g. by systemd).
    Portal,
    /// Run the server alone; it connects to the portal's link socket.
    Server {
        /// Exit when the link to the portal is lost (set by `start` for its child).
        #[arg(long, hide = true)]
        supervised: bool,
    },
    /// Restart the server while the portal keeps every connection.
    Reload,
    /// Stop the running portal (and its server), telling every player.
    Stop,
    /// Show listeners, the server, and every session.
    Status,
    /// Manage accounts (works whether or not the server runs).
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Manage the SSH host keys in `[ssh] keys_dir`.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the TLS certificate (`[tls] cert` and `key`).
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
}

#[derive(Subcommand, Debug)]
enum CertsCommand {
    /// Make a self-signed certificate (ECDSA P-256) for localhost and the given names.
    Generate {
        /// A name (or IP address) the certificate is for; repeat for more. Default: `[tls] hostnames`.
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Days it is valid.
        #[arg(long, default_value_t = portcullis::ops::certs::DEFAULT_DAYS)]
        days: u32,
        /// Replace an existing certificate and key.
        #[arg(long)]
        force: bool,
    },
    /// Subject, names, issuer, validity, key type and SHA-256 fingerprint.
    Show,
    /// Check that the key matches, the certificate is valid, and the key file is private.
    Check,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// One line per host key: type, bits, SHA256 fingerprint (as `ssh-keygen -l`), file.
    List,
    /// Make a new host key (mode 0600, `.pub` 0644); refuses to overwrite without --force.
    Generate {
        /// ed25519, rsa or ecdsa.
        #[arg(long = "type", default_value = "ed25519")]
        key_type: String,
        /// Key size: rsa 2048-8192 (default 3072), ecdsa 256, 384 or 521.
        #[arg(long)]
        bits: Option<u32>,
        /// Replace an existing key of this type.
        #[arg(long)]
        force: bool,
    },
    /// Take an existing OpenSSH private key (e.g. /etc/ssh/ssh_host_ed25519_key) as a host key.
    Import {
        /// The private key file.
        path: PathBuf,
        /// Replace an existing key of this type.
        #[arg(long)]
        force: bool,
    },
    /// Delete the host key of a type.
    Remove {
        /// ed25519, rsa or ecdsa.
        key_type: String,
    },
    /// Lines players can add to their known_hosts.
    KnownHosts {
        /// Host name players connect to (default: the bind address, or localhost).
        #[arg(long)]
        host: Option<String>,
        /// Port players connect to (default: the running portal's SSH port, else `[ssh] bind`'s).
        #[arg(long)]
        port: Option<u16>,
    },
}

#[derive(Subcommand, Debug)]
enum AccountsCommand {
    /// Create an account; the password is read from stdin, or prompted on a terminal.
    Create { name: String },
    /// List accounts.
    List,
    /// Change an account's password (read like `create`).
    Passwd { name: String },
    /// Delete an account.
    Delete { name: String },
    /// Add an SSH public key (an OpenSSH .pub line) to an account; FILE or - for stdin.
    AddKey { name: String, file: String },
    /// List an account's SSH keys.
    Keys { name: String },
    /// Remove one of an account's SSH keys by its SHA256 fingerprint.
    RemoveKey { name: String, fingerprint: String },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("portcullis: {e:#}");
        std::process::exit(1);
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> Result<()> {
    let loaded = config::load(&cli.config)?;
    match cli.command.unwrap_or(Command::Start) {
        Command::Start => {
            init_logging();
            runtime()?.block_on(portcullis::portal::run(loaded, true))?;
        }
        Command::Portal => {
            init_logging();
            runtime()?.block_on(portcullis::portal::run(loaded, false))?;
        }
        Command::Server { supervised } => {
            init_logging();
            runtime()?.block_on(portcullis::server::run(loaded, supervised))?;
        }
        Command::Reload => {
            let started = std::time::Instant::now();
            match ask(&loaded, ControlRequest::Reload, Duration::from_secs(60))? {
                ControlResponse::Reloaded { millis, notes } => {
                    println!(
                        "server reloaded in {millis} ms ({} ms including this command)",
                        started.elapsed().as_millis()
                    );
                    for note in notes {
                        println!("{note}");
                    }
                }
                other => unexpected(other)?,
            }
        }
        Command::Stop => match ask(&loaded, ControlRequest::Stop, Duration::from_secs(10))? {
            ControlResponse::Stopping => println!("portal stopping"),
            other => unexpected(other)?,
        },
        Command::Status => match ask(&loaded, ControlRequest::Status, Duration::from_secs(10))? {
            ControlResponse::Status(report) => print_status(&report),
            other => unexpected(other)?,
        },
        Command::Accounts { command } => accounts(&loaded, command)?,
        Command::Keys { command } => keys(&loaded, command)?,
        Command::Certs { command } => certs(&loaded, command)?,
    }
    Ok(())
}

fn ask(loaded: &Loaded, req: ControlRequest, timeout: Duration) -> Result<ControlResponse> {
    let socket = loaded.control_socket();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(rt.block_on(control::request(&socket, &req, timeout))?)
}

fn unexpected(resp: ControlResponse) -> Result<()> {
    match resp {
        ControlResponse::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer from the portal: {other:?}"),
    }
}

fn print_status(r: &StatusReport) {
    println!(
        "portal: pid {}, up {}",
        r.portal_pid,
        short_duration(r.portal_uptime_secs)
    );
    for l in &r.listeners {
        println!("listening: {} {}", l.protocol, l.addr);
    }
    match &r.server {
        Some(s) => println!(
            "server: pid {}, up {}{}",
            s.pid,
            short_duration(s.uptime_secs),
            if s.synced { "" } else { " (syncing)" }
        ),
        None => println!("server: not linked"),
    }
    println!("sessions: {}", r.sessions.len());
    if !r.sessions.is_empty() {
        // Gateway mode adds where each session's leg to the game is.
        let gateway = r.sessions.iter().any(|s| s.upstream.is_some());
        let upstream = |s: Option<&str>| {
            if gateway {
                format!("  {}", s.unwrap_or("-"))
            } else {
                String::new()
            }
        };
        println!(
            "{:>8}  {:<12} {:<40} {:<20} {:>6}{}",
            "ID",
            "PROTOCOL",
            "ADDRESS",
            "ACCOUNT",
            "IDLE",
            upstream(Some("UPSTREAM"))
        );
        for s in &r.sessions {
            println!(
                "{:>8}  {:<12} {:<40} {:<20} {:>6}{}",
                s.id,
                s.protocol,
                s.address,
                s.account.as_deref().unwrap_or("-"),
                short_duration(s.idle_secs),
                upstream(s.upstream.as_deref())
            );
        }
    }
}

/// Reads a new password: one line from stdin when it is not a terminal, else prompted twice
/// without echo.
fn read_new_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ").context("cannot read password")?;
        let b = rpassword::prompt_password("Repeat password: ").context("cannot read password")?;
        if a != b {
            bail!("the passwords differ");
        }
        Ok(a)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read password from stdin")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("no password on stdin");
        }
        Ok(pw)
    }
}

fn accounts(loaded: &Loaded, cmd: AccountsCommand) -> Result<()> {
    portcullis::portal::ensure_data_dir(loaded.data_dir())?;
    let store = AccountStore::open(&loaded.database_path())?;
    match cmd {
        AccountsCommand::Create { name } => {
            portcullis::ops::accounts::validate_name(&name)?;
            if store.find(&name)?.is_some() {
                bail!("name already taken: {name}");
            }
            let pw = read_new_password()?;
            let a = store.create(&name, &pw)?;
            println!("created account {} (id {})", a.name, a.id);
        }
        AccountsCommand::List => {
            let list = store.list()?;
            println!("{:>6}  {:<20} {:<20} LAST LOGIN", "ID", "NAME", "CREATED");
            for a in &list {
                println!(
                    "{:>6}  {:<20} {:<20} {}",
                    a.id,
                    a.name,
                    format_time(a.created),
                    a.last_login
                        .map(format_time)
                        .unwrap_or_else(|| "never".into())
                );
            }
            println!(
                "{} account{}",
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            );
        }
        AccountsCommand::Passwd { name } => {
            if store.find(&name)?.is_none() {
                bail!("no such account: {name}");
            }
            let pw = read_new_password()?;
            store.set_password(&name, &pw)?;
            println!("password changed for {name}");
        }
        AccountsCommand::Delete { name } => {
            let account = store.find(&name)?;
            store.delete(&name)?;
            println!("deleted account {name}");
            if let Some(account) = account {
                log_out_everywhere(loaded, account.id, &account.name)?;
            }
        }
        AccountsCommand::AddKey { name, file } => {
            let text = if file == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(std::io::stdin(), 64 * 1024),
                    &mut s,
                )
                .context("cannot read the key from stdin")?;
                s
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?
            };
            let key = portcullis::ops::keys::parse_public_key_line(text.trim())?;
            store.add_key(&name, &key.fingerprint, &key.openssh, &key.comment)?;
            println!("added {} key {} to {name}", key.algorithm, key.fingerprint);
        }
        AccountsCommand::Keys { name } => {
            let keys = store.keys(&name)?;
            for k in &keys {
                let kind = k.openssh.split(' ').next().unwrap_or("?");
                println!(
                    "{} {kind} {} (added {})",
                    k.fingerprint,
                    k.comment,
                    format_time(k.added)
                );
            }
            println!(
                "{} key{}",
                keys.len(),
                if keys.len() == 1 { "" } else { "s" }
            );
        }
        AccountsCommand::RemoveKey { name, fingerprint } => {
            store.remove_key(&name, &fingerprint)?;
            println!("removed key {fingerprint} from {name}");
        }
    }
    Ok(())
}

fn print_cert(info: &portcullis::ops::certs::CertInfo) {
    println!("certificate: {}", info.path.display());
    println!("subject:     {}", info.subject);
    println!("names:       {}", info.names.join(", "));
    println!(
        "issuer:      {}{}",
        info.issuer,
        if info.self_signed {
            " (self-signed)"
        } else {
            ""
        }
    );
    println!("valid from:  {}", info.not_before);
    println!(
        "valid until: {} ({} days left)",
        info.not_after, info.days_left
    );
    println!("key:         {}", info.key_type);
    println!("sha256 Fingerprint={}", info.fingerprint_sha256);
}

fn certs(loaded: &Loaded, cmd: CertsCommand) -> Result<()> {
    use portcullis::ops::certs::{self, CertPaths};
    let tls = &loaded.config.tls;
    let paths = CertPaths::new(&tls.cert, &tls.key);
    match cmd {
        CertsCommand::Generate { hosts, days, force } => {
            let hosts = if hosts.is_empty() {
                tls.hostnames.clone()
            } else {
                hosts
            };
            let info = certs::generate(&paths, &hosts, days, force)?;
            print_cert(&info);
            println!("key:         {} (mode 0600)", paths.key.display());
            println!("a running portal picks it up on `portcullis reload` or SIGHUP");
        }
        CertsCommand::Show => print_cert(&certs::show(&paths)?),
        CertsCommand::Check => {
            let report = certs::check(&paths)?;
            print_cert(&report.info);
            for w in &report.warnings {
                println!("warning: {w}");
            }
            for p in &report.problems {
                println!("problem: {p}");
            }
            if !report.is_ok() {
                bail!(
                    "the certificate has {} problem{}",
                    report.problems.len(),
                    if report.problems.len() == 1 { "" } else { "s" }
                );
            }
            println!("ok");
        }
    }
    Ok(())
}

/// Tells a running portal that an account is gone, so that it is logged out everywhere. With
/// no portal running there is nothing to tell: a server that starts later checks the accounts.
fn log_out_everywhere(loaded: &Loaded, account_id: i64, name: &str) -> Result<()> {
    let req = ControlRequest::AccountDeleted {
        account_id,
        name: name.to_string(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match rt.block_on(control::request(
        &loaded.control_socket(),
        &req,
        Duration::from_secs(10),
    )) {
        Ok(ControlResponse::LoggedOut { sessions }) => {
            println!(
                "logged out of {sessions} session{} on the running portal",
                if sessions == 1 { "" } else { "s" }
            );
            Ok(())
        }
        Err(control::ControlError::NoPortal { .. }) => Ok(()),
        Ok(other) => unexpected(other)
            .context("the account is deleted, but the running portal did not log it out"),
        Err(e) => Err(anyhow::Error::new(e)
            .context("the account is deleted, but the running portal could not be told")),
    }
}

/// The SSH port of a running portal on this config, if one answers.
fn running_ssh_port(loaded: &Loaded) -> Option<u16> {
    match ask(loaded, ControlRequest::Status, Duration::from_secs(2)).ok()? {
        ControlResponse::Status(r) => r
            .listeners
            .iter()
            .find(|l| l.protocol == portcullis::shared::session::listener::SSH)
            .and_then(|l| l.addr.rsplit(':').next()?.parse().ok()),
        _ => None,
    }
}

fn keys(loaded: &Loaded, cmd: KeysCommand) -> Result<()> {
    use portcullis::ops::keys::{HostKeys, KeyType};
    let ssh = &loaded.config.ssh;
    let store = HostKeys::new(&ssh.keys_dir);
    match cmd {
        KeysCommand::List => {
            let list = store.list()?;
            if list.is_empty() {
                println!(
                    "no host keys in {} (one is made on first start, or: portcullis keys generate)",
                    ssh.keys_dir.display()
                );
            }
            for k in list {
                println!(
                    "{} {} {} {}",
                    k.key_type,
                    k.bits,
                    k.fingerprint,
                    k.path.display()
                );
            }
        }
        KeysCommand::Generate {
            key_type,
            bits,
            force,
        } => {
            let t: KeyType = key_type.parse()?;
            let k = store.generate(t, bits, force)?;
            println!(
                "generated {} {} {} {}",
                k.key_type,
                k.bits,
                k.fingerprint,
                k.path.display()
            );
        }
        KeysCommand::Import { path, force } => {
            let k = store.import(&path, force)?;
            println!(
                "imported {} {} {} {}",
                k.key_type,
                k.bits,
                k.fingerprint,
                k.path.display()
            );
        }
        KeysCommand::Remove { key_type } => {
            let t: KeyType = key_type.parse()?;
            let path = store.remove(t)?;
            println!("removed {}", path.display());
        }
        KeysCommand::KnownHosts { host, port } => {
            let host = host.unwrap_or_else(|| {
                let ip = ssh.bind.ip();
                if ip.is_unspecified() {
                    "localhost".to_string()
                } else {
                    ip.to_string()
                }
            });
            // The port players use: as given, else the running portal's actual SSH port, else
            // the configured one.
            let port = port
                .or_else(|| running_ssh_port(loaded))
                .unwrap_or(ssh.bind.port());
            let lines = store.known_hosts_lines(&host, port)?;
            if lines.is_empty() {
                bail!(
                    "no host keys in {} (start portcullis once, or: portcullis keys generate)",
                    ssh.keys_dir.display()
                );
            }
            for line in lines {
                println!("{line}");
            }
        }
    }
    Ok(())
}

/// Unix seconds as `YYYY-MM-DD HH:MM` UTC.
fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}
