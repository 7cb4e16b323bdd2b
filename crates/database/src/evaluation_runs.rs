//! Runs of evaluations: from a runner taking one until it ends or lets go, on the slots of the
//! device its answers come from. Like job runs, they are the compute accounted to users and
//! projects (month quotas, budgets, the usage report).

use crate::{Conn, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EvaluationRunRow {
    pub id: String,
    pub evaluation_id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub user_id: String,
    pub runner_instance: String,
    pub gpu_type: String,
    /// 1 for a deployment served here; 0 for an external URL or a predictions file.
    pub gpus: i64,
    pub price_per_gpu_hour: f64,
    pub started_at: i64,
    /// The runner's last renewal.
    pub seen_at: i64,
    pub ended_at: Option<i64>,
    /// `succeeded`, `failed`, `cancelled`, `stopped` or `interrupted`.
    pub ended_because: Option<String>,
}

const COLUMNS: &str = "id, evaluation_id, organization_id, project_id, user_id, runner_instance, gpu_type, gpus, price_per_gpu_hour, started_at, seen_at, ended_at, ended_because";

/// Opens a run; an open run of the same evaluation (its runner died or stalled and this one
/// takes over) is closed first at its runner's last renewal, as `interrupted`.
pub async fn open(conn: &mut Conn, r: &EvaluationRunRow) -> Result<()> {
    sqlx::query(
        "UPDATE evaluation_runs SET ended_at = seen_at, ended_because = 'interrupted' WHERE evaluation_id = $1 AND ended_at IS NULL",
    )
    .bind(&r.evaluation_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!("INSERT INTO evaluation_runs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, NULL, NULL)"))
        .bind(&r.id)
        .bind(&r.evaluation_id)
        .bind(&r.organization_id)
        .bind(&r.project_id)
        .bind(&r.user_id)
        .bind(&r.runner_instance)
        .bind(&r.gpu_type)
        .bind(r.gpus)
        .bind(r.price_per_gpu_hour)
        .bind(r.started_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records that `instance` still runs the evaluation at `at`.
pub async fn seen(conn: &mut Conn, evaluation_id: &str, instance: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE evaluation_runs SET seen_at = $3 WHERE evaluation_id = $1 AND runner_instance = $2 AND ended_at IS NULL")
        .bind(evaluation_id)
        .bind(instance)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Closes the open run `instance` holds of the evaluation at `at`.
pub async fn close(conn: &mut Conn, evaluation_id: &str, instance: &str, at: i64, because: &str) -> Result<()> {
    sqlx::query(
        "UPDATE evaluation_runs SET ended_at = $3, seen_at = $3, ended_because = $4 WHERE evaluation_id = $1 AND runner_instance = $2 AND ended_at IS NULL",
    )
    .bind(evaluation_id)
    .bind(instance)
    .bind(at)
    .bind(because)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every run of an evaluation, oldest first.
pub async fn of_evaluation(conn: &mut Conn, evaluation_id: &str) -> Result<Vec<EvaluationRunRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM evaluation_runs WHERE evaluation_id = $1 ORDER BY started_at, id"))
        .bind(evaluation_id)
        .fetch_all(&mut *conn)
        .await?)
}

/// Runs that overlap `[since, now)` (open ones included).
pub async fn since(conn: &mut Conn, since: i64) -> Result<Vec<EvaluationRunRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM evaluation_runs WHERE ended_at IS NULL OR ended_at >= $1 ORDER BY started_at, id"))
        .bind(since)
        .fetch_all(&mut *conn)
        .await?)
}

/// An organization's runs overlapping `[from, to)`.
pub async fn of_organization_within(conn: &mut Conn, org_id: &str, from: i64, to: i64) -> Result<Vec<EvaluationRunRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM evaluation_runs WHERE organization_id = $1 AND started_at < $3 AND (ended_at IS NULL OR ended_at > $2) ORDER BY started_at, id"
    ))
    .bind(org_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?)
}

impl EvaluationRunRow {
    /// GPU-hours of this run within `[from, to)` (an open run counts up to `to`).
    pub fn gpu_hours_within(&self, from: i64, to: i64) -> f64 {
        crate::job_runs::gpu_hours_within(self.started_at, self.ended_at, self.gpus, from, to)
    }
}
