//! Quotas and budgets per organization, project and user, with this month's usage.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Origin};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use services::training::{QuotaLimits, QuotaScope, QuotaView};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaList {
    pub object: &'static str,
    pub data: Vec<QuotaView>,
}

/// The organization's quotas and budgets, each with this month's GPU-hours, spend, running
/// jobs and GPUs in use, and what its waiting and running jobs are still expected to use.
#[utoipa::path(get, path = "/api/v1/quotas", tag = "jobs",
    responses((status = 200, body = QuotaList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_quotas(State(app): State<AppState>, Caller(p): Caller) -> ApiResult<Json<QuotaList>> {
    Ok(Json(QuotaList { object: "list", data: app.services.list_quotas(&p).await? }))
}

/// Sets the quota of the organization (`organization/<org id>`), a project or a user. A
/// submission that would exceed GPUs at once, or this month's GPU-hours or budget counting
/// what waiting and running jobs still need, is refused (422 `quota_exceeded`, naming the
/// quota, the use and the limit); jobs beyond the jobs or GPUs at once wait; once the month's
/// GPU-hours or budget is used up, running jobs pause (checkpoint, then wait).
#[utoipa::path(put, path = "/api/v1/quotas/{scope}/{subject_id}", tag = "jobs",
    params(("scope" = inline(QuotaScope), Path), ("subject_id" = String, Path)), request_body = QuotaLimits,
    responses((status = 200, body = QuotaView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn set_quota(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath((scope, subject_id)): ApiPath<(QuotaScope, String)>,
    ApiJson(b): ApiJson<QuotaLimits>,
) -> ApiResult<Json<QuotaView>> {
    Ok(Json(app.services.set_quota(&p, scope, &subject_id, b, &ctx).await?))
}

#[utoipa::path(delete, path = "/api/v1/quotas/{scope}/{subject_id}", tag = "jobs",
    params(("scope" = inline(QuotaScope), Path), ("subject_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn delete_quota(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath((scope, subject_id)): ApiPath<(QuotaScope, String)>,
) -> ApiResult<StatusCode> {
    app.services.delete_quota(&p, scope, &subject_id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
