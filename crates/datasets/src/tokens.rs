//! Token counts come from outside (a tokenizer belongs to the model): callers pass a
//! [`TokenCounter`] in the scan options, and the scan reports tokens per record and how many
//! records a `max_tokens` limit would truncate.

use serde::{Deserialize, Serialize};

use crate::histogram::DistributionReport;
use crate::record::{Message, Record};

/// Counts the tokens of a text for some model's tokenizer. A text the tokenizer cannot encode
/// is an error saying why, never a count of 0.
pub trait TokenCounter: Send + Sync {
    fn count(&self, text: &str) -> Result<usize, String>;
}

/// A record's tokens: the contents trained together — all messages of a conversation, a pair's
/// prompt plus its longer answer, a text. Chat-template tokens are not included.
pub fn record_tokens(counter: &dyn TokenCounter, record: &Record) -> Result<usize, String> {
    let sum = |list: &[Message]| list.iter().map(|m| counter.count(&m.content)).sum::<Result<usize, String>>();
    Ok(match record {
        Record::Chat { messages } => sum(messages)?,
        Record::Preference { prompt, chosen, rejected } => sum(prompt)? + sum(chosen)?.max(sum(rejected)?),
        Record::Text { text } => counter.count(text)?,
    })
}

/// Token statistics over valid records. A record's tokens are the sum over the contents of
/// the messages trained together (for a preference pair: the prompt plus the longer answer);
/// chat-template tokens are not included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenStats {
    pub per_record: DistributionReport,
    pub total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// Records with more than `max_tokens` tokens: they would be truncated.
    pub over_max_tokens: u64,
    /// `over_max_tokens` divided by the records counted (0 when there are none).
    pub over_max_tokens_share: f64,
    /// Records the tokenizer could not encode: left out of the figures above, never counted as 0.
    pub uncountable_records: u64,
    /// Why the first of them could not be counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncountable_example: Option<String>,
}
