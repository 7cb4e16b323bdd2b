//! Fine-tuned models: the output of a finished job, with its experiment record.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ModelRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub base_model_id: String,
    pub job_id: String,
    pub dataset_version_id: String,
    /// `adapter` (LoRA family) or `full`.
    pub kind: String,
    /// JSON list of `{path, blob_id, size_bytes}`.
    pub files: String,
    pub size_bytes: i64,
    /// The job's `TrainingConfig`, JSON.
    pub config: String,
    /// Final figures (loss, eval loss, steps, tokens, seconds), JSON.
    pub metrics: String,
    pub created_by: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, organization_id, project_id, name, base_model_id, job_id, dataset_version_id, kind, files, size_bytes, config, metrics, created_by, created_at";

pub async fn insert(conn: &mut Conn, m: &ModelRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO models ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"))
        .bind(&m.id)
        .bind(&m.organization_id)
        .bind(&m.project_id)
        .bind(&m.name)
        .bind(&m.base_model_id)
        .bind(&m.job_id)
        .bind(&m.dataset_version_id)
        .bind(&m.kind)
        .bind(&m.files)
        .bind(m.size_bytes)
        .bind(&m.config)
        .bind(&m.metrics)
        .bind(&m.created_by)
        .bind(m.created_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<ModelRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM models WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn list(conn: &mut Conn, org_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<ModelRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE organization_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(org_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Models trained on a dataset version (lineage).
pub async fn using_dataset_version(conn: &mut Conn, org_id: &str, version_id: &str) -> Result<Vec<ModelRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM models WHERE organization_id = $1 AND dataset_version_id = $2 ORDER BY id"))
        .bind(org_id)
        .bind(version_id)
        .fetch_all(&mut *conn)
        .await?)
}

/// Deletes a fine-tuned model; returns its file manifest (JSON) for releasing its blobs.
pub async fn delete(conn: &mut Conn, org_id: &str, id: &str) -> Result<String> {
    let (files,): (String,) = sqlx::query_as("DELETE FROM models WHERE organization_id = $1 AND id = $2 RETURNING files")
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(files)
}
