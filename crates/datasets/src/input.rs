//! Opening a dataset: read the head, refuse whole-file problems, settle the format (given or
//! detected), read the CSV header, and hand back the record units and their decoder.
//! Shared by [`crate::scan`] and [`crate::read_range`].
//!
//! Parquet needs random access (its footer is at the end): the input is first read into memory,
//! up to a limit ([`crate::parquet`]), then read row group by row group.

use std::io::{self, Chain, Cursor, Read};

use crate::columns;
use crate::decode::{CsvLayout, Decoder};
use crate::errors::{FileError, FileErrorCode};
use crate::format::{detect, detect_container, detect_parquet_schema, Container, FormatSpec, Schema};
use crate::magic;
use crate::parquet::{self, ParquetRows, ParquetSource, RandomAccess, RandomChunks};
use crate::units::Units;
use std::sync::Arc;

/// Bytes read before anything else, for the whole-file checks and detection.
pub const HEAD_BYTES: usize = 256 * 1024;

pub(crate) type Source<R> = Chain<Cursor<Vec<u8>>, R>;

#[derive(Debug)]
pub(crate) struct Opened<R> {
    pub spec: FormatSpec,
    pub units: Units<Source<R>>,
    pub decoder: Decoder,
    pub header: Option<Vec<String>>,
}

#[derive(Debug)]
pub(crate) enum Outcome<R> {
    Ready(Opened<R>),
    /// The file cannot be read as a dataset; `spec` is the format when it was settled.
    Refused {
        spec: Option<FormatSpec>,
        error: FileError,
    },
}

pub(crate) fn open<R: Read>(
    mut reader: R,
    given: Option<&FormatSpec>,
    filename: Option<&str>,
    max_record_bytes: usize,
    keep_prefix: usize,
    random: Option<&Arc<dyn RandomAccess>>,
) -> io::Result<Outcome<R>> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    (&mut reader).take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    let refused = |spec: Option<FormatSpec>, error: FileError| Ok(Outcome::Refused { spec, error });

    if let Err(error) = magic::check(&head, filename) {
        return refused(None, error);
    }
    let spec = match given {
        Some(spec) => match spec.check() {
            Ok(()) => spec.clone(),
            Err(error) => return refused(Some(spec.clone()), error),
        },
        None => match detect(&head, filename) {
            Ok(spec) => spec,
            // No schema recognised in the head: read on and judge each record on its own,
            // so every line still gets its own error.
            Err(e) if e.code == FileErrorCode::UnknownFormat => match detect_container(&head, filename) {
                Ok(spec) if matches!(spec.container, Container::Json | Container::Jsonl | Container::Parquet) => spec,
                _ => return refused(None, e),
            },
            Err(error) => return refused(None, error),
        },
    };
    if head.starts_with(b"PAR1") && spec.container != Container::Parquet {
        let message = format!("the file is Parquet (it starts with `PAR1`) but the format says {:?}", spec.container).to_lowercase();
        return refused(Some(spec), FileError::new(FileErrorCode::InvalidFormatSpec, message));
    }
    if spec.container == Container::Parquet {
        return open_parquet(head, reader, spec, given.is_none(), max_record_bytes, keep_prefix, random);
    }
    if head.starts_with(b"\xEF\xBB\xBF") {
        head.drain(..3);
    }
    let mut units = Units::open(Cursor::new(head).chain(reader), &spec, max_record_bytes, keep_prefix)?;
    let mut spec = spec;
    let mut csv = None;
    let mut header = None;
    if spec.container == Container::Csv {
        let delimiter = spec.delimiter_byte();
        let names = match units.read_header(delimiter)? {
            Ok(names) => names,
            Err(error) => return refused(Some(spec), error),
        };
        let mapping = match &spec.columns {
            Some(m) => Ok(m.clone()),
            None => columns::match_header(&names, spec.schema),
        };
        let columns = match mapping.and_then(|m| columns::resolve(&names, &m).map(|c| (m, c))) {
            Ok((mapping, columns)) => {
                spec.columns = Some(mapping);
                columns
            }
            Err(error) => return refused(Some(spec), error),
        };
        csv = Some(CsvLayout { delimiter, header: names.clone(), columns });
        header = Some(names);
    }
    let schema = if spec.container == Container::Txt { Schema::Text } else { spec.schema };
    let decoder = Decoder { container: spec.container, schema, csv, max_record_bytes };
    Ok(Outcome::Ready(Opened { spec, units, decoder, header }))
}

/// Parquet: read in place when the caller gave random access, else spool the input; read the
/// footer, settle the schema from the first rows when it was detected (not given), and hand
/// back the rows as units.
fn open_parquet<R: Read>(
    head: Vec<u8>,
    mut reader: R,
    mut spec: FormatSpec,
    detected: bool,
    max_record_bytes: usize,
    keep_prefix: usize,
    random: Option<&Arc<dyn RandomAccess>>,
) -> io::Result<Outcome<R>> {
    let refused = |spec: FormatSpec, error: FileError| Ok(Outcome::Refused { spec: Some(spec), error });
    let file = match random {
        Some(random) => ParquetSource::InPlace(RandomChunks(random.clone())),
        None => match parquet::spool(&head, &mut reader)? {
            Some(bytes) => ParquetSource::Memory(bytes),
            None => return refused(spec, parquet::too_large()),
        },
    };
    if detected && spec.schema == Schema::Auto {
        let mut rows = match ParquetRows::open(&file) {
            Ok(rows) => rows,
            Err(error) => return refused(spec, error),
        };
        // No schema recognised in the first rows, or one unreadable: stay `auto` and judge each
        // row on its own (the scan reports the unreadable row after the rows before it).
        if let Ok(schema) = detect_parquet_schema(&mut rows) {
            spec.schema = schema;
        }
    }
    let rows = match ParquetRows::open(&file) {
        Ok(rows) => rows,
        Err(error) => return refused(spec, error),
    };
    let units = Units::parquet(Cursor::new(Vec::new()).chain(reader), &spec, rows, max_record_bytes, keep_prefix)?;
    let decoder = Decoder { container: Container::Parquet, schema: spec.schema, csv: None, max_record_bytes };
    Ok(Outcome::Ready(Opened { spec, units, decoder, header: None }))
}
