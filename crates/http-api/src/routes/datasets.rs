//! Datasets: one-request multipart upload, listing, versions, reports, previews, downloads,
//! lineage.

use super::forms;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{DatasetCreatedView, DatasetList, DatasetView, LineageView, OperationView, PreviewList, VersionList, VersionView};
use crate::views_datasets::{StatsView, ValidationView};
use crate::AppState;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use services::datasets::{DatasetChanges, NewDataset, VersionDiff};
use utoipa::{IntoParams, ToSchema};

/// The multipart form of `POST /api/v1/datasets`. Text fields must come before `file`, so that
/// permissions and quota are checked before any byte is stored (else 422); an empty text field
/// counts as absent.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DatasetUploadForm {
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    #[schema(schema_with = domain::schema::optional_description)]
    pub description: Option<String>,
    pub project_id: Option<String>,
    /// `project` needs a `project_id` (else 422).
    #[schema(schema_with = domain::schema::visibility)]
    pub visibility: Option<String>,
    /// Comma-separated user ids (visibility `users`).
    pub shared_with: Option<String>,
    /// A format specification (as JSON text) overriding detection (422 when it contradicts
    /// itself).
    #[schema(value_type = Option<services::datasets::FormatSpec>)]
    pub format: Option<String>,
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub file: String,
}

