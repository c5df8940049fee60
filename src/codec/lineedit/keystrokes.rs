//! Incremental decoder from raw terminal bytes to editor [`Key`]s.
//!
//! Owns all byte-level parsing state: the escape-sequence state machine
//! (ESC, CSI, SS3), the partial UTF-8 character, and the "previous byte was
//! CR" flag used to count CR LF / CR NUL as one Enter. Any byte sequence may
//! be split across [`Decoder::push`] calls at any point.
//!
//! Invariants:
//! - Bytes that belong to an escape sequence are never turned into
//!   [`Key::Char`]; unknown or malformed sequences are swallowed. A C0
//!   control byte (or a non-ASCII byte) inside a sequence aborts it and is
//!   then decoded normally, so a broken sequence cannot swallow Enter.
//! - Invalid UTF-8 is never dropped silently: each maximal invalid subpart
//!   yields one `Key::Char('\u{FFFD}')`.
//! - `Key::Char` never carries a control character (C0, DEL or C1).
//! - Memory is bounded: CSI parameters beyond [`MAX_PARAMS`] bytes are not
//!   stored and make the sequence count as unknown.

/// Longest CSI/SS3 parameter string that is remembered.
const MAX_PARAMS: usize = 16;

/// A decoded keystroke / editing command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// A printable character (never a control character).
    Char(char),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    WordLeft,
    WordRight,
    KillWordBack,
    KillWordForward,
    KillToStart,
    KillToEnd,
    ClearScreen,
    Interrupt,
    /// Ctrl-D: EOF on an empty line, delete-under-cursor otherwise.
    CtrlD,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    Esc,
    Csi,
    Ss3,
}

/// Byte-to-key decoder; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    state: State,
    params: [u8; MAX_PARAMS],
    params_len: usize,
    params_overflow: bool,
    utf8: [u8; 4],
    utf8_len: usize,
    utf8_need: usize,
    /// Discard the next decoded character (it followed an ESC: Alt+char).
    skip_char: bool,
    after_cr: bool,
}

impl Decoder {
    pub(crate) fn new() -> Self {
        Decoder {
            state: State::Ground,
            params: [0; MAX_PARAMS],
            params_len: 0,
            params_overflow: false,
            utf8: [0; 4],
            utf8_len: 0,
            utf8_need: 0,
            skip_char: false,
            after_cr: false,
        }
    }

    /// Decodes one byte, appending zero or more keys to `keys`.
    pub(crate) fn push(&mut self, b: u8, keys: &mut Vec<Key>) {
        if self.after_cr {
            self.after_cr = false;
            if b == b'\n' || b == 0 {
                return;
            }
        }
        if self.utf8_len > 0 {
            if self.continuation_ok(b) {
                if let Some(slot) = self.utf8.get_mut(self.utf8_len) {
                    *slot = b;
                }
                self.utf8_len += 1;
                if self.utf8_len >= self.utf8_need {
                    let len = self.utf8_len;
                    self.utf8_len = 0;
                    let c = self
                        .utf8
                        .get(..len)
                        .and_then(|bytes| std::str::from_utf8(bytes).ok())
                        .and_then(|s| s.chars().next())
                        .unwrap_or('\u{FFFD}');
                    self.emit_char(c, keys);
                }
                return;
            }
            // Truncated sequence: one replacement, then decode `b` afresh.
            self.utf8_len = 0;
            self.emit_char('\u{FFFD}', keys);
        }
        match self.state {
            State::Ground => self.ground(b, keys),
            State::Esc => self.esc(b, keys),
            State::Csi => self.csi(b, keys),
            State::Ss3 => self.ss3(b, keys),
        }
    }

    fn continuation_ok(&self, b: u8) -> bool {
        let (lo, hi) = if self.utf8_len == 1 {
            match self.utf8[0] {
                0xE0 => (0xA0, 0xBF),
                0xED => (0x80, 0x9F),
                0xF0 => (0x90, 0xBF),
                0xF4 => (0x80, 0x8F),
                _ => (0x80, 0xBF),
            }
        } else {
            (0x80, 0xBF)
        };
        (lo..=hi).contains(&b)
    }

    fn emit_char(&mut self, c: char, keys: &mut Vec<Key>) {
        if self.skip_char {
            self.skip_char = false;
            return;
        }
        if !c.is_control() {
            keys.push(Key::Char(c));
        }
    }

