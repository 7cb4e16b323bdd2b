//! API views of datasets, versions and uploads.

use crate::views::{secs, stored_json};
use database::datasets::VersionRow;
use database::operations::OperationRow;
use database::uploads::{PartRow, UploadRow};
use serde::Serialize;
use services::datasets::{DatasetAccess, Lineage};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetView {
    pub id: String,
    pub object: &'static str,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub description: String,
    /// private, project, organization or users.
    pub visibility: String,
    pub shared_with: Vec<String>,
    pub created_by: String,
    pub latest_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub my_permissions: Vec<String>,
}

impl From<DatasetAccess> for DatasetView {
    fn from(a: DatasetAccess) -> Self {
        let d = a.dataset;
        DatasetView {
            object: "dataset",
            created_at: secs(d.created_at),
            updated_at: secs(d.updated_at),
            my_permissions: a.my_permissions.to_strings(),
            shared_with: a.shared_with,
            id: d.id,
            organization_id: d.organization_id,
            project_id: d.project_id,
            name: d.name,
            description: d.description,
            visibility: d.visibility,
            created_by: d.created_by,
            latest_version: d.latest_version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub id: String,
    pub object: &'static str,
    pub dataset_id: String,
    pub version: i64,
    /// SHA-256 of the content.
    pub sha256: String,
    pub bytes: i64,
    pub filename: String,
    /// The format as detected (or given): container, schema, mapping.
    pub format: services::datasets::FormatSpec,
    pub parent_version_id: Option<String>,
    /// The recipe that produced this version from its parent.
    #[schema(value_type = Option<Object>)]
    pub recipe: Option<serde_json::Value>,
    /// The deployment whose logged conversations this version holds (an export).
    pub source_deployment_id: Option<String>,
    pub records: i64,
    pub valid_records: i64,
    pub invalid_records: i64,
    /// Counts per error code (details at …/validation).
    pub error_counts: std::collections::BTreeMap<services::datasets::ErrorCode, u64>,
    pub created_by: String,
    pub created_at: i64,
}

impl TryFrom<VersionRow> for VersionView {
    type Error = crate::error::ApiError;

    fn try_from(v: VersionRow) -> Result<Self, Self::Error> {
        Ok(VersionView {
            object: "dataset.version",
            format: stored_json("dataset_versions.format", &v.id, &v.format)?,
            recipe: v.recipe.as_deref().map(|r| stored_json("dataset_versions.recipe", &v.id, r)).transpose()?,
            error_counts: stored_json("dataset_versions.error_counts", &v.id, &v.error_counts)?,
            sha256: v.blob_id,
            bytes: v.size_bytes,
            created_at: secs(v.created_at),
            id: v.id,
            dataset_id: v.dataset_id,
            version: v.version,
            filename: v.filename,
            parent_version_id: v.parent_version_id,
            source_deployment_id: v.source_deployment_id,
            records: v.records,
            valid_records: v.valid_records,
            invalid_records: v.invalid_records,
            created_by: v.created_by,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetCreatedView {
    pub dataset: DatasetView,
    pub version: VersionView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineageView {
    pub object: &'static str,
    pub version: VersionView,
    /// Parent first, then its parent, up to the original upload.
    pub ancestors: Vec<VersionView>,
    /// Versions made from this one.
    pub descendants: Vec<VersionView>,
    /// Training jobs that used this version.
    pub jobs: Vec<crate::views::JobView>,
    /// Fine-tuned models trained on this version.
    pub models: Vec<crate::views::ModelView>,
}

impl TryFrom<Lineage> for LineageView {
    type Error = crate::error::ApiError;

    fn try_from(l: Lineage) -> Result<Self, Self::Error> {
        Ok(LineageView {
            object: "dataset.lineage",
            version: l.version.try_into()?,
            ancestors: l.ancestors.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
            descendants: l.descendants.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
            jobs: l.jobs.into_iter().map(Into::into).collect(),
            models: l.models.into_iter().map(Into::into).collect(),
        })
    }
}

/// A version's statistics: what validation counted and what the valid records hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    /// `dataset.stats`
    pub object: &'static str,
    pub dataset_id: String,
    pub version: i64,
    /// The base model whose tokenizer counted the tokens (null: the server's tokenizer).
    pub tokenizer: Option<String>,
    pub summary: services::datasets::ValidationSummary,
    pub stats: services::datasets::DatasetStats,
}

/// What is wrong with a version and where.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationView {
    /// `dataset.validation`
    pub object: &'static str,
    pub dataset_id: String,
    pub version: i64,
    /// Counts over the whole file, per error code.
    pub summary: services::datasets::ValidationSummary,
    /// The requested range of the errors the report keeps, in file order.
    pub errors: Vec<services::datasets::RecordError>,
    pub has_more: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewList {
    pub object: &'static str,
    /// Each record: index, line, raw text, canonical form, errors, and with a template the
    /// text training will see.
    pub data: Vec<services::datasets::PreviewItem>,
}

impl PreviewList {
    pub fn from_records(records: Vec<services::datasets::PreviewItem>) -> Self {
        PreviewList { object: "list", data: records }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartView {
    pub object: &'static str,
    pub part_number: i64,
    pub bytes: i64,
    pub sha256: String,
    pub created_at: i64,
}

impl From<PartRow> for PartView {
    fn from(p: PartRow) -> Self {
        PartView {
            object: "upload.part",
            part_number: p.part_number,
            bytes: p.size_bytes,
            sha256: p.blob_id,
            created_at: secs(p.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    pub id: String,
    pub object: &'static str,
    pub filename: String,
    pub bytes: i64,
    pub mime_type: Option<String>,
    /// pending, processing, completed, failed or cancelled.
    pub status: String,
    /// Why the last completion attempt failed.
    pub error: Option<String>,
    /// Bytes received in parts so far.
    pub received_bytes: i64,
    /// Bytes joined so far while processing.
    pub processed_bytes: i64,
    pub parts: Vec<PartView>,
    pub dataset_id: Option<String>,
    pub dataset_version_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

impl UploadView {
    pub fn of(u: UploadRow, parts: Vec<PartRow>) -> Self {
        UploadView {
            object: "upload",
            received_bytes: parts.iter().map(|p| p.size_bytes).sum(),
            parts: parts.into_iter().map(Into::into).collect(),
            created_at: secs(u.created_at),
            expires_at: secs(u.expires_at),
            completed_at: u.completed_at.map(secs),
            id: u.id,
            filename: u.filename,
            bytes: u.bytes,
            mime_type: u.mime_type,
            status: u.status,
            error: u.error,
            processed_bytes: u.processed_bytes,
            dataset_id: u.dataset_id,
            dataset_version_id: u.dataset_version_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadList {
    pub object: &'static str,
    pub data: Vec<UploadView>,
    pub has_more: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperationView {
    pub id: String,
    pub object: &'static str,
    pub dataset_id: String,
    /// preprocess.
    pub kind: String,
    /// running, completed or failed.
    pub status: String,
    pub from_version: i64,
    pub recipe: services::datasets::Recipe,
    /// The version made (when completed).
    pub version_id: Option<String>,
    /// The dataset holding the validation split, if the recipe had one.
    pub validation_dataset_id: Option<String>,
    /// Per-step counts and examples (when completed).
    pub report: Option<services::datasets::RecipeReport>,
    pub error: Option<String>,
    /// While running: how far the input has been read.
    pub progress: Option<OperationProgressView>,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperationProgressView {
    /// Bytes of the input read in the current pass.
    pub bytes_read: u64,
    pub total_bytes: u64,
    /// The current pass (1-based) of `passes` (2 for a split by exact count or stratified).
    pub pass: u64,
    pub passes: u64,
    /// The share of all the reading done, 0 to 1.
    pub fraction: f64,
}

impl From<services::datasets::ProgressSnapshot> for OperationProgressView {
    fn from(p: services::datasets::ProgressSnapshot) -> Self {
        let per_pass = if p.total_bytes == 0 { 1.0 } else { (p.bytes_read as f64 / p.total_bytes as f64).min(1.0) };
        let fraction = ((p.pass.saturating_sub(1)) as f64 + per_pass) / p.passes.max(1) as f64;
        OperationProgressView {
            bytes_read: p.bytes_read,
            total_bytes: p.total_bytes,
            pass: p.pass,
            passes: p.passes,
            fraction: fraction.min(1.0),
        }
    }
}

impl OperationView {
    pub fn of(
        o: OperationRow,
        report: Option<serde_json::Value>,
        progress: Option<services::datasets::ProgressSnapshot>,
    ) -> Result<Self, crate::error::ApiError> {
        let report = report
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| crate::error::ApiError::internal(format!("the report of operation {} does not parse as stored: {e}", o.id)))?;
        Ok(OperationView {
            progress: progress.map(Into::into),
            object: "dataset.operation",
            recipe: stored_json("dataset_operations.recipe", &o.id, &o.recipe)?,
            created_at: secs(o.created_at),
            finished_at: o.finished_at.map(secs),
            report,
            id: o.id,
            dataset_id: o.dataset_id,
            kind: o.kind,
            status: o.status,
            from_version: o.from_version,
            version_id: o.version_id,
            validation_dataset_id: o.validation_dataset_id,
            error: o.error,
            created_by: o.created_by,
        })
    }
}