/// Uploads a file as a new dataset (version 1): validated, counted and encrypted on the way in.
#[utoipa::path(post, path = "/api/v1/datasets", tag = "datasets", request_body(content = DatasetUploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = DatasetCreatedView), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn create_dataset(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<DatasetCreatedView>)> {
    let mut form = forms::form(form)?;
    let mut n = NewDataset::default();
    while let Some(field) = form.next_field().await.map_err(forms::multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "name" => n.name = forms::text(field, "name").await?,
            "description" => n.description = Some(forms::text(field, "description").await?).filter(|s| !s.is_empty()),
            "project_id" => n.project_id = Some(forms::text(field, "project_id").await?).filter(|s| !s.is_empty()),
            "visibility" => n.visibility = Some(forms::text(field, "visibility").await?).filter(|s| !s.is_empty()),
            "shared_with" => {
                n.shared_with =
                    forms::text(field, "shared_with").await?.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
            }
            "format" => {
                let raw = forms::text(field, "format").await?;
                if !raw.is_empty() {
                    // JSON text: `null` gives none, as absence does.
                    n.format = serde_json::from_str::<Option<services::datasets::FormatSpec>>(&raw).map_err(|e| {
                        ApiError::new(ErrorCode::ValidationFailed, format!("not a format specification: {e}")).param("format")
                    })?;
                }
            }
            "file" => {
                if n.name.is_empty() {
                    return Err(forms::fields_after_file("name"));
                }
                let filename = field.file_name().unwrap_or("upload").to_string();
                let writer = app.services.begin_dataset_upload(&p, &n).await?;
                let writer = forms::receive_file(field, writer).await?;
                let writer = forms::end_of_form(&mut form, writer).await?;
                let (dataset, version) = app.services.finish_dataset_upload(&p, n, writer, &filename, &ctx).await?;
                return Ok((StatusCode::CREATED, Json(DatasetCreatedView { dataset: dataset.into(), version: version.try_into()? })));
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidBody,
                    format!("unknown form field '{other}' (expected name, description, project_id, visibility, shared_with, format, file)"),
                )
                .param(other))
            }
        }
    }
    Err(ApiError::new(ErrorCode::ValidationFailed, "the form has no 'file' field").param("file"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DatasetListParams {
    /// Only datasets of this project.
    pub project_id: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub after: Option<String>,
}

/// Datasets the caller can see.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets", params(DatasetListParams),
    responses((status = 200, body = DatasetList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn list_datasets(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<DatasetListParams>,
) -> ApiResult<Json<DatasetList>> {
    p.require(domain::Permission::ViewDataset)?;
    Ok(Json(DatasetList::of(app.services.list_datasets(&p, q.project_id.as_deref(), q.after.as_deref(), q.limit).await?)))
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}", tag = "datasets", params(("dataset_id" = String, Path)),
    responses((status = 200, body = DatasetView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn get_dataset(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(dataset_id): ApiPath<String>,
) -> ApiResult<Json<DatasetView>> {
    Ok(Json(app.services.visible_dataset(&p, &dataset_id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDatasetRequest {
    #[schema(schema_with = domain::schema::optional_name)]
    pub name: Option<String>,
    #[schema(schema_with = domain::schema::optional_description)]
    pub description: Option<String>,
    #[schema(schema_with = domain::schema::optional_visibility)]
    pub visibility: Option<String>,
    pub shared_with: Option<Vec<String>>,
}

/// Renames a dataset or changes who sees it (its owner, or `manage_resources`).
#[utoipa::path(patch, path = "/api/v1/datasets/{dataset_id}", tag = "datasets", params(("dataset_id" = String, Path)), request_body = UpdateDatasetRequest,
    responses((status = 200, body = DatasetView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn update_dataset(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(dataset_id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateDatasetRequest>,
) -> ApiResult<Json<DatasetView>> {
    let c = DatasetChanges { name: b.name, description: b.description, visibility: b.visibility, shared_with: b.shared_with };
    Ok(Json(app.services.update_dataset(&p, &dataset_id, c, &ctx).await?.into()))
}

/// Deletes a dataset with all its versions and releases their storage.
#[utoipa::path(delete, path = "/api/v1/datasets/{dataset_id}", tag = "datasets", params(("dataset_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["delete_dataset"])))]
pub async fn delete_dataset(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(dataset_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_dataset(&p, &dataset_id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionListParams {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Cursor: the last version number of the previous page.
    pub after: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/versions", tag = "datasets", params(("dataset_id" = String, Path), VersionListParams),
    responses((status = 200, body = VersionList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn list_versions(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(dataset_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionListParams>,
) -> ApiResult<Json<VersionList>> {
    Ok(Json(VersionList::try_of(app.services.list_versions(&p, &dataset_id, q.after, q.limit).await?)?))
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/versions/{version}", tag = "datasets", params(("dataset_id" = String, Path), ("version" = i64, Path, minimum = 1)),
    responses((status = 200, body = VersionView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn get_version(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath((dataset_id, version)): ApiPath<(String, i64)>,
) -> ApiResult<Json<VersionView>> {
    Ok(Json(app.services.get_version(&p, &dataset_id, version).await?.try_into()?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    /// Count tokens with this base model's own tokenizer (`bm_…`) instead of the server's.
    pub tokenizer: Option<String>,
    /// Report how many records exceed this many tokens (default: the server's limit).
    #[param(minimum = 1, maximum = 1048576)]
    pub max_tokens: Option<usize>,
}

/// Statistics of a version: rows, turns, characters and tokens, duplicates, languages, fields.
/// With `tokenizer` or `max_tokens` the token figures are counted anew (one pass over the
/// version, kept for later requests); `tokenizer` in the answer names the base model whose
/// tokenizer counted (null: the server's).
#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/versions/{version}/stats", tag = "datasets", params(("dataset_id" = String, Path), ("version" = i64, Path, minimum = 1), StatsParams),
    responses((status = 200, body = StatsView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn get_stats(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath((dataset_id, version)): ApiPath<(String, i64)>,
    ApiQuery(q): ApiQuery<StatsParams>,
) -> ApiResult<Json<StatsView>> {
    let options = services::datasets::StatsOptions { tokenizer: q.tokenizer, max_tokens: q.max_tokens };
    let s = app.services.version_stats(&p, &dataset_id, version, options).await?;
    Ok(Json(StatsView {
        object: "dataset.stats",
        dataset_id: s.version.dataset_id,
        version: s.version.version,
        tokenizer: s.tokenizer,
        summary: s.summary,
        stats: s.stats,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    /// Index of the first error (0-based).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub offset: Option<i64>,
    /// Errors to return, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PreviewParams {
    /// Index of the first record (0-based).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub offset: Option<i64>,
    /// Records to return, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Render chat records through a base model's own chat template (its id, `bm_…`) or a
    /// built-in one (`chatml` for SmolLM2, `llama3`, `qwen2`, `mistral`, `mistral-v0.1`,
    /// `gemma`, `phi3`) and mark the trained spans.
    #[param(schema_with = services::training::optional_template_or_model_schema)]
    pub template: Option<String>,
}

/// What is wrong with a version and where: per-error-code counts and the errors themselves.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/versions/{version}/validation", tag = "datasets",
    params(("dataset_id" = String, Path), ("version" = i64, Path, minimum = 1), RangeParams),
    responses((status = 200, body = ValidationView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn get_validation(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath((dataset_id, version)): ApiPath<(String, i64)>,
    ApiQuery(q): ApiQuery<RangeParams>,
) -> ApiResult<Json<ValidationView>> {
    let (v, mut report) = app.services.version_report(&p, &dataset_id, version).await?;
    let offset = domain::validate::bounded("offset", q.offset, 0, 0, i64::MAX)? as usize;
    let limit = domain::validate::bounded("limit", q.limit, 100, 1, 1000)? as usize;
    let unreadable = |part: &str, e: serde_json::Error| {
        ApiError::internal(format!("the stored validation report of {} version {} has an unreadable {part}: {e}", v.dataset_id, v.version))
    };
    let summary: services::datasets::ValidationSummary =
        serde_json::from_value(report["summary"].take()).map_err(|e| unreadable("summary", e))?;
    let all: Vec<services::datasets::RecordError> =
        serde_json::from_value(report["errors"].take()).map_err(|e| unreadable("error list", e))?;
    let has_more = all.len() > offset.saturating_add(limit);
    let errors = all.into_iter().skip(offset).take(limit).collect();
    Ok(Json(ValidationView { object: "dataset.validation", dataset_id: v.dataset_id, version: v.version, summary, errors, has_more }))
}

/// Records of a version as stored and as training will read them.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/versions/{version}/preview", tag = "datasets",
    params(("dataset_id" = String, Path), ("version" = i64, Path, minimum = 1), PreviewParams),
    responses((status = 200, body = PreviewList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn preview_version(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath((dataset_id, version)): ApiPath<(String, i64)>,
    ApiQuery(q): ApiQuery<PreviewParams>,
) -> ApiResult<Json<PreviewList>> {
    let offset = domain::validate::bounded("offset", q.offset, 0, 0, i64::MAX)? as usize;
    let limit = domain::validate::bounded("limit", q.limit, 20, 1, 100)? as usize;
    let records = app.services.preview_version(&p, &dataset_id, version, offset, limit, q.template.as_deref()).await?;
    Ok(Json(PreviewList::from_records(records)))
}

/// Where a version came from and what was made from it.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/versions/{version}/lineage", tag = "datasets",
    params(("dataset_id" = String, Path), ("version" = i64, Path, minimum = 1)),
    responses((status = 200, body = LineageView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn get_lineage(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath((dataset_id, version)): ApiPath<(String, i64)>,
) -> ApiResult<Json<LineageView>> {
    Ok(Json(app.services.version_lineage(&p, &dataset_id, version).await?.try_into()?))
}

/// The version's file, decrypted as it streams.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/versions/{version}/download", tag = "datasets",
    params(("dataset_id" = String, Path), ("version" = i64, Path, minimum = 1)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn download_version(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath((dataset_id, version)): ApiPath<(String, i64)>,
) -> ApiResult<Response> {
    let (v, reader) = app.services.open_version(&p, &dataset_id, version, &ctx).await?;
    let body = Body::from_stream(crate::streaming::read_in_chunks(reader));
    let disposition = format!("attachment; filename=\"{}\"", v.filename.replace(['"', '\\'], "_"));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_LENGTH, v.size_bytes.to_string()),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    /// The version to compare against (default: the one before).
    pub against: Option<i64>,
}

/// Records added and removed between two versions (as multisets of canonical records), with
/// examples.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/versions/{version}/diff", tag = "datasets",
    params(("dataset_id" = String, Path), ("version" = i64, Path, minimum = 1), DiffParams),
    responses((status = 200, body = VersionDiff), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn diff_versions(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath((dataset_id, version)): ApiPath<(String, i64)>,
    ApiQuery(q): ApiQuery<DiffParams>,
) -> ApiResult<Json<VersionDiff>> {
    let against = q.against.unwrap_or(version.saturating_sub(1));
    Ok(Json(app.services.diff_versions(&p, &dataset_id, against, version).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreprocessRequest {
    /// `{"version": 1, "steps": [...]}`: dedup_exact, dedup_near, filter, mask_pii, split,
    /// convert, augment. Rules across fields or steps (a split before another step, a minimum
    /// above its maximum, a regular expression that does not compile, a filter with no
    /// criterion, …) answer 422.
    #[schema(value_type = services::datasets::Recipe)]
    pub recipe: serde_json::Value,
}

/// Starts applying a cleaning recipe to a version (202): the result is a new version (parent:
/// this one), and with a split step also a new validation dataset. Poll the operation.
#[utoipa::path(post, path = "/api/v1/datasets/{dataset_id}/versions/{version}/preprocess", tag = "datasets",
    params(("dataset_id" = String, Path), ("version" = i64, Path, minimum = 1)), request_body = PreprocessRequest,
    responses((status = 202, body = OperationView), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn preprocess_version(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath((dataset_id, version)): ApiPath<(String, i64)>,
    ApiJson(b): ApiJson<PreprocessRequest>,
) -> ApiResult<(StatusCode, Json<OperationView>)> {
    let op = app.services.start_preprocess(&p, &dataset_id, version, b.recipe, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(OperationView::of(op, None, None)?)))
}

/// A long-running operation on a dataset: `running`, then `completed` (with the new version and
/// the step-by-step report) or `failed` (with the error).
#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/operations/{operation_id}", tag = "datasets",
    params(("dataset_id" = String, Path), ("operation_id" = String, Path)),
    responses((status = 200, body = OperationView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn get_operation(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath((dataset_id, operation_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<OperationView>> {
    let (op, report, progress) = app.services.get_operation(&p, &dataset_id, &operation_id).await?;
    Ok(Json(OperationView::of(op, report, progress)?))
}
