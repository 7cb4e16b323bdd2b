//! Datasets and their immutable versions.

use crate::{conflict_on_unique, Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DatasetRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub description: String,
    pub visibility: String,
    pub created_by: String,
    pub latest_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub id: String,
    pub dataset_id: String,
    pub organization_id: String,
    pub version: i64,
    pub blob_id: String,
    pub size_bytes: i64,
    pub filename: String,
    /// The format specification, JSON.
    pub format: String,
    pub parent_version_id: Option<String>,
    /// The recipe that produced this version from its parent, JSON.
    pub recipe: Option<String>,
    /// The deployment whose logged conversations this version was exported from.
    pub source_deployment_id: Option<String>,
    pub records: i64,
    pub valid_records: i64,
    pub invalid_records: i64,
    /// Counts per error code, JSON (no content of the data).
    pub error_counts: String,
    /// The full validation and statistics report: an encrypted blob (it quotes the data).
    pub report_blob_id: String,
    pub created_by: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, organization_id, project_id, name, description, visibility, created_by, latest_version, created_at, updated_at";
const VERSION_COLUMNS: &str = "id, dataset_id, organization_id, version, blob_id, size_bytes, filename, format, parent_version_id, recipe, records, valid_records, invalid_records, error_counts, report_blob_id, created_by, created_at, source_deployment_id";

pub async fn insert(conn: &mut Conn, d: &DatasetRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO datasets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
        .bind(&d.id)
        .bind(&d.organization_id)
        .bind(&d.project_id)
        .bind(&d.name)
        .bind(&d.description)
        .bind(&d.visibility)
        .bind(&d.created_by)
        .bind(d.latest_version)
        .bind(d.created_at)
        .bind(d.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_on_unique(e, "a dataset with this name exists in the organization"))?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<DatasetRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM datasets WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn list(conn: &mut Conn, org_id: &str, project_id: Option<&str>, after: Option<&str>, limit: i64) -> Result<Vec<DatasetRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM datasets WHERE organization_id = $1 AND ($2 = '' OR project_id = $2) AND id > $3 ORDER BY id LIMIT $4"
    ))
    .bind(org_id)
    .bind(project_id.unwrap_or(""))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn update(conn: &mut Conn, d: &DatasetRow) -> Result<()> {
    let done = sqlx::query(
        "UPDATE datasets SET name = $3, description = $4, visibility = $5, updated_at = $6 WHERE organization_id = $1 AND id = $2",
    )
    .bind(&d.organization_id)
    .bind(&d.id)
    .bind(&d.name)
    .bind(&d.description)
    .bind(&d.visibility)
    .bind(d.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict_on_unique(e, "a dataset with this name exists in the organization"))?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Deletes a dataset with its versions and shares; returns the blob ids its versions used.
pub async fn delete(conn: &mut Conn, org_id: &str, id: &str) -> Result<Vec<String>> {
    let used: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE organization_id = $1 AND (dataset_version_id IN (SELECT id FROM dataset_versions WHERE dataset_id = $2)
            OR validation_version_id IN (SELECT id FROM dataset_versions WHERE dataset_id = $2))",
    )
    .bind(org_id)
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    if used > 0 {
        return Err(Error::Conflict(format!("the dataset's versions are used by {used} training job(s); their lineage must stay intact")));
    }
    let pairs: Vec<(String, String)> =
        sqlx::query_as("SELECT blob_id, report_blob_id FROM dataset_versions WHERE organization_id = $1 AND dataset_id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let mut blobs: Vec<String> = pairs.into_iter().flat_map(|(a, b)| [a, b]).collect();
    let reports: Vec<Option<String>> =
        sqlx::query_scalar("SELECT report_blob_id FROM dataset_operations WHERE organization_id = $1 AND dataset_id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    blobs.extend(reports.into_iter().flatten());
    sqlx::query("DELETE FROM dataset_operations WHERE organization_id = $1 AND dataset_id = $2")
        .bind(org_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM dataset_shares WHERE dataset_id = $1").bind(id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM dataset_versions WHERE organization_id = $1 AND dataset_id = $2")
        .bind(org_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM datasets WHERE organization_id = $1 AND id = $2").bind(org_id).bind(id).execute(&mut *conn).await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(blobs)
}

pub async fn count_in_project(conn: &mut Conn, org_id: &str, project_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM datasets WHERE organization_id = $1 AND project_id = $2")
        .bind(org_id)
        .bind(project_id)
        .fetch_one(&mut *conn)
        .await?)
}

pub async fn shared_with(conn: &mut Conn, dataset_id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT user_id FROM dataset_shares WHERE dataset_id = $1 ORDER BY user_id")
        .bind(dataset_id)
        .fetch_all(&mut *conn)
        .await?)
}

/// Replaces the users a dataset is shared with.
pub async fn set_shares(conn: &mut Conn, dataset_id: &str, users: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM dataset_shares WHERE dataset_id = $1").bind(dataset_id).execute(&mut *conn).await?;
    for u in users {
        sqlx::query("INSERT INTO dataset_shares (dataset_id, user_id) VALUES ($1, $2)")
            .bind(dataset_id)
            .bind(u)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Takes the next version number of a dataset (locking its row until the transaction ends).
pub async fn next_version(conn: &mut Conn, org_id: &str, dataset_id: &str, now_ms: i64) -> Result<i64> {
    sqlx::query_scalar(
        "UPDATE datasets SET latest_version = latest_version + 1, updated_at = $3 WHERE organization_id = $1 AND id = $2 RETURNING latest_version",
    )
    .bind(org_id)
    .bind(dataset_id)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound)
}

pub async fn insert_version(conn: &mut Conn, v: &VersionRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO dataset_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    ))
    .bind(&v.id)
    .bind(&v.dataset_id)
    .bind(&v.organization_id)
    .bind(v.version)
    .bind(&v.blob_id)
    .bind(v.size_bytes)
    .bind(&v.filename)
    .bind(&v.format)
    .bind(&v.parent_version_id)
    .bind(&v.recipe)
    .bind(v.records)
    .bind(v.valid_records)
    .bind(v.invalid_records)
    .bind(&v.error_counts)
    .bind(&v.report_blob_id)
    .bind(&v.created_by)
    .bind(v.created_at)
    .bind(&v.source_deployment_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn version(conn: &mut Conn, org_id: &str, dataset_id: &str, version: i64) -> Result<VersionRow> {
    sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE organization_id = $1 AND dataset_id = $2 AND version = $3"
    ))
    .bind(org_id)
    .bind(dataset_id)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound)
}

