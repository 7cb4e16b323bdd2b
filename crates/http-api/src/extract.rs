//! Extractors: JSON bodies and queries that fail in the API's error shape, the authenticated
//! caller, and the request's origin.

use crate::error::{ApiError, ErrorCode};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use services::{AuthFailure, Principal, RequestContext};

/// A JSON body; malformed JSON, wrong types, unknown fields and oversized bodies answer in the
/// error shape with their own codes.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(json_rejection(r)),
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
