//! The OpenAI-compatible fine-tuning API: `/v1/files` and `/v1/fine_tuning/jobs` in OpenAI's
//! shapes (`services::openai` maps them onto datasets and training jobs), for the official SDKs
//! with only `base_url` and `api_key` changed.

use super::forms;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use services::openai::{
    FileContent, FineTuningCheckpoint, FineTuningEstimate, FineTuningEvent, FineTuningJob, NewFineTuningJob, OpenAiFile,
};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// An OpenAI list: `data`, whether more follow, and the first and last ids (for `after`).
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiList<T> {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
}

trait HasId {
    fn id(&self) -> &str;
}

impl HasId for OpenAiFile {
    fn id(&self) -> &str {
        &self.id
    }
}
impl HasId for FineTuningJob {
    fn id(&self) -> &str {
        &self.id
    }
}
impl HasId for FineTuningEvent {
    fn id(&self) -> &str {
        &self.id
    }
}
impl HasId for FineTuningCheckpoint {
    fn id(&self) -> &str {
        &self.id
    }
}

fn list<T: HasId>(page: services::Page<T>) -> Json<OpenAiList<T>> {
    let first_id = page.items.first().map(|x| x.id().to_string());
    let last_id = page.items.last().map(|x| x.id().to_string());
    Json(OpenAiList { object: "list", data: page.items, has_more: page.has_more, first_id, last_id })
}

/// `OpenAI-Organization`, when sent, must name the key's organization (else 401, as OpenAI
/// answers a mismatched header); `OpenAI-Project` must name one of its projects the caller sees.
pub(super) async fn check_openai_headers(app: &AppState, p: &services::Principal, headers: &HeaderMap) -> ApiResult<()> {
    if let Some(org) = headers.get("openai-organization").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
        if org != p.organization_id {
            let message = format!("OpenAI-Organization '{org}' is not the organization of these credentials ({})", p.organization_id);
            return Err(ApiError::new(ErrorCode::InvalidToken, message).param("OpenAI-Organization"));
        }
    }
    if let Some(project) = headers.get("openai-project").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
        if app.services.visible_project(p, project).await.is_err() {
            let message = format!("OpenAI-Project '{project}' is not a project these credentials can see");
            return Err(ApiError::new(ErrorCode::InvalidToken, message).param("OpenAI-Project"));
        }
    }
    Ok(())
}

/// The multipart form of `POST /v1/files`: `purpose` before `file`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct FileUploadForm {
    /// `fine-tune`.
    #[schema(pattern = "^fine-tune$")]
    pub purpose: String,
    /// JSONL of chat conversations (`messages`) or preference pairs, as OpenAI's fine-tuning
    /// takes them; every format a dataset accepts works.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub file: String,
}

/// Uploads a file for fine-tuning: it becomes a dataset (validated, counted, encrypted).
#[utoipa::path(post, path = "/v1/files", tag = "openai", request_body(content = FileUploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = OpenAiFile), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn create_file(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Json<OpenAiFile>> {
    check_openai_headers(&app, &p, &headers).await?;
    let mut form = forms::form(form)?;
    let mut purpose: Option<String> = None;
    while let Some(field) = form.next_field().await.map_err(forms::multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "purpose" => {
                let value = forms::text(field, "purpose").await?;
                services::openai::check_purpose(&value)?;
                purpose = Some(value);
            }
            "file" => {
                if purpose.is_none() {
                    return Err(forms::fields_after_file("purpose"));
                }
                let filename = field.file_name().unwrap_or("upload.jsonl").to_string();
                let file = app.services.file_dataset(&filename);
                let writer = app.services.begin_dataset_upload(&p, &file.1).await?;
                let writer = forms::receive_file(field, writer).await?;
                let writer = forms::end_of_form(&mut form, writer).await?;
                return Ok(Json(app.services.finish_file_upload(&p, file, writer, &filename, &ctx).await?));
            }
            other => {
                return Err(
                    ApiError::new(ErrorCode::InvalidBody, format!("unknown form field '{other}' (expected purpose, file)")).param(other)
                )
            }
        }
    }
    Err(ApiError::new(ErrorCode::ValidationFailed, "the form has no 'file' field").param("file"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FileListParams {
    /// Only files of this purpose.
    #[param(pattern = "^(fine-tune|fine-tune-results)$")]
    pub purpose: Option<String>,
    /// 1–10000 (default 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
    /// A file id: the page after it.
    pub after: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    #[param(pattern = "^(asc|desc)$")]
    pub order: Option<String>,
}

/// Files the caller can see.
#[utoipa::path(get, path = "/v1/files", tag = "openai", params(FileListParams),
    responses((status = 200, body = OpenAiList<OpenAiFile>), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn list_files(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<FileListParams>,
) -> ApiResult<Json<OpenAiList<OpenAiFile>>> {
    check_openai_headers(&app, &p, &headers).await?;
    let ascending = match q.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::new(ErrorCode::ValidationFailed, format!("'{other}' is not an order (asc or desc)")).param("order"))
        }
    };
    if let Some(purpose) = q.purpose.as_deref().filter(|p| ![services::openai::FINE_TUNE, services::openai::RESULTS].contains(p)) {
        return Err(ApiError::new(ErrorCode::ValidationFailed, format!("'{purpose}' is not a purpose (fine-tune or fine-tune-results)"))
            .param("purpose"));
    }
    Ok(list(app.services.list_files(&p, q.purpose.as_deref(), q.after.as_deref(), q.limit, ascending).await?))
}

