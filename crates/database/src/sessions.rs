//! Login sessions and their rotating refresh tokens (stored as SHA-256 hashes).

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub organization_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshTokenRow {
    pub token_hash: String,
    pub session_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert(conn: &mut Conn, s: &SessionRow) -> Result<()> {
    sqlx::query("INSERT INTO sessions (id, user_id, organization_id, created_at, expires_at, revoked_at, revoked_reason, ip, user_agent) VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6, $7)")
        .bind(&s.id)
        .bind(&s.user_id)
        .bind(&s.organization_id)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<SessionRow> {
    sqlx::query_as("SELECT id, user_id, organization_id, created_at, expires_at, revoked_at, revoked_reason, ip, user_agent FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Revokes a session (the whole refresh-token family). Returns false if it was already revoked.
pub async fn revoke(conn: &mut Conn, id: &str, reason: &str, now_ms: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now_ms)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every open session of a user (disabled user, password change).
pub async fn revoke_all_for_user(conn: &mut Conn, user_id: &str, reason: &str, now_ms: i64) -> Result<u64> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user_id)
        .bind(now_ms)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn insert_refresh(conn: &mut Conn, t: &RefreshTokenRow) -> Result<()> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)")
        .bind(&t.token_hash)
        .bind(&t.session_id)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn refresh_by_hash(conn: &mut Conn, token_hash: &str) -> Result<Option<RefreshTokenRow>> {
    Ok(sqlx::query_as("SELECT token_hash, session_id, created_at, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Marks a refresh token used. Returns false if another request used it first.
pub async fn mark_refresh_used(conn: &mut Conn, token_hash: &str, now_ms: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
        .bind(token_hash)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
