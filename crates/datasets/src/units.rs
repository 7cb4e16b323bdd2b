//! Containers cut into record units: the container's rules on top of the bounded splitter.
//!
//! - JSONL: every line is a unit, blank lines too (they are reported as empty records).
//! - JSON: the elements of the top-level array; an empty slot (`[1,,2]`, a trailing comma)
//!   is a unit with an error; a file that ends inside the array is a truncated file.
//! - CSV: the header row is read first ([`Units::read_header`]); blank rows are skipped.
//! - TXT: non-blank lines or paragraphs.
//! - Parquet: every row, as the bytes of its JSON object ([`Units::parquet`]); `line` is the
//!   1-based row number.
//!
//! Record indices count units, so [`crate::scan`] and [`crate::read_range`] agree on them.

use std::io::{self, Read};
use std::ops::Range;

use crate::columns;
use crate::errors::{FileError, FileErrorCode};
use crate::format::{Container, FormatSpec, TxtSplit};
use crate::parquet::ParquetRows;
use crate::split::{AnySplitter, CsvRowSplitter, JsonArraySplitter, LineSplitter, ParagraphSplitter, Raw, RecordReader};

/// Bytes read from the input at a time.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// One record-sized piece of the file.
#[derive(Debug)]
pub(crate) struct Unit {
    pub index: usize,
    /// 1-based line and 0-based byte column where the unit's content starts.
    pub line: u64,
    pub col: u64,
    pub kind: UnitKind,
}

