//! Lists of messages (`[{role, content, weight?}]`, ShareGPT `[{from, value}]`) parsed into
//! canonical [`Message`]s, each remembering where it came from ([`Loc`]) so later rules can
//! name the field.

use serde_json::{Map, Value};

use super::value::describe;
use super::Issue;
use crate::errors::ErrorCode;
use crate::record::{Message, Role};

/// Where a message sits in the record: a field (`output`), a list item (`messages[2]`) or an
/// item of a nested pair (`history[0][1]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    Field(&'static str),
    Item(&'static str, usize),
    Pair(&'static str, usize, usize),
}

/// A message's origin, with the keys its role and content were read from (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub base: Base,
    pub role_key: Option<&'static str>,
    pub content_key: Option<&'static str>,
}

impl Loc {
    /// A message read from a plain string field or pair item (no role or content keys).
    pub(crate) fn plain(base: Base) -> Loc {
        Loc { base, role_key: None, content_key: None }
    }

    pub(crate) fn whole(&self) -> String {
        match self.base {
            Base::Field(f) => f.to_owned(),
            Base::Item(list, i) => format!("{list}[{i}]"),
            Base::Pair(list, i, j) => format!("{list}[{i}][{j}]"),
        }
    }

    fn with_key(&self, key: Option<&str>) -> String {
        match key {
            Some(k) => format!("{}.{k}", self.whole()),
            None => self.whole(),
        }
    }

    pub(crate) fn content(&self) -> String {
        self.with_key(self.content_key)
    }

    pub(crate) fn role(&self) -> String {
        self.with_key(self.role_key)
    }
}

/// How one message schema spells its fields and roles.
#[derive(Debug)]
pub(crate) struct MessageKeys {
    pub role: &'static str,
    pub content: &'static str,
    pub parse_role: fn(&str) -> Option<Role>,
    pub allowed_roles: &'static str,
    /// Whether `weight` is read (OpenAI chat); otherwise it is ignored.
    pub weight: bool,
}

pub(crate) const OPENAI_KEYS: MessageKeys =
    MessageKeys { role: "role", content: "content", parse_role: Role::parse, allowed_roles: "system, user, assistant", weight: true };

pub(crate) const SHAREGPT_KEYS: MessageKeys = MessageKeys {
    role: "from",
    content: "value",
    parse_role: sharegpt_role,
    allowed_roles: "system, human, gpt (user and assistant are accepted too)",
    weight: false,
};

fn sharegpt_role(from: &str) -> Option<Role> {
    match from {
        "system" => Some(Role::System),
        "human" | "user" => Some(Role::User),
        "gpt" | "assistant" => Some(Role::Assistant),
        _ => None,
    }
}

/// Parses a list of message objects. `None` when any message is malformed (the issues say
/// which), so order rules do not pile on top of a structural problem.
pub(crate) fn parse_list(
    items: &[Value],
    list: &'static str,
    keys: &MessageKeys,
    issues: &mut Vec<Issue>,
) -> Option<(Vec<Message>, Vec<Loc>)> {
    let before = issues.len();
    let mut messages = Vec::with_capacity(items.len());
    let mut locs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = Loc { base: Base::Item(list, i), role_key: Some(keys.role), content_key: Some(keys.content) };
        if let Some(m) = parse_one(item, loc, keys, issues) {
            messages.push(m);
            locs.push(loc);
        }
    }
    (issues.len() == before).then_some((messages, locs))
}

/// Parses one message object found at `loc`.
pub(crate) fn parse_one(item: &Value, loc: Loc, keys: &MessageKeys, issues: &mut Vec<Issue>) -> Option<Message> {
    let Value::Object(obj) = item else {
        issues.push(Issue::new(
            loc.whole(),
            ErrorCode::WrongType,
            format!("`{}` must be a message object with `{}` and `{}`, found {}", loc.whole(), keys.role, keys.content, describe(item)),
        ));
        return None;
    };
    let before = issues.len();
    let role = parse_role(obj, &loc, keys, issues);
    let content = parse_content(obj, &loc, keys, issues);
    let weight = match (keys.weight, role) {
        (true, Some(role)) => parse_weight(obj, &loc, role, issues),
        _ => None,
    };
    if issues.len() != before {
        return None;
    }
    Some(Message { role: role?, content: content?, weight })
}

fn parse_role(obj: &Map<String, Value>, loc: &Loc, keys: &MessageKeys, issues: &mut Vec<Issue>) -> Option<Role> {
    let path = loc.role();
    match obj.get(keys.role) {
        Some(Value::String(s)) => {
            let role = (keys.parse_role)(s);
            if role.is_none() {
                let message = format!("`{path}` is {s:?}, which is not one of {}", keys.allowed_roles);
                issues.push(Issue::new(path, ErrorCode::InvalidRole, message));
            }
            role
        }
        None | Some(Value::Null) => {
            issues.push(Issue::new(&path, ErrorCode::MissingField, format!("required field `{path}` is missing")));
            None
        }
        Some(other) => {
            issues.push(Issue::new(&path, ErrorCode::WrongType, format!("`{path}` must be a string, found {}", describe(other))));
            None
        }
    }
}

/// Content is a string; OpenAI chat also allows a list of `{"type": "text", "text": …}` parts,
/// which are joined.
fn parse_content(obj: &Map<String, Value>, loc: &Loc, keys: &MessageKeys, issues: &mut Vec<Issue>) -> Option<String> {
    let path = loc.content();
    match obj.get(keys.content) {
        Some(Value::String(s)) => Some(s.clone()),
        None => {
            issues.push(Issue::new(&path, ErrorCode::MissingField, format!("required field `{path}` is missing")));
            None
        }
        Some(Value::Array(parts)) if keys.weight => {
            let mut text = String::new();
            for (i, part) in parts.iter().enumerate() {
                match (part.get("type").and_then(Value::as_str), part.get("text").and_then(Value::as_str)) {
                    (Some("text"), Some(t)) => text.push_str(t),
                    _ => {
                        let message =
                            format!("`{path}[{i}]` must be a text part {{\"type\": \"text\", \"text\": …}}, found {}", describe(part));
                        issues.push(Issue::new(format!("{path}[{i}]"), ErrorCode::WrongType, message));
                        return None;
                    }
                }
            }
            Some(text)
        }
        Some(other) => {
            issues.push(Issue::new(&path, ErrorCode::WrongType, format!("`{path}` must be a string, found {}", describe(other))));
            None
        }
    }
}

fn parse_weight(obj: &Map<String, Value>, loc: &Loc, role: Role, issues: &mut Vec<Issue>) -> Option<u8> {
    let value = obj.get("weight").filter(|v| !v.is_null())?;
    let path = format!("{}.weight", loc.whole());
    if role != Role::Assistant {
        let message = format!("`{path}` is set on a {} message; weight is only allowed on assistant messages", role.as_str());
        issues.push(Issue::new(path, ErrorCode::InvalidWeight, message));
        return None;
    }
    match value.as_u64() {
        Some(w @ (0 | 1)) => Some(w as u8),
        _ => {
            issues.push(Issue::new(&path, ErrorCode::InvalidWeight, format!("`{path}` must be 0 or 1, found {}", describe(value))));
            None
        }
    }
}
