//! Long-polling (`webclient/ajax`), for when a WebSocket cannot get through (some proxies
//! refuse upgrades). Every request is a POST (so a page on another site cannot make one
//! without the browser asking first) with the session token in `X-Portcullis-Token`:
//!
//! - `/ajax/open`: a new session, or the one named by `{"token": …}` in the body;
//! - `/ajax/input`: a JSON array of messages from the page;
//! - `/ajax/poll`: held until there is output, or `[web] poll_timeout_secs` passed; answers
//!   a JSON array of messages (maybe empty);
//! - `/ajax/close`: the page is leaving.
//!
//! Between polls the session is detached, so the same grace period that covers a dropped
//! WebSocket covers a page that stopped polling.

use super::http::{Request, Response};
use super::input::FromPage;
use super::session::Frame;
use super::{WebShared, resume};
use crate::shared::session::Protocol;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Handles one long-poll request (the method and origin are already checked).
pub async fn handle(path: &str, req: &Request, ip: IpAddr, shared: &Arc<WebShared>) -> Response {
    match path {
        "/ajax/open" => open(req, ip, shared).await,
        "/ajax/input" => input(req, ip, shared).await,
        "/ajax/poll" => poll(req, ip, shared).await,
        "/ajax/close" => close(req, ip, shared).await,
        _ => Response::error(404, "no such page"),
    }
}

fn token(req: &Request) -> Option<&str> {
    req.header("x-portcullis-token").filter(|t| !t.is_empty())
}

async fn open(req: &Request, ip: IpAddr, shared: &Arc<WebShared>) -> Response {
    let asked = if req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(o)) => o.get("token").and_then(Value::as_str).map(str::to_owned),
            _ => return Response::error(400, "the body must be empty or {\"token\": …}"),
        }
    };
    let resumed = asked.as_deref().and_then(|t| shared.hub.find(t, ip));
    if let Some(s) = &resumed {
        // The token it came back with is spent.
        shared.hub.rotate(s);
    }
    let was_resumed = resumed.is_some();
    let session = match resumed {
        Some(s) => s,
        None => match shared.hub.open(Protocol::Ajax, ip, shared.secure).await {
            Ok(s) => s,
            Err(reason) => {
                // The core logged why (summed up when it repeats).
                tracing::debug!(%ip, %reason, "long-poll session refused");
                return Response::error(429, &reason);
            }
        },
    };
    if was_resumed {
        tracing::info!(
            session = session.id(),
            "browser came back to its session (long-poll)"
        );
    }
    Response::json(
        200,
        &json!({
            "token": session.token(),
            "grace_secs": shared.config.reconnect_grace_secs,
            "poll_secs": shared.config.poll_timeout_secs,
            "resumed": was_resumed,
            "protocol": session.protocol.key(),
            "name": shared.name,
            "input_seen": session.input_seen(),
        }),
    )
}

async fn input(req: &Request, ip: IpAddr, shared: &Arc<WebShared>) -> Response {
    let Some(token) = token(req) else {
        return Response::error(400, "no X-Portcullis-Token header");
    };
    let session = match resume(shared, token, ip) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&req.body) else {
        return Response::error(400, "the body must be a JSON array of messages");
    };
    let mut messages = Vec::with_capacity(items.len());
    for item in items {
        match super::input::parse_message(item) {
            Ok(m) => messages.push(FromPage::from(m)),
            Err(why) => return Response::error(400, &format!("bad message: {why}")),
        }
    }
    // Input messages (all but `hello`) are numbered by the page from 1 per session; a POST
    // sent again after a lost answer carries some the portal already took, which are skipped.
    let first = req
        .header("x-portcullis-input-seq")
        .and_then(|n| n.trim().parse::<u64>().ok());
    let numbered = messages.iter().filter(|m| m.is_numbered()).count() as u64;
    let mut skip = session.input_arrived(first, numbered);
    if skip > 0 {
        tracing::info!(
            skip,
            "long-poll input sent again; the part already taken is skipped"
        );
    }
    messages.retain(|m| {
        if !m.is_numbered() || skip == 0 {
            return true;
        }
        skip -= 1;
        false
    });
    super::input::data_in(&session, messages).await;
    Response::empty(204)
}

async fn poll(req: &Request, ip: IpAddr, shared: &Arc<WebShared>) -> Response {
    let Some(token) = token(req) else {
        return Response::error(400, "no X-Portcullis-Token header");
    };
    let session = match resume(shared, token, ip) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ack = req
        .header("x-portcullis-ack")
        .and_then(|a| a.trim().parse::<u64>().ok());
    let mut attachment = session.attach();
    let generation = attachment.generation;
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(shared.config.poll_timeout_secs);
    let (frames, batch): (Vec<Frame>, Option<u64>) = loop {
        let (taken, batch) = session.take_batch(generation, ack);
        if taken.superseded || !taken.frames.is_empty() || taken.closed.is_some() {
            break (taken.frames, batch);
        }
        tokio::select! {
            r = attachment.changes.changed() => if r.is_err() { break (Vec::new(), None) },
            _ = tokio::time::sleep_until(deadline) => break (Vec::new(), None),
        }
    };
    drop(attachment);
    if frames.is_empty()
        && let Some(reason) = session.closed()
    {
        return Response::error(410, &format!("this session has ended: {reason}"));
    }
    let mut body = String::from("[");
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&f.json);
    }
    body.push(']');
    let response = Response::new(200, "application/json", body);
    match batch {
        Some(id) => response.with("X-Portcullis-Batch", id.to_string()),
        None => response,
    }
}

async fn close(req: &Request, ip: IpAddr, shared: &Arc<WebShared>) -> Response {
    let Some(token) = token(req) else {
        return Response::error(400, "no X-Portcullis-Token header");
    };
    let session = match resume(shared, token, ip) {
        Ok(s) => s,
        Err(r) => return r,
    };
    tracing::info!(session = session.id(), "the page closed its session");
    session.end("closed by the page");
    Response::empty(204)
}
