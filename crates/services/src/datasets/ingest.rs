//! Reading a stored blob as a dataset: format detection, validation and statistics in one
//! streaming pass, off the async threads.

use crate::datasets::blobs::internal;
use crate::{Error, Result, Services};
use datasets::{FormatSpec, ScanOptions, ScanReport};
use std::io::{BufReader, Read};


/// Bytes read from the start of a file to detect its format.
const DETECT_BYTES: usize = 256 * 1024;

/// What a pass over a blob found.
#[derive(Debug, Clone)]
pub(crate) struct Ingested {
    pub spec: FormatSpec,
    pub report: ScanReport,
    /// The report, stored encrypted like the data (its error messages quote records).
    pub report_blob_id: String,
}

fn file_error(e: datasets::FileError) -> Error {
    Error::InvalidFile { code: e.code().to_string(), message: e.to_string() }
}

impl Services {
    /// Detects the format (unless given) and scans the whole blob.
    pub(crate) async fn ingest_blob(&self, blob_id: &str, filename: &str, format: Option<FormatSpec>) -> Result<Ingested> {
        let blobs = self.blobs_handle();
        let (id, filename) = (blob_id.to_string(), filename.to_string());
        tokio::task::spawn_blocking(move || {
            let spec = match format {
                Some(spec) => spec,
                None => {
                    let mut head = Vec::with_capacity(DETECT_BYTES);
                    blobs.reader(&id).map_err(internal)?.take(DETECT_BYTES as u64).read_to_end(&mut head).map_err(internal)?;
                    datasets::detect(&head, Some(&filename)).map_err(file_error)?
                }
            };
            let reader = BufReader::with_capacity(1 << 20, blobs.reader(&id).map_err(internal)?);
            let options = ScanOptions { format: spec.clone(), ..ScanOptions::default() };
            let report = datasets::scan(reader, &options, |_, _, _| {}).map_err(file_error)?;
            let mut writer = blobs.writer().map_err(internal)?;
            serde_json::to_writer(&mut writer, &report).map_err(internal)?;
            let report_blob_id = writer.finish().map_err(internal)?.id;
            Ok(Ingested { spec, report, report_blob_id })
        })
        .await
        .map_err(internal)?
    }
}

impl Services {
    /// A version's full report, read back from its encrypted blob.
    pub(crate) async fn read_report(&self, report_blob_id: &str) -> Result<ScanReport> {
        let blobs = self.blobs_handle();
        let id = report_blob_id.to_string();
        tokio::task::spawn_blocking(move || serde_json::from_reader(BufReader::new(blobs.reader(&id).map_err(internal)?)).map_err(internal))
            .await
            .map_err(internal)?
    }
}
