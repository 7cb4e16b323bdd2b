//! Projects and their members.

use super::ListParams;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{MemberList, MemberView, ProjectList, ProjectView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use services::projects::{MemberRef, NewProject, ProjectChanges};
use services::Page;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    #[schema(schema_with = domain::schema::optional_description)]
    pub description: Option<String>,
    /// project (members only, default), organization, or private.
    #[schema(schema_with = domain::schema::optional_project_visibility)]
    pub visibility: Option<String>,
}

/// Creates a project; the caller becomes a member with their organization role and, as its
/// owner, may manage it (`manage_resources` in the project).
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = CreateProjectRequest,
    responses((status = 201, body = ProjectView), (status = "default", body = ErrorBody)), security(("bearer" = ["upload_dataset"])))]
pub async fn create_project(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<CreateProjectRequest>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    let n = NewProject { name: b.name, description: b.description, visibility: b.visibility };
    Ok((StatusCode::CREATED, Json(app.services.create_project(&p, n, &ctx).await?.into())))
}

/// Projects the caller can see.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ListParams),
    responses((status = 200, body = ProjectList), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_projects(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<ProjectList>> {
    Ok(Json(ProjectList::of(app.services.list_projects(&p, q.after.as_deref(), q.limit).await?)))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}", tag = "projects", params(("project_id" = String, Path)),
    responses((status = 200, body = ProjectView), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_project(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(project_id): ApiPath<String>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(app.services.visible_project(&p, &project_id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[schema(schema_with = domain::schema::optional_name)]
    pub name: Option<String>,
    #[schema(schema_with = domain::schema::optional_description)]
    pub description: Option<String>,
    #[schema(schema_with = domain::schema::optional_project_visibility)]
    pub visibility: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/projects/{project_id}", tag = "projects", params(("project_id" = String, Path)), request_body = UpdateProjectRequest,
    responses((status = 200, body = ProjectView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn update_project(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(project_id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateProjectRequest>,
) -> ApiResult<Json<ProjectView>> {
    let c = ProjectChanges { name: b.name, description: b.description, visibility: b.visibility };
    Ok(Json(app.services.update_project(&p, &project_id, c, &ctx).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/projects/{project_id}", tag = "projects", params(("project_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn delete_project(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(project_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.delete_project(&p, &project_id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/members", tag = "projects", params(("project_id" = String, Path)),
    responses((status = 200, body = MemberList), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_members(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(project_id): ApiPath<String>,
) -> ApiResult<Json<MemberList>> {
    let items = app.services.list_members(&p, &project_id).await?;
    Ok(Json(MemberList::of(Page { items, has_more: false })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The user to add, by id; or give `email` instead (exactly one of the two).
    #[serde(default)]
    pub user_id: Option<String>,
    /// The user to add, by the email they sign in with (a user of the caller's organization).
    #[serde(default)]
    pub email: Option<String>,
    /// The project role: admin, researcher, developer or viewer.
    #[schema(schema_with = domain::schema::role)]
    pub role: String,
}

/// Adds a user of the organization to the project (or changes their role). The role's
/// permissions must all be the caller's own in the project.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/members", tag = "projects", params(("project_id" = String, Path)), request_body = AddMemberRequest,
    responses((status = 201, body = MemberView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn add_member(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(project_id): ApiPath<String>,
    ApiJson(b): ApiJson<AddMemberRequest>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let who = match (&b.user_id, &b.email) {
        (Some(id), None) => MemberRef::Id(id),
        (None, Some(email)) => MemberRef::Email(email),
        _ => {
            return Err(domain::ValidationError::unprocessable("user_id", "give the user to add as exactly one of user_id and email").into())
        }
    };
    Ok((StatusCode::CREATED, Json(app.services.set_member(&p, &project_id, who, &b.role, false, &ctx).await?.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    #[schema(schema_with = domain::schema::role)]
    pub role: String,
}

#[utoipa::path(patch, path = "/api/v1/projects/{project_id}/members/{user_id}", tag = "projects",
    params(("project_id" = String, Path), ("user_id" = String, Path)), request_body = UpdateMemberRequest,
    responses((status = 200, body = MemberView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn update_member(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath((project_id, user_id)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<UpdateMemberRequest>,
) -> ApiResult<Json<MemberView>> {
    Ok(Json(app.services.set_member(&p, &project_id, MemberRef::Id(&user_id), &b.role, true, &ctx).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/members/{user_id}", tag = "projects",
    params(("project_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_resources"])))]
pub async fn remove_member(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath((project_id, user_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    app.services.remove_member(&p, &project_id, &user_id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
