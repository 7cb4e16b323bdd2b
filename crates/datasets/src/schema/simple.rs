//! Prompt/completion (`{"prompt", "completion"}`, one user and one assistant turn) and plain
//! text (`{"text"}`).

use serde_json::{Map, Value};

use super::messages::{Base, Loc};
use super::rules::{self, CONVERSATION};
use super::value::string_field;
use super::Issue;
use crate::errors::ErrorCode;
use crate::record::{Message, Record, Role};

pub(crate) fn convert_prompt_completion(obj: &Map<String, Value>, issues: &mut Vec<Issue>) -> Option<Record> {
    let prompt = string_field(obj, "prompt", "prompt", true, issues);
    let completion = string_field(obj, "completion", "completion", true, issues);
    let (prompt, completion) = (prompt?, completion?);
    let messages = vec![Message::new(Role::User, prompt), Message::new(Role::Assistant, completion)];
    let locs = [Loc::plain(Base::Field("prompt")), Loc::plain(Base::Field("completion"))];
    rules::check(&messages, &locs, &CONVERSATION, issues);
    Some(Record::Chat { messages })
}

pub(crate) fn convert_text(obj: &Map<String, Value>, issues: &mut Vec<Issue>) -> Option<Record> {
    let text = string_field(obj, "text", "text", true, issues)?;
    if text.trim().is_empty() {
        issues.push(Issue::new("text", ErrorCode::EmptyContent, "`text` is empty: the record has no text to train on"));
    }
    Some(Record::Text { text: text.to_owned() })
}
