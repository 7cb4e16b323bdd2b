//! The canonical record every dataset schema converts to, and its OpenAI-style JSON line.
//!
//! Chat-shaped schemas (OpenAI chat, ShareGPT, Alpaca, prompt/completion) become
//! [`Record::Chat`], preference pairs become [`Record::Preference`], plain text becomes
//! [`Record::Text`]. [`Record::to_openai_json`] writes the line Tunery stores after conversion.

use serde::{Deserialize, Serialize};

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = MessageRole)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role as written in OpenAI chat data.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    /// Parses an OpenAI chat role (`system`, `user`, `assistant`), exactly as spelled.
    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

/// One message of a conversation. `weight` (0 or 1) only appears on assistant messages:
/// 0 masks the turn out of training.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DatasetMessage)]
pub struct Message {
    pub role: Role,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message { role, content: content.into(), weight: None }
    }
}

/// A dataset record in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(as = CanonicalRecord)]
pub enum Record {
    /// A conversation for supervised fine-tuning.
    Chat { messages: Vec<Message> },
    /// A preference pair: the prompt conversation and the preferred and rejected continuations.
    Preference { prompt: Vec<Message>, chosen: Vec<Message>, rejected: Vec<Message> },
    /// Plain text for continued pre-training.
    Text { text: String },
}

#[derive(Serialize)]
struct ChatLine<'a> {
    messages: &'a [Message],
}

#[derive(Serialize)]
struct PreferenceInput<'a> {
    messages: &'a [Message],
}

#[derive(Serialize)]
struct PreferenceLine<'a> {
    input: PreferenceInput<'a>,
    preferred_output: &'a [Message],
    non_preferred_output: &'a [Message],
}

#[derive(Serialize)]
struct TextLine<'a> {
    text: &'a str,
}

impl Record {
    /// The canonical JSON line (without a trailing newline): OpenAI chat
    /// `{"messages":[…]}`, OpenAI preference
    /// `{"input":{"messages":[…]},"preferred_output":[…],"non_preferred_output":[…]}`, or `{"text":…}`.
    pub fn to_openai_json(&self) -> String {
        let line = match self {
            Record::Chat { messages } => serde_json::to_string(&ChatLine { messages }),
            Record::Preference { prompt, chosen, rejected } => serde_json::to_string(&PreferenceLine {
                input: PreferenceInput { messages: prompt },
                preferred_output: chosen,
                non_preferred_output: rejected,
            }),
            Record::Text { text } => serde_json::to_string(&TextLine { text }),
        };
        // Serialising plain strings, numbers and enums into a String cannot fail.
        line.unwrap_or_default()
    }

    /// Every message of the record, in order (prompt, then chosen, then rejected for a pair).
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        let (a, b, c): (&[Message], &[Message], &[Message]) = match self {
            Record::Chat { messages } => (messages, &[], &[]),
            Record::Preference { prompt, chosen, rejected } => (prompt, chosen, rejected),
            Record::Text { .. } => (&[], &[], &[]),
        };
        a.iter().chain(b).chain(c)
    }
}
