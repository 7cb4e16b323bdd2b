//! Evaluations: a model answering a test set scored by named metrics, or a predictions file
//! scored as it is; their examples, cancel, rerun and delete.

use super::forms;
use super::ListParams;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{AbTestList, AbTestView, EvaluationExampleList, EvaluationList, EvaluationView};
use crate::AppState;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;
use services::evaluations::{BootstrapSettings, Comparison, NewAbTest, NewComparison, NewEvaluation, NewJudgeEvaluation, NewScoring};
use utoipa::{IntoParams, ToSchema};

/// The multipart form of `POST /api/v1/evaluations` that scores a predictions file. Text fields
/// come before `file`; an empty text field counts as absent.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct PredictionsForm {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    pub project_id: Option<String>,
    /// Comma-separated metric names, no spaces (default `bleu,chrf,rouge`).
    #[schema(schema_with = metrics_field)]
    pub metrics: Option<String>,
    /// `13a` (default), `zh` or `none`.
    #[schema(schema_with = tokenize_field)]
    pub tokenize: Option<String>,
    /// Bootstrap resamples, 0–10000 (default 1000).
    #[schema(schema_with = resamples_field)]
    pub bootstrap_resamples: Option<String>,
    /// `true` Porter-stems ROUGE's tokens (default `false`).
    #[schema(schema_with = stemmer_field)]
    pub rouge_stemmer: Option<String>,
    /// JSONL: `{"prediction": "...", "reference": "..."}` or `{"prediction": "...",
    /// "references": [...]}` per line.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub file: String,
}

/// A form text field: a string (absent when empty) matching `pattern`; never null (a form has no
/// null: a client sending `null` sends that text).
fn text_field(pattern: &str) -> utoipa::openapi::schema::ObjectBuilder {
    utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String).pattern(Some(pattern))
}

fn metrics_field() -> utoipa::openapi::schema::ObjectBuilder {
    text_field(&services::evaluations::metric_list_pattern())
}

fn tokenize_field() -> utoipa::openapi::schema::ObjectBuilder {
    text_field("^(13a|zh|none)?$")
}

fn stemmer_field() -> utoipa::openapi::schema::ObjectBuilder {
    text_field("^(true|false)?$")
}

fn resamples_field() -> utoipa::openapi::schema::ObjectBuilder {
    text_field("^(10000|[0-9]{1,4})?$")
}

/// Largest predictions file.
const MAX_PREDICTIONS_BYTES: usize = 64 << 20;

/// Creates an evaluation (202; it is queued). JSON: a model (`bm_…`, `mdl_…`, `ckpt_…` — deployed
/// on demand — or a deployment's name) answers a dataset version's conversations through the
/// serving path, and the metrics score the answers. Multipart with a `file`: a predictions file
/// made elsewhere is scored as it is. Both store per-example scores and bootstrap intervals.
#[utoipa::path(post, path = "/api/v1/evaluations", tag = "evaluations",
    request_body(content((NewEvaluation = "application/json"), (PredictionsForm = "multipart/form-data"))),
    responses((status = 202, body = EvaluationView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn create_evaluation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    request: Request,
) -> ApiResult<(StatusCode, Json<EvaluationView>)> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let evaluation = if content_type.starts_with("multipart/form-data") {
        let form = Multipart::from_request(request, &()).await;
        let (n, file, filename) = predictions_form(forms::form(form)?).await?;
        app.services.score_predictions(&p, n, &file, &filename, &ctx).await?
    } else {
        let ApiJson(n) = ApiJson::<NewEvaluation>::from_request(request, &()).await?;
        app.services.create_evaluation(&p, n, &ctx).await?
    };
    Ok((StatusCode::ACCEPTED, Json(evaluation.into())))
}