#[utoipa::path(get, path = "/v1/files/{file_id}", tag = "openai", params(("file_id" = String, Path)),
    responses((status = 200, body = OpenAiFile), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn get_file(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OpenAiFile>> {
    check_openai_headers(&app, &p, &headers).await?;
    Ok(Json(app.services.get_file(&p, &id).await?))
}

/// OpenAI's answer to a deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiDeleted {
    pub id: String,
    /// `file` or `model`.
    pub object: &'static str,
    pub deleted: bool,
}

/// Deletes a file (and the dataset it became, unless a training job used it).
#[utoipa::path(delete, path = "/v1/files/{file_id}", tag = "openai", params(("file_id" = String, Path)),
    responses((status = 200, body = OpenAiDeleted), (status = "default", body = ErrorBody)), security(("bearer" = ["delete_dataset"])))]
pub async fn delete_file(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OpenAiDeleted>> {
    check_openai_headers(&app, &p, &headers).await?;
    app.services.delete_file(&p, &id, &ctx).await?;
    Ok(Json(OpenAiDeleted { id, object: "file", deleted: true }))
}

/// A file's bytes: as uploaded, or a job's results CSV.
#[utoipa::path(get, path = "/v1/files/{file_id}/content", tag = "openai", params(("file_id" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = "default", body = ErrorBody)),
    security(("bearer" = ["view_dataset"])))]
pub async fn file_content(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    check_openai_headers(&app, &p, &headers).await?;
    let (file, content) = app.services.file_content(&p, &id, &ctx).await?;
    let disposition = format!("attachment; filename=\"{}\"", file.filename.replace(['"', '\\'], "_"));
    let body = match content {
        FileContent::Stored(reader) => Body::from_stream(crate::streaming::read_in_chunks(reader)),
        FileContent::Made(bytes) => Body::from(bytes),
    };
    Ok(([(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_DISPOSITION, disposition)], body).into_response())
}