    fn ground(&mut self, b: u8, keys: &mut Vec<Key>) {
        let key = match b {
            b'\r' => {
                self.after_cr = true;
                Key::Enter
            }
            b'\n' => Key::Enter,
            0x01 => Key::Home,
            0x02 => Key::Left,
            0x03 => Key::Interrupt,
            0x04 => Key::CtrlD,
            0x05 => Key::End,
            0x06 => Key::Right,
            0x08 | 0x7F => Key::Backspace,
            0x0B => Key::KillToEnd,
            0x0C => Key::ClearScreen,
            0x0E => Key::Down,
            0x10 => Key::Up,
            0x15 => Key::KillToStart,
            0x17 => Key::KillWordBack,
            0x1B => {
                self.state = State::Esc;
                return;
            }
            0x20..=0x7E => Key::Char(char::from(b)),
            0x80..=0xFF => {
                self.utf8_start(b, keys);
                return;
            }
            // Tab and every other control byte: ignored.
            _ => return,
        };
        keys.push(key);
    }

    fn utf8_start(&mut self, b: u8, keys: &mut Vec<Key>) {
        let need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        if need == 0 {
            self.emit_char('\u{FFFD}', keys);
        } else {
            self.utf8[0] = b;
            self.utf8_len = 1;
            self.utf8_need = need;
        }
    }

    fn esc(&mut self, b: u8, keys: &mut Vec<Key>) {
        self.state = State::Ground;
        match b {
            b'[' => self.begin_params(State::Csi),
            b'O' => self.begin_params(State::Ss3),
            0x1B => self.state = State::Esc,
            b'b' | b'B' => keys.push(Key::WordLeft),
            b'f' | b'F' => keys.push(Key::WordRight),
            b'd' | b'D' => keys.push(Key::KillWordForward),
            0x7F | 0x08 => keys.push(Key::KillWordBack),
            // A lone ESC followed by a control byte: drop the ESC only.
            0x00..=0x1F => self.ground(b, keys),
            // Alt + non-ASCII character: swallow that whole character.
            0x80..=0xFF => {
                self.skip_char = true;
                self.ground(b, keys);
            }
            // Alt + other printable: unbound, swallowed.
            _ => {}
        }
    }

    fn begin_params(&mut self, state: State) {
        self.state = state;
        self.params_len = 0;
        self.params_overflow = false;
    }

    fn push_param(&mut self, b: u8) {
        match self.params.get_mut(self.params_len) {
            Some(slot) => {
                *slot = b;
                self.params_len += 1;
            }
            None => self.params_overflow = true,
        }
    }

    /// The stored parameter bytes, or `None` when they overflowed.
    fn params(&self) -> Option<&[u8]> {
        if self.params_overflow {
            None
        } else {
            self.params.get(..self.params_len)
        }
    }

    fn csi(&mut self, b: u8, keys: &mut Vec<Key>) {
        match b {
            0x20..=0x3F => self.push_param(b),
            0x40..=0x7E => {
                self.state = State::Ground;
                let key = match (self.params(), b) {
                    (Some(b""), b'A') => Some(Key::Up),
                    (Some(b""), b'B') => Some(Key::Down),
                    (Some(b""), b'C') => Some(Key::Right),
                    (Some(b""), b'D') => Some(Key::Left),
                    (Some(b""), b'H') => Some(Key::Home),
                    (Some(b""), b'F') => Some(Key::End),
                    (Some(b"1" | b"7"), b'~') => Some(Key::Home),
                    (Some(b"4" | b"8"), b'~') => Some(Key::End),
                    (Some(b"3"), b'~') => Some(Key::Delete),
                    // Everything else (modified keys, F-keys, bracketed
                    // paste markers 200~/201~, reports): swallowed.
                    _ => None,
                };
                keys.extend(key);
            }
            _ => {
                self.state = State::Ground;
                self.ground(b, keys);
            }
        }
    }

    fn ss3(&mut self, b: u8, keys: &mut Vec<Key>) {
        match b {
            0x20..=0x3F => self.push_param(b),
            0x40..=0x7E => {
                self.state = State::Ground;
                if self.params() != Some(b"") {
                    return;
                }
                let key = match b {
                    b'A' => Some(Key::Up),
                    b'B' => Some(Key::Down),
                    b'C' => Some(Key::Right),
                    b'D' => Some(Key::Left),
                    b'H' => Some(Key::Home),
                    b'F' => Some(Key::End),
                    b'M' => Some(Key::Enter),
                    _ => None,
                };
                keys.extend(key);
            }
            _ => {
                self.state = State::Ground;
                self.ground(b, keys);
            }
        }
    }
}
