//! Registration, login, token refresh and logout.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Caller, Origin};
use crate::views::{TokenView, UserView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use services::identity::Registration;
use utoipa::ToSchema;

/// Who may register now.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    /// A fresh install: the next account to register becomes the administrator.
    pub first_run: bool,
    /// Registration without an invitation is open (an invitation token always works).
    pub open_registration: bool,
}

/// Says whether this is a fresh install (the first account becomes administrator) and whether
/// registration without an invitation is open; asked by the sign-up page before signing in.
#[utoipa::path(get, path = "/api/v1/auth/registration", tag = "auth",
    responses((status = 200, body = RegistrationView), (status = "default", body = ErrorBody)))]
pub async fn registration(State(app): State<AppState>) -> ApiResult<Json<RegistrationView>> {
    let s = app.services.registration_status().await?;
    Ok(Json(RegistrationView { first_run: s.first_run, open_registration: s.open_registration }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(schema_with = domain::schema::email)]
    pub email: String,
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    #[schema(schema_with = domain::schema::password)]
    pub password: String,
    /// Token from an invitation; without one, registration needs an open organization
    /// (or a fresh install, whose first user becomes its administrator).
    pub invitation_token: Option<String>,
}

/// Creates an account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = UserView), (status = "default", body = ErrorBody)))]
pub async fn register(
    State(app): State<AppState>,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let r = Registration { email: b.email, name: b.name, password: b.password, invitation_token: b.invitation_token };
    let user = app.services.register(r, &ctx).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Exchanges email and password for an access token (short-lived JWT) and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenView), (status = "default", body = ErrorBody)))]
pub async fn login(State(app): State<AppState>, Origin(ctx): Origin, ApiJson(b): ApiJson<LoginRequest>) -> ApiResult<Json<TokenView>> {
    Ok(Json(app.services.login(&b.email, &b.password, &ctx).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Rotates a refresh token: returns a new pair; the old refresh token stops working, and
/// presenting it again revokes the whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenView), (status = "default", body = ErrorBody)))]
pub async fn refresh(State(app): State<AppState>, Origin(ctx): Origin, ApiJson(b): ApiJson<RefreshRequest>) -> ApiResult<Json<TokenView>> {
    Ok(Json(app.services.refresh(&b.refresh_token, &ctx).await?.into()))
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn logout(State(app): State<AppState>, Caller(p): Caller, Origin(ctx): Origin) -> ApiResult<StatusCode> {
    app.services.logout(&p, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
