//! Preference pairs for DPO-style training:
//! - OpenAI: `{"input": {"messages": […]}, "preferred_output": […], "non_preferred_output": […]}`;
//! - chosen/rejected: `{"prompt" | "messages", "chosen", "rejected"}` where the prompt is a
//!   string or a list of messages and each answer a string, one message object or a list of
//!   messages. Without a prompt, the turns `chosen` and `rejected` share at the start are the
//!   prompt (the "implicit prompt" of TRL).

use serde_json::{Map, Value};

use super::messages::{parse_list, parse_one, Base, Loc, OPENAI_KEYS};
use super::rules::{self, TurnRules};
use super::value::{describe, list_field};
use super::Issue;
use crate::errors::ErrorCode;
use crate::record::{Message, Record, Role};

type Turns = (Vec<Message>, Vec<Loc>);

const PROMPT: TurnRules =
    TurnRules { what: "prompt", first: Role::User, allow_system_first: true, require_trained_assistant: false, end_with_user: true };

/// An answer: assistant first, alternating if it has several turns.
fn answer(field: &str) -> TurnRules {
    let what = match field {
        "chosen" => "answer `chosen`",
        "rejected" => "answer `rejected`",
        "preferred_output" => "answer `preferred_output`",
        _ => "answer `non_preferred_output`",
    };
    TurnRules { what, first: Role::Assistant, allow_system_first: false, require_trained_assistant: true, end_with_user: false }
}

pub(crate) fn convert_openai(obj: &Map<String, Value>, issues: &mut Vec<Issue>) -> Option<Record> {
    let prompt = match obj.get("input") {
        Some(Value::Object(input)) => list_field(input, "messages", "input.messages", issues)
            .and_then(|items| parse_list(items, "input.messages", &OPENAI_KEYS, issues)),
        None | Some(Value::Null) => {
            issues.push(Issue::new("input", ErrorCode::MissingField, "required field `input` is missing"));
            None
        }
        Some(other) => {
            let message = format!("`input` must be an object with `messages`, found {}", describe(other));
            issues.push(Issue::new("input", ErrorCode::WrongType, message));
            None
        }
    };
    let chosen = list_field(obj, "preferred_output", "preferred_output", issues)
        .and_then(|items| parse_list(items, "preferred_output", &OPENAI_KEYS, issues));
    let rejected = list_field(obj, "non_preferred_output", "non_preferred_output", issues)
        .and_then(|items| parse_list(items, "non_preferred_output", &OPENAI_KEYS, issues));
    finish(prompt?, ("preferred_output", chosen?), ("non_preferred_output", rejected?), "input.messages", issues)
}

pub(crate) fn convert_chosen_rejected(obj: &Map<String, Value>, issues: &mut Vec<Issue>) -> Option<Record> {
    let chosen = side(obj, "chosen", issues);
    let rejected = side(obj, "rejected", issues);
    let (prompt_key, prompt) = if obj.get("prompt").is_some_and(|v| !v.is_null()) {
        ("prompt", prompt_turns(obj, "prompt", issues))
    } else if obj.get("messages").is_some_and(|v| !v.is_null()) {
        ("messages", prompt_turns(obj, "messages", issues))
    } else {
        ("prompt", None)
    };
    let (mut chosen, mut rejected) = (chosen?, rejected?);
    let prompt = match prompt {
        Some(p) => p,
        None if obj.get(prompt_key).is_some_and(|v| !v.is_null()) => return None,
        None => match split_implicit_prompt(&mut chosen, &mut rejected) {
            Some(p) => p,
            None => {
                let message =
                    "required field `prompt` (or `messages`) is missing, and `chosen` and `rejected` share no turns to use as the prompt";
                issues.push(Issue::new("prompt", ErrorCode::MissingField, message));
                return None;
            }
        },
    };
    finish(prompt, ("chosen", chosen), ("rejected", rejected), prompt_key, issues)
}

fn finish(
    prompt: Turns,
    chosen: (&'static str, Turns),
    rejected: (&'static str, Turns),
    prompt_key: &str,
    issues: &mut Vec<Issue>,
) -> Option<Record> {
    if prompt.0.is_empty() {
        issues.push(Issue::new(prompt_key, ErrorCode::EmptyRecord, format!("`{prompt_key}` is an empty list: the pair has no prompt")));
    } else {
        rules::check(&prompt.0, &prompt.1, &PROMPT, issues);
    }
    for (name, turns) in [&chosen, &rejected] {
        if turns.0.is_empty() {
            issues.push(Issue::new(*name, ErrorCode::EmptyAssistantTurn, format!("`{name}` is an empty list: it holds no answer")));
        } else {
            rules::check(&turns.0, &turns.1, &answer(name), issues);
        }
    }
    if !chosen.1 .0.is_empty() && chosen.1 .0 == rejected.1 .0 {
        let message = format!("`{}` and `{}` are identical, so the pair teaches no preference", chosen.0, rejected.0);
        issues.push(Issue::new(rejected.0, ErrorCode::IdenticalPreference, message));
    }
    Some(Record::Preference { prompt: prompt.0, chosen: chosen.1 .0, rejected: rejected.1 .0 })
}

/// The prompt: a string is one user turn, a list holds messages.
fn prompt_turns(obj: &Map<String, Value>, key: &'static str, issues: &mut Vec<Issue>) -> Option<Turns> {
    match obj.get(key) {
        Some(Value::String(s)) => Some((vec![Message::new(Role::User, s.as_str())], vec![Loc::plain(Base::Field(key))])),
        Some(Value::Array(items)) => parse_list(items, key, &OPENAI_KEYS, issues),
        Some(other) => {
            let message = format!("`{key}` must be a string or a list of messages, found {}", describe(other));
            issues.push(Issue::new(key, ErrorCode::WrongType, message));
            None
        }
        None => None,
    }
}

/// An answer: a string is one assistant turn; a message object or a list of messages too.
fn side(obj: &Map<String, Value>, key: &'static str, issues: &mut Vec<Issue>) -> Option<Turns> {
    match obj.get(key) {
        Some(Value::String(s)) => Some((vec![Message::new(Role::Assistant, s.as_str())], vec![Loc::plain(Base::Field(key))])),
        Some(Value::Array(items)) => parse_list(items, key, &OPENAI_KEYS, issues),
        Some(item @ Value::Object(_)) => {
            let loc = Loc { base: Base::Field(key), role_key: Some("role"), content_key: Some("content") };
            parse_one(item, loc, &OPENAI_KEYS, issues).map(|m| (vec![m], vec![loc]))
        }
        None | Some(Value::Null) => {
            issues.push(Issue::new(key, ErrorCode::MissingField, format!("required field `{key}` is missing")));
            None
        }
        Some(other) => {
            let message = format!("`{key}` must be a string, a message or a list of messages, found {}", describe(other));
            issues.push(Issue::new(key, ErrorCode::WrongType, message));
            None
        }
    }
}

/// Moves the turns both answers start with into a prompt; `None` if they share none.
fn split_implicit_prompt(chosen: &mut Turns, rejected: &mut Turns) -> Option<Turns> {
    let shared = chosen.0.iter().zip(&rejected.0).take_while(|(a, b)| a == b).count();
    if shared == 0 {
        return None;
    }
    rejected.0.drain(..shared);
    rejected.1.drain(..shared);
    let messages = chosen.0.drain(..shared).collect();
    let locs = chosen.1.drain(..shared).collect();
    Some((messages, locs))
}
