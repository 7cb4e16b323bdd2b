//! Base models: imported weights (each file an encrypted blob) and their architecture figures.
//! A row without an organization is instance-wide (the built-in model) and visible to all.

use crate::{conflict_on_unique, Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BaseModelRow {
    pub id: String,
    pub organization_id: Option<String>,
    pub name: String,
    /// `builtin`, `gguf`, `hub`, `directory` or `archive`.
    pub source_kind: String,
    /// Where it came from: a repo id with its revision, a file name, a path.
    pub source_ref: String,
    /// `importing`, `ready` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub catalog_repo_id: Option<String>,
    /// The `ModelSpec`, JSON, once known.
    pub spec: Option<String>,
    pub parameters: Option<i64>,
    pub license: Option<String>,
    pub chat_template: Option<String>,
    /// JSON list of `{path, blob_id, size_bytes}`.
    pub files: String,
    pub size_bytes: i64,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, organization_id, name, source_kind, source_ref, status, error, catalog_repo_id, spec, parameters, license, chat_template, files, size_bytes, created_by, created_at, updated_at";

pub async fn insert(conn: &mut Conn, m: &BaseModelRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO base_models ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(&m.id)
    .bind(&m.organization_id)
    .bind(&m.name)
    .bind(&m.source_kind)
    .bind(&m.source_ref)
    .bind(&m.status)
    .bind(&m.error)
    .bind(&m.catalog_repo_id)
    .bind(&m.spec)
    .bind(m.parameters)
    .bind(&m.license)
    .bind(&m.chat_template)
    .bind(&m.files)
    .bind(m.size_bytes)
    .bind(&m.created_by)
    .bind(m.created_at)
    .bind(m.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict_on_unique(e, "a base model with this name exists"))?;
    Ok(())
}

/// A base model the organization can see: its own or an instance-wide one.
pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<BaseModelRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM base_models WHERE id = $2 AND (organization_id = $1 OR organization_id IS NULL)"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// A base model by id alone (for the platform's own background work).
pub async fn get_any(conn: &mut Conn, id: &str) -> Result<BaseModelRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM base_models WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// The instance-wide model with this name, if any.
pub async fn instance_model(conn: &mut Conn, name: &str) -> Result<Option<BaseModelRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM base_models WHERE organization_id IS NULL AND name = $1"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn list(conn: &mut Conn, org_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<BaseModelRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM base_models WHERE (organization_id = $1 OR organization_id IS NULL) AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(org_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Records the outcome of an import: status, figures, files, and the pinned source (a hub
/// revision resolved to its commit).
pub async fn finish_import(conn: &mut Conn, m: &BaseModelRow) -> Result<()> {
    sqlx::query(
        "UPDATE base_models SET status = $2, error = $3, spec = $4, parameters = $5, license = $6, chat_template = $7, files = $8, size_bytes = $9,
         catalog_repo_id = $10, updated_at = $11, source_ref = $12 WHERE id = $1",
    )
    .bind(&m.id)
    .bind(&m.status)
    .bind(&m.error)
    .bind(&m.spec)
    .bind(m.parameters)
    .bind(&m.license)
    .bind(&m.chat_template)
    .bind(&m.files)
    .bind(m.size_bytes)
    .bind(&m.catalog_repo_id)
    .bind(m.updated_at)
    .bind(&m.source_ref)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Imports a stopped process left unfinished.
pub async fn importing(conn: &mut Conn) -> Result<Vec<BaseModelRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM base_models WHERE status = 'importing'")).fetch_all(&mut *conn).await?)
}

/// Deletes an organization's base model that no job uses; returns its files JSON.
pub async fn delete(conn: &mut Conn, org_id: &str, id: &str) -> Result<String> {
    let files: String = sqlx::query_scalar("SELECT files FROM base_models WHERE organization_id = $1 AND id = $2")
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)?;
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE base_model_id = $1").bind(id).fetch_one(&mut *conn).await?;
    if used > 0 {
        return Err(Error::Conflict(format!("the base model is used by {used} training job(s)")));
    }
    sqlx::query("DELETE FROM throughput_measurements WHERE base_model_id = $1").bind(id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM base_models WHERE organization_id = $1 AND id = $2").bind(org_id).bind(id).execute(&mut *conn).await?;
    Ok(files)
}

/// The latest measured training speed of a model with a method, per device type and precision:
/// (device type, precision, tokens per second).
pub async fn measured_throughputs(conn: &mut Conn, base_model_id: &str, method: &str) -> Result<Vec<(String, String, f64)>> {
    Ok(sqlx::query_as(
        "SELECT device_type, precision, tokens_per_second FROM throughput_measurements WHERE base_model_id = $1 AND method = $2",
    )
    .bind(base_model_id)
    .bind(method)
    .fetch_all(&mut *conn)
    .await?)
}

/// What a finished job measured: its model, device type, method and precision (the key), and
/// its speed.
pub struct Throughput<'a> {
    pub base_model_id: &'a str,
    pub device_type: &'a str,
    pub method: &'a str,
    pub precision: &'a str,
    pub tokens_per_second: f64,
}

/// Records a finished job's speed, replacing the earlier figure for the same key.
pub async fn record_throughput(conn: &mut Conn, t: &Throughput<'_>, job_id: &str, now_ms: i64) -> Result<()> {
    sqlx::query("DELETE FROM throughput_measurements WHERE base_model_id = $1 AND device_type = $2 AND method = $3 AND precision = $4")
        .bind(t.base_model_id)
        .bind(t.device_type)
        .bind(t.method)
        .bind(t.precision)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO throughput_measurements (base_model_id, device_type, method, precision, tokens_per_second, job_id, measured_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(t.base_model_id)
    .bind(t.device_type)
    .bind(t.method)
    .bind(t.precision)
    .bind(t.tokens_per_second)
    .bind(job_id)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
