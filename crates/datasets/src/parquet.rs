//! Parquet input: each row becomes one JSON object (column name → value; lists → arrays,
//! structs and maps → objects, NULL → `null`, binary that is not UTF-8 → base64), which then
//! goes through the same schema detection, conversion and validation as a JSONL record.
//!
//! Random access: Parquet keeps its schema and row-group offsets in a footer at the end of the
//! file. When the caller gives a [`RandomAccess`] to the input (the blob store's decrypts only
//! the chunks a read covers), the file is read in place, a row group at a time, whatever its
//! size. Given only a `Read`, the input is read into memory ([`spool`]), up to
//! [`MAX_PARQUET_BYTES`] — never to a temporary file, since stored data must not touch the
//! disk unencrypted — and larger files are refused with a hint.
//!
//! Codecs read: uncompressed, snappy, gzip, lz4 (raw and Hadoop) and zstd. Brotli and LZO
//! are refused up front with `parquet_not_supported` naming the codec and the column.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;

use parquet::basic::Compression;
use parquet::file::reader::{ChunkReader, FileReader, Length, SerializedFileReader};
use parquet::record::reader::RowIter;
use serde_json::Value;

use crate::errors::{FileError, FileErrorCode};

/// The largest Parquet file read into memory when no [`RandomAccess`] is given.
pub const MAX_PARQUET_BYTES: u64 = 256 * 1024 * 1024;

/// Reads at any offset of the input (the same bytes the `Read` streams).
pub trait RandomAccess: Send + Sync {
    fn size(&self) -> u64;
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// A [`RandomAccess`] as the `parquet` crate's `ChunkReader`.
#[derive(Clone)]
pub(crate) struct RandomChunks(pub Arc<dyn RandomAccess>);

impl Length for RandomChunks {
    fn len(&self) -> u64 {
        self.0.size()
    }
}

impl ChunkReader for RandomChunks {
    type T = RandomRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<RandomRead> {
        Ok(RandomRead { source: self.0.clone(), at: start })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let mut buf = vec![0u8; length];
        self.0.read_exact_at(start, &mut buf).map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
        Ok(Bytes::from(buf))
    }
}

/// Sequential reads from an offset of a [`RandomAccess`].
pub(crate) struct RandomRead {
    source: Arc<dyn RandomAccess>,
    at: u64,
}

impl Read for RandomRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.source.size().saturating_sub(self.at)).min(buf.len() as u64) as usize;
        self.source.read_exact_at(self.at, &mut buf[..n])?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Where a Parquet file is read from: memory, or in place.
#[derive(Clone)]
pub(crate) enum ParquetSource {
    Memory(Bytes),
    InPlace(RandomChunks),
}

/// Reads the whole input into memory for random access; `Ok(None)` when it is larger than
/// [`MAX_PARQUET_BYTES`].
pub(crate) fn spool(head: &[u8], reader: impl Read) -> io::Result<Option<Bytes>> {
    let mut buf = Vec::with_capacity(head.len());
    io::Cursor::new(head).chain(reader).take(MAX_PARQUET_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_PARQUET_BYTES {
        return Ok(None);
    }
    Ok(Some(Bytes::from(buf)))
}

/// The refusal of a Parquet file over the size limit.
pub(crate) fn too_large() -> FileError {
    FileError::new(
        FileErrorCode::ParquetNotSupported,
        format!(
            "Parquet files over {} MiB are not read yet; convert it to JSONL (for example with pandas: \
             pd.read_parquet(path).to_json(out, orient=\"records\", lines=True, force_ascii=False))",
            MAX_PARQUET_BYTES >> 20
        ),
    )
}

/// The rows of a Parquet file, one at a time, as JSON values.
pub(crate) struct ParquetRows {
    rows: RowIter<'static>,
    /// 1-based number of the next row.
    next_row: u64,
    pub total_rows: u64,
}

impl std::fmt::Debug for ParquetRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetRows").field("next_row", &self.next_row).field("total_rows", &self.total_rows).finish()
    }
}

impl ParquetRows {
    /// Reads the footer and checks that every column chunk uses a codec this build reads.
    pub(crate) fn open(file: &ParquetSource) -> Result<ParquetRows, FileError> {
        let reader: Box<dyn FileReader> = match file {
            ParquetSource::Memory(bytes) => Box::new(SerializedFileReader::new(bytes.clone()).map_err(not_parquet)?),
            ParquetSource::InPlace(chunks) => Box::new(SerializedFileReader::new(chunks.clone()).map_err(not_parquet)?),
        };
        let metadata = reader.metadata();
        for group in metadata.row_groups() {
            for column in group.columns() {
                let codec = match column.compression() {
                    Compression::UNCOMPRESSED
                    | Compression::SNAPPY
                    | Compression::GZIP(_)
                    | Compression::LZ4
                    | Compression::LZ4_RAW
                    | Compression::ZSTD(_) => continue,
                    Compression::BROTLI(_) => "brotli",
                    Compression::LZO => "lzo",
                };
                return Err(FileError::new(
                    FileErrorCode::ParquetNotSupported,
                    format!(
                        "column `{}` is compressed with {codec}, which is not supported; rewrite the file with snappy, zstd, gzip \
                         or lz4 (for example with pandas: df.to_parquet(path, compression=\"zstd\"))",
                        column.column_path().string()
                    ),
                ));
            }
        }
        let total_rows = metadata.file_metadata().num_rows().max(0) as u64;
        let rows = RowIter::from_file_into(reader);
        Ok(ParquetRows { rows, next_row: 1, total_rows })
    }

    /// The next row as a JSON value with its 1-based row number; an error names the row.
    pub(crate) fn next_row(&mut self) -> Result<Option<(u64, Value)>, FileError> {
        let number = self.next_row;
        match self.rows.next() {
            None => Ok(None),
            Some(Ok(row)) => {
                self.next_row += 1;
                Ok(Some((number, row.to_json_value())))
            }
            Some(Err(e)) => {
                let mut error = invalid(format!("reading row {number} failed: {e}"));
                error.line = Some(number);
                Err(error)
            }
        }
    }
}

fn not_parquet(e: parquet::errors::ParquetError) -> FileError {
    invalid(format!("not a valid Parquet file: {e}"))
}

fn invalid(message: String) -> FileError {
    FileError::new(FileErrorCode::InvalidParquet, message)
}
