//! Datasets: uploads (multipart and resumable), immutable versions over encrypted,
//! content-addressed blobs, validation and statistics, previews, downloads and lineage.
//!
//! File bytes never pass through the database: they stream into the blob store (encrypted as
//! they arrive), and the version row records the blob id, the detected format and the
//! validation report. Storage is accounted per organization: bytes are reserved before and
//! during an upload (one conditional UPDATE, so concurrent uploads cannot overshoot the quota)
//! and become "used" when a version is created.

mod access;
mod blobs;
mod diff;
mod ingest;
mod preprocess;
pub mod uploads;
mod versions;

pub use access::DatasetAccess;
pub use blobs::BlobUpload;
pub use diff::{DiffExample, VersionDiff};
pub use preprocess::Preprocessed;
pub use uploads::{safe_filename, NewUpload, UploadTarget};
pub use versions::{DatasetChanges, Lineage, NewDataset, PreviewItem};
