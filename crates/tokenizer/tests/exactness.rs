//! The fast path counts exactly what the library counts, on tiny BPE tokenizers trained here in
//! every shape the fast path accepts; other shapes go the exact path.

mod common;

use common::*;
use serde_json::{json, Value};
use tokenizer::{counter_for, CountPath, ModelTokenizer};

/// The shapes the fast path reproduces: (name, pre-tokenizer).
fn fast_shapes() -> Vec<(&'static str, Value)> {
    vec![
        ("ByteLevel (GPT-2)", byte_level(true)),
        ("Sequence[Digits(individual), ByteLevel] (SmolLM2)", sequence(&[digits(true), byte_level(true)])),
        ("Sequence[Digits(contiguous), ByteLevel]", sequence(&[digits(false), byte_level(true)])),
        ("Sequence[Split(GPT-2), ByteLevel(no regex)]", sequence(&[split(GPT2_PATTERN), byte_level(false)])),
        (
            "Sequence[Digits(individual), Split(GPT-2), ByteLevel(no regex)]",
            sequence(&[digits(true), split(GPT2_PATTERN), byte_level(false)]),
        ),
        ("Sequence[ByteLevel]", sequence(&[byte_level(true)])),
    ]
}

#[test]
fn fast_path_counts_exactly_on_every_accepted_shape() {
    let corpus = corpus();
    for (name, pre) in fast_shapes() {
        let counter = ModelTokenizer::from_tokenizer(train(pre, Value::Null)).expect("load");
        assert_eq!(counter.path(), CountPath::Fast, "{name}: {:?}", counter.fast_path_refusal());
        let checked = check_exact(name, &counter, &corpus);
        let stats = counter.cache_stats().expect("fast path has a cache");
        note(&format!(
            "exact: {name}: {} texts, {} tokens, pieces equal on {} texts; cache {} hits / {} misses",
            checked.texts, checked.tokens, checked.pieces_compared, stats.hits, stats.misses
        ));
        assert!(checked.pieces_compared > corpus.len() / 2, "{name}: most texts have no added token");
    }
}

#[test]
fn a_tiny_cache_still_counts_exactly_and_stays_bounded() {
    let counter = ModelTokenizer::from_tokenizer(train(sequence(&[digits(true), byte_level(true)]), Value::Null))
        .expect("load")
        .with_cache_entries(16);
    let texts = chat_like_texts(7, 500);
    check_exact("tiny cache", &counter, &texts);
    let stats = counter.cache_stats().expect("cache");
    assert!(stats.entries <= 32, "{stats:?}");
    assert!(stats.hits > 0 && stats.misses > 0, "{stats:?}");
}

#[test]
fn other_shapes_count_through_the_library() {
    let llama3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let cases = [
        ("a normalizer", byte_level(true), json!({"type": "NFC"}), "normalizer"),
        (
            "a prefix space",
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
            Value::Null,
            "not the GPT-2",
        ),
        ("another split pattern", sequence(&[split(llama3), byte_level(false)]), Value::Null, "not the GPT-2"),
        ("a whitespace pre-tokenizer", json!({"type": "Whitespace"}), Value::Null, "not the GPT-2"),
        ("Split and ByteLevel's own regex", sequence(&[split(GPT2_PATTERN), byte_level(true)]), Value::Null, "not the GPT-2"),
    ];
    let texts = fixed_texts();
    for (name, pre, normalizer, reason) in cases {
        let counter = ModelTokenizer::from_tokenizer(train(pre, normalizer)).expect("load");
        assert_eq!(counter.path(), CountPath::Exact, "{name}");
        let refusal = counter.fast_path_refusal().expect("a reason");
        assert!(refusal.contains(reason), "{name}: {refusal}");
        assert!(counter.cache_stats().is_none());
        for text in &texts {
            let expected = counter.tokenizer().encode(text.as_str(), false).expect("encode").len();
            assert_eq!(counter.try_count(text).expect("count"), expected, "{name}: {text:?}");
        }
        note(&format!("exact path: {name}: {refusal}"));
    }
}

#[test]
fn dropout_and_other_models_go_the_exact_path() {
    let tokenizer = train(byte_level(true), Value::Null);
    let mut json: Value = serde_json::from_str(&tokenizer.to_string(false).expect("json")).expect("parse");
    json["model"]["dropout"] = json!(0.1);
    let counter = ModelTokenizer::from_bytes(json.to_string().as_bytes()).expect("load");
    assert_eq!(counter.path(), CountPath::Exact);
    assert!(counter.fast_path_refusal().expect("reason").contains("dropout"));

    let word_level = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
        "pre_tokenizer": byte_level(true), "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"}
    });
    let counter = ModelTokenizer::from_bytes(word_level.to_string().as_bytes()).expect("load");
    assert_eq!(counter.path(), CountPath::Exact);
    assert!(counter.fast_path_refusal().expect("reason").contains("WordLevel"));
}

#[test]
fn truncation_and_padding_in_the_file_do_not_cut_counts() {
    let tokenizer = train(sequence(&[digits(true), byte_level(true)]), Value::Null);
    let mut json: Value = serde_json::from_str(&tokenizer.to_string(false).expect("json")).expect("parse");
    json["truncation"] = json!({"direction": "Right", "max_length": 4, "strategy": "LongestFirst", "stride": 0});
    json["padding"] = json!({"strategy": {"Fixed": 64}, "direction": "Right", "pad_to_multiple_of": null,
                             "pad_id": 0, "pad_type_id": 0, "pad_token": "<|endoftext|>"});
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, json.to_string()).expect("write");
    let text = "a sentence long enough to have more than four tokens, and 12345 digits";
    let expected = ModelTokenizer::from_tokenizer(tokenizer).expect("load").try_count_exact(text).expect("count");
    assert!(expected > 4);
    let counter = counter_for(&path).expect("counter");
    assert_eq!(counter.count(text), Ok(expected));
    let exact = ModelTokenizer::from_file(&path).expect("load").without_fast_path();
    assert_eq!(exact.path(), CountPath::Exact);
    assert_eq!(exact.try_count(text).expect("count"), expected);
}

#[test]
fn unreadable_files_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.json");
    let error = ModelTokenizer::from_file(&missing).expect_err("missing file");
    assert!(error.to_string().contains("missing.json"), "{error}");
    let error = ModelTokenizer::from_bytes(b"{\"not\": \"a tokenizer\"}").expect_err("not a tokenizer");
    assert!(error.to_string().starts_with("invalid tokenizer.json"), "{error}");
}

#[test]
fn counts_from_several_threads_agree() {
    let counter = ModelTokenizer::from_tokenizer(train(sequence(&[digits(true), byte_level(true)]), Value::Null)).expect("load");
    let texts = chat_like_texts(11, 400);
    let expected: Vec<usize> = texts.iter().map(|t| counter.try_count_exact(t).expect("count")).collect();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for (text, want) in texts.iter().zip(&expected) {
                    assert_eq!(datasets::TokenCounter::count(&counter, text), Ok(*want));
                }
            });
        }
    });
}
