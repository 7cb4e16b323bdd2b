//! Whether a tokenizer has the shape the fast path reproduces exactly, read from its own
//! serialisation (so defaults the file left out are filled in the library's way):
//!
//! - no normalizer;
//! - a BPE model without dropout;
//! - pre-tokenizer: the GPT-2 split then the byte-level mapping, without a prefix space, as
//!   `ByteLevel(use_regex)` or `Split(GPT-2 regex, Isolated)` + `ByteLevel(no regex)`, optionally
//!   after `Digits` and optionally inside a `Sequence`.
//!
//! Anything else (and any unknown field value) answers why not, and the exact path is used.

use serde_json::Value;
use tokenizers::models::ModelWrapper;
use tokenizers::Tokenizer;

use crate::split::Digits;

/// The split pattern of the `ByteLevel` pre-tokenizer.
pub(crate) const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// The `Digits` step the fast path must reproduce, or why it cannot. Only the small parts are
/// serialised (not the vocabulary), so checking costs no memory to speak of.
pub(crate) fn fast_shape(tokenizer: &Tokenizer) -> Result<Digits, String> {
    if let Some(normalizer) = tokenizer.get_normalizer() {
        return Err(format!("it has a normalizer ({})", type_of(&to_value(normalizer)?)));
    }
    match tokenizer.get_model() {
        ModelWrapper::BPE(bpe) if bpe.dropout.is_some() => return Err("its BPE model uses dropout".into()),
        ModelWrapper::BPE(_) => {}
        ModelWrapper::WordPiece(_) => return Err("its model is WordPiece, not BPE".into()),
        ModelWrapper::WordLevel(_) => return Err("its model is WordLevel, not BPE".into()),
        ModelWrapper::Unigram(_) => return Err("its model is Unigram, not BPE".into()),
    }
    let pre = match tokenizer.get_pre_tokenizer() {
        Some(pre) => to_value(pre)?,
        None => return Err("it has no pre-tokenizer".into()),
    };
    let pre = &pre;
    let steps: Vec<&Value> = match pre["type"].as_str() {
        Some("Sequence") => match pre["pretokenizers"].as_array() {
            Some(steps) => steps.iter().collect(),
            None => return Err("its pre-tokenizer Sequence has no list".into()),
        },
        _ => vec![pre],
    };
    let describe = || steps.iter().map(|s| type_of(s)).collect::<Vec<_>>().join(", ");
    let (digits, rest) = match steps.split_first() {
        Some((first, rest)) if first["type"] == "Digits" => match first["individual_digits"].as_bool() {
            Some(true) => (Digits::Individual, rest),
            Some(false) => (Digits::Contiguous, rest),
            None => return Err("its Digits pre-tokenizer has no individual_digits flag".into()),
        },
        _ => (Digits::None, &steps[..]),
    };
    let gpt2 = match rest {
        [byte_level] => is_byte_level(byte_level, true),
        [split, byte_level] => is_gpt2_split(split) && is_byte_level(byte_level, false),
        _ => false,
    };
    if gpt2 {
        Ok(digits)
    } else {
        Err(format!("its pre-tokenizer [{}] is not the GPT-2 byte-level split", describe()))
    }
}

fn is_byte_level(step: &Value, use_regex: bool) -> bool {
    step["type"] == "ByteLevel"
        && step["add_prefix_space"] == false
        // `use_regex` defaults to true when absent.
        && step["use_regex"].as_bool().unwrap_or(true) == use_regex
}

fn is_gpt2_split(step: &Value) -> bool {
    step["type"] == "Split" && step["pattern"]["Regex"] == GPT2_PATTERN && step["behavior"] == "Isolated" && step["invert"] == false
}

fn to_value(part: &impl serde::Serialize) -> Result<Value, String> {
    serde_json::to_value(part).map_err(|e| format!("cannot serialise part of the tokenizer: {e}"))
}

fn type_of(value: &Value) -> String {
    value["type"].as_str().unwrap_or("?").to_string()
}
