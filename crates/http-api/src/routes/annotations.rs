//! People annotating a dataset version: tasks, records with their annotations, completion into
//! a new version.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{DatasetView, VersionView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use services::datasets::{AnnotatedRecord, AnnotationInput, AnnotationTask, CompleteAnnotation, NewAnnotationTask};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct AnnotationTaskList {
    pub object: &'static str,
    pub data: Vec<AnnotationTask>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnnotatedRecordList {
    pub object: &'static str,
    pub data: Vec<AnnotatedRecord>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnnotationCompleted {
    pub task: AnnotationTask,
    pub dataset: DatasetView,
    pub version: VersionView,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecordParams {
    /// Records to skip (of all, or of the annotator's share), default 0.
    #[param(minimum = 0)]
    pub offset: Option<u64>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// Only this annotator's share (a user id).
    pub assignee: Option<String>,
}

/// Starts an annotation task over a version (`upload_dataset` on the dataset): its records are
/// shared among the annotators in turn; each gets labels from the task's set, a flag, a note,
/// and may be corrected.
#[utoipa::path(post, path = "/api/v1/datasets/{dataset_id}/versions/{version}/annotation-tasks", tag = "datasets",
    params(("dataset_id" = String, Path), ("version" = i64, Path)), request_body = NewAnnotationTask,
    responses((status = 201, body = AnnotationTask), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn create_annotation_task(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath((dataset_id, version)): ApiPath<(String, i64)>,
    ApiJson(b): ApiJson<NewAnnotationTask>,
) -> ApiResult<(StatusCode, Json<AnnotationTask>)> {
    Ok((StatusCode::CREATED, Json(app.services.create_annotation_task(&p, &dataset_id, version, b, &ctx).await?)))
}

/// A dataset's annotation tasks with their progress, newest first.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset_id}/annotation-tasks", tag = "datasets", params(("dataset_id" = String, Path)),
    responses((status = 200, body = AnnotationTaskList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn list_annotation_tasks(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(dataset_id): ApiPath<String>,
) -> ApiResult<Json<AnnotationTaskList>> {
    Ok(Json(AnnotationTaskList { object: "list", data: app.services.list_annotation_tasks(&p, &dataset_id).await? }))
}

/// A task with each annotator's progress and the labels' counts.
#[utoipa::path(get, path = "/api/v1/annotation-tasks/{task_id}", tag = "datasets", params(("task_id" = String, Path)),
    responses((status = 200, body = AnnotationTask), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn get_annotation_task(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AnnotationTask>> {
    Ok(Json(app.services.get_annotation_task(&p, &id).await?))
}

/// Deletes a task and its annotations (`upload_dataset`); a version it made stays.
#[utoipa::path(delete, path = "/api/v1/annotation-tasks/{task_id}", tag = "datasets", params(("task_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn delete_annotation_task(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_annotation_task(&p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records of a task in order, as read and as corrected, with their annotations.
#[utoipa::path(get, path = "/api/v1/annotation-tasks/{task_id}/records", tag = "datasets", params(("task_id" = String, Path), RecordParams),
    responses((status = 200, body = AnnotatedRecordList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn annotation_records(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RecordParams>,
) -> ApiResult<Json<AnnotatedRecordList>> {
    let data = app.services.annotation_records(&p, &id, q.offset.unwrap_or(0), q.limit.unwrap_or(20), q.assignee.as_deref()).await?;
    Ok(Json(AnnotatedRecordList { object: "list", data }))
}

/// Saves the annotation of one record (an annotator of the task, or anyone who may upload to the
/// dataset) while the task is open; a correction keeps the record's type.
#[utoipa::path(put, path = "/api/v1/annotation-tasks/{task_id}/records/{index}", tag = "datasets",
    params(("task_id" = String, Path), ("index" = u64, Path)), request_body = AnnotationInput,
    responses((status = 200, body = AnnotatedRecord), (status = "default", body = ErrorBody)), security(("bearer" = ["view_dataset"])))]
pub async fn annotate_record(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath((id, index)): ApiPath<(String, u64)>,
    ApiJson(b): ApiJson<AnnotationInput>,
) -> ApiResult<Json<AnnotatedRecord>> {
    Ok(Json(app.services.annotate_record(&p, &id, index, b, &ctx).await?))
}

/// Completes a task (`upload_dataset`): a new version of the dataset with every valid record as
/// corrected, less flagged ones (unless kept) and those the label filters leave out; the task
/// is in its lineage and takes no more annotations.
#[utoipa::path(post, path = "/api/v1/annotation-tasks/{task_id}/complete", tag = "datasets", params(("task_id" = String, Path)),
    request_body = CompleteAnnotation,
    responses((status = 201, body = AnnotationCompleted), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn complete_annotation_task(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<CompleteAnnotation>,
) -> ApiResult<(StatusCode, Json<AnnotationCompleted>)> {
    let (task, dataset, version) = app.services.complete_annotation_task(&p, &id, b, &ctx).await?;
    Ok((StatusCode::CREATED, Json(AnnotationCompleted { task, dataset: dataset.into(), version: version.try_into()? })))
}
