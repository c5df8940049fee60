//! Web front-end test helpers: configs with the web listener on, a tiny blocking HTTP/1.1
//! client, a long-poll (AJAX) client and a WebSocket client (`tungstenite`), all against the
//! real `portcullis` binary.
//!
//! As elsewhere in the harness, waits are bounded by [`WAIT`] and end as soon as their condition
//! holds; nothing sleeps a fixed time.

use super::{Log, Portcullis, WAIT, plain, take_match, test_config, tls_test_config};
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Response;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message as Frame, WebSocket};

/// Lines for `[accounts]` unless a test brings its own: web tests create several accounts
/// from 127.0.0.1, more than the default creation throttle allows.
const ACCOUNTS: &str = "[accounts]\ncreations = 1000\n";

fn with_accounts(extra: &str) -> String {
    if extra.contains("[accounts]") {
        extra.to_string()
    } else {
        format!("{extra}\n{ACCOUNTS}")
    }
}

fn keys(web_keys: &str) -> String {
    let mut k = web_keys.to_string();
    if !k.is_empty() && !k.ends_with('\n') {
        k.push('\n');
    }
    k
}

/// `test_config(extra)` with the web listener on 127.0.0.1:0 over plain HTTP; `web_keys`
/// (lines such as `reconnect_grace_secs = 2`) go into its `[web]` section. Account creation
/// is unthrottled unless `extra` has its own `[accounts]`.
pub fn web_test_config(extra: &str, web_keys: &str) -> String {
    let config = test_config(&with_accounts(extra));
    assert!(config.ends_with("[web]\nenabled = false\n"), "{config}");
    config.replace(
        "[web]\nenabled = false\n",
        &format!(
            "[web]\nbind = \"127.0.0.1:0\"\ntls = false\n{}",
            keys(web_keys)
        ),
    )
}

/// Like [`web_test_config`] but HTTPS, with the `[tls]` section on as in `tls_test_config`
/// (telnet over TLS and SSH on loopback too).
pub fn web_tls_test_config(extra: &str, web_keys: &str) -> String {
    let config = tls_test_config("", &with_accounts(extra));
    assert!(config.ends_with("[web]\nenabled = false\n"), "{config}");
    config.replace(
        "[web]\nenabled = false\n",
        &format!(
            "[web]\nbind = \"127.0.0.1:0\"\ntls = true\n{}",
            keys(web_keys)
        ),
    )
}

impl Portcullis {
    /// Starts with [`web_test_config`]`(extra, web_keys)` and waits for the web listener.
    pub fn start_web(extra: &str, web_keys: &str) -> Self {
        let p = Self::start_with(&web_test_config(extra, web_keys));
        p.web_port();
        p
    }

    /// Starts with [`web_tls_test_config`]`(extra, web_keys)` and waits for the web listener.
    pub fn start_web_tls(extra: &str, web_keys: &str) -> Self {
        let p = Self::start_with(&web_tls_test_config(extra, web_keys));
        p.web_port();
        p
    }

    /// The web listener's `listening protocol="web" …` log line.
    pub fn web_listening_line(&self) -> String {
        self.log.wait_for("listening protocol=\"web\"")
    }

    /// The web port, from the portal's `listening protocol="web" tls=… addr=127.0.0.1:PORT`.
    pub fn web_port(&self) -> u16 {
        let line = self.web_listening_line();
        line.split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .unwrap_or(&line)
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no web port in {line:?}"))
    }

    /// The page's own origin for plain HTTP: `http://127.0.0.1:PORT`.
    pub fn web_origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.web_port())
    }

    /// A WebSocket client (JSON protocol) that created the account `name` (password
    /// `secret-pass-1`) at the connection screen and is logged in (has seen the room).
    pub fn web_player(&self, name: &str) -> WebClient {
        let mut c = WebClient::connect(self.web_port(), "/ws", &[])
            .unwrap_or_else(|e| panic!("websocket handshake failed: {}", describe_ws_error(&e)));
        c.session();
        c.expect("> ");
        c.line(&format!("create {name} secret-pass-1"));
        c.expect(&format!("Welcome, {name}."));
        c.expect("Present:");
        c
    }

    /// A long-poll client that opened a session and created the account `name` (password
    /// `secret-pass-1`) and is logged in.
    pub fn ajax_player(&self, name: &str) -> AjaxClient {
        let mut a = AjaxClient::open(self.web_port());
        a.expect("> ");
        a.lines(&[&format!("create {name} secret-pass-1")]);
        a.expect(&format!("Welcome, {name}."));
        a.expect("Present:");
        a
    }
}

