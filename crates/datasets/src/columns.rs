//! CSV columns: reading the header, recognising which schema the header names
//! (with common synonyms such as `question`/`answer`), and resolving a field → column mapping.

use std::collections::BTreeMap;

use crate::csv_row::parse_row;
use crate::errors::{FileError, FileErrorCode};
use crate::format::Schema;

/// The header row's names, trimmed.
pub(crate) fn parse_header(bytes: &[u8], delimiter: u8, line: u64) -> Result<Vec<String>, FileError> {
    let row = parse_row(bytes, delimiter);
    let names: Vec<String> = row.iter().map(|cell| String::from_utf8_lossy(cell).trim().to_owned()).collect();
    if names.iter().all(String::is_empty) {
        return Err(FileError::at(FileErrorCode::UnknownFormat, line, "the csv header row has no column names"));
    }
    Ok(names)
}

/// Reads the header from the start of a file (for detection).
pub(crate) fn read_header(body: &[u8], delimiter: u8) -> Result<Vec<String>, FileError> {
    let spec = crate::FormatSpec { delimiter: Some(delimiter as char), ..crate::FormatSpec::new(crate::Container::Csv, Schema::Auto) };
    let mut units =
        crate::units::Units::open(body, &spec, usize::MAX, 0).map_err(|e| FileError::new(FileErrorCode::UnknownFormat, e.to_string()))?;
    units.read_header(delimiter).map_err(|e| FileError::new(FileErrorCode::UnknownFormat, e.to_string()))?
}

/// Header names that stand for a field, best first (compared case-insensitively).
fn synonyms(field: &str) -> &'static [&'static str] {
    match field {
        "prompt" => &["prompt", "question", "query", "input", "instruction"],
        "completion" => &["completion", "answer", "response", "output", "target"],
        "instruction" => &["instruction"],
        "input" => &["input"],
        "output" => &["output"],
        "system" => &["system", "system_prompt"],
        "chosen" => &["chosen"],
        "rejected" => &["rejected"],
        "text" => &["text", "content", "body"],
        _ => &[],
    }
}

fn find_column<'h>(header: &'h [String], field: &str) -> Option<&'h str> {
    synonyms(field).iter().find_map(|name| header.iter().find(|h| h.eq_ignore_ascii_case(name))).map(String::as_str)
}

/// Which schema the header's column names point to.
pub(crate) fn schema_from_header(header: &[String]) -> Result<Schema, FileError> {
    let has = |field: &str| find_column(header, field).is_some();
    let named = |name: &str| header.iter().any(|h| h.eq_ignore_ascii_case(name));
    if named("instruction") && named("output") {
        Ok(Schema::Alpaca)
    } else if has("chosen") && has("rejected") && has("prompt") {
        Ok(Schema::ChosenRejected)
    } else if has("prompt") && has("completion") {
        Ok(Schema::PromptCompletion)
    } else if has("text") {
        Ok(Schema::Text)
    } else {
        Err(FileError::at(
            FileErrorCode::UnknownFormat,
            1,
            format!(
                "the csv header ({}) names no known fields; pass a column mapping such as \
                 {{\"prompt\": \"question\", \"completion\": \"answer\"}} or {{\"text\": \"body\"}}",
                header.join(", ")
            ),
        ))
    }
}

/// The field → column mapping for `schema` found by name in the header.
pub(crate) fn match_header(header: &[String], schema: Schema) -> Result<BTreeMap<String, String>, FileError> {
    let Some((required, optional)) = schema.csv_fields() else {
        return Err(FileError::new(FileErrorCode::InvalidFormatSpec, format!("a csv file cannot hold {} records", schema.as_str())));
    };
    let mut columns = BTreeMap::new();
    for field in required.iter().chain(optional) {
        match find_column(header, field) {
            Some(column) => {
                columns.insert((*field).to_owned(), column.to_owned());
            }
            None if required.contains(field) => {
                return Err(FileError::at(
                    FileErrorCode::MissingColumn,
                    1,
                    format!(
                        "no column for the field {field:?} of {} (looked for {}); the header has: {}. Pass a column mapping",
                        schema.as_str(),
                        synonyms(field).join(", "),
                        header.join(", ")
                    ),
                ));
            }
            None => {}
        }
    }
    Ok(columns)
}

/// A field and the header column it is read from.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub field: String,
    pub name: String,
    pub index: usize,
}

/// Resolves the mapping against the header: every mapped column must exist.
pub(crate) fn resolve(header: &[String], columns: &BTreeMap<String, String>) -> Result<Vec<Column>, FileError> {
    columns
        .iter()
        .map(|(field, name)| {
            let index = header
                .iter()
                .position(|h| h == name)
                .or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(name.trim())))
                .ok_or_else(|| {
                FileError::at(
                    FileErrorCode::MissingColumn,
                    1,
                    format!("the column {name:?} (mapped to {field:?}) is not in the csv header; the header has: {}", header.join(", ")),
                )
            })?;
            Ok(Column { field: field.clone(), name: header[index].clone(), index })
        })
        .collect()
}

/// Without an extension: a first line with commas that names known fields.
pub(crate) fn looks_like_csv(body: &[u8]) -> bool {
    let line = memchr::memchr(b'\n', body).map_or(body, |i| &body[..i]);
    memchr::memchr(b',', line).is_some() && parse_header(line, b',', 1).is_ok_and(|h| schema_from_header(&h).is_ok())
}
