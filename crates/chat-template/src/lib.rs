//! Hugging Face chat templates rendered in Rust exactly as transformers renders them.
//!
//! A model's `tokenizer_config.json` carries a Jinja `chat_template` that turns a conversation
//! into the text the model sees. The Python training runtime renders it with transformers'
//! `apply_chat_template` (Jinja2); Tunery shows users the same text before training, so this
//! crate renders with MiniJinja configured the way transformers configures Jinja2 (see
//! [`ChatTemplate::new`]) and is checked byte for byte against strings Jinja2 produced
//! (`tests/fixtures`, made by `scripts/render-chat-template-fixtures.py`, whose renderings were
//! in turn compared with transformers' own `apply_chat_template`).
//!
//! [`ChatTemplate::render_with_spans`] also finds where each message's content sits in the
//! text and marks what training learns from: the assistant messages (unless their `weight` is
//! 0), each with the end-of-turn token that follows it. See [`Rendered`] for the exact rules.
//! The Python runtime labels the tokens it trains on by the same rule (a port of `spans.rs` in
//! `runtime/tunery_runtime/data.py`): `tests/trained_spans.rs` writes the spans of every fixture
//! to `tests/fixtures/spans/`, and the runtime's `tests/test_chat_template_parity.py` checks that
//! it trains on exactly the trained ones. A change to the rule changes both, and those files.
//!
//! Built-in templates for common model families ([`BUILTINS`]) serve base models that ship
//! none. Pure: no I/O, no environment; the caller reads files.
//!
//! Known differences from Jinja2, none of which the built-in templates meet: `strftime_now`
//! uses UTC, not the local time zone; filters MiniJinja lacks (`center`, `wordwrap`, …) fail at
//! render time (a [`TemplateError::Render`]); `~` joins `none` and booleans as `none`/`true`
//! where Python writes `None`/`True` (`{{ }}` and `|string` do write Python's forms); `tojson`
//! writes a `namespace()` as `{}` where Python raises.

mod builtin;
mod env;
mod json;
mod spans;
mod strftime;

use std::fmt;

use minijinja::value::Value;
use serde::{Deserialize, Serialize};

pub use builtin::{builtin, Builtin, BUILTINS};
pub use datasets::{Message, Role};
pub use spans::{Rendered, Span, SpanMethod};

/// The special tokens a template may use (`{{ bos_token }}`, `{{ eos_token }}`, …), as in the
/// tokenizer's `special_tokens_map`. A token that is `None` is undefined in the template, as in
/// transformers, where an unset token is missing from the map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialTokens {
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub pad_token: Option<String>,
    pub unk_token: Option<String>,
}

/// Why a template could not be compiled or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The source is not a valid template (found by [`ChatTemplate::new`]).
    #[error("the chat template does not compile: {message}{}", at_line(*line))]
    Syntax { message: String, line: Option<usize> },
    /// The template called `raise_exception(message)`: it refuses this conversation (roles
    /// that do not alternate, a system message it does not support, …). `message` is the
    /// template's own text.
    #[error("the chat template refused the conversation: {message}")]
    Raised { message: String },
    /// Rendering failed for another reason (an undefined value used where a value is needed,
    /// a type error, the work limit).
    #[error("the chat template failed to render: {message}{}", at_line(*line))]
    Render { message: String, line: Option<usize> },
    /// No messages: `apply_chat_template` refuses an empty conversation before rendering.
    #[error("cannot apply a chat template to an empty conversation; give at least one message")]
    EmptyConversation,
    /// [`ChatTemplate::builtin`] with a name that is not in [`BUILTINS`].
    #[error("no built-in chat template is named {name:?}; the built-in ones are {}", builtin_names())]
    UnknownBuiltin { name: String },
    /// A `tokenizer_config.json` that cannot be read, or that has no chat template.
    #[error("tokenizer_config.json: {message}")]
    Config { message: String },
    /// [`ChatTemplate::with_variable`] with a name the renderer sets itself.
    #[error("the template variable {name:?} is set by the renderer and cannot be given")]
    ReservedVariable { name: String },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(" (template line {line})")).unwrap_or_default()
}

