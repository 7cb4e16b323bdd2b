//! Whole-file checks on the first bytes: compressed archives, UTF-16/UTF-32 and empty files are
//! refused before any record is read, with a message that says what to do. Parquet files
//! (`PAR1` magic or `.parquet` name) are binary and skip the text checks.

use crate::errors::{FileError, FileErrorCode};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The bytes after a UTF-8 byte-order mark, if there is one.
pub(crate) fn strip_bom(head: &[u8]) -> &[u8] {
    head.strip_prefix(UTF8_BOM).unwrap_or(head)
}

/// A Parquet file, by its `PAR1` magic or its name.
pub(crate) fn is_parquet(head: &[u8], filename: Option<&str>) -> bool {
    head.starts_with(b"PAR1") || filename.is_some_and(|f| f.to_ascii_lowercase().ends_with(".parquet"))
}

/// Refuses files this crate cannot read; `Ok` means "looks like UTF-8 text, or Parquet".
pub(crate) fn check(head: &[u8], filename: Option<&str>) -> Result<(), FileError> {
    if let Some(kind) = compression(head) {
        return Err(FileError::new(
            FileErrorCode::CompressedFile,
            format!("the file is {kind}-compressed; decompress it first and upload the plain .jsonl, .json, .csv or .txt file"),
        ));
    }
    if is_parquet(head, filename) {
        return Ok(());
    }
    if let Some(encoding) = wide_encoding(head) {
        return Err(FileError::new(
            FileErrorCode::UnsupportedEncoding,
            format!("the file is encoded as {encoding}; only UTF-8 is supported, so re-save it as UTF-8"),
        ));
    }
    if strip_bom(head).iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::new(FileErrorCode::EmptyFile, "the file is empty"));
    }
    Ok(())
}

fn compression(head: &[u8]) -> Option<&'static str> {
    const MAGIC: [(&[u8], &str); 7] = [
        (b"\x1F\x8B", "gzip"),
        (b"PK\x03\x04", "zip"),
        (b"PK\x05\x06", "zip"),
        (b"PK\x07\x08", "zip"),
        (b"\x28\xB5\x2F\xFD", "zstd"),
        (b"\xFD7zXZ\x00", "xz"),
        (b"BZh", "bzip2"),
    ];
    MAGIC.iter().find(|(magic, _)| head.starts_with(magic)).map(|(_, kind)| *kind).filter(|kind| {
        // "BZh" is also how a text file may begin; bzip2 follows it with the block size 1–9.
        *kind != "bzip2" || head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b))
    })
}

/// UTF-16/UTF-32 by byte-order mark, or UTF-16 without one: a NUL in every other byte.
fn wide_encoding(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\xFF\xFE\x00\x00") {
        return Some("UTF-32 (little-endian)");
    }
    if head.starts_with(b"\x00\x00\xFE\xFF") {
        return Some("UTF-32 (big-endian)");
    }
    if head.starts_with(b"\xFF\xFE") {
        return Some("UTF-16 (little-endian)");
    }
    if head.starts_with(b"\xFE\xFF") {
        return Some("UTF-16 (big-endian)");
    }
    let sample = &head[..head.len().min(256) & !1];
    if sample.len() >= 8 {
        let pairs = || sample.chunks_exact(2);
        if pairs().all(|p| p[1] == 0 && p[0] != 0) {
            return Some("UTF-16 (little-endian, no byte-order mark)");
        }
        if pairs().all(|p| p[0] == 0 && p[1] != 0) {
            return Some("UTF-16 (big-endian, no byte-order mark)");
        }
    }
    None
}
