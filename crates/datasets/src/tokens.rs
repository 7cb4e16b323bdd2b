//! Token counts come from outside (a tokenizer belongs to the model): callers pass a
//! [`TokenCounter`] in the scan options, and the scan reports tokens per record and how many
//! records a `max_tokens` limit would truncate.

use serde::Serialize;

use crate::histogram::DistributionReport;

/// Counts the tokens of a text for some model's tokenizer.
pub trait TokenCounter: Send + Sync {
    fn count(&self, text: &str) -> usize;
}

/// Token statistics over valid records. A record's tokens are the sum over the contents of
/// the messages trained together (for a preference pair: the prompt plus the longer answer);
/// chat-template tokens are not included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenStats {
    pub per_record: DistributionReport,
    pub total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// Records with more than `max_tokens` tokens: they would be truncated.
    pub over_max_tokens: u64,
    /// `over_max_tokens` divided by the records counted (0 when there are none).
    pub over_max_tokens_share: f64,
}
