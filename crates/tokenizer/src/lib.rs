//! Exact token counts with a model's own tokenizer (`tokenizer.json`), fast.
//!
//! [`ModelTokenizer`] loads a tokenizer and implements [`datasets::TokenCounter`]: `count(text)`
//! is the number of tokens of `encode(text, add_special_tokens = false)`, with truncation and
//! padding turned off (a count is of the whole text).
//!
//! Two ways to the same number:
//!
//! - **exact path**: the `tokenizers` library's own `encode` (any tokenizer);
//! - **fast path**, for byte-level BPE tokenizers of the GPT-2 shape (no normalizer; the GPT-2
//!   split, optionally after `Digits`; see `shape.rs`) — GPT-2, SmolLM2, StarCoder and their
//!   kin. The text is split by hand with the same pattern (character classes taken from the
//!   library's own regex engine), and the count of each **unique piece** is cached: the model
//!   tokenizes a piece on its own exactly as inside `encode`, so the sum over pieces is the
//!   library's count. Text containing one of the tokenizer's added tokens (`<|im_end|>`, …) goes
//!   the exact path, since the library cuts those out first.
//!
//! The shape is checked at load; [`ModelTokenizer::path`] says which path counts, and
//! [`ModelTokenizer::fast_path_refusal`] why not the fast one. Tests check both paths give the
//! same count on a large varied corpus and on generated strings.
//!
//! Memory: the library's tokenizer (about 35 MB for SmolLM2's 49k vocabulary), a 1.1 MB table
//! of character classes shared by all instances, and the bounded piece cache (at most
//! 2 × [`DEFAULT_CACHE_ENTRIES`] pieces of up to 64 bytes). The cache sits behind one mutex per
//! instance: threads counting with the same instance take turns (one lock per text).

mod bytes;
mod cache;
mod classes;
mod shape;
mod split;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use aho_corasick::AhoCorasick;
use datasets::TokenCounter;
use tokenizers::{Model, Tokenizer};

pub use cache::{CacheStats, DEFAULT_CACHE_ENTRIES};

use crate::cache::PieceCache;
use crate::classes::Classes;
use crate::split::Digits;

/// Why a tokenizer could not be loaded or a text not encoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read tokenizer file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid tokenizer.json: {0}")]
    Invalid(String),
    #[error("the tokenizer cannot encode the text: {0}")]
    Encode(String),
}

/// Which way [`ModelTokenizer`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPath {
    /// Hand-written GPT-2 split and a per-piece cache in front of the model.
    Fast,
    /// The library's `encode`.
    Exact,
}

struct FastPath {
    digits: Digits,
    classes: &'static Classes,
    /// The tokenizer's added tokens: text containing one goes the exact path.
    added: Option<AhoCorasick>,
    cache: Mutex<PieceCache>,
}

/// A model's tokenizer, counting tokens exactly (see the crate docs).
pub struct ModelTokenizer {
    tokenizer: Tokenizer,
    fast: Result<FastPath, String>,
}

impl std::fmt::Debug for ModelTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelTokenizer").field("path", &self.path()).field("fast_path_refusal", &self.fast_path_refusal()).finish()
    }
}

