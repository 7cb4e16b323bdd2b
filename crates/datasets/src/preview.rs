//! Previews: any range of records by index, each with its original text, its canonical form
//! and its errors. Reading stops after the last record asked for.

use std::io::Read;

use serde::Serialize;

use crate::errors::{ReadError, RecordError};
use crate::format::FormatSpec;
use crate::input::{self, Outcome};
use crate::record::Record;
use crate::stats::FieldCounter;
use crate::units::UnitKind;
use crate::validate::DEFAULT_MAX_RECORD_BYTES;

/// The original text of a previewed record is cut to this many bytes.
pub const PREVIEW_RAW_MAX_BYTES: usize = 16 * 1024;

/// One record as previewed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PreviewRecord {
    pub index: usize,
    pub line: u64,
    /// The record's original text without surrounding whitespace (invalid UTF-8 replaced),
    /// cut to [`PREVIEW_RAW_MAX_BYTES`].
    pub raw: String,
    pub raw_truncated: bool,
    /// The canonical record, when its structure allowed building one.
    pub record: Option<Record>,
    pub errors: Vec<RecordError>,
}

/// Records `start .. start + count` of a file in the given format (fewer at the end of the
/// file). Indices are those of [`crate::scan`].
pub fn read_range<R: Read>(
    reader: R,
    spec: &FormatSpec,
    start: usize,
    count: usize,
    random: Option<&std::sync::Arc<dyn crate::RandomAccess>>,
) -> Result<Vec<PreviewRecord>, ReadError> {
    let opened = match input::open(reader, Some(spec), None, DEFAULT_MAX_RECORD_BYTES, PREVIEW_RAW_MAX_BYTES, random)? {
        Outcome::Ready(opened) => opened,
        Outcome::Refused { error, .. } => return Err(ReadError::File(error)),
    };
    let input::Opened { mut units, decoder, .. } = opened;
    let mut fields = FieldCounter::default();
    let mut out = Vec::with_capacity(count.min(1000));
    let end = start.saturating_add(count);
    while out.len() < count {
        let Some(unit) = units.next_unit()? else { break };
        if unit.index < start {
            continue;
        }
        if unit.index >= end {
            break;
        }
        let bytes = units.data(&unit);
        let decoded = decoder.decode(&unit, bytes, &mut fields);
        let original: &[u8] = match (&unit.kind, bytes) {
            (UnitKind::TooLong { prefix, .. }, _) => prefix,
            (_, Some(bytes)) => bytes.trim_ascii(),
            _ => &[],
        };
        let cut = original.len().min(PREVIEW_RAW_MAX_BYTES);
        let mut raw = String::from_utf8_lossy(&original[..cut]).into_owned();
        let raw_truncated = cut < original.len() || matches!(unit.kind, UnitKind::TooLong { .. });
        if cut < original.len() {
            // A cut inside a multi-byte character shows as one replacement character.
            raw = raw.trim_end_matches('\u{FFFD}').to_owned();
        }
        out.push(PreviewRecord { index: unit.index, line: unit.line, raw, raw_truncated, record: decoded.record, errors: decoded.errors });
    }
    Ok(out)
}
