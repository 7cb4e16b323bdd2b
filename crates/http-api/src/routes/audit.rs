//! Reading the audit log.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Caller};
use crate::views::AuditEventList;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use services::audit::AuditQuery;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub actor_id: Option<String>,
    /// An action (`project.create`) or an action family (`project`).
    pub action: Option<String>,
    pub target_id: Option<String>,
    /// success, failure or denied.
    #[param(schema_with = domain::schema::optional_outcome)]
    pub outcome: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, inclusive.
    pub until: Option<i64>,
    /// Another organization, or `*` for all of them and instance-wide events such as
    /// anonymous requests (instance administrators only).
    pub organization_id: Option<String>,
    /// Cursor: the `seq` of the last event of the previous page (events come newest first).
    pub before: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// The organization's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditEventList), (status = "default", body = ErrorBody)), security(("bearer" = ["manage_users"])))]
pub async fn list_audit_events(
    State(app): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditEventList>> {
    let query = AuditQuery {
        organization_id: q.organization_id,
        actor_id: q.actor_id,
        action: q.action,
        target_id: q.target_id,
        outcome: q.outcome,
        since_ms: q.since.map(|s| s.saturating_mul(1000)),
        until_ms: q.until.map(|s| s.saturating_mul(1000).saturating_add(999)),
        before_seq: q.before,
        limit: q.limit,
    };
    Ok(Json(AuditEventList::of(app.services.list_audit_events(&p, query).await?)))
}
