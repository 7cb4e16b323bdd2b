//! API keys.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{ApiKeyList, ApiKeyView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use services::api_keys::NewApiKey;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    /// Permission names, a subset of the caller's (in the project, for a key restricted to
    /// one); default: all of them.
    #[schema(schema_with = domain::schema::optional_scopes)]
    pub scopes: Option<Vec<String>>,
    /// Restrict the key to one project.
    pub project_id: Option<String>,
    /// Expiry in Unix seconds, in the future (else 422); default: never.
    pub expires_at: Option<i64>,
    /// Inference limits: requests and tokens per minute, tokens per month, and the only
    /// deployments the key may call.
    #[serde(default)]
    pub limits: services::api_keys::KeyLimits,
}

/// Creates an API key. The secret is in this answer only. Needs a logged-in session: an API
/// key cannot create keys.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateApiKeyRequest,
    responses((status = 201, body = ApiKeyView), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_api_key(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<ApiKeyView>)> {
    let n = NewApiKey { name: b.name, scopes: b.scopes, project_id: b.project_id, expires_at: b.expires_at, limits: b.limits };
    let (row, secret) = app.services.create_api_key(&p, n, &ctx).await?;
    Ok((StatusCode::CREATED, Json(ApiKeyView { key: Some(secret), ..ApiKeyView::try_from(row)? })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyListParams {
    /// Another user's keys (needs `manage_users`); default: the caller's.
    pub user_id: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", params(ApiKeyListParams),
    responses((status = 200, body = ApiKeyList), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_api_keys(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ApiKeyListParams>,
) -> ApiResult<Json<ApiKeyList>> {
    Ok(Json(ApiKeyList::try_of(app.services.list_api_keys(&p, q.user_id.as_deref(), q.after.as_deref(), q.limit).await?)?))
}

#[utoipa::path(get, path = "/api/v1/api-keys/{key_id}", tag = "api-keys", params(("key_id" = String, Path)),
    responses((status = 200, body = ApiKeyView), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_api_key(State(app): State<AppState>, Caller(p): Caller, ApiPath(key_id): ApiPath<String>) -> ApiResult<Json<ApiKeyView>> {
    Ok(Json(app.services.get_api_key(&p, &key_id).await?.try_into()?))
}

/// Revokes a key at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{key_id}", tag = "api-keys", params(("key_id" = String, Path)),
    responses((status = 200, body = ApiKeyView), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_api_key(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(key_id): ApiPath<String>,
) -> ApiResult<Json<ApiKeyView>> {
    Ok(Json(app.services.revoke_api_key(&p, &key_id, &ctx).await?.try_into()?))
}
