//! Users of the organization and invitations.

use super::ListParams;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{InvitationList, InvitationView, UserList, UserView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use services::users::{NewUser, UserChanges};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(schema_with = domain::schema::email)]
    pub email: String,
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    #[schema(schema_with = domain::schema::password)]
    pub password: String,
    /// admin, researcher, developer or viewer.
    #[schema(schema_with = domain::schema::role)]
    pub role: String,
}

/// Creates a user in the caller's organization.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = UserView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_users"])))]
pub async fn create_user(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let n = NewUser { email: b.email, name: b.name, password: b.password, role: b.role };
    Ok((StatusCode::CREATED, Json(app.services.create_user(&p, n, &ctx).await?.into())))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListParams),
    responses((status = 200, body = UserList), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_users"])))]
pub async fn list_users(State(app): State<AppState>, Caller(p): Caller, ApiQuery(q): ApiQuery<ListParams>) -> ApiResult<Json<UserList>> {
    Ok(Json(UserList::of(app.services.list_users(&p, q.after.as_deref(), q.limit).await?)))
}

/// A user: oneself, or anyone in the organization with `manage_users`.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users", params(("user_id" = String, Path)),
    responses((status = 200, body = UserView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_users"])))]
pub async fn get_user(State(app): State<AppState>, Caller(p): Caller, ApiPath(user_id): ApiPath<String>) -> ApiResult<Json<UserView>> {
    Ok(Json(app.services.get_user(&p, &user_id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(schema_with = domain::schema::optional_name)]
    pub name: Option<String>,
    /// Needs `manage_users`.
    #[schema(schema_with = domain::schema::optional_role)]
    pub role: Option<String>,
    /// Needs `manage_users`; disabling revokes the user's sessions and API keys.
    pub disabled: Option<bool>,
    #[schema(schema_with = domain::schema::optional_password)]
    pub password: Option<String>,
    /// Required when changing one's own password.
    pub current_password: Option<String>,
}

/// Changes a user. Oneself: name and password; with `manage_users`: anyone, role and status too.
#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users", params(("user_id" = String, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = UserView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_users"])))]
pub async fn update_user(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<UserView>> {
    let c = UserChanges { name: b.name, role: b.role, disabled: b.disabled, password: b.password, current_password: b.current_password };
    Ok(Json(app.services.update_user(&p, &user_id, c, &ctx).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    #[schema(schema_with = domain::schema::email)]
    pub email: String,
    #[schema(schema_with = domain::schema::role)]
    pub role: String,
}

/// Invites someone; the answer carries the one-time token they register with.
#[utoipa::path(post, path = "/api/v1/invitations", tag = "users", request_body = CreateInvitationRequest,
    responses((status = 201, body = InvitationView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_users"])))]
pub async fn create_invitation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<CreateInvitationRequest>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    let (row, token) = app.services.create_invitation(&p, &b.email, &b.role, &ctx).await?;
    Ok((StatusCode::CREATED, Json(InvitationView { token: Some(token), ..row.into() })))
}

#[utoipa::path(get, path = "/api/v1/invitations", tag = "users", params(ListParams),
    responses((status = 200, body = InvitationList), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_users"])))]
pub async fn list_invitations(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<InvitationList>> {
    Ok(Json(InvitationList::of(app.services.list_invitations(&p, q.after.as_deref(), q.limit).await?)))
}

#[utoipa::path(delete, path = "/api/v1/invitations/{invitation_id}", tag = "users", params(("invitation_id" = String, Path)),
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_users"])))]
pub async fn revoke_invitation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(invitation_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.services.revoke_invitation(&p, &invitation_id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
