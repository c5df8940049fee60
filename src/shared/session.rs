//! The session model shared by portal and server (from Evennia's `Session`).
//!
//! A session is one player connection. Both processes keep a copy of its [`SyncData`]: the
//! portal because it owns the connection and must hand the state back to a restarted server,
//! the server because it runs the game. `load_sync_data` merges `protocol_flags` (a partial
//! update) and replaces everything else, so either side can send only what changed in flags.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// A session id. Unique for the life of the installation, never reused (see `ids`).
pub type SessionId = u64;

/// Which front end carries a session. In code it is this enum; on the wire (the link,
/// `who`, `portcullis status`) it is Evennia's protocol key string, e.g. `telnet/ssl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Plain telnet.
    #[serde(rename = "telnet")]
    Telnet,
    /// Telnet over TLS.
    #[serde(rename = "telnet/ssl")]
    TelnetTls,
    /// SSH.
    #[serde(rename = "ssh")]
    Ssh,
    /// The web client over a WebSocket.
    #[serde(rename = "webclient/websocket")]
    WebSocket,
    /// The web client long-polling (when a WebSocket cannot connect).
    #[serde(rename = "webclient/ajax")]
    Ajax,
}

impl Protocol {
    /// Evennia's protocol key, as the wire carries it.
    pub const fn key(self) -> &'static str {
        match self {
            Protocol::Telnet => "telnet",
            Protocol::TelnetTls => "telnet/ssl",
            Protocol::Ssh => "ssh",
            Protocol::WebSocket => "webclient/websocket",
            Protocol::Ajax => "webclient/ajax",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// Names of the listeners a portal reports (to the server, MSSP and `status`): the session
/// protocols' keys where a listener serves one protocol, and the web listener's own.
pub mod listener {
    /// Plain telnet.
    pub const TELNET: &str = "telnet";
    /// Telnet over TLS.
    pub const TELNET_TLS: &str = "telnet/ssl";
    /// SSH.
    pub const SSH: &str = "ssh";
    /// The web listener over HTTPS (it serves both web protocols).
    pub const WEB: &str = "web";
    /// The web listener over plain HTTP (behind a reverse proxy, whose address is not known).
    pub const WEB_PLAIN: &str = "web/http";
}

/// The protocol_flags keys the portal and server read or set, named once. The flags map
/// itself stays open (Evennia's shape): a client or game may add keys of its own.
pub mod flag {
    /// The client's name (TTYPE's first answer, GMCP `Core.Hello`, MNES, the page's hello).
    pub const CLIENTNAME: &str = "CLIENTNAME";
    /// The client's version.
    pub const CLIENTVERSION: &str = "CLIENTVERSION";
    /// The terminal type.
    pub const TERM: &str = "TERM";
    /// Columns.
    pub const SCREENWIDTH: &str = "SCREENWIDTH";
    /// Rows.
    pub const SCREENHEIGHT: &str = "SCREENHEIGHT";
    /// 16 colours.
    pub const ANSI: &str = "ANSI";
    /// 256 colours.
    pub const XTERM256: &str = "XTERM256";
    /// 24-bit colour.
    pub const TRUECOLOR: &str = "TRUECOLOR";
    /// The player asked for no colour (outranks the rest).
    pub const NOCOLOR: &str = "NOCOLOR";
    /// Output for a screen reader: no colour, no decoration.
    pub const SCREENREADER: &str = "SCREENREADER";
    /// The text encoding: `utf-8` or `latin-1`.
    pub const ENCODING: &str = "ENCODING";
    /// The client takes UTF-8.
    pub const UTF8: &str = "UTF-8";
    /// The session's transport is encrypted (TLS or SSH), as the portal knows it.
    pub const SSL: &str = "SSL";
    /// Output is MCCP2-compressed.
    pub const MCCP: &str = "MCCP";
    /// The client speaks GMCP.
    pub const GMCP: &str = "GMCP";
    /// The client speaks MSDP.
    pub const MSDP: &str = "MSDP";
    /// The SSH user name, which gateway mode offers the game as NEW-ENVIRON `USER`.
    pub const USER: &str = "USER";
}

/// The whitelisted, serialisable state of a session that portal and server both keep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncData {
    /// Session id, unique for the life of the installation.
    pub id: SessionId,
    /// Which front end carries the session (`telnet`, `telnet/ssl`, `ssh`, … on the wire).
    pub protocol_key: Protocol,
    /// The peer's IP address (no port); throttles and connection limits key on it.
    pub address: String,
    /// Id of the account logged in on this session, if any.
    pub account_id: Option<i64>,
    /// Name of that account, as created.
    pub account_name: Option<String>,
    /// Whether an account is logged in.
    pub logged_in: bool,
    /// When the connection was made (Unix seconds).
    pub conn_time: f64,
    /// When the player last sent anything (Unix seconds).
    pub cmd_last: f64,
    /// When the player last sent a visible command (not an out-of-band message).
    pub cmd_last_visible: f64,
    /// How many messages the player has sent.
    pub cmd_total: u64,
    /// What the client is and can do: CLIENTNAME, TERM, SCREENWIDTH, SCREENHEIGHT, ANSI,
    /// XTERM256, TRUECOLOR, UTF-8, ENCODING, NOCOLOR, SCREENREADER, …
    pub protocol_flags: Map<String, Value>,
    /// State the server wants kept across its own restarts.
    pub server_data: Map<String, Value>,
}

/// Seconds since the Unix epoch, as Evennia keeps times.
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Default protocol flags of a fresh session before the client says anything.
pub fn default_flags() -> Map<String, Value> {
    let mut f = Map::new();
    f.insert(flag::ANSI.into(), Value::Bool(true));
    f.insert(flag::ENCODING.into(), Value::String("utf-8".into()));
    f.insert(flag::SCREENWIDTH.into(), Value::from(80));
    f.insert(flag::SCREENHEIGHT.into(), Value::from(24));
    f
}

/// One session's state and the seed's operations on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// The synchronised state.
    pub data: SyncData,
}

