//! Standard out-of-band input (Evennia's inputfuncs) handled by the server for every App:
//! GMCP `Core.Ping`, `Core.Hello`, `Core.Supports.*`, and the MSDP commands LIST, SEND,
//! REPORT, UNREPORT and RESET over a few server variables.
//!
//! Messages arrive already decoded by the portal (`Core.Ping` is `ping`, MSDP `REPORT` is
//! `msdp_report`); replies are ordinary `data_out` messages that the portal sends as GMCP or
//! MSDP, whichever the client speaks. Reported variables are kept in the session's
//! server_data, so reporting survives a reload.

use super::registry::Effects;
use crate::shared::message::Message;
use crate::shared::session::{SessionId, now_unix};
use serde_json::Value;

/// server_data key: MSDP variables the client asked to have reported.
const REPORTED: &str = "msdp_reported";

/// MSDP variables the server can send and report.
const VARIABLES: &[&str] = &["SERVER_ID", "SERVER_TIME", "PLAYERS", "ACCOUNT_NAME"];

/// Handles a standard out-of-band message; false if it is not one (the App gets it).
pub fn handle(w: &mut Effects, id: SessionId, world_name: &str, m: &Message) -> bool {
    match m.name.as_str() {
        "ping" => {
            let mut reply = Message::new("ping");
            reply.args = m.args.clone();
            w.data_out(id, vec![reply]);
        }
        // The portal has already taken the client's name and version into protocol_flags.
        "hello" | "supports_set" | "supports_add" | "supports_remove" => {}
        "msdp_list" => {
            for what in strings(m) {
                let items: &[&str] = match what.as_str() {
                    "COMMANDS" => &["LIST", "REPORT", "RESET", "SEND", "UNREPORT"],
                    "LISTS" => &[
                        "COMMANDS",
                        "LISTS",
                        "REPORTABLE_VARIABLES",
                        "SENDABLE_VARIABLES",
                        "CONFIGURABLE_VARIABLES",
                        "REPORTED_VARIABLES",
                    ],
                    "REPORTABLE_VARIABLES" | "SENDABLE_VARIABLES" => VARIABLES,
                    "REPORTED_VARIABLES" => {
                        let reported = reported(w, id);
                        w.data_out(id, vec![list(&what, &reported)]);
                        continue;
                    }
                    _ => &[],
                };
                let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
                w.data_out(id, vec![list(&what, &items)]);
            }
        }
        "msdp_send" => {
            let values: Vec<Message> = strings(m)
                .iter()
                .filter_map(|v| value(w, id, world_name, v))
                .collect();
            if !values.is_empty() {
                w.data_out(id, values);
            }
        }
        "msdp_report" => {
            let mut r = reported(w, id);
            let mut now = Vec::new();
            for v in strings(m) {
                if VARIABLES.contains(&v.as_str()) && !r.contains(&v) {
                    r.push(v.clone());
                }
                now.extend(value(w, id, world_name, &v));
            }
            set_reported(w, id, r);
            if !now.is_empty() {
                w.data_out(id, now);
            }
        }
        "msdp_unreport" => {
            let drop = strings(m);
            let r = reported(w, id)
                .into_iter()
                .filter(|v| !drop.contains(v))
                .collect();
            set_reported(w, id, r);
        }
        "msdp_reset" => set_reported(w, id, Vec::new()),
        _ => return false,
    }
    true
}

/// Sends PLAYERS to every session that asked for it to be reported (on login and logout).
pub fn report_players(w: &mut Effects, world_name: &str) {
    let ids: Vec<SessionId> = w
        .sessions
        .iter()
        .filter(|s| {
            s.session
                .data
                .server_data
                .get(REPORTED)
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("PLAYERS")))
        })
        .map(|s| s.session.data.id)
        .collect();
    for id in ids {
        if let Some(m) = value(w, id, world_name, "PLAYERS") {
            w.data_out(id, vec![m]);
        }
    }
}

/// The message's arguments as upper-case strings (MSDP names).
fn strings(m: &Message) -> Vec<String> {
    m.args
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_ascii_uppercase)
        .collect()
}

/// A list answer: one array argument, so that MSDP sends an ARRAY (and GMCP a JSON list)
/// whatever the number of items.
fn list(name: &str, items: &[String]) -> Message {
    let mut m = Message::new(name);
    m.args = vec![Value::Array(
        items.iter().map(|s| Value::from(s.as_str())).collect(),
    )];
    m
}

fn value(w: &Effects, id: SessionId, world_name: &str, var: &str) -> Option<Message> {
    let v = match var {
        "SERVER_ID" => Value::from(world_name),
        "SERVER_TIME" => Value::from(now_unix() as u64),
        "PLAYERS" => Value::from(w.online().count()),
        "ACCOUNT_NAME" => Value::from(w.session(id)?.data.account_name.clone()?),
        _ => return None,
    };
    let mut m = Message::new(var);
    m.args.push(v);
    Some(m)
}

fn reported(w: &Effects, id: SessionId) -> Vec<String> {
    w.session(id)
        .and_then(|s| s.data.server_data.get(REPORTED))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn set_reported(w: &mut Effects, id: SessionId, vars: Vec<String>) {
    w.set_server_data(
        id,
        REPORTED,
        Value::Array(vars.into_iter().map(Value::from).collect()),
    );
}