/// Waits (polling the log, bounded by [`WAIT`]) for a line after the first `skip` lines that
/// satisfies `pred`; returns it.
pub fn wait_log(log: &Log, skip: usize, what: &str, pred: impl Fn(&str) -> bool) -> String {
    wait_log_n(log, skip, 1, what, pred)
}

/// Waits (polling the log, bounded by [`WAIT`]) for `n` lines after the first `skip` lines
/// that satisfy `pred`; returns the `n`th.
pub fn wait_log_n(
    log: &Log,
    skip: usize,
    n: usize,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let lines = log.lines();
        if let Some(l) = lines.iter().skip(skip).filter(|l| pred(l)).nth(n - 1) {
            return l.clone();
        }
        assert!(
            Instant::now() < deadline,
            "log never had {n} line(s) with {what}; new lines were:\n{}",
            lines
                .iter()
                .skip(skip)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// Sockets.

/// A blocking TCP connection to 127.0.0.1:`port` from the source address `from` (any
/// loopback address, e.g. 127.0.0.2), or from the default when `None`.
pub fn connect_from(from: Option<IpAddr>, port: u16) -> TcpStream {
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let Some(from) = from else {
        return TcpStream::connect(to).unwrap();
    };
    // std cannot bind a client socket before connecting; tokio's TcpSocket can.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let s = match from {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .unwrap();
        s.bind(SocketAddr::new(from, 0)).unwrap();
        let s = tokio::time::timeout(WAIT, s.connect(to))
            .await
            .unwrap_or_else(|_| panic!("connecting from {from} timed out"))
            .unwrap_or_else(|e| panic!("cannot connect from {from}: {e}"));
        s.into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
}

// HTTP.

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (describing the response) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {self:?}"))
    }

    /// Asserts the status and that the body is a JSON `{"error": "<non-empty reason>"}`;
    /// returns the reason.
    pub fn assert_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.describe());
        let ct = self.header("content-type").unwrap_or("");
        assert!(
            ct.contains("application/json"),
            "error content type {ct:?}: {}",
            self.describe()
        );
        let reason = self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error reason: {}", self.describe()))
            .to_string();
        assert!(!reason.trim().is_empty(), "{}", self.describe());
        reason
    }

    pub fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!(
            "HTTP {}\n{}\n\n{}",
            self.status,
            headers.join("\n"),
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// The first header called `name` (case-insensitive) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One blocking HTTP/1.1 request to 127.0.0.1:`port` with `Connection: close`: returns
/// (status, headers, body). Bounded by [`WAIT`].
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let r = request(None, port, method, path, headers, body);
    (r.status, r.headers, r.body)
}

/// [`http`] from the source address `from`, as an [`HttpResponse`].
pub fn request(
    from: Option<IpAddr>,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = connect_from(from, port);
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    // The server may answer (413, 403) and close before reading everything; the answer is
    // what matters, so a failed write is not an error here.
    let _ = s.write_all(&bytes);
    read_response(&mut s).unwrap_or_else(|e| panic!("{method} {path}: no HTTP response: {e}"))
}

/// Reads one HTTP response (to the end of its body, or to EOF), bounded by [`WAIT`].
pub fn read_response(s: &mut TcpStream) -> Result<HttpResponse, String> {
    let deadline = Instant::now() + WAIT;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut eof = false;
    loop {
        if let Some(r) = parse_response(&buf, eof)? {
            return Ok(r);
        }
        if eof {
            return Err(format!(
                "connection closed mid-response after {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out; got {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        match s.read(&mut chunk) {
            Ok(0) => eof = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted) => {}
            Err(e) if buf.is_empty() => return Err(format!("read failed: {e}")),
            Err(_) => eof = true,
        }
    }
}

/// A complete response in `buf`, if there is one yet (`eof`: nothing more will come).
fn parse_response(buf: &[u8], eof: bool) -> Result<Option<HttpResponse>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP response: {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &buf[end + 4..];
    let response = |body: Vec<u8>| HttpResponse {
        status,
        headers: headers.clone(),
        body,
    };
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some(response(Vec::new())));
    }
    if header(&headers, "transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        return Ok(dechunk(rest).map(response));
    }
    if let Some(len) = header(&headers, "content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        return Ok((rest.len() >= len).then(|| response(rest[..len].to_vec())));
    }
    Ok(eof.then(|| response(rest.to_vec())))
}

