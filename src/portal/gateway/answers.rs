//! What the gateway tells the game about the player, as a MUD client would: the TTYPE/MTTS
//! cycle, NAWS, and NEW-ENVIRON (MNES) variables, all read from the session's protocol_flags
//! (what the player's own client told the front end, or what the front end knows).
//!
//! Invariants:
//! - The MTTS PROXY bit (128) is always set: the game talks to a proxy. SSL (2048) is set
//!   exactly when the player's leg is encrypted (the `SSL` flag, which the portal sets).
//! - `IPADDRESS` is the portal's to tell (only with `client_address = "mnes"`); `USER` is the
//!   SSH user name. Nothing the player's client claimed for those names is ever passed on.

use crate::codec::oob::environ;
use crate::codec::telnet::mtts;
use crate::shared::session::{Protocol, flag};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Where the session's facts come from and what it may tell.
#[derive(Debug, Clone)]
pub struct Answers {
    /// The session's protocol_flags as the core last saw them.
    pub flags: Map<String, Value>,
    /// The player's front end.
    pub protocol: Protocol,
    /// The player's address, when the game may be told it through NEW-ENVIRON.
    pub ipaddress: Option<IpAddr>,
    /// TTYPE answers given so far in this connection's cycle.
    ttype_step: u8,
}

impl Answers {
    /// Facts for a session.
    pub fn new(flags: Map<String, Value>, protocol: Protocol, ipaddress: Option<IpAddr>) -> Self {
        Answers {
            flags,
            protocol,
            ipaddress,
            ttype_step: 0,
        }
    }

    /// A new connection to the game starts the TTYPE cycle again.
    pub fn restart(&mut self) {
        self.ttype_step = 0;
    }

    fn on(&self, key: &str) -> bool {
        self.flags
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.flags
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// The player's client, as MTTS step 1 names it.
    pub fn client_name(&self) -> String {
        match self.text(flag::CLIENTNAME) {
            Some(name) => name.to_owned(),
            None => match self.protocol {
                Protocol::Ssh => "SSH".into(),
                Protocol::WebSocket | Protocol::Ajax => "WEB BROWSER".into(),
                Protocol::Telnet | Protocol::TelnetTls => "UNKNOWN".into(),
            },
        }
    }

    /// The terminal type, as MTTS step 2 names it.
    pub fn terminal_type(&self) -> String {
        match self.text(flag::TERM) {
            Some(term) => term.to_owned(),
            None if self.on(flag::XTERM256) || self.on(flag::TRUECOLOR) => "XTERM-256COLOR".into(),
            None if self.on(flag::ANSI) => "ANSI".into(),
            None => "DUMB".into(),
        }
    }

    /// The MTTS bit vector for what the player's client takes.
    pub fn mtts(&self) -> u32 {
        let mut bits = mtts::PROXY;
        let utf8 = self.on(flag::UTF8)
            || self
                .text(flag::ENCODING)
                .is_some_and(|e| e.eq_ignore_ascii_case("utf-8"));
        for (on, bit) in [
            (self.on(flag::ANSI), mtts::ANSI),
            (self.on("VT100"), mtts::VT100),
            (utf8, mtts::UTF8),
            (self.on(flag::XTERM256), mtts::COLORS_256),
            (self.on("MOUSE_TRACKING"), mtts::MOUSE_TRACKING),
            (self.on("OSC_COLOR_PALETTE"), mtts::OSC_COLOR_PALETTE),
            (self.on(flag::SCREENREADER), mtts::SCREEN_READER),
            (self.on(flag::TRUECOLOR), mtts::TRUECOLOR),
            (true, mtts::MNES),
            (self.on(flag::SSL), mtts::SSL),
        ] {
            if on {
                bits |= bit;
            }
        }
        bits
    }

    /// The next TTYPE answer: client name, terminal type, `MTTS n`, then `MTTS n` again
    /// (a repeat ends the cycle, as MTTS says).
    pub fn next_ttype(&mut self) -> String {
        self.ttype_step = self.ttype_step.saturating_add(1);
        match self.ttype_step {
            1 => self.client_name().to_ascii_uppercase(),
            2 => self.terminal_type().to_ascii_uppercase(),
            _ => format!("MTTS {}", self.mtts()),
        }
    }

    /// The window size, when the player's client told one.
    pub fn size(&self) -> Option<(u16, u16)> {
        let get = |k: &str| {
            self.flags
                .get(k)
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
        };
        Some((
            get(flag::SCREENWIDTH)?,
            get(flag::SCREENHEIGHT).unwrap_or(0),
        ))
    }

    /// Every variable the gateway answers, by name.
    fn variables(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("CLIENT_NAME", self.client_name()),
            (
                "CLIENT_VERSION",
                self.text(flag::CLIENTVERSION).unwrap_or("").to_owned(),
            ),
            ("CHARSET", "UTF-8".to_owned()),
            ("MTTS", self.mtts().to_string()),
            ("TERMINAL_TYPE", self.terminal_type()),
        ];
        if let Some(ip) = self.ipaddress {
            vars.push(("IPADDRESS", ip.to_string()));
        }
        if let Some(user) = self.text(flag::USER) {
            vars.push(("USER", user.to_owned()));
        }
        vars
    }

