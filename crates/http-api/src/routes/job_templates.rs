//! Configuration templates of fine-tuning jobs, stored per project.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Origin};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use services::training::{JobTemplate, NewJobTemplate};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct JobTemplateList {
    pub object: &'static str,
    pub data: Vec<JobTemplate>,
}

/// The project's job templates by name (at most 200), to anyone who may see the project.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/job-templates", tag = "jobs", params(("project_id" = String, Path)),
    responses((status = 200, body = JobTemplateList), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_job_templates(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(project_id): ApiPath<String>,
) -> ApiResult<Json<JobTemplateList>> {
    Ok(Json(JobTemplateList { object: "list", data: app.services.list_job_templates(&p, &project_id).await? }))
}

/// Saves a template in the project (`train_model` there): checked as a job submission is,
/// except for the dataset and the device's room, which are checked when a job uses it. A name
/// already used in the project is 409.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/job-templates", tag = "jobs", params(("project_id" = String, Path)),
    request_body = NewJobTemplate,
    responses((status = 201, body = JobTemplate), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn create_job_template(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(project_id): ApiPath<String>,
    ApiJson(b): ApiJson<NewJobTemplate>,
) -> ApiResult<(StatusCode, Json<JobTemplate>)> {
    Ok((StatusCode::CREATED, Json(app.services.create_job_template(&p, &project_id, b, &ctx).await?)))
}

#[utoipa::path(get, path = "/api/v1/job-templates/{template_id}", tag = "jobs", params(("template_id" = String, Path)),
    responses((status = 200, body = JobTemplate), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_job_template(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<JobTemplate>> {
    Ok(Json(app.services.get_job_template(&p, &id).await?))
}

/// Replaces a template's name, description and content (`train_model` in its project).
#[utoipa::path(put, path = "/api/v1/job-templates/{template_id}", tag = "jobs", params(("template_id" = String, Path)),
    request_body = NewJobTemplate,
    responses((status = 200, body = JobTemplate), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn update_job_template(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<NewJobTemplate>,
) -> ApiResult<Json<JobTemplate>> {
    Ok(Json(app.services.update_job_template(&p, &id, b, &ctx).await?))
}

#[utoipa::path(delete, path = "/api/v1/job-templates/{template_id}", tag = "jobs", params(("template_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["train_model"])))]
pub async fn delete_job_template(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_job_template(&p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
