//! What a page sends, whichever transport carries it: messages parsed from
//! `[name, [args…], {kwargs…}]`, lines of `text` cut and cleaned as every front end does
//! (through the session's port), the page's `hello` as protocol_flags, other names passed on as
//! out-of-band input, and anything malformed refused with an `error` to the page.

use super::session::{PageControl, WebSession};
use crate::codec::markup;
use crate::shared::message::Message;
use crate::shared::session::flag;
use serde_json::{Map, Value};

/// Longest out-of-band message name accepted from a browser.
const MAX_NAME: usize = 64;

/// What a page sent, by what it asks of the web front end: its own control messages (`hello`,
/// `ack`) are typed here, apart from what goes to the game.
#[derive(Debug, Clone, PartialEq)]
pub enum FromPage {
    /// Lines the player typed (`text`).
    Text(Message),
    /// What the page knows about itself (`hello`), as protocol_flags.
    Hello(Map<String, Value>),
    /// The page has every message up to this number (`ack`, over a WebSocket); `None` when
    /// the page gave no number.
    Ack(Option<u64>),
    /// Out-of-band input for the game (any other well-formed name).
    Oob(Message),
    /// Something the page may not send, and why.
    Refused(&'static str),
}

impl From<Message> for FromPage {
    fn from(m: Message) -> Self {
        match m.name.as_str() {
            "text" => FromPage::Text(m),
            "hello" => FromPage::Hello(hello_flags(&m.kwargs)),
            "ack" => FromPage::Ack(m.args.first().and_then(Value::as_u64)),
            name if name.is_empty()
                || name.len() > MAX_NAME
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) =>
            {
                FromPage::Refused("message names are letters, digits, '.', '_' or '-'")
            }
            _ => FromPage::Oob(m),
        }
    }
}

impl FromPage {
    /// Whether the page numbers it among its input (all but `hello`), to send again what the
    /// portal missed.
    pub fn is_numbered(&self) -> bool {
        !matches!(self, FromPage::Hello(_))
    }
}