fn builtin_names() -> String {
    BUILTINS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

/// Names the renderer sets from the call: not available to [`ChatTemplate::with_variable`].
const RESERVED: [&str; 2] = ["messages", "add_generation_prompt"];

/// End-of-turn tokens of common templates, looked for right after an assistant message's
/// content when the template was not given its own (see [`ChatTemplate::with_end_of_turn`]).
pub const KNOWN_END_OF_TURN_TOKENS: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "</s>",
    "<|END_OF_TURN_TOKEN|>",
];

/// A compiled chat template with its special tokens. Cheap to share (`Send + Sync`); each
/// render is independent.
pub struct ChatTemplate {
    env: minijinja::Environment<'static>,
    source: String,
    special: SpecialTokens,
    variables: Vec<(String, Value)>,
    /// Longest first, so `<|end|>` does not win over a longer token starting the same way.
    end_of_turn: Vec<String>,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source_len", &self.source.len())
            .field("special", &self.special)
            .field("variables", &self.variables.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .field("end_of_turn", &self.end_of_turn)
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles `source` as transformers compiles a chat template: Jinja with
    /// `trim_blocks` and `lstrip_blocks`, loop controls (`break`, `continue`), `namespace()`,
    /// `raise_exception(msg)`, `strftime_now(fmt)` (UTC), transformers' `tojson` (Python
    /// `json.dumps`, non-ASCII kept, `indent` and friends), Python's string and dict methods,
    /// values printed as Python prints them, and `{% generation %}` blocks rendered as their
    /// body. A syntax error is a [`TemplateError::Syntax`].
    pub fn new(source: &str, special: SpecialTokens) -> Result<ChatTemplate, TemplateError> {
        let env = env::environment(source).map_err(|err| TemplateError::Syntax { message: describe(&err), line: err.line() })?;
        let mut end_of_turn: Vec<String> =
            special.eos_token.iter().cloned().chain(KNOWN_END_OF_TURN_TOKENS.iter().map(|t| t.to_string())).collect();
        sort_tokens(&mut end_of_turn);
        Ok(ChatTemplate { env, source: source.to_string(), special, variables: Vec::new(), end_of_turn })
    }

    /// A built-in template with its model's special tokens (see [`BUILTINS`]).
    pub fn builtin(name: &str) -> Result<ChatTemplate, TemplateError> {
        builtin(name).ok_or_else(|| TemplateError::UnknownBuiltin { name: name.to_string() })?.template()
    }

    /// The template and special tokens of a Hugging Face `tokenizer_config.json` (its text).
    /// `chat_template` may be a string or a list of named templates (the one named `default`
    /// is used); tokens may be strings or `AddedToken` objects (`{"content": …}`).
    pub fn from_tokenizer_config(json: &str) -> Result<ChatTemplate, TemplateError> {
        let config_error = |message: String| TemplateError::Config { message };
        let config: serde_json::Value = serde_json::from_str(json).map_err(|err| config_error(format!("not valid JSON: {err}")))?;
        let source = match config.get("chat_template") {
            Some(serde_json::Value::String(source)) => source.clone(),
            Some(serde_json::Value::Array(named)) => named
                .iter()
                .find(|entry| entry.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|entry| entry.get("template"))
                .and_then(|t| t.as_str())
                .ok_or_else(|| config_error("chat_template is a list without a template named \"default\"".to_string()))?
                .to_string(),
            Some(serde_json::Value::Null) | None => return Err(config_error("has no chat_template".to_string())),
            Some(other) => return Err(config_error(format!("chat_template must be a string or a list, not {other}"))),
        };
        let token = |name: &str| match config.get(name) {
            Some(serde_json::Value::String(token)) => Some(token.clone()),
            Some(serde_json::Value::Object(added)) => added.get("content").and_then(|c| c.as_str()).map(str::to_string),
            _ => None,
        };
        let special = SpecialTokens {
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
            pad_token: token("pad_token"),
            unk_token: token("unk_token"),
        };
        ChatTemplate::new(&source, special)
    }

    /// Passes an extra variable to the template, as keyword arguments to
    /// `apply_chat_template` do: `date_string` for Llama 3.1+, `enable_thinking` for Qwen3, a
    /// different `eos_token`… `messages` and `add_generation_prompt` are set by each render.
    pub fn with_variable(mut self, name: &str, value: serde_json::Value) -> Result<ChatTemplate, TemplateError> {
        if RESERVED.contains(&name) {
            return Err(TemplateError::ReservedVariable { name: name.to_string() });
        }
        self.variables.retain(|(existing, _)| existing != name);
        self.variables.push((name.to_string(), json_to_value(&value)));
        Ok(self)
    }

    /// Sets the tokens that end an assistant turn (replacing the default: the EOS token and
    /// [`KNOWN_END_OF_TURN_TOKENS`]). A trained span covers one of them when it follows the
    /// content immediately.
    pub fn with_end_of_turn<I, S>(mut self, tokens: I) -> ChatTemplate
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.end_of_turn = tokens.into_iter().map(Into::into).filter(|t| !t.is_empty()).collect();
        sort_tokens(&mut self.end_of_turn);
        self
    }

