//! Just enough HTTP/1.1 for the web client: request heads parsed by `httparse` with a size
//! bound, bodies only with `Content-Length` (bounded too), keep-alive and pipelining, and
//! responses that always carry the security headers.
//!
//! There is no chunked request body (a browser's `fetch` with a string body sends a length),
//! no `Expect: 100-continue`, no ranges and no compression: the page is three small files.

use std::fmt::Write as _;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 48;

/// A parsed request.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// What followed `?`, if anything.
    pub query: Option<String>,
    /// HTTP/1.0 is 0, HTTP/1.1 is 1.
    pub version: u8,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body (empty without `Content-Length`).
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a header (name in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header holds `token` in its comma-separated list (case-insensitive).
    pub fn header_has(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// Whether the client keeps the connection open after this request.
    pub fn keep_alive(&self) -> bool {
        if self.header_has("connection", "close") {
            return false;
        }
        self.version >= 1 || self.header_has("connection", "keep-alive")
    }

    /// A query parameter's value (no percent-decoding: the values used here are URL-safe).
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(v)
        })
    }
}

/// Why no request could be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The client closed the connection between requests.
    #[error("connection closed")]
    Closed,
    /// The connection failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// Not HTTP, or HTTP we do not take; answered with this status.
    #[error("{status}: {reason}")]
    Refused {
        /// HTTP status to answer with.
        status: u16,
        /// Why, for the client and the log.
        reason: String,
    },
}

fn refused(status: u16, reason: impl Into<String>) -> HttpError {
    HttpError::Refused {
        status,
        reason: reason.into(),
    }
}

/// Reads one request from `reader`. `buf` holds bytes read past the previous request
/// (pipelining) and keeps those read past this one.
pub async fn read_request<R>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max_body: usize,
) -> Result<Request, HttpError>
where
    R: AsyncRead + Unpin,
{
    // Read straight into `buf` (no buffer on the stack: the connection's task keeps its
    // future for as long as it lives).
    let (head_len, mut request) = loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(buf) {
                Ok(httparse::Status::Complete(n)) => break (n, to_request(&req)?),
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(refused(431, "too many headers"));
                }
                Err(e) => return Err(refused(400, format!("bad request: {e}"))),
            }
        }
        if buf.len() >= MAX_HEAD {
            return Err(refused(431, "request head too large"));
        }
        buf.reserve(2048);
        let n = reader.read_buf(buf).await?;
        if n == 0 {
            return Err(if buf.is_empty() {
                HttpError::Closed
            } else {
                HttpError::Io(std::io::ErrorKind::UnexpectedEof.into())
            });
        }
    };
    buf.drain(..head_len);

    if request.header("transfer-encoding").is_some() {
        return Err(refused(411, "send the body with a Content-Length"));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| refused(400, "bad Content-Length"))?,
    };
    if length > max_body {
        return Err(refused(
            413,
            format!("body of {length} bytes is over the limit of {max_body}"),
        ));
    }
    while buf.len() < length {
        buf.reserve((length - buf.len()).min(16 * 1024));
        let n = reader.read_buf(buf).await?;
        if n == 0 {
            return Err(HttpError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    request.body = buf.drain(..length).collect();
    Ok(request)
}

fn to_request(req: &httparse::Request<'_, '_>) -> Result<Request, HttpError> {
    let method = req.method.unwrap_or_default().to_string();
    let target = req.path.unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| refused(400, format!("header {} is not UTF-8", h.name)))?;
        headers.push((h.name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method,
        path,
        query,
        version: req.version.unwrap_or(1),
        headers,
        body: Vec::new(),
    })
}

/// A response to write.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers besides the ones every response gets.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a body of this content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: body.into(),
        }
    }

    /// JSON.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response::new(status, "application/json", value.to_string())
    }

    /// An error as JSON: `{"error": "…"}`.
    pub fn error(status: u16, reason: &str) -> Self {
        Response::json(status, &serde_json::json!({ "error": reason }))
    }

    /// No content.
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The bytes on the wire; `head_only` for HEAD requests.
    pub fn encode(&self, keep_alive: bool, head_only: bool) -> Vec<u8> {
        let mut head = String::with_capacity(256);
        let _ = write!(head, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n");
        if !self.headers.iter().any(|(n, _)| *n == "Cache-Control") {
            head.push_str("Cache-Control: no-store\r\n");
        }
        let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        head.push_str(if keep_alive {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The reason phrase of the statuses used here.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], max_body: usize) -> (Vec<Result<Request, HttpError>>, Vec<u8>) {
        let mut reader = input;
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let r = read_request(&mut reader, &mut buf, max_body).await;
            let stop = r.is_err();
            out.push(r);
            if stop {
                return (out, buf);
            }
        }
    }

    #[tokio::test]
    async fn pipelined_requests_with_bodies_are_split() {
        let input = b"POST /ajax/input?x=1&token=abc HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
        let (reqs, _) = read_all(input, 1024).await;
        let a = reqs[0].as_ref().unwrap();
        assert_eq!(a.method, "POST");
        assert_eq!(a.path, "/ajax/input");
        assert_eq!(a.query_param("token"), Some("abc"));
        assert_eq!(a.query_param("y"), None);
        assert_eq!(a.body, b"hello");
        assert!(a.keep_alive());
        let b = reqs[1].as_ref().unwrap();
        assert_eq!((b.method.as_str(), b.path.as_str()), ("GET", "/"));
        assert!(!b.keep_alive());
        assert!(matches!(reqs[2], Err(HttpError::Closed)));
    }

    #[tokio::test]
    async fn oversized_and_malformed_requests_are_refused_with_a_status() {
        let status = |r: &Result<Request, HttpError>| match r {
            Err(HttpError::Refused { status, .. }) => *status,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let (r, _) = read_all(
            b"POST /ajax/input HTTP/1.1\r\nContent-Length: 99999\r\n\r\n",
            1024,
        )
        .await;
        assert_eq!(status(&r[0]), 413);
        let (r, _) = read_all(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            1024,
        )
        .await;
        assert_eq!(status(&r[0]), 411);
        let (r, _) = read_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 1024).await;
        assert_eq!(status(&r[0]), 400);
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let (r, _) = read_all(huge.as_bytes(), 1024).await;
        assert_eq!(status(&r[0]), 431);
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        let (r, _) = read_all(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes(), 1024).await;
        assert_eq!(status(&r[0]), 431);
        let (r, _) = read_all(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 1024).await;
        assert_eq!(status(&r[0]), 400);
    }

    #[tokio::test]
    async fn a_truncated_request_is_an_error_not_a_request() {
        let (r, _) = read_all(b"GET / HTTP/1.1\r\nHost:", 1024).await;
        assert!(matches!(r[0], Err(HttpError::Io(_))));
        let (r, _) = read_all(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 1024).await;
        assert!(matches!(r[0], Err(HttpError::Io(_))));
    }

    #[test]
    fn responses_carry_length_and_security_headers() {
        let r = Response::error(404, "no such page");
        let text = String::from_utf8(r.encode(true, false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Content-Type: application/json\r\n"));
        assert!(text.contains("X-Content-Type-Options: nosniff\r\n"));
        assert!(text.contains("Content-Length: 24\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"error\":\"no such page\"}"));
        let head = String::from_utf8(r.encode(false, true)).unwrap();
        assert!(head.ends_with("Connection: close\r\n\r\n"));
    }
}
