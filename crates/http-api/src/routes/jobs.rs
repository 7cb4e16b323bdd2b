//! Training jobs: submit (202), list, get, cancel, resume, and what they report — events as
//! Server-Sent Events, metric series for charts, logs and checkpoints.

use super::ListParams;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{CheckpointList, JobEventList, JobEventView, JobList, JobMetricsView, JobView, MetricSeriesView};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use services::training::NewJob;
use services::{Page, Principal, Services};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// Submits a fine-tuning job. It is checked against the dataset version (valid records of the
/// kind the objective trains on), the base model (imported and ready) and the estimate (it must
/// fit this installation's device), then queued: 202 with the job.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = NewJob,
    responses((status = 202, body = JobView), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn create_job(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<NewJob>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    Ok((StatusCode::ACCEPTED, Json(app.services.create_job(&p, b, &ctx).await?.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobListParams {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub after: Option<String>,
    /// Only jobs in this state.
    #[param(schema_with = domain::schema::optional_job_state)]
    pub state: Option<String>,
}

/// Jobs the caller can see, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobListParams),
    responses((status = 200, body = JobList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_jobs(State(app): State<AppState>, Caller(p): Caller, ApiQuery(q): ApiQuery<JobListParams>) -> ApiResult<Json<JobList>> {
    Ok(Json(JobList::of(app.services.list_jobs(&p, q.state.as_deref(), q.after.as_deref(), q.limit).await?)))
}

#[utoipa::path(get, path = "/api/v1/jobs/{job_id}", tag = "jobs", params(("job_id" = String, Path)),
    responses((status = 200, body = JobView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn get_job(State(app): State<AppState>, Caller(p): Caller, ApiPath(job_id): ApiPath<String>) -> ApiResult<Json<JobView>> {
    Ok(Json(app.services.get_job(&p, &job_id).await?.into()))
}

/// Cancels a job: a queued one at once; a running one saves a checkpoint first (`cancelling`,
/// then `cancelled`).
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/cancel", tag = "jobs", params(("job_id" = String, Path)),
    responses((status = 200, body = JobView), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn cancel_job(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(job_id): ApiPath<String>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(app.services.cancel_job(&p, &job_id, &ctx).await?.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeJobRequest {
    /// The checkpoint to continue from (default: the latest).
    pub checkpoint_id: Option<String>,
}

/// Queues a failed or cancelled job again, continuing from a checkpoint.
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/resume", tag = "jobs", params(("job_id" = String, Path)), request_body = ResumeJobRequest,
    responses((status = 202, body = JobView), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn resume_job(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(job_id): ApiPath<String>,
    ApiJson(b): ApiJson<ResumeJobRequest>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    Ok((StatusCode::ACCEPTED, Json(app.services.resume_job(&p, &job_id, b.checkpoint_id.as_deref(), &ctx).await?.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Only events after this sequence number (the SSE `Last-Event-ID` header also works).
    pub after: Option<i64>,
    /// false: one JSON page instead of a stream.
    pub stream: Option<bool>,
    /// Comma-separated kinds (state, progress, eval, system, checkpoint, artifact, log, …).
    pub kinds: Option<String>,
    /// Page size with `stream=false`, 1 to 1000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

fn parse_kinds(kinds: Option<&str>) -> Vec<String> {
    kinds.map(|k| k.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
}

async fn event_page(services: &Services, p: &Principal, id: &str, kinds: &[String], after: i64, limit: i64) -> ApiResult<JobEventList> {
    let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let rows = services.job_events(p, id, &kinds, after, limit + 1).await?;
    let page = Page::from_rows(rows, limit);
    let last_seq = page.items.last().map(|e| e.seq).unwrap_or(after);
    let data = page.items.into_iter().map(JobEventView::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(JobEventList { object: "list", data, has_more: page.has_more, last_seq })
}

type SseItems = futures_util::stream::Iter<std::vec::IntoIter<Result<Event, std::convert::Infallible>>>;

/// Server-Sent Events of job events: id = sequence number, event = kind, data = the event as JSON.
fn sse_events(events: Vec<JobEventView>) -> SseItems {
    let items: Vec<Result<Event, std::convert::Infallible>> = events
        .into_iter()
        .map(|e| Ok(Event::default().id(e.seq.to_string()).event(e.kind.clone()).data(serde_json::to_string(&e).unwrap_or_default())))
        .collect();
    futures_util::stream::iter(items)
}

/// One `error` event carrying the error body, the last of a stream that cannot go on.
fn sse_error(e: &crate::error::ApiError) -> SseItems {
    let body = serde_json::json!({"error": {"message": e.message, "code": e.code}});
    futures_util::stream::iter(vec![Ok(Event::default().event("error").data(body.to_string()))])
}

/// Waits until this process signals new events of job `id`, at most [`SSE_RECHECK`] (events
/// written by another replica are seen then).
async fn wait_for_signal(signals: &mut tokio::sync::broadcast::Receiver<String>, id: &str) {
    use tokio::sync::broadcast::error::RecvError;
    let wait = async {
        loop {
            match signals.recv().await {
                Ok(changed) if changed == id => return,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return, // some signals were missed: look again
                Err(RecvError::Closed) => return std::future::pending().await,
            }
        }
    };
    let _ = tokio::time::timeout(SSE_RECHECK, wait).await;
}

/// The longest an event stream waits before looking at the database again without a signal.
const SSE_RECHECK: Duration = Duration::from_secs(2);

/// Everything the job reports, in order: state changes, progress, evaluations, system samples,
/// checkpoints, logs. By default a Server-Sent Events stream (event id = sequence number,
/// event name = kind) that replays from `after` and ends when the job reaches a final state.
#[utoipa::path(get, path = "/api/v1/jobs/{job_id}/events", tag = "jobs", params(("job_id" = String, Path), EventParams),
    responses((status = 200, body = JobEventList, description = "text/event-stream unless stream=false"), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn job_events(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    ApiPath(job_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<EventParams>,
) -> ApiResult<Response> {
    let kinds = parse_kinds(q.kinds.as_deref());
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let after = q.after.or(last_event_id).unwrap_or(0);
    let limit = domain::validate::bounded("limit", q.limit, 500, 1, 1000)?;
    if q.stream == Some(false) {
        return Ok(Json(event_page(&app.services, &p, &job_id, &kinds, after, limit).await?).into_response());
    }
    app.services.get_job(&p, &job_id).await?;
    let signals = app.services.job_signals();
    let state = (app.services.clone(), p, job_id, kinds, after, false, signals);
    let stream = futures_util::stream::unfold(state, |(services, p, id, kinds, after, done, mut signals)| async move {
        if done {
            return None;
        }
        let mut after = after;
        loop {
            let page = match event_page(&services, &p, &id, &kinds, after, 200).await {
                Ok(page) => page,
                // The stream ends with an `error` event that says why, never silently.
                Err(e) => return Some((sse_error(&e), (services, p, id, kinds, after, true, signals))),
            };
            if !page.data.is_empty() {
                after = page.last_seq;
                return Some((sse_events(page.data), (services, p, id, kinds, after, false, signals)));
            }
            let finished =
                services.queue().is_shutting_down() || services.get_job(&p, &id).await.map(|j| j.state().is_terminal()).unwrap_or(true);
            if finished {
                // One last look: events written just before the final state.
                let tail = match event_page(&services, &p, &id, &kinds, after, 200).await {
                    Ok(page) => page.data,
                    Err(e) => return Some((sse_error(&e), (services, p, id, kinds, after, true, signals))),
                };
                if tail.is_empty() {
                    return None;
                }
                return Some((sse_events(tail), (services, p, id, kinds, after, true, signals)));
            }
            wait_for_signal(&mut signals, &id).await;
        }
    });
    use futures_util::StreamExt;
    Ok(Sse::new(stream.flatten()).keep_alive(KeepAlive::default()).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MetricParams {
    /// Comma-separated series (default: loss, eval_loss, learning_rate, grad_norm,
    /// tokens_per_second). Also: samples_per_second, step_time_s, epoch, cpu_percent, rss_bytes,
    /// peak_rss_bytes, and over the job's GPUs gpu_utilization_percent (mean),
    /// gpu_memory_used_bytes, gpu_max_reserved_bytes, gpu_temperature_c (largest), gpu_power_w
    /// (sum). An unknown name is a 422 that lists them.
    pub names: Option<String>,
    /// At most this many points per series, 2 to 5000 (default 500).
    #[param(minimum = 2, maximum = 5000)]
    pub points: Option<i64>,
}

/// Metric histories for charts, downsampled on the server.
#[utoipa::path(get, path = "/api/v1/jobs/{job_id}/metrics", tag = "jobs", params(("job_id" = String, Path), MetricParams),
    responses((status = 200, body = JobMetricsView), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn job_metrics(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(job_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<MetricParams>,
) -> ApiResult<Json<JobMetricsView>> {
    let names: Vec<&str> = match &q.names {
        Some(names) => names.split(',').map(str::trim).filter(|s| !s.is_empty()).collect(),
        None => services::training::DEFAULT_SERIES.to_vec(),
    };
    let points = domain::validate::bounded("points", q.points, 500, 2, 5000)? as usize;
    let series = app.services.job_metrics(&p, &job_id, &names, points).await?;
    let series =
        series.into_iter().map(|(name, points)| MetricSeriesView { name, points: points.into_iter().map(Into::into).collect() }).collect();
    Ok(Json(JobMetricsView { object: "job.metrics", job_id, series }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// Lines after this sequence number (pass `last_seq` of the previous page to follow).
    pub after: Option<i64>,
    /// Page size, 1 to 1000 (default 200).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The job's log lines (the runtime's stderr and the executor's notes), paged by sequence number.
#[utoipa::path(get, path = "/api/v1/jobs/{job_id}/logs", tag = "jobs", params(("job_id" = String, Path), LogParams),
    responses((status = 200, body = JobEventList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn job_logs(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(job_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogParams>,
) -> ApiResult<Json<JobEventList>> {
    let kinds = vec!["log".to_string()];
    Ok(Json(
        event_page(&app.services, &p, &job_id, &kinds, q.after.unwrap_or(0), domain::validate::bounded("limit", q.limit, 200, 1, 1000)?)
            .await?,
    ))
}

/// Stored checkpoints (the newest `keep_checkpoints`), oldest first, paged (`after` is a
/// checkpoint id).
#[utoipa::path(get, path = "/api/v1/jobs/{job_id}/checkpoints", tag = "jobs", params(("job_id" = String, Path), ListParams),
    responses((status = 200, body = CheckpointList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn job_checkpoints(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(job_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<CheckpointList>> {
    Ok(Json(CheckpointList::of(app.services.job_checkpoints(&p, &job_id, q.after.as_deref(), q.limit).await?)))
}