    /// The Jinja source as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }

    /// The end-of-turn tokens looked for after assistant content, longest first.
    pub fn end_of_turn(&self) -> &[String] {
        &self.end_of_turn
    }

    /// The text `tokenizer.apply_chat_template(messages, tokenize=False,
    /// add_generation_prompt=…)` returns. The template sees `messages` (a list of
    /// `{role, content}` — `weight` is Tunery's and not passed), `add_generation_prompt`,
    /// `tools` and `documents` (both `None`), the special tokens that are set, and the
    /// variables given with [`with_variable`](Self::with_variable).
    ///
    /// An empty conversation is a [`TemplateError::EmptyConversation`], as in transformers.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, TemplateError> {
        if messages.is_empty() {
            return Err(TemplateError::EmptyConversation);
        }
        let template =
            self.env.get_template(env::TEMPLATE_NAME).map_err(|err| TemplateError::Render { message: describe(&err), line: err.line() })?;
        template.render(self.context(messages, add_generation_prompt)).map_err(render_error)
    }

    /// The training text (`add_generation_prompt = false`) and where each message is in it;
    /// see [`Rendered`].
    pub fn render_with_spans(&self, messages: &[Message]) -> Result<Rendered, TemplateError> {
        spans::locate(self, messages)
    }

    fn context(&self, messages: &[Message], add_generation_prompt: bool) -> Value {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| ordered_map([("role", Value::from(m.role.as_str())), ("content", Value::from(m.content.as_str()))]))
            .collect();
        let mut entries: Vec<(String, Value)> = vec![
            ("messages".to_string(), Value::from(messages)),
            ("tools".to_string(), Value::from(())),
            ("documents".to_string(), Value::from(())),
            ("add_generation_prompt".to_string(), Value::from(add_generation_prompt)),
        ];
        let tokens = [
            ("bos_token", &self.special.bos_token),
            ("eos_token", &self.special.eos_token),
            ("pad_token", &self.special.pad_token),
            ("unk_token", &self.special.unk_token),
        ];
        for (name, token) in tokens {
            if let Some(token) = token {
                entries.push((name.to_string(), Value::from(token.as_str())));
            }
        }
        for (name, value) in &self.variables {
            entries.retain(|(existing, _)| existing != name);
            entries.push((name.clone(), value.clone()));
        }
        map_value(entries)
    }
}

fn sort_tokens(tokens: &mut Vec<String>) {
    tokens.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    tokens.dedup();
}

/// A map that iterates in the given order, as a Python dict does.
fn ordered_map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    map_value(entries.into_iter().map(|(k, v)| (k.to_string(), v)))
}

fn map_value<I: IntoIterator<Item = (String, Value)>>(entries: I) -> Value {
    Value::from(entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect::<indexmap::IndexMap<Value, Value>>())
}

fn json_to_value(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::from(items.iter().map(json_to_value).collect::<Vec<_>>()),
        serde_json::Value::Object(map) => map_value(map.iter().map(|(k, v)| (k.clone(), json_to_value(v)))),
    }
}

/// The error's own words (MiniJinja's `detail`), else its kind.
fn describe(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}

fn render_error(err: minijinja::Error) -> TemplateError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = source {
        if let Some(raised) = current.downcast_ref::<env::Raised>() {
            return TemplateError::Raised { message: raised.0.clone() };
        }
        source = current.source();
    }
    TemplateError::Render { message: describe(&err), line: err.line() }
}
