//! Extractors: JSON bodies and queries that fail in the API's error shape, the authenticated
//! caller, and the request's origin.

use crate::error::{ApiError, ErrorCode};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use services::{AuthFailure, Principal, RequestContext};

/// A JSON body; malformed JSON, wrong types, unknown fields and oversized bodies answer in the
/// error shape with their own codes. A number with no fraction (`45.0`) is the integer it
/// equals, as JSON Schema counts it: clients whose numbers are all floats can send counts.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(mut value) = axum::Json::<Value>::from_request(req, state).await.map_err(json_rejection)?;
        // Every request body is an object (serde would also read a struct from an array).
        if !value.is_object() {
            return Err(ApiError::new(ErrorCode::InvalidBody, "invalid request body: expected a JSON object"));
        }
        integral_floats_as_integers(&mut value);
        serde_path_to_error::deserialize(value).map(ApiJson).map_err(|e| {
            let at = e.path().to_string();
            let message = if at == "." { e.inner().to_string() } else { format!("{at}: {}", e.inner()) };
            let error = ApiError::new(ErrorCode::InvalidBody, format!("invalid request body: {message}"));
            if at == "." {
                error
            } else {
                error.param(at)
            }
        })
    }
}

/// Rewrites every float with no fractional part that an `i64` or `u64` holds exactly as that
/// integer (`45.0` → `45`); other numbers stay as they are.
pub(crate) fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                // Below 2^53 every integer is exact in an f64, so the conversion loses nothing.
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// Path parameters, failing in the error shape (`invalid_path`, 400) with the parameter named.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::new(ErrorCode::InvalidPath, format!("invalid path: {}", e.body_text())))
            }
            Err(e) => Err(ApiError::internal(e.body_text())),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => ApiError::new(ErrorCode::InvalidBody, format!("invalid request body: {}", e.body_text())),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(ErrorCode::InvalidJson, format!("malformed JSON: {}", e.body_text())),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "expected a body with 'Content-Type: application/json'")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is larger than the server's limit")
        }
        other => ApiError::new(ErrorCode::InvalidBody, other.body_text()),
    }
}

/// Query parameters, failing in the error shape.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::new(ErrorCode::InvalidQuery, format!("invalid query string: {}", e.body_text())))
            }
            Err(e) => Err(ApiError::new(ErrorCode::InvalidQuery, e.body_text())),
        }
    }
}

/// The authenticated caller, set by the authentication middleware.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| services::Error::Unauthenticated(AuthFailure::MissingToken).into())
    }
}

/// Where the request came from (address and user agent), for audit and throttling.
#[derive(Debug, Clone)]
pub struct Origin(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Origin(parts.extensions.get::<RequestContext>().cloned().unwrap_or_default()))
    }
}
