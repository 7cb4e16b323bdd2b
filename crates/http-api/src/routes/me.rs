//! The caller: who they are, their organization and what they may do.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Caller;
use crate::views::{MeView, MembershipView};
use crate::AppState;
use axum::extract::State;
use axum::Json;

/// Who is calling, with organization, permissions and project memberships.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = MeView), (status = "default", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_me(State(app): State<AppState>, Caller(p): Caller) -> ApiResult<Json<MeView>> {
    let (user, org, memberships) = app.services.me(&p).await?;
    Ok(Json(MeView {
        user: user.into(),
        organization: org.into(),
        permissions: p.org_permissions().to_strings(),
        projects: memberships.into_iter().map(|m| MembershipView { project_id: m.project_id, role: m.role }).collect(),
        auth: if p.api_key_id().is_some() { "api_key" } else { "session" },
        api_key_id: p.api_key_id().map(str::to_string),
        project_restriction: p.project_restriction().map(str::to_string),
    }))
}
