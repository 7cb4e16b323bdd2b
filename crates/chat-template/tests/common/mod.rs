//! Reading the golden fixtures written by `scripts/render-chat-template-fixtures.py`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chat_template::{Message, SpecialTokens};
use serde::Deserialize;

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `tests/fixtures/<template>.json`: one built-in template rendered by Jinja2.
#[derive(Debug, Deserialize)]
pub struct BuiltinFixture {
    pub template: String,
    pub origin: String,
    pub source: String,
    pub special_tokens: SpecialTokens,
    pub end_of_turn: String,
    pub cases: Vec<Case>,
}

/// `tests/fixtures/features.json`: small templates exercising Jinja features.
#[derive(Debug, Deserialize)]
pub struct FeaturesFixture {
    pub special_tokens: SpecialTokens,
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub source: Option<String>,
    pub messages: Vec<Message>,
    pub add_generation_prompt: bool,
    #[serde(default)]
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// What Jinja2 rendered…
    #[serde(default)]
    pub expected: Option<String>,
    /// …or the error it raised: `TemplateError` for `raise_exception`, else Jinja's own.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_type: Option<String>,
    /// Byte ranges of the trained spans (assistant content + end-of-turn token), found by
    /// marking the contents in Python; absent with a generation prompt, null where the marks
    /// changed the output.
    #[serde(default)]
    pub trained_spans: Option<Vec<[usize; 2]>>,
}

pub fn read<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let path = fixtures_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Where the first difference is, for readable failures.
pub fn first_difference(expected: &str, actual: &str) -> String {
    let at = expected.bytes().zip(actual.bytes()).take_while(|(a, b)| a == b).count();
    let context = |s: &str| {
        let mut start = at.saturating_sub(20).min(s.len());
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + 40).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        format!("{:?}", &s[start..end])
    };
    format!("first difference at byte {at}: expected …{}…, got …{}…", context(expected), context(actual))
}
