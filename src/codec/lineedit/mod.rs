//! Sans-IO line editor for SSH PTY sessions: raw keystroke bytes in,
//! [`EditEvent`]s and terminal bytes out.
//!
//! Owns the input buffer, cursor, history, hidden (password) mode, prompt and
//! the model of what the input row currently shows. Submodules: `keys`
//! (bytes → keys, escape sequences, UTF-8), `render` (views → bytes, prompt
//! sanitising), `width` (character display widths).
//!
//! Rendering model: the input occupies one terminal row and never wraps.
//! The row shows the prompt followed by a window of the input at most
//! `width - 1 - prompt width` columns wide (the last column is left free so
//! the cursor never sits in the auto-wrap position). When the whole input
//! fits, the window is the whole input and updates are incremental (echo,
//! `ESC[nD`/`ESC[nC` moves, rewrite of the changed tail plus `ESC[K`). When
//! it does not, the window scrolls horizontally to keep the cursor visible
//! (re-centring it when it leaves the window); the same incremental diff is
//! applied to the window contents. If the prompt leaves fewer than
//! min(10, usable/2) columns for the input it is not drawn while the input is
//! that long.
//!
//! Keys: printable UTF-8 inserts (invalid bytes become U+FFFD); Backspace
//! (0x7F, 0x08) and Delete (`ESC[3~`) remove one character cluster (a base
//! character with its combining marks); Left/Right (`ESC[D`/`ESC[C`,
//! `ESC O D/C`, Ctrl-B/Ctrl-F); Home/End (`ESC[H`/`ESC[F`, `ESC O H/F`,
//! `ESC[1~`/`ESC[4~`, `ESC[7~`/`ESC[8~`, Ctrl-A/Ctrl-E); Up/Down (`ESC[A`/
//! `ESC[B`, `ESC O A/B`, Ctrl-P/Ctrl-N) browse history; Ctrl-U, Ctrl-K,
//! Ctrl-W kill to start / to end / word before; Alt-b, Alt-f, Alt-d,
//! Alt-Backspace (ESC-prefixed) move or kill by word; Ctrl-L clears the
//! screen; Ctrl-C interrupts; Ctrl-D is EOF on an empty line, else Delete;
//! CR, LF, CR LF, CR NUL and keypad Enter (`ESC O M`) end the line. Tab and
//! all other control characters are ignored (Tab inserts nothing). Unknown
//! escape sequences, including modified keys such as `ESC[1;5C` and the
//! bracketed-paste markers, are swallowed. A lone ESC followed by a key is
//! read as Alt+key (there are no timeouts in a sans-IO editor).
//!
//! Invariants:
//! - `buf` is valid UTF-8 (it is a `String`) and `buf.len() <= max_line`.
//! - `cursor` is a char boundary of `buf`, `cursor <= buf.len()`.
//! - `shown` describes what is on the terminal row right now, except while
//!   `dirty` is set, when the buffer has changed and `flush` must run.
//! - In hidden mode nothing derived from `buf` is ever written (not even its
//!   length: the view is always empty), and no history is recorded.
//! - `history.len() <= max_history`; no two adjacent entries are equal; no
//!   entry is empty.

mod boundaries;
mod keystrokes;
mod render;
#[cfg(test)]
mod tests;
pub(crate) mod width;

use std::collections::VecDeque;

use boundaries::{next_cluster, prev_cluster, word_end, word_start};
use keystrokes::{Decoder, Key};
use render::View;
use width::{char_width, str_width};

/// Fewest input columns the prompt must leave free to be drawn (capped at
/// half the usable width).
const MIN_INPUT: usize = 10;
/// Default terminal width.
const DEFAULT_COLS: u16 = 80;

/// Something the caller must act on, produced by [`LineEditor::feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditEvent {
    /// Enter was pressed (CR, LF, CR LF or CR NUL count once): the completed
    /// line. The editor has already reset to an empty line and redrawn the
    /// prompt on the next row.
    Line(String),
    /// Ctrl-D on an empty line. Nothing was written; the editor is unchanged.
    Eof,
    /// Ctrl-C: the line was discarded, "^C" shown and the prompt redrawn on
    /// a new row.
    Interrupt,
    /// A keystroke would have made the line longer than `limit` bytes and was
    /// refused (a bell was written, at most one per `feed` call so a long
    /// paste rings once). Reported at most once per line.
    TooLong { limit: usize },
}

