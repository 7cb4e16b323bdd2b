//! Online A/B tests: traffic splits across deployments, feedback on answers, and the readout.

use super::ListParams;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{SplitList, SplitResultsView, SplitView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use services::deployments::traffic::{NewFeedback, NewSplit, SplitChanges};

/// Creates a traffic split: requests to its name go to its deployments by weight, at random or
/// sticky per user or key; the first deployment is the control.
#[utoipa::path(post, path = "/api/v1/traffic-splits", tag = "deployments", request_body = NewSplit,
    responses((status = 201, body = SplitView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn create_split(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<NewSplit>,
) -> ApiResult<(StatusCode, Json<SplitView>)> {
    Ok((StatusCode::CREATED, Json(app.services.create_split(&p, b, &ctx).await?.into())))
}

#[utoipa::path(get, path = "/api/v1/traffic-splits", tag = "deployments", params(ListParams),
    responses((status = 200, body = SplitList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_splits(State(app): State<AppState>, Caller(p): Caller, ApiQuery(q): ApiQuery<ListParams>) -> ApiResult<Json<SplitList>> {
    Ok(Json(SplitList::of(app.services.list_splits(&p, q.after.as_deref(), q.limit).await?)))
}

/// A split's results: per variant, requests, error rate, latency and ratings, each compared
/// with the control, and the conclusion in words.
#[utoipa::path(get, path = "/api/v1/traffic-splits/{split_id}", tag = "deployments", params(("split_id" = String, Path)),
    responses((status = 200, body = SplitResultsView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_split(State(app): State<AppState>, Caller(p): Caller, ApiPath(id): ApiPath<String>) -> ApiResult<Json<SplitResultsView>> {
    Ok(Json(app.services.split_readout(&p, &id).await?.into()))
}

/// Changes a split's variants or stickiness, or pauses it (`active: false`).
#[utoipa::path(patch, path = "/api/v1/traffic-splits/{split_id}", tag = "deployments", params(("split_id" = String, Path)), request_body = SplitChanges,
    responses((status = 200, body = SplitView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn update_split(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<SplitChanges>,
) -> ApiResult<Json<SplitView>> {
    Ok(Json(app.services.update_split(&p, &id, b, &ctx).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/traffic-splits/{split_id}", tag = "deployments", params(("split_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn delete_split(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_split(&p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Feedback on an answer (its response id): thumbs up or down, or a 0–1 score; a later one
/// replaces it. Counted in the readout of the split that chose the answer's deployment.
#[utoipa::path(post, path = "/api/v1/feedback", tag = "deployments", request_body = NewFeedback,
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn give_feedback(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<NewFeedback>,
) -> ApiResult<StatusCode> {
    app.services.give_feedback(&p, b, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
