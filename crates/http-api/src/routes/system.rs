//! Liveness and readiness.

use crate::error::{ApiError, ErrorCode};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    pub status: &'static str,
    pub version: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = HealthView)))]
pub async fn healthz() -> Json<HealthView> {
    Json(HealthView { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

/// The process can serve: its database answers.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, body = HealthView), (status = 503, body = crate::error::ErrorBody)))]
pub async fn readyz(State(app): State<AppState>) -> Result<Json<HealthView>, ApiError> {
    app.services.db().ping().await.map_err(|e| ApiError {
        internal: Some(e.to_string()),
        ..ApiError::new(ErrorCode::ServiceUnavailable, "the database does not answer")
    })?;
    Ok(Json(HealthView { status: "ready", version: env!("CARGO_PKG_VERSION") }))
}
