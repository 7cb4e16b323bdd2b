//! Multipart forms: their errors and text fields, the same for every form that uploads a file.

use crate::error::{ApiError, ApiResult, ErrorCode};
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::Multipart;
use axum::http::StatusCode;

/// Longest text field of a form.
const MAX_TEXT_FIELD: usize = 64 * 1024;

pub fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the upload is larger than the server's limit for one request (--max-upload-bytes); datasets can use /api/v1/uploads",
        );
    }
    ApiError::new(ErrorCode::InvalidBody, format!("malformed multipart body: {}", e.body_text()))
}

/// The form itself, or 415 when the request is not multipart.
pub fn form(form: Result<Multipart, MultipartRejection>) -> ApiResult<Multipart> {
    form.map_err(|e| ApiError::new(ErrorCode::UnsupportedMediaType, format!("expected multipart/form-data: {}", e.body_text())))
}

/// `file` came before a text field it needs: the server checks permissions and quota with the
/// text fields before it stores a byte, so they must come first.
pub fn fields_after_file(missing: &str) -> ApiError {
    ApiError::new(ErrorCode::Unprocessable, format!("the form has no '{missing}' field before 'file': send the text fields first"))
        .param(missing)
}

/// `file` must be the form's last field: a text field after it would arrive too late to count
/// (the file is checked and stored with the fields before it), so it is refused, not ignored.
pub async fn nothing_after_file(form: &mut Multipart) -> ApiResult<()> {
    match form.next_field().await.map_err(multipart_error)? {
        None => Ok(()),
        Some(field) => {
            let name = field.name().unwrap_or("").to_string();
            Err(ApiError::new(
                ErrorCode::Unprocessable,
                format!("the form's '{name}' field comes after 'file': send the text fields first"),
            )
            .param(name))
        }
    }
}

pub async fn text(field: Field<'_>, name: &str) -> ApiResult<String> {
    let value = field.text().await.map_err(multipart_error)?;
    if value.len() > MAX_TEXT_FIELD {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "form field too long (64 KiB at most)").param(name));
    }
    Ok(value)
}

/// Receives a `file` field into `upload` (the field is consumed, so the form can be read
/// again); on an error the upload is released (its bytes discarded, its reserved quota given
/// back) before the error is returned. Then [`end_of_form`].
pub async fn receive_file(mut field: Field<'_>, mut upload: services::datasets::BlobUpload) -> ApiResult<services::datasets::BlobUpload> {
    match stream_file(&mut field, &mut upload).await {
        Ok(()) => Ok(upload),
        Err(e) => {
            let _ = upload.release().await;
            Err(e)
        }
    }
}

/// [`nothing_after_file`], releasing `upload` when something does follow.
pub async fn end_of_form(form: &mut Multipart, upload: services::datasets::BlobUpload) -> ApiResult<services::datasets::BlobUpload> {
    match nothing_after_file(form).await {
        Ok(()) => Ok(upload),
        Err(e) => {
            let _ = upload.release().await;
            Err(e)
        }
    }
}

/// Streams a file field into `upload`. On an error the caller releases the upload (its bytes
/// are discarded, its reserved quota given back).
pub async fn stream_file(field: &mut Field<'_>, upload: &mut services::datasets::BlobUpload) -> ApiResult<()> {
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => upload.write(chunk.to_vec()).await?,
            Ok(None) => return Ok(()),
            Err(e) => return Err(multipart_error(e)),
        }
    }
}