/// Reads the predictions form: its fields, then the file (UTF-8, at most 64 MiB).
async fn predictions_form(mut form: Multipart) -> ApiResult<(NewScoring, String, String)> {
    let mut n = NewScoring { metrics: vec!["bleu".into(), "chrf".into(), "rouge".into()], ..Default::default() };
    while let Some(mut field) = form.next_field().await.map_err(forms::multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "name" => n.name = Some(forms::text(field, "name").await?).filter(|s| !s.is_empty()),
            "project_id" => n.project_id = Some(forms::text(field, "project_id").await?).filter(|s| !s.is_empty()),
            "metrics" => {
                let raw = forms::text(field, "metrics").await?;
                if !raw.is_empty() {
                    n.metrics = raw.split(',').map(str::to_string).collect();
                }
            }
            "tokenize" => n.tokenize = Some(forms::text(field, "tokenize").await?).filter(|s| !s.is_empty()),
            "rouge_stemmer" => {
                n.rouge_stemmer = match forms::text(field, "rouge_stemmer").await?.as_str() {
                    "" | "false" => false,
                    "true" => true,
                    other => {
                        return Err(
                            ApiError::new(ErrorCode::ValidationFailed, format!("'{other}' is not true or false")).param("rouge_stemmer")
                        )
                    }
                }
            }
            "bootstrap_resamples" => {
                let raw = forms::text(field, "bootstrap_resamples").await?;
                if !raw.is_empty() {
                    let resamples = (raw.len() <= 5 && raw.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| raw.parse::<u32>().ok())
                        .flatten()
                        .filter(|r| *r <= 10_000)
                        .ok_or_else(|| {
                            ApiError::new(ErrorCode::ValidationFailed, format!("'{raw}' is not a whole number from 0 to 10000"))
                                .param("bootstrap_resamples")
                        })?;
                    n.bootstrap = BootstrapSettings { resamples, ..Default::default() };
                }
            }
            "file" => {
                let filename = field.file_name().unwrap_or("predictions.jsonl").to_string();
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            bytes.extend_from_slice(&chunk);
                            if bytes.len() > MAX_PREDICTIONS_BYTES {
                                return Err(ApiError::new(ErrorCode::PayloadTooLarge, "a predictions file is 64 MiB at most").param("file"));
                            }
                        }
                        Ok(None) => break,
                        Err(e) => return Err(forms::multipart_error(e)),
                    }
                }
                drop(field);
                forms::nothing_after_file(&mut form).await?;
                let text = String::from_utf8(bytes).map_err(|e| {
                    ApiError::new(ErrorCode::Unprocessable, format!("the file is not UTF-8 (byte {})", e.utf8_error().valid_up_to()))
                        .param("file")
                })?;
                return Ok((n, text, filename));
            }
            other => return Err(ApiError::new(ErrorCode::ValidationFailed, format!("unknown form field '{other}'")).param(other)),
        }
    }
    Err(ApiError::new(ErrorCode::ValidationFailed, "the form has no 'file'").param("file"))
}

/// Filters and paging of the evaluation list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EvaluationListParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Cursor: the id of the last item of the previous page.
    pub after: Option<String>,
    /// Only evaluations of what a request named so (a model id or deployment name).
    pub model: Option<String>,
}

