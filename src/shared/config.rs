//! Configuration: built-in defaults < `config.toml` < environment `PORTCULLIS_SECTION__KEY`.
//!
//! Every key has a documented default (the shipped `config.toml` lists them all). Unknown keys
//! and bad values are errors that name the key and where the value came from. Relative paths
//! resolve against the directory of the config file, so one `--config` keeps a whole
//! installation (keys, certificates, data) together.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What can go wrong loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` does not exist.
    #[error("config file {0} not found")]
    NotFound(PathBuf),
    /// A key is unknown, or a value is of the wrong type; figment's message names the key and
    /// its source.
    #[error("bad configuration: {0}")]
    Invalid(String),
    /// A value parsed but makes no sense.
    #[error("bad configuration: {key}: {why}")]
    Value {
        /// Dotted key, e.g. `limits.max_line_length`.
        key: &'static str,
        /// Why it is refused.
        why: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for runtime state: the SQLite database, the link and control sockets, the
    /// session-id counter. Relative to the config file.
    pub data_dir: PathBuf,
    /// Plain telnet front end.
    pub telnet: TelnetConfig,
    /// Telnet over TLS front end.
    pub tls: TlsConfig,
    /// SSH front end.
    pub ssh: SshConfig,
    /// Web front end: the page, WebSocket and long-poll.
    pub web: WebConfig,
    /// Bounds on what players can make the portal hold or do.
    pub limits: Limits,
    /// Accounts and login throttles.
    pub accounts: AccountsConfig,
    /// The server process.
    pub server: ServerConfig,
    /// Gateway mode: every front end leads to an existing telnet game instead.
    pub gateway: GatewayConfig,
    /// Extra MSSP fields for MUD listing crawlers, e.g. `GENRE = "Social"`.
    pub mssp: std::collections::BTreeMap<String, String>,
}

/// `[telnet]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelnetConfig {
    /// Whether to listen for plain telnet.
    pub enabled: bool,
    /// `host:port` to listen on.
    pub bind: SocketAddr,
    /// Whether passwords are accepted over plain (unencrypted) telnet.
    pub login: TelnetLogin,
}

/// Password policy for plain telnet, `[telnet] login`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TelnetLogin {
    /// Accepted, nothing said.
    Allow,
    /// Accepted; the connection screen points to the TLS and SSH ports.
    Warn,
    /// Refused; the player is told where to connect instead.
    Deny,
}

/// `[tls]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Whether to listen for telnet over TLS.
    pub enabled: bool,
    /// `host:port` to listen on.
    pub bind: SocketAddr,
    /// Certificate chain (PEM), relative to the config file.
    pub cert: PathBuf,
    /// Private key (PEM), relative to the config file.
    pub key: PathBuf,
    /// Names (besides localhost) a generated self-signed certificate is made for.
    pub hostnames: Vec<String>,
    /// Seconds a client has to complete the TLS handshake.
    pub handshake_timeout_secs: u64,
}

/// `[ssh]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    /// Whether to listen for SSH.
    pub enabled: bool,
    /// `host:port` to listen on.
    pub bind: SocketAddr,
    /// Directory of the host keys (OpenSSH format), relative to the config file.
    pub keys_dir: PathBuf,
    /// SSH user name that gets the connection screen without authenticating, so new players
    /// can create an account (only while `accounts.registration` is on). Empty turns it off.
    pub registration_user: String,
    /// Authentication attempts allowed per connection.
    pub max_auth_attempts: usize,
    /// Milliseconds every rejected authentication takes, whatever the reason.
    pub auth_rejection_delay_ms: u64,
    /// Seconds a connection has to authenticate.
    pub auth_timeout_secs: u64,
    /// Seconds between keepalives to a silent client (3 unanswered close the connection).
    pub keepalive_secs: u64,
}

/// `[web]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Whether to serve the web client (page, WebSocket and long-poll).
    pub enabled: bool,
    /// `host:port` to listen on.
    pub bind: SocketAddr,
    /// HTTPS with the `[tls]` certificate; false serves plain HTTP (only behind a reverse
    /// proxy that terminates TLS).
    pub tls: bool,
    /// Origins allowed besides the page's own (`https://mud.example.org`).
    pub allowed_origins: Vec<String>,
    /// Peer addresses whose `X-Forwarded-For` header names the real client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds a browser session lives with no connection, waiting for the page to come back.
    pub reconnect_grace_secs: u64,
    /// Seconds a long-poll request is held before it is answered empty.
    pub poll_timeout_secs: u64,
    /// Largest WebSocket message or POST body, in bytes.
    pub max_message_bytes: usize,
    /// HTTP connections held at once from one address (a browser opens several).
    pub http_connections_per_address: usize,
}

