//! `/v1/uploads` in OpenAI's shapes: create, add parts (multipart `data`), complete with the
//! part ids in file order (and an optional MD5), cancel — resumable uploads underneath
//! (`services::openai::uploads`).

use super::forms;
use super::openai_ft::check_openai_headers;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, Caller, Origin};
use crate::AppState;
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use services::datasets::NewUpload;
use services::openai::{OpenAiUpload, OpenAiUploadPart};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOpenAiUpload {
    #[schema(schema_with = domain::schema::file_name)]
    pub filename: String,
    /// `fine-tune`.
    #[schema(pattern = "^fine-tune$")]
    pub purpose: String,
    /// The whole file's size; reserved from the storage quota now (413 past the per-file limit
    /// or the quota).
    #[schema(minimum = 1)]
    pub bytes: i64,
    pub mime_type: String,
    /// Accepted; an upload expires after a day whatever it says.
    pub expires_after: Option<UploadExpiry>,
}

/// When an upload expires, as OpenAI takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadExpiry {
    /// `created_at`.
    #[schema(pattern = "^created_at$")]
    pub anchor: String,
    #[schema(minimum = 3600, maximum = 2592000)]
    pub seconds: i64,
}

/// Starts an upload of a file sent in parts.
#[utoipa::path(post, path = "/v1/uploads", tag = "openai", request_body = CreateOpenAiUpload,
    responses((status = 200, body = OpenAiUpload), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn create_openai_upload(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiJson(b): ApiJson<CreateOpenAiUpload>,
) -> ApiResult<Json<OpenAiUpload>> {
    check_openai_headers(&app, &p, &headers).await?;
    if let Some(e) = &b.expires_after {
        if e.anchor != "created_at" {
            return Err(domain::ValidationError::new("expires_after.anchor", format!("must be created_at (got '{}')", e.anchor)).into());
        }
        if !(3600..=2_592_000).contains(&e.seconds) {
            let why = format!("must be 3600 to 2592000 (got {})", e.seconds);
            return Err(domain::ValidationError::new("expires_after.seconds", why).into());
        }
    }
    let n = NewUpload { filename: b.filename, bytes: b.bytes, mime_type: Some(b.mime_type) };
    Ok(Json(app.services.create_openai_upload(&p, n, &b.purpose, &ctx).await?))
}

/// The multipart form of a part: its bytes in `data`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadPartForm {
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub data: String,
}

/// Adds a part (parts may be sent at the same time; their order is given when completing).
#[utoipa::path(post, path = "/v1/uploads/{upload_id}/parts", tag = "openai", params(("upload_id" = String, Path)),
    request_body(content = UploadPartForm, content_type = "multipart/form-data"),
    responses((status = 200, body = OpenAiUploadPart), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn add_upload_part(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Json<OpenAiUploadPart>> {
    check_openai_headers(&app, &p, &headers).await?;
    p.require(domain::Permission::UploadDataset)?;
    let mut form = forms::form(form)?;
    let Some(field) = form.next_field().await.map_err(forms::multipart_error)? else {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "the form has no 'data' field").param("data"));
    };
    match field.name().unwrap_or("") {
        "data" => {}
        other => return Err(ApiError::new(ErrorCode::InvalidBody, format!("unknown form field '{other}' (expected data)")).param(other)),
    }
    let (upload, number, writer) = app.services.begin_openai_part(&p, &id).await?;
    let writer = forms::receive_file(field, writer).await?;
    let writer = forms::end_of_form(&mut form, writer).await?;
    Ok(Json(app.services.finish_openai_part(&p, &upload, number, writer).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteOpenAiUpload {
    /// The part ids in file order, each once; together they hold the declared size.
    #[schema(schema_with = part_ids_schema)]
    pub part_ids: Vec<String>,
    /// The whole file's MD5 (hex), checked when given.
    pub md5: Option<String>,
}

/// Part ids, at least one, each once.
fn part_ids_schema() -> utoipa::openapi::schema::ArrayBuilder {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)).min_items(Some(1)).unique_items(true)
}

/// Joins the parts into the file and waits until it has become a dataset: the upload comes back
/// `completed` with its `file`.
#[utoipa::path(post, path = "/v1/uploads/{upload_id}/complete", tag = "openai", params(("upload_id" = String, Path)),
    request_body = CompleteOpenAiUpload,
    responses((status = 200, body = OpenAiUpload), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn complete_openai_upload(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<CompleteOpenAiUpload>,
) -> ApiResult<Json<OpenAiUpload>> {
    check_openai_headers(&app, &p, &headers).await?;
    p.require(domain::Permission::UploadDataset)?;
    Ok(Json(app.services.complete_openai_upload(&p, &id, &b.part_ids, b.md5.as_deref(), &ctx).await?))
}

/// Cancels a pending upload: its parts are deleted and its reserved storage released.
#[utoipa::path(post, path = "/v1/uploads/{upload_id}/cancel", tag = "openai", params(("upload_id" = String, Path)),
    responses((status = 200, body = OpenAiUpload), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn cancel_openai_upload(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OpenAiUpload>> {
    check_openai_headers(&app, &p, &headers).await?;
    p.require(domain::Permission::UploadDataset)?;
    Ok(Json(app.services.cancel_openai_upload(&p, &id, &ctx).await?))
}
