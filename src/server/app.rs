//! The App: the code a game plugs into the server, and the built-in default, a small talker.
//!
//! The server calls the App only for logged-in sessions; the connection screen is the
//! server's own (see `login`). Everything the App does goes through [`Effects`].

use super::jobs::Job;
use super::registry::Effects;
use crate::codec::markup;
use crate::shared::caps::ClientCaps;
use crate::shared::link::SyncReason;
use crate::shared::message::Message;
use crate::shared::session::{SessionId, flag, short_duration};
use serde_json::{Map, Value};

/// A game running on the server.
pub trait App: Send {
    /// An account has just logged in on `id`.
    fn at_login(&mut self, w: &mut Effects, id: SessionId);
    /// The account on `id` is leaving (quit or connection lost).
    fn at_logout(&mut self, w: &mut Effects, id: SessionId, reason: &str);
    /// The server restarted and rebuilt `id` (logged in) from the portal's sync data.
    fn at_sync(&mut self, w: &mut Effects, id: SessionId, reason: SyncReason);
    /// Input from a logged-in session. Returns false for a command the App does not know.
    fn data_in(&mut self, w: &mut Effects, id: SessionId, msg: &Message) -> bool;
}

/// The default App: one room, everyone online in it.
#[derive(Debug, Default)]
pub struct Talker {
    /// Whether colour markup in what players say to each other is shown (`[server]
    /// player_colour`); line breaks and control characters never are.
    pub player_colour: bool,
}

const HELP: &str = "\
|wCommands|n
  |wlook|n                      the room and who is here
  |wwho|n                       everyone online, with protocol and idle time
  |wsay|n <text>   or  |w'|n<text>    speak to the room
  |wemote|n <text> or  |w:|n<text>    act, e.g. |w:waves|n
  |wtell|n <name> <text>        a private message
  |wreply|n <text>              answer the last private message
  |woptions|n [<name> <value>]   show or set: width, height, colour, encoding, screenreader, client
  |wpassword|n <old> <new>      change your password
  |wsshkey|n add <key> / list / remove <fingerprint>   your SSH keys for logging in
  |whelp|n                      this text
  |wquit|n                      leave
Colour: ||r|r red|n, ||g|g green|n, ||y|y yellow|n, ||b|b blue|n, ||m|m magenta|n, ||c|c cyan|n, ||w|w white|n, ||n normal.";

impl App for Talker {
    fn at_login(&mut self, w: &mut Effects, id: SessionId) {
        let name = w.name(id);
        w.msg(
            id,
            format!("|gWelcome, {name}.|n Type |whelp|n for commands."),
        );
        w.broadcast(&format!("|c{name} has arrived.|n"), Some(id));
        look(w, id);
    }

    fn at_logout(&mut self, w: &mut Effects, id: SessionId, _reason: &str) {
        let name = w.name(id);
        w.broadcast(&format!("|c{name} has left.|n"), Some(id));
    }

    fn at_sync(&mut self, w: &mut Effects, id: SessionId, reason: SyncReason) {
        let text = match reason {
            SyncReason::Reload => "|gThe server was reloaded. You are still here.|n",
            SyncReason::Restart => "|gThe server is back after a restart. You are still here.|n",
            SyncReason::Start => "|gThe server has started.|n",
        };
        w.msg(id, text);
    }

    fn data_in(&mut self, w: &mut Effects, id: SessionId, msg: &Message) -> bool {
        if msg.name != "text" {
            return true;
        }
        let line = msg.first_str().unwrap_or("").trim();
        if line.is_empty() {
            return true;
        }
        let (cmd, rest) = split_command(line);
        match cmd.as_str() {
            "look" | "l" => look(w, id),
            "who" => who(w, id),
            "say" | "'" => say(w, id, &self.player_text(rest)),
            "emote" | "pose" | ":" => emote(w, id, &self.player_text(rest)),
            "tell" | "page" => tell(w, id, rest, self.player_colour),
            "reply" | "r" => reply(w, id, rest, self.player_colour),
            "options" | "option" => options(w, id, rest),
            "password" => password(w, id, rest),
            "sshkey" | "sshkeys" => sshkey(w, id, rest),
            "help" | "?" => w.msg(id, HELP),
            "quit" => w.disconnect(id, "Goodbye."),
            _ => {
                w.msg(
                    id,
                    format!(
                        "Unknown command '{}'. Type |whelp|n for commands.",
                        markup::escape(&cmd)
                    ),
                );
                return false;
            }
        }
        true
    }
}

/// Splits `'hello` into `("'", "hello")` and `say hello` into `("say", "hello")`.
fn split_command(line: &str) -> (String, &str) {
    for prefix in ["'", ":", "\""] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let cmd = if prefix == "\"" { "'" } else { prefix };
            return (cmd.to_string(), rest.trim());
        }
    }
    match line.split_once(char::is_whitespace) {
        Some((c, rest)) => (c.to_ascii_lowercase(), rest.trim()),
        None => (line.to_ascii_lowercase(), ""),
    }
}

