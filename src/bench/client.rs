//! The transports (telnet, telnet over TLS, SSH, and a WebSocket carrying terminal text), a
//! text connection over any of them, and logging in.
//!
//! Every wait has a deadline. Telnet negotiation is never answered (a server must cope with a
//! client that refuses everything, as Portcullis and Evennia do); telnet commands and ANSI
//! escapes are stripped before matching text.

use super::text::{TextFilter, find, tail};
use anyhow::{Context, Result, anyhow, bail};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
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
}

/// A byte stream of any transport.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A TLS certificate verifier that accepts ANY certificate for any name.
///
/// **Dangerous, for benchmarks only**: it makes TLS useless against an active attacker. The
/// handshake signature is still checked (so the handshake costs what a real one costs); only
/// the certificate chain and name are not.
#[derive(Debug)]
pub struct DangerousAcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for DangerousAcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS client configuration that accepts any certificate (see
/// [`DangerousAcceptAnyCertificate`]); session resumption only when `resume`.
pub fn dangerous_tls_client_config(resume: bool) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(DangerousAcceptAnyCertificate(provider)))
        .with_no_client_auth();
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(config)
}

/// The WebSocket subprotocol that carries plain terminal text.
const TERMINAL_SUBPROTOCOL: &str = "terminal.mudstandards.org";

/// Opens a WebSocket at `/ws` with the terminal subprotocol over `stream`, and makes it a
/// byte stream: what the client writes goes out one text frame per batch of whole lines, and
/// text frames from the server come in as bytes. A task bridges the two and ends with either.
async fn websocket_io<S>(addr: SocketAddr, stream: S, timeout: Duration) -> Result<Box<dyn Io>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .context("WebSocket request")?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static(TERMINAL_SUBPROTOCOL),
    );
    let (ws, response) =
        tokio::time::timeout(timeout, tokio_tungstenite::client_async(request, stream))
            .await
            .map_err(|_| anyhow!("WebSocket handshake timed out"))?
            .context("WebSocket handshake")?;
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    if chosen != Some(TERMINAL_SUBPROTOCOL) {
        bail!("the server did not accept the {TERMINAL_SUBPROTOCOL} subprotocol");
    }
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let (mut sink, mut source) = ws.split();
        let (mut from_client, mut to_client) = tokio::io::split(theirs);
        let mut buf = vec![0u8; 16 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            tokio::select! {
                n = from_client.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        // Whole lines only: the server takes each frame as complete lines.
                        if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
                            let lines: Vec<u8> = pending.drain(..=end).collect();
                            let text = String::from_utf8_lossy(&lines).into_owned();
                            if sink.send(Message::text(text)).await.is_err() {
                                break;
                            }
                        }
                    }
                },
                m = source.next() => match m {
                    Some(Ok(Message::Text(t))) => {
                        if to_client.write_all(t.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        let _ = sink.close().await;
    });
    Ok(Box::new(ours))
}

/// An SSH client handler that accepts any host key (benchmarks only).
pub struct AcceptAnyHostKey;

impl russh::client::Handler for AcceptAnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

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

/// How sessions log in.
#[derive(Debug, Clone)]
pub struct LoginSpec {
    pub user_prefix: String,
    pub first_user: usize,
    pub password: String,
    pub login: String,
    pub create: String,
    pub logged_in_markers: Vec<String>,
    pub failed_markers: Vec<String>,
    pub ready_marker: String,
    pub say: String,
    pub expect: String,
    pub create_first: bool,
    pub ssh_register_user: String,
}

impl LoginSpec {
    pub fn user(&self, index: usize) -> String {
        format!("{}{}", self.user_prefix, self.first_user + index)
    }

    fn fill(&self, template: &str, index: usize) -> String {
        template
            .replace("{user}", &self.user(index))
            .replace("{password}", &self.password)
    }

    pub fn say_line(&self, token: &str) -> String {
        self.say.replace("{token}", token)
    }

