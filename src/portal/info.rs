//! Facts about the running portal that front ends report to clients: the MSSP server status
//! (for MUD listing crawlers) is built from here.
//!
//! The player count is kept by the core (the only owner of the registry) in an atomic, so a
//! telnet connection answering a crawler never waits on the core.

use crate::shared::control::ListenerInfo;
use crate::shared::session::{listener, now_unix};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What the portal knows about itself.
#[derive(Debug)]
pub struct PortalInfo {
    /// The world's name (`[server] name`).
    pub name: String,
    /// When the portal started (Unix seconds): MSSP's UPTIME.
    pub started: u64,
    /// Where players can connect.
    pub listeners: Vec<ListenerInfo>,
    /// Logged-in players right now, kept by the core.
    pub players: AtomicUsize,
    /// Operator-defined MSSP fields (`[mssp]`).
    pub extra: BTreeMap<String, String>,
}

impl PortalInfo {
    /// Info for a portal starting now.
    pub fn new(name: &str, listeners: Vec<ListenerInfo>, extra: BTreeMap<String, String>) -> Self {
        PortalInfo {
            name: name.to_string(),
            started: now_unix() as u64,
            listeners,
            players: AtomicUsize::new(0),
            extra,
        }
    }

    fn port(&self, key: &str) -> Option<String> {
        self.listeners
            .iter()
            .find(|l| l.protocol == key)
            .and_then(|l| l.addr.rsplit(':').next().map(str::to_string))
    }

    /// The MSSP variables, in the order sent: the standard ones first, then the operator's
    /// (which may override a standard one, e.g. a public PORT behind a proxy).
    pub fn mssp_vars(&self) -> Vec<(String, Vec<String>)> {
        let mut vars: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            vars.insert(k.to_string(), vec![v]);
        };
        set("NAME", self.name.clone());
        set("PLAYERS", self.players.load(Ordering::Relaxed).to_string());
        set("UPTIME", self.started.to_string());
        if let Some(p) = self.port(listener::TELNET) {
            set("PORT", p);
        }
        if let Some(p) = self.port(listener::TELNET_TLS) {
            set("SSL", p);
        }
        set(
            "CODEBASE",
            format!("Portcullis {}", env!("CARGO_PKG_VERSION")),
        );
        set("FAMILY", "Custom".into());
        for (k, v) in [
            ("ANSI", "1"),
            ("UTF-8", "1"),
            ("XTERM 256 COLORS", "1"),
            ("XTERM TRUE COLORS", "1"),
            ("MCCP", "1"),
            ("GMCP", "1"),
            ("MSDP", "1"),
            ("MSSP", "1"),
            ("MXP", "0"),
            ("MSP", "0"),
            ("VT100", "1"),
        ] {
            set(k, v.into());
        }
        for (k, v) in &self.extra {
            set(&k.to_ascii_uppercase(), v.clone());
        }
        let mut out: Vec<(String, Vec<String>)> = Vec::with_capacity(vars.len());
        // NAME, PLAYERS and UPTIME first: crawlers read those.
        for k in ["NAME", "PLAYERS", "UPTIME"] {
            if let Some(v) = vars.remove(k) {
                out.push((k.to_string(), v));
            }
        }
        out.extend(vars);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mssp_has_the_required_fields_and_the_operators() {
        let mut extra = BTreeMap::new();
        extra.insert("genre".to_string(), "Social".to_string());
        let info = PortalInfo::new(
            "Test World",
            vec![ListenerInfo {
                protocol: "telnet".into(),
                addr: "0.0.0.0:4000".into(),
            }],
            extra,
        );
        info.players.store(3, Ordering::Relaxed);
        let vars = info.mssp_vars();
        assert_eq!(vars[0], ("NAME".into(), vec!["Test World".into()]));
        assert_eq!(vars[1], ("PLAYERS".into(), vec!["3".into()]));
        assert_eq!(vars[2].0, "UPTIME");
        assert!(vars.contains(&("PORT".into(), vec!["4000".into()])));
        assert!(vars.contains(&("GENRE".into(), vec!["Social".into()])));
    }
}
