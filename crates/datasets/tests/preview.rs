//! Previews by index: the original text, the canonical record and the errors, with the same
//! indices as the scan.

use std::path::Path;

use datasets::{read_range, scan, Container, ErrorCode, FileErrorCode, FormatSpec, ReadError, Record, ScanOptions, Schema};

fn fixture(path: &str) -> std::fs::File {
    std::fs::File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(path)).unwrap()
}

#[test]
fn a_range_gives_raw_text_record_and_errors() {
    let spec = FormatSpec::new(Container::Jsonl, Schema::Chat);
    let preview = read_range(fixture("golden/chat_rules.jsonl"), &spec, 1, 2, None).unwrap();
    assert_eq!(preview.iter().map(|p| (p.index, p.line)).collect::<Vec<_>>(), vec![(1, 2), (2, 3)]);
    assert!(preview[0].raw.starts_with(r#"{"messages":[{"role":"user","content":"Hi"},{"role":"user""#));
    assert!(!preview[0].raw_truncated);
    assert!(matches!(&preview[0].record, Some(Record::Chat { messages }) if messages.len() == 3));
    assert_eq!(preview[0].errors.iter().map(|e| e.code).collect::<Vec<_>>(), vec![ErrorCode::RolesOutOfOrder]);
}

#[test]
fn preview_indices_match_the_scan() {
    let file = "golden/json_array_errors.json";
    let spec = FormatSpec::new(Container::Json, Schema::Text);
    let report = scan(fixture(file), &ScanOptions { format: Some(spec.clone()), ..ScanOptions::default() }, |_, _, _| {}).unwrap();
    let preview = read_range(fixture(file), &spec, 0, 100, None).unwrap();
    assert_eq!(preview.len() as u64, report.summary.records);
    let errors: Vec<_> = preview.iter().flat_map(|p| p.errors.clone()).collect();
    assert_eq!(errors, report.errors);
    assert_eq!(preview[6].raw, r#"{"text": "six"}"#);
}

#[test]
fn csv_previews_show_the_row() {
    let spec = FormatSpec::new(Container::Csv, Schema::PromptCompletion);
    let preview = read_range(fixture("golden/ragged.csv"), &spec, 6, 10, None).unwrap();
    assert_eq!(preview.len(), 1);
    assert_eq!((preview[0].index, preview[0].line), (6, 9));
    assert_eq!(preview[0].raw, "\"Quoted, with comma\",\"multi\nline\",ok");
    assert_eq!(preview[0].errors, vec![]);
}

#[test]
fn past_the_end_is_empty_and_bad_files_are_errors() {
    let spec = FormatSpec::new(Container::Jsonl, Schema::Chat);
    assert_eq!(read_range(fixture("golden/chat_rules.jsonl"), &spec, 1000, 5, None).unwrap(), vec![]);
    assert_eq!(read_range(fixture("golden/chat_rules.jsonl"), &spec, 0, 0, None).unwrap(), vec![]);
    match read_range(fixture("golden/gzip.jsonl"), &spec, 0, 5, None) {
        Err(ReadError::File(e)) => assert_eq!(e.code, FileErrorCode::CompressedFile),
        other => panic!("{other:?}"),
    }
}