    pub fn expect_text(&self, token: &str) -> String {
        self.expect.replace("{token}", token)
    }
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
            Protocol::Ws => websocket_io(self.addr, tcp, self.timeout).await?,
            Protocol::Wss => {
                let tls = tokio::time::timeout(
                    self.timeout,
                    self.tls.connect(self.server_name.clone(), tcp),
                )
                .await
                .map_err(|_| anyhow!("TLS handshake timed out"))?
                .context("TLS handshake")?;
                websocket_io(self.addr, tls, self.timeout).await?
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

    /// A connection at the connection screen (telnet/TLS: `--ready-marker`, else its first
    /// text) or an authenticated shell (SSH: password, else logged in through the
    /// registration user), for `hold`.
    pub async fn open_idle(&self, index: usize, spec: &LoginSpec, run: &str) -> Result<Conn> {
        let mut conn = match self.protocol {
            Protocol::Ssh => {
                let shell = self
                    .open_ssh_shell(index, &spec.user(index), Some(&spec.password))
                    .await?;
                match shell {
                    Some(conn) => conn,
                    None => return self.logged_in(index, spec, run).await,
                }
            }
            _ => self.open_stream(index).await?,
        };
        conn.first_text(&spec.ready_marker, self.timeout).await?;
        Ok(conn)
    }

    /// A logged-in session for user `index`, verified by a `say` round trip.
    pub async fn logged_in(&self, index: usize, spec: &LoginSpec, run: &str) -> Result<Conn> {
        let probe = |step: usize| format!("{run}p{index}s{step}e");
        if self.protocol == Protocol::Ssh {
            let user = spec.user(index);
            if let Some(mut conn) = self
                .open_ssh_shell(index, &user, Some(&spec.password))
                .await?
            {
                if conn.probe(spec, &probe(0), self.timeout).await? {
                    return Ok(conn);
                }
                bail!(
                    "{user}: SSH shell open but `say` is not echoed; last text: {:?}",
                    conn.tail()
                );
            }
            if spec.ssh_register_user.is_empty() {
                bail!("{user}: SSH password authentication refused (no --ssh-register-user)");
            }
            let mut conn = self
                .open_ssh_shell(index, &spec.ssh_register_user, None)
                .await?
                .ok_or_else(|| {
                    anyhow!(
                        "{user}: SSH password authentication refused, and registration user {:?} too",
                        spec.ssh_register_user
                    )
                })?;
            conn.settle(&spec.ready_marker, self.timeout).await?;
            return self.screen_login(conn, index, spec, &probe).await;
        }
        let mut conn = self.open_stream(index).await?;
        conn.settle(&spec.ready_marker, self.timeout).await?;
        self.screen_login(conn, index, spec, &probe).await
    }

    /// Logs in at a connection screen: login, else create, else login again (or create
    /// first), each step checked by a `say` probe.
    async fn screen_login(
        &self,
        mut conn: Conn,
        index: usize,
        spec: &LoginSpec,
        probe: &(dyn Fn(usize) -> String + Sync),
    ) -> Result<Conn> {
        let steps: [&str; 3] = if spec.create_first {
            [&spec.create, &spec.login, &spec.create]
        } else {
            [&spec.login, &spec.create, &spec.login]
        };
        let mut markers: Vec<&[u8]> = spec
            .logged_in_markers
            .iter()
            .map(|m| m.as_bytes())
            .collect();
        let logged_in = markers.len();
        markers.extend(spec.failed_markers.iter().map(|m| m.as_bytes()));
        let mut said = Vec::new();
        for (step, template) in steps.iter().enumerate() {
            if template.is_empty() {
                continue;
            }
            conn.reader.text.clear();
            let line = spec.fill(template, index);
            conn.send_line(&line).await?;
            said.push(template.split_whitespace().next().unwrap_or(""));
            let found = conn
                .expect_any(&markers, Instant::now() + self.timeout)
                .await?;
            if matches!(found, Some(i) if i >= logged_in) {
                continue; // refused; next step
            }
            // A logged-in marker, or nothing recognised in time: see whether `say` works.
            if conn.probe(spec, &probe(step), self.timeout).await? {
                return Ok(conn);
            }
        }
        bail!(
            "{}: could not log in (tried {}); last text: {:?}",
            spec.user(index),
            said.join(", "),
            conn.tail()
        )
    }
}

/// A text connection.
pub struct Conn {
    io: Box<dyn Io>,
    reader: TextReader,
    ssh: Option<SshHandle>,
}

/// The reading side's state: the filter and the text not yet consumed.
pub struct TextReader {
    filter: TextFilter,
    /// Text received and not yet consumed by a match.
    pub text: Vec<u8>,
    buf: Vec<u8>,
    /// Whether the peer closed the connection.
    pub closed: bool,
}

/// Text kept while waiting for a match, at most (older text is dropped).
const MAX_TEXT: usize = 1 << 20;

impl TextReader {
    fn new() -> Self {
        TextReader {
            filter: TextFilter::default(),
            text: Vec::new(),
            buf: vec![0; 16384],
            closed: false,
        }
    }

    /// Reads once (until `deadline`): `Ok(true)` when something arrived, `Ok(false)` on
    /// timeout; an error once the connection is closed.
    pub async fn read_some<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut R,
        deadline: Instant,
    ) -> Result<bool> {
        if self.closed {
            bail!("connection closed");
        }
        match timeout_at(deadline, io.read(&mut self.buf)).await {
            Err(_) => Ok(false),
            Ok(Ok(0)) => {
                self.closed = true;
                bail!("connection closed by the server")
            }
            Ok(Ok(n)) => {
                self.filter.feed(&self.buf[..n], &mut self.text);
                Ok(true)
            }
            Ok(Err(e)) => {
                self.closed = true;
                Err(e).context("read")
            }
        }
    }

    /// Waits for the first of `needles` (earliest in the text); consumes the text through it
    /// and returns its index, or `None` at the deadline.
    pub async fn expect_any<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut R,
        needles: &[&[u8]],
        deadline: Instant,
    ) -> Result<Option<usize>> {
        loop {
            let hit = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| find(&self.text, n, 0).map(|p| (p, i, n.len())))
                .min();
            if let Some((pos, i, len)) = hit {
                self.text.drain(..pos + len);
                return Ok(Some(i));
            }
            if self.text.len() > MAX_TEXT {
                let cut = self.text.len() - MAX_TEXT / 2;
                self.text.drain(..cut);
            }
            if !self.read_some(io, deadline).await? {
                return Ok(None);
            }
        }
    }
}

