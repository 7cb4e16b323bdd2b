//! Invitations to join an organization.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    pub token_hash: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, organization_id, email, role, token_hash, created_by, created_at, expires_at, accepted_at, revoked_at";

pub async fn insert(conn: &mut Conn, i: &InvitationRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO invitations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)"))
        .bind(&i.id)
        .bind(&i.organization_id)
        .bind(&i.email)
        .bind(&i.role)
        .bind(&i.token_hash)
        .bind(&i.created_by)
        .bind(i.created_at)
        .bind(i.expires_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn by_token_hash(conn: &mut Conn, token_hash: &str) -> Result<Option<InvitationRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM invitations WHERE token_hash = $1"))
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn list(conn: &mut Conn, org_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<InvitationRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM invitations WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
        .bind(org_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

/// Marks an invitation accepted; false if it was accepted or revoked meanwhile.
pub async fn accept(conn: &mut Conn, id: &str, now_ms: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL")
        .bind(id)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn revoke(conn: &mut Conn, org_id: &str, id: &str, now_ms: i64) -> Result<()> {
    let done = sqlx::query("UPDATE invitations SET revoked_at = COALESCE(revoked_at, $3) WHERE organization_id = $1 AND id = $2")
        .bind(org_id)
        .bind(id)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