/// A single-row line editor; see the module docs.
#[derive(Debug, Clone)]
pub struct LineEditor {
    max_line: usize,
    max_history: usize,
    buf: String,
    cursor: usize,
    /// Byte offset of the first visible input character when scrolled.
    scroll: usize,
    prompt: String,
    prompt_w: usize,
    hidden: bool,
    cols: u16,
    history: VecDeque<String>,
    /// Index into `history` while browsing it; `None` at the bottom.
    hist_index: Option<usize>,
    /// The line being edited before history browsing started.
    scratch: String,
    too_long_reported: bool,
    decoder: Decoder,
    /// A bell was already written during the current `feed` call.
    belled: bool,
    shown: View,
    dirty: bool,
}

impl LineEditor {
    /// A new editor: empty prompt, width 80, visible mode, empty history.
    /// `max_line` bounds the line in bytes, `max_history` the number of
    /// remembered lines (0 disables history).
    pub fn new(max_line: usize, max_history: usize) -> Self {
        LineEditor {
            max_line,
            max_history,
            buf: String::new(),
            cursor: 0,
            scroll: 0,
            prompt: String::new(),
            prompt_w: 0,
            hidden: false,
            cols: DEFAULT_COLS,
            history: VecDeque::new(),
            hist_index: None,
            scratch: String::new(),
            too_long_reported: false,
            decoder: Decoder::new(),
            belled: false,
            shown: View {
                prompt_on: true,
                ..View::default()
            },
            dirty: false,
        }
    }

