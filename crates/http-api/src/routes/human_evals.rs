//! Human evaluations: tasks (create, list, read, close, reopen, delete), rating (a rater's next
//! item, one item, a rating), results, and the export of pairwise preferences as a dataset.

use super::ListParams;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{DatasetCreatedView, HumanEvalList, HumanEvalView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use services::evaluations::{HumanEvalResults, NewHumanEval, PreferenceExport, RaterView, RatingInput};

/// Creates a human evaluation (open at once): raters — named users, or anyone holding one of
/// the named roles where it lives — score the answers of 1 to 8 succeeded evaluations on one
/// test set on a rubric (default: relevance, fluency, factual_accuracy, 0–5), or choose the
/// better of two answers (pairwise). Each rater sees the items in an order of their own, the
/// answers blind under the labels A, B, … in an order of their own, with the reference.
#[utoipa::path(post, path = "/api/v1/human-evals", tag = "evaluations", request_body = NewHumanEval,
    responses((status = 201, body = HumanEvalView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn create_human_eval(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<NewHumanEval>,
) -> ApiResult<(StatusCode, Json<HumanEvalView>)> {
    Ok((StatusCode::CREATED, Json(app.services.create_human_eval(&p, b, &ctx).await?.into())))
}

#[utoipa::path(get, path = "/api/v1/human-evals", tag = "evaluations", params(ListParams),
    responses((status = 200, body = HumanEvalList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_human_evals(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<HumanEvalList>> {
    Ok(Json(HumanEvalList::of(app.services.list_human_evals(&p, q.after.as_deref(), q.limit).await?)))
}

#[utoipa::path(get, path = "/api/v1/human-evals/{human_eval_id}", tag = "evaluations", params(("human_eval_id" = String, Path)),
    responses((status = 200, body = HumanEvalView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_human_eval(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<HumanEvalView>> {
    Ok(Json(app.services.get_human_eval(&p, &id).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/human-evals/{human_eval_id}", tag = "evaluations", params(("human_eval_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn delete_human_eval(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_human_eval(&p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Closes a human evaluation: it takes no more ratings, and every viewer may read its results.
#[utoipa::path(post, path = "/api/v1/human-evals/{human_eval_id}/close", tag = "evaluations", params(("human_eval_id" = String, Path)),
    responses((status = 200, body = HumanEvalView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn close_human_eval(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<HumanEvalView>> {
    Ok(Json(app.services.set_human_eval_open(&p, &id, false, &ctx).await?.into()))
}

/// Reopens a closed human evaluation for more ratings.
#[utoipa::path(post, path = "/api/v1/human-evals/{human_eval_id}/reopen", tag = "evaluations", params(("human_eval_id" = String, Path)),
    responses((status = 200, body = HumanEvalView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn reopen_human_eval(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<HumanEvalView>> {
    Ok(Json(app.services.set_human_eval_open(&p, &id, true, &ctx).await?.into()))
}

/// The caller's next item to rate (the first in their own order that they have neither rated
/// nor skipped; `item` is null when none is left) and their progress. Raters only (403).
#[utoipa::path(get, path = "/api/v1/human-evals/{human_eval_id}/next", tag = "evaluations", params(("human_eval_id" = String, Path)),
    responses((status = 200, body = RaterView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn next_human_eval_item(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RaterView>> {
    Ok(Json(app.services.next_human_eval_item(&p, &id).await?))
}

/// One item as the caller sees it, with their rating of it so far (to revisit it).
#[utoipa::path(get, path = "/api/v1/human-evals/{human_eval_id}/items/{item}", tag = "evaluations",
    params(("human_eval_id" = String, Path), ("item" = i64, Path)),
    responses((status = 200, body = RaterView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn human_eval_item(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath((id, item)): ApiPath<(String, i64)>,
) -> ApiResult<Json<RaterView>> {
    Ok(Json(app.services.human_eval_item(&p, &id, item).await?))
}

/// Rates, skips or flags an item, in the labels the caller was shown (rating again replaces the
/// earlier rating). Rubric: `answers.{label}.scores` for every criterion of every answer;
/// pairwise: `preference` A, B or tie. Error tags per answer; a `flag` with a reason; a
/// comment. The task must be open (409 otherwise).
#[utoipa::path(post, path = "/api/v1/human-evals/{human_eval_id}/ratings", tag = "evaluations", params(("human_eval_id" = String, Path)),
    request_body = RatingInput,
    responses((status = 200, body = RaterView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn rate_human_eval_item(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<RatingInput>,
) -> ApiResult<Json<RaterView>> {
    Ok(Json(app.services.rate_human_eval_item(&p, &id, b, &ctx).await?))
}

/// The results: raters' progress; per criterion and model the score histogram, the mean with
/// its 95% bootstrap interval and the raters' agreement (Krippendorff's alpha; weighted Cohen's
/// kappa for two raters) — or, pairwise, votes, each model's preferred share with its interval,
/// first-shown picks and agreement; error tags per model; flags and comments. While the task is
/// open only those who may deploy models see them (403 for the others).
#[utoipa::path(get, path = "/api/v1/human-evals/{human_eval_id}/results", tag = "evaluations", params(("human_eval_id" = String, Path)),
    responses((status = 200, body = HumanEvalResults), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn human_eval_results(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<HumanEvalResults>> {
    Ok(Json(app.services.human_eval_results(&p, &id).await?))
}

/// Exports a pairwise task's preferences as a DPO dataset (prompt, chosen, rejected): per item
/// the answer most raters preferred is chosen; ties and split votes are left out. A new dataset
/// (`name`) or a new version (`dataset_id`); the test set's version is its parent. Needs
/// `upload_dataset` where it goes too.
#[utoipa::path(post, path = "/api/v1/human-evals/{human_eval_id}/export", tag = "evaluations", params(("human_eval_id" = String, Path)),
    request_body = PreferenceExport,
    responses((status = 201, body = DatasetCreatedView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn export_human_preferences(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<PreferenceExport>,
) -> ApiResult<(StatusCode, Json<DatasetCreatedView>)> {
    let (dataset, version) = app.services.export_human_preferences(&p, &id, b, &ctx).await?;
    Ok((StatusCode::CREATED, Json(DatasetCreatedView { dataset: dataset.into(), version: version.try_into()? })))
}
