//! The cluster as the scheduler sees it: nodes, free GPUs, the queue and why each job waits.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Caller;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use services::training::ClusterView;

/// Nodes with their free and used GPUs (CPU slots on a CPU-only machine), the priority
/// classes, the queue in the order the scheduler would start it — each job's position and why
/// it waits — and the running jobs. Jobs the caller may not see appear without id or name.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "jobs",
    responses((status = 200, body = ClusterView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_cluster(State(app): State<AppState>, Caller(p): Caller) -> ApiResult<Json<ClusterView>> {
    Ok(Json(app.services.cluster(&p).await?))
}
