//! Resumable uploads and their parts, and per-organization storage accounting.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub filename: String,
    /// Declared size of the whole file.
    pub bytes: i64,
    pub mime_type: Option<String>,
    /// pending, processing, completed, failed, cancelled.
    pub status: String,
    pub error: Option<String>,
    pub processed_bytes: i64,
    /// What completion creates (dataset name and options), JSON.
    pub target: Option<String>,
    pub dataset_id: Option<String>,
    pub dataset_version_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartRow {
    pub upload_id: String,
    pub part_number: i64,
    pub blob_id: String,
    pub size_bytes: i64,
    pub created_at: i64,
}

const COLUMNS: &str = "id, organization_id, user_id, filename, bytes, mime_type, status, error, processed_bytes, target, dataset_id, dataset_version_id, created_at, expires_at, completed_at";

pub async fn insert(conn: &mut Conn, u: &UploadRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO uploads ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"))
        .bind(&u.id)
        .bind(&u.organization_id)
        .bind(&u.user_id)
        .bind(&u.filename)
        .bind(u.bytes)
        .bind(&u.mime_type)
        .bind(&u.status)
        .bind(&u.error)
        .bind(u.processed_bytes)
        .bind(&u.target)
        .bind(&u.dataset_id)
        .bind(&u.dataset_version_id)
        .bind(u.created_at)
        .bind(u.expires_at)
        .bind(u.completed_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<UploadRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn list(conn: &mut Conn, org_id: &str, user_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<UploadRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE organization_id = $1 AND user_id = $2 AND id > $3 ORDER BY id LIMIT $4"
    ))
    .bind(org_id)
    .bind(user_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Moves an upload from one status to another; false if it was not in `from`.
pub async fn transition(conn: &mut Conn, id: &str, from: &[&str], to: &str, error: Option<&str>, now_ms: i64) -> Result<bool> {
    let mut done = false;
    for f in from {
        let r = sqlx::query(
            "UPDATE uploads SET status = $3, error = $4, completed_at = CASE WHEN $3 IN ('completed', 'cancelled', 'failed') THEN $5 ELSE completed_at END WHERE id = $1 AND status = $2",
        )
        .bind(id)
        .bind(f)
        .bind(to)
        .bind(error)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
        done |= r.rows_affected() == 1;
    }
    Ok(done)
}

pub async fn set_progress(conn: &mut Conn, id: &str, processed_bytes: i64) -> Result<()> {
    sqlx::query("UPDATE uploads SET processed_bytes = $2 WHERE id = $1").bind(id).bind(processed_bytes).execute(&mut *conn).await?;
    Ok(())
}

pub async fn set_target(conn: &mut Conn, id: &str, target: &str) -> Result<()> {
    sqlx::query("UPDATE uploads SET target = $2 WHERE id = $1").bind(id).bind(target).execute(&mut *conn).await?;
    Ok(())
}

pub async fn set_result(conn: &mut Conn, id: &str, dataset_id: &str, version_id: &str) -> Result<()> {
    sqlx::query("UPDATE uploads SET dataset_id = $2, dataset_version_id = $3 WHERE id = $1")
        .bind(id)
        .bind(dataset_id)
        .bind(version_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Pending uploads whose time ran out, across organizations.
pub async fn expired_pending(conn: &mut Conn, now_ms: i64, limit: i64) -> Result<Vec<UploadRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE status = 'pending' AND expires_at <= $1 ORDER BY id LIMIT $2"))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

/// Uploads left `processing` by a process that stopped.
pub async fn stuck_processing(conn: &mut Conn) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM uploads WHERE status = 'processing'").fetch_all(&mut *conn).await?)
}

/// Adds or replaces a part; returns the blob the part used before, if it was replaced.
pub async fn put_part(conn: &mut Conn, p: &PartRow) -> Result<Option<PartRow>> {
    let previous: Option<PartRow> = sqlx::query_as(
        "SELECT upload_id, part_number, blob_id, size_bytes, created_at FROM upload_parts WHERE upload_id = $1 AND part_number = $2",
    )
    .bind(&p.upload_id)
    .bind(p.part_number)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO upload_parts (upload_id, part_number, blob_id, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET blob_id = excluded.blob_id, size_bytes = excluded.size_bytes, created_at = excluded.created_at",
    )
    .bind(&p.upload_id)
    .bind(p.part_number)
    .bind(&p.blob_id)
    .bind(p.size_bytes)
    .bind(p.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(previous)
}

pub async fn parts(conn: &mut Conn, upload_id: &str) -> Result<Vec<PartRow>> {
    Ok(sqlx::query_as(
        "SELECT upload_id, part_number, blob_id, size_bytes, created_at FROM upload_parts WHERE upload_id = $1 ORDER BY part_number",
    )
    .bind(upload_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Removes the parts of an upload; returns their blob ids.
pub async fn delete_parts(conn: &mut Conn, upload_id: &str) -> Result<Vec<String>> {
    let blobs: Vec<String> =
        sqlx::query_scalar("SELECT blob_id FROM upload_parts WHERE upload_id = $1").bind(upload_id).fetch_all(&mut *conn).await?;
    sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(upload_id).execute(&mut *conn).await?;
    Ok(blobs)
}

/// Storage figures of an organization: (used, reserved, quota or None for the default).
pub async fn storage(conn: &mut Conn, org_id: &str) -> Result<(i64, i64, Option<i64>)> {
    sqlx::query_as("SELECT storage_used_bytes, storage_reserved_bytes, storage_quota_bytes FROM organizations WHERE id = $1")
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Reserves `bytes` of the organization's quota, atomically: false when it would not fit.
/// A single conditional UPDATE, so two concurrent uploads can never both pass the check.
pub async fn reserve(conn: &mut Conn, org_id: &str, bytes: i64, default_quota: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE organizations SET storage_reserved_bytes = storage_reserved_bytes + $2
         WHERE id = $1 AND storage_used_bytes + storage_reserved_bytes + $2 <= COALESCE(storage_quota_bytes, $3)",
    )
    .bind(org_id)
    .bind(bytes)
    .bind(default_quota)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves bytes between reserved and used (negative values release).
pub async fn account(conn: &mut Conn, org_id: &str, reserved_delta: i64, used_delta: i64) -> Result<()> {
    sqlx::query(
        "UPDATE organizations SET storage_reserved_bytes = CASE WHEN storage_reserved_bytes + $2 < 0 THEN 0 ELSE storage_reserved_bytes + $2 END,
             storage_used_bytes = CASE WHEN storage_used_bytes + $3 < 0 THEN 0 ELSE storage_used_bytes + $3 END WHERE id = $1",
    )
    .bind(org_id)
    .bind(reserved_delta)
    .bind(used_delta)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn set_quota(conn: &mut Conn, org_id: &str, quota: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE organizations SET storage_quota_bytes = $2 WHERE id = $1").bind(org_id).bind(quota).execute(&mut *conn).await?;
    Ok(())
}
