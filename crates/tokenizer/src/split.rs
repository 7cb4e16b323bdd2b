//! The GPT-2 pre-tokenizer split, by hand:
//!
//! ```text
//! 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! ```
//!
//! applied the way the library applies it (every match is a piece; the alternatives cover every
//! character, so nothing falls between matches), optionally after the `Digits` pre-tokenizer,
//! whose pieces are split again one by one (so a whitespace run before a digit ends its piece,
//! as the lookahead sees the end of the piece there, not the digit).

use crate::classes::{Classes, LETTER, NUMBER, NUMERIC, OTHER, SPACE};

/// How the `Digits` pre-tokenizer before the GPT-2 split cuts the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digits {
    /// No `Digits` step.
    None,
    /// `individual_digits: true`: every numeric character alone.
    Individual,
    /// `individual_digits: false`: runs of numeric characters together.
    Contiguous,
}

#[inline]
fn char_at(s: &str, i: usize) -> (char, usize) {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        return (b as char, 1);
    }
    let c = s[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
    (c, c.len_utf8())
}

#[inline]
fn is_numeric(classes: &Classes, c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        classes.flags(c) & NUMERIC != 0
    }
}

/// Calls `emit` with every piece of `text`, in order.
pub(crate) fn pieces(text: &str, digits: Digits, classes: &Classes, emit: &mut impl FnMut(&str)) {
    if digits == Digits::None {
        return gpt2(text, classes, emit);
    }
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        let (c, len) = char_at(text, i);
        if !is_numeric(classes, c) {
            i += len;
            continue;
        }
        if start < i {
            gpt2(&text[start..i], classes, emit);
        }
        let mut end = i + len;
        if digits == Digits::Contiguous {
            while end < text.len() {
                let (d, len) = char_at(text, end);
                if !is_numeric(classes, d) {
                    break;
                }
                end += len;
            }
        }
        gpt2(&text[i..end], classes, emit);
        start = end;
        i = end;
    }
    if start < text.len() {
        gpt2(&text[start..], classes, emit);
    }
}

/// `'s|'t|'re|'ve|'m|'ll|'d` after the apostrophe: the length matched.
#[inline]
fn contraction(rest: &[u8]) -> Option<usize> {
    match rest {
        [b's' | b't' | b'm' | b'd', ..] => Some(1),
        [b'r', b'e', ..] | [b'v', b'e', ..] | [b'l', b'l', ..] => Some(2),
        _ => None,
    }
}

/// The end of the run of characters of `class` starting at `from`.
#[inline]
fn run_end(s: &str, mut from: usize, class: u8, classes: &Classes) -> usize {
    let bytes = s.as_bytes();
    while from < s.len() {
        let b = bytes[from];
        // ASCII letters, the most common case, without a table lookup.
        if class == LETTER && b.is_ascii_alphabetic() {
            from += 1;
            continue;
        }
        let (c, len) = char_at(s, from);
        if classes.class(c) != class {
            break;
        }
        from += len;
    }
    from
}

/// The GPT-2 split of one piece.
pub(crate) fn gpt2(s: &str, classes: &Classes, emit: &mut impl FnMut(&str)) {
    let n = s.len();
    let mut i = 0;
    while i < n {
        let (c, len) = char_at(s, i);
        if c == '\'' {
            if let Some(k) = contraction(&s.as_bytes()[i + 1..]) {
                emit(&s[i..i + 1 + k]);
                i += 1 + k;
                continue;
            }
        }
        let class = classes.class(c);
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a space joins the run after it.
        let (run_class, run_from) = if c == ' ' && i + 1 < n {
            let (d, _) = char_at(s, i + 1);
            match classes.class(d) {
                SPACE => (SPACE, i),
                other => (other, i + 1),
            }
        } else {
            (class, i)
        };
        let end = match run_class {
            LETTER | NUMBER | OTHER => run_end(s, run_from, run_class, classes),
            _ => {
                // `\s+(?!\S)`: the whole run at the end of the piece, else all of it but its last
                // character (which then starts the next piece); `\s+` when that leaves nothing.
                let mut end = i + len;
                let mut last = i;
                while end < n {
                    let (d, len) = char_at(s, end);
                    if classes.class(d) != SPACE {
                        break;
                    }
                    last = end;
                    end += len;
                }
                if end < n && last > i {
                    last
                } else {
                    end
                }
            }
        };
        emit(&s[i..end]);
        i = end;
    }
}
