//! The OpenAI request fields the gateway checks before it routes a request (so a malformed one
//! is a 400 naming the field whatever the model), documented as the gateway's request schemas.
//! Fields beyond these go to the backend unchanged, which judges them: the document says so
//! (`OPEN_REQUEST_SCHEMAS` in `http-api/src/document.rs`).

use super::CompletionEndpoint;
use crate::Result;
use domain::ValidationError;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The content of a message: text, or a list of parts.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// A part of a message's content (text only).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentPart {
    #[schema(pattern = "^text$")]
    pub r#type: String,
    pub text: String,
}

/// One chat message.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: MessageContent,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    Developer,
    User,
    Assistant,
}

/// A stop sequence or up to 4 of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

fn stop_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, SchemaType, Type};
    let text = || ObjectBuilder::new().schema_type(SchemaType::new(Type::String));
    OneOfBuilder::new()
        .item(text())
        .item(ArrayBuilder::new().items(text()).max_items(Some(4)))
        .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::Null)))
        .description(Some("A stop sequence or up to 4; the answer ends before the first one it would contain."))
        .build()
        .into()
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// A last chunk with `usage` (and `choices: []`) before `[DONE]`.
    pub include_usage: Option<bool>,
    /// vLLM's extension: every chunk carries the usage so far.
    pub continuous_usage_stats: Option<bool>,
}

/// `POST /v1/chat/completions`. Other OpenAI fields are passed to the backend, which refuses
/// those it does not support with a 400 naming them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ChatCompletionRequest {
    /// A deployment's name (`GET /v1/models`).
    #[schema(min_length = 1)]
    pub model: String,
    #[schema(min_items = 1)]
    pub messages: Vec<ChatMessage>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_completion_tokens: Option<u32>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_tokens: Option<u32>,
    #[schema(minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f64>,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub top_p: Option<f64>,
    /// Answers to generate, 1–16.
    #[schema(minimum = 1, maximum = 16)]
    pub n: Option<u32>,
    #[schema(schema_with = stop_schema)]
    pub stop: Option<Stop>,
    /// The same seed, prompt and settings give the same answer.
    pub seed: Option<i64>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
}

/// `POST /v1/completions` (legacy text completions). The sampling fields are written out in
/// both request types rather than flattened from one: a flattened type becomes an `allOf` in
/// the document, which cannot say which fields the whole takes.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CompletionRequest {
    #[schema(min_length = 1)]
    pub model: String,
    pub prompt: String,
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_tokens: Option<u32>,
    #[schema(minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f64>,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub top_p: Option<f64>,
    /// Answers to generate, 1–16.
    #[schema(minimum = 1, maximum = 16)]
    pub n: Option<u32>,
    #[schema(schema_with = stop_schema)]
    pub stop: Option<Stop>,
    /// The same seed, prompt and settings give the same answer.
    pub seed: Option<i64>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
}

/// The sampling fields both endpoints share, as read.
struct Sampling<'a> {
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    n: Option<u32>,
    stop: &'a Option<Stop>,
    stream: Option<bool>,
    stream_options: &'a Option<StreamOptions>,
}

macro_rules! sampling_of {
    ($r:expr) => {
        Sampling {
            max_tokens: $r.max_tokens,
            temperature: $r.temperature,
            top_p: $r.top_p,
            n: $r.n,
            stop: &$r.stop,
            stream: $r.stream,
            stream_options: &$r.stream_options,
        }
    };
}

fn invalid(field: &str, message: impl Into<String>) -> crate::Error {
    ValidationError::new(field, message).into()
}

fn range(field: &str, value: Option<f64>, max: f64) -> Result<()> {
    match value {
        Some(v) if !(0.0..=max).contains(&v) => Err(invalid(field, format!("must be 0 to {max} (got {v})"))),
        _ => Ok(()),
    }
}

fn count(field: &str, value: Option<u32>, min: u32, max: u32) -> Result<()> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(invalid(field, format!("must be {min} to {max} (got {v})"))),
        _ => Ok(()),
    }
}

fn check_sampling(s: &Sampling<'_>) -> Result<()> {
    count("max_tokens", s.max_tokens, 1, 1_000_000)?;
    range("temperature", s.temperature, 2.0)?;
    range("top_p", s.top_p, 1.0)?;
    count("n", s.n, 1, 16)?;
    if let Some(Stop::Many(list)) = s.stop {
        if list.len() > 4 {
            return Err(invalid("stop", format!("at most 4 stop sequences (got {})", list.len())));
        }
    }
    if s.stream_options.is_some() && s.stream != Some(true) {
        // Two fields together: a rule the document states in words only.
        return Err(ValidationError::unprocessable("stream_options", "is only allowed with stream: true").into());
    }
    Ok(())
}

/// Checks a request's documented fields; returns the `model` it names.
pub fn check(endpoint: CompletionEndpoint, body: &Map<String, Value>) -> Result<String> {
    let value = Value::Object(body.clone());
    let describe = |e: serde_path_to_error::Error<serde_json::Error>| {
        let at = e.path().to_string();
        invalid(if at == "." { "body" } else { &at }, e.inner().to_string())
    };
    match endpoint {
        CompletionEndpoint::Chat => {
            let r: ChatCompletionRequest = serde_path_to_error::deserialize(value).map_err(describe)?;
            if r.messages.is_empty() {
                return Err(invalid("messages", "give at least one message"));
            }
            for (i, m) in r.messages.iter().enumerate() {
                if let MessageContent::Parts(parts) = &m.content {
                    if let Some(j) = parts.iter().position(|p| p.r#type != "text") {
                        return Err(invalid(&format!("messages[{i}].content[{j}].type"), "only text parts are supported"));
                    }
                }
            }
            count("max_completion_tokens", r.max_completion_tokens, 1, 1_000_000)?;
            check_sampling(&sampling_of!(r))?;
            if r.model.is_empty() {
                return Err(invalid("model", "name the model"));
            }
            Ok(r.model)
        }
        CompletionEndpoint::Completions => {
            let r: CompletionRequest = serde_path_to_error::deserialize(value).map_err(describe)?;
            check_sampling(&sampling_of!(r))?;
            if r.model.is_empty() {
                return Err(invalid("model", "name the model"));
            }
            Ok(r.model)
        }
    }
}
