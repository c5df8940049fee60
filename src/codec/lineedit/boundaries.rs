//! Buffer navigation for the line editor: cluster and word boundaries, as byte offsets on
//! char boundaries. A cluster is a base character plus the zero-width characters after it;
//! every function returns `pos` itself when there is nowhere to go, and never panics on an
//! offset that is not a char boundary.

use super::width::char_width;

/// Start of the cluster (base character plus following zero-width
/// characters) that ends at `pos`; `pos` itself when at the start.
pub(super) fn prev_cluster(s: &str, pos: usize) -> usize {
    let mut p = pos;
    while let Some(c) = s.get(..p).and_then(|h| h.chars().next_back()) {
        p -= c.len_utf8();
        if char_width(c) != 0 {
            break;
        }
    }
    p
}

/// End of the cluster that starts at `pos`; `pos` itself at the end.
pub(super) fn next_cluster(s: &str, pos: usize) -> usize {
    let Some(rest) = s.get(pos..) else {
        return pos;
    };
    let mut chars = rest.char_indices();
    let Some((_, first)) = chars.next() else {
        return pos;
    };
    let mut end = pos + first.len_utf8();
    for (i, c) in chars {
        if char_width(c) != 0 {
            break;
        }
        end = pos + i + c.len_utf8();
    }
    end
}

/// Start of the word before `pos`: skip whitespace, then non-whitespace.
pub(super) fn word_start(s: &str, pos: usize) -> usize {
    let Some(head) = s.get(..pos) else {
        return pos;
    };
    let mut p = pos;
    let mut in_word = false;
    for c in head.chars().rev() {
        if c.is_whitespace() {
            if in_word {
                break;
            }
        } else {
            in_word = true;
        }
        p -= c.len_utf8();
    }
    p
}

/// End of the word after `pos`: skip whitespace, then non-whitespace.
pub(super) fn word_end(s: &str, pos: usize) -> usize {
    let Some(tail) = s.get(pos..) else {
        return pos;
    };
    let mut p = pos;
    let mut in_word = false;
    for c in tail.chars() {
        if c.is_whitespace() {
            if in_word {
                break;
            }
        } else {
            in_word = true;
        }
        p += c.len_utf8();
    }
    p
}
