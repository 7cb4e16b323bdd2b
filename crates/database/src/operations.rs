//! Long-running work on a dataset (applying a recipe), observable while it runs.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OperationRow {
    pub id: String,
    pub organization_id: String,
    pub dataset_id: String,
    /// `preprocess`.
    pub kind: String,
    /// running, completed or failed.
    pub status: String,
    pub from_version: i64,
    /// The recipe, JSON.
    pub recipe: String,
    pub version_id: Option<String>,
    pub validation_dataset_id: Option<String>,
    /// The step-by-step report: an encrypted blob (its examples quote records).
    pub report_blob_id: Option<String>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, organization_id, dataset_id, kind, status, from_version, recipe, version_id, validation_dataset_id, report_blob_id, error, created_by, created_at, finished_at";

pub async fn insert(conn: &mut Conn, o: &OperationRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO dataset_operations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL, NULL, $8, $9, NULL)"
    ))
    .bind(&o.id)
    .bind(&o.organization_id)
    .bind(&o.dataset_id)
    .bind(&o.kind)
    .bind(&o.status)
    .bind(o.from_version)
    .bind(&o.recipe)
    .bind(&o.created_by)
    .bind(o.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, dataset_id: &str, id: &str) -> Result<OperationRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM dataset_operations WHERE organization_id = $1 AND dataset_id = $2 AND id = $3"))
        .bind(org_id)
        .bind(dataset_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Records how a running operation ended; false if it was not running.
pub async fn finish(conn: &mut Conn, o: &OperationRow, now_ms: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE dataset_operations SET status = $2, version_id = $3, validation_dataset_id = $4, report_blob_id = $5, error = $6, finished_at = $7
         WHERE id = $1 AND status = 'running'",
    )
    .bind(&o.id)
    .bind(&o.status)
    .bind(&o.version_id)
    .bind(&o.validation_dataset_id)
    .bind(&o.report_blob_id)
    .bind(&o.error)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Operations a stopped process left running.
pub async fn running(conn: &mut Conn) -> Result<Vec<OperationRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM dataset_operations WHERE status = 'running'")).fetch_all(&mut *conn).await?)
}
