//! OpenAI chat (`{"messages": [{role, content, weight?}]}`) and ShareGPT
//! (`{"conversations": [{from, value}], "system"?}`).

use serde_json::{Map, Value};

use super::messages::{parse_list, Base, Loc, OPENAI_KEYS, SHAREGPT_KEYS};
use super::rules::{self, CONVERSATION};
use super::value::{list_field, string_field};
use super::Issue;
use crate::errors::ErrorCode;
use crate::record::{Message, Record, Role};

pub(crate) fn convert_chat(obj: &Map<String, Value>, issues: &mut Vec<Issue>) -> Option<Record> {
    let items = list_field(obj, "messages", "messages", issues)?;
    if items.is_empty() {
        issues.push(Issue::new("messages", ErrorCode::EmptyRecord, "`messages` is an empty list"));
        return None;
    }
    let (messages, locs) = parse_list(items, "messages", &OPENAI_KEYS, issues)?;
    rules::check(&messages, &locs, &CONVERSATION, issues);
    Some(Record::Chat { messages })
}

pub(crate) fn convert_sharegpt(obj: &Map<String, Value>, issues: &mut Vec<Issue>) -> Option<Record> {
    let system = string_field(obj, "system", "system", false, issues);
    let items = list_field(obj, "conversations", "conversations", issues)?;
    if items.is_empty() {
        issues.push(Issue::new("conversations", ErrorCode::EmptyRecord, "`conversations` is an empty list"));
        return None;
    }
    let (turns, turn_locs) = parse_list(items, "conversations", &SHAREGPT_KEYS, issues)?;
    let mut messages = Vec::with_capacity(turns.len() + 1);
    let mut locs = Vec::with_capacity(turns.len() + 1);
    // An empty top-level system prompt is how many exports say "none".
    if let Some(s) = system.filter(|s| !s.trim().is_empty()) {
        messages.push(Message::new(Role::System, s));
        locs.push(Loc::plain(Base::Field("system")));
    }
    messages.extend(turns);
    locs.extend(turn_locs);
    rules::check(&messages, &locs, &CONVERSATION, issues);
    Some(Record::Chat { messages })
}
