//! Text helpers shared by the steps: a record's contents as one text, its length, its
//! dominant script, whitespace normalisation and short excerpts.

use crate::language::{Language, Letters};
use crate::record::{Message, Record, Role};

use super::config::LanguageClass;

/// Every content of the record (or its text), in order.
pub(crate) fn contents(record: &Record) -> impl Iterator<Item = &str> {
    let text = match record {
        Record::Text { text } => Some(text.as_str()),
        _ => None,
    };
    text.into_iter().chain(record.messages().map(|m| m.content.as_str()))
}

/// Every content, mutable (what `mask_pii` rewrites).
pub(crate) fn contents_mut(record: &mut Record) -> Vec<&mut String> {
    match record {
        Record::Chat { messages } => messages.iter_mut().map(|m| &mut m.content).collect(),
        Record::Preference { prompt, chosen, rejected } => {
            prompt.iter_mut().chain(chosen.iter_mut()).chain(rejected.iter_mut()).map(|m| &mut m.content).collect()
        }
        Record::Text { text } => vec![text],
    }
}

/// Unicode scalar values over all contents (as in the statistics' `chars`).
pub(crate) fn char_count(record: &Record) -> u64 {
    contents(record).map(|c| c.chars().count() as u64).sum()
}

/// Non-system messages (a preference pair: the prompt plus the chosen answer); `None` for text.
pub(crate) fn turns(record: &Record) -> Option<u64> {
    let non_system = |list: &[Message]| list.iter().filter(|m| m.role != Role::System).count() as u64;
    match record {
        Record::Chat { messages } => Some(non_system(messages)),
        Record::Preference { prompt, chosen, .. } => Some(non_system(prompt) + non_system(chosen)),
        Record::Text { .. } => None,
    }
}

/// The dominant script of the whole record (the rule of `language.rs`).
pub(crate) fn language(record: &Record) -> LanguageClass {
    let mut letters = Letters::default();
    for c in contents(record) {
        letters.add(c);
    }
    match letters.classify() {
        Language::Zh => LanguageClass::Zh,
        Language::En => LanguageClass::En,
        Language::Other => LanguageClass::Other,
        Language::None => LanguageClass::None,
    }
}

/// The record's kind as named in statistics.
pub(crate) fn kind(record: &Record) -> &'static str {
    match record {
        Record::Chat { .. } => "chat",
        Record::Preference { .. } => "preference",
        Record::Text { .. } => "text",
    }
}

/// Appends `text` trimmed, with whitespace runs collapsed to one space and lowercased.
pub(crate) fn push_normalized(text: &str, out: &mut String) {
    let mut pending_space = false;
    let start = out.len();
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = out.len() > start;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

/// Excerpts are cut to this many characters.
pub const EXCERPT_CHARS: usize = 120;

/// The first [`EXCERPT_CHARS`] characters of the record: `role: content` parts joined by ` | `,
/// whitespace collapsed, `…` when cut.
pub(crate) fn excerpt(record: &Record) -> String {
    let mut out = String::new();
    match record {
        Record::Text { text } => out.push_str(text),
        _ => {
            for (i, m) in record.messages().enumerate() {
                if i > 0 {
                    out.push_str(" | ");
                }
                out.push_str(m.role.as_str());
                out.push_str(": ");
                out.push_str(&m.content);
                if out.chars().count() > EXCERPT_CHARS {
                    break;
                }
            }
        }
    }
    cut(&out, EXCERPT_CHARS)
}

/// `text` with whitespace collapsed, cut to `max` characters (`…` appended when cut).
pub(crate) fn cut(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        let extra = usize::from(space);
        if chars + extra + 1 > max {
            out.push('…');
            return out;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
        chars += 1 + extra;
    }
    out
}

/// The part of `text` around byte offset `at`: up to `max` characters, starting a little
/// before it, with `…` on the sides that were cut.
pub(crate) fn around(text: &str, at: usize, max: usize) -> String {
    let before: Vec<(usize, char)> = text[..at].char_indices().collect();
    let lead = max / 4;
    let start = if before.len() > lead { before[before.len() - lead].0 } else { 0 };
    let body = cut(&text[start..], max);
    if start > 0 {
        format!("…{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_trims_collapses_and_lowercases() {
        let mut out = String::new();
        push_normalized("  Hello \n\t WORLD  Ünïcode ", &mut out);
        assert_eq!(out, "hello world ünïcode");
    }

    #[test]
    fn cut_collapses_whitespace_and_marks_the_cut() {
        assert_eq!(cut("a  b\nc", 10), "a b c");
        assert_eq!(cut("abcdef", 4), "abcd…");
        assert_eq!(around("0123456789abcdef", 10, 8), "…89abcdef");
    }
}
