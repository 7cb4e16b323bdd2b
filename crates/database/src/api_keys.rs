//! API keys: stored as SHA-256 hashes behind a visible prefix.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    /// Space-separated permission names.
    pub scopes: String,
    pub project_id: Option<String>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// Inference limits (None: no limit).
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    /// Tokens per calendar month (UTC).
    pub monthly_tokens: Option<i64>,
    /// JSON list of the deployment ids the key may call; None: every one it may see.
    pub deployment_ids: Option<String>,
}

const COLUMNS: &str = "id, organization_id, user_id, name, prefix, key_hash, scopes, project_id, expires_at, last_used_at, revoked_at, created_at, requests_per_minute, tokens_per_minute, monthly_tokens, deployment_ids";

pub async fn insert(conn: &mut Conn, k: &ApiKeyRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10, $11, $12, $13, $14)"
    ))
    .bind(&k.id)
    .bind(&k.organization_id)
    .bind(&k.user_id)
    .bind(&k.name)
    .bind(&k.prefix)
    .bind(&k.key_hash)
    .bind(&k.scopes)
    .bind(&k.project_id)
    .bind(k.expires_at)
    .bind(k.created_at)
    .bind(k.requests_per_minute)
    .bind(k.tokens_per_minute)
    .bind(k.monthly_tokens)
    .bind(&k.deployment_ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn by_prefix(conn: &mut Conn, prefix: &str) -> Result<Option<ApiKeyRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE prefix = $1")).bind(prefix).fetch_optional(&mut *conn).await?)
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<ApiKeyRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Keys of the organization; `user_id` narrows to one owner.
pub async fn list(conn: &mut Conn, org_id: &str, user_id: Option<&str>, after: Option<&str>, limit: i64) -> Result<Vec<ApiKeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE organization_id = $1 AND ($2 = '' OR user_id = $2) AND id > $3 ORDER BY id LIMIT $4"
    ))
    .bind(org_id)
    .bind(user_id.unwrap_or(""))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// The keys restricted to a project (they go when it is deleted).
pub async fn for_project(conn: &mut Conn, org_id: &str, project_id: &str) -> Result<Vec<ApiKeyRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE organization_id = $1 AND project_id = $2 ORDER BY id"))
        .bind(org_id)
        .bind(project_id)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn revoke(conn: &mut Conn, org_id: &str, id: &str, now_ms: i64) -> Result<()> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE organization_id = $1 AND id = $2")
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

/// Revokes every key of a user (the user was disabled).
pub async fn revoke_all_for_user(conn: &mut Conn, user_id: &str, now_ms: i64) -> Result<()> {
    sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user_id)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records use, at most once per `granularity_ms` so that hot keys do not turn reads into writes.
pub async fn touch(conn: &mut Conn, id: &str, now_ms: i64, granularity_ms: i64) -> Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(id)
        .bind(now_ms)
        .bind(now_ms - granularity_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
