//! The streaming scan: one pass over a dataset that validates every record, gathers the
//! statistics, and hands each valid canonical record to the caller (to write it elsewhere).

use std::collections::BTreeMap;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use crate::errors::{ErrorCode, FileError, RecordError};
use crate::format::FormatSpec;
use crate::input::{self, Outcome};
use crate::record::Record;
use crate::stats::{Stats, StatsBuilder};
use crate::tokens::TokenCounter;
use crate::units::CHUNK_BYTES;

/// Records longer than this are reported as `record_too_long` unless configured otherwise.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// Errors kept in the report unless configured otherwise (all are counted).
pub const DEFAULT_MAX_ERRORS: usize = 1000;

/// How to scan.
pub struct ScanOptions<'a> {
    /// The format; detected from the head and `filename` when absent.
    pub format: Option<FormatSpec>,
    /// The file's name, for detection by extension.
    pub filename: Option<String>,
    /// Longer records are skipped unread and reported (default 16 MiB).
    pub max_record_bytes: usize,
    /// How many errors the report keeps (default 1000); every error is counted.
    pub max_errors: usize,
    /// Count exact duplicates (default on; costs about 9–18 bytes per distinct record).
    pub detect_duplicates: bool,
    /// When given, tokens per record are counted too.
    pub token_counter: Option<&'a dyn TokenCounter>,
    /// With a token counter: records over this many tokens are counted as truncated.
    pub max_tokens: Option<usize>,
    /// Random access to the same bytes: Parquet is then read in place, whatever its size.
    pub random_access: Option<std::sync::Arc<dyn crate::RandomAccess>>,
}

impl Default for ScanOptions<'_> {
    fn default() -> Self {
        ScanOptions {
            format: None,
            filename: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_errors: DEFAULT_MAX_ERRORS,
            detect_duplicates: true,
            token_counter: None,
            max_tokens: None,
            random_access: None,
        }
    }
}

/// Counts over the whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ValidationSummary)]
pub struct Summary {
    pub records: u64,
    pub valid_records: u64,
    pub invalid_records: u64,
    /// Every error found, per code (a record may have several).
    pub error_counts: BTreeMap<ErrorCode, u64>,
    /// True when more errors were found than the report keeps.
    pub errors_truncated: bool,
    /// A whole-file problem: nothing was read (compressed, wrong encoding, …) or the file
    /// ended early (a truncated JSON array, after the records before it were read).
    pub file_error: Option<FileError>,
}

/// Internals for tests and diagnostics; not serialised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanDebug {
    /// The largest capacity the record buffer reached: at most `max_record_bytes` +
    /// `chunk_bytes` whatever the file size.
    pub max_buffer_bytes: usize,
    pub chunk_bytes: usize,
}

/// The result of a scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReport {
    /// The format used (given or detected), absent when the file was refused before that.
    pub format: Option<FormatSpec>,
    pub summary: Summary,
    /// The first `max_errors` errors, in file order.
    pub errors: Vec<RecordError>,
    pub stats: Stats,
    #[serde(skip)]
    pub debug: ScanDebug,
}

/// Reads a whole dataset once: validates each record, gathers statistics, and calls
/// `on_record(index, line, record)` for every valid record. Memory stays bounded by
/// `max_record_bytes` plus one read chunk (and the duplicate set). Fails only on I/O errors;
/// problems with the data are in the report.
pub fn scan<R: Read>(reader: R, options: &ScanOptions<'_>, mut on_record: impl FnMut(usize, u64, &Record)) -> io::Result<ScanReport> {
    let mut stats = StatsBuilder::new(options.detect_duplicates, options.token_counter, options.max_tokens);
    let mut summary = Summary::default();
    let mut errors = Vec::new();
    let debug = ScanDebug { max_buffer_bytes: 0, chunk_bytes: CHUNK_BYTES };
    let random = options.random_access.as_ref();
    let opened = match input::open(reader, options.format.as_ref(), options.filename.as_deref(), options.max_record_bytes, 0, random)? {
        Outcome::Ready(opened) => opened,
        Outcome::Refused { spec, error } => {
            summary.file_error = Some(error);
            return Ok(ScanReport { format: spec, summary, errors, stats: stats.finish(), debug });
        }
    };
    let input::Opened { spec, mut units, decoder, header } = opened;
    if let Some(header) = &header {
        stats.fields.declare(header);
    }
    while let Some(unit) = units.next_unit()? {
        let decoded = decoder.decode(&unit, units.data(&unit), &mut stats.fields);
        summary.records += 1;
        stats.add_row();
        match (decoded.record, decoded.errors.is_empty()) {
            (Some(record), true) => {
                summary.valid_records += 1;
                stats.add_valid(&record);
                on_record(unit.index, unit.line, &record);
            }
            (_, _) => {
                summary.invalid_records += 1;
                for error in decoded.errors {
                    *summary.error_counts.entry(error.code).or_default() += 1;
                    if errors.len() < options.max_errors {
                        errors.push(error);
                    } else {
                        summary.errors_truncated = true;
                    }
                }
            }
        }
    }
    summary.file_error = units.take_file_error();
    let debug = ScanDebug { max_buffer_bytes: units.max_buffer_bytes(), ..debug };
    Ok(ScanReport { format: Some(spec), summary, errors, stats: stats.finish(), debug })
}