/// Takes what a browser sent: lines of `text` go to the core one by one (cut to
/// `max_line_length` and cleaned of control characters, as telnet lines are), `hello`
/// sets protocol_flags, out-of-band names pass to the server.
pub async fn data_in(session: &WebSession, messages: Vec<FromPage>) {
    let input = &session.input;
    for m in messages {
        match m {
            FromPage::Text(m) => {
                for arg in &m.args {
                    let Some(text) = arg.as_str() else {
                        refuse(session, "text arguments must be strings");
                        continue;
                    };
                    // "look\n" is one line, not "look" and an empty one.
                    let text = text.strip_suffix('\n').unwrap_or(text);
                    for line in text.split('\n') {
                        let line = line.strip_suffix('\r').unwrap_or(line);
                        let (line, notice) = input.cut(line);
                        if let Some(notice) = notice {
                            session.push_msg(Message::text(notice));
                        }
                        // Each line is input work, however many one message carries.
                        input.pace(line.len(), 1).await;
                        if input.line(line).await.is_err() {
                            return;
                        }
                    }
                }
            }
            FromPage::Hello(mut flags) => {
                input.pace(0, 1).await;
                crate::portal::port::bound(&mut flags);
                session.merge_flags(&flags);
                let _ = input.flags(flags).await;
            }
            // Long-poll answers are acknowledged in a header; an `ack` here means nothing.
            FromPage::Ack(_) => tracing::debug!("ack outside a websocket ignored"),
            FromPage::Refused(why) => refuse(session, why),
            FromPage::Oob(m) => {
                input.pace(m.approx_bytes(), 1).await;
                if input.oob(m).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Tells the page that something it sent was refused.
pub fn refuse(session: &WebSession, why: &str) {
    tracing::info!(%why, "bad message from browser");
    session.push_msg(PageControl::Error(format!("bad message: {why}")).message());
}

/// protocol_flags from the page's `hello`: its name, its size in characters, whether a
/// screen reader is in use.
fn hello_flags(kwargs: &Map<String, Value>) -> Map<String, Value> {
    let mut flags = Map::new();
    if let Some(name) = kwargs.get("client").and_then(Value::as_str) {
        let name: String = markup::sanitize_input(name).chars().take(64).collect();
        if !name.is_empty() {
            let version = kwargs.get("version").and_then(Value::as_str).map(|v| {
                markup::sanitize_input(v)
                    .chars()
                    .take(32)
                    .collect::<String>()
            });
            flags.insert(flag::CLIENTNAME.into(), Value::from(name));
            if let Some(v) = version.filter(|v| !v.is_empty()) {
                flags.insert(flag::CLIENTVERSION.into(), Value::from(v));
            }
        }
    }
    for (key, name) in [("width", flag::SCREENWIDTH), ("height", flag::SCREENHEIGHT)] {
        if let Some(n) = kwargs.get(key).and_then(Value::as_u64)
            && (1..=1000).contains(&n)
        {
            flags.insert(name.into(), Value::from(n));
        }
    }
    if let Some(b) = kwargs.get("screenreader").and_then(Value::as_bool) {
        flags.insert(flag::SCREENREADER.into(), Value::Bool(b));
    }
    flags
}

/// Parses one message `[name, [args…], {kwargs…}]` (args and kwargs may be left out).
pub fn parse_message(value: Value) -> Result<Message, &'static str> {
    const SHAPE: &str = "expected [name, [args…], {kwargs…}]";
    let Value::Array(mut parts) = value else {
        return Err(SHAPE);
    };
    if parts.is_empty() || parts.len() > 3 {
        return Err(SHAPE);
    }
    let kwargs = match parts.len() {
        3 => match parts.pop() {
            Some(Value::Object(m)) => m,
            Some(Value::Null) => Map::new(),
            _ => return Err(SHAPE),
        },
        _ => Map::new(),
    };
    let args = match parts.len() {
        2 => match parts.pop() {
            Some(Value::Array(a)) => a,
            Some(Value::Null) => Vec::new(),
            Some(other) => vec![other],
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    let Some(Value::String(name)) = parts.pop() else {
        return Err(SHAPE);
    };
    Ok(Message { name, args, kwargs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::core::CoreEvent;
    use crate::portal::web::session;
    use crate::shared::config::Limits;
    use serde_json::json;
    use tokio::sync::mpsc;

    #[test]
    fn messages_parse_in_every_accepted_shape() {
        let m = parse_message(json!(["text", ["look"], {}])).unwrap();
        assert_eq!(m, Message::text("look"));
        let m = parse_message(json!(["text", "look"])).unwrap();
        assert_eq!(m, Message::text("look"));
        let m = parse_message(json!(["ping"])).unwrap();
        assert_eq!(m, Message::new("ping"));
        for bad in [
            json!({"text": "look"}),
            json!([]),
            json!([1, [], {}]),
            json!(["a", [], {}, 4]),
            json!(["a", [], 5]),
        ] {
            assert!(parse_message(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_pages_own_messages_are_typed_apart_from_the_games() {
        let page = |v| FromPage::from(parse_message(v).unwrap());
        assert_eq!(page(json!(["ack", [7]])), FromPage::Ack(Some(7)));
        assert_eq!(page(json!(["ack", ["x"]])), FromPage::Ack(None));
        assert!(
            matches!(page(json!(["hello", [], {"width": 90}])), FromPage::Hello(f) if f["SCREENWIDTH"] == 90)
        );
        assert!(matches!(page(json!(["text", ["look"]])), FromPage::Text(_)));
        assert!(matches!(page(json!(["Core.Ping"])), FromPage::Oob(_)));
        assert!(matches!(page(json!(["bad name"])), FromPage::Refused(_)));
        assert!(!page(json!(["hello"])).is_numbered());
        assert!(page(json!(["ack", [1]])).is_numbered());
    }

    #[test]
    fn hello_sets_only_sane_flags() {
        let kwargs = json!({"client": "Portcullis web\u{1b}[31m", "version": "1", "width": 100,
            "height": 0, "screenreader": true});
        let flags = hello_flags(kwargs.as_object().unwrap());
        assert_eq!(flags["CLIENTNAME"], "Portcullis web[31m");
        assert_eq!(flags["CLIENTVERSION"], "1");
        assert_eq!(flags["SCREENWIDTH"], 100);
        assert!(!flags.contains_key("SCREENHEIGHT"));
        assert_eq!(flags["SCREENREADER"], true);
    }

    #[tokio::test]
    async fn each_line_typed_is_one_data_in_cut_and_cleaned() {
        let (tx, mut rx) = mpsc::channel(16);
        let limits = Limits {
            max_line_length: 64,
            ..Limits::default()
        };
        let session = session::tests::session_to(
            1 << 20,
            crate::portal::port::PortInput::for_test(1, tx.clone(), limits.max_line_length),
        );
        let long = "x".repeat(100);
        let msgs = vec![
            Message::text("look\r\n"),
            Message::text("say a\nsay b"),
            Message::text(format!("say {long}")),
            Message::text("say \u{1b}[31mred"),
        ];
        data_in(&session, msgs.into_iter().map(FromPage::from).collect()).await;
        drop(tx);
        let mut lines = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            if let CoreEvent::DataIn { messages, .. } = ev {
                lines.push(messages[0].first_str().unwrap_or_default().to_string());
            }
        }
        assert_eq!(
            lines,
            [
                "look",
                "say a",
                "say b",
                &format!("say {}", &long[..60]),
                "say [31mred"
            ]
        );
        let attached = session.attach();
        let told = session.take(attached.generation).frames;
        assert_eq!(told.len(), 1, "one notice for the cut line");
        assert!(told[0].json.contains("longer than 64 bytes"));
    }
}
