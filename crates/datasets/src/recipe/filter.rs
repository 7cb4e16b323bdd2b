//! `filter`: keeps the records that pass every criterion of the step.
//!
//! Order: `drop_empty_turns` first (it changes the record), then characters, turns, the
//! regular expressions, the language, and tokens last (counting them costs the most). A record is dropped for the first criterion it fails,
//! which names the reason in the report.

use regex::Regex;

use crate::record::{Message, Record, Role};
use crate::tokens::{record_tokens, TokenCounter};

use super::config::{compile_regex, Filter};
use super::text::{char_count, contents, language, turns};

/// What the filter did with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterOutcome {
    /// Kept; `removed` empty messages were taken out.
    Keep { removed: usize },
    /// Dropped for `reason` (a report key), with a note for the example.
    Drop { reason: &'static str, note: String },
    /// The record cannot be judged (its tokens cannot be counted): the recipe stops.
    Fail(String),
}

#[derive(Debug)]
pub(crate) struct FilterStage {
    config: Filter,
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl FilterStage {
    /// For a checked filter (the regular expressions compile).
    /// For a checked filter; fails with the field and message of a regex that does not compile.
    pub(crate) fn new(config: &Filter) -> Result<FilterStage, (&'static str, String)> {
        let compile = |field: &'static str, p: &Option<String>| p.as_deref().map(compile_regex).transpose().map_err(|m| (field, m));
        Ok(FilterStage {
            config: config.clone(),
            include: compile("include_regex", &config.include_regex)?,
            exclude: compile("exclude_regex", &config.exclude_regex)?,
        })
    }

    /// `tokens` counts for `min_tokens`/`max_tokens` (the pipeline refuses a token filter
    /// without one before reading any data).
    pub(crate) fn apply(&self, record: &mut Record, tokens: Option<&dyn TokenCounter>) -> FilterOutcome {
        let c = &self.config;
        let mut removed = 0;
        if c.drop_empty_turns {
            removed = remove_empty_turns(record);
            let empty = match record {
                Record::Chat { messages } => !messages.iter().any(|m| m.role == Role::Assistant),
                Record::Preference { chosen, .. } => chosen.is_empty(),
                Record::Text { text } => text.trim().is_empty(),
            };
            if empty {
                let note = format!("no assistant turn left after removing {removed} empty message(s)");
                return FilterOutcome::Drop { reason: "no_assistant_turn", note };
            }
        }
        if c.min_chars.is_some() || c.max_chars.is_some() {
            let chars = char_count(record);
            if let Some(min) = c.min_chars.filter(|&min| chars < min) {
                return FilterOutcome::Drop { reason: "too_few_chars", note: format!("{chars} characters, min_chars is {min}") };
            }
            if let Some(max) = c.max_chars.filter(|&max| chars > max) {
                return FilterOutcome::Drop { reason: "too_many_chars", note: format!("{chars} characters, max_chars is {max}") };
            }
        }
        if let Some(t) = turns(record) {
            if let Some(min) = c.min_turns.filter(|&min| t < min) {
                return FilterOutcome::Drop { reason: "too_few_turns", note: format!("{t} turns, min_turns is {min}") };
            }
            if let Some(max) = c.max_turns.filter(|&max| t > max) {
                return FilterOutcome::Drop { reason: "too_many_turns", note: format!("{t} turns, max_turns is {max}") };
            }
        }
        if let Some(include) = &self.include {
            if !contents(record).any(|text| include.is_match(text)) {
                return FilterOutcome::Drop { reason: "include_regex_not_matched", note: "no content matches include_regex".to_owned() };
            }
        }
        if let Some(exclude) = &self.exclude {
            if contents(record).any(|text| exclude.is_match(text)) {
                return FilterOutcome::Drop { reason: "exclude_regex_matched", note: "a content matches exclude_regex".to_owned() };
            }
        }
        if let Some(allowed) = &c.languages {
            let found = language(record);
            if !allowed.contains(&found) {
                let list: Vec<&str> = allowed.iter().map(|l| l.as_str()).collect();
                return FilterOutcome::Drop {
                    reason: "language_not_allowed",
                    note: format!("language {}, allowed: {}", found.as_str(), list.join(", ")),
                };
            }
        }
        if let (Some(counter), true) = (tokens, c.min_tokens.is_some() || c.max_tokens.is_some()) {
            let n = match record_tokens(counter, record) {
                Ok(n) => n as u64,
                Err(why) => return FilterOutcome::Fail(format!("its tokens cannot be counted: {why}")),
            };
            if let Some(min) = c.min_tokens.filter(|&min| n < min) {
                return FilterOutcome::Drop { reason: "too_few_tokens", note: format!("{n} tokens, min_tokens is {min}") };
            }
            if let Some(max) = c.max_tokens.filter(|&max| n > max) {
                return FilterOutcome::Drop { reason: "too_many_tokens", note: format!("{n} tokens, max_tokens is {max}") };
            }
        }
        FilterOutcome::Keep { removed }
    }
}

/// Removes blank system and user messages; returns how many.
fn remove_empty_turns(record: &mut Record) -> usize {
    let strip = |list: &mut Vec<Message>| {
        let before = list.len();
        list.retain(|m| m.role == Role::Assistant || !m.content.trim().is_empty());
        before - list.len()
    };
    match record {
        Record::Chat { messages } => strip(messages),
        Record::Preference { prompt, .. } => strip(prompt),
        Record::Text { .. } => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(messages: &[(Role, &str)]) -> Record {
        Record::Chat { messages: messages.iter().map(|(r, c)| Message::new(*r, *c)).collect() }
    }

    #[test]
    fn drop_empty_turns_removes_blank_messages_and_drops_records_without_an_answer() {
        // Validation refuses blank system and user messages, so records built here stand for
        // input that carries them.
        let stage = FilterStage::new(&Filter { drop_empty_turns: true, ..Filter::default() }).unwrap();
        let mut record = chat(&[(Role::System, " "), (Role::User, "Hi"), (Role::Assistant, "Hello"), (Role::User, "")]);
        assert_eq!(stage.apply(&mut record, None), FilterOutcome::Keep { removed: 2 });
        assert_eq!(record, chat(&[(Role::User, "Hi"), (Role::Assistant, "Hello")]));
        let mut record = chat(&[(Role::User, "")]);
        assert!(matches!(stage.apply(&mut record, None), FilterOutcome::Drop { reason: "no_assistant_turn", .. }));
    }
}
