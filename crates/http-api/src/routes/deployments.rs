//! Deployments: create (202, started in the background), list, get, change (scale, defaults,
//! idle timeout), start, stop, delete; their events and usage; the organization's usage.

use super::ListParams;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{DeploymentEventList, DeploymentList, DeploymentView, UsageView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use services::deployments::{DeploymentChanges, NewDeployment, UsageQuery};
use utoipa::IntoParams;

/// Deploys a model: a base model or a fine-tuned one (served as an adapter over its base by the
/// local backend, which holds every adapter of a base model in one process), or an external
/// OpenAI-compatible server. 202: a deployment with replicas starts in the background
/// (`starting`, then `ready` or `failed`; see its events).
#[utoipa::path(post, path = "/api/v1/deployments", tag = "deployments", request_body = NewDeployment,
    responses((status = 202, body = DeploymentView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn create_deployment(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<NewDeployment>,
) -> ApiResult<(StatusCode, Json<DeploymentView>)> {
    Ok((StatusCode::ACCEPTED, Json(app.services.create_deployment(&p, b, &ctx).await?.into())))
}

/// Deployments the caller can see, newest first.
#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments", params(ListParams),
    responses((status = 200, body = DeploymentList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_deployments(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<DeploymentList>> {
    Ok(Json(DeploymentList::of(app.services.list_deployments(&p, q.after.as_deref(), q.limit).await?)))
}

#[utoipa::path(get, path = "/api/v1/deployments/{deployment_id}", tag = "deployments", params(("deployment_id" = String, Path)),
    responses((status = 200, body = DeploymentView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_deployment(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<DeploymentView>> {
    Ok(Json(app.services.get_deployment(&p, &id).await?.into()))
}

/// Changes a deployment: `replicas` (scale: 0 stops it, 1 starts it), `idle_timeout_s`,
/// `defaults`.
#[utoipa::path(patch, path = "/api/v1/deployments/{deployment_id}", tag = "deployments", params(("deployment_id" = String, Path)),
    request_body = DeploymentChanges,
    responses((status = 200, body = DeploymentView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn update_deployment(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<DeploymentChanges>,
) -> ApiResult<Json<DeploymentView>> {
    Ok(Json(app.services.update_deployment(&p, &id, b, &ctx).await?.into()))
}

/// Deletes a deployment (its backend stops unless other deployments share it); its usage stays.
#[utoipa::path(delete, path = "/api/v1/deployments/{deployment_id}", tag = "deployments", params(("deployment_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn delete_deployment(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_deployment(&p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a stopped or failed deployment (202: it starts in the background).
#[utoipa::path(post, path = "/api/v1/deployments/{deployment_id}/start", tag = "deployments", params(("deployment_id" = String, Path)),
    responses((status = 202, body = DeploymentView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn start_deployment(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<DeploymentView>)> {
    Ok((StatusCode::ACCEPTED, Json(app.services.start_deployment(&p, &id, &ctx).await?.into())))
}

/// Stops a deployment: requests answer 503 until it is started again.
#[utoipa::path(post, path = "/api/v1/deployments/{deployment_id}/stop", tag = "deployments", params(("deployment_id" = String, Path)),
    responses((status = 200, body = DeploymentView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn stop_deployment(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<DeploymentView>> {
    Ok(Json(app.services.stop_deployment(&p, &id, &ctx).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeploymentEventParams {
    /// Only events after this sequence number.
    pub after: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// What happened to a deployment, oldest first: created, ready, failed, crashed, restarting,
/// scaled_to_zero, cold_start, start, stop, update, and the backend's log lines.
#[utoipa::path(get, path = "/api/v1/deployments/{deployment_id}/events", tag = "deployments",
    params(("deployment_id" = String, Path), DeploymentEventParams),
    responses((status = 200, body = DeploymentEventList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn deployment_events(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeploymentEventParams>,
) -> ApiResult<Json<DeploymentEventList>> {
    DeploymentEventList::try_of(app.services.deployment_events(&p, &id, q.after.unwrap_or(0), q.limit).await?).map(Json)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// `minute` (default) or `day`.
    #[param(pattern = "^(minute|day)$")]
    pub bucket: Option<String>,
    /// Unix milliseconds (inclusive); default: 24 hours (minute) or 30 days (day) before `to`.
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// Unix milliseconds (exclusive); default: now.
    #[param(minimum = 0)]
    pub to: Option<i64>,
    /// Only requests made with this API key (`key_…`).
    pub api_key_id: Option<String>,
}

impl UsageParams {
    fn query(self, deployment_id: Option<String>) -> UsageQuery {
        UsageQuery { deployment_id, api_key_id: self.api_key_id, bucket: self.bucket, from: self.from, to: self.to }
    }
}

/// A deployment's requests and tokens per minute or day: count, errors, prompt and completion
/// tokens, latency and time to first token.
#[utoipa::path(get, path = "/api/v1/deployments/{deployment_id}/usage", tag = "deployments",
    params(("deployment_id" = String, Path), UsageParams),
    responses((status = 200, body = UsageView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn deployment_usage(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<UsageParams>,
) -> ApiResult<Json<UsageView>> {
    Ok(Json(app.services.deployment_usage(&p, &id, q.query(None)).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrganizationUsageParams {
    /// Only this deployment's requests.
    pub deployment_id: Option<String>,
    /// Only requests made with this API key (`key_…`).
    pub api_key_id: Option<String>,
    /// `minute` (default) or `day`.
    #[param(pattern = "^(minute|day)$")]
    pub bucket: Option<String>,
    /// Unix milliseconds (inclusive); default: 24 hours (minute) or 30 days (day) before `to`.
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// Unix milliseconds (exclusive); default: now.
    #[param(minimum = 0)]
    pub to: Option<i64>,
}

/// The organization's usage in a period: inference (every deployment, or one; every key, or
/// one) per minute or day, and training compute — GPU-hours and spend per user, project and
/// GPU type.
#[utoipa::path(get, path = "/api/v1/usage", tag = "deployments", params(OrganizationUsageParams),
    responses((status = 200, body = UsageView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn organization_usage(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<OrganizationUsageParams>,
) -> ApiResult<Json<UsageView>> {
    let q = UsageQuery { deployment_id: q.deployment_id, api_key_id: q.api_key_id, bucket: q.bucket, from: q.from, to: q.to };
    let mut view: UsageView = app.services.organization_usage(&p, q).await?.into();
    view.compute = Some(app.services.compute_usage(&p, view.from, view.to).await?);
    Ok(Json(view))
}
