//! The transports (telnet, telnet over TLS, SSH, and a WebSocket carrying terminal text), a
//! text connection over any of them, and logging in.
//!
//! Every wait has a deadline. Telnet negotiation is never answered (a server must cope with a
//! client that refuses everything, as Portcullis and Evennia do); telnet commands and ANSI
//! escapes are stripped before matching text.
//!
//! This file holds the transports and [`Target`], which connects over them; the rest is in
//! `accept_any` (the certificate verifier and host key handler that accept anything),
//! `ws` (WebSocket as a byte stream), `conn` (a text connection and its reader) and
//! `login` (how a session logs in).

mod accept_any;
mod conn;
mod login;
mod ws;

pub use accept_any::{
    AcceptAnyHostKey, DangerousAcceptAnyCertificate, dangerous_tls_client_config,
};
pub use conn::{Conn, ConnReader, TextReader, write_all};
pub use login::LoginSpec;
use ws::websocket_io;

use anyhow::{Context, Result, anyhow, bail};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};

/// The transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain telnet.
    Telnet,
    /// Telnet over TLS.
    Tls,
    /// SSH (password authentication, a shell without a PTY).
    Ssh,
    /// A WebSocket at `/ws` with the `terminal.mudstandards.org` subprotocol (plain text
    /// frames), over plain HTTP.
    Ws,
    /// The same over HTTPS.
    Wss,
    /// A WebSocket with no subprotocol whose binary frames carry the raw byte stream, as
    /// websockify relays a telnet port (for comparing with it).
    #[value(name = "ws-binary")]
    #[serde(rename = "ws-binary")]
    WsBinary,
}

/// A byte stream of any transport.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type SshHandle = russh::client::Handle<AcceptAnyHostKey>;

/// Where and how to connect.
pub struct Target {
    pub protocol: Protocol,
    pub addr: SocketAddr,
    /// How many loopback source addresses to spread connections over (127.0.0.1..=N).
    pub source_ips: u32,
    /// The deadline for each single wait.
    pub timeout: Duration,
    tls: tokio_rustls::TlsConnector,
    server_name: rustls_pki_types::ServerName<'static>,
    ssh: Arc<russh::client::Config>,
}

impl Target {
    pub async fn new(
        protocol: Protocol,
        addr: &str,
        source_ips: u32,
        timeout: Duration,
        tls_resume: bool,
    ) -> Result<Target> {
        let resolved = tokio::net::lookup_host(addr)
            .await
            .with_context(|| format!("cannot resolve {addr}"))?
            .next()
            .ok_or_else(|| anyhow!("{addr} resolves to no address"))?;
        let host = addr
            .rsplit_once(':')
            .map(|(h, _)| h.trim_matches(['[', ']']))
            .unwrap_or(addr);
        let server_name = match host.parse::<IpAddr>() {
            Ok(ip) => rustls_pki_types::ServerName::IpAddress(ip.into()),
            Err(_) => rustls_pki_types::ServerName::try_from(host.to_string()).unwrap_or(
                rustls_pki_types::ServerName::IpAddress(resolved.ip().into()),
            ),
        };
        let tls =
            tokio_rustls::TlsConnector::from(Arc::new(dangerous_tls_client_config(tls_resume)?));
        let ssh = Arc::new(russh::client::Config {
            nodelay: true,
            inactivity_timeout: None,
            ..Default::default()
        });
        let spread = source_ips > 1 && matches!(resolved.ip(), IpAddr::V4(ip) if ip.is_loopback());
        if source_ips > 1 && !spread {
            eprintln!(
                "portcullis-bench: --source-ips applies to IPv4 loopback targets only; ignored"
            );
        }
        Ok(Target {
            protocol,
            addr: resolved,
            source_ips: if spread { source_ips.min(254) } else { 1 },
            timeout,
            tls,
            server_name,
            ssh,
        })
    }