    /// Feeds raw bytes from the terminal; appends bytes to write to the
    /// terminal (echo, cursor movement, redraws) to `out` and completed
    /// events to `events`, in order.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, events: &mut Vec<EditEvent>) {
        self.belled = false;
        let mut keys = Vec::new();
        for &b in input {
            self.decoder.push(b, &mut keys);
        }
        for key in keys {
            self.apply(key, out, events);
        }
        self.flush(out);
    }

    /// Sets the prompt shown before the input (may be empty) and redraws the
    /// input row with it. Only printable characters and SGR colour sequences
    /// are kept; CR/LF, other controls and other escape sequences are removed.
    pub fn set_prompt(&mut self, prompt: &str, out: &mut Vec<u8>) {
        let (p, w) = render::sanitize_prompt(prompt);
        self.prompt = p;
        self.prompt_w = w;
        self.redraw_row(out);
    }

    /// Hidden mode for passwords: nothing typed is echoed, history is neither
    /// recorded nor browsable. Changing the mode discards the partially typed
    /// line (a half-typed password is never revealed, visible type-ahead
    /// never becomes part of a password); the screen catches up on the next
    /// output (keystroke, `set_prompt`, `print_above`, ...).
    pub fn set_hidden(&mut self, hidden: bool) {
        if self.hidden == hidden {
            return;
        }
        self.hidden = hidden;
        self.reset_line();
        self.dirty = true;
    }

    /// Writes `text` (terminal-ready, "\r\n" line breaks) above the input
    /// row: clears the row, writes the text, ends it with "\r\n" if it does
    /// not already, then redraws prompt and input with the cursor restored.
    /// Empty `text` writes nothing.
    pub fn print_above(&mut self, text: &str, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        out.extend_from_slice(b"\r");
        out.extend_from_slice(render::CLEAR_EOL);
        out.extend_from_slice(text.as_bytes());
        if !text.ends_with("\r\n") {
            if text.ends_with('\n') {
                out.extend_from_slice(b"\r");
            } else {
                out.extend_from_slice(b"\r\n");
            }
        }
        self.paint_fresh(out);
    }

    /// Sets the window width in columns (0 means unknown: 80; at least 2). Redraws the
    /// row if what it should show changed.
    pub fn set_width(&mut self, cols: u16, out: &mut Vec<u8>) {
        let cols = if cols == 0 { DEFAULT_COLS } else { cols.max(2) };
        if cols == self.cols {
            return;
        }
        self.cols = cols;
        let view = self.view();
        if view != self.shown || self.dirty {
            out.extend_from_slice(b"\r");
            render::paint(&self.prompt, &view, true, out);
            self.shown = view;
            self.dirty = false;
        }
    }

    /// The current input.
    pub fn buffer(&self) -> &str {
        &self.buf
    }

    // ----- key handling -------------------------------------------------

    fn apply(&mut self, key: Key, out: &mut Vec<u8>, events: &mut Vec<EditEvent>) {
        match key {
            Key::Char(c) => self.insert(c, out, events),
            Key::Enter => self.enter(out, events),
            Key::Backspace => {
                let start = prev_cluster(&self.buf, self.cursor);
                self.remove(start, self.cursor);
            }
            Key::Delete => self.delete_forward(),
            Key::CtrlD => {
                if self.buf.is_empty() {
                    events.push(EditEvent::Eof);
                } else {
                    self.delete_forward();
                }
            }
            Key::Left => self.move_to(prev_cluster(&self.buf, self.cursor)),
            Key::Right => self.move_to(next_cluster(&self.buf, self.cursor)),
            Key::Home => self.move_to(0),
            Key::End => self.move_to(self.buf.len()),
            Key::WordLeft => self.move_to(word_start(&self.buf, self.cursor)),
            Key::WordRight => self.move_to(word_end(&self.buf, self.cursor)),
            Key::KillWordBack => self.remove(word_start(&self.buf, self.cursor), self.cursor),
            Key::KillWordForward => self.remove(self.cursor, word_end(&self.buf, self.cursor)),
            Key::KillToStart => self.remove(0, self.cursor),
            Key::KillToEnd => self.remove(self.cursor, self.buf.len()),
            Key::Up => self.history_prev(),
            Key::Down => self.history_next(),
            Key::ClearScreen => {
                out.extend_from_slice(b"\x1b[H\x1b[2J");
                self.paint_fresh(out);
            }
            Key::Interrupt => self.interrupt(out, events),
        }
    }

    fn insert(&mut self, c: char, out: &mut Vec<u8>, events: &mut Vec<EditEvent>) {
        if self.buf.len() + c.len_utf8() > self.max_line {
            if !self.belled {
                self.belled = true;
                out.push(0x07);
            }
            if !self.too_long_reported {
                self.too_long_reported = true;
                events.push(EditEvent::TooLong {
                    limit: self.max_line,
                });
            }
            return;
        }
        if !self.buf.is_char_boundary(self.cursor) {
            return;
        }
        self.buf.insert(self.cursor, c);
        self.cursor += c.len_utf8();
        self.dirty = true;
    }

    fn delete_forward(&mut self) {
        let end = next_cluster(&self.buf, self.cursor);
        self.remove(self.cursor, end);
    }

    /// Removes `start..end` (ignored unless both are char boundaries and
    /// ordered) and leaves the cursor at `start`.
    fn remove(&mut self, start: usize, end: usize) {
        if start >= end || self.buf.get(start..end).is_none() {
            return;
        }
        self.buf.replace_range(start..end, "");
        self.cursor = start;
        self.dirty = true;
    }

    fn move_to(&mut self, pos: usize) {
        if pos != self.cursor && self.buf.is_char_boundary(pos) {
            self.cursor = pos;
            self.dirty = true;
        }
    }

    fn enter(&mut self, out: &mut Vec<u8>, events: &mut Vec<EditEvent>) {
        self.flush(out);
        out.extend_from_slice(b"\r\n");
        let line = std::mem::take(&mut self.buf);
        if !self.hidden && !line.is_empty() && self.max_history > 0 {
            if self.history.back() != Some(&line) {
                self.history.push_back(line.clone());
            }
            while self.history.len() > self.max_history {
                self.history.pop_front();
            }
        }
        self.reset_line();
        self.paint_fresh(out);
        events.push(EditEvent::Line(line));
    }

    fn interrupt(&mut self, out: &mut Vec<u8>, events: &mut Vec<EditEvent>) {
        self.flush(out);
        let end = str_width(&self.shown.text);
        render::move_cursor(self.shown.cursor_col, end, out);
        let abs = if self.shown.prompt_on {
            self.prompt_w
        } else {
            0
        } + end;
        if abs + 2 <= usize::from(self.cols) {
            out.extend_from_slice(b"^C");
        }
        out.extend_from_slice(b"\r\n");
        self.reset_line();
        self.paint_fresh(out);
        events.push(EditEvent::Interrupt);
    }

    fn history_prev(&mut self) {
        if self.hidden || self.history.is_empty() {
            return;
        }
        let idx = match self.hist_index {
            None => {
                self.scratch = self.buf.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.hist_index = Some(idx);
        let line = self.history.get(idx).cloned().unwrap_or_default();
        self.load(line);
    }

    fn history_next(&mut self) {
        if self.hidden {
            return;
        }
        let Some(i) = self.hist_index else {
            return;
        };
        if i + 1 < self.history.len() {
            self.hist_index = Some(i + 1);
            let line = self.history.get(i + 1).cloned().unwrap_or_default();
            self.load(line);
        } else {
            self.hist_index = None;
            let line = std::mem::take(&mut self.scratch);
            self.load(line);
        }
    }

    fn load(&mut self, line: String) {
        self.buf = line;
        self.cursor = self.buf.len();
        self.scroll = 0;
        self.dirty = true;
    }

    /// Forgets the current line (buffer, cursor, history browsing, TooLong).
    fn reset_line(&mut self) {
        self.buf.clear();
        self.cursor = 0;
        self.scroll = 0;
        self.hist_index = None;
        self.scratch.clear();
        self.too_long_reported = false;
    }

    // ----- rendering ----------------------------------------------------

    /// Brings the screen up to date with the buffer incrementally.
    fn flush(&mut self, out: &mut Vec<u8>) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let view = self.view();
        if view.prompt_on == self.shown.prompt_on {
            render::diff(&self.shown, &view, out);
        } else {
            out.extend_from_slice(b"\r");
            render::paint(&self.prompt, &view, true, out);
        }
        self.shown = view;
    }

    /// Redraws the whole row in place ("\r", prompt, input, clear to EOL).
    fn redraw_row(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r");
        let view = self.view();
        render::paint(&self.prompt, &view, true, out);
        self.shown = view;
        self.dirty = false;
    }

    /// Draws prompt and input on a row known to be empty, cursor at column 0.
    fn paint_fresh(&mut self, out: &mut Vec<u8>) {
        let view = self.view();
        render::paint(&self.prompt, &view, false, out);
        self.shown = view;
        self.dirty = false;
    }

    /// Computes what the row should show, adjusting the scroll offset.
    fn view(&mut self) -> View {
        let usable = usize::from(self.cols.max(2)) - 1;
        let input_w = if self.hidden { 0 } else { str_width(&self.buf) };
        let min_input = MIN_INPUT.min(usable / 2);
        let prompt_on = self.prompt_w + input_w.min(min_input) <= usable;
        if self.hidden {
            return View {
                prompt_on,
                text: String::new(),
                cursor_col: 0,
            };
        }
        let avail = if prompt_on {
            usable - self.prompt_w
        } else {
            usable
        };
        if input_w <= avail {
            self.scroll = 0;
        } else if self.needs_rescroll(avail) {
            self.scroll = self.recentre(avail);
        }
        let start = self.scroll;
        let rest = self.buf.get(start..).unwrap_or("");
        let mut end = 0;
        let mut w = 0;
        for (i, c) in rest.char_indices() {
            let cw = char_width(c);
            if w + cw > avail {
                break;
            }
            w += cw;
            end = i + c.len_utf8();
        }
        let before = self.buf.get(start..self.cursor).map(str_width).unwrap_or(0);
        // Zero-width characters with no base character in the window are not
        // drawn: the terminal would attach them to the prompt's last cell.
        let text = rest
            .get(..end)
            .unwrap_or("")
            .trim_start_matches(|c| char_width(c) == 0);
        View {
            prompt_on,
            text: text.to_string(),
            cursor_col: before,
        }
    }

    fn needs_rescroll(&self, avail: usize) -> bool {
        let s = self.scroll;
        if s > self.cursor || (s == self.cursor && s > 0) {
            return true;
        }
        match self.buf.get(s..self.cursor) {
            Some(seg) => str_width(seg) > avail,
            None => true,
        }
    }

    /// A scroll offset that puts the cursor about half-way into the window.
    fn recentre(&self, avail: usize) -> usize {
        let target = avail / 2;
        let mut start = self.cursor;
        while start > 0 {
            let prev = prev_cluster(&self.buf, start);
            let w = self.buf.get(prev..self.cursor).map(str_width).unwrap_or(0);
            if w > target || prev == start {
                break;
            }
            start = prev;
        }
        start
    }
}