#[derive(Debug)]
pub(crate) enum UnitKind {
    /// The unit's bytes: [`Units::data`].
    Data(Range<usize>),
    /// Longer than the limit; skipped unread except for `prefix`.
    TooLong { len: u64, prefix: Vec<u8> },
    /// A JSON array slot with no element (`,,` or a trailing comma).
    BadElement(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonState {
    BeforeArray,
    Inside { after_comma: bool },
    AfterArray,
}

#[derive(Debug)]
pub(crate) struct Units<R> {
    reader: RecordReader<R, AnySplitter>,
    container: Container,
    split: TxtSplit,
    max_record_bytes: usize,
    next_index: usize,
    json: JsonState,
    file_error: Option<FileError>,
    done: bool,
    /// Parquet: the rows, read instead of `reader` (which then holds nothing).
    parquet: Option<ParquetFeed>,
}

/// Parquet rows and the JSON bytes of the current one.
#[derive(Debug)]
struct ParquetFeed {
    rows: ParquetRows,
    buf: Vec<u8>,
    keep_prefix: usize,
}

impl<R: Read> Units<R> {
    pub(crate) fn open(reader: R, spec: &FormatSpec, max_record_bytes: usize, keep_prefix: usize) -> io::Result<Units<R>> {
        let split = spec.split.unwrap_or_default();
        let splitter = match (spec.container, split) {
            (Container::Jsonl, _) | (Container::Txt, TxtSplit::Lines) => AnySplitter::Lines(LineSplitter),
            (Container::Txt, TxtSplit::Paragraphs) => AnySplitter::Paragraphs(ParagraphSplitter::default()),
            (Container::Csv, _) => AnySplitter::CsvRows(CsvRowSplitter::new(spec.delimiter_byte())),
            (Container::Json, _) => AnySplitter::JsonArray(JsonArraySplitter::default()),
            // Parquet rows come from `Units::parquet`; `reader` is never read.
            (Container::Parquet, _) => AnySplitter::Lines(LineSplitter),
        };
        let mut reader = RecordReader::new(reader, splitter, max_record_bytes, CHUNK_BYTES);
        reader.keep_prefix(keep_prefix);
        Ok(Units {
            reader,
            container: spec.container,
            split,
            max_record_bytes,
            next_index: 0,
            json: JsonState::BeforeArray,
            file_error: None,
            done: false,
            parquet: None,
        })
    }

    /// Parquet: units are the rows of `rows`, each as the bytes of its JSON object. `empty`
    /// is a reader with nothing left to read (the input, already spooled).
    pub(crate) fn parquet(
        empty: R,
        spec: &FormatSpec,
        rows: ParquetRows,
        max_record_bytes: usize,
        keep_prefix: usize,
    ) -> io::Result<Units<R>> {
        let mut units = Units::open(empty, spec, max_record_bytes, keep_prefix)?;
        units.parquet = Some(ParquetFeed { rows, buf: Vec::new(), keep_prefix });
        Ok(units)
    }

    fn next_parquet_unit(&mut self) -> Option<Unit> {
        let feed = self.parquet.as_mut()?;
        let (row, value) = match feed.rows.next_row() {
            Ok(Some(found)) => found,
            Ok(None) => return None,
            Err(error) => {
                self.fail(error);
                return None;
            }
        };
        feed.buf.clear();
        // Serialising a `Value` into a Vec cannot fail.
        serde_json::to_writer(&mut feed.buf, &value).ok();
        let len = feed.buf.len();
        let kind = if len > self.max_record_bytes {
            UnitKind::TooLong { len: len as u64, prefix: feed.buf[..len.min(feed.keep_prefix)].to_vec() }
        } else {
            UnitKind::Data(0..len)
        };
        Some(self.unit(row, 0, kind))
    }

    /// The bytes of a data unit returned by the last [`Units::next_unit`].
    pub(crate) fn data(&self, unit: &Unit) -> Option<&[u8]> {
        match (&unit.kind, &self.parquet) {
            (UnitKind::Data(range), Some(feed)) => feed.buf.get(range.clone()),
            (UnitKind::Data(range), None) => Some(self.reader.slice(range)),
            _ => None,
        }
    }

    /// A whole-file problem met while reading (a truncated JSON array, data after it).
    pub(crate) fn take_file_error(&mut self) -> Option<FileError> {
        self.file_error.take()
    }

    pub(crate) fn max_buffer_bytes(&self) -> usize {
        if let Some(feed) = &self.parquet {
            return feed.buf.capacity();
        }
        self.reader.max_buffer_bytes()
    }

    /// CSV: reads the header row (the first non-blank row).
    pub(crate) fn read_header(&mut self, delimiter: u8) -> io::Result<Result<Vec<String>, FileError>> {
        loop {
            let Some(raw) = self.reader.next_raw()? else {
                return Ok(Err(FileError::new(FileErrorCode::EmptyFile, "the csv file has no header row")));
            };
            match raw {
                Raw::Record { range, line, .. } => {
                    let bytes = trim_end_cr(self.reader.slice(&range));
                    if bytes.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Ok(columns::parse_header(bytes, delimiter, line));
                }
                Raw::TooLong { line, len, .. } => {
                    let message = format!("the csv header row is {len} bytes, over the limit of {} bytes", self.max_record_bytes);
                    return Ok(Err(FileError::at(FileErrorCode::UnsupportedLayout, line, message)));
                }
            }
        }
    }

    pub(crate) fn next_unit(&mut self) -> io::Result<Option<Unit>> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.parquet.is_some() {
                let unit = self.next_parquet_unit();
                self.done = unit.is_none();
                return Ok(unit);
            }
            let Some(raw) = self.reader.next_raw()? else {
                self.done = true;
                if let JsonState::Inside { .. } = self.json {
                    if self.container == Container::Json && self.file_error.is_none() {
                        let (line, _) = self.reader.position();
                        let message = "the file ends before the JSON array is closed with `]`: was it cut off?";
                        self.file_error = Some(FileError::at(FileErrorCode::TruncatedFile, line, message));
                    }
                }
                return Ok(None);
            };
            let unit = match raw {
                Raw::TooLong { line, len, prefix, terminator } => {
                    if self.container == Container::Json && !self.json_too_long(line, terminator) {
                        continue;
                    }
                    Some(self.unit(line, 0, UnitKind::TooLong { len, prefix }))
                }
                Raw::Record { range, line, col, terminator } => self.record_unit(range, line, col, terminator),
            };
            if unit.is_some() {
                return Ok(unit);
            }
        }
    }

    /// The unit for one raw record, or `None` when the container skips it (blank CSV rows and
    /// TXT lines, JSON array brackets).
    fn record_unit(&mut self, range: Range<usize>, line: u64, col: u64, terminator: Option<u8>) -> Option<Unit> {
        let bytes = self.reader.slice(&range);
        let keep = match (self.container, self.split) {
            (Container::Jsonl | Container::Csv, _) | (Container::Txt, TxtSplit::Lines) => trim_end_cr(bytes).len(),
            (Container::Txt, TxtSplit::Paragraphs) => bytes.trim_ascii_end().len(),
            (Container::Json | Container::Parquet, _) => bytes.len(),
        };
        let blank = bytes[..keep].iter().all(u8::is_ascii_whitespace);
        let data = UnitKind::Data(range.start..range.start + keep);
        match self.container {
            // A blank JSONL line is a record: an empty one, reported.
            Container::Jsonl | Container::Parquet => Some(self.unit(line, col, data)),
            Container::Csv | Container::Txt if blank => None,
            Container::Csv | Container::Txt => Some(self.unit(line, col, data)),
            Container::Json => match self.json_record(&range, line, terminator) {
                JsonStep::Skip => None,
                JsonStep::Data => Some(self.unit(line, col, data)),
                JsonStep::Bad(message) => {
                    // Point at the separator that follows the empty slot.
                    let col = col + keep as u64;
                    Some(self.unit(line, col, UnitKind::BadElement(message)))
                }
            },
        }
    }

