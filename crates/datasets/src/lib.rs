//! Tunery's dataset reader: formats, streaming validation and statistics for fine-tuning data.
//!
//! Most failed fine-tunes fail on data. This crate reads a dataset once, in memory bounded
//! independently of its size, and says exactly what is wrong and where: record index, line,
//! field path, a stable code and a plain message.
//!
//! - [`detect`] guesses the [`FormatSpec`] (container × schema) from a file's head and name.
//! - [`scan`] validates every record, gathers [`Stats`], and hands each valid canonical
//!   [`Record`] to a callback (to write canonical JSONL in the same pass).
//! - [`read_range`] previews records by index.
//! - [`apply_recipe`] makes a new version from an old one by applying a [`Recipe`]: exact and
//!   near-duplicate removal, filters, PII masking, a train/validation split ([`recipe`]).
//!
//! Containers: JSONL, JSON arrays (streamed), CSV (header + column mapping), TXT (lines or
//! paragraphs), Parquet (rows as JSON objects, spooled to a temporary file for random access);
//! compressed files are refused with a clear error. Schemas: OpenAI
//! chat, ShareGPT, Alpaca, prompt/completion, OpenAI preference, chosen/rejected, text.
//!
//! Pure: reads from `std::io::Read`, no async runtime, no database, no HTTP.

mod columns;
mod csv_row;
mod decode;
mod dedup;
mod errors;
mod format;
mod histogram;
mod input;
mod language;
mod magic;
mod parquet;
mod preview;
pub mod recipe;
mod record;
mod schema;
mod split;
mod stats;
mod tokens;
mod units;
mod validate;

pub use errors::{ErrorCode, FileError, FileErrorCode, FormatError, ReadError, RecordError};
pub use format::{detect, Container, FormatSpec, Schema, TxtSplit};
pub use histogram::{Bucket, DistributionReport, LENGTH_BUCKET_EDGES, TURN_BUCKET_EDGES};
pub use input::HEAD_BYTES;
pub use language::LanguageCounts;
pub use parquet::{RandomAccess, MAX_PARQUET_BYTES};
pub use preview::{read_range, PreviewRecord, PREVIEW_RAW_MAX_BYTES};
pub use recipe::{apply_recipe, Recipe, RecipeError, RecipeOutputs, RecipeReport, RecipeTools};
pub use record::{Message, Record, Role};
pub use stats::{FieldCounts, RecordKinds, RoleCounts, Stats, MAX_TRACKED_FIELDS};
pub use tokens::{record_tokens, TokenCounter, TokenStats};
pub use units::CHUNK_BYTES;
pub use validate::{scan, ScanDebug, ScanOptions, ScanReport, Summary, DEFAULT_MAX_ERRORS, DEFAULT_MAX_RECORD_BYTES};
