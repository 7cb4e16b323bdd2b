//! Deployments: a model served behind the gateway, with its event stream.

use crate::{conflict_on_unique, Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeploymentRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub base_model_id: Option<String>,
    pub model_id: Option<String>,
    /// `local` or `external`.
    pub backend: String,
    pub endpoint_url: Option<String>,
    pub endpoint_model: Option<String>,
    /// Sealed (see `services::crypto`), never the key itself.
    pub endpoint_key: Option<String>,
    pub replicas: i64,
    pub idle_timeout_s: Option<i64>,
    /// Generation defaults, JSON.
    pub defaults: String,
    pub state: String,
    pub error: Option<String>,
    pub last_request_at: Option<i64>,
    /// Whether requests and answers are logged (masked, sealed): 0 or 1.
    pub log_requests: i64,
    /// A training checkpoint served as an adapter over `base_model_id` (`model_id` is NULL).
    pub checkpoint_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, organization_id, project_id, name, base_model_id, model_id, backend, endpoint_url, endpoint_model, endpoint_key, replicas, idle_timeout_s, defaults, state, error, last_request_at, log_requests, checkpoint_id, created_by, created_at, updated_at";

pub async fn insert(conn: &mut Conn, d: &DeploymentRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO deployments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
    ))
    .bind(&d.id)
    .bind(&d.organization_id)
    .bind(&d.project_id)
    .bind(&d.name)
    .bind(&d.base_model_id)
    .bind(&d.model_id)
    .bind(&d.backend)
    .bind(&d.endpoint_url)
    .bind(&d.endpoint_model)
    .bind(&d.endpoint_key)
    .bind(d.replicas)
    .bind(d.idle_timeout_s)
    .bind(&d.defaults)
    .bind(&d.state)
    .bind(&d.error)
    .bind(d.last_request_at)
    .bind(d.log_requests)
    .bind(&d.checkpoint_id)
    .bind(&d.created_by)
    .bind(d.created_at)
    .bind(d.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict_on_unique(e, "a deployment with this name exists in the organization"))?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<DeploymentRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn get_any(conn: &mut Conn, id: &str) -> Result<DeploymentRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// The deployment a request's `model` names: by deployment name in the organization.
pub async fn by_name(conn: &mut Conn, org_id: &str, name: &str) -> Result<DeploymentRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE organization_id = $1 AND name = $2"))
        .bind(org_id)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Takes the row lock (a no-op update) inside a write transaction.
pub async fn lock(conn: &mut Conn, id: &str) -> Result<()> {
    let done = sqlx::query("UPDATE deployments SET id = id WHERE id = $1").bind(id).execute(&mut *conn).await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

pub async fn list(conn: &mut Conn, org_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<DeploymentRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deployments WHERE organization_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(org_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Every deployment of every organization that wants replicas (for the server's supervisor).
pub async fn wanted(conn: &mut Conn) -> Result<Vec<DeploymentRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE replicas > 0 ORDER BY id")).fetch_all(&mut *conn).await?)
}

/// Local deployments of a model in the organization: a fine-tuned one (`mdl_…`), a checkpoint
/// (`ckpt_…`) or a base model itself (`bm_…`), oldest first.
pub async fn of_model(conn: &mut Conn, org_id: &str, model: &str) -> Result<Vec<DeploymentRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deployments WHERE organization_id = $1 AND backend = 'local' AND (model_id = $2 OR checkpoint_id = $2 OR (model_id IS NULL AND checkpoint_id IS NULL AND base_model_id = $2)) ORDER BY id"
    ))
    .bind(org_id)
    .bind(model)
    .fetch_all(&mut *conn)
    .await?)
}

/// Deployments serving a fine-tuned model (deleted with it).
pub async fn serving_model(conn: &mut Conn, model_id: &str) -> Result<Vec<DeploymentRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE model_id = $1 ORDER BY id"))
        .bind(model_id)
        .fetch_all(&mut *conn)
        .await?)
}

/// Writes the fields a lifecycle change may touch.
pub async fn update(conn: &mut Conn, d: &DeploymentRow) -> Result<()> {
    sqlx::query(
        "UPDATE deployments SET replicas = $2, idle_timeout_s = $3, defaults = $4, state = $5, error = $6, last_request_at = $7, updated_at = $8, log_requests = $9 WHERE id = $1",
    )
    .bind(&d.id)
    .bind(d.replicas)
    .bind(d.idle_timeout_s)
    .bind(&d.defaults)
    .bind(&d.state)
    .bind(&d.error)
    .bind(d.last_request_at)
    .bind(d.updated_at)
    .bind(d.log_requests)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records that requests arrived (for scale to zero); only ever moves forward.
pub async fn touch(conn: &mut Conn, id: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE deployments SET last_request_at = $2 WHERE id = $1 AND (last_request_at IS NULL OR last_request_at < $2)")
        .bind(id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM deployments WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeploymentEventRow {
    pub deployment_id: String,
    pub seq: i64,
    pub kind: String,
    pub time: i64,
    /// The event's fields, JSON.
    pub data: String,
}

/// Appends an event with the next sequence number (the row is locked first, so concurrent
/// appends take turns).
pub async fn append_event(conn: &mut Conn, deployment_id: &str, kind: &str, time: i64, data: &str) -> Result<i64> {
    lock(conn, deployment_id).await?;
    let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM deployment_events WHERE deployment_id = $1")
        .bind(deployment_id)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO deployment_events (deployment_id, seq, kind, time, data) VALUES ($1, $2, $3, $4, $5)")
        .bind(deployment_id)
        .bind(seq)
        .bind(kind)
        .bind(time)
        .bind(data)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

/// Events after a sequence number, in order.
pub async fn events(conn: &mut Conn, deployment_id: &str, after_seq: i64, limit: i64) -> Result<Vec<DeploymentEventRow>> {
    Ok(sqlx::query_as(
        "SELECT deployment_id, seq, kind, time, data FROM deployment_events WHERE deployment_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(deployment_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