    fn unit(&mut self, line: u64, col: u64, kind: UnitKind) -> Unit {
        let index = self.next_index;
        self.next_index += 1;
        Unit { index, line, col, kind }
    }

    /// The JSON array rules for one raw record.
    fn json_record(&mut self, range: &Range<usize>, line: u64, terminator: Option<u8>) -> JsonStep {
        let bytes = self.reader.slice(range);
        let empty = bytes.iter().all(u8::is_ascii_whitespace);
        match (self.json, terminator) {
            (JsonState::BeforeArray, Some(b'[')) => {
                self.json = JsonState::Inside { after_comma: false };
                JsonStep::Skip
            }
            (JsonState::BeforeArray, _) => {
                let found = bytes.iter().find(|b| !b.is_ascii_whitespace()).map(|&b| b as char);
                let message = match found {
                    Some(c) => format!("a .json file must hold a top-level array of records starting with `[`, found {c:?}"),
                    None => "a .json file must hold a top-level array of records starting with `[`".to_owned(),
                };
                self.fail(FileError::at(FileErrorCode::UnsupportedLayout, line, message));
                JsonStep::Skip
            }
            (JsonState::Inside { .. }, Some(b',')) => {
                self.json = JsonState::Inside { after_comma: true };
                if empty {
                    JsonStep::Bad("empty array element: a comma with no value before it")
                } else {
                    JsonStep::Data
                }
            }
            (JsonState::Inside { after_comma }, Some(b']')) => {
                self.json = JsonState::AfterArray;
                match (empty, after_comma) {
                    (false, _) => JsonStep::Data,
                    (true, true) => JsonStep::Bad("trailing comma before the closing `]` of the array"),
                    (true, false) => JsonStep::Skip,
                }
            }
            (JsonState::Inside { .. }, _) => {
                // The input ended inside the array.
                if empty {
                    return JsonStep::Skip;
                }
                let complete = serde_json::from_slice::<serde_json::Value>(bytes).is_ok();
                let (end_line, _) = self.reader.position();
                self.json = JsonState::AfterArray;
                if complete {
                    let message = "the file ends before the JSON array is closed with `]`: was it cut off?";
                    self.file_error = Some(FileError::at(FileErrorCode::TruncatedFile, end_line, message));
                    JsonStep::Data
                } else {
                    let message = format!("the file ends inside the array element that starts at line {line}: was it cut off?");
                    self.fail(FileError::at(FileErrorCode::TruncatedFile, line, message));
                    JsonStep::Skip
                }
            }
            (JsonState::AfterArray, _) => {
                if !empty {
                    let message = format!("unexpected data after the closing `]` of the JSON array, at line {line}");
                    self.fail(FileError::at(FileErrorCode::UnsupportedLayout, line, message));
                }
                JsonStep::Skip
            }
        }
    }

    /// The JSON array rules for a too-long element; `false` when it is no element at all.
    fn json_too_long(&mut self, line: u64, terminator: Option<u8>) -> bool {
        match self.json {
            JsonState::Inside { .. } => {
                match terminator {
                    Some(b']') => self.json = JsonState::AfterArray,
                    Some(_) => self.json = JsonState::Inside { after_comma: true },
                    None => {
                        let message = format!("the file ends inside the array element that starts at line {line}: was it cut off?");
                        self.json = JsonState::AfterArray;
                        self.file_error = Some(FileError::at(FileErrorCode::TruncatedFile, line, message));
                    }
                }
                true
            }
            JsonState::BeforeArray | JsonState::AfterArray => {
                let message = format!("unexpected data at line {line} outside the top-level JSON array");
                self.fail(FileError::at(FileErrorCode::UnsupportedLayout, line, message));
                false
            }
        }
    }

    fn fail(&mut self, error: FileError) {
        self.file_error = Some(error);
        self.done = true;
    }
}

enum JsonStep {
    Skip,
    Data,
    Bad(&'static str),
}

fn trim_end_cr(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}
