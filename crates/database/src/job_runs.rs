//! Runs of jobs on GPUs (or CPU slots): the open run of a job is where it runs now; closed
//! runs are the GPU-time accounted to users and projects.

use crate::{Conn, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRunRow {
    pub id: String,
    pub job_id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub user_id: String,
    /// The server process running it (`jobs.runner_instance`).
    pub runner_instance: String,
    pub gpu_type: String,
    pub gpus: i64,
    /// `[{"node": …, "gpus": …}]`, JSON.
    pub placement: String,
    pub preemptible: i64,
    /// The price of one of its GPUs per hour when it started.
    pub price_per_gpu_hour: f64,
    pub priority_value: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// How it ended: `succeeded`, `failed`, `cancelled`, `preempted`, `requeued`, `max_duration`.
    pub ended_because: Option<String>,
}

const COLUMNS: &str = "id, job_id, organization_id, project_id, user_id, runner_instance, gpu_type, gpus, placement, preemptible, price_per_gpu_hour, priority_value, started_at, ended_at, ended_because";

pub async fn insert(conn: &mut Conn, r: &JobRunRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO job_runs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL)"))
        .bind(&r.id)
        .bind(&r.job_id)
        .bind(&r.organization_id)
        .bind(&r.project_id)
        .bind(&r.user_id)
        .bind(&r.runner_instance)
        .bind(&r.gpu_type)
        .bind(r.gpus)
        .bind(&r.placement)
        .bind(r.preemptible)
        .bind(r.price_per_gpu_hour)
        .bind(r.priority_value)
        .bind(r.started_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Closes a job's open run (if any) at `at`.
pub async fn close(conn: &mut Conn, job_id: &str, at: i64, because: &str) -> Result<()> {
    sqlx::query("UPDATE job_runs SET ended_at = $2, ended_because = $3 WHERE job_id = $1 AND ended_at IS NULL")
        .bind(job_id)
        .bind(at)
        .bind(because)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The open run of a job.
pub async fn open_of(conn: &mut Conn, job_id: &str) -> Result<Option<JobRunRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_runs WHERE job_id = $1 AND ended_at IS NULL"))
        .bind(job_id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Every run of a job, oldest first.
pub async fn of_job(conn: &mut Conn, job_id: &str) -> Result<Vec<JobRunRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_runs WHERE job_id = $1 ORDER BY started_at, id"))
        .bind(job_id)
        .fetch_all(&mut *conn)
        .await?)
}

/// Runs that overlap `[since, now)` (open ones included), for usage and fair share.
pub async fn since(conn: &mut Conn, since: i64) -> Result<Vec<JobRunRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_runs WHERE ended_at IS NULL OR ended_at >= $1 ORDER BY started_at, id"))
        .bind(since)
        .fetch_all(&mut *conn)
        .await?)
}

impl JobRunRow {
    /// GPU-hours of this run within `[from, to)` (an open run counts up to `to`).
    pub fn gpu_hours_within(&self, from: i64, to: i64) -> f64 {
        gpu_hours_within(self.started_at, self.ended_at, self.gpus, from, to)
    }
}

/// GPU-hours of a run from `started_at` to `ended_at` (open: up to `to`) on `gpus` within
/// `[from, to)` — job runs and evaluation runs alike.
pub fn gpu_hours_within(started_at: i64, ended_at: Option<i64>, gpus: i64, from: i64, to: i64) -> f64 {
    let start = started_at.max(from);
    let end = ended_at.unwrap_or(to).min(to);
    (end - start).max(0) as f64 / 3_600_000.0 * gpus as f64
}

/// An organization's runs overlapping `[from, to)`.
pub async fn of_organization_within(conn: &mut Conn, org_id: &str, from: i64, to: i64) -> Result<Vec<JobRunRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM job_runs WHERE organization_id = $1 AND started_at < $3 AND (ended_at IS NULL OR ended_at > $2) ORDER BY started_at, id"
    ))
    .bind(org_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?)
}
