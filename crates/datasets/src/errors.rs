//! What can be wrong with a dataset: per-record errors ([`RecordError`], stable [`ErrorCode`]s)
//! and whole-file problems ([`FileError`], [`FileErrorCode`]).
//!
//! Codes are part of the API: they serialise in snake_case and never change meaning.
//! Messages are plain sentences naming the rule and the value found.

use serde::{Deserialize, Serialize};

/// The rule a record breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RecordErrorCode)]
pub enum ErrorCode {
    /// The record is not valid JSON (serde's message and column).
    InvalidJson,
    /// The record matches no known schema, or another schema than the file's.
    UnknownFormat,
    /// A required field is absent.
    MissingField,
    /// A field holds the wrong JSON type.
    WrongType,
    /// A role (`role`, ShareGPT `from`) is not one of the allowed values.
    InvalidRole,
    /// A system or user message, prompt or text is empty or only whitespace.
    EmptyContent,
    /// An assistant message (or completion, output, chosen, rejected) is empty.
    EmptyAssistantTurn,
    /// Turns are not in order: system first, then user and assistant alternating from user.
    RolesOutOfOrder,
    /// No assistant turn would be trained (none at all, or every one has weight 0).
    NoAssistantTurn,
    /// `weight` is not 0 or 1, or sits on a message that is not an assistant's.
    InvalidWeight,
    /// The record's bytes are not valid UTF-8.
    NonUtf8,
    /// The record contains NUL bytes.
    BinaryData,
    /// The record is longer than the configured maximum; it was skipped unread.
    RecordTooLong,
    /// A CSV row has a different number of fields than the header.
    RaggedRow,
    /// The record is empty: a blank line, `{}`, an empty list of messages, an all-empty row.
    EmptyRecord,
    /// A preference pair whose chosen and rejected answers are identical (nothing to learn).
    IdenticalPreference,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::InvalidJson,
        ErrorCode::UnknownFormat,
        ErrorCode::MissingField,
        ErrorCode::WrongType,
        ErrorCode::InvalidRole,
        ErrorCode::EmptyContent,
        ErrorCode::EmptyAssistantTurn,
        ErrorCode::RolesOutOfOrder,
        ErrorCode::NoAssistantTurn,
        ErrorCode::InvalidWeight,
        ErrorCode::NonUtf8,
        ErrorCode::BinaryData,
        ErrorCode::RecordTooLong,
        ErrorCode::RaggedRow,
        ErrorCode::EmptyRecord,
        ErrorCode::IdenticalPreference,
    ];
}

/// One problem in one record, located in the user's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordError {
    /// 0-based index of the record in the file (CSV: data rows, header excluded).
    pub index: usize,
    /// 1-based line where the record starts (JSON arrays: where the element starts;
    /// CSV: where the row starts). For `invalid_json`, `non_utf8` and `binary_data`,
    /// the line of the offending byte.
    pub line: u64,
    /// CSV and Parquet: 1-based data row (CSV: the first row after the header is row 1).
    /// For Parquet, `line` holds the same row number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// 1-based column within `line`: serde's column for `invalid_json`, the byte (counted
    /// from 1) for `non_utf8` and `binary_data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// Path of the field in the user's data (`messages[2].content`, `conversations[0].from`),
    /// or the CSV column header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

/// A problem with the whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileErrorCode {
    /// The file is empty or holds only whitespace.
    EmptyFile,
    /// gzip, zip, zstd, bzip2 or xz: decompress it first.
    CompressedFile,
    /// UTF-16 or UTF-32 (by byte-order mark or NUL pattern): only UTF-8 is read.
    UnsupportedEncoding,
    /// A Parquet file using a feature this build does not read (the brotli or LZO codec).
    ParquetNotSupported,
    /// The file is not valid Parquet (bad footer, corrupt pages), or a row could not be read.
    InvalidParquet,
    /// A JSON array that is not closed: the file was cut off.
    TruncatedFile,
    /// The container is not one this crate reads (a single JSON object, data after a JSON array).
    UnsupportedLayout,
    /// No known schema could be recognised (CSV header columns, or the first records).
    UnknownFormat,
    /// A CSV column named in the column mapping is not in the header.
    MissingColumn,
    /// The explicit [`crate::FormatSpec`] contradicts itself (a column mapping on JSONL, …).
    InvalidFormatSpec,
}

/// A problem with the whole file; `line` says where when it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, thiserror::Error)]
#[error("{message}")]
pub struct FileError {
    pub code: FileErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl FileError {
    pub(crate) fn new(code: FileErrorCode, message: impl Into<String>) -> FileError {
        FileError { code, message: message.into(), line: None }
    }

    pub(crate) fn at(code: FileErrorCode, line: u64, message: impl Into<String>) -> FileError {
        FileError { code, message: message.into(), line: Some(line) }
    }
}

/// Why [`crate::detect`] could not settle on a format: a whole-file problem.
pub type FormatError = FileError;

/// Why [`crate::read_range`] returned no records.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the dataset failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    File(#[from] FileError),
}
