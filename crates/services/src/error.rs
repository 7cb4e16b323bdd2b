//! The services' error: each variant is a distinct failure the API maps to a stable code.

use domain::{Permission, ValidationError};

/// Why a caller could not be authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
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
}

impl AuthFailure {
    pub const fn code(self) -> &'static str {
        match self {
            AuthFailure::MissingToken => "missing_token",
            AuthFailure::InvalidToken => "invalid_token",
            AuthFailure::TokenExpired => "token_expired",
            AuthFailure::SessionRevoked => "session_revoked",
            AuthFailure::SessionExpired => "session_expired",
            AuthFailure::InvalidCredentials => "invalid_credentials",
            AuthFailure::AccountDisabled => "account_disabled",
            AuthFailure::ApiKeyRevoked => "api_key_revoked",
            AuthFailure::ApiKeyExpired => "api_key_expired",
            AuthFailure::RefreshTokenReused => "refresh_token_reused",
        }
    }

    pub const fn message(self) -> &'static str {
        match self {
            AuthFailure::MissingToken => "no credentials: send 'Authorization: Bearer <access token or API key>'",
            AuthFailure::InvalidToken => "the bearer token is not valid",
            AuthFailure::TokenExpired => "the access token has expired; refresh it at /api/v1/auth/refresh",
            AuthFailure::SessionRevoked => "this session was signed out or revoked; log in again",
            AuthFailure::SessionExpired => "this session has expired; log in again",
            AuthFailure::InvalidCredentials => "wrong email or password",
            AuthFailure::AccountDisabled => "this account is disabled",
            AuthFailure::ApiKeyRevoked => "this API key was revoked",
            AuthFailure::ApiKeyExpired => "this API key has expired",
            AuthFailure::RefreshTokenReused => "this refresh token was already used; the whole session is revoked for safety",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Validation(#[from] ValidationError),
    #[error("{}", .0.message())]
    Unauthenticated(AuthFailure),
    #[error("too many failed logins for this account; try again in {retry_after_s} s")]
    AccountLocked { retry_after_s: i64 },
    #[error("too many failed logins from this address; try again in {retry_after_s} s")]
    LoginThrottled { retry_after_s: i64 },
    #[error("missing permission '{0}'")]
    PermissionDenied(Permission),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// An inference limit of a key or an organization (`quota`: the month's tokens).
    #[error("{message}")]
    InferenceLimited { message: String, retry_after_ms: i64, quota: bool },
    #[error("rate limit exceeded; retry in {retry_after_ms} ms")]
    RateLimited { retry_after_ms: i64, limit_per_second: f64 },
    #[error("{0}")]
    QuotaExceeded(String),
    /// The organization's content policy refused the input (`param` names the field).
    #[error("{message}")]
    ContentFiltered { message: String, param: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    ChecksumMismatch(String),
    /// The file is not a dataset at all (compressed, wrong encoding, not a known format…).
    #[error("{message}")]
    InvalidFile { code: String, message: String },
    /// The request is well-formed but cannot be carried out as asked (it would not fit, the
    /// data cannot train this objective, the model is not imported yet); the message says why
    /// and what to change.
    #[error("{message}")]
    Refused { reason: Refusal, message: String },
    /// A part of the platform this request needs is not set up (the training runtime).
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a training request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ModelDoesNotFit,
    DatasetNotUsable,
    BaseModelNotReady,
    /// An evaluation of the model does not pass a deployment's or split's gate.
    GateFailed,
    /// A quota or budget of the user, project or organization.
    QuotaExceeded,
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<database::Error> for Error {
    fn from(e: database::Error) -> Self {
        match e {
            database::Error::NotFound => Error::NotFound("object"),
            database::Error::Conflict(what) => Error::Conflict(what),
            other => Error::Internal(other.to_string()),
        }
    }
}

/// Maps a `NotFound` to a not-found of the named kind: a repository's, or one from a nested
/// check (the project or dataset a resource lives in), so a caller who may not see where the
/// resource lives hears only that the resource is not found.
pub(crate) trait OrNotFound<T> {
    fn or_not_found(self, kind: &'static str) -> Result<T>;
}

impl<T> OrNotFound<T> for Result<T> {
    fn or_not_found(self, kind: &'static str) -> Result<T> {
        self.map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(kind),
            other => other,
        })
    }
}

impl<T> OrNotFound<T> for database::Result<T> {
    fn or_not_found(self, kind: &'static str) -> Result<T> {
        self.map_err(|e| match e {
            database::Error::NotFound => Error::NotFound(kind),
            other => other.into(),
        })
    }
}
