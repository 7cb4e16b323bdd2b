//! Training jobs, their ordered event stream and their checkpoints.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub created_by: String,
    pub base_model_id: String,
    pub dataset_version_id: String,
    pub validation_version_id: Option<String>,
    /// The `TrainingConfig`, JSON.
    pub config: String,
    /// `auto`, `cpu`, `cuda` or `mps`.
    pub device: String,
    /// The estimate made at submission, JSON.
    pub estimate: String,
    pub state: String,
    /// Runs started so far minus one (0 on the first run).
    pub attempt: i64,
    pub max_restarts: i64,
    pub resume_checkpoint_id: Option<String>,
    pub cancel_requested: i64,
    pub current_step: i64,
    pub total_steps: Option<i64>,
    pub latest_loss: Option<f64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub error_hint: Option<String>,
    pub model_id: Option<String>,
    pub runner_pid: Option<i64>,
    pub runner_instance: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
    /// The resource request (GPU type, count, memory, maximum duration, spot, priority), JSON;
    /// fixed at submission.
    pub resources: String,
    /// Times the scheduler preempted the job.
    pub preemptions: i64,
    /// The jobs that preempted it (JSON array of ids): it never preempts them back.
    pub preempted_by: String,
    /// A stop the scheduler decided for the running job: `preempted:<job id>` or `max_duration`.
    pub stopping: Option<String>,
}

const INSERT_COLUMNS: &str = "id, organization_id, project_id, name, created_by, base_model_id, dataset_version_id, validation_version_id, config, device, estimate, state, attempt, max_restarts, resume_checkpoint_id, cancel_requested, current_step, total_steps, latest_loss, error_code, error_message, error_hint, model_id, runner_pid, runner_instance, created_at, started_at, finished_at, updated_at, resources, preemptions, preempted_by, stopping";
/// What reads select: a loss stored as NaN (see `update`) reads back as NULL.
const COLUMNS: &str = "id, organization_id, project_id, name, created_by, base_model_id, dataset_version_id, validation_version_id, config, device, estimate, state, attempt, max_restarts, resume_checkpoint_id, cancel_requested, current_step, total_steps, NULLIF(latest_loss, 'NaN') AS latest_loss, error_code, error_message, error_hint, model_id, runner_pid, runner_instance, created_at, started_at, finished_at, updated_at, resources, preemptions, preempted_by, stopping";

