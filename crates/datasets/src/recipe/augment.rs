//! The augmentation step: paraphrase or back-translate chat records through a model.
//!
//! [`Recipe::check`] validates the parameters; running the step needs an [`Augmenter`] in the
//! recipe's tools — a client of any OpenAI-compatible URL (the services provide one), later of
//! a deployed Tunery model (refused until deployments exist). Each chat record is kept and
//! followed by `copies` variants (same roles, rewritten contents), which go through the steps
//! after this one; preference pairs and texts pass unchanged. A variant the model fails to
//! make is counted and shown as an example; [`MAX_FAILURES_IN_A_ROW`] failures in a row stop
//! the recipe (the endpoint is down or refuses), so a dead endpoint is not called a million
//! times.
//!
//! [`Recipe::check`]: super::Recipe::check

/// Consecutive failed variants that stop the recipe.
pub const MAX_FAILURES_IN_A_ROW: u32 = 10;

use crate::record::Message;
use serde::{Deserialize, Serialize};

/// How new variants of a record are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AugmentMethod {
    /// Rewrite each user and assistant turn with the same meaning.
    Paraphrase,
    /// Translate each turn to `pivot_language` and back.
    BackTranslate,
}

/// Which model does the rewriting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AugmentEndpoint {
    /// A model deployed on this Tunery instance.
    Deployment { deployment_id: String },
    /// Any OpenAI-compatible chat-completions server; the key is read from an environment
    /// variable of the server, never stored in the recipe.
    Url {
        /// An `http://` or `https://` URL.
        #[schema(pattern = "^https?://")]
        url: String,
        /// The model to call: not blank.
        #[schema(pattern = "[^\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]")]
        model: String,
        api_key_env: Option<String>,
    },
}

/// `{"step": "augment", "method": "paraphrase", "endpoint": {...}, "copies": 1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    pub method: AugmentMethod,
    pub endpoint: AugmentEndpoint,
    /// New variants per record (1 to 10); the original is kept too.
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 10)]
    pub copies: u32,
    /// For back-translation: the language to go through (`zh`, `en`, `fr`, …).
    pub pivot_language: Option<String>,
    /// Sampling temperature for the rewriting model (0 to 2).
    #[schema(minimum = 0, maximum = 2)]
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

/// Asks for `config.copies` variants of a chat record (none for other kinds): each the new
/// record or why it could not be made. Fails the recipe after [`MAX_FAILURES_IN_A_ROW`]
/// failures in a row (counted across records in `failures_in_a_row`).
pub(crate) fn variants(
    config: &Augment,
    augmenter: &dyn Augmenter,
    record: &crate::record::Record,
    failures_in_a_row: &mut u32,
) -> Result<Vec<Result<crate::record::Record, String>>, super::RecipeError> {
    let crate::record::Record::Chat { messages } = record else { return Ok(Vec::new()) };
    let request = AugmentRequest {
        method: config.method,
        messages,
        pivot_language: config.pivot_language.as_deref(),
        temperature: config.temperature,
    };
    let mut out = Vec::with_capacity(config.copies as usize);
    for _ in 0..config.copies {
        match augmenter.augment(&request) {
            Ok(new) if new.len() == messages.len() && new.iter().zip(messages).all(|(a, b)| a.role == b.role) => {
                *failures_in_a_row = 0;
                out.push(Ok(crate::record::Record::Chat { messages: new }));
            }
            result => {
                let why = match result {
                    Err(e) => e,
                    Ok(_) => "the variant does not have the same turns and roles".to_owned(),
                };
                *failures_in_a_row += 1;
                if *failures_in_a_row >= MAX_FAILURES_IN_A_ROW {
                    return Err(super::RecipeError::Augment(format!(
                        "the augmentation endpoint failed {MAX_FAILURES_IN_A_ROW} times in a row; the last time: {why}"
                    )));
                }
                out.push(Err(why));
            }
        }
    }
    Ok(out)
}

/// The parameters' own rules: (field, message) of the first one broken.
pub(crate) fn check_augment(a: &Augment) -> Result<(), (&'static str, String, bool)> {
    if !(1..=10).contains(&a.copies) {
        return Err(("copies", format!("must be between 1 and 10, found {}", a.copies), false));
    }
    if let Some(t) = a.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(("temperature", format!("must be between 0 and 2, found {t}"), false));
        }
    }
    match (&a.method, &a.pivot_language) {
        (AugmentMethod::BackTranslate, None) => return Err(("pivot_language", "back-translation needs a pivot_language".to_owned(), true)),
        (AugmentMethod::Paraphrase, Some(_)) => {
            return Err(("pivot_language", "only back-translation uses a pivot_language".to_owned(), true))
        }
        _ => {}
    }
    match &a.endpoint {
        AugmentEndpoint::Url { url, model, .. } => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(("endpoint.url", format!("must be an http(s) URL, found '{url}'"), false));
            }
            if model.trim().is_empty() {
                return Err(("endpoint.model", "must name the model to call".to_owned(), false));
            }
            Ok(())
        }
        AugmentEndpoint::Deployment { .. } => Err((
            "endpoint.deployment_id",
            "deployments do not exist yet; give an OpenAI-compatible endpoint: {\"url\": …, \"model\": …}".to_owned(),
            true,
        )),
    }
}
