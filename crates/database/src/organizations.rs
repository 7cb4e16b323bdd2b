//! Organizations (tenants).

use crate::{conflict_on_unique, flag, Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub open_registration: i64,
    pub default_role: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Inference limits across the organization (None: no limit).
    pub inference_requests_per_minute: Option<i64>,
    pub inference_tokens_per_minute: Option<i64>,
}

impl OrganizationRow {
    pub fn open_registration(&self) -> bool {
        flag(self.open_registration)
    }
}

const COLUMNS: &str =
    "id, name, open_registration, default_role, created_at, updated_at, inference_requests_per_minute, inference_tokens_per_minute";

pub async fn insert(conn: &mut Conn, row: &OrganizationRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO organizations (id, name, open_registration, default_role, created_at, updated_at, inference_requests_per_minute, inference_tokens_per_minute) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(&row.name)
    .bind(row.open_registration)
    .bind(&row.default_role)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(row.inference_requests_per_minute)
    .bind(row.inference_tokens_per_minute)
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict_on_unique(e, "an organization with this name exists"))?;
    Ok(())
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<OrganizationRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM organizations WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn list(conn: &mut Conn, after: Option<&str>, limit: i64) -> Result<Vec<OrganizationRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM organizations WHERE id > $1 ORDER BY id LIMIT $2"))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn update(conn: &mut Conn, row: &OrganizationRow) -> Result<()> {
    let done = sqlx::query(
        "UPDATE organizations SET name = $2, open_registration = $3, default_role = $4, updated_at = $5, inference_requests_per_minute = $6, inference_tokens_per_minute = $7 WHERE id = $1",
    )
        .bind(&row.id)
        .bind(&row.name)
        .bind(row.open_registration)
        .bind(&row.default_role)
        .bind(row.updated_at)
        .bind(row.inference_requests_per_minute)
        .bind(row.inference_tokens_per_minute)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_on_unique(e, "an organization with this name exists"))?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