/// The body of a complete chunked encoding, or None if more is needed.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&b[..nl]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

// Long-poll.

/// A long-poll session: its token and every message polls returned.
pub struct AjaxClient {
    pub port: u16,
    pub token: String,
    /// The source address of every request (None: the default, 127.0.0.1).
    pub from: Option<IpAddr>,
    /// The `/ajax/open` answer.
    pub opened: Value,
    /// Every message received, in order.
    pub received: Vec<Value>,
    /// Index into `plain_text(received)` up to which `expect` has consumed text.
    seen: usize,
}

impl AjaxClient {
    /// `POST /ajax/open` with an empty body; asserts 200 and a well-formed answer.
    pub fn open(port: u16) -> Self {
        let r = request(None, port, "POST", "/ajax/open", &[], b"");
        assert_eq!(r.status, 200, "/ajax/open: {}", r.describe());
        let opened = r.json();
        let token = opened["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {}", r.describe()))
            .to_string();
        AjaxClient {
            port,
            token,
            from: None,
            opened,
            received: Vec::new(),
            seen: 0,
        }
    }

    /// `POST path` with this session's token header.
    pub fn post(&self, path: &str, body: &[u8]) -> HttpResponse {
        request(
            self.from,
            self.port,
            "POST",
            path,
            &[
                ("X-Portcullis-Token", &self.token),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    }

    /// `POST path` with this session's token header and `extra` headers.
    pub fn post_with(&self, path: &str, body: &[u8], extra: &[(&str, &str)]) -> HttpResponse {
        let mut headers = vec![
            ("X-Portcullis-Token", self.token.as_str()),
            ("Content-Type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        request(self.from, self.port, "POST", path, &headers, body)
    }

    /// `POST /ajax/input` with `messages` (a JSON array); returns the response.
    pub fn input(&self, messages: &Value) -> HttpResponse {
        self.post("/ajax/input", messages.to_string().as_bytes())
    }

    /// Sends lines the player typed, as one `text` message each; asserts 204.
    pub fn lines(&self, lines: &[&str]) {
        let msgs: Vec<Value> = lines.iter().map(|l| json!(["text", [l], {}])).collect();
        let r = self.input(&Value::Array(msgs));
        assert_eq!(r.status, 204, "/ajax/input: {}", r.describe());
    }

    /// One `POST /ajax/poll`: the raw response.
    pub fn poll_raw(&self) -> HttpResponse {
        self.post("/ajax/poll", b"")
    }

    /// One poll; asserts 200 and a JSON array; records and returns the messages.
    pub fn poll(&mut self) -> Vec<Value> {
        let r = self.poll_raw();
        assert_eq!(r.status, 200, "/ajax/poll: {}", r.describe());
        let Value::Array(msgs) = r.json() else {
            panic!("poll answer is not a JSON array: {}", r.describe())
        };
        self.received.extend(msgs.iter().cloned());
        msgs
    }

    /// The text of every `text` and `prompt` message so far, without colour.
    pub fn text(&self) -> String {
        plain_text(&self.received)
    }

    /// Polls until `needle` is in the text after what earlier expects consumed; returns the
    /// text up to and including it.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if let Some(found) = take_match(&text, &mut self.seen, needle) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "never got {needle:?} by long-poll; after the last match the text was:\n{}",
                &text[self.seen.min(text.len())..]
            );
            self.poll();
        }
    }
}

// WebSocket.