impl Session {
    /// Called by a front end when a connection is established.
    pub fn init_session(id: SessionId, protocol_key: Protocol, address: &str) -> Self {
        let now = now_unix();
        Session {
            data: SyncData {
                id,
                protocol_key,
                address: address.to_string(),
                account_id: None,
                account_name: None,
                logged_in: false,
                conn_time: now,
                cmd_last: now,
                cmd_last_visible: now,
                cmd_total: 0,
                protocol_flags: default_flags(),
                server_data: Map::new(),
            },
        }
    }

    /// The state to send to the other process.
    pub fn get_sync_data(&self) -> SyncData {
        self.data.clone()
    }

    /// Takes state from the other process: protocol_flags are merged, the rest replaced.
    pub fn load_sync_data(&mut self, data: SyncData) {
        let SyncData { protocol_flags, .. } = &data;
        let mut merged = std::mem::take(&mut self.data.protocol_flags);
        merge_flags(&mut merged, protocol_flags);
        self.data = data;
        self.data.protocol_flags = merged;
    }

    /// Merges a partial protocol_flags update.
    pub fn update_flags(&mut self, flags: &Map<String, Value>) {
        merge_flags(&mut self.data.protocol_flags, flags);
    }

    /// Records that the player sent something.
    pub fn touch(&mut self, visible: bool) {
        let now = now_unix();
        self.data.cmd_last = now;
        if visible {
            self.data.cmd_last_visible = now;
        }
        self.data.cmd_total += 1;
    }

    /// Seconds since the last visible command.
    pub fn idle_secs(&self) -> f64 {
        (now_unix() - self.data.cmd_last_visible).max(0.0)
    }

    /// A string flag, if set.
    pub fn flag_str(&self, key: &str) -> Option<&str> {
        self.data.protocol_flags.get(key).and_then(Value::as_str)
    }