/// `[limits]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections held at once, all front ends together.
    pub max_connections: usize,
    /// Connections held at once from one IP address.
    pub max_connections_per_address: usize,
    /// How many leading bits of an IPv6 address the per-address limits and the login
    /// throttles count as one address (an IPv4 client is always its whole address).
    pub ipv6_prefix: u8,
    /// Longest input line in bytes; longer lines are cut and the player told.
    pub max_line_length: usize,
    /// Sustained commands per second per session.
    pub command_rate: f64,
    /// Commands a session may send in a burst above the rate.
    pub command_burst: u32,
    /// Bytes of output queued for one session before it is disconnected as stalled.
    pub output_buffer_bytes: usize,
    /// Lines held per session while the server is away (reload, crash) or busy.
    pub input_buffer_lines: usize,
    /// Bytes of input held per session the same way (one message is always taken).
    pub input_buffer_bytes: usize,
    /// Bytes of input (after MCCP3 inflation) a session's protocol engine handles per second;
    /// a session over it is not read until the debt is paid.
    pub input_bytes_per_sec: usize,
    /// Lines and out-of-band messages a session may produce per second, the same way.
    pub input_messages_per_sec: usize,
    /// Seconds a connection may stay without logging in; 0 turns it off.
    pub login_timeout_secs: u64,
    /// Seconds a logged-in session may stay idle; 0 (the default) turns it off.
    pub idle_timeout_secs: u64,
    /// Sessions that may compress their output (MCCP2) at once; each compressor holds about
    /// 320 KiB. Clients past this get uncompressed output.
    pub max_compressed_sessions: usize,
    /// Load balancers (addresses or networks such as `10.0.0.0/8`) whose connections start
    /// with a PROXY v1/v2 header naming the real player; on every listener.
    pub trusted_proxies: Vec<String>,
}

/// `[accounts]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// Whether players may create accounts themselves.
    pub registration: bool,
    /// Failed logins allowed per address within `login_failure_window_secs`.
    pub login_failures: usize,
    /// Window for `login_failures`, in seconds.
    pub login_failure_window_secs: u64,
    /// Failed logins at one account (from anywhere) within `account_failure_window_secs`
    /// before each further attempt at it waits `account_failure_delay_secs`.
    pub account_failures: usize,
    /// Window for `account_failures`, in seconds.
    pub account_failure_window_secs: u64,
    /// The wait before checking a password for an account past `account_failures`.
    pub account_failure_delay_secs: u64,
    /// Accounts one address may create within `creation_window_secs`.
    pub creations: usize,
    /// Window for `creations`, in seconds.
    pub creation_window_secs: u64,
}

/// `[gateway]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Whether players are led to the upstream game instead of Portcullis' own server.
    pub enabled: bool,
    /// The game's telnet port, `host:port` (IPv6 in brackets).
    pub upstream: String,
    /// Whether to speak TLS to the game (its certificate checked for the host in `upstream`).
    pub upstream_tls: bool,
    /// CA certificates (PEM) the game's certificate is checked against; empty: the system's.
    /// Relative to the config file.
    pub upstream_ca: PathBuf,
    /// How the game learns each player's IP address.
    pub client_address: ClientAddress,
    /// How SSH players log in: `none` (any user name; the game has its own login) or
    /// `accounts` (Portcullis accounts, as without the gateway).
    pub ssh_auth: SshAuth,
    /// Seconds one connection attempt to the game may take.
    pub connect_timeout_secs: u64,
    /// Attempts to reach the game again after it went away before the player is told and
    /// closed (the delay doubles from half a second up to `reconnect_max_delay_secs`).
    pub reconnect_attempts: u32,
    /// Longest wait between two attempts, in seconds.
    pub reconnect_max_delay_secs: u64,
    /// Bytes of typed input held per player while the game is away; past it a line is
    /// refused with a notice.
    pub held_input_bytes: usize,
    /// Bytes the game's compressed output (MCCP2) may inflate to from one read (reads are
    /// 512 bytes while compressed); more is a compression bomb and ends that connection.
    pub max_inflate_bytes: usize,
}

