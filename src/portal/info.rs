//! Facts about the running portal that front ends report to clients: the MSSP server status
//! (for MUD listing crawlers) is built from here.
//!
//! The player count is kept by the core (the only owner of the registry) in an atomic, so a
//! telnet connection answering a crawler never waits on the core.

use crate::shared::control::ListenerInfo;
use crate::shared::session::{listener, now_unix};
use std::collections::BTreeMap;
use std::sync::RwLock;
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
    /// In gateway mode, what the game behind says in its own MSSP (the latest a leg heard).
    game: RwLock<Vec<(String, Vec<String>)>>,
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
            game: RwLock::new(Vec::new()),
        }
    }

    /// Keeps what the game behind the gateway says about itself (its MSSP variables); true
    /// when that changed what was kept.
    pub fn set_game_mssp(&self, vars: Vec<(String, Vec<String>)>) -> bool {
        match self.game.write() {
            Ok(mut g) if *g != vars => {
                *g = vars;
                true
            }
            _ => false,
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
    ///
    /// In gateway mode, once a leg has heard the game's own MSSP, that is the base (its name,
    /// players, uptime, codebase …); Portcullis then puts in where players connect (PORT, the
    /// TLS port as both `TLS` and the older `SSL`, `SSH`, `WEBCLIENT`) and MCCP, which it offers
    /// players itself; the operator's `[mssp]` still has the last word.
    pub fn mssp_vars(&self) -> Vec<(String, Vec<String>)> {
        let mut vars: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let game = self.game.read().map(|g| g.clone()).unwrap_or_default();
        let set = |vars: &mut BTreeMap<String, Vec<String>>, k: &str, v: String| {
            vars.insert(k.to_string(), vec![v]);
        };
        if game.is_empty() {
            set(&mut vars, "NAME", self.name.clone());
            set(
                &mut vars,
                "PLAYERS",
                self.players.load(Ordering::Relaxed).to_string(),
            );
            set(&mut vars, "UPTIME", self.started.to_string());
            set(
                &mut vars,
                "CODEBASE",
                format!("Portcullis {}", env!("CARGO_PKG_VERSION")),
            );
            set(&mut vars, "FAMILY", "Custom".into());
            for (k, v) in [
                ("ANSI", "1"),
                ("UTF-8", "1"),
                ("XTERM 256 COLORS", "1"),
                ("XTERM TRUE COLORS", "1"),
                ("GMCP", "1"),
                ("MSDP", "1"),
                ("MSSP", "1"),
                ("MXP", "0"),
                ("MSP", "0"),
                ("VT100", "1"),
            ] {
                set(&mut vars, k, v.into());
            }
        }
        for (k, v) in game {
            vars.insert(k.to_ascii_uppercase(), v);
        }
        if let Some(p) = self.port(listener::TELNET) {
            set(&mut vars, "PORT", p);
        }
        if let Some(p) = self.port(listener::TELNET_TLS) {
            set(&mut vars, "TLS", p.clone());
            set(&mut vars, "SSL", p);
        }
        if let Some(p) = self.port(listener::SSH) {
            set(&mut vars, "SSH", p);
        }
        if let Some(p) = self
            .port(listener::WEB)
            .or_else(|| self.port(listener::WEB_PLAIN))
        {
            set(&mut vars, "WEBCLIENT", p);
        }
        set(&mut vars, "MCCP", "1".into());
        for (k, v) in &self.extra {
            set(&mut vars, &k.to_ascii_uppercase(), v.clone());
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

    #[test]
    fn a_games_mssp_is_the_base_with_the_portals_ports_put_in() {
        let info = PortalInfo::new(
            "Gateway",
            vec![
                ListenerInfo {
                    protocol: listener::TELNET.into(),
                    addr: "0.0.0.0:4000".into(),
                },
                ListenerInfo {
                    protocol: listener::TELNET_TLS.into(),
                    addr: "0.0.0.0:4003".into(),
                },
                ListenerInfo {
                    protocol: listener::SSH.into(),
                    addr: "[::]:4004".into(),
                },
            ],
            BTreeMap::new(),
        );
        info.set_game_mssp(vec![
            ("NAME".into(), vec!["Old MUD".into()]),
            ("PLAYERS".into(), vec!["42".into()]),
            ("PORT".into(), vec!["4201".into()]),
            ("codebase".into(), vec!["CircleMUD 3.1".into()]),
        ]);
        let vars = info.mssp_vars();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v[0].clone());
        assert_eq!(vars[0].0, "NAME");
        assert_eq!(get("NAME").as_deref(), Some("Old MUD"));
        assert_eq!(get("PLAYERS").as_deref(), Some("42"));
        assert_eq!(get("CODEBASE").as_deref(), Some("CircleMUD 3.1"));
        assert_eq!(get("PORT").as_deref(), Some("4000"));
        assert_eq!(get("TLS").as_deref(), Some("4003"));
        assert_eq!(get("SSL").as_deref(), Some("4003"));
        assert_eq!(get("SSH").as_deref(), Some("4004"));
        assert_eq!(get("MCCP").as_deref(), Some("1"));
    }
}
