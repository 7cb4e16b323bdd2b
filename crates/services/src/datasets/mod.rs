//! Datasets: uploads (multipart and resumable), immutable versions over encrypted,
//! content-addressed blobs, validation and statistics, previews, downloads and lineage.
//!
//! File bytes never pass through the database: they stream into the blob store (encrypted as
//! they arrive), and the version row records the blob id, the detected format and the
//! validation report. Storage is accounted per organization: bytes are reserved before and
//! during an upload (one conditional UPDATE, so concurrent uploads cannot overshoot the quota)
//! and become "used" when a version is created.

mod access;
mod annotate;
mod augment;
mod blobs;
mod diff;
mod export;
mod ingest;
mod preprocess;
mod recount;
pub mod uploads;
mod versions;

/// The recipe and format documents, for the API's schemas.
pub use ::datasets::{ErrorCode, FormatSpec, Recipe, RecipeReport, RecordError, Stats as DatasetStats, Summary as ValidationSummary};
pub use access::DatasetAccess;
pub use annotate::{
    AnnotatedRecord, AnnotationInput, AnnotationState, AnnotationTask, AnnotationView, AnnotatorProgress, CompleteAnnotation,
    NewAnnotationTask,
};
pub(crate) use blobs::internal;
pub use blobs::BlobUpload;
pub use diff::{DiffExample, VersionDiff};
pub use export::ExportTarget;
pub use preprocess::{OperationProgress, Preprocessed, ProgressSnapshot};
pub(crate) use recount::RECOUNTS_KEPT;
pub use recount::{StatsOptions, VersionStats};
pub use uploads::{safe_filename, NewUpload, UploadTarget, MAX_PARTS};
pub use versions::{DatasetChanges, Lineage, NewDataset, PreviewItem, VersionOrigin};

/// Calls `f(index, line, record)` for every valid record of a version, in canonical form
/// (decrypting and parsing as it streams; blocking: call from a blocking thread).
pub(crate) fn scan_version(
    blobs: &blob_store::BlobStore,
    v: &database::datasets::VersionRow,
    mut f: impl FnMut(usize, u64, &::datasets::Record),
) -> crate::Result<()> {
    let spec: ::datasets::FormatSpec = serde_json::from_str(&v.format).map_err(internal)?;
    let reader = std::io::BufReader::with_capacity(1 << 20, blobs.reader(&v.blob_id).map_err(internal)?);
    let random_access = blobs::random_access(blobs, &v.blob_id, Some(spec.container))?;
    let options =
        ::datasets::ScanOptions { format: Some(spec), detect_duplicates: false, max_errors: 0, random_access, ..Default::default() };
    ::datasets::scan(reader, &options, |index, line, record| f(index, line, record)).map_err(internal)?;
    Ok(())
}
