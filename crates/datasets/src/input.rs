//! Opening a dataset: read the head, refuse whole-file problems, settle the format (given or
//! detected), read the CSV header, and hand back the record units and their decoder.
//! Shared by [`crate::scan`] and [`crate::read_range`].

use std::io::{self, Chain, Cursor, Read};

use crate::columns;
use crate::decode::{CsvLayout, Decoder};
use crate::errors::{FileError, FileErrorCode};
use crate::format::{detect, detect_container, Container, FormatSpec, Schema};
use crate::magic;
use crate::units::Units;

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
                Ok(spec) if matches!(spec.container, Container::Json | Container::Jsonl) => spec,
                _ => return refused(None, e),
            },
            Err(error) => return refused(None, error),
        },
    };
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
