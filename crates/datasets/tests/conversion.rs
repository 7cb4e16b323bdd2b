//! Format detection and conversion: one fixture per schema × container in
//! `tests/fixtures/convert/`, each detected as expected and converted to the canonical JSON
//! lines in its `<name>.canonical.jsonl`. A `<name>.format.json` overrides detection.

use std::path::{Path, PathBuf};

use datasets::{detect, scan, Container, FileErrorCode, FormatSpec, ScanOptions, Schema};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/convert")
}

/// File, detected container, detected schema (`None`: detection must fail, the fixture
/// carries a `.format.json`).
const TABLE: &[(&str, Container, Option<Schema>)] = &[
    ("chat.jsonl", Container::Jsonl, Some(Schema::Chat)),
    ("chat_array.json", Container::Json, Some(Schema::Chat)),
    ("sharegpt.jsonl", Container::Jsonl, Some(Schema::Sharegpt)),
    ("sharegpt_array.json", Container::Json, Some(Schema::Sharegpt)),
    ("alpaca.jsonl", Container::Jsonl, Some(Schema::Alpaca)),
    ("alpaca_array.json", Container::Json, Some(Schema::Alpaca)),
    ("alpaca_csv.csv", Container::Csv, Some(Schema::Alpaca)),
    ("prompt_completion.jsonl", Container::Jsonl, Some(Schema::PromptCompletion)),
    ("prompt_completion_array.json", Container::Json, Some(Schema::PromptCompletion)),
    ("prompt_completion_csv.csv", Container::Csv, Some(Schema::PromptCompletion)),
    ("openai_preference.jsonl", Container::Jsonl, Some(Schema::OpenaiPreference)),
    ("openai_preference_array.json", Container::Json, Some(Schema::OpenaiPreference)),
    ("chosen_rejected.jsonl", Container::Jsonl, Some(Schema::ChosenRejected)),
    ("chosen_rejected_array.json", Container::Json, Some(Schema::ChosenRejected)),
    ("chosen_rejected_csv.csv", Container::Csv, Some(Schema::ChosenRejected)),
    ("text.jsonl", Container::Jsonl, Some(Schema::Text)),
    ("text_array.json", Container::Json, Some(Schema::Text)),
    ("text_csv.csv", Container::Csv, None),
    ("text_tsv.tsv", Container::Csv, Some(Schema::Text)),
    ("text_lines.txt", Container::Txt, Some(Schema::Text)),
    ("text_paragraphs.txt", Container::Txt, Some(Schema::Text)),
];

fn stem(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(s, _)| s)
}

#[test]
fn every_fixture_is_detected_as_expected() {
    for &(file, container, schema) in TABLE {
        let bytes = std::fs::read(fixture_dir().join(file)).unwrap();
        match (detect(&bytes, Some(file)), schema) {
            (Ok(spec), Some(schema)) => {
                assert_eq!((spec.container, spec.schema), (container, schema), "{file}");
            }
            (Err(e), None) => assert_eq!(e.code, FileErrorCode::UnknownFormat, "{file}: {e}"),
            (got, _) => panic!("{file}: unexpected detection {got:?}"),
        }
    }
}

#[test]
fn every_fixture_converts_to_its_canonical_lines() {
    let dir = fixture_dir();
    let mut checked = 0;
    for &(file, _, _) in TABLE {
        let format_file = dir.join(format!("{}.format.json", stem(file)));
        let format: Option<FormatSpec> =
            format_file.exists().then(|| serde_json::from_slice(&std::fs::read(&format_file).unwrap()).unwrap());
        let options = ScanOptions { format, filename: Some(file.to_owned()), ..ScanOptions::default() };
        let mut lines = Vec::new();
        let report =
            scan(std::fs::File::open(dir.join(file)).unwrap(), &options, |_, _, record| lines.push(record.to_openai_json())).unwrap();
        assert_eq!(report.summary.file_error, None, "{file}");
        assert_eq!(report.errors, vec![], "{file}");
        let expected = std::fs::read_to_string(dir.join(format!("{}.canonical.jsonl", stem(file)))).unwrap();
        let expected: Vec<&str> = expected.lines().collect();
        assert_eq!(lines, expected, "{file}");
        assert_eq!(report.summary.valid_records, expected.len() as u64, "{file}");
        checked += 1;
    }
    assert_eq!(checked, TABLE.len());
}

#[test]
fn every_fixture_in_the_folder_is_in_the_table() {
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".canonical.jsonl") || name.ends_with(".format.json") {
            continue;
        }
        assert!(TABLE.iter().any(|(f, _, _)| *f == name), "{name} is not in TABLE");
    }
}

#[test]
fn the_callback_gets_index_and_line_of_each_valid_record() {
    let file = fixture_dir().join("chat_array.json");
    let mut seen = Vec::new();
    let options = ScanOptions { filename: Some("chat_array.json".into()), ..ScanOptions::default() };
    scan(std::fs::File::open(file).unwrap(), &options, |index, line, _| seen.push((index, line))).unwrap();
    assert_eq!(seen, vec![(0, 2), (1, 9)]);

    let file = fixture_dir().join("prompt_completion_csv.csv");
    let mut seen = Vec::new();
    let options = ScanOptions { filename: Some("prompt_completion_csv.csv".into()), ..ScanOptions::default() };
    scan(std::fs::File::open(file).unwrap(), &options, |index, line, _| seen.push((index, line))).unwrap();
    assert_eq!(seen, vec![(0, 2), (1, 3), (2, 6)]);
}