/// How the game learns a player's address, `[gateway] client_address`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAddress {
    /// Answered when the game asks NEW-ENVIRON for `IPADDRESS` (MNES).
    Mnes,
    /// A HAProxy PROXY v1 (text) header, the first bytes written to the game.
    ProxyV1,
    /// A HAProxy PROXY v2 (binary) header, the first bytes written to the game.
    ProxyV2,
    /// Not told.
    None,
}

/// How SSH players authenticate in gateway mode, `[gateway] ssh_auth`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SshAuth {
    /// Any user name, no password: the game has its own login.
    None,
    /// Portcullis accounts (password or key), as without the gateway.
    Accounts,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            enabled: false,
            upstream: "127.0.0.1:4201".into(),
            upstream_tls: false,
            upstream_ca: PathBuf::new(),
            client_address: ClientAddress::Mnes,
            ssh_auth: SshAuth::None,
            connect_timeout_secs: 5,
            reconnect_attempts: 10,
            reconnect_max_delay_secs: 10,
            held_input_bytes: 16 * 1024,
            max_inflate_bytes: 1024 * 1024,
        }
    }
}

/// `[server]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Name of the world, shown on the connection screen.
    pub name: String,
    /// Seconds the portal waits for a linked server to answer its heartbeat (or to finish
    /// syncing) before it kills that server so that a new one starts.
    pub heartbeat_timeout_secs: u64,
    /// Whether colour markup in what players say to each other (`say`, `emote`, `tell`) is
    /// shown; line breaks and control characters never are.
    pub player_colour: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            telnet: TelnetConfig::default(),
            tls: TlsConfig::default(),
            ssh: SshConfig::default(),
            web: WebConfig::default(),
            limits: Limits::default(),
            accounts: AccountsConfig::default(),
            server: ServerConfig::default(),
            gateway: GatewayConfig::default(),
            mssp: std::collections::BTreeMap::new(),
        }
    }
}

fn any_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], port))
}

impl Default for TelnetConfig {
    fn default() -> Self {
        TelnetConfig {
            enabled: true,
            bind: any_addr(4000),
            login: TelnetLogin::Warn,
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: true,
            bind: any_addr(4003),
            cert: PathBuf::from("certs/cert.pem"),
            key: PathBuf::from("certs/key.pem"),
            hostnames: Vec::new(),
            handshake_timeout_secs: 10,
        }
    }
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            enabled: true,
            bind: any_addr(4004),
            keys_dir: PathBuf::from("keys"),
            registration_user: "new".into(),
            max_auth_attempts: 6,
            auth_rejection_delay_ms: 1000,
            auth_timeout_secs: 60,
            keepalive_secs: 30,
        }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            bind: any_addr(4001),
            tls: true,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            reconnect_grace_secs: 60,
            poll_timeout_secs: 25,
            max_message_bytes: 64 * 1024,
            http_connections_per_address: 64,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1000,
            max_connections_per_address: 20,
            ipv6_prefix: crate::shared::addr::DEFAULT_IPV6_PREFIX,
            max_line_length: 4096,
            command_rate: 10.0,
            command_burst: 30,
            output_buffer_bytes: 1024 * 1024,
            input_buffer_lines: 200,
            input_buffer_bytes: 256 * 1024,
            input_bytes_per_sec: 256 * 1024,
            input_messages_per_sec: 100,
            login_timeout_secs: 300,
            idle_timeout_secs: 0,
            max_compressed_sessions: 1000,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            registration: true,
            login_failures: 5,
            login_failure_window_secs: 300,
            account_failures: 10,
            account_failure_window_secs: 900,
            account_failure_delay_secs: 5,
            creations: 2,
            creation_window_secs: 600,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "Portcullis".into(),
            heartbeat_timeout_secs: 20,
            player_colour: true,
        }
    }
}

/// A loaded configuration with its paths resolved.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The values.
    pub config: Config,
    /// The config file it came from (absolute), passed on to the server child.
    pub path: PathBuf,
}

impl Loaded {
    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The SQLite accounts database.
    pub fn database_path(&self) -> PathBuf {
        self.config.data_dir.join("portcullis.sqlite3")
    }

    /// The Unix socket the server connects to.
    pub fn link_socket(&self) -> PathBuf {
        self.config.data_dir.join("link.sock")
    }

