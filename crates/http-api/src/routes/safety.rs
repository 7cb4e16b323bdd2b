//! Content safety: the organization's content policy (read, replace), what it did to requests
//! (events), and a deployment's request/response logs with their export as a dataset version.

use super::ListParams;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{ContentPolicyView, DatasetCreatedView, LoggedRequestList, SafetyEventList};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use services::deployments::inference_logs::LogExport;
use services::deployments::safety::ContentPolicy;
use utoipa::IntoParams;

/// The organization's content policy: input and output rules (block, mask, flag by word list,
/// pattern or kind of personal data), length limits and the moderation model.
#[utoipa::path(get, path = "/api/v1/safety/policy", tag = "safety",
    responses((status = 200, body = ContentPolicyView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_content_policy(State(app): State<AppState>, Caller(p): Caller) -> ApiResult<Json<ContentPolicyView>> {
    Ok(Json(app.services.content_policy(&p).await?.into()))
}

/// Replaces the organization's content policy (`{}` clears it). It applies to every request
/// through the gateway within a second.
#[utoipa::path(put, path = "/api/v1/safety/policy", tag = "safety", request_body = ContentPolicy,
    responses((status = 200, body = ContentPolicyView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn put_content_policy(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<ContentPolicy>,
) -> ApiResult<Json<ContentPolicyView>> {
    Ok(Json(app.services.put_content_policy(&p, b, &ctx).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SafetyEventParams {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Cursor: the id of the last event of the previous page.
    pub after: Option<String>,
    /// Only this deployment's requests.
    pub deployment_id: Option<String>,
    /// Only this request's events (its response id).
    pub request_id: Option<String>,
    /// Only `block`, `mask` or `flag`.
    #[param(pattern = "^(block|mask|flag)$")]
    pub action: Option<String>,
}

/// What the content policy did, newest first: one event per rule that blocked, masked or
/// flagged a request (never the matched text).
#[utoipa::path(get, path = "/api/v1/safety/events", tag = "safety", params(SafetyEventParams),
    responses((status = 200, body = SafetyEventList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_safety_events(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<SafetyEventParams>,
) -> ApiResult<Json<SafetyEventList>> {
    let filter = database::safety::EventFilter { deployment_id: q.deployment_id, request_id: q.request_id, action: q.action };
    let page = app.services.safety_events(&p, filter, q.after.as_deref(), q.limit).await?;
    Ok(Json(SafetyEventList { object: "list", data: page.items.into_iter().map(Into::into).collect(), has_more: page.has_more }))
}

/// A deployment's logged requests, oldest first (when its `log_requests` is on): the input and
/// the answers the client got, personal data masked. `after` is a request id.
#[utoipa::path(get, path = "/api/v1/deployments/{deployment_id}/logs", tag = "deployments",
    params(("deployment_id" = String, Path), ListParams),
    responses((status = 200, body = LoggedRequestList), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn deployment_logs(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<LoggedRequestList>> {
    Ok(Json(app.services.deployment_logs(&p, &id, q.after.as_deref(), q.limit).await?.into()))
}

/// Exports a deployment's logged conversations with a whole answer (not blocked by the
/// content policy, not broken off) as a dataset version (chat records, or text records for completions): a new dataset (`name`) or a new
/// version of one (`dataset_id`); the version names the deployment as its source.
#[utoipa::path(post, path = "/api/v1/deployments/{deployment_id}/logs/export", tag = "deployments",
    params(("deployment_id" = String, Path)), request_body = LogExport,
    responses((status = 201, body = DatasetCreatedView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn export_deployment_logs(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<LogExport>,
) -> ApiResult<(StatusCode, Json<DatasetCreatedView>)> {
    let (dataset, version) = app.services.export_deployment_logs(&p, &id, b, &ctx).await?;
    Ok((StatusCode::CREATED, Json(DatasetCreatedView { dataset: dataset.into(), version: version.try_into()? })))
}
