//! Reading a stored blob as a dataset: format detection, validation and statistics in one
//! streaming pass, off the async threads.

use crate::datasets::blobs::internal;
use crate::{Error, Result, Services};
use datasets::{FormatSpec, ScanOptions, ScanReport};
use std::io::BufReader;

/// What a pass over a blob found.
#[derive(Debug, Clone)]
pub(crate) struct Ingested {
    pub spec: FormatSpec,
    pub report: ScanReport,
    /// The report, stored encrypted like the data (its error messages quote records).
    pub report_blob_id: String,
    /// Keeps the report blob while the version that references it is written.
    pub _report_hold: std::sync::Arc<crate::blob_holds::BlobHold>,
}

/// A whole-file problem as the services' error (the file is not a dataset Tunery can read).
pub(crate) fn file_error(e: &datasets::FileError) -> Error {
    let code = serde_json::to_value(e.code).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let at = e.line.map(|l| format!(" (line {l})")).unwrap_or_default();
    Error::InvalidFile { code, message: format!("{}{at}", e.message) }
}

impl Services {
    /// Detects the format (unless given), then validates and measures the whole blob in one
    /// streaming pass; the report is stored as an encrypted blob of its own.
    pub(crate) async fn ingest_blob(&self, blob_id: &str, filename: &str, format: Option<FormatSpec>) -> Result<Ingested> {
        let (blobs, holds) = (self.blobs_handle(), self.blob_holds());
        let (id, filename) = (blob_id.to_string(), filename.to_string());
        let counter = self.token_counter();
        let max_tokens = self.settings().max_tokens_per_record;
        tokio::task::spawn_blocking(move || {
            let reader = BufReader::with_capacity(1 << 20, blobs.reader(&id).map_err(internal)?);
            let random_access = crate::datasets::blobs::random_access(&blobs, &id, format.as_ref().map(|f| f.container))?;
            let options = ScanOptions {
                format,
                filename: Some(filename),
                token_counter: counter.as_deref(),
                max_tokens: counter.as_ref().map(|_| max_tokens),
                random_access,
                ..ScanOptions::default()
            };
            let report = datasets::scan(reader, &options, |_, _, _| {}).map_err(internal)?;
            if let Some(e) = &report.summary.file_error {
                return Err(file_error(e));
            }
            let spec = report.format.clone().ok_or_else(|| Error::Internal("the scan settled no format".into()))?;
            let mut writer = blobs.writer().map_err(internal)?;
            serde_json::to_writer(&mut writer, &report).map_err(internal)?;
            let (info, hold) = crate::blob_holds::commit_held(&holds, writer.seal().map_err(internal)?)?;
            Ok(Ingested { spec, report, report_blob_id: info.id, _report_hold: std::sync::Arc::new(hold) })
        })
        .await
        .map_err(internal)?
    }
}

impl Services {
    /// A version's full report (as JSON), read back from its encrypted blob.
    pub(crate) async fn read_report(&self, report_blob_id: &str) -> Result<serde_json::Value> {
        let blobs = self.blobs_handle();
        let id = report_blob_id.to_string();
        tokio::task::spawn_blocking(move || serde_json::from_reader(BufReader::new(blobs.reader(&id).map_err(internal)?)).map_err(internal))
            .await
            .map_err(internal)?
    }
}
