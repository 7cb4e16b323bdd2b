//! One unit's bytes to a canonical record and its errors, placed in the file: encoding checks
//! (NUL bytes, UTF-8), JSON parsing or CSV cell mapping, then the schema's conversion.

use serde_json::{Map, Value};

use crate::columns::Column;
use crate::csv_row::{parse_row, Row};
use crate::errors::{ErrorCode, RecordError};
use crate::format::{Container, Schema};
use crate::record::Record;
use crate::schema::{self, is_empty_value, Issue};
use crate::stats::FieldCounter;
use crate::units::{Unit, UnitKind};

/// What a unit decoded to: the record when its structure allowed one (it may still break
/// rules), and its errors. A record is valid when `errors` is empty.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub record: Option<Record>,
    pub errors: Vec<RecordError>,
}

/// CSV: the delimiter, the header and the mapped columns.
#[derive(Debug)]
pub(crate) struct CsvLayout {
    pub delimiter: u8,
    pub header: Vec<String>,
    pub columns: Vec<Column>,
}

#[derive(Debug)]
pub(crate) struct Decoder {
    pub container: Container,
    pub schema: Schema,
    pub csv: Option<CsvLayout>,
    pub max_record_bytes: usize,
}

/// Where in the file an error sits: the unit, plus the row for CSV and Parquet.
struct Place<'a> {
    unit: &'a Unit,
    row: Option<u64>,
}

impl Place<'_> {
    fn error(&self, code: ErrorCode, field: Option<String>, message: String) -> RecordError {
        RecordError { index: self.unit.index, line: self.unit.line, row: self.row, column: None, field, code, message }
    }

    /// An error at byte `offset` of `bytes` (the unit's content): its own line and column.
    fn error_at(&self, bytes: &[u8], offset: usize, code: ErrorCode, message: impl FnOnce(u64, u64) -> String) -> RecordError {
        let before = &bytes[..offset];
        let (line, column) = match memchr::memrchr(b'\n', before) {
            Some(nl) => (self.unit.line + memchr::memchr_iter(b'\n', before).count() as u64, (offset - nl) as u64),
            None => (self.unit.line, self.unit.col + offset as u64 + 1),
        };
        let message = message(line, column);
        RecordError { line, column: Some(column), ..self.error(code, None, message) }
    }

    fn issue(&self, issue: Issue) -> RecordError {
        self.error(issue.code, issue.field, issue.message)
    }
}

impl Decoder {
    pub(crate) fn decode(&self, unit: &Unit, bytes: Option<&[u8]>, fields: &mut FieldCounter) -> Decoded {
        let row = match self.container {
            Container::Csv => Some(unit.index as u64 + 1),
            Container::Parquet => Some(unit.line),
            _ => None,
        };
        let place = Place { unit, row };
        let bytes = match (&unit.kind, bytes) {
            (UnitKind::Data(_), Some(bytes)) => bytes,
            (UnitKind::TooLong { len, .. }, _) => {
                let message = format!(
                    "the record is {len} bytes, over the limit of {} bytes (max_record_bytes); it was skipped",
                    self.max_record_bytes
                );
                return failed(place.error(ErrorCode::RecordTooLong, None, message));
            }
            (UnitKind::BadElement(message), _) => {
                let mut error = place.error(ErrorCode::InvalidJson, None, format!("invalid JSON: {message}"));
                error.column = Some(unit.col + 1);
                return failed(error);
            }
            (UnitKind::Data(_), None) => return Decoded::default(),
        };
        let text = match check_encoding(&place, bytes) {
            Ok(text) => text,
            Err(mut error) => {
                if let Some(layout) = &self.csv {
                    error.field = bad_cell(&parse_row(bytes, layout.delimiter)).and_then(|i| layout.header.get(i).cloned());
                }
                return failed(error);
            }
        };
        match self.container {
            Container::Json | Container::Jsonl | Container::Parquet => self.decode_json(&place, text, fields),
            Container::Csv => self.decode_csv(&place, bytes, fields),
            Container::Txt => Decoded { record: Some(Record::Text { text: text.to_owned() }), errors: Vec::new() },
        }
    }

