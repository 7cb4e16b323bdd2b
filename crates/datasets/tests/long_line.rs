//! A 64 MiB line between two good lines: reported as `record_too_long` on line 2, both good
//! records valid, and the reader's buffer never grows past the limit plus one chunk. The file
//! is generated into a temporary directory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use datasets::{
    read_range, scan, Container, ErrorCode, FormatSpec, ScanOptions, Schema, CHUNK_BYTES, DEFAULT_MAX_RECORD_BYTES, PREVIEW_RAW_MAX_BYTES,
};

const GOOD: &str = r#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}"#;

/// Writes `before`, then `filler` repeated to `len` bytes, then `after`.
fn write_file(path: &Path, parts: &[&[u8]], filler_len: usize, filler_at: usize) {
    let mut out = BufWriter::new(File::create(path).unwrap());
    for (i, part) in parts.iter().enumerate() {
        out.write_all(part).unwrap();
        if i == filler_at {
            let chunk = vec![b'a'; 1 << 20];
            let mut left = filler_len;
            while left > 0 {
                let n = left.min(chunk.len());
                out.write_all(&chunk[..n]).unwrap();
                left -= n;
            }
        }
    }
    out.flush().unwrap();
}

#[test]
fn a_64_mib_line_is_skipped_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let head = format!("{GOOD}\n{{\"messages\":[{{\"role\":\"user\",\"content\":\"");
    let tail = format!("\"}},{{\"role\":\"assistant\",\"content\":\"x\"}}]}}\n{GOOD}\n");
    write_file(&path, &[head.as_bytes(), tail.as_bytes()], 64 << 20, 0);

    let mut valid = Vec::new();
    let options = ScanOptions { filename: Some("big.jsonl".into()), ..ScanOptions::default() };
    let report = scan(File::open(&path).unwrap(), &options, |index, line, _| valid.push((index, line))).unwrap();

    assert_eq!(valid, vec![(0, 1), (2, 3)]);
    assert_eq!((report.summary.records, report.summary.valid_records, report.summary.invalid_records), (3, 2, 1));
    assert_eq!(report.errors.len(), 1);
    let error = &report.errors[0];
    assert_eq!((error.code, error.line, error.index), (ErrorCode::RecordTooLong, 2, 1));
    assert!(error.message.contains(&format!("over the limit of {DEFAULT_MAX_RECORD_BYTES} bytes")), "{}", error.message);
    assert!(
        report.debug.max_buffer_bytes <= DEFAULT_MAX_RECORD_BYTES + CHUNK_BYTES,
        "buffer grew to {} bytes",
        report.debug.max_buffer_bytes
    );
    assert_eq!(report.stats.duplicates, Some(1));

    // Previewing the long record gives its start, cut, and the error.
    let spec = FormatSpec::new(Container::Jsonl, Schema::Chat);
    let preview = read_range(File::open(&path).unwrap(), &spec, 1, 5, None).unwrap();
    assert_eq!(preview.len(), 2);
    assert_eq!((preview[0].index, preview[0].line, preview[0].raw_truncated), (1, 2, true));
    assert_eq!(preview[0].raw.len(), PREVIEW_RAW_MAX_BYTES);
    assert!(preview[0].raw.starts_with("{\"messages\""));
    assert_eq!(preview[0].errors[0].code, ErrorCode::RecordTooLong);
    assert_eq!((preview[1].index, preview[1].line, preview[1].raw.as_str()), (2, 3, GOOD));
}

#[test]
fn a_long_json_array_element_and_csv_row_are_skipped_too() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 1 << 20;

    let json = dir.path().join("big.json");
    write_file(&json, &[b"[\n {\"text\": \"one\"},\n {\"text\": \"", b"\"},\n {\"text\": \"three\"}\n]\n"], 8 << 20, 0);
    let options = ScanOptions { filename: Some("big.json".into()), max_record_bytes: limit, ..ScanOptions::default() };
    let report = scan(File::open(&json).unwrap(), &options, |_, _, _| {}).unwrap();
    assert_eq!((report.summary.records, report.summary.valid_records), (3, 2));
    assert_eq!((report.errors[0].code, report.errors[0].line), (ErrorCode::RecordTooLong, 3));
    assert_eq!(report.summary.file_error, None);
    assert!(report.debug.max_buffer_bytes <= limit + CHUNK_BYTES, "{}", report.debug.max_buffer_bytes);

    let csv = dir.path().join("big.csv");
    write_file(&csv, &[b"text,n\nfirst,1\n\"multi\nline ", b"\",2\nlast,3\n"], 8 << 20, 0);
    let options = ScanOptions { filename: Some("big.csv".into()), max_record_bytes: limit, ..ScanOptions::default() };
    let mut lines = Vec::new();
    let report = scan(File::open(&csv).unwrap(), &options, |_, line, _| lines.push(line)).unwrap();
    assert_eq!(lines, vec![2, 5]);
    assert_eq!((report.errors[0].code, report.errors[0].line, report.errors[0].row), (ErrorCode::RecordTooLong, 3, Some(2)));
    assert!(report.debug.max_buffer_bytes <= limit + CHUNK_BYTES, "{}", report.debug.max_buffer_bytes);
}
