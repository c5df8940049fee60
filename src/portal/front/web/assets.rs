//! The web client's files, built into the binary (`webclient/` in the source tree), so
//! `cargo build` alone makes a portal that serves a working page and nothing is fetched
//! from elsewhere at run time.

use super::http::Response;

/// One file of the page.
#[derive(Debug)]
pub struct Asset {
    content_type: &'static str,
    body: &'static str,
    /// The HTML page itself (which gets the page-only headers).
    page: bool,
}

const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_str!("../../../../webclient/index.html"),
    page: true,
};

const ASSETS: [(&str, Asset); 3] = [
    (
        "/client.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_str!("../../../../webclient/client.js"),
            page: false,
        },
    ),
    (
        "/ansi.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_str!("../../../../webclient/ansi.js"),
            page: false,
        },
    ),
    (
        "/style.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: include_str!("../../../../webclient/style.css"),
            page: false,
        },
    ),
];

/// The file served at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    if path == "/" || path == "/index.html" {
        return Some(&INDEX);
    }
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, a)| a)
}

/// What the page may load and connect to: only its own origin (and its WebSocket).
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; \
img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

impl Asset {
    /// The response for a GET of this file.
    pub fn response(&self, secure: bool) -> Response {
        let mut r = Response::new(200, self.content_type, self.body.as_bytes())
            .with("Cache-Control", "no-cache");
        if self.page {
            r = r
                .with("Content-Security-Policy", CSP)
                .with("X-Frame-Options", "DENY");
        }
        if secure {
            r = r.with("Cross-Origin-Opener-Policy", "same-origin");
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_files_are_found_and_nothing_else() {
        let page = find("/").unwrap();
        assert!(page.body.contains("client.js"));
        for p in ["/client.js", "/ansi.js", "/style.css", "/index.html"] {
            assert!(find(p).is_some(), "{p}");
        }
        for p in ["/../Cargo.toml", "/webclient/client.js", "/favicon.ico", ""] {
            assert!(find(p).is_none(), "{p}");
        }
        let text = String::from_utf8(page.response(true).encode(true, false)).unwrap();
        assert!(text.contains("Content-Security-Policy: default-src 'self'"));
        assert!(text.contains("X-Frame-Options: DENY\r\n"));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for (_, a) in ASSETS.iter().chain([("/", INDEX)].iter()) {
            for needle in ["http://", "https://", "//cdn", "eval("] {
                assert!(
                    !a.body.contains(needle),
                    "an asset mentions {needle}; the page must work offline"
                );
            }
        }
    }
}