    fn decode_json(&self, place: &Place<'_>, text: &str, fields: &mut FieldCounter) -> Decoded {
        if text.trim().is_empty() {
            return failed(place.error(ErrorCode::EmptyRecord, None, "the line is empty; every line must hold one JSON record".to_owned()));
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let full = e.to_string();
                let reason = full.rfind(" at line ").map_or(full.as_str(), |i| &full[..i]);
                let line = place.unit.line + e.line().saturating_sub(1) as u64;
                let column = if e.line() <= 1 { place.unit.col + e.column() as u64 } else { e.column() as u64 };
                let message = format!("invalid JSON: {reason} (line {line}, column {column})");
                return failed(RecordError { line, column: Some(column), ..place.error(ErrorCode::InvalidJson, None, message) });
            }
        };
        let Value::Object(obj) = value else {
            let message = format!("a record must be a JSON object, found {}", schema_describe(&value));
            return failed(place.error(ErrorCode::WrongType, None, message));
        };
        if obj.is_empty() {
            return failed(place.error(ErrorCode::EmptyRecord, None, "the record is an empty JSON object {}".to_owned()));
        }
        fields.record(obj.iter().map(|(k, v)| (k.as_str(), is_empty_value(v))));
        self.convert(place, &obj, |_| None)
    }

    fn decode_csv(&self, place: &Place<'_>, bytes: &[u8], fields: &mut FieldCounter) -> Decoded {
        let Some(layout) = &self.csv else { return Decoded::default() };
        let row = parse_row(bytes, layout.delimiter);
        fields.record(layout.header.iter().zip(row.iter()).map(|(name, cell)| (name.as_str(), cell.trim_ascii().is_empty())));
        if row.len() != layout.header.len() {
            let message = format!(
                "the row has {} fields but the header has {}; check for unquoted delimiters or a missing cell",
                row.len(),
                layout.header.len()
            );
            return failed(place.error(ErrorCode::RaggedRow, None, message));
        }
        if row.iter().all(|cell| cell.trim_ascii().is_empty()) {
            return failed(place.error(ErrorCode::EmptyRecord, None, "the row is empty: every cell is blank".to_owned()));
        }
        let mut obj = Map::new();
        for column in &layout.columns {
            let cell = row.get(column.index).unwrap_or_default();
            obj.insert(column.field.clone(), Value::String(String::from_utf8_lossy(cell).into_owned()));
        }
        self.convert(place, &obj, |field| layout.columns.iter().find(|c| c.field == field).map(|c| c.name.as_str()))
    }

    /// Runs the schema; `rename` maps a field to the user's name for it (CSV columns).
    fn convert<'c>(&self, place: &Place<'_>, obj: &Map<String, Value>, rename: impl Fn(&str) -> Option<&'c str>) -> Decoded {
        let converted = schema::convert(obj, self.schema);
        let errors = converted
            .issues
            .into_iter()
            .map(|mut issue| {
                if let Some(name) = issue.field.as_deref().and_then(&rename) {
                    let field = issue.field.take().unwrap_or_default();
                    issue.message = issue.message.replace(&format!("`{field}`"), &format!("column `{name}`"));
                    issue.field = Some(name.to_owned());
                }
                place.issue(issue)
            })
            .collect();
        Decoded { record: converted.record, errors }
    }
}

fn failed(error: RecordError) -> Decoded {
    Decoded { record: None, errors: vec![error] }
}

fn schema_describe(v: &Value) -> String {
    crate::schema::describe(v)
}

/// The first CSV cell holding a NUL byte or invalid UTF-8.
fn bad_cell(row: &Row) -> Option<usize> {
    row.iter().position(|cell| memchr::memchr(0, cell).is_some() || std::str::from_utf8(cell).is_err())
}

/// NUL bytes mean binary data; anything else must be UTF-8.
fn check_encoding<'b>(place: &Place<'_>, bytes: &'b [u8]) -> Result<&'b str, RecordError> {
    if let Some(at) = memchr::memchr(0, bytes) {
        return Err(place.error_at(bytes, at, ErrorCode::BinaryData, |line, column| {
            format!("NUL byte at line {line}, byte {column}: the record holds binary data, not text")
        }));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let bad_len = e.error_len().unwrap_or(bytes.len() - at).min(4);
        let shown: Vec<String> = bytes[at..at + bad_len].iter().map(|b| format!("0x{b:02X}")).collect();
        place.error_at(bytes, at, ErrorCode::NonUtf8, |line, column| {
            format!("invalid UTF-8 at line {line}, byte {column} ({}); the file must be UTF-8 encoded", shown.join(" "))
        })
    })
}