pub async fn version_by_id(conn: &mut Conn, org_id: &str, id: &str) -> Result<VersionRow> {
    sqlx::query_as(&format!("SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Versions of a dataset, oldest first, after version number `after`.
pub async fn versions(conn: &mut Conn, org_id: &str, dataset_id: &str, after: i64, limit: i64) -> Result<Vec<VersionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE organization_id = $1 AND dataset_id = $2 AND version > $3 ORDER BY version LIMIT $4"
    ))
    .bind(org_id)
    .bind(dataset_id)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Sets the parent and recipe of a version made from another dataset's version (a split).
pub async fn set_parent(conn: &mut Conn, org_id: &str, version_id: &str, parent_id: &str, recipe: &str) -> Result<()> {
    sqlx::query("UPDATE dataset_versions SET parent_version_id = $3, recipe = $4 WHERE organization_id = $1 AND id = $2")
        .bind(org_id)
        .bind(version_id)
        .bind(parent_id)
        .bind(recipe)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Versions derived from `version_id` (its children), in any dataset of the organization.
pub async fn children(conn: &mut Conn, org_id: &str, version_id: &str) -> Result<Vec<VersionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE organization_id = $1 AND parent_version_id = $2 ORDER BY id"
    ))
    .bind(org_id)
    .bind(version_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Whether any dataset version, upload part, report, model file or checkpoint file still uses
/// a blob (blobs are shared by content). File lists are JSON; blob ids are hex, so `LIKE` is exact.
pub async fn blob_in_use(conn: &mut Conn, blob_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM dataset_versions WHERE blob_id = $1 OR report_blob_id = $1) + (SELECT COUNT(*) FROM upload_parts WHERE blob_id = $1)
            + (SELECT COUNT(*) FROM dataset_operations WHERE report_blob_id = $1)
            + (SELECT COUNT(*) FROM base_models WHERE files LIKE '%' || $1 || '%') + (SELECT COUNT(*) FROM models WHERE files LIKE '%' || $1 || '%')
            + (SELECT COUNT(*) FROM job_checkpoints WHERE files LIKE '%' || $1 || '%')
            + (SELECT COUNT(*) FROM base_models WHERE status = 'importing' AND source_kind = 'upload' AND source_ref LIKE 'sha256:' || $1 || '/%')",
    )
    .bind(blob_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}