impl ModelTokenizer {
    /// Loads a `tokenizer.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ModelTokenizer, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        ModelTokenizer::from_bytes(&bytes)
    }

    /// Loads the contents of a `tokenizer.json`.
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelTokenizer, Error> {
        let tokenizer = Tokenizer::from_bytes(bytes).map_err(|e| Error::Invalid(e.to_string()))?;
        ModelTokenizer::from_tokenizer(tokenizer)
    }

    /// Wraps a tokenizer built in code. Truncation and padding are turned off.
    pub fn from_tokenizer(mut tokenizer: Tokenizer) -> Result<ModelTokenizer, Error> {
        tokenizer.with_truncation(None).map_err(|e| Error::Invalid(e.to_string()))?;
        tokenizer.with_padding(None);
        let fast = fast_path(&tokenizer);
        Ok(ModelTokenizer { tokenizer, fast })
    }

    /// Counts with the exact path only, whatever the shape (for comparisons).
    pub fn without_fast_path(mut self) -> ModelTokenizer {
        self.fast = Err("turned off".into());
        self
    }

    /// Sets how many pieces the fast path's cache keeps per generation (it keeps at most twice
    /// this many; default [`DEFAULT_CACHE_ENTRIES`]). Clears the cache.
    pub fn with_cache_entries(mut self, entries: usize) -> ModelTokenizer {
        if let Ok(fast) = &mut self.fast {
            fast.cache = Mutex::new(PieceCache::new(entries));
        }
        self
    }

    /// Which way [`TokenCounter::count`] counts.
    pub fn path(&self) -> CountPath {
        if self.fast.is_ok() {
            CountPath::Fast
        } else {
            CountPath::Exact
        }
    }

    /// Why the fast path does not apply, when it does not.
    pub fn fast_path_refusal(&self) -> Option<&str> {
        self.fast.as_ref().err().map(String::as_str)
    }

    /// The library tokenizer (truncation and padding off).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Counters of the fast path's cache (None on the exact path).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        let fast = self.fast.as_ref().ok()?;
        Some(fast.cache.lock().unwrap_or_else(PoisonError::into_inner).stats())
    }

    /// The number of tokens of `encode(text, add_special_tokens = false)`, the way
    /// [`ModelTokenizer::path`] says.
    pub fn try_count(&self, text: &str) -> Result<usize, Error> {
        match &self.fast {
            Ok(fast) => self.count_fast(fast, text),
            Err(_) => self.try_count_exact(text),
        }
    }

    /// The same count through the library's `encode`, whatever the path.
    pub fn try_count_exact(&self, text: &str) -> Result<usize, Error> {
        let encoding = self.tokenizer.encode_fast(text, false).map_err(|e| Error::Encode(e.to_string()))?;
        Ok(encoding.len())
    }

    /// The byte-level pieces the fast path gives the model for `text`, in order; None when the
    /// fast path does not apply (to the tokenizer, or to this text). Equal to the library's
    /// `pre_tokenize_str` pieces: for diagnostics and tests.
    pub fn fast_pieces(&self, text: &str) -> Option<Vec<String>> {
        let fast = self.fast.as_ref().ok()?;
        if fast.added.as_ref().is_some_and(|added| added.is_match(text)) {
            return None;
        }
        let mut out = Vec::new();
        split::pieces(text, fast.digits, fast.classes, &mut |piece| {
            let mut level = String::new();
            bytes::byte_level(piece, &mut level);
            out.push(level);
        });
        Some(out)
    }

    fn count_fast(&self, fast: &FastPath, text: &str) -> Result<usize, Error> {
        if fast.added.as_ref().is_some_and(|added| added.is_match(text)) {
            return self.try_count_exact(text);
        }
        let model = self.tokenizer.get_model();
        let mut cache = fast.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = 0;
        let mut failed = None;
        split::pieces(text, fast.digits, fast.classes, &mut |piece| {
            if failed.is_some() {
                return;
            }
            let counted = cache.get_or_count(piece, |piece, scratch| {
                bytes::byte_level(piece, scratch);
                model.tokenize(scratch).map(|tokens| tokens.len())
            });
            match counted {
                Ok(n) => total += n,
                Err(e) => failed = Some(e),
            }
        });
        match failed {
            None => Ok(total),
            Some(e) => Err(Error::Encode(e.to_string())),
        }
    }
}

impl TokenCounter for ModelTokenizer {
    /// A text the tokenizer cannot encode (a BPE model whose unknown token is missing from its
    /// own vocabulary, say) is an error saying why.
    fn count(&self, text: &str) -> Result<usize, String> {
        self.try_count(text).map_err(|e| e.to_string())
    }
}

/// A token counter for the `tokenizer.json` at `path`: the fast path when the tokenizer has the
/// shape for it, the exact one otherwise (same counts either way).
pub fn counter_for(path: impl AsRef<Path>) -> Result<Box<dyn TokenCounter>, Error> {
    Ok(Box::new(ModelTokenizer::from_file(path)?))
}

fn fast_path(tokenizer: &Tokenizer) -> Result<FastPath, String> {
    let digits = shape::fast_shape(tokenizer)?;
    let classes = Classes::get()?;
    let added: Vec<String> =
        tokenizer.get_added_tokens_decoder().into_values().map(|token| token.content).filter(|content| !content.is_empty()).collect();
    let added =
        if added.is_empty() { None } else { Some(AhoCorasick::new(&added).map_err(|e| format!("cannot index the added tokens: {e}"))?) };
    Ok(FastPath { digits, classes, added, cache: Mutex::new(PieceCache::new(DEFAULT_CACHE_ENTRIES)) })
}
