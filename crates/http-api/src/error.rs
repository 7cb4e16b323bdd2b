//! The one error table of the API: each failure has a stable snake_case code, an HTTP status
//! and an OpenAI-style type, and answers as `{"error": {"message", "type", "param", "code"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use services::Error as SE;
use utoipa::ToSchema;

/// Every error code the API returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request breaks a rule the OpenAPI document states (400).
    ValidationFailed,
    /// The request is well formed, but a rule that depends on stored state, the clock,
    /// another resource or several fields together refuses it (422).
    Unprocessable,
    InvalidJson,
    InvalidBody,
    InvalidQuery,
    InvalidPath,
    UnsupportedMediaType,
    MissingToken,
    InvalidToken,
    TokenExpired,
    SessionRevoked,
    SessionExpired,
    InvalidCredentials,
    AccountDisabled,
    ApiKeyRevoked,
    ApiKeyExpired,
    RefreshTokenReused,
    AccountLocked,
    LoginThrottled,
    PermissionDenied,
    Forbidden,
    NotFound,
    /// `model` names no deployment the caller may call (the gateway, 404).
    ModelNotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    StorageQuotaExceeded,
    FileTooLarge,
    ChecksumMismatch,
    InvalidFile,
    ModelDoesNotFit,
    DatasetNotUsable,
    BaseModelNotReady,
    /// An evaluation of the model failed a gate's thresholds (422; the message names each score).
    GateFailed,
    /// A quota or budget of the user, project or organization (named with its use and limit).
    QuotaExceeded,
    RateLimited,
    /// An API key's monthly inference tokens are used (429).
    InsufficientQuota,
    InternalError,
    ServiceUnavailable,
    /// A backend answered in a shape the gateway cannot read (502).
    BadGateway,
    /// The organization's content policy refused the input (400; `param` names the field).
    ContentFilter,
}

impl ErrorCode {
    /// (status, type) of each code: the table.
    pub fn status_and_type(self) -> (StatusCode, &'static str) {
        use ErrorCode::*;
        match self {
            ValidationFailed | InvalidJson | InvalidBody | InvalidQuery | InvalidPath | ContentFilter => {
                (StatusCode::BAD_REQUEST, "invalid_request_error")
            }
            UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request_error"),
            MissingToken | InvalidToken | TokenExpired | SessionRevoked | SessionExpired | InvalidCredentials | AccountDisabled
            | ApiKeyRevoked | ApiKeyExpired | RefreshTokenReused => (StatusCode::UNAUTHORIZED, "authentication_error"),
            AccountLocked | LoginThrottled | RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
            InsufficientQuota => (StatusCode::TOO_MANY_REQUESTS, "insufficient_quota"),
            PermissionDenied | Forbidden => (StatusCode::FORBIDDEN, "permission_error"),
            NotFound => (StatusCode::NOT_FOUND, "not_found_error"),
            ModelNotFound => (StatusCode::NOT_FOUND, "invalid_request_error"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error"),
            Conflict => (StatusCode::CONFLICT, "conflict_error"),
            PayloadTooLarge | FileTooLarge | StorageQuotaExceeded => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error"),
            ChecksumMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error"),
            Unprocessable | InvalidFile | ModelDoesNotFit | DatasetNotUsable | BaseModelNotReady | GateFailed | QuotaExceeded => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error")
            }
            InternalError => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
            ServiceUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
            BadGateway => (StatusCode::BAD_GATEWAY, "server_error"),
        }
    }

    pub fn as_str(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: ErrorCode,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// Response extension: the services already audited this failure.
#[derive(Debug, Clone, Copy)]
pub struct AlreadyAudited;

/// Response extension: the services already charged this attempt to the client address
/// (login pays before it verifies), so the middleware must not charge it again.
#[derive(Debug, Clone, Copy)]
pub struct AddressCharged;

/// Response extension: why a request was refused (403), for the audit record.
#[derive(Debug, Clone)]
pub struct RefusalReason(pub String);

/// Response extension: an internal error's detail, logged once by the middleware.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

/// Response extension: the permission a caller lacked (for the audit record).
#[derive(Debug, Clone)]
pub struct DeniedPermission(pub String);

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<String>,
    pub retry_after_s: Option<i64>,
    pub audited: bool,
    /// The services charged the client address for this attempt already.
    pub charged: bool,
    pub internal: Option<String>,
    pub denied: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            param: None,
            retry_after_s: None,
            audited: false,
            charged: false,
            internal: None,
            denied: None,
        }
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError { internal: Some(detail.into()), ..ApiError::new(ErrorCode::InternalError, "internal server error") }
    }
}

impl From<domain::ValidationError> for ApiError {
    fn from(e: domain::ValidationError) -> Self {
        SE::from(e).into()
    }
}

