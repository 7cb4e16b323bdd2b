//! Traffic splits (online A/B tests): a name clients call, split across deployments by weight.

use crate::{conflict_on_unique, Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SplitRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    /// JSON list of `{deployment_id, weight}`.
    pub variants: String,
    /// `none`, `user` or `key`.
    pub sticky: String,
    pub active: i64,
    /// JSON: the gate newly promoted variants must pass, or NULL.
    pub gate: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, organization_id, project_id, name, variants, sticky, active, gate, created_by, created_at, updated_at";

pub async fn insert(conn: &mut Conn, s: &SplitRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO traffic_splits ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
        .bind(&s.id)
        .bind(&s.organization_id)
        .bind(&s.project_id)
        .bind(&s.name)
        .bind(&s.variants)
        .bind(&s.sticky)
        .bind(s.active)
        .bind(&s.gate)
        .bind(&s.created_by)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_on_unique(e, "a traffic split with this name exists in the organization"))?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<SplitRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM traffic_splits WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn by_name(conn: &mut Conn, org_id: &str, name: &str) -> Result<Option<SplitRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM traffic_splits WHERE organization_id = $1 AND name = $2"))
        .bind(org_id)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn list(conn: &mut Conn, org_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<SplitRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM traffic_splits WHERE organization_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(org_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn lock(conn: &mut Conn, id: &str) -> Result<()> {
    let done = sqlx::query("UPDATE traffic_splits SET id = id WHERE id = $1").bind(id).execute(&mut *conn).await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

pub async fn update(conn: &mut Conn, s: &SplitRow) -> Result<()> {
    sqlx::query("UPDATE traffic_splits SET variants = $2, sticky = $3, active = $4, updated_at = $5, gate = $6 WHERE id = $1")
        .bind(&s.id)
        .bind(&s.variants)
        .bind(&s.sticky)
        .bind(s.active)
        .bind(s.updated_at)
        .bind(&s.gate)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM traffic_splits WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}

/// Whether a deployment is a variant of some split (it is not deleted while one is).
pub async fn using_deployment(conn: &mut Conn, org_id: &str, deployment_id: &str) -> Result<Vec<SplitRow>> {
    let pattern = format!("%\"{deployment_id}\"%");
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM traffic_splits WHERE organization_id = $1 AND variants LIKE $2 ORDER BY id"))
        .bind(org_id)
        .bind(pattern)
        .fetch_all(&mut *conn)
        .await?)
}
