//! Schemas: recognising which one a JSON record follows ([`classify`]) and converting it to the
//! canonical [`Record`] ([`convert`]) with every structural problem named by field path.
//! Turn-order and content rules shared by the chat-shaped schemas live in [`rules`].

mod alpaca;
mod chat;
mod messages;
mod preference;
pub(crate) mod rules;
mod simple;
mod value;

use serde_json::{Map, Value};

use crate::errors::ErrorCode;
use crate::format::Schema;
use crate::record::Record;

pub(crate) use value::{describe, is_empty_value};

/// A problem found while converting a record, before it is placed in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub field: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

impl Issue {
    pub(crate) fn new(field: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Issue {
        Issue { field: Some(field.into()), code, message: message.into() }
    }

    pub(crate) fn whole(code: ErrorCode, message: impl Into<String>) -> Issue {
        Issue { field: None, code, message: message.into() }
    }
}

/// The outcome of converting one record: the record when its structure allowed building
/// one (it may still break content rules), and every problem found.
#[derive(Debug, Default)]
pub(crate) struct Converted {
    pub record: Option<Record>,
    pub issues: Vec<Issue>,
}

/// The keys that identify each schema; a record holding any of them is judged by that schema.
fn identifying_keys(schema: Schema) -> &'static [&'static str] {
    match schema {
        Schema::Chat => &["messages"],
        Schema::Sharegpt => &["conversations"],
        Schema::Alpaca => &["instruction", "output"],
        Schema::PromptCompletion => &["prompt", "completion"],
        Schema::OpenaiPreference => &["input", "preferred_output", "non_preferred_output"],
        Schema::ChosenRejected => &["chosen", "rejected"],
        Schema::Text => &["text"],
        Schema::Auto => &[],
    }
}

/// Which schema a record follows, judged by its keys; `None` when it matches none.
pub(crate) fn classify(obj: &Map<String, Value>) -> Option<Schema> {
    let has = |k: &str| obj.contains_key(k);
    if has("preferred_output") || has("non_preferred_output") {
        Some(Schema::OpenaiPreference)
    } else if has("chosen") || has("rejected") {
        Some(Schema::ChosenRejected)
    } else if has("messages") {
        Some(Schema::Chat)
    } else if has("conversations") {
        Some(Schema::Sharegpt)
    } else if has("instruction") {
        Some(Schema::Alpaca)
    } else if has("prompt") || has("completion") {
        Some(Schema::PromptCompletion)
    } else if has("text") {
        Some(Schema::Text)
    } else {
        None
    }
}

/// Converts a JSON object following `schema` (or, for [`Schema::Auto`], whichever schema its
/// keys name).
pub(crate) fn convert(obj: &Map<String, Value>, schema: Schema) -> Converted {
    let chosen = if schema == Schema::Auto {
        match classify(obj) {
            Some(s) => s,
            None => return unknown(obj, None),
        }
    } else if identifying_keys(schema).iter().any(|k| obj.contains_key(*k)) {
        schema
    } else {
        return unknown(obj, Some(schema));
    };
    let mut issues = Vec::new();
    let record = match chosen {
        Schema::Chat => chat::convert_chat(obj, &mut issues),
        Schema::Sharegpt => chat::convert_sharegpt(obj, &mut issues),
        Schema::Alpaca => alpaca::convert(obj, &mut issues),
        Schema::PromptCompletion => simple::convert_prompt_completion(obj, &mut issues),
        Schema::OpenaiPreference => preference::convert_openai(obj, &mut issues),
        Schema::ChosenRejected => preference::convert_chosen_rejected(obj, &mut issues),
        Schema::Text | Schema::Auto => simple::convert_text(obj, &mut issues),
    };
    Converted { record, issues }
}

fn unknown(obj: &Map<String, Value>, expected: Option<Schema>) -> Converted {
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let shown = if keys.len() > 12 { format!("{}, … ({} keys)", keys[..12].join(", "), keys.len()) } else { keys.join(", ") };
    let message = match (expected, classify(obj)) {
        (Some(file), Some(other)) => {
            format!("record is in the {} format but the file is {} (keys seen: {shown})", other.as_str(), file.as_str())
        }
        (Some(file), None) => format!(
            "record has none of the fields of the {} format ({}); keys seen: {shown}",
            file.as_str(),
            identifying_keys(file).join(", ")
        ),
        (None, _) => format!(
            "record matches no known format (expected messages, conversations, instruction/output, prompt/completion, \
             chosen/rejected, preferred_output or text); keys seen: {shown}"
        ),
    };
    Converted { record: None, issues: vec![Issue::whole(ErrorCode::UnknownFormat, message)] }
}
