//! Base models (the catalog and the imported ones), estimates, and fine-tuned models.

use super::{forms, ListParams};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{BaseModelList, BaseModelView, CatalogList, EstimateView, ModelList, ModelSpecView, ModelView};
use crate::AppState;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use services::models::{CatalogQuery, ImportRequest};
use services::training::EstimateRequest;
use services::Page;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CatalogParams {
    /// Matches the repository id or the family.
    pub search: Option<String>,
    pub family: Option<String>,
    pub license: Option<String>,
    #[param(minimum = 0, maximum = 18446744073709551615_u64)]
    pub max_parameters: Option<u64>,
    #[param(minimum = 0, maximum = 4294967295_u64)]
    pub min_context_length: Option<u32>,
}

/// The catalog of popular open models with their real figures (from their config files) and
/// licenses: searchable and filterable. Import a model to train it.
#[utoipa::path(get, path = "/api/v1/base-models/catalog", tag = "models", params(CatalogParams),
    responses((status = 200, body = CatalogList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_catalog(Caller(p): Caller, ApiQuery(q): ApiQuery<CatalogParams>) -> ApiResult<Json<CatalogList>> {
    p.require(domain::Permission::ViewMetrics)?;
    let query = CatalogQuery {
        search: q.search,
        family: q.family,
        license: q.license,
        max_parameters: q.max_parameters,
        min_context_length: q.min_context_length,
    };
    Ok(Json(CatalogList::of(Page { items: services::models::search_catalog(&query), has_more: false })))
}

/// Base models this organization can train: its imports and the instance-wide built-in model.
#[utoipa::path(get, path = "/api/v1/base-models", tag = "models", params(ListParams),
    responses((status = 200, body = BaseModelList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_base_models(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<BaseModelList>> {
    Ok(Json(BaseModelList::of(app.services.list_base_models(&p, q.after.as_deref(), q.limit).await?)))
}

#[utoipa::path(get, path = "/api/v1/base-models/{base_model_id}", tag = "models", params(("base_model_id" = String, Path)),
    responses((status = 200, body = BaseModelView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_base_model(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(base_model_id): ApiPath<String>,
) -> ApiResult<Json<BaseModelView>> {
    Ok(Json(app.services.get_base_model(&p, &base_model_id).await?.into()))
}

/// Deletes an imported base model (`manage_resources`); 409 while it imports or while a
/// training job names it. Files shared by content with another model stay.
#[utoipa::path(delete, path = "/api/v1/base-models/{base_model_id}", tag = "models", params(("base_model_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn delete_base_model(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(base_model_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_base_model(&p, &base_model_id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImportSourceBody {
    /// A GGUF file on the server (dequantized on import); an absolute path to an existing file
    /// (else 422).
    Gguf {
        #[schema(pattern = "^/")]
        path: String,
    },
    /// A Hugging Face model directory on the server, with its config.json (else 422).
    Directory {
        #[schema(pattern = "^/")]
        path: String,
    },
    /// A tar or zip archive of such a directory on the server (to upload one, use
    /// `POST /api/v1/base-models/import/archive`).
    Archive {
        #[schema(pattern = "^/")]
        path: String,
    },
    /// A Hugging Face Hub repository (or one of the configured mirror), at a branch, tag or
    /// commit (default `main`); downloaded resumably and checked against the Hub's checksums.
    Hub {
        /// `owner/name`, each of letters, digits, `-`, `_` and `.`, neither `.` nor `..`.
        #[schema(
            pattern = r"^(?:[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*|\.{3,})/(?:[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*|\.{3,})$"
        )]
        repo_id: String,
        /// 1 to 200 characters, no spaces or control characters.
        #[schema(pattern = r"^[^\x00-\x20\x7f-\x9f]{1,200}$")]
        revision: Option<String>,
    },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBaseModelRequest {
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    pub source: ImportSourceBody,
}

/// Imports a model for the organization from the Hugging Face Hub or a path on the server
/// (`manage_resources`). Answers 202; the model is `importing` until its weights are stored.
#[utoipa::path(post, path = "/api/v1/base-models/import", tag = "models", request_body = ImportBaseModelRequest,
    responses((status = 202, body = BaseModelView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn import_base_model(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<ImportBaseModelRequest>,
) -> ApiResult<(StatusCode, Json<BaseModelView>)> {
    use services::models::ImportSourceRequest as S;
    let source = match b.source {
        ImportSourceBody::Gguf { path } => S::Gguf { path },
        ImportSourceBody::Directory { path } => S::Directory { path },
        ImportSourceBody::Archive { path } => S::Archive { path },
        ImportSourceBody::Hub { repo_id, revision } => S::Hub { repo_id, revision },
    };
    let m = app.services.import_base_model(&p, ImportRequest { name: b.name, source }, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(m.into())))
}

/// The multipart form of `POST /api/v1/base-models/import/archive`: `name` before `file`, so
/// that permissions are checked before any byte is stored (else 422).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ArchiveImportForm {
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    /// A tar (optionally gzip, bzip2 or xz compressed) or zip archive of a Hugging Face model
    /// directory: config.json, *.safetensors (or pytorch_model*.bin), tokenizer files.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub file: String,
}

/// Imports an uploaded archive of a model directory (`manage_resources`). The archive streams
/// into the blob store encrypted; the import runs in the background (202, `importing`) and
/// extracts it safely (no links, no paths outside, bounded expansion); the archive is deleted
/// when the import ends.
#[utoipa::path(post, path = "/api/v1/base-models/import/archive", tag = "models",
    request_body(content = ArchiveImportForm, content_type = "multipart/form-data"),
    responses((status = 202, body = BaseModelView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn import_base_model_archive(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<BaseModelView>)> {
    let mut form = forms::form(form)?;
    let mut name = None;
    while let Some(field) = form.next_field().await.map_err(forms::multipart_error)? {
        match field.name().unwrap_or("") {
            "name" => name = Some(forms::text(field, "name").await?),
            "file" => {
                let name = name.ok_or_else(|| forms::fields_after_file("name"))?;
                let filename = field.file_name().unwrap_or("model.tar").to_string();
                let upload = app.services.begin_model_archive_upload(&p, &name).await?;
                let upload = forms::receive_file(field, upload).await?;
                let upload = forms::end_of_form(&mut form, upload).await?;
                let m = app.services.import_uploaded_archive(&p, &name, upload, &filename, &ctx).await?;
                return Ok((StatusCode::ACCEPTED, Json(m.into())));
            }
            other => {
                let message = format!("unknown form field '{other}' (expected name, file)");
                return Err(ApiError::new(ErrorCode::InvalidBody, message).param(other));
            }
        }
    }
    Err(ApiError::new(ErrorCode::ValidationFailed, "the form has no 'file' field").param("file"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CompareParams {
    /// Comma-separated base model ids (`bm_…`) or catalog repository ids, 2 to 10; each
    /// unknown one answers 404.
    #[param(pattern = r"^[^,]+(?:,[^,]+){1,9}$")]
    pub ids: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComparedModel {
    /// The id or repository id as given.
    pub id: String,
    pub name: String,
    pub license: Option<String>,
    pub spec: ModelSpecView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComparisonView {
    pub object: &'static str,
    pub data: Vec<ComparedModel>,
}

/// Models side by side: imported base models and catalog entries.
#[utoipa::path(get, path = "/api/v1/base-models/compare", tag = "models", params(CompareParams),
    responses((status = 200, body = ComparisonView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn compare_base_models(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<CompareParams>,
) -> ApiResult<Json<ComparisonView>> {
    p.require(domain::Permission::ViewMetrics)?;
    let ids: Vec<&str> = q.ids.split(',').collect();
    if !(2..=10).contains(&ids.len()) || ids.iter().any(|id| id.is_empty()) {
        let message = format!("give 2 to 10 comma-separated ids, none empty (got '{}')", q.ids);
        return Err(domain::ValidationError::new("ids", message).into());
    }
    let mut data = Vec::with_capacity(ids.len());
    for id in ids {
        let compared = if id.starts_with("bm_") {
            let m = app.services.get_base_model(&p, id).await?;
            let spec =
                m.spec.ok_or_else(|| services::Error::Conflict(format!("base model {id} is {} and has no figures yet", m.row.status)))?;
            ComparedModel { id: id.into(), name: m.row.name, license: m.row.license, spec: spec.into() }
        } else {
            let c = domain::catalog::find(id).ok_or(services::Error::NotFound("catalog model"))?;
            ComparedModel { id: id.into(), name: c.repo_id.into(), license: Some(c.license.into()), spec: c.spec.into() }
        };
        data.push(compared);
    }
    Ok(Json(ComparisonView { object: "list", data }))
}

/// Peak memory per device, FLOPs, time and cost of a run, on this installation's device type
/// and on every known GPU type; see docs/estimates.md for the formulas.
#[utoipa::path(post, path = "/api/v1/estimates", tag = "models", request_body = EstimateRequest,
    responses((status = 200, body = EstimateView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn create_estimate(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiJson(b): ApiJson<EstimateRequest>,
) -> ApiResult<Json<EstimateView>> {
    Ok(Json(app.services.estimate(&p, &b).await?.into()))
}

/// Fine-tuned models, newest first.
#[utoipa::path(get, path = "/api/v1/models", tag = "models", params(ListParams),
    responses((status = 200, body = ModelList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_models(State(app): State<AppState>, Caller(p): Caller, ApiQuery(q): ApiQuery<ListParams>) -> ApiResult<Json<ModelList>> {
    Ok(Json(ModelList::of(app.services.list_models(&p, q.after.as_deref(), q.limit).await?)))
}

/// A fine-tuned model with its experiment record: base model, dataset version, job, config, metrics.
#[utoipa::path(get, path = "/api/v1/models/{model_id}", tag = "models", params(("model_id" = String, Path)),
    responses((status = 200, body = ModelView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_model(State(app): State<AppState>, Caller(p): Caller, ApiPath(model_id): ApiPath<String>) -> ApiResult<Json<ModelView>> {
    Ok(Json(app.services.get_model(&p, &model_id).await?.into()))
}

/// Deletes a fine-tuned model: its files and the deployments serving it (409 while a traffic
/// split uses one). The job that made it keeps its record.
#[utoipa::path(delete, path = "/api/v1/models/{model_id}", tag = "models", params(("model_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["delete_model"])))]
pub async fn delete_model(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(model_id): ApiPath<String>,
) -> ApiResult<axum::http::StatusCode> {
    app.services.delete_model(&p, &model_id, &ctx).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelFileView {
    /// Relative path in the model directory (`merged/…` for the merged weights).
    pub path: String,
    pub size_bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelFileList {
    pub object: &'static str,
    pub data: Vec<ModelFileView>,
}

/// The files of a fine-tuned model (adapter or full weights, tokenizer, config).
#[utoipa::path(get, path = "/api/v1/models/{model_id}/files", tag = "models", params(("model_id" = String, Path)),
    responses((status = 200, body = ModelFileList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_model_files(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(model_id): ApiPath<String>,
) -> ApiResult<Json<ModelFileList>> {
    let m = app.services.get_model(&p, &model_id).await?;
    let data = m.files.into_iter().map(|f| ModelFileView { path: f.path, size_bytes: f.size_bytes, sha256: f.blob_id }).collect();
    Ok(Json(ModelFileList { object: "list", data }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DownloadParams {
    /// The file's path as listed by …/files.
    pub path: Option<String>,
}

/// One file of a fine-tuned model, decrypted as it streams (needs `deploy_model`; audited).
#[utoipa::path(get, path = "/api/v1/models/{model_id}/download", tag = "models", params(("model_id" = String, Path), DownloadParams),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn download_model_file(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(model_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DownloadParams>,
) -> ApiResult<axum::response::Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let (file, reader) = app.services.open_model_file(&p, &model_id, q.path.as_deref().unwrap_or_default(), &ctx).await?;
    let name = file.path.rsplit('/').next().unwrap_or("file").replace(['"', '\\'], "_");
    let body = axum::body::Body::from_stream(crate::streaming::read_in_chunks(reader));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CONTENT_LENGTH, file.size_bytes.to_string()),
        ],
        body,
    )
        .into_response())
}