/// Creates a fine-tuning job (`validating_files`; the files are checked line by line next).
#[utoipa::path(post, path = "/v1/fine_tuning/jobs", tag = "openai", request_body = NewFineTuningJob,
    responses((status = 200, body = FineTuningJob), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn create_fine_tuning_job(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiJson(n): ApiJson<NewFineTuningJob>,
) -> ApiResult<Json<FineTuningJob>> {
    check_openai_headers(&app, &p, &headers).await?;
    Ok(Json(app.services.create_fine_tuning_job(&p, n, &ctx).await?))
}

/// `after`, `limit` and `metadata[KEY]=VALUE` filters (the document's description; the
/// handler reads the pairs as they come, since `metadata[KEY]` names are open).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct JobListParams {
    /// A job id: the page after it (older jobs).
    pub after: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `metadata[KEY]=VALUE`: only jobs whose metadata has it (any number of them).
    #[param(value_type = Option<Object>, style = DeepObject, explode)]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Fine-tuning jobs, newest first.
#[utoipa::path(get, path = "/v1/fine_tuning/jobs", tag = "openai", params(JobListParams),
    responses((status = 200, body = OpenAiList<FineTuningJob>), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_fine_tuning_jobs(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> ApiResult<Json<OpenAiList<FineTuningJob>>> {
    check_openai_headers(&app, &p, &headers).await?;
    let (mut after, mut limit, mut metadata) = (None, None, BTreeMap::new());
    for (k, v) in pairs {
        match k.as_str() {
            "after" => after = Some(v),
            "limit" => {
                limit =
                    Some(v.parse::<i64>().map_err(|_| {
                        ApiError::new(ErrorCode::InvalidQuery, format!("limit: '{v}' is not a whole number")).param("limit")
                    })?)
            }
            _ => match k.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')) {
                Some(key) => {
                    metadata.insert(key.to_string(), v);
                }
                None => {
                    let message = format!("unknown query parameter '{k}' (after, limit, metadata[KEY])");
                    return Err(ApiError::new(ErrorCode::InvalidQuery, message).param(&k));
                }
            },
        }
    }
    Ok(list(app.services.list_fine_tuning_jobs(&p, after.as_deref(), limit, &metadata).await?))
}

#[utoipa::path(get, path = "/v1/fine_tuning/jobs/{fine_tuning_job_id}", tag = "openai", params(("fine_tuning_job_id" = String, Path)),
    responses((status = 200, body = FineTuningJob), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_fine_tuning_job(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FineTuningJob>> {
    check_openai_headers(&app, &p, &headers).await?;
    Ok(Json(app.services.get_fine_tuning_job(&p, &id).await?))
}

#[utoipa::path(post, path = "/v1/fine_tuning/jobs/{fine_tuning_job_id}/cancel", tag = "openai", params(("fine_tuning_job_id" = String, Path)),
    responses((status = 200, body = FineTuningJob), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn cancel_fine_tuning_job(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FineTuningJob>> {
    check_openai_headers(&app, &p, &headers).await?;
    Ok(Json(app.services.cancel_fine_tuning_job(&p, &id, &ctx).await?))
}

/// Pauses a queued or running job: training stops, saving a checkpoint, until resumed.
#[utoipa::path(post, path = "/v1/fine_tuning/jobs/{fine_tuning_job_id}/pause", tag = "openai", params(("fine_tuning_job_id" = String, Path)),
    responses((status = 200, body = FineTuningJob), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn pause_fine_tuning_job(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FineTuningJob>> {
    check_openai_headers(&app, &p, &headers).await?;
    Ok(Json(app.services.pause_fine_tuning_job(&p, &id, &ctx).await?))
}

/// Resumes a paused job from its newest checkpoint.
#[utoipa::path(post, path = "/v1/fine_tuning/jobs/{fine_tuning_job_id}/resume", tag = "openai", params(("fine_tuning_job_id" = String, Path)),
    responses((status = 200, body = FineTuningJob), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn resume_fine_tuning_job(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FineTuningJob>> {
    check_openai_headers(&app, &p, &headers).await?;
    Ok(Json(app.services.resume_fine_tuning_job(&p, &id, &ctx).await?))
}

/// What deleting a model answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedModel {
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    pub deleted: bool,
}

/// Deletes a fine-tuned model by its `ft:` name, with the deployments serving it.
#[utoipa::path(delete, path = "/v1/models/{model}", tag = "openai", params(("model" = String, Path)),
    responses((status = 200, body = DeletedModel), (status = "default", body = ErrorBody)), security(("bearer" = ["delete_model"])))]
pub async fn delete_fine_tuned_model(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiPath(model): ApiPath<String>,
) -> ApiResult<Json<DeletedModel>> {
    check_openai_headers(&app, &p, &headers).await?;
    app.services.delete_fine_tuned_model(&p, &model, &ctx).await?;
    Ok(Json(DeletedModel { id: model, object: "model", deleted: true }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// An id: the page after it.
    pub after: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// A job's events, newest first.
#[utoipa::path(get, path = "/v1/fine_tuning/jobs/{fine_tuning_job_id}/events", tag = "openai",
    params(("fine_tuning_job_id" = String, Path), PageParams),
    responses((status = 200, body = OpenAiList<FineTuningEvent>), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn fine_tuning_events(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageParams>,
) -> ApiResult<Json<OpenAiList<FineTuningEvent>>> {
    check_openai_headers(&app, &p, &headers).await?;
    Ok(list(app.services.fine_tuning_events(&p, &id, q.after.as_deref(), q.limit).await?))
}

/// A job's stored checkpoints, newest first, each with the name that calls it.
#[utoipa::path(get, path = "/v1/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints", tag = "openai",
    params(("fine_tuning_job_id" = String, Path), PageParams),
    responses((status = 200, body = OpenAiList<FineTuningCheckpoint>), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn fine_tuning_checkpoints(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageParams>,
) -> ApiResult<Json<OpenAiList<FineTuningCheckpoint>>> {
    check_openai_headers(&app, &p, &headers).await?;
    Ok(list(app.services.fine_tuning_checkpoints(&p, &id, q.after.as_deref(), q.limit).await?))
}

/// What a job request would train (tokens, time, memory, cost) and whether it may go ahead,
/// without creating anything. The request is the one `POST /v1/fine_tuning/jobs` takes.
#[utoipa::path(post, path = "/v1/fine_tuning/estimate", tag = "openai", request_body = NewFineTuningJob,
    responses((status = 200, body = FineTuningEstimate), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn estimate_fine_tuning_job(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    ApiJson(b): ApiJson<NewFineTuningJob>,
) -> ApiResult<Json<FineTuningEstimate>> {
    check_openai_headers(&app, &p, &headers).await?;
    Ok(Json(app.services.estimate_fine_tuning_job(&p, b).await?))
}
