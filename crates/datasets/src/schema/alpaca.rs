//! Alpaca: `{"instruction", "input"?, "output", "system"?, "history"?: [[question, answer], …]}`.
//! The user turn is the instruction, followed by the input on a new line when there is one
//! (as LLaMA-Factory joins them); history pairs come before it.

use serde_json::{Map, Value};

use super::messages::{Base, Loc};
use super::rules::{self, CONVERSATION};
use super::value::{describe, string_field};
use super::Issue;
use crate::errors::ErrorCode;
use crate::record::{Message, Record, Role};

pub(crate) fn convert(obj: &Map<String, Value>, issues: &mut Vec<Issue>) -> Option<Record> {
    let before = issues.len();
    let instruction = string_field(obj, "instruction", "instruction", true, issues);
    let input = string_field(obj, "input", "input", false, issues);
    let output = string_field(obj, "output", "output", true, issues);
    let system = string_field(obj, "system", "system", false, issues);
    let history = history(obj, issues);
    if issues.len() != before {
        return None;
    }
    let (instruction, output, history) = (instruction?, output?, history?);

    let mut messages = Vec::with_capacity(history.len() + 3);
    let mut locs = Vec::with_capacity(history.len() + 3);
    if let Some(s) = system.filter(|s| !s.trim().is_empty()) {
        messages.push(Message::new(Role::System, s));
        locs.push(Loc::plain(Base::Field("system")));
    }
    for (m, loc) in history {
        messages.push(m);
        locs.push(loc);
    }
    let user = match input.filter(|i| !i.trim().is_empty()) {
        Some(input) if !instruction.trim().is_empty() => format!("{instruction}\n{input}"),
        Some(input) => input.to_owned(),
        None => instruction.to_owned(),
    };
    messages.push(Message::new(Role::User, user));
    locs.push(Loc::plain(Base::Field("instruction")));
    messages.push(Message::new(Role::Assistant, output));
    locs.push(Loc::plain(Base::Field("output")));
    rules::check(&messages, &locs, &CONVERSATION, issues);
    Some(Record::Chat { messages })
}

/// `history`: earlier turns as `[question, answer]` string pairs. Absent or null is none.
fn history(obj: &Map<String, Value>, issues: &mut Vec<Issue>) -> Option<Vec<(Message, Loc)>> {
    let items = match obj.get("history") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            let message = format!("`history` must be a list of [question, answer] pairs, found {}", describe(other));
            issues.push(Issue::new("history", ErrorCode::WrongType, message));
            return None;
        }
    };
    let mut turns = Vec::with_capacity(items.len() * 2);
    for (i, item) in items.iter().enumerate() {
        match item.as_array().map(Vec::as_slice) {
            Some([Value::String(q), Value::String(a)]) => {
                turns.push((Message::new(Role::User, q.as_str()), Loc::plain(Base::Pair("history", i, 0))));
                turns.push((Message::new(Role::Assistant, a.as_str()), Loc::plain(Base::Pair("history", i, 1))));
            }
            _ => {
                let message = format!("`history[{i}]` must be a [question, answer] pair of strings, found {}", describe(item));
                issues.push(Issue::new(format!("history[{i}]"), ErrorCode::WrongType, message));
                return None;
            }
        }
    }
    Some(turns)
}
