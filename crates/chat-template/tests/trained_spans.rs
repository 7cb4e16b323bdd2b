//! The spans this crate computes for every training rendering of the fixtures, written to
//! `tests/fixtures/spans/<fixture>.json` so that the Python runtime, which labels the tokens
//! training learns from, can be checked against the same rule
//! (`runtime/tests/test_chat_template_parity.py`).
//!
//! Check mode by default: the test fails if a committed file differs from what the crate
//! computes now. `UPDATE_GOLDEN=1 cargo test -p chat-template --test trained_spans` rewrites them.
//!
//! Built-in templates are exported as [`ChatTemplate::builtin`] locates them (the preview), and
//! that must equal what [`ChatTemplate::new`] with the default end-of-turn tokens locates: the
//! runtime receives only a template's source and uses the default tokens.

mod common;

use std::path::PathBuf;

use chat_template::{ChatTemplate, Rendered, Role, SpanMethod, BUILTINS};
use common::{first_difference, BuiltinFixture, Case, FeaturesFixture};
use serde::Serialize;

const UPDATE: &str = "UPDATE_GOLDEN";

struct Golden<'a> {
    about: &'static str,
    fixture: &'a str,
    cases: Vec<GoldenCase>,
}

struct GoldenCase {
    name: String,
    method: SpanMethod,
    unlocated: Vec<usize>,
    spans: Vec<GoldenSpan>,
}

/// A [`chat_template::Span`] with its offsets in bytes (as the crate gives them) and in
/// characters (Unicode scalar values, as Python indexes strings), and the text it covers.
#[derive(Serialize)]
struct GoldenSpan {
    message_index: usize,
    role: Role,
    trained: bool,
    /// `[start, content_end, end]` in bytes of the UTF-8 text.
    bytes: [usize; 3],
    /// The same offsets in characters.
    chars: [usize; 3],
    /// `text[start..end]`.
    text: String,
}

const ABOUT: &str = "Written by `UPDATE_GOLDEN=1 cargo test -p chat-template --test trained_spans` from the fixture of the \
same name: the spans ChatTemplate::render_with_spans locates in each training rendering (cases without generation prompt \
that render). runtime/tests/test_chat_template_parity.py checks that the runtime trains on exactly the trained ones.";

fn golden_dir() -> PathBuf {
    common::fixtures_dir().join("spans")
}

fn export(label: &str, template: &ChatTemplate, case: &Case) -> Option<(GoldenCase, Rendered)> {
    if case.add_generation_prompt || case.expected.is_none() {
        return None;
    }
    let rendered = template.render_with_spans(&case.messages).unwrap_or_else(|err| panic!("{label}: {err}"));
    assert_eq!(Some(&rendered.text), case.expected.as_ref(), "{label}");
    let chars = |byte: usize| rendered.text[..byte].chars().count();
    let spans = rendered
        .spans
        .iter()
        .map(|s| GoldenSpan {
            message_index: s.message_index,
            role: s.role,
            trained: s.trained,
            bytes: [s.start, s.content_end, s.end],
            chars: [chars(s.start), chars(s.content_end), chars(s.end)],
            text: rendered.text[s.range()].to_string(),
        })
        .collect();
    let golden = GoldenCase { name: case.name.clone(), method: rendered.method, unlocated: rendered.unlocated.clone(), spans };
    Some((golden, rendered))
}

/// Pretty JSON with one line per span, for readable diffs.
fn to_json(golden: &Golden) -> String {
    let cases: Vec<String> = golden
        .cases
        .iter()
        .map(|case| {
            let spans: Vec<String> = case.spans.iter().map(|span| format!("\n        {}", json(span))).collect();
            let spans = if spans.is_empty() { String::new() } else { spans.join(",") + "\n    " };
            format!(
                "    {{\"name\": {}, \"method\": {}, \"unlocated\": {}, \"spans\": [{spans}]}}",
                json(&case.name),
                json(&case.method),
                json(&case.unlocated),
            )
        })
        .collect();
    format!(
        "{{\n  \"//\": {},\n  \"fixture\": {},\n  \"cases\": [\n{}\n  ]\n}}\n",
        json(golden.about),
        json(golden.fixture),
        cases.join(",\n")
    )
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

/// Compares `golden` with the committed file, or rewrites it under `UPDATE_GOLDEN=1`. Returns a
/// failure message.
fn check_or_write(fixture: &str, golden: &Golden) -> Option<String> {
    let path = golden_dir().join(format!("{fixture}.json"));
    let text = to_json(golden);
    if std::env::var_os(UPDATE).is_some_and(|v| v == "1") {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, &text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        return None;
    }
    match std::fs::read_to_string(&path) {
        Ok(committed) if committed == text => None,
        Ok(committed) => Some(format!("{}: differs from what the crate computes, {}", path.display(), first_difference(&committed, &text))),
        Err(err) => Some(format!("{}: {err}", path.display())),
    }
}

#[test]
fn golden_trained_spans_are_what_the_crate_computes() {
    let mut failures = Vec::new();
    let mut written = vec![];
    let mut exported = 0;

    for b in BUILTINS {
        let fixture: BuiltinFixture = common::read(&format!("{}.json", b.name));
        let template = ChatTemplate::builtin(b.name).unwrap();
        let plain = ChatTemplate::new(b.source, b.special_tokens()).unwrap();
        let mut cases = Vec::new();
        for case in &fixture.cases {
            let label = format!("{}/{}", b.name, case.name);
            if let Some((golden, rendered)) = export(&label, &template, case) {
                // The runtime knows the template's source only: the default end-of-turn tokens
                // must locate the same spans as the built-in's own.
                assert_eq!(plain.render_with_spans(&case.messages).as_ref(), Ok(&rendered), "{label}: default end-of-turn tokens");
                cases.push(golden);
            }
        }
        exported += cases.len();
        written.push(format!("{}.json", b.name));
        failures.extend(check_or_write(b.name, &Golden { about: ABOUT, fixture: b.name, cases }));
    }

    let fixture: FeaturesFixture = common::read("features.json");
    let mut cases = Vec::new();
    for case in &fixture.cases {
        let label = format!("features/{}", case.name);
        let source = case.source.as_deref().expect("feature cases carry their template");
        let mut template = ChatTemplate::new(source, fixture.special_tokens.clone()).unwrap();
        for (name, value) in &case.variables {
            template = template.with_variable(name, value.clone()).unwrap();
        }
        cases.extend(export(&label, &template, case).map(|(golden, _)| golden));
    }
    exported += cases.len();
    written.push("features.json".to_string());
    failures.extend(check_or_write("features", &Golden { about: ABOUT, fixture: "features", cases }));

    // No stale file: one golden file per fixture.
    let mut present: Vec<String> = std::fs::read_dir(golden_dir())
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    present.sort();
    written.sort();
    if present != written {
        failures.push(format!("{}: holds {present:?}, expected {written:?}", golden_dir().display()));
    }

    assert!(
        failures.is_empty(),
        "the golden span files are out of date; rerun with {UPDATE}=1 and review the diff:\n{}",
        failures.join("\n")
    );
    assert!(exported >= 70, "only {exported} training renderings exported");
    println!("{exported} training renderings' spans equal to tests/fixtures/spans");
}