    /// A TCP connection for client `index` (source address spread when asked).
    pub async fn tcp(&self, index: usize) -> Result<TcpStream> {
        let connect = async {
            let stream = if self.source_ips > 1 {
                let octet = 1 + (index % self.source_ips as usize) as u8;
                let socket = TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(127, 0, 0, octet)),
                    0,
                ))?;
                socket.connect(self.addr).await?
            } else {
                TcpStream::connect(self.addr).await?
            };
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        };
        tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| anyhow!("TCP connect to {} timed out", self.addr))?
            .with_context(|| format!("TCP connect to {}", self.addr))
    }

    /// Connects, completes a TLS handshake, sends close_notify and closes.
    pub async fn tls_handshake(&self, index: usize) -> Result<()> {
        let tcp = self.tcp(index).await?;
        let mut tls = tokio::time::timeout(
            self.timeout,
            self.tls.connect(self.server_name.clone(), tcp),
        )
        .await
        .map_err(|_| anyhow!("TLS handshake timed out"))?
        .context("TLS handshake")?;
        let _ = tokio::time::timeout(Duration::from_secs(1), tls.shutdown()).await;
        Ok(())
    }

    /// Connects, completes the SSH key exchange (any host key accepted), disconnects.
    pub async fn ssh_handshake(&self, index: usize) -> Result<()> {
        let tcp = self.tcp(index).await?;
        let handle = tokio::time::timeout(
            self.timeout,
            russh::client::connect_stream(self.ssh.clone(), tcp, AcceptAnyHostKey),
        )
        .await
        .map_err(|_| anyhow!("SSH key exchange timed out"))?
        .context("SSH key exchange")?;
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            handle.disconnect(russh::Disconnect::ByApplication, "", "en"),
        )
        .await;
        Ok(())
    }

    /// A raw text connection (telnet or TLS): connected, nothing read yet.
    pub async fn open_stream(&self, index: usize) -> Result<Conn> {
        let tcp = self.tcp(index).await?;
        let io: Box<dyn Io> = match self.protocol {
            Protocol::Telnet => Box::new(tcp),
            Protocol::Tls => Box::new(
                tokio::time::timeout(
                    self.timeout,
                    self.tls.connect(self.server_name.clone(), tcp),
                )
                .await
                .map_err(|_| anyhow!("TLS handshake timed out"))?
                .context("TLS handshake")?,
            ),
            Protocol::Ws => websocket_io(self.addr, tcp, self.timeout, false).await?,
            Protocol::WsBinary => websocket_io(self.addr, tcp, self.timeout, true).await?,
            Protocol::Wss => {
                let tls = tokio::time::timeout(
                    self.timeout,
                    self.tls.connect(self.server_name.clone(), tcp),
                )
                .await
                .map_err(|_| anyhow!("TLS handshake timed out"))?
                .context("TLS handshake")?;
                websocket_io(self.addr, tls, self.timeout, false).await?
            }
            Protocol::Ssh => bail!("open_stream is for telnet, TLS and WebSocket"),
        };
        Ok(Conn::new(io, None))
    }

    /// An SSH shell (no PTY) for `user`: with `password`, or with `None` the "none" method
    /// (a registration user). `Ok(None)` when authentication is refused.
    pub async fn open_ssh_shell(
        &self,
        index: usize,
        user: &str,
        password: Option<&str>,
    ) -> Result<Option<Conn>> {
        let tcp = self.tcp(index).await?;
        let deadline = Instant::now() + self.timeout;
        let mut handle = timeout_at(
            deadline,
            russh::client::connect_stream(self.ssh.clone(), tcp, AcceptAnyHostKey),
        )
        .await
        .map_err(|_| anyhow!("SSH key exchange timed out"))?
        .context("SSH key exchange")?;
        let auth = match password {
            Some(p) => timeout_at(deadline, handle.authenticate_password(user, p)).await,
            None => timeout_at(deadline, handle.authenticate_none(user)).await,
        }
        .map_err(|_| anyhow!("SSH authentication timed out"))?
        .context("SSH authentication")?;
        if !auth.success() {
            let _ = handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
            return Ok(None);
        }
        let channel = timeout_at(deadline, handle.channel_open_session())
            .await
            .map_err(|_| anyhow!("SSH channel open timed out"))?
            .context("SSH channel open")?;
        channel
            .request_shell(false)
            .await
            .context("SSH shell request")?;
        Ok(Some(Conn::new(
            Box::new(channel.into_stream()),
            Some(handle),
        )))
    }
}