impl From<SE> for ApiError {
    fn from(e: SE) -> Self {
        use services::AuthFailure as AF;
        let message = e.to_string();
        match e {
            SE::Validation(v) => {
                let code = if v.unprocessable { ErrorCode::Unprocessable } else { ErrorCode::ValidationFailed };
                ApiError::new(code, message).param(v.field)
            }
            SE::Unauthenticated(f) => {
                let code = match f {
                    AF::MissingToken => ErrorCode::MissingToken,
                    AF::InvalidToken => ErrorCode::InvalidToken,
                    AF::TokenExpired => ErrorCode::TokenExpired,
                    AF::SessionRevoked => ErrorCode::SessionRevoked,
                    AF::SessionExpired => ErrorCode::SessionExpired,
                    AF::InvalidCredentials => ErrorCode::InvalidCredentials,
                    AF::AccountDisabled => ErrorCode::AccountDisabled,
                    AF::ApiKeyRevoked => ErrorCode::ApiKeyRevoked,
                    AF::ApiKeyExpired => ErrorCode::ApiKeyExpired,
                    AF::RefreshTokenReused => ErrorCode::RefreshTokenReused,
                };
                // Login audits its own failures (a disabled account's too) and charged the
                // address before verifying; a reused refresh token is audited by the rotation.
                let login = matches!(f, AF::InvalidCredentials | AF::AccountDisabled);
                let audited = login || f == AF::RefreshTokenReused;
                ApiError { audited, charged: login, ..ApiError::new(code, message) }
            }
            SE::AccountLocked { retry_after_s } => ApiError {
                retry_after_s: Some(retry_after_s),
                audited: true,
                charged: true,
                ..ApiError::new(ErrorCode::AccountLocked, message)
            },
            SE::LoginThrottled { retry_after_s } => ApiError {
                retry_after_s: Some(retry_after_s),
                audited: true,
                charged: true,
                ..ApiError::new(ErrorCode::LoginThrottled, message)
            },
            SE::PermissionDenied(p) => ApiError { denied: Some(p.to_string()), ..ApiError::new(ErrorCode::PermissionDenied, message) },
            SE::Forbidden(_) => ApiError::new(ErrorCode::Forbidden, message),
            SE::NotFound(_) => ApiError::new(ErrorCode::NotFound, message),
            SE::Conflict(_) => ApiError::new(ErrorCode::Conflict, message),
            SE::InferenceLimited { retry_after_ms, quota, .. } => {
                let code = if quota { ErrorCode::InsufficientQuota } else { ErrorCode::RateLimited };
                ApiError { retry_after_s: Some((retry_after_ms + 999) / 1000), ..ApiError::new(code, message) }
            }
            SE::RateLimited { retry_after_ms, .. } => {
                ApiError { retry_after_s: Some((retry_after_ms + 999) / 1000), ..ApiError::new(ErrorCode::RateLimited, message) }
            }
            SE::QuotaExceeded(_) => ApiError::new(ErrorCode::StorageQuotaExceeded, message),
            SE::ContentFiltered { param, .. } => ApiError::new(ErrorCode::ContentFilter, message).param(param),
            SE::TooLarge(_) => ApiError::new(ErrorCode::FileTooLarge, message),
            SE::ChecksumMismatch(_) => ApiError::new(ErrorCode::ChecksumMismatch, message),
            SE::InvalidFile { code, .. } => ApiError::new(ErrorCode::InvalidFile, message).param(code),
            SE::Refused { reason, .. } => {
                let code = match reason {
                    services::Refusal::ModelDoesNotFit => ErrorCode::ModelDoesNotFit,
                    services::Refusal::DatasetNotUsable => ErrorCode::DatasetNotUsable,
                    services::Refusal::BaseModelNotReady => ErrorCode::BaseModelNotReady,
                    services::Refusal::GateFailed => ErrorCode::GateFailed,
                    services::Refusal::QuotaExceeded => ErrorCode::QuotaExceeded,
                };
                ApiError::new(code, message)
            }
            SE::Unavailable(_) => ApiError::new(ErrorCode::ServiceUnavailable, message),
            SE::Internal(detail) => ApiError::internal(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.code.status_and_type();
        let body =
            ErrorBody { error: ErrorDetail { message: self.message.clone(), kind: kind.to_string(), param: self.param, code: self.code } };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            if let Ok(v) = HeaderValue::from_str(&s.max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp.extensions_mut().insert(self.code);
        if self.audited {
            resp.extensions_mut().insert(AlreadyAudited);
        }
        if self.charged {
            resp.extensions_mut().insert(AddressCharged);
        }
        if status == StatusCode::FORBIDDEN {
            resp.extensions_mut().insert(RefusalReason(self.message.clone()));
        }
        if let Some(d) = self.internal {
            resp.extensions_mut().insert(InternalDetail(d));
        }
        if let Some(p) = self.denied {
            resp.extensions_mut().insert(DeniedPermission(p));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
