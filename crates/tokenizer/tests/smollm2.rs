//! The real SmolLM2-135M-Instruct tokenizer, when it is on this machine: its shape takes the fast
//! path, and the fast path counts exactly what the library counts.
//!
//! Found at `$TUNERY_SMOLLM2_TOKENIZER`, else where `scripts/fetch-smollm2-tokenizer.sh` puts it
//! (`${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/models/smollm2-135m-instruct/tokenizer.json`).
//! When absent the test says so in the test output (it does not fail: CI machines may not have
//! fetched it).

mod common;

use std::path::PathBuf;

use common::*;
use tokenizer::{CountPath, ModelTokenizer};

/// The file `scripts/fetch-smollm2-tokenizer.sh` makes (required under `CI=true`).
fn smollm2_path() -> Option<PathBuf> {
    test_support::smollm2_tokenizer()
}

#[test]
fn smollm2_fast_path_is_exact() {
    let Some(path) = smollm2_path() else {
        note(
            "smollm2: NOT CHECKED: no SmolLM2 tokenizer (run scripts/fetch-smollm2-tokenizer.sh, or set TUNERY_SMOLLM2_TOKENIZER); \
             only the trained tiny tokenizers were checked",
        );
        return;
    };
    let counter = ModelTokenizer::from_file(&path).expect("load the SmolLM2 tokenizer");
    assert_eq!(counter.path(), CountPath::Fast, "{:?}", counter.fast_path_refusal());
    let mut texts = corpus();
    texts.extend(chat_like_texts(21, 3000));
    texts.extend(generated_texts(22, 10_000));
    let checked = check_exact("SmolLM2", &counter, &texts);
    let stats = counter.cache_stats().expect("cache");
    note(&format!(
        "smollm2: checked {}: {} texts, {} tokens, pieces equal on {} texts; cache {} hits / {} misses",
        path.display(),
        checked.texts,
        checked.tokens,
        checked.pieces_compared,
        stats.hits,
        stats.misses
    ));
    // Special tokens inside a text count as one token each, as in the library.
    assert_eq!(counter.try_count("<|im_start|><|im_end|>").expect("count"), 2);
}
