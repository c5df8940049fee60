//! Fuzz the web front end's HTTP/1.1 request reader and its message parser with arbitrary
//! bytes, delivered in arbitrary pieces (as a slow or hostile client would send them).
//!
//! Input layout: byte 0 picks the body limit, byte 1 the piece size; the rest is the stream.
//!
//! Invariants:
//! - no panic, and every read ends (a request, a refusal with a 4xx status, or end of input);
//! - a body is never longer than the limit, and a refusal's status is a client error;
//! - what is read never exceeds what was sent;
//! - a JSON body parses into a message or a clear refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::portal::front::web::http::{HttpError, read_request};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

const LIMITS: [usize; 4] = [0, 16, 1024, 65536];

/// Reads `data` in pieces of at most `piece` bytes.
struct Pieces<'a> {
    data: &'a [u8],
    piece: usize,
}

impl tokio::io::AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.piece.min(self.data.len()).min(buf.remaining());
        let (head, tail) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let max_body = LIMITS[usize::from(input[0]) % LIMITS.len()];
    let piece = usize::from(input[1]).max(1);
    let mut reader = Pieces {
        data: &input[2..],
        piece,
    };
    let mut buf = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    // Each request consumes at least one byte, so this ends.
    for _ in 0..=input.len() {
        // The reader never pends, so one poll finishes the read.
        let result = match pin!(read_request(&mut reader, &mut buf, max_body)).as_mut().poll(&mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("a read from memory pended"),
        };
        match result {
            Ok(req) => {
                assert!(req.body.len() <= max_body);
                if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&req.body) {
                    let _ = portcullis::portal::front::web::input::parse_message(value);
                }
            }
            Err(HttpError::Refused { status, .. }) => {
                assert!((400..500).contains(&status), "status {status}");
                return;
            }
            Err(HttpError::Closed | HttpError::Io(_)) => return,
        }
    }
    panic!("the reader did not end");
});
