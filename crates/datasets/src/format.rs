//! Dataset formats: the container (JSONL, JSON array, CSV, TXT, Parquet) and the schema (OpenAI chat,
//! ShareGPT, Alpaca, prompt/completion, preference pairs, text), together a [`FormatSpec`].
//!
//! [`detect`] guesses the spec from the first bytes of a file and its name; users may pass an
//! explicit spec instead (it deserialises with unknown fields refused). Parquet is recognised
//! by its `PAR1` magic or `.parquet` name; its schema is detected from its first rows when the
//! file is opened (the head holds no rows: they are found through the footer).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::columns;
use crate::errors::{FileError, FileErrorCode, FormatError};
use crate::magic;
use crate::schema::classify;
use crate::units::Units;

/// How records are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    /// One JSON record per line.
    Jsonl,
    /// One top-level JSON array of records (streamed element by element).
    Json,
    /// A header row, then one record per row; a column mapping names the fields.
    Csv,
    /// Plain text: one record per line or per blank-line-separated paragraph.
    Txt,
    /// Apache Parquet: one record per row, columns as JSON fields (nested lists and structs
    /// as arrays and objects).
    Parquet,
}

/// What each record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RecordSchema)]
pub enum Schema {
    /// OpenAI chat: `{"messages": [{"role", "content", "weight"?}]}`.
    Chat,
    /// ShareGPT: `{"conversations": [{"from", "value"}], "system"?}`.
    Sharegpt,
    /// Alpaca: `{"instruction", "input"?, "output", "system"?, "history"?}`.
    Alpaca,
    /// `{"prompt", "completion"}`.
    PromptCompletion,
    /// OpenAI preference: `{"input": {"messages"}, "preferred_output", "non_preferred_output"}`.
    OpenaiPreference,
    /// `{"prompt" | "messages", "chosen", "rejected"}`.
    ChosenRejected,
    /// `{"text"}`, or TXT lines and paragraphs.
    Text,
    /// Each record is classified on its own by its keys (mixed files, or when detection
    /// recognised none of the first records).
    Auto,
}

impl Schema {
    pub fn as_str(self) -> &'static str {
        match self {
            Schema::Chat => "chat",
            Schema::Sharegpt => "sharegpt",
            Schema::Alpaca => "alpaca",
            Schema::PromptCompletion => "prompt_completion",
            Schema::OpenaiPreference => "openai_preference",
            Schema::ChosenRejected => "chosen_rejected",
            Schema::Text => "text",
            Schema::Auto => "auto",
        }
    }

    /// Fields a CSV column mapping may name for this schema: (required, optional).
    pub fn csv_fields(self) -> Option<(&'static [&'static str], &'static [&'static str])> {
        match self {
            Schema::PromptCompletion => Some((&["prompt", "completion"], &[])),
            Schema::Alpaca => Some((&["instruction", "output"], &["input", "system"])),
            Schema::ChosenRejected => Some((&["prompt", "chosen", "rejected"], &[])),
            Schema::Text => Some((&["text"], &[])),
            _ => None,
        }
    }
}

/// How TXT files are cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TxtSplit {
    /// One record per non-blank line.
    #[default]
    Lines,
    /// One record per paragraph; paragraphs are separated by blank lines.
    Paragraphs,
}

/// A file's format, detected or given by the user. Options for another container, or a schema
/// the container cannot hold, are refused when the file is read (`invalid_format_spec`, 422).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormatSpec {
    pub container: Container,
    pub schema: Schema,
    /// CSV: field → column header, e.g. `{"prompt": "question", "completion": "answer"}`.
    /// Absent: columns are matched by name (`prompt`, `question`, `answer`, `text`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<BTreeMap<String, String>>,
    /// CSV: the field delimiter (default `,`; `\t` for `.tsv` files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1)]
    pub delimiter: Option<char>,
    /// TXT: lines (default) or paragraphs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<TxtSplit>,
}

impl FormatSpec {
    pub fn new(container: Container, schema: Schema) -> FormatSpec {
        FormatSpec { container, schema, columns: None, delimiter: None, split: None }
    }

    /// The CSV delimiter as a byte.
    pub(crate) fn delimiter_byte(&self) -> u8 {
        self.delimiter.and_then(|c| u8::try_from(c).ok()).unwrap_or(b',')
    }