    /// The `IS` answer to a game's NEW-ENVIRON `SEND` request (`(type, name)` pairs; an empty
    /// name or an empty request means every variable). Names the gateway does not know are
    /// answered as undefined, as RFC 1572 asks.
    pub fn environ_is(&self, request: &[(u8, String)]) -> Vec<u8> {
        let known = self.variables();
        let mut answer: Vec<(u8, &str, Option<&str>)> = Vec::new();
        let all = request.is_empty() || request.iter().any(|(_, n)| n.is_empty());
        if all {
            for (name, value) in &known {
                answer.push((environ::VAR, name, Some(value.as_str())));
            }
        }
        for (kind, name) in request.iter().filter(|(_, n)| !n.is_empty()) {
            if all && known.iter().any(|(k, _)| k == name) {
                continue;
            }
            let value = known
                .iter()
                .find(|(k, _)| *k == name.as_str())
                .map(|(_, v)| v.as_str());
            answer.push((*kind, name.as_str(), value));
        }
        environ::encode_is(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(pairs: &[(&str, Value)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn ttype_cycles_through_client_terminal_and_mtts() {
        let f = flags(&[
            (flag::CLIENTNAME, Value::from("tintin++")),
            (flag::TERM, Value::from("xterm-256color")),
            (flag::ANSI, Value::Bool(true)),
            (flag::XTERM256, Value::Bool(true)),
            (flag::UTF8, Value::Bool(true)),
            (flag::SSL, Value::Bool(true)),
        ]);
        let mut a = Answers::new(f, Protocol::TelnetTls, None);
        assert_eq!(a.next_ttype(), "TINTIN++");
        assert_eq!(a.next_ttype(), "XTERM-256COLOR");
        let want =
            mtts::ANSI | mtts::UTF8 | mtts::COLORS_256 | mtts::PROXY | mtts::MNES | mtts::SSL;
        assert_eq!(a.next_ttype(), format!("MTTS {want}"));
        assert_eq!(a.next_ttype(), format!("MTTS {want}"));
        a.restart();
        assert_eq!(a.next_ttype(), "TINTIN++");
    }

    #[test]
    fn a_plain_session_is_proxied_and_not_encrypted() {
        let a = Answers::new(Map::new(), Protocol::Telnet, None);
        assert_eq!(a.mtts(), mtts::PROXY | mtts::MNES);
        assert_eq!(a.size(), None);
        let a = Answers::new(Map::new(), Protocol::Ssh, None);
        assert_eq!(a.client_name(), "SSH");
    }

    #[test]
    fn environ_answers_what_was_asked_and_the_address_only_when_allowed() {
        let f = flags(&[(flag::USER, Value::from("alice"))]);
        let a = Answers::new(
            f.clone(),
            Protocol::Ssh,
            Some("203.0.113.9".parse().unwrap()),
        );
        let asked = vec![
            (environ::VAR, "IPADDRESS".to_owned()),
            (environ::USERVAR, "SHELL".to_owned()),
        ];
        let is = a.environ_is(&asked);
        let mut got = environ::decode(&is).unwrap();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("IPADDRESS".to_owned(), Some("203.0.113.9".to_owned())),
                ("SHELL".to_owned(), None),
            ]
        );
        let all = environ::decode(&a.environ_is(&[])).unwrap();
        assert!(all.contains(&("USER".to_owned(), Some("alice".to_owned()))));
        let a = Answers::new(f, Protocol::Ssh, None);
        let all = environ::decode(&a.environ_is(&[])).unwrap();
        assert!(all.iter().all(|(k, _)| k != "IPADDRESS"));
        let one = environ::decode(&a.environ_is(&asked)).unwrap();
        assert!(one.contains(&("IPADDRESS".to_owned(), None)));
    }
}
