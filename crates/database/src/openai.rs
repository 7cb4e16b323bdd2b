//! The OpenAI-compatible fine-tuning facade's own rows: files (which name dataset versions or
//! a job's results) and fine-tuning jobs (which name training jobs once their files validated).

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FileRow {
    pub id: String,
    pub organization_id: String,
    pub purpose: String,
    pub filename: String,
    pub bytes: i64,
    pub dataset_version_id: Option<String>,
    pub job_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

const FILE_COLUMNS: &str = "id, organization_id, purpose, filename, bytes, dataset_version_id, job_id, created_by, created_at";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FineTuningJobRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub created_by: String,
    pub request: String,
    pub status: String,
    pub job_id: Option<String>,
    pub error: Option<String>,
    pub messages: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// Set while paused (its training job stopped with a checkpoint, to be resumed).
    pub paused_at: Option<i64>,
}

const JOB_COLUMNS: &str =
    "id, organization_id, project_id, created_by, request, status, job_id, error, messages, created_at, finished_at, paused_at";

pub async fn insert_file(conn: &mut Conn, f: &FileRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO openai_files ({FILE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
        .bind(&f.id)
        .bind(&f.organization_id)
        .bind(&f.purpose)
        .bind(&f.filename)
        .bind(f.bytes)
        .bind(&f.dataset_version_id)
        .bind(&f.job_id)
        .bind(&f.created_by)
        .bind(f.created_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| crate::conflict_on_unique(e, "the job has a results file"))?;
    Ok(())
}

pub async fn get_file(conn: &mut Conn, organization_id: &str, id: &str) -> Result<FileRow> {
    sqlx::query_as(&format!("SELECT {FILE_COLUMNS} FROM openai_files WHERE organization_id = $1 AND id = $2"))
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// The results file of a training job, if one was made.
pub async fn results_file_of(conn: &mut Conn, organization_id: &str, job_id: &str) -> Result<Option<FileRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {FILE_COLUMNS} FROM openai_files WHERE organization_id = $1 AND job_id = $2 AND purpose = 'fine-tune-results'"
    ))
    .bind(organization_id)
    .bind(job_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Files of an organization by id, `order` "asc" or "desc", after `after` in that order.
pub async fn list_files(
    conn: &mut Conn,
    organization_id: &str,
    purpose: Option<&str>,
    after: Option<&str>,
    ascending: bool,
    limit: i64,
) -> Result<Vec<FileRow>> {
    let (cmp, order) = if ascending { (">", "ASC") } else { ("<", "DESC") };
    Ok(sqlx::query_as(&format!(
        "SELECT {FILE_COLUMNS} FROM openai_files WHERE organization_id = $1 AND ($2 = '' OR purpose = $2) \
         AND ($3 = '' OR id {cmp} $3) ORDER BY id {order} LIMIT $4"
    ))
    .bind(organization_id)
    .bind(purpose.unwrap_or(""))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn delete_file(conn: &mut Conn, organization_id: &str, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM openai_files WHERE organization_id = $1 AND id = $2")
        .bind(organization_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

pub async fn insert_job(conn: &mut Conn, j: &FineTuningJobRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO openai_fine_tuning_jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
        .bind(&j.id)
        .bind(&j.organization_id)
        .bind(&j.project_id)
        .bind(&j.created_by)
        .bind(&j.request)
        .bind(&j.status)
        .bind(&j.job_id)
        .bind(&j.error)
        .bind(&j.messages)
        .bind(j.created_at)
        .bind(j.finished_at)
        .bind(j.paused_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn get_job(conn: &mut Conn, organization_id: &str, id: &str) -> Result<FineTuningJobRow> {
    sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM openai_fine_tuning_jobs WHERE organization_id = $1 AND id = $2"))
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Newest first, after `after` (an id), at most `limit`.
pub async fn list_jobs(conn: &mut Conn, organization_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<FineTuningJobRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM openai_fine_tuning_jobs WHERE organization_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(organization_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Sets where validation ended: the training job it became, or `failed` with its error; and
/// the facade's messages. Only from `validating_files` (false otherwise: cancelled meanwhile).
#[allow(clippy::too_many_arguments)]
pub async fn settle_validation(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    status: &str,
    job_id: Option<&str>,
    error: Option<&str>,
    messages: &str,
    finished_at: Option<i64>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE openai_fine_tuning_jobs SET status = $2, job_id = $3, error = $4, messages = $5, finished_at = $6 \
         WHERE id = $1 AND organization_id = $7 AND status = 'validating_files'",
    )
    .bind(id)
    .bind(status)
    .bind(job_id)
    .bind(error)
    .bind(messages)
    .bind(finished_at)
    .bind(organization_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the stored request (validation adds the hyperparameters it resolved).
pub async fn set_request(conn: &mut Conn, organization_id: &str, id: &str, request: &str) -> Result<()> {
    sqlx::query("UPDATE openai_fine_tuning_jobs SET request = $3 WHERE id = $2 AND organization_id = $1")
        .bind(organization_id)
        .bind(id)
        .bind(request)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks a job paused (`Some(now)`) or no longer paused (`None`); false when it is not there.
pub async fn set_paused(conn: &mut Conn, organization_id: &str, id: &str, paused_at: Option<i64>) -> Result<bool> {
    let done = sqlx::query("UPDATE openai_fine_tuning_jobs SET paused_at = $3 WHERE id = $2 AND organization_id = $1")
        .bind(organization_id)
        .bind(id)
        .bind(paused_at)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What the facade keeps of an OpenAI upload beside the resumable upload of the same id.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UploadRow {
    pub upload_id: String,
    pub organization_id: String,
    pub purpose: String,
    /// The file the upload becomes when completed.
    pub file_id: String,
    /// How many part numbers were handed out.
    pub parts_numbered: i64,
}

pub async fn insert_upload(conn: &mut Conn, u: &UploadRow) -> Result<()> {
    sqlx::query("INSERT INTO openai_uploads (upload_id, organization_id, purpose, file_id, parts_numbered) VALUES ($1, $2, $3, $4, $5)")
        .bind(&u.upload_id)
        .bind(&u.organization_id)
        .bind(&u.purpose)
        .bind(&u.file_id)
        .bind(u.parts_numbered)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The facade's row of a resumable upload, if it was made through `/v1/uploads`.
pub async fn upload_of(conn: &mut Conn, upload_id: &str) -> Result<Option<UploadRow>> {
    Ok(sqlx::query_as("SELECT upload_id, organization_id, purpose, file_id, parts_numbered FROM openai_uploads WHERE upload_id = $1")
        .bind(upload_id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Hands out the next part number of an upload (1, 2, …), atomically: parts sent at the same
/// time get different numbers.
pub async fn next_part_number(conn: &mut Conn, organization_id: &str, upload_id: &str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "UPDATE openai_uploads SET parts_numbered = parts_numbered + 1 WHERE upload_id = $1 AND organization_id = $2 \
         RETURNING parts_numbered",
    )
    .bind(upload_id)
    .bind(organization_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(n)
}

/// Jobs of every organization still `validating_files` (at start: a previous process was
/// validating them), oldest first, at most `limit`.
pub async fn validating_jobs(conn: &mut Conn, limit: i64) -> Result<Vec<FineTuningJobRow>> {
    Ok(sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM openai_fine_tuning_jobs WHERE status = 'validating_files' ORDER BY id LIMIT $1"))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

/// Clears the pause of the fine-tuning job behind training job `job_id` (it was requeued).
pub async fn clear_paused_of_training_job(conn: &mut Conn, job_id: &str) -> Result<()> {
    sqlx::query("UPDATE openai_fine_tuning_jobs SET paused_at = NULL WHERE job_id = $1").bind(job_id).execute(&mut *conn).await?;
    Ok(())
}
