//! A fine-tuned model's experiment record, and models ranked by a metric on one test set.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, Caller};
use crate::views_evaluations::ExperimentRecordView;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use services::evaluations::{Ranking, RankingQuery};

/// The experiment record of a fine-tuned model: the model, the job and its training
/// configuration, the lineage of its training and validation data, every evaluation of exactly
/// this model and the human evaluations that rate them.
#[utoipa::path(get, path = "/api/v1/models/{model_id}/record", tag = "models", params(("model_id" = String, Path)),
    responses((status = 200, body = ExperimentRecordView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn experiment_record(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(model_id): ApiPath<String>,
) -> ApiResult<Json<ExperimentRecordView>> {
    Ok(Json(app.services.experiment_record(&p, &model_id).await?.try_into()?))
}

/// The models evaluated on a test set (fine-tuned models, checkpoints, base models, external
/// deployments), ranked by a metric — each by its newest succeeded evaluation there that scored
/// it; `best` is the first.
#[utoipa::path(get, path = "/api/v1/models/ranking", tag = "models", params(RankingQuery),
    responses((status = 200, body = Ranking), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn rank_models(State(app): State<AppState>, Caller(p): Caller, ApiQuery(q): ApiQuery<RankingQuery>) -> ApiResult<Json<Ranking>> {
    Ok(Json(app.services.rank_models(&p, q).await?))
}
