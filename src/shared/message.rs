//! Messages that cross between a player's protocol and the engine: Evennia's
//! `cmdname: (args, kwargs)`.
//!
//! Every front end turns what a player sends into `data_in` messages of this shape and renders
//! `data_out` messages of this shape, so the server never knows which protocol a player used.
//! The names are data (as Evennia's inputfuncs are), not an enum: a game may add its own.
//! On the wire a message is the JSON array `[name, [args…], {kwargs…}]`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One `name: (args, kwargs)` message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "(String, Vec<Value>, Map<String, Value>)")]
#[serde(into = "(String, Vec<Value>, Map<String, Value>)")]
pub struct Message {
    /// `text` for a line the player typed or output to show, `prompt`, or an out-of-band name.
    pub name: String,
    /// Positional arguments; for `text` and `prompt` the first is the string.
    pub args: Vec<Value>,
    /// Keyword options, e.g. `{"echo": false}` on a password prompt.
    pub kwargs: Map<String, Value>,
}

impl From<(String, Vec<Value>, Map<String, Value>)> for Message {
    fn from((name, args, kwargs): (String, Vec<Value>, Map<String, Value>)) -> Self {
        Message { name, args, kwargs }
    }
}

impl From<Message> for (String, Vec<Value>, Map<String, Value>) {
    fn from(m: Message) -> Self {
        (m.name, m.args, m.kwargs)
    }
}

/// About how many bytes `v` takes as JSON (strings by their length, a few bytes for the
/// rest): cheap, for bounding what is held, not for framing.
pub fn approx_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(|i| approx_bytes(i) + 1).sum::<usize>(),
        Value::Object(m) => {
            2 + m
                .iter()
                .map(|(k, v)| k.len() + 4 + approx_bytes(v))
                .sum::<usize>()
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
    }
}

impl Message {
    /// About how many bytes the message takes (see [`approx_bytes`]).
    pub fn approx_bytes(&self) -> usize {
        self.name.len()
            + 8
            + self.args.iter().map(approx_bytes).sum::<usize>()
            + self
                .kwargs
                .iter()
                .map(|(k, v)| k.len() + 4 + approx_bytes(v))
                .sum::<usize>()
    }

    /// A message with a name and no arguments.
    pub fn new(name: impl Into<String>) -> Self {
        Message {
            name: name.into(),
            args: Vec::new(),
            kwargs: Map::new(),
        }
    }

    /// `text` with one string: a line typed (player → server) or shown (server → player).
    pub fn text(s: impl Into<String>) -> Self {
        let mut m = Message::new("text");
        m.args.push(Value::String(s.into()));
        m
    }

    /// `prompt` with one string: shown without a line break, ended with GA/EOR on telnet.
    pub fn prompt(s: impl Into<String>) -> Self {
        let mut m = Message::new("prompt");
        m.args.push(Value::String(s.into()));
        m
    }

    /// Adds a keyword option.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.kwargs.insert(key.to_string(), value.into());
        self
    }

    /// The first argument as a string, if it is one.
    pub fn first_str(&self) -> Option<&str> {
        self.args.first().and_then(Value::as_str)
    }

    /// The `echo` option: `Some(false)` asks the front end to hide what the player types.
    pub fn echo(&self) -> Option<bool> {
        self.kwargs.get("echo").and_then(Value::as_bool)
    }

    /// The `raw` option: the text is shown as it is, without markup (a game's own text in
    /// gateway mode, with its own colour codes).
    pub fn raw(&self) -> bool {
        self.kwargs
            .get("raw")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// What the message asks of a front end (its name, read once here).
    pub fn kind(&self) -> Kind {
        match self.name.as_str() {
            "text" => Kind::Text,
            "prompt" => Kind::Prompt,
            _ => Kind::OutOfBand,
        }
    }

    /// The string arguments: the lines of a `text`.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.args.iter().filter_map(Value::as_str)
    }
}

/// What a message asks of a front end, so that no front end dispatches on names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Lines of text to show (`text`: each string argument is a line).
    Text,
    /// A prompt, shown without a line break (`prompt`).
    Prompt,
    /// Anything else: out-of-band data (GMCP, MSDP, the web page's own), passed on where the
    /// client speaks it.
    OutOfBand,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_evennias_triple() {
        let m = Message::text("hello").with("echo", false);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"["text",["hello"],{"echo":false}]"#);
        let back: Message = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.echo(), Some(false));
        assert_eq!(back.first_str(), Some("hello"));
    }
}