pub async fn insert(conn: &mut Conn, j: &JobRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO jobs ({INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, $14, NULL, NULL, $14, $15, 0, '[]', NULL)"))
    .bind(&j.id)
    .bind(&j.organization_id)
    .bind(&j.project_id)
    .bind(&j.name)
    .bind(&j.created_by)
    .bind(&j.base_model_id)
    .bind(&j.dataset_version_id)
    .bind(&j.validation_version_id)
    .bind(&j.config)
    .bind(&j.device)
    .bind(&j.estimate)
    .bind(&j.state)
    .bind(j.max_restarts)
    .bind(j.created_at)
    .bind(&j.resources)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<JobRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// A job by id alone, for the executor (which works for every organization).
pub async fn get_any(conn: &mut Conn, id: &str) -> Result<JobRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1")).bind(id).fetch_optional(&mut *conn).await?.ok_or(Error::NotFound)
}

/// Locks the job's row for the rest of the transaction (a no-op update).
pub async fn lock(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("UPDATE jobs SET updated_at = updated_at WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}

pub async fn list(conn: &mut Conn, org_id: &str, state: Option<&str>, after: Option<&str>, limit: i64) -> Result<Vec<JobRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE organization_id = $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(org_id)
    .bind(state.unwrap_or(""))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Jobs in a state, oldest first (the FIFO queue order).
pub async fn in_state(conn: &mut Conn, state: &str, limit: i64) -> Result<Vec<JobRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE state = $1 ORDER BY created_at, id LIMIT $2"))
        .bind(state)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn count_in_states(conn: &mut Conn, states: &[&str]) -> Result<i64> {
    let mut n = 0;
    for s in states {
        let c: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = $1").bind(*s).fetch_one(&mut *conn).await?;
        n += c;
    }
    Ok(n)
}

/// Writes every mutable field of a job back (the caller holds the row lock and checked the
/// state transition).
pub async fn update(conn: &mut Conn, j: &JobRow) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = $2, attempt = $3, resume_checkpoint_id = $4, cancel_requested = $5, current_step = $6, total_steps = $7,
         latest_loss = $8, error_code = $9, error_message = $10, error_hint = $11, model_id = $12, runner_pid = $13, runner_instance = $14,
         started_at = $15, finished_at = $16, updated_at = $17, preemptions = $18, preempted_by = $19, stopping = $20 WHERE id = $1",
    )
    .bind(&j.id)
    .bind(&j.state)
    .bind(j.attempt)
    .bind(&j.resume_checkpoint_id)
    .bind(j.cancel_requested)
    .bind(j.current_step)
    .bind(j.total_steps)
    // sqlx's Any driver binds a NULL double as float4, and PostgreSQL then refuses the cached
    // statement's later float8 values; a missing loss is bound as NaN instead (SQLite stores
    // NULL) and read back as NULL by `NULLIF` in `COLUMNS`.
    .bind(j.latest_loss.unwrap_or(f64::NAN))
    .bind(&j.error_code)
    .bind(&j.error_message)
    .bind(&j.error_hint)
    .bind(&j.model_id)
    .bind(j.runner_pid)
    .bind(&j.runner_instance)
    .bind(j.started_at)
    .bind(j.finished_at)
    .bind(j.updated_at)
    .bind(j.preemptions)
    .bind(&j.preempted_by)
    .bind(&j.stopping)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Jobs that trained on a dataset version (lineage).
pub async fn using_dataset_version(conn: &mut Conn, org_id: &str, version_id: &str) -> Result<Vec<JobRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE organization_id = $1 AND (dataset_version_id = $2 OR validation_version_id = $2) ORDER BY id"
    ))
    .bind(org_id)
    .bind(version_id)
    .fetch_all(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub job_id: String,
    pub seq: i64,
    /// `state`, `started`, `progress`, `eval`, `system`, `checkpoint`, `artifact`, `log`, `finished`, `stopped`, `failed`.
    pub kind: String,
    pub step: Option<i64>,
    pub time: i64,
    /// The event's fields, JSON.
    pub data: String,
}