    /// The Unix socket the CLI talks to the portal over.
    pub fn control_socket(&self) -> PathBuf {
        self.config.data_dir.join("control.sock")
    }
}

/// Loads `path` (which must exist), merges the environment, validates, resolves paths.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    if !path.is_file() {
        return Err(ConfigError::NotFound(path.to_path_buf()));
    }
    let path = std::path::absolute(path).map_err(|_| ConfigError::NotFound(path.to_path_buf()))?;
    let figment = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::file_exact(&path))
        .merge(Env::prefixed("PORTCULLIS_").split("__"));
    let mut config: Config = figment
        .extract()
        .map_err(|e| ConfigError::Invalid(flatten(e)))?;
    validate(&config)?;
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    if config.data_dir.is_relative() {
        config.data_dir = base.join(&config.data_dir);
    }
    for p in [
        &mut config.ssh.keys_dir,
        &mut config.tls.cert,
        &mut config.tls.key,
        &mut config.gateway.upstream_ca,
    ] {
        if p.is_relative() && !p.as_os_str().is_empty() {
            *p = base.join(&*p);
        }
    }
    Ok(Loaded { config, path })
}

/// figment errors can chain several; one line each, joined.
fn flatten(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The smallest `limits.output_buffer_bytes` accepted: below it the connection screen alone,
/// as a browser gets it (JSON), overflows the buffer.
pub const MIN_OUTPUT_BUFFER_BYTES: usize = 4096;

/// Checks values and combinations that parse but make no sense.
pub fn validate(c: &Config) -> Result<(), ConfigError> {
    let l = &c.limits;
    let positive = [
        ("limits.max_connections", l.max_connections),
        (
            "limits.max_connections_per_address",
            l.max_connections_per_address,
        ),
        ("limits.input_buffer_lines", l.input_buffer_lines),
        ("limits.input_bytes_per_sec", l.input_bytes_per_sec),
        ("limits.input_buffer_bytes", l.input_buffer_bytes),
        (
            "server.heartbeat_timeout_secs",
            c.server.heartbeat_timeout_secs as usize,
        ),
        ("limits.input_messages_per_sec", l.input_messages_per_sec),
        ("limits.command_burst", l.command_burst as usize),
        ("accounts.login_failures", c.accounts.login_failures),
        ("accounts.account_failures", c.accounts.account_failures),
        ("accounts.creations", c.accounts.creations),
        ("ssh.max_auth_attempts", c.ssh.max_auth_attempts),
        ("ssh.auth_timeout_secs", c.ssh.auth_timeout_secs as usize),
        (
            "tls.handshake_timeout_secs",
            c.tls.handshake_timeout_secs as usize,
        ),
        (
            "web.reconnect_grace_secs",
            c.web.reconnect_grace_secs as usize,
        ),
        ("web.poll_timeout_secs", c.web.poll_timeout_secs as usize),
        (
            "web.http_connections_per_address",
            c.web.http_connections_per_address,
        ),
        (
            "gateway.connect_timeout_secs",
            c.gateway.connect_timeout_secs as usize,
        ),
        (
            "gateway.reconnect_max_delay_secs",
            c.gateway.reconnect_max_delay_secs as usize,
        ),
        ("gateway.held_input_bytes", c.gateway.held_input_bytes),
    ];
    for (key, v) in positive {
        if v == 0 {
            return Err(ConfigError::Value {
                key,
                why: "must be at least 1".into(),
            });
        }
    }
    if !(16..=128).contains(&l.ipv6_prefix) {
        return Err(ConfigError::Value {
            key: "limits.ipv6_prefix",
            why: "must be between 16 and 128 bits".into(),
        });
    }
    if l.output_buffer_bytes < MIN_OUTPUT_BUFFER_BYTES {
        return Err(ConfigError::Value {
            key: "limits.output_buffer_bytes",
            why: format!(
                "must be at least {MIN_OUTPUT_BUFFER_BYTES} bytes (a session must hold a screenful of output, or every player is cut off at the connection screen)"
            ),
        });
    }
    if !(64..=1024 * 1024).contains(&l.max_line_length) {
        return Err(ConfigError::Value {
            key: "limits.max_line_length",
            why: "must be between 64 and 1048576 bytes".into(),
        });
    }
    if !(1024..=16 * 1024 * 1024).contains(&c.web.max_message_bytes) {
        return Err(ConfigError::Value {
            key: "web.max_message_bytes",
            why: "must be between 1024 and 16777216 bytes".into(),
        });
    }
    for origin in &c.web.allowed_origins {
        if !(origin.starts_with("https://") || origin.starts_with("http://"))
            || origin.trim_end_matches('/') != origin
        {
            return Err(ConfigError::Value {
                key: "web.allowed_origins",
                why: format!("{origin:?} is not an origin like \"https://mud.example.org\""),
            });
        }
    }
    if !(l.command_rate.is_finite() && l.command_rate > 0.0) {
        return Err(ConfigError::Value {
            key: "limits.command_rate",
            why: "must be a positive number".into(),
        });
    }
    if c.gateway.enabled && !valid_host_port(&c.gateway.upstream) {
        return Err(ConfigError::Value {
            key: "gateway.upstream",
            why: format!(
                "{:?} is not host:port (e.g. \"127.0.0.1:4201\", \"[::1]:4201\", \"mud.example.org:4000\")",
                c.gateway.upstream
            ),
        });
    }
    for entry in &l.trusted_proxies {
        if parse_network(entry).is_none() {
            return Err(ConfigError::Value {
                key: "limits.trusted_proxies",
                why: format!("{entry:?} is not an address or a network like \"10.0.0.0/8\""),
            });
        }
    }
    if !(1024..=16 * 1024 * 1024).contains(&c.gateway.max_inflate_bytes) {
        return Err(ConfigError::Value {
            key: "gateway.max_inflate_bytes",
            why: "must be between 1024 and 16777216 bytes".into(),
        });
    }
    if c.server.name.trim().is_empty() {
        return Err(ConfigError::Value {
            key: "server.name",
            why: "must not be empty".into(),
        });
    }
    Ok(())
}

/// An address or a network (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
pub fn parse_network(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Whether `s` is `host:port` with a port above 0 (a bracketed IPv6 address, an IPv4
/// address or a host name).
fn valid_host_port(s: &str) -> bool {
    if s.parse::<SocketAddr>().is_ok_and(|a| a.port() > 0) {
        return true;
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && !host.contains(':')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("config.toml");
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn shipped_config_equals_defaults() {
        let text = include_str!("../../config.toml");
        let shipped: Config = toml::from_str(text).unwrap();
        assert_eq!(shipped, Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "[telnet]\nbnd = \"1.2.3.4:5\"\n");
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("bnd"), "{e}");
        assert!(e.contains("config.toml"), "{e}");
    }

    #[test]
    fn bad_value_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "[telnet]\nbind = \"nowhere\"\n");
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("telnet.bind"), "{e}");
        let p = write(d.path(), "[limits]\nmax_line_length = 1\n");
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("limits.max_line_length"), "{e}");
        for prefix in ["8", "129"] {
            let p = write(d.path(), &format!("[limits]\nipv6_prefix = {prefix}\n"));
            let e = load(&p).unwrap_err().to_string();
            assert!(e.contains("limits.ipv6_prefix"), "{e}");
        }
        let p = write(d.path(), "[limits]\nipv6_prefix = 48\n");
        assert_eq!(load(&p).unwrap().config.limits.ipv6_prefix, 48);
        let p = write(d.path(), "[limits]\noutput_buffer_bytes = 4095\n");
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("limits.output_buffer_bytes"), "{e}");
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "data_dir = \"state\"\n");
        let l = load(&p).unwrap();
        assert_eq!(l.config.data_dir, d.path().join("state"));
        assert!(l.link_socket().starts_with(d.path()));
    }

    #[test]
    fn gateway_upstream_must_be_host_and_port() {
        for good in ["127.0.0.1:4201", "[::1]:4201", "mud.example.org:4000"] {
            assert!(valid_host_port(good), "{good}");
        }
        for bad in [
            "127.0.0.1",
            "mud:0",
            ":4000",
            "::1:4000",
            "a b:1",
            "host:port",
        ] {
            assert!(!valid_host_port(bad), "{bad}");
        }
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "[gateway]\nenabled = true\nupstream = \"nowhere\"\n",
        );
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("gateway.upstream"), "{e}");
        let p = write(d.path(), "[gateway]\nclient_address = \"smoke-signals\"\n");
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("client_address"), "{e}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let e = load(Path::new("/nonexistent/portcullis.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::NotFound(_)));
    }
}
