//! Annotation tasks over a dataset version and their per-record annotations.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: String,
    pub organization_id: String,
    pub dataset_id: String,
    pub version_id: String,
    pub name: String,
    pub instructions: String,
    /// The labels annotators choose from, JSON array.
    pub labels: String,
    /// The annotators' user ids, JSON array (records are shared among them round-robin).
    pub assignees: String,
    /// Records of the version (valid or not), indexed 0..records.
    pub records: i64,
    /// `open`, `completing` or `completed`.
    pub state: String,
    pub result_version_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AnnotationRow {
    pub task_id: String,
    pub record_index: i64,
    pub annotator_id: String,
    /// JSON array.
    pub labels: String,
    pub flagged: i64,
    pub note: String,
    /// The corrected record in canonical form (JSON); None: unchanged.
    pub record: Option<String>,
    pub updated_at: i64,
}

const TASK_COLUMNS: &str =
    "id, organization_id, dataset_id, version_id, name, instructions, labels, assignees, records, state, result_version_id, created_by, created_at, updated_at";
const COLUMNS: &str = "task_id, record_index, annotator_id, labels, flagged, note, record, updated_at";

pub async fn insert_task(conn: &mut Conn, t: &TaskRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO annotation_tasks ({TASK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    ))
    .bind(&t.id)
    .bind(&t.organization_id)
    .bind(&t.dataset_id)
    .bind(&t.version_id)
    .bind(&t.name)
    .bind(&t.instructions)
    .bind(&t.labels)
    .bind(&t.assignees)
    .bind(t.records)
    .bind(&t.state)
    .bind(&t.result_version_id)
    .bind(&t.created_by)
    .bind(t.created_at)
    .bind(t.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn task(conn: &mut Conn, org_id: &str, id: &str) -> Result<TaskRow> {
    sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM annotation_tasks WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// A dataset's tasks, newest first.
pub async fn tasks_of_dataset(conn: &mut Conn, org_id: &str, dataset_id: &str) -> Result<Vec<TaskRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TASK_COLUMNS} FROM annotation_tasks WHERE organization_id = $1 AND dataset_id = $2 ORDER BY created_at DESC, id"
    ))
    .bind(org_id)
    .bind(dataset_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Moves a task from state `from` to `to` (and sets its result); false when it was not in `from`.
pub async fn set_state(conn: &mut Conn, id: &str, from: &str, to: &str, result_version_id: Option<&str>, now: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE annotation_tasks SET state = $3, result_version_id = $4, updated_at = $5 WHERE id = $1 AND state = $2")
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(result_version_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete_task(conn: &mut Conn, org_id: &str, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM annotation_tasks WHERE organization_id = $1 AND id = $2")
        .bind(org_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn upsert(conn: &mut Conn, a: &AnnotationRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO annotations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (task_id, record_index) DO UPDATE SET annotator_id = $3, labels = $4, flagged = $5, note = $6, record = $7, updated_at = $8"
    ))
    .bind(&a.task_id)
    .bind(a.record_index)
    .bind(&a.annotator_id)
    .bind(&a.labels)
    .bind(a.flagged)
    .bind(&a.note)
    .bind(&a.record)
    .bind(a.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A task's annotations of records `from..to`, by index.
pub async fn in_range(conn: &mut Conn, task_id: &str, from: i64, to: i64) -> Result<Vec<AnnotationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM annotations WHERE task_id = $1 AND record_index >= $2 AND record_index < $3 ORDER BY record_index"
    ))
    .bind(task_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?)
}

/// What a task's progress counts of one annotation, without its corrected record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AnnotationSummary {
    pub record_index: i64,
    /// JSON array.
    pub labels: String,
    pub flagged: i64,
    /// 1 when the record was corrected.
    pub edited: i64,
}

/// Every annotation of a task as its progress counts it, by index.
pub async fn summaries(conn: &mut Conn, task_id: &str) -> Result<Vec<AnnotationSummary>> {
    Ok(sqlx::query_as(
        "SELECT record_index, labels, flagged, CAST(CASE WHEN record IS NULL THEN 0 ELSE 1 END AS BIGINT) AS edited \
         FROM annotations WHERE task_id = $1 ORDER BY record_index",
    )
    .bind(task_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Every annotation of a task, by index.
pub async fn all(conn: &mut Conn, task_id: &str) -> Result<Vec<AnnotationRow>> {
    in_range(conn, task_id, 0, i64::MAX).await
}
