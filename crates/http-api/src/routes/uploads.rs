//! Resumable uploads for large files: create → parts (any order, each with its SHA-256) →
//! complete (202; poll the upload for progress) or cancel.

use super::ListParams;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{PartView, UploadList, UploadView};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use futures_util::StreamExt;
use serde::Deserialize;
use services::datasets::{NewUpload, UploadTarget};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadRequest {
    #[schema(schema_with = domain::schema::file_name)]
    pub filename: String,
    /// The whole file's size in bytes; reserved from the organization's storage quota now
    /// (413 past the server's per-file limit or the quota).
    #[schema(minimum = 1)]
    pub bytes: i64,
    pub mime_type: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads", request_body = CreateUploadRequest,
    responses((status = 201, body = UploadView), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn create_upload(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<CreateUploadRequest>,
) -> ApiResult<(StatusCode, Json<UploadView>)> {
    let row = app.services.create_upload(&p, NewUpload { filename: b.filename, bytes: b.bytes, mime_type: b.mime_type }, &ctx).await?;
    Ok((StatusCode::CREATED, Json(UploadView::of(row, vec![]))))
}

/// The caller's uploads.
#[utoipa::path(get, path = "/api/v1/uploads", tag = "uploads", params(ListParams),
    responses((status = 200, body = UploadList), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn list_uploads(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<UploadList>> {
    p.require(domain::Permission::UploadDataset)?;
    let page = app.services.list_uploads(&p, q.after.as_deref(), q.limit).await?;
    Ok(Json(UploadList {
        object: "list",
        data: page.items.into_iter().map(|u| UploadView::of(u, vec![])).collect(),
        has_more: page.has_more,
    }))
}

/// An upload with the parts received so far (to resume) and its processing progress.
#[utoipa::path(get, path = "/api/v1/uploads/{upload_id}", tag = "uploads", params(("upload_id" = String, Path)),
    responses((status = 200, body = UploadView), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn get_upload(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(upload_id): ApiPath<String>,
) -> ApiResult<Json<UploadView>> {
    p.require(domain::Permission::UploadDataset)?;
    let (row, parts) = app.services.get_upload(&p, &upload_id).await?;
    Ok(Json(UploadView::of(row, parts)))
}

/// Sends part `part_number` (1–10000) as the raw body; `x-content-sha256` (hex) is checked.
/// Sending a part again replaces it.
#[utoipa::path(put, path = "/api/v1/uploads/{upload_id}/parts/{part_number}", tag = "uploads",
    params(("upload_id" = String, Path), ("part_number" = i64, Path, minimum = 1, maximum = 10000), ("x-content-sha256" = Option<String>, Header, nullable = false, description = "SHA-256 of the part in 64 hex digits", pattern = "^[0-9a-fA-F]{64}$")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = PartView), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn put_part(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath((upload_id, part_number)): ApiPath<(String, i64)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<PartView>)> {
    p.require(domain::Permission::UploadDataset)?;
    // A malformed checksum is refused before any byte is read.
    let sha = match headers.get("x-content-sha256") {
        Some(v) => Some(domain::validate::sha256("x-content-sha256", v.to_str().unwrap_or(""))?),
        None => None,
    };
    app.services.require_platform_upload(&p, &upload_id).await?;
    let (upload, mut writer) = app.services.begin_part(&p, &upload_id, part_number).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("the part's body could not be read: {e}")))?;
        writer.write(chunk.to_vec()).await?;
    }
    let part = app.services.finish_part(&p, &upload, part_number, writer, sha.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(part.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteUploadRequest {
    /// The parts in file order, each once; every one must have been received and together
    /// hold the declared size (else 422).
    #[schema(schema_with = part_numbers_schema)]
    pub part_numbers: Vec<i64>,
    /// SHA-256 of the whole file, hex.
    #[schema(schema_with = domain::schema::sha256)]
    pub sha256: String,
    /// What the file becomes: a new dataset (`name`, …) or a new version (`dataset_id`).
    pub dataset: UploadTarget,
}

/// An upload's part numbers, each once.
fn part_numbers_schema() -> utoipa::openapi::schema::ArrayBuilder {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let max = services::datasets::MAX_PARTS;
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(max)))
        .min_items(Some(1))
        .unique_items(true)
}

/// Joins the parts and turns them into a dataset version in the background (202); poll the
/// upload until `status` is `completed` (or `failed`, or back to `pending` with an `error`).
#[utoipa::path(post, path = "/api/v1/uploads/{upload_id}/complete", tag = "uploads", params(("upload_id" = String, Path)), request_body = CompleteUploadRequest,
    responses((status = 202, body = UploadView), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn complete_upload(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(upload_id): ApiPath<String>,
    ApiJson(b): ApiJson<CompleteUploadRequest>,
) -> ApiResult<(StatusCode, Json<UploadView>)> {
    p.require(domain::Permission::UploadDataset)?;
    app.services.require_platform_upload(&p, &upload_id).await?;
    let row = app.services.complete_upload(&p, &upload_id, &b.part_numbers, Some(&b.sha256), b.dataset, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(UploadView::of(row, vec![]))))
}

/// Cancels a pending upload and releases its storage.
#[utoipa::path(post, path = "/api/v1/uploads/{upload_id}/cancel", tag = "uploads", params(("upload_id" = String, Path)),
    responses((status = 200, body = UploadView), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn cancel_upload(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(upload_id): ApiPath<String>,
) -> ApiResult<Json<UploadView>> {
    p.require(domain::Permission::UploadDataset)?;
    Ok(Json(UploadView::of(app.services.cancel_upload(&p, &upload_id, &ctx).await?, vec![])))
}