/// Appends an event with the next sequence number; returns the number. The job's row is
/// locked first, so concurrent appends (the runner's progress, a user's cancel) take turns
/// instead of computing the same number.
pub async fn append_event(conn: &mut Conn, job_id: &str, kind: &str, step: Option<i64>, time: i64, data: &str) -> Result<i64> {
    lock(conn, job_id).await?;
    let seq: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM job_events WHERE job_id = $1").bind(job_id).fetch_one(&mut *conn).await?;
    sqlx::query("INSERT INTO job_events (job_id, seq, kind, step, time, data) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(job_id)
        .bind(seq)
        .bind(kind)
        .bind(step)
        .bind(time)
        .bind(data)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

/// Events after a sequence number, optionally of some kinds only, in order.
pub async fn events(conn: &mut Conn, job_id: &str, kinds: &[&str], after_seq: i64, limit: i64) -> Result<Vec<EventRow>> {
    let filter = if kinds.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.replace('\'', ""))).collect();
        format!(" AND kind IN ({})", list.join(", "))
    };
    Ok(sqlx::query_as(&format!(
        "SELECT job_id, seq, kind, step, time, data FROM job_events WHERE job_id = $1 AND seq > $2{filter} ORDER BY seq LIMIT $3"
    ))
    .bind(job_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// The last events of some kinds, newest first.
pub async fn last_events(conn: &mut Conn, job_id: &str, kind: &str, limit: i64) -> Result<Vec<EventRow>> {
    Ok(sqlx::query_as(
        "SELECT job_id, seq, kind, step, time, data FROM job_events WHERE job_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT $3",
    )
    .bind(job_id)
    .bind(kind)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckpointRow {
    pub id: String,
    pub job_id: String,
    pub organization_id: String,
    pub step: i64,
    pub attempt: i64,
    /// JSON list of `{path, blob_id, size_bytes}`.
    pub files: String,
    pub size_bytes: i64,
    pub created_at: i64,
}

const CHECKPOINT_COLUMNS: &str = "id, job_id, organization_id, step, attempt, files, size_bytes, created_at";

/// Records a stored checkpoint; a second record of the same step replaces nothing and is ignored.
pub async fn insert_checkpoint(conn: &mut Conn, c: &CheckpointRow) -> Result<bool> {
    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_checkpoints WHERE job_id = $1 AND step = $2")
        .bind(&c.job_id)
        .bind(c.step)
        .fetch_one(&mut *conn)
        .await?;
    if exists > 0 {
        return Ok(false);
    }
    sqlx::query(&format!("INSERT INTO job_checkpoints ({CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
        .bind(&c.id)
        .bind(&c.job_id)
        .bind(&c.organization_id)
        .bind(c.step)
        .bind(c.attempt)
        .bind(&c.files)
        .bind(c.size_bytes)
        .bind(c.created_at)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

pub async fn checkpoints(conn: &mut Conn, org_id: &str, job_id: &str) -> Result<Vec<CheckpointRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM job_checkpoints WHERE organization_id = $1 AND job_id = $2 ORDER BY step"
    ))
    .bind(org_id)
    .bind(job_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// A checkpoint by its id alone (in the organization).
pub async fn checkpoint_by_id(conn: &mut Conn, org_id: &str, id: &str) -> Result<CheckpointRow> {
    sqlx::query_as(&format!("SELECT {CHECKPOINT_COLUMNS} FROM job_checkpoints WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn checkpoint(conn: &mut Conn, org_id: &str, job_id: &str, id: &str) -> Result<CheckpointRow> {
    sqlx::query_as(&format!("SELECT {CHECKPOINT_COLUMNS} FROM job_checkpoints WHERE organization_id = $1 AND job_id = $2 AND id = $3"))
        .bind(org_id)
        .bind(job_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Deletes checkpoint records (pruned by the keep limit); returns their files JSON.
pub async fn delete_checkpoint(conn: &mut Conn, id: &str) -> Result<Option<String>> {
    let files: Option<String> =
        sqlx::query_scalar("SELECT files FROM job_checkpoints WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
    sqlx::query("DELETE FROM job_checkpoints WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(files)
}

/// Gives the job's lease to `instance` until `until` (at its claim, in the claim's transaction).
pub async fn set_lease(conn: &mut Conn, id: &str, instance: &str, until: i64) -> Result<()> {
    sqlx::query("UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND runner_instance = $3")
        .bind(until)
        .bind(id)
        .bind(instance)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Renews the leases of the jobs `instance` runs; returns the ids of those of them a cancel
/// (from any server) has moved to `cancelling`.
pub async fn renew_leases(conn: &mut Conn, instance: &str, until: i64) -> Result<Vec<String>> {
    sqlx::query("UPDATE jobs SET lease_expires_at = $1 WHERE runner_instance = $2 AND state IN ('running', 'cancelling')")
        .bind(until)
        .bind(instance)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query_scalar("SELECT id FROM jobs WHERE runner_instance = $1 AND state = 'cancelling'")
        .bind(instance)
        .fetch_all(&mut *conn)
        .await?)
}

/// Whether job `id`'s lease has expired at `now` (or it never had one).
pub async fn lease_expired(conn: &mut Conn, id: &str, now: i64) -> Result<bool> {
    let until: Option<i64> = sqlx::query_scalar("SELECT lease_expires_at FROM jobs WHERE id = $1").bind(id).fetch_one(&mut *conn).await?;
    Ok(until.is_none_or(|t| t < now))
}

/// Running or cancelling jobs whose lease has expired at `now` (or that never had one): their
/// server is gone.
pub async fn expired_leases(conn: &mut Conn, now: i64) -> Result<Vec<JobRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE state IN ('running', 'cancelling') AND (lease_expires_at IS NULL OR lease_expires_at < $1) ORDER BY created_at"
    ))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?)
}
