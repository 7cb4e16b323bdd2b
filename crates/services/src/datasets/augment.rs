//! The client of a recipe's `augment` step: an OpenAI-compatible chat-completions endpoint
//! (a vLLM or llama.cpp server, a hosted API) that paraphrases or back-translates each turn.
//!
//! Only endpoints the administrator allowed (`--augment-endpoint URL`, matched as a prefix)
//! are called: otherwise any user who may preprocess could make the server send requests
//! anywhere. The API key comes from an environment variable of the server named in the
//! recipe; it is never stored, logged or shown.

use crate::{Error, Result};
use datasets::recipe::augment::{AugmentEndpoint, AugmentMethod, AugmentRequest, Augmenter};
use datasets::{Message, Role};
use domain::ValidationError;
use std::time::Duration;

/// How long one completion may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest error body quoted.
const QUOTED_BYTES: usize = 300;

pub(crate) struct OpenAiAugmenter {
    client: reqwest::Client,
    completions_url: String,
    model: String,
    api_key: Option<String>,
    runtime: tokio::runtime::Handle,
}

impl OpenAiAugmenter {
    /// A client for `endpoint` if the server allows it; called on an async thread (it keeps
    /// the runtime's handle to make its requests from the recipe's blocking thread).
    pub fn new(endpoint: &AugmentEndpoint, allowed: &[String], step: usize) -> Result<OpenAiAugmenter> {
        let field = |name: &str| format!("recipe.steps[{step}].endpoint.{name}");
        let AugmentEndpoint::Url { url, model, api_key_env } = endpoint else {
            return Err(ValidationError::unprocessable(
                &field("deployment_id"),
                "deployments do not exist yet; give an OpenAI-compatible url",
            )
            .into());
        };
        let base = url.trim_end_matches('/');
        if !crate::deployments::endpoint_allowed(url, allowed) {
            let message = if allowed.is_empty() {
                "this server allows no augmentation endpoints; an administrator starts it with --augment-endpoint URL".to_owned()
            } else {
                format!("{url} is not an endpoint this server allows (allowed: {})", allowed.join(", "))
            };
            return Err(ValidationError::unprocessable(&field("url"), message).into());
        }
        let api_key = match api_key_env {
            None => None,
            Some(name) => Some(std::env::var(name).map_err(|_| {
                Error::from(ValidationError::unprocessable(&field("api_key_env"), format!("the server has no environment variable {name}")))
            })?),
        };
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("tunery/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("cannot set up the HTTP client: {e}")))?;
        Ok(OpenAiAugmenter {
            client,
            completions_url: format!("{base}/chat/completions"),
            model: model.clone(),
            api_key,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// One chat completion: `instruction` as the system message, `text` as the user's.
    fn complete(&self, instruction: &str, text: &str, temperature: Option<f32>) -> std::result::Result<String, String> {
        let mut body = serde_json::json!({
            "model": self.model,
            "messages": [{"role": "system", "content": instruction}, {"role": "user", "content": text}],
        });
        if let Some(t) = temperature {
            body["temperature"] = serde_json::json!(t);
        }
        let mut request = self.client.post(&self.completions_url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let url = &self.completions_url;
        self.runtime.block_on(async {
            let response = request.send().await.map_err(|e| format!("cannot reach {url}: {e}"))?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| format!("{url} stopped answering: {e}"))?;
            if !status.is_success() {
                let quoted = String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTED_BYTES)]).into_owned();
                return Err(format!("HTTP {} from {url}: {quoted}", status.as_u16()));
            }
            let answer: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("{url} answered with something other than JSON: {e}"))?;
            answer["choices"][0]["message"]["content"]
                .as_str()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("{url} answered without choices[0].message.content"))
        })
    }
}

fn paraphrase_instruction() -> &'static str {
    "Paraphrase the text the user sends. Keep its meaning, its language, every fact, name, number and code, and its formatting. \
     Answer with the paraphrase only."
}

fn translate_instruction(language: &str) -> String {
    format!("Translate the text the user sends into {language}. Keep every fact, name, number and code, and the formatting. Answer with the translation only.")
}

/// The language to translate back into: the script of the original.
fn original_language(text: &str) -> &'static str {
    let han = text.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if han * 2 >= letters.max(1) {
        "Chinese"
    } else {
        "the language of the original text, most likely English"
    }
}

impl Augmenter for OpenAiAugmenter {
    fn augment(&self, request: &AugmentRequest<'_>) -> std::result::Result<Vec<Message>, String> {
        request
            .messages
            .iter()
            .map(|m| {
                // The system prompt sets the task: it stays as it is.
                if m.role == Role::System {
                    return Ok(m.clone());
                }
                let content = match request.method {
                    AugmentMethod::Paraphrase => self.complete(paraphrase_instruction(), &m.content, request.temperature)?,
                    AugmentMethod::BackTranslate => {
                        let pivot = request.pivot_language.unwrap_or("en");
                        let there = self.complete(&translate_instruction(pivot), &m.content, request.temperature)?;
                        self.complete(&translate_instruction(original_language(&m.content)), &there, request.temperature)?
                    }
                };
                let mut out = m.clone();
                out.content = content;
                Ok(out)
            })
            .collect()
    }
}
