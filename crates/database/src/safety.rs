//! Content safety: each organization's content policy, the events of the rules that acted on
//! requests, and the (masked, sealed) request/response logs of deployments that keep them.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub organization_id: String,
    /// JSON.
    pub policy: String,
    pub updated_by: String,
    pub updated_at: i64,
}

pub async fn policy(conn: &mut Conn, org_id: &str) -> Result<PolicyRow> {
    sqlx::query_as("SELECT organization_id, policy, updated_by, updated_at FROM content_policies WHERE organization_id = $1")
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Inserts or replaces the organization's policy.
pub async fn put_policy(conn: &mut Conn, row: &PolicyRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO content_policies (organization_id, policy, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (organization_id) DO UPDATE SET policy = excluded.policy, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(&row.organization_id)
    .bind(&row.policy)
    .bind(&row.updated_by)
    .bind(row.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SafetyEventRow {
    pub id: String,
    pub organization_id: String,
    pub request_id: String,
    pub deployment_id: Option<String>,
    /// `input` or `output`.
    pub stage: String,
    pub rule: String,
    /// `block`, `mask` or `flag`.
    pub action: String,
    pub matches: i64,
    pub detail: Option<String>,
    pub created_at: i64,
}

pub async fn insert_events(conn: &mut Conn, rows: &[SafetyEventRow]) -> Result<()> {
    for r in rows {
        sqlx::query(
            "INSERT INTO safety_events (id, organization_id, request_id, deployment_id, stage, rule, action, matches, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&r.id)
        .bind(&r.organization_id)
        .bind(&r.request_id)
        .bind(&r.deployment_id)
        .bind(&r.stage)
        .bind(&r.rule)
        .bind(&r.action)
        .bind(r.matches)
        .bind(&r.detail)
        .bind(r.created_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Which events a listing covers.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub deployment_id: Option<String>,
    pub request_id: Option<String>,
    pub action: Option<String>,
}

/// Events newest first (ids are time-ordered), after the cursor.
pub async fn events(conn: &mut Conn, org_id: &str, filter: &EventFilter, after: Option<&str>, limit: i64) -> Result<Vec<SafetyEventRow>> {
    Ok(sqlx::query_as(
        "SELECT id, organization_id, request_id, deployment_id, stage, rule, action, matches, detail, created_at FROM safety_events \
         WHERE organization_id = $1 AND ($2 = '' OR deployment_id = $2) AND ($3 = '' OR request_id = $3) AND ($4 = '' OR action = $4) \
         AND ($5 = '' OR id < $5) ORDER BY id DESC LIMIT $6",
    )
    .bind(org_id)
    .bind(filter.deployment_id.as_deref().unwrap_or(""))
    .bind(filter.request_id.as_deref().unwrap_or(""))
    .bind(filter.action.as_deref().unwrap_or(""))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InferenceLogRow {
    pub request_id: String,
    pub organization_id: String,
    pub deployment_id: String,
    /// The masked conversation, sealed.
    pub sealed: String,
    pub created_at: i64,
}

pub async fn insert_logs(conn: &mut Conn, rows: &[InferenceLogRow]) -> Result<()> {
    for r in rows {
        sqlx::query(
            "INSERT INTO inference_logs (request_id, organization_id, deployment_id, sealed, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&r.request_id)
        .bind(&r.organization_id)
        .bind(&r.deployment_id)
        .bind(&r.sealed)
        .bind(r.created_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A deployment's logs in `[from, to)` (Unix ms), oldest first, after the cursor
/// (`created_at`, `request_id`).
pub async fn logs(
    conn: &mut Conn,
    org_id: &str,
    deployment_id: &str,
    from: i64,
    to: i64,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<InferenceLogRow>> {
    let (after_at, after_id) = after.unwrap_or((i64::MIN, ""));
    Ok(sqlx::query_as(
        "SELECT request_id, organization_id, deployment_id, sealed, created_at FROM inference_logs \
         WHERE organization_id = $1 AND deployment_id = $2 AND created_at >= $3 AND created_at < $4 \
         AND (created_at > $5 OR (created_at = $5 AND request_id > $6)) ORDER BY created_at, request_id LIMIT $7",
    )
    .bind(org_id)
    .bind(deployment_id)
    .bind(from)
    .bind(to)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// When a logged request was made (a listing's cursor).
pub async fn log_time(conn: &mut Conn, org_id: &str, deployment_id: &str, request_id: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT created_at FROM inference_logs WHERE organization_id = $1 AND deployment_id = $2 AND request_id = $3")
        .bind(org_id)
        .bind(deployment_id)
        .bind(request_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}
