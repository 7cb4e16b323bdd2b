//! Configuration templates of fine-tuning jobs, per project.

use crate::{conflict_on_unique, Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobTemplateRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub base_model_id: Option<String>,
    /// The training configuration as jobs store theirs (JSON with its schema version).
    pub config: String,
    /// The resource request, JSON.
    pub resources: String,
    pub max_restarts: Option<i64>,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, organization_id, project_id, name, description, base_model_id, config, resources, max_restarts, created_by, updated_by, created_at, updated_at";

/// A name already used in the project is `Conflict`.
pub async fn insert(conn: &mut Conn, t: &JobTemplateRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO job_templates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"))
        .bind(&t.id)
        .bind(&t.organization_id)
        .bind(&t.project_id)
        .bind(&t.name)
        .bind(&t.description)
        .bind(&t.base_model_id)
        .bind(&t.config)
        .bind(&t.resources)
        .bind(t.max_restarts)
        .bind(&t.created_by)
        .bind(&t.updated_by)
        .bind(t.created_at)
        .bind(t.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_on_unique(e, "a template with this name already exists in the project"))?;
    Ok(())
}

/// Replaces everything but the project and the creation; a name already used in the project is `Conflict`.
pub async fn update(conn: &mut Conn, t: &JobTemplateRow) -> Result<()> {
    let done = sqlx::query(
        "UPDATE job_templates SET name = $3, description = $4, base_model_id = $5, config = $6, resources = $7, max_restarts = $8,
         updated_by = $9, updated_at = $10 WHERE organization_id = $1 AND id = $2",
    )
    .bind(&t.organization_id)
    .bind(&t.id)
    .bind(&t.name)
    .bind(&t.description)
    .bind(&t.base_model_id)
    .bind(&t.config)
    .bind(&t.resources)
    .bind(t.max_restarts)
    .bind(&t.updated_by)
    .bind(t.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict_on_unique(e, "a template with this name already exists in the project"))?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<JobTemplateRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_templates WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// The project's templates by name.
pub async fn of_project(conn: &mut Conn, org_id: &str, project_id: &str) -> Result<Vec<JobTemplateRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_templates WHERE organization_id = $1 AND project_id = $2 ORDER BY name, id"))
        .bind(org_id)
        .bind(project_id)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn count_in_project(conn: &mut Conn, project_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM job_templates WHERE project_id = $1").bind(project_id).fetch_one(&mut *conn).await?)
}

pub async fn delete(conn: &mut Conn, org_id: &str, id: &str) -> Result<bool> {
    let done =
        sqlx::query("DELETE FROM job_templates WHERE organization_id = $1 AND id = $2").bind(org_id).bind(id).execute(&mut *conn).await?;
    Ok(done.rows_affected() > 0)
}