    /// A boolean flag (absent is false).
    pub fn flag_bool(&self, key: &str) -> bool {
        self.data
            .protocol_flags
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// A numeric flag, if set.
    pub fn flag_u64(&self, key: &str) -> Option<u64> {
        self.data.protocol_flags.get(key).and_then(Value::as_u64)
    }
}

/// Merges `update` into `flags`; a `null` value removes the key.
pub fn merge_flags(flags: &mut Map<String, Value>, update: &Map<String, Value>) {
    for (k, v) in update {
        if v.is_null() {
            flags.remove(k);
        } else {
            flags.insert(k.clone(), v.clone());
        }
    }
}

/// Longest string a peer may put in one protocol_flags value, in bytes (a client's name, its
/// terminal type …); longer ones are cut on a character boundary.
pub const MAX_FLAG_STRING: usize = 256;

/// Most items a peer may put in one protocol_flags list (GMCP's supported packages), and most
/// bytes of text in all of them together.
pub const MAX_FLAG_ITEMS: usize = 64;
/// See [`MAX_FLAG_ITEMS`].
pub const MAX_FLAG_LIST_BYTES: usize = 2048;

/// Most keys a peer may set in one update.
pub const MAX_FLAG_KEYS: usize = 64;

/// Bounds a protocol_flags update that came from a client (telnet negotiation, GMCP, an SSH
/// request, the page), so that no session's flags can grow the link's `sync_all` or the
/// memory of either process by more than a few KiB whatever the client sends:
/// - strings lose their control characters (which JSON would escape sixfold) and are cut to
///   [`MAX_FLAG_STRING`] bytes;
/// - lists keep at most [`MAX_FLAG_ITEMS`] strings, numbers or booleans, with at most
///   [`MAX_FLAG_LIST_BYTES`] of text;
/// - nested objects are dropped, and at most [`MAX_FLAG_KEYS`] keys are kept.
///
/// Returns how many values were changed or dropped (for the caller's log).
pub fn bound_peer_flags(update: &mut Map<String, Value>) -> usize {
    /// Cleans and cuts one string; whether it changed.
    fn clean(s: &mut String) -> bool {
        let before = s.len();
        if s.chars().any(char::is_control) {
            s.retain(|c| !c.is_control());
        }
        if s.len() > MAX_FLAG_STRING {
            let mut end = MAX_FLAG_STRING;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        s.len() != before
    }
    let mut changed = 0;
    if update.len() > MAX_FLAG_KEYS {
        let extra: Vec<String> = update.keys().skip(MAX_FLAG_KEYS).cloned().collect();
        changed += extra.len();
        for k in extra {
            update.remove(&k);
        }
    }
    update.retain(|_, v| match v {
        Value::String(s) => {
            changed += usize::from(clean(s));
            true
        }
        Value::Array(items) => {
            let before = items.len();
            items.retain(|i| matches!(i, Value::String(_) | Value::Number(_) | Value::Bool(_)));
            let mut text = 0;
            let mut keep = 0;
            for i in items.iter_mut() {
                if let Value::String(s) = i {
                    changed += usize::from(clean(s));
                    text += s.len();
                }
                if keep == MAX_FLAG_ITEMS || text > MAX_FLAG_LIST_BYTES {
                    break;
                }
                keep += 1;
            }
            items.truncate(keep);
            changed += before - items.len();
            true
        }
        Value::Object(_) => {
            changed += 1;
            false
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
    });
    changed
}

/// Formats an idle or up time the way `who` and `status` show it: `42s`, `3m`, `2h`, `5d`.
pub fn short_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_flags_are_bounded_whatever_it_sends() {
        let mut f = Map::new();
        f.insert("CLIENTNAME".into(), Value::from("\u{1}".repeat(8000)));
        f.insert("TERM".into(), Value::from("é".repeat(300)));
        f.insert(
            "GMCP_SUPPORTS".into(),
            Value::Array(
                (0..500)
                    .map(|i| Value::from(format!("Pkg{i} {}", "x".repeat(900))))
                    .chain([serde_json::json!({"deep": [1, 2]})])
                    .collect(),
            ),
        );
        f.insert("NESTED".into(), serde_json::json!({"a": "b"}));
        assert!(bound_peer_flags(&mut f) > 0);
        let size = serde_json::to_vec(&f).unwrap().len();
        // Strings of at most 256 bytes without control characters, lists of at most 2 KiB.
        assert!(size < 8 * 1024, "{size}");
        assert!(f["TERM"].as_str().unwrap().len() <= MAX_FLAG_STRING);
        assert!(!f.contains_key("NESTED"));
        let mut many: Map<String, Value> = (0..100)
            .map(|i| (format!("K{i}"), Value::Bool(true)))
            .collect();
        assert_eq!(bound_peer_flags(&mut many), 100 - MAX_FLAG_KEYS);
        assert_eq!(many.len(), MAX_FLAG_KEYS);
        // Ordinary flags pass untouched.
        let mut ok = Map::new();
        ok.insert("SCREENWIDTH".into(), Value::from(80));
        ok.insert("CLIENTNAME".into(), Value::from("Mudlet"));
        let before = ok.clone();
        assert_eq!(bound_peer_flags(&mut ok), 0);
        assert_eq!(ok, before);
    }

    #[test]
    fn load_sync_data_merges_flags_and_replaces_the_rest() {
        let mut a = Session::init_session(7, Protocol::Telnet, "127.0.0.1");
        a.data
            .protocol_flags
            .insert("CLIENTNAME".into(), Value::from("tintin++"));
        let mut other = a.get_sync_data();
        other.protocol_flags = Map::new();
        other
            .protocol_flags
            .insert("SCREENWIDTH".into(), Value::from(132));
        other.logged_in = true;
        other.account_name = Some("alice".into());
        a.load_sync_data(other);
        assert!(a.data.logged_in);
        assert_eq!(a.data.account_name.as_deref(), Some("alice"));
        assert_eq!(a.flag_str("CLIENTNAME"), Some("tintin++"));
        assert_eq!(a.flag_u64("SCREENWIDTH"), Some(132));
        assert_eq!(a.flag_u64("SCREENHEIGHT"), Some(24));
    }

    #[test]
    fn null_removes_a_flag() {
        let mut s = Session::init_session(1, Protocol::Telnet, "::1");
        let mut upd = Map::new();
        upd.insert("ANSI".into(), Value::Null);
        s.update_flags(&upd);
        assert!(!s.data.protocol_flags.contains_key("ANSI"));
    }

    #[test]
    fn durations() {
        assert_eq!(short_duration(5.2), "5s");
        assert_eq!(short_duration(125.0), "2m");
        assert_eq!(short_duration(7300.0), "2h");
        assert_eq!(short_duration(200000.0), "2d");
    }
}