impl Talker {
    /// What a player sends to others, as it is put into their output: on one line, visibly
    /// the sender's (see [`markup::player_text`]). Every command that passes one player's
    /// words to another goes through here.
    fn player_text(&self, text: &str) -> String {
        markup::player_text(text, self.player_colour)
    }
}

fn look(w: &mut Effects, id: SessionId) {
    let mut names: Vec<String> = w
        .online()
        .filter_map(|s| s.data.account_name.clone())
        .collect();
    names.sort_by_key(|n| n.to_ascii_lowercase());
    names.dedup();
    w.msg(
        id,
        format!(
            "|wThe Lobby|n\nA plain room with a door that opens onto every terminal. \
             Everyone online is here.\nPresent: {}.",
            names.join(", ")
        ),
    );
}

fn who(w: &mut Effects, id: SessionId) {
    let mut rows: Vec<(String, String, String)> = w
        .online()
        .map(|s| {
            (
                s.data.account_name.clone().unwrap_or_default(),
                s.data.protocol_key.to_string(),
                short_duration(s.idle_secs()),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0.to_ascii_lowercase());
    let mut out = format!("|w{:<20} {:<12} {:>6}|n", "Name", "Protocol", "Idle");
    for (name, proto, idle) in &rows {
        out.push_str(&format!("\n{name:<20} {proto:<12} {idle:>6}"));
    }
    out.push_str(&format!(
        "\n{} player{} online.",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    w.msg(id, out);
}

fn say(w: &mut Effects, id: SessionId, text: &str) {
    if text.is_empty() {
        w.msg(id, "Say what?");
        return;
    }
    let name = w.name(id);
    w.msg(id, format!("You say, \"{text}\""));
    w.broadcast(&format!("{name} says, \"{text}\""), Some(id));
}

fn emote(w: &mut Effects, id: SessionId, text: &str) {
    if text.is_empty() {
        w.msg(id, "Emote what?");
        return;
    }
    let name = w.name(id);
    w.broadcast(&format!("{name} {text}"), None);
}

fn tell(w: &mut Effects, id: SessionId, rest: &str, colour: bool) {
    let Some((target, text)) = rest.split_once(char::is_whitespace) else {
        w.msg(id, "Usage: tell <name> <message>");
        return;
    };
    let text = markup::player_text(text, colour);
    let targets = w.find_online(target);
    if targets.is_empty() {
        w.msg(
            id,
            format!("No one called {} is online.", markup::escape(target)),
        );
        return;
    }
    let from = w.name(id);
    let to = w.name(targets[0]);
    for t in targets {
        w.msg(t, format!("|m{from} tells you:|n {text}"));
        w.set_server_data(t, REPLY_TO, Value::from(from.clone()));
    }
    w.msg(id, format!("|mYou tell {to}:|n {text}"));
}

/// server_data key: who last sent this session a tell (kept across reloads).
const REPLY_TO: &str = "reply_to";

fn reply(w: &mut Effects, id: SessionId, text: &str, colour: bool) {
    let to = w
        .session(id)
        .and_then(|s| s.data.server_data.get(REPLY_TO))
        .and_then(Value::as_str)
        .map(str::to_string);
    match to {
        Some(name) if !text.is_empty() => tell(w, id, &format!("{name} {text}"), colour),
        Some(_) => w.msg(id, "Reply what?"),
        None => w.msg(id, "No one has sent you a tell yet."),
    }
}

fn options(w: &mut Effects, id: SessionId, rest: &str) {
    let mut words = rest.split_whitespace();
    let (Some(key), value) = (words.next(), words.next()) else {
        show_options(w, id);
        return;
    };
    let Some(value) = value else {
        w.msg(
            id,
            "Usage: options <width|height|colour|encoding|screenreader|client> <value>",
        );
        return;
    };
    let mut flags = Map::new();
    match key.to_ascii_lowercase().as_str() {
        "width" | "screenwidth" | "height" | "screenheight" => {
            let Ok(n) = value.parse::<u16>() else {
                w.msg(id, "The size must be a number from 1 to 65535.");
                return;
            };
            if n == 0 {
                w.msg(id, "The size must be a number from 1 to 65535.");
                return;
            }
            let k = if key.starts_with('w') || key.starts_with("screenw") {
                flag::SCREENWIDTH
            } else {
                flag::SCREENHEIGHT
            };
            flags.insert(k.into(), Value::from(n));
        }
        "colour" | "color" => {
            let (nocolor, ansi, x256, truec) = match value.to_ascii_lowercase().as_str() {
                "none" | "off" => (true, false, false, false),
                "ansi" | "16" => (false, true, false, false),
                "xterm256" | "256" => (false, true, true, false),
                "truecolour" | "truecolor" | "24bit" => (false, true, true, true),
                _ => {
                    w.msg(id, "Colour is one of: none, ansi, xterm256, truecolour.");
                    return;
                }
            };
            flags.insert(flag::NOCOLOR.into(), Value::Bool(nocolor));
            flags.insert(flag::ANSI.into(), Value::Bool(ansi));
            flags.insert(flag::XTERM256.into(), Value::Bool(x256));
            flags.insert(flag::TRUECOLOR.into(), Value::Bool(truec));
        }
        "encoding" => {
            let enc = match value.to_ascii_lowercase().as_str() {
                "utf-8" | "utf8" => "utf-8",
                "latin-1" | "latin1" | "iso-8859-1" => "latin-1",
                _ => {
                    w.msg(id, "Encoding is one of: utf-8, latin-1.");
                    return;
                }
            };
            flags.insert(flag::ENCODING.into(), Value::from(enc));
            flags.insert(flag::UTF8.into(), Value::Bool(enc == "utf-8"));
        }
        "screenreader" | "reader" => {
            let on = matches!(
                value.to_ascii_lowercase().as_str(),
                "on" | "yes" | "true" | "1"
            );
            flags.insert(flag::SCREENREADER.into(), Value::Bool(on));
        }
        "client" | "clientname" => {
            flags.insert(
                flag::CLIENTNAME.into(),
                Value::from(markup::strip(value).chars().take(40).collect::<String>()),
            );
        }
        other => {
            w.msg(
                id,
                format!(
                    "No option called {}. Options: width, height, colour, encoding, screenreader, client.",
                    markup::escape(other)
                ),
            );
            return;
        }
    }
    w.set_flags(id, flags);
    w.msg(id, "Option set.");
    show_options(w, id);
}

fn show_options(w: &mut Effects, id: SessionId) {
    let Some(s) = w.session(id) else { return };
    let caps = ClientCaps::from_flags(&s.data.protocol_flags);
    let colour = caps.colour.name();
    let encrypted = s.flag_bool(flag::SSL);
    let text = format!(
        "|wYour options|n\n  protocol  {} ({})\n  client    {}\n  terminal  {}\n  width     {}\n  height    {}\n  colour    {}\n  encoding  {}\n  screen reader {}",
        s.data.protocol_key,
        if encrypted {
            "encrypted"
        } else {
            "not encrypted"
        },
        markup::escape(s.flag_str(flag::CLIENTNAME).unwrap_or("unknown")),
        markup::escape(s.flag_str(flag::TERM).unwrap_or("unknown")),
        s.flag_u64(flag::SCREENWIDTH).unwrap_or(80),
        s.flag_u64(flag::SCREENHEIGHT).unwrap_or(24),
        colour,
        s.flag_str(flag::ENCODING).unwrap_or("utf-8"),
        if caps.screen_reader { "yes" } else { "no" },
    );
    // Every protocol flag the session has, as negotiated (and set here).
    let mut all: Vec<String> = s
        .data
        .protocol_flags
        .iter()
        .map(|(k, v)| match v {
            Value::String(t) => format!("{k}={}", markup::escape(t)),
            other => format!("{k}={}", markup::escape(&other.to_string())),
        })
        .collect();
    all.sort();
    let text = format!("{text}\n  flags     {}", all.join(" "));
    w.msg(id, text);
}

fn password(w: &mut Effects, id: SessionId, rest: &str) {
    let mut words = rest.split_whitespace();
    let (Some(old), Some(new), None) = (words.next(), words.next(), words.next()) else {
        w.msg(
            id,
            "Usage: password <old> <new>  (passwords without spaces here)",
        );
        return;
    };
    let name = w.name(id);
    w.start_job(
        id,
        Job::ChangePassword {
            name,
            old: old.into(),
            new: new.into(),
        },
    );
}

fn sshkey(w: &mut Effects, id: SessionId, rest: &str) {
    let name = w.name(id);
    let (sub, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let arg = arg.trim();
    let job = match sub.to_ascii_lowercase().as_str() {
        "add" if !arg.is_empty() => Job::AddKey {
            name,
            line: arg.to_string(),
        },
        "list" | "" => Job::ListKeys { name },
        "remove" | "delete" if !arg.is_empty() => Job::RemoveKey {
            name,
            fingerprint: arg.to_string(),
        },
        _ => {
            w.msg(
                id,
                "Usage: sshkey add <ssh-ed25519 AAAA... comment> | sshkey list | sshkey remove <SHA256:...>",
            );
            return;
        }
    };
    w.start_job(id, job);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_shows_the_colour_codes_themselves() {
        let shown = crate::codec::markup::strip(HELP);
        assert!(
            shown.contains("Colour: |r red, |g green,") && shown.contains("|n normal."),
            "{shown}"
        );
    }

    #[test]
    fn commands_split() {
        assert_eq!(split_command("'hello there"), ("'".into(), "hello there"));
        assert_eq!(split_command(":waves"), (":".into(), "waves"));
        assert_eq!(split_command("SAY hi"), ("say".into(), "hi"));
        assert_eq!(split_command("who"), ("who".into(), ""));
    }
}