    /// Refuses specs that contradict themselves: options for another container, a schema the
    /// container cannot hold, a column mapping naming unknown fields.
    pub fn check(&self) -> Result<(), FormatError> {
        let bad = |message: String| Err(FileError::new(FileErrorCode::InvalidFormatSpec, message));
        let container = self.container;
        if container != Container::Csv && (self.columns.is_some() || self.delimiter.is_some()) {
            return bad(format!("`columns` and `delimiter` only apply to csv files, not {container:?}").to_lowercase());
        }
        if container != Container::Txt && self.split.is_some() {
            return bad("`split` only applies to txt files".to_owned());
        }
        match container {
            Container::Txt if self.schema != Schema::Text => {
                bad(format!("a txt file holds plain text; schema must be \"text\", not {:?}", self.schema.as_str()))
            }
            Container::Csv => {
                let Some((required, optional)) = self.schema.csv_fields() else {
                    return bad(format!(
                        "a csv file can hold prompt_completion, alpaca, chosen_rejected or text records, not {:?}",
                        self.schema.as_str()
                    ));
                };
                if let Some(d) = self.delimiter {
                    if !d.is_ascii() || d == '"' || d == '\n' || d == '\r' {
                        return bad(format!("`delimiter` must be one ASCII character other than a quote or newline, found {d:?}"));
                    }
                }
                if let Some(columns) = &self.columns {
                    for field in columns.keys() {
                        if !required.contains(&field.as_str()) && !optional.contains(&field.as_str()) {
                            let allowed: Vec<&str> = required.iter().chain(optional).copied().collect();
                            return bad(format!(
                                "`columns` maps {field:?}, which is not a field of {}; allowed: {}",
                                self.schema.as_str(),
                                allowed.join(", ")
                            ));
                        }
                    }
                    for field in required {
                        if !columns.contains_key(*field) {
                            return bad(format!("`columns` must map the required field {field:?} of {}", self.schema.as_str()));
                        }
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// How many records of the head [`detect`] looks at to pick a schema.
const DETECT_RECORDS: usize = 50;

/// Guesses the format from the first bytes of a file (a few hundred KiB is plenty) and its
/// name. Fails on whole-file problems (compressed, UTF-16, empty, a single JSON object) and
/// when none of the first records matches a known schema. Parquet gives [`Schema::Auto`]
/// here: its rows are only reachable through the footer, so [`crate::scan`] settles the schema.
pub fn detect(head: &[u8], filename: Option<&str>) -> Result<FormatSpec, FormatError> {
    let mut spec = detect_container(head, filename)?;
    spec.schema = detect_schema(magic::strip_bom(head), &spec)?;
    if spec.container == Container::Csv {
        spec.columns = Some(columns::match_header(&columns::read_header(magic::strip_bom(head), spec.delimiter_byte())?, spec.schema)?);
    }
    Ok(spec)
}

/// The container alone, with [`Schema::Auto`]: by extension, then by content.
pub(crate) fn detect_container(head: &[u8], filename: Option<&str>) -> Result<FormatSpec, FormatError> {
    magic::check(head, filename)?;
    if magic::is_parquet(head, filename) {
        return Ok(FormatSpec::new(Container::Parquet, Schema::Auto));
    }
    let body = magic::strip_bom(head);
    let extension = filename.and_then(|f| f.rsplit_once('.')).map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    let mut spec = match extension.as_str() {
        // Records are objects, so a "JSONL" file starting with `[` is one JSON array.
        "jsonl" | "ndjson" | "jsonlines" if first == Some(b'[') => FormatSpec::new(Container::Json, Schema::Auto),
        "jsonl" | "ndjson" | "jsonlines" => FormatSpec::new(Container::Jsonl, Schema::Auto),
        "json" if first == Some(b'[') => FormatSpec::new(Container::Json, Schema::Auto),
        "json" if first == Some(b'{') => {
            single_object_check(body)?;
            FormatSpec::new(Container::Jsonl, Schema::Auto)
        }
        "json" => {
            let found = first.map_or(String::new(), |b| format!(", found `{}`", b as char));
            return Err(FileError::at(
                FileErrorCode::UnsupportedLayout,
                1 + memchr::memchr_iter(b'\n', body.split(|b| !b.is_ascii_whitespace()).next().unwrap_or_default()).count() as u64,
                format!("a .json file must hold a top-level array of records starting with `[` (or one JSON object per line){found}"),
            ));
        }
        "csv" => FormatSpec::new(Container::Csv, Schema::Auto),
        "tsv" => FormatSpec { delimiter: Some('\t'), ..FormatSpec::new(Container::Csv, Schema::Auto) },
        "txt" | "text" | "md" => FormatSpec::new(Container::Txt, Schema::Text),
        _ => match first {
            Some(b'[') => FormatSpec::new(Container::Json, Schema::Auto),
            Some(b'{') => {
                single_object_check(body)?;
                FormatSpec::new(Container::Jsonl, Schema::Auto)
            }
            _ if columns::looks_like_csv(body) => FormatSpec::new(Container::Csv, Schema::Auto),
            _ => FormatSpec::new(Container::Txt, Schema::Text),
        },
    };
    if spec.container == Container::Txt {
        spec.split = Some(guess_txt_split(body));
    }
    Ok(spec)
}

/// A `.json` file starting with `{` is JSONL unless its first line is the start of one object
/// spanning several lines, a layout we do not read.
fn single_object_check(body: &[u8]) -> Result<(), FormatError> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
    let line_end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |i| start + i);
    let first_line = &body[start..line_end];
    match serde_json::from_slice::<serde_json::Value>(first_line) {
        Err(e) if e.is_eof() => Err(FileError::at(
            FileErrorCode::UnsupportedLayout,
            1 + memchr::memchr_iter(b'\n', &body[..start]).count() as u64,
            "the file holds one JSON object spanning several lines; expected a top-level array of records ([{…}, {…}]) \
             or one JSON object per line (JSONL). If the records sit under a key such as \"data\", extract that array",
        )),
        _ => Ok(()),
    }
}

/// Paragraphs when the head has blank lines between blocks of several lines.
fn guess_txt_split(body: &[u8]) -> TxtSplit {
    let text = String::from_utf8_lossy(body);
    let mut blocks = 0usize;
    let mut lines = 0usize;
    let mut in_block = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            in_block = false;
        } else {
            lines += 1;
            if !in_block {
                blocks += 1;
                in_block = true;
            }
        }
    }
    if blocks > 0 && blocks < lines && lines * 2 >= blocks * 3 {
        TxtSplit::Paragraphs
    } else {
        TxtSplit::Lines
    }
}

/// The schema most of the first records follow.
fn detect_schema(body: &[u8], spec: &FormatSpec) -> Result<Schema, FormatError> {
    match spec.container {
        Container::Txt => return Ok(Schema::Text),
        Container::Parquet => return Ok(Schema::Auto),
        Container::Csv => {
            let header = columns::read_header(body, spec.delimiter_byte())?;
            return columns::schema_from_header(&header);
        }
        Container::Json | Container::Jsonl => {}
    }
    let mut units = Units::open(body, spec, usize::MAX, 0).map_err(|e| FileError::new(FileErrorCode::UnknownFormat, e.to_string()))?;
    let mut votes = SchemaVotes::default();
    let mut looked = 0;
    while looked < DETECT_RECORDS {
        let Ok(Some(unit)) = units.next_unit() else { break };
        looked += 1;
        let Some(bytes) = units.data(&unit) else { continue };
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(value) => votes.add(&value),
            Err(e) => {
                votes.first_json_error.get_or_insert_with(|| format!("line {}: {e}", unit.line));
            }
        }
    }
    votes.finish()
}

/// Parquet: the schema most of the first rows follow (rows as JSON objects).
pub(crate) fn detect_parquet_schema(rows: &mut crate::parquet::ParquetRows) -> Result<Schema, FormatError> {
    let mut votes = SchemaVotes::default();
    for _ in 0..DETECT_RECORDS {
        match rows.next_row() {
            Ok(Some((_, value))) => votes.add(&value),
            Ok(None) => break,
            Err(e) => return Err(e),
        }
    }
    votes.finish()
}

/// Schemas recognised among the first records, by count.
#[derive(Default)]
struct SchemaVotes {
    votes: Vec<(Schema, usize)>,
    keys_seen: Vec<String>,
    first_json_error: Option<String>,
}

impl SchemaVotes {
    fn add(&mut self, value: &serde_json::Value) {
        let serde_json::Value::Object(obj) = value else { return };
        match classify(obj) {
            Some(s) => match self.votes.iter_mut().find(|(v, _)| *v == s) {
                Some((_, n)) => *n += 1,
                None => self.votes.push((s, 1)),
            },
            None => {
                let new: Vec<String> = obj.keys().filter(|k| !self.keys_seen.contains(k)).cloned().collect();
                self.keys_seen.extend(new);
            }
        }
    }

    fn finish(self) -> Result<Schema, FormatError> {
        let SchemaVotes { votes, mut keys_seen, first_json_error } = self;
        schema_from_votes(&votes, &mut keys_seen, first_json_error)
    }
}

fn schema_from_votes(
    votes: &[(Schema, usize)],
    keys_seen: &mut Vec<String>,
    first_json_error: Option<String>,
) -> Result<Schema, FormatError> {
    // Most votes wins; ties go to the schema seen first.
    if let Some(best) = votes.iter().map(|(_, n)| *n).max() {
        return Ok(votes.iter().find(|(_, n)| *n == best).map(|(s, _)| *s).unwrap_or(Schema::Auto));
    }
    keys_seen.sort();
    keys_seen.truncate(20);
    let message = if !keys_seen.is_empty() {
        format!(
            "none of the first records matches a known format (messages, conversations, instruction/output, prompt/completion, \
             chosen/rejected, preferred_output, text); keys seen: {}",
            keys_seen.join(", ")
        )
    } else if let Some(e) = first_json_error {
        format!("none of the first records is valid JSON ({e})")
    } else {
        "none of the first records is a JSON object".to_owned()
    };
    Err(FileError::new(FileErrorCode::UnknownFormat, message))
}
