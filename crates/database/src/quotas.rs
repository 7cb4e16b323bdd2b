//! Quotas and budgets of an organization, a project or a user.

use crate::{Conn, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuotaRow {
    pub organization_id: String,
    /// `organization`, `project` or `user`.
    pub scope: String,
    pub subject_id: String,
    /// The limits, JSON.
    pub limits: String,
    /// The month (`2026-12`) whose alert was sent.
    pub alerted_period: Option<String>,
    pub updated_by: String,
    pub updated_at: i64,
}

const COLUMNS: &str = "organization_id, scope, subject_id, limits, alerted_period, updated_by, updated_at";

/// Inserts or replaces a quota (its alert is sent again when the limits change).
pub async fn upsert(conn: &mut Conn, q: &QuotaRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO quotas ({COLUMNS}) VALUES ($1, $2, $3, $4, NULL, $5, $6)
         ON CONFLICT (organization_id, scope, subject_id) DO UPDATE SET limits = $4, alerted_period = NULL, updated_by = $5, updated_at = $6"
    ))
    .bind(&q.organization_id)
    .bind(&q.scope)
    .bind(&q.subject_id)
    .bind(&q.limits)
    .bind(&q.updated_by)
    .bind(q.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a quota; false when there was none.
pub async fn delete(conn: &mut Conn, org_id: &str, scope: &str, subject_id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM quotas WHERE organization_id = $1 AND scope = $2 AND subject_id = $3")
        .bind(org_id)
        .bind(scope)
        .bind(subject_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn of_organization(conn: &mut Conn, org_id: &str) -> Result<Vec<QuotaRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM quotas WHERE organization_id = $1 ORDER BY scope, subject_id"))
        .bind(org_id)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn all(conn: &mut Conn) -> Result<Vec<QuotaRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM quotas ORDER BY organization_id, scope, subject_id")).fetch_all(&mut *conn).await?)
}

/// Marks the alert of `period` sent; false when it already was (so it is sent once).
pub async fn mark_alerted(conn: &mut Conn, q: &QuotaRow, period: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE quotas SET alerted_period = $4 WHERE organization_id = $1 AND scope = $2 AND subject_id = $3
         AND (alerted_period IS NULL OR alerted_period <> $4)",
    )
    .bind(&q.organization_id)
    .bind(&q.scope)
    .bind(&q.subject_id)
    .bind(period)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Holds the organization's row lock for the rest of the transaction: submissions that check
/// its quotas run one at a time.
pub async fn lock_organization(conn: &mut Conn, org_id: &str) -> Result<()> {
    sqlx::query("UPDATE organizations SET updated_at = updated_at WHERE id = $1").bind(org_id).execute(&mut *conn).await?;
    Ok(())
}
