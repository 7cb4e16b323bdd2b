//! Golden validation files: every `tests/golden/<name>.<ext>` is scanned (format detected from
//! its name unless `<name>.options.json` says otherwise) and the format, summary and error list
//! must equal `<name>.expected.json`. `UPDATE_GOLDEN=1 cargo test -p datasets --test golden`
//! rewrites the expected files: review the diff by eye before committing.

use std::path::{Path, PathBuf};

use datasets::{scan, ErrorCode, FileErrorCode, FormatSpec, RecordError, ScanOptions, Summary};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoldenOptions {
    format: Option<FormatSpec>,
    max_record_bytes: Option<usize>,
    max_errors: Option<usize>,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn inputs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.ends_with(".expected.json") && !name.ends_with(".options.json")
        })
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

fn run(path: &Path) -> Golden {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let options_file = golden_dir().join(format!("{}.options.json", stem(path)));
    let golden: GoldenOptions = if options_file.exists() {
        serde_json::from_slice(&std::fs::read(&options_file).unwrap()).unwrap()
    } else {
        GoldenOptions::default()
    };
    let defaults = ScanOptions::default();
    let options = ScanOptions {
        format: golden.format,
        filename: Some(name),
        max_record_bytes: golden.max_record_bytes.unwrap_or(defaults.max_record_bytes),
        max_errors: golden.max_errors.unwrap_or(defaults.max_errors),
        ..defaults
    };
    let report = scan(std::fs::File::open(path).unwrap(), &options, |_, _, _| {}).unwrap();
    Golden { format: report.format, summary: report.summary, errors: report.errors }
}

/// What an expected file holds, in this order.
#[derive(Serialize)]
struct Golden {
    format: Option<FormatSpec>,
    summary: Summary,
    errors: Vec<RecordError>,
}

#[test]
fn golden_files_match() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for path in inputs() {
        let golden = run(&path);
        let pretty = serde_json::to_string_pretty(&golden).unwrap() + "\n";
        let actual = serde_json::to_value(&golden).unwrap();
        let expected_file = golden_dir().join(format!("{}.expected.json", stem(&path)));
        if update {
            std::fs::write(&expected_file, &pretty).unwrap();
            continue;
        }
        let Ok(expected) = std::fs::read(&expected_file) else {
            failures.push(format!("{}: no {} (run with UPDATE_GOLDEN=1)", path.display(), expected_file.display()));
            continue;
        };
        let expected: serde_json::Value = serde_json::from_slice(&expected).unwrap();
        if expected != actual {
            failures.push(format!("{} differs from {}:\n{pretty}", path.display(), expected_file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn expected_files_all_have_an_input() {
    let names: Vec<String> = inputs().iter().map(|p| stem(p)).collect();
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".expected.json").or_else(|| name.strip_suffix(".options.json")) {
            assert!(names.iter().any(|n| n == stem), "{name} has no input file");
        }
    }
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "two golden inputs share a name: {names:?}");
}

/// Every error code appears in at least one expected file.
#[test]
fn golden_files_cover_every_code() {
    let mut text = String::new();
    for path in inputs() {
        text += &std::fs::read_to_string(golden_dir().join(format!("{}.expected.json", stem(&path)))).unwrap_or_default();
    }
    for code in ErrorCode::ALL {
        let name = serde_json::to_string(&code).unwrap();
        assert!(text.contains(&format!("\"code\": {name}")), "no golden file shows {name}");
    }
    let file_codes = [
        FileErrorCode::EmptyFile,
        FileErrorCode::CompressedFile,
        FileErrorCode::UnsupportedEncoding,
        FileErrorCode::ParquetNotSupported,
        FileErrorCode::InvalidParquet,
        FileErrorCode::TruncatedFile,
        FileErrorCode::UnsupportedLayout,
        FileErrorCode::UnknownFormat,
        FileErrorCode::MissingColumn,
        FileErrorCode::InvalidFormatSpec,
    ];
    for code in file_codes {
        let name = serde_json::to_string(&code).unwrap();
        assert!(text.contains(&format!("\"code\": {name}")), "no golden file shows file error {name}");
    }
}
