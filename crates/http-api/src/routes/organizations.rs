//! Organizations (tenants).

use super::ListParams;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Origin};
use crate::views::{CreatedOrganizationView, OrganizationList, OrganizationView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use services::organizations::{NewAdmin, OrganizationChanges};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdminRequest {
    #[schema(schema_with = domain::schema::email)]
    pub email: String,
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    #[schema(schema_with = domain::schema::password)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    /// The organization's first administrator.
    pub admin: Option<NewAdminRequest>,
}

/// Creates an organization (instance administrators only, with `manage_users` and
/// `manage_resources`: a narrowly scoped or project-restricted API key cannot).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations", request_body = CreateOrganizationRequest,
    responses((status = 201, body = CreatedOrganizationView), (status = "default", body = ErrorBody)), security(("bearer" = ["instance_admin"])))]
pub async fn create_organization(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiJson(b): ApiJson<CreateOrganizationRequest>,
) -> ApiResult<(StatusCode, Json<CreatedOrganizationView>)> {
    let admin = b.admin.map(|a| NewAdmin { email: a.email, name: a.name, password: a.password });
    let (org, admin) = app.services.create_organization(&p, &b.name, admin, &ctx).await?;
    Ok((StatusCode::CREATED, Json(CreatedOrganizationView { organization: org.into(), admin: admin.map(Into::into) })))
}

/// The caller's organization (instance administrators: all of them).
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations", params(ListParams),
    responses((status = 200, body = OrganizationList), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_organizations(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<OrganizationList>> {
    Ok(Json(OrganizationList::of(app.services.list_organizations(&p, q.after.as_deref(), q.limit).await?)))
}

#[utoipa::path(get, path = "/api/v1/organizations/{org_id}", tag = "organizations", params(("org_id" = String, Path)),
    responses((status = 200, body = OrganizationView), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_organization(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiPath(org_id): ApiPath<String>,
) -> ApiResult<Json<OrganizationView>> {
    Ok(Json(app.services.get_organization(&p, &org_id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[schema(schema_with = domain::schema::optional_name)]
    pub name: Option<String>,
    /// Let anyone register into this organization (with `default_role`).
    pub open_registration: Option<bool>,
    #[schema(schema_with = domain::schema::optional_role)]
    pub default_role: Option<String>,
    /// Inference requests per minute across the organization (0: no limit).
    #[schema(maximum = 1000000000)]
    pub inference_requests_per_minute: Option<u64>,
    /// Inference tokens per minute across the organization (0: no limit).
    #[schema(maximum = 1000000000000u64)]
    pub inference_tokens_per_minute: Option<u64>,
}

/// Changes an organization's name, registration policy or inference limits.
#[utoipa::path(patch, path = "/api/v1/organizations/{org_id}", tag = "organizations", params(("org_id" = String, Path)),
    request_body = UpdateOrganizationRequest,
    responses((status = 200, body = OrganizationView), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_users"])))]
pub async fn update_organization(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(org_id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateOrganizationRequest>,
) -> ApiResult<Json<OrganizationView>> {
    let c = OrganizationChanges {
        name: b.name,
        open_registration: b.open_registration,
        default_role: b.default_role,
        inference_requests_per_minute: b.inference_requests_per_minute,
        inference_tokens_per_minute: b.inference_tokens_per_minute,
    };
    Ok(Json(app.services.update_organization(&p, &org_id, c, &ctx).await?.into()))
}
