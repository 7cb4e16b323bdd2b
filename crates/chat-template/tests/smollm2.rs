//! The real SmolLM2-135M-Instruct chat template, when it is on this machine: its
//! `tokenizer_config.json` (made by `scripts/fetch-smollm2-tokenizer.sh`) holds the template the
//! built-in `chatml` copies, so the two must be equal, and the real one must render the `chatml`
//! fixtures exactly.
//!
//! Found next to `$TUNERY_SMOLLM2_TOKENIZER`, else in
//! `${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/models/smollm2-135m-instruct/`. Under `CI=true` a
//! missing file fails the test (`scripts/test.sh` fetches it first); elsewhere the test says
//! what it did not check.

mod common;

use std::path::PathBuf;

use chat_template::{builtin, ChatTemplate};
use common::BuiltinFixture;

fn smollm2_tokenizer_config() -> Option<PathBuf> {
    let dir = match std::env::var_os("TUNERY_SMOLLM2_TOKENIZER") {
        Some(tokenizer) => PathBuf::from(tokenizer).parent().map(PathBuf::from).unwrap_or_default(),
        None => std::env::var_os("TUNERY_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tunery"))
            .join("models/smollm2-135m-instruct"),
    };
    let path = dir.join("tokenizer_config.json");
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("no SmolLM2 tokenizer_config.json at {} and CI=true: run scripts/fetch-smollm2-tokenizer.sh", path.display());
    }
    None
}

#[test]
fn the_real_smollm2_template_is_the_builtin_chatml() {
    let Some(path) = smollm2_tokenizer_config() else {
        eprintln!(
            "smollm2: NOT CHECKED: no SmolLM2 tokenizer_config.json (run scripts/fetch-smollm2-tokenizer.sh, or set \
             TUNERY_SMOLLM2_TOKENIZER); the built-in chatml was checked against its fixtures only"
        );
        return;
    };
    let json = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let real = ChatTemplate::from_tokenizer_config(&json).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let chatml = builtin("chatml").unwrap();
    assert_eq!(real.source(), chatml.source, "the built-in chatml is no longer SmolLM2's template");
    assert_eq!(real.special_tokens(), &chatml.special_tokens());

    let fixture: BuiltinFixture = common::read("chatml.json");
    for case in &fixture.cases {
        let rendered = real.render(&case.messages, case.add_generation_prompt);
        assert_eq!(rendered.ok(), case.expected, "smollm2/{}", case.name);
    }
    eprintln!(
        "smollm2: checked {}: its chat template and special tokens equal the built-in chatml; {} fixture cases render equal",
        path.display(),
        fixture.cases.len()
    );
}