/// Why a WebSocket handshake or read failed, for messages.
pub fn describe_ws_error(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(r) => format!(
            "HTTP {} {}",
            r.status(),
            r.body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// The HTTP status of a refused WebSocket handshake, or None if it did not fail that way.
pub fn refused_status(r: &Result<WebClient, tungstenite::Error>) -> Option<u16> {
    match r {
        Err(tungstenite::Error::Http(resp)) => Some(resp.status().as_u16()),
        _ => None,
    }
}

/// How a WebSocket connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// The server sent a close frame (with this code and reason, if any).
    Closed(Option<(u16, String)>),
    /// The TCP connection ended without a close frame.
    Dropped(String),
}

/// A WebSocket client: JSON messages (or, with the terminal subprotocol, raw text frames)
/// and everything received.
pub struct WebClient {
    pub ws: WebSocket<TcpStream>,
    /// The server's handshake response.
    pub response: Response,
    /// The subprotocol the server chose.
    pub subprotocol: Option<String>,
    /// Every JSON message received, in order (JSON protocol).
    pub received: Vec<Value>,
    /// Every text frame received, as it came.
    pub frames: Vec<String>,
    /// Set once the connection ended.
    pub ended: Option<Ended>,
    /// Index into `received` up to which `wait_msg` has consumed messages.
    next_msg: usize,
    /// Index into `text()` up to which `expect` has consumed text.
    seen: usize,
}

impl WebClient {
    /// Connects to ws://127.0.0.1:`port``path` with extra request `headers` (Origin,
    /// Sec-WebSocket-Protocol…). The handshake error (e.g. `Error::Http` with a 403) is
    /// returned, not a panic.
    pub fn connect(
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<WebClient, tungstenite::Error> {
        Self::connect_from(None, port, path, headers)
    }

    /// [`WebClient::connect`] from the source address `from`.
    pub fn connect_from(
        from: Option<IpAddr>,
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<WebClient, tungstenite::Error> {
        let stream = connect_from(from, port);
        // The handshake is bounded too.
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut req = format!("ws://127.0.0.1:{port}{path}").into_client_request()?;
        for (k, v) in headers {
            req.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                tungstenite::http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let (ws, response) = match tungstenite::client(req, stream) {
            Ok(ok) => ok,
            Err(tungstenite::HandshakeError::Failure(e)) => return Err(e),
            Err(tungstenite::HandshakeError::Interrupted(_)) => {
                return Err(tungstenite::Error::Io(std::io::Error::new(
                    ErrorKind::TimedOut,
                    "websocket handshake timed out",
                )));
            }
        };
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let subprotocol = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(WebClient {
            ws,
            response,
            subprotocol,
            received: Vec::new(),
            frames: Vec::new(),
            ended: None,
            next_msg: 0,
            seen: 0,
        })
    }

    fn json_mode(&self) -> bool {
        !matches!(self.subprotocol.as_deref(), Some(p) if p != "portcullis.json")
    }

    /// Sends one JSON message `[name, args, kwargs]`.
    pub fn send(&mut self, name: &str, args: Value, kwargs: Value) {
        self.send_text(&json!([name, args, kwargs]).to_string());
    }

    /// Sends one line the player typed (`["text", [line], {}]`).
    pub fn line(&mut self, line: &str) {
        self.send("text", json!([line]), json!({}));
    }

    /// Sends one text frame as it is.
    pub fn send_text(&mut self, text: &str) {
        self.ws
            .send(Frame::text(text.to_string()))
            .unwrap_or_else(|e| panic!("websocket send failed: {}", describe_ws_error(&e)));
    }

    /// Sends a frame, ignoring errors (the server may already be closing the connection,
    /// which is what some tests provoke).
    pub fn send_unchecked(&mut self, frame: Frame) {
        let _ = self.ws.send(frame);
    }

    /// Reads what is available (for up to ~50 ms); false once the connection has ended.
    pub fn pump(&mut self) -> bool {
        if self.ended.is_some() {
            return false;
        }
        match self.ws.read() {
            Ok(Frame::Text(t)) => {
                let t = t.as_str().to_string();
                if self.json_mode() {
                    let v: Value = serde_json::from_str(&t).unwrap_or_else(|e| {
                        panic!("the server sent a frame that is not JSON ({e}): {t:?}")
                    });
                    assert!(
                        v.as_array().is_some_and(|a| a.len() == 3
                            && a[0].is_string()
                            && a[1].is_array()
                            && a[2].is_object()),
                        "the server sent a message not shaped [name, [args], {{kwargs}}]: {t}"
                    );
                    self.received.push(v);
                }
                self.frames.push(t);
                true
            }
            Ok(Frame::Binary(b)) => {
                panic!("the server sent a binary frame: {b:?}")
            }
            Ok(Frame::Close(frame)) => {
                let _ = self.ws.flush();
                self.ended =
                    Some(Ended::Closed(frame.map(|f: CloseFrame| {
                        (u16::from(f.code), f.reason.as_str().to_string())
                    })));
                false
            }
            Ok(_) => true,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                true
            }
            Err(e) => {
                self.ended = Some(Ended::Dropped(describe_ws_error(&e)));
                false
            }
        }
    }

    /// Waits for the next message (after those earlier waits consumed) that satisfies `pred`;
    /// returns it.
    pub fn wait_msg(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.received[self.next_msg..].iter().position(&pred) {
                let i = self.next_msg + i;
                self.next_msg = i + 1;
                return self.received[i].clone();
            }
            let open = self.pump();
            if !open || Instant::now() > deadline {
                // One last look: it may have come with the close.
                if let Some(i) = self.received[self.next_msg..].iter().position(&pred) {
                    let i = self.next_msg + i;
                    self.next_msg = i + 1;
                    return self.received[i].clone();
                }
                panic!(
                    "never got {what} ({}); messages after the last match:\n{}",
                    match &self.ended {
                        Some(e) => format!("connection ended: {e:?}"),
                        None => "timed out".into(),
                    },
                    self.received[self.next_msg..]
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
    }

    /// Waits for the next message called `name`.
    pub fn wait_named(&mut self, name: &str) -> Value {
        self.wait_msg(&format!("a {name:?} message"), |m| m[0] == name)
    }

    /// Waits for the first message (which must be `session`); returns its kwargs.
    pub fn session(&mut self) -> Value {
        let deadline = Instant::now() + WAIT;
        while self.received.is_empty() {
            assert!(
                self.pump() && Instant::now() < deadline,
                "no first message ({:?})",
                self.ended
            );
        }
        let first = self.received[0].clone();
        assert_eq!(
            first[0], "session",
            "the first message is not session: {first}"
        );
        self.next_msg = self.next_msg.max(1);
        first[2].clone()
    }

    /// What the player sees: every `text` block followed by a line break, every `prompt`
    /// without one, without ANSI escapes (JSON protocol); or the terminal frames, without
    /// ANSI escapes and with `\r\n` as `\n` (terminal subprotocol).
    pub fn text(&self) -> String {
        if self.json_mode() {
            plain_text(&self.received)
        } else {
            plain(self.frames.concat().as_bytes())
        }
    }

    /// Waits for `needle` in the text after what earlier expects consumed; returns the text
    /// up to and including it.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if let Some(found) = take_match(&text, &mut self.seen, needle) {
                return found;
            }
            let open = self.pump();
            if !open || Instant::now() > deadline {
                let text = self.text();
                if let Some(found) = take_match(&text, &mut self.seen, needle) {
                    return found;
                }
                panic!(
                    "never got {needle:?} ({}); after the last match the text was:\n{}",
                    match &self.ended {
                        Some(e) => format!("connection ended: {e:?}"),
                        None => "timed out".into(),
                    },
                    &text[self.seen.min(text.len())..]
                );
            }
        }
    }

    /// Waits until `needle` is anywhere in the text received (ignoring what `expect` consumed).
    pub fn wait_contains(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.text().contains(needle) {
            assert!(
                self.pump() && Instant::now() < deadline,
                "never got {needle:?} ({:?}); text was:\n{}",
                self.ended,
                self.text()
            );
        }
    }

    /// Waits until the connection ends; returns how.
    pub fn expect_closed(&mut self) -> Ended {
        let deadline = Instant::now() + WAIT;
        while self.pump() {
            assert!(Instant::now() < deadline, "the connection was not closed");
        }
        self.ended.clone().unwrap()
    }

    /// Drops the connection abruptly, as a closed laptop lid or a lost network would (the
    /// portal reads EOF at once).
    pub fn drop_connection(self) {
        let _ = self.ws.get_ref().shutdown(std::net::Shutdown::Both);
    }
}

/// What a player sees of `messages`: every `text` block followed by a line break, every
/// `prompt` without one, ANSI escapes removed.
pub fn plain_text(messages: &[Value]) -> String {
    let mut out = String::new();
    for m in messages {
        let name = m[0].as_str().unwrap_or("");
        let Some(args) = m[1].as_array() else {
            continue;
        };
        for a in args {
            let Some(s) = a.as_str() else { continue };
            match name {
                "text" => {
                    out.push_str(s);
                    out.push('\n');
                }
                "prompt" => out.push_str(s),
                _ => {}
            }
        }
    }
    plain(out.as_bytes())
}

/// A token as the spec makes them: 22 characters of URL-safe base64 (128 bits).
pub fn is_token(t: &str) -> bool {
    t.len() == 22
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