/// Evaluations the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/evaluations", tag = "evaluations", params(EvaluationListParams),
    responses((status = 200, body = EvaluationList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_evaluations(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<EvaluationListParams>,
) -> ApiResult<Json<EvaluationList>> {
    Ok(Json(EvaluationList::of(app.services.list_evaluations(&p, q.model.as_deref(), q.after.as_deref(), q.limit).await?)))
}

/// An evaluation: its configuration, progress and, once it succeeded, its scores with their
/// bootstrap intervals.
#[utoipa::path(get, path = "/api/v1/evaluations/{evaluation_id}", tag = "evaluations", params(("evaluation_id" = String, Path)),
    responses((status = 200, body = EvaluationView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_evaluation(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<EvaluationView>> {
    Ok(Json(app.services.get_evaluation(&p, &id).await?.into()))
}

/// Deletes a finished evaluation and its examples (409 while it is queued or running).
#[utoipa::path(delete, path = "/api/v1/evaluations/{evaluation_id}", tag = "evaluations", params(("evaluation_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn delete_evaluation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_evaluation(&p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Paging of an evaluation's examples.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExampleParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The first example's index (default 0).
    #[param(minimum = 0)]
    pub from: Option<i64>,
}

/// An evaluation's examples in order: prompt, references, prediction and per-example scores.
#[utoipa::path(get, path = "/api/v1/evaluations/{evaluation_id}/examples", tag = "evaluations",
    params(("evaluation_id" = String, Path), ExampleParams),
    responses((status = 200, body = EvaluationExampleList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn evaluation_examples(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ExampleParams>,
) -> ApiResult<Json<EvaluationExampleList>> {
    if q.from.is_some_and(|f| f < 0) {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "from: must be 0 or more").param("from"));
    }
    let page = app.services.evaluation_examples(&p, &id, q.from.unwrap_or(0), q.limit).await?;
    Ok(Json(EvaluationExampleList { object: "list", data: page.items, has_more: page.has_more }))
}

/// Cancels a queued or running evaluation (409 when it has ended).
#[utoipa::path(post, path = "/api/v1/evaluations/{evaluation_id}/cancel", tag = "evaluations", params(("evaluation_id" = String, Path)),
    responses((status = 200, body = EvaluationView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn cancel_evaluation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<EvaluationView>> {
    Ok(Json(app.services.cancel_evaluation(&p, &id, &ctx).await?.into()))
}

/// Runs an evaluation again with its stored configuration (202): greedy generation and a seeded
/// bootstrap give the same scores.
#[utoipa::path(post, path = "/api/v1/evaluations/{evaluation_id}/rerun", tag = "evaluations", params(("evaluation_id" = String, Path)),
    responses((status = 202, body = EvaluationView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn rerun_evaluation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<EvaluationView>)> {
    Ok((StatusCode::ACCEPTED, Json(app.services.rerun_evaluation(&p, &id, &ctx).await?.into())))
}

/// Compares evaluations on one test set (computed on request): every metric's score and
/// interval per evaluation, wins/ties/losses of each against the first per example, histograms
/// of the per-example scores, and the examples side by side with word diffs against the first's
/// answer.
#[utoipa::path(post, path = "/api/v1/comparisons", tag = "evaluations", request_body = NewComparison,
    responses((status = 200, body = Comparison), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn compare_evaluations(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiJson(b): ApiJson<NewComparison>,
) -> ApiResult<Json<Comparison>> {
    Ok(Json(app.services.compare_evaluations(&p, b).await?))
}

/// An offline A/B test of two evaluations on one test set: the difference B − A with its
/// paired bootstrap interval, a p-value (paired bootstrap or approximate randomization), the
/// effect size, the sample size that would detect a given difference, and the verdict.
#[utoipa::path(post, path = "/api/v1/ab-tests", tag = "evaluations", request_body = NewAbTest,
    responses((status = 201, body = AbTestView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn create_ab_test(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<NewAbTest>,
) -> ApiResult<(StatusCode, Json<AbTestView>)> {
    Ok((StatusCode::CREATED, Json(app.services.create_ab_test(&p, b, &ctx).await?.into())))
}

#[utoipa::path(get, path = "/api/v1/ab-tests", tag = "evaluations", params(ListParams),
    responses((status = 200, body = AbTestList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_ab_tests(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<AbTestList>> {
    Ok(Json(AbTestList::of(app.services.list_ab_tests(&p, q.after.as_deref(), q.limit).await?)))
}

#[utoipa::path(get, path = "/api/v1/ab-tests/{ab_test_id}", tag = "evaluations", params(("ab_test_id" = String, Path)),
    responses((status = 200, body = AbTestView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_ab_test(State(app): State<AppState>, Caller(p): Caller, ApiPath(id): ApiPath<String>) -> ApiResult<Json<AbTestView>> {
    Ok(Json(app.services.get_ab_test(&p, &id).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/ab-tests/{ab_test_id}", tag = "evaluations", params(("ab_test_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn delete_ab_test(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_ab_test(&p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// LLM-as-judge (202; queued): a judge model — a deployment, also of an external
/// OpenAI-compatible URL, or a model id deployed on demand — rates one evaluation's answers on a
/// rubric, or compares two evaluations' answers pairwise, asked in both orders so that its
/// preference for a position cannot decide. The result is an evaluation of kind `judge`, read
/// under `/api/v1/evaluations/{id}` (`judge_rating` or B's `judge_win_rate`, with intervals).
#[utoipa::path(post, path = "/api/v1/judgements", tag = "evaluations", request_body = NewJudgeEvaluation,
    responses((status = 202, body = EvaluationView), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn create_judge_evaluation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<NewJudgeEvaluation>,
) -> ApiResult<(StatusCode, Json<EvaluationView>)> {
    Ok((StatusCode::ACCEPTED, Json(app.services.create_judge_evaluation(&p, b, &ctx).await?.into())))
}