impl Conn {
    fn new(io: Box<dyn Io>, ssh: Option<SshHandle>) -> Self {
        Conn {
            io,
            reader: TextReader::new(),
            ssh,
        }
    }

    /// Sends `line` and CR LF.
    pub async fn send_line(&mut self, line: &str) -> Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        write_all(&mut self.io, &bytes).await
    }

    pub async fn expect_any(
        &mut self,
        needles: &[&[u8]],
        deadline: Instant,
    ) -> Result<Option<usize>> {
        self.reader
            .expect_any(&mut self.io, needles, deadline)
            .await
    }

    /// Waits for `needle`; false at the deadline.
    pub async fn expect(&mut self, needle: &str, deadline: Instant) -> Result<bool> {
        Ok(self
            .expect_any(&[needle.as_bytes()], deadline)
            .await?
            .is_some())
    }

    /// Sends the say line for `token` and waits (up to `wait`) for its expected text.
    pub async fn probe(&mut self, spec: &LoginSpec, token: &str, wait: Duration) -> Result<bool> {
        self.send_line(&spec.say_line(token)).await?;
        self.expect(&spec.expect_text(token), Instant::now() + wait)
            .await
    }

    /// Waits for the screen: `ready` when given, else the first text and then 250 ms of
    /// quiet (at most 2 s more); proceeds after 1 s if nothing comes at all. The text read
    /// is consumed.
    pub async fn settle(&mut self, ready: &str, wait: Duration) -> Result<()> {
        let start = Instant::now();
        if !ready.is_empty() {
            if !self.expect(ready, start + wait).await? {
                bail!(
                    "no {ready:?} (the --ready-marker) within {} s; got {:?}",
                    wait.as_secs(),
                    self.tail()
                );
            }
            self.reader.text.clear();
            return Ok(());
        }
        let first = start + Duration::from_secs(1).min(wait);
        while self.reader.text.is_empty() {
            if !self.reader.read_some(&mut self.io, first).await? {
                return Ok(());
            }
        }
        let last = Instant::now() + Duration::from_secs(2);
        loop {
            let quiet = (Instant::now() + Duration::from_millis(250)).min(last);
            if !self.reader.read_some(&mut self.io, quiet).await? || Instant::now() >= last {
                break;
            }
        }
        self.reader.text.clear();
        Ok(())
    }

    /// Waits for `ready` when given (an error if it does not come), else for the first text
    /// (going on without it at the deadline). The text read is consumed.
    pub async fn first_text(&mut self, ready: &str, wait: Duration) -> Result<()> {
        let deadline = Instant::now() + wait;
        if !ready.is_empty() {
            if !self.expect(ready, deadline).await? {
                bail!(
                    "no {ready:?} (the --ready-marker) within {} s; got {:?}",
                    wait.as_secs(),
                    self.tail()
                );
            }
        } else {
            while self.reader.text.is_empty()
                && self.reader.read_some(&mut self.io, deadline).await?
            {}
        }
        self.reader.text.clear();
        Ok(())
    }

    /// The last text received, for error messages.
    pub fn tail(&self) -> String {
        tail(&self.reader.text, 160)
    }

    pub fn text_mut(&mut self) -> &mut Vec<u8> {
        &mut self.reader.text
    }

    /// Splits into a reader and a writer (the SSH connection stays with the reader).
    pub fn split(self) -> (ConnReader, WriteHalf<Box<dyn Io>>) {
        let (r, w) = tokio::io::split(self.io);
        (
            ConnReader {
                io: r,
                reader: self.reader,
                _ssh: self.ssh,
            },
            w,
        )
    }

    /// Reads and discards everything until the connection closes (or `until`); returns
    /// whether it was still open at `until`.
    pub async fn drain_until(&mut self, until: Instant) -> bool {
        loop {
            match self.reader.read_some(&mut self.io, until).await {
                Ok(true) => self.reader.text.clear(),
                Ok(false) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Closes politely (bounded).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
        if let Some(h) = self.ssh.take() {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                h.disconnect(russh::Disconnect::ByApplication, "", "en"),
            )
            .await;
        }
    }
}

/// The reading half of a split [`Conn`].
pub struct ConnReader {
    pub io: ReadHalf<Box<dyn Io>>,
    pub reader: TextReader,
    _ssh: Option<SshHandle>,
}

/// Writes and flushes (TLS needs the flush), bounded by 10 s.
pub async fn write_all<W: AsyncWrite + Unpin + ?Sized>(w: &mut W, bytes: &[u8]) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(10), async {
        w.write_all(bytes).await?;
        w.flush().await
    })
    .await
    .map_err(|_| anyhow!("write timed out (the server is not reading)"))?
    .context("write")
}
