//! The augmentation step's interface: paraphrase or back-translate records through a model.
//!
//! A recipe may already name the step and its model endpoint, and [`Recipe::check`] validates
//! the parameters; running it needs an [`Augmenter`] — a client of a deployed Tunery model or of
//! any OpenAI-compatible URL — which the deployment service provides once deployments exist.
//! Until then the step is refused before any data is read, with that reason.
//!
//! [`Recipe::check`]: super::Recipe::check

use crate::record::Message;
use serde::{Deserialize, Serialize};

/// How new variants of a record are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AugmentMethod {
    /// Rewrite each user and assistant turn with the same meaning.
    Paraphrase,
    /// Translate each turn to `pivot_language` and back.
    BackTranslate,
}

/// Which model does the rewriting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AugmentEndpoint {
    /// A model deployed on this Tunery instance.
    Deployment { deployment_id: String },
    /// Any OpenAI-compatible chat-completions server; the key is read from an environment
    /// variable of the server, never stored in the recipe.
    Url { url: String, model: String, api_key_env: Option<String> },
}

/// `{"step": "augment", "method": "paraphrase", "endpoint": {...}, "copies": 1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    pub method: AugmentMethod,
    pub endpoint: AugmentEndpoint,
    /// New variants per record (1 to 10); the original is kept too.
    #[serde(default = "one")]
    pub copies: u32,
    /// For back-translation: the language to go through (`zh`, `en`, `fr`, …).
    pub pivot_language: Option<String>,
    /// Sampling temperature for the rewriting model (0 to 2).
    pub temperature: Option<f32>,
}

fn one() -> u32 {
    1
}

/// What an [`Augmenter`] is asked to do for one record.
#[derive(Debug, Clone)]
pub struct AugmentRequest<'a> {
    pub method: AugmentMethod,
    pub messages: &'a [Message],
    pub pivot_language: Option<&'a str>,
    pub temperature: Option<f32>,
}

/// Makes variants of a record through a model (implemented by the deployment service).
pub trait Augmenter: Send + Sync {
    /// One variant of the conversation (same roles, rewritten contents), or why not.
    fn augment(&self, request: &AugmentRequest<'_>) -> Result<Vec<Message>, String>;
}

/// The parameters' own rules: (field, message) of the first one broken.
pub(crate) fn check_augment(a: &Augment) -> Result<(), (&'static str, String)> {
    if !(1..=10).contains(&a.copies) {
        return Err(("copies", format!("must be between 1 and 10, found {}", a.copies)));
    }
    if let Some(t) = a.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(("temperature", format!("must be between 0 and 2, found {t}")));
        }
    }
    match (&a.method, &a.pivot_language) {
        (AugmentMethod::BackTranslate, None) => return Err(("pivot_language", "back-translation needs a pivot_language".to_owned())),
        (AugmentMethod::Paraphrase, Some(_)) => return Err(("pivot_language", "only back-translation uses a pivot_language".to_owned())),
        _ => {}
    }
    if let AugmentEndpoint::Url { url, model, .. } = &a.endpoint {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(("endpoint.url", format!("must be an http(s) URL, found '{url}'")));
        }
        if model.trim().is_empty() {
            return Err(("endpoint.model", "must name the model to call".to_owned()));
        }
    }
    Err((
        "step",
        "augmentation calls a model through a deployment or an OpenAI-compatible URL; it runs once deployments exist — remove this step for now".to_owned(),
    ))
}
