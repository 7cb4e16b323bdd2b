//! Evaluations and their examples.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EvaluationRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub model: Option<String>,
    pub deployment_id: Option<String>,
    pub dataset_version_id: Option<String>,
    pub config: String,
    pub results: Option<String>,
    pub examples_total: i64,
    pub examples_done: i64,
    pub error: Option<String>,
    pub rerun_of: Option<String>,
    pub runner_instance: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, organization_id, project_id, name, kind, state, model, deployment_id, dataset_version_id, config, results, \
     examples_total, examples_done, error, rerun_of, runner_instance, lease_expires_at, created_by, created_at, started_at, finished_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExampleRow {
    pub evaluation_id: String,
    pub idx: i64,
    pub sealed: String,
    pub answered: i64,
    pub scores: Option<String>,
}

pub async fn insert(conn: &mut Conn, e: &EvaluationRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO evaluations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
    ))
    .bind(&e.id)
    .bind(&e.organization_id)
    .bind(&e.project_id)
    .bind(&e.name)
    .bind(&e.kind)
    .bind(&e.state)
    .bind(&e.model)
    .bind(&e.deployment_id)
    .bind(&e.dataset_version_id)
    .bind(&e.config)
    .bind(&e.results)
    .bind(e.examples_total)
    .bind(e.examples_done)
    .bind(&e.error)
    .bind(&e.rerun_of)
    .bind(&e.runner_instance)
    .bind(e.lease_expires_at)
    .bind(&e.created_by)
    .bind(e.created_at)
    .bind(e.started_at)
    .bind(e.finished_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn insert_example(conn: &mut Conn, x: &ExampleRow) -> Result<()> {
    sqlx::query("INSERT INTO evaluation_examples (evaluation_id, idx, sealed, answered, scores) VALUES ($1, $2, $3, $4, $5)")
        .bind(&x.evaluation_id)
        .bind(x.idx)
        .bind(&x.sealed)
        .bind(x.answered)
        .bind(&x.scores)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<EvaluationRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM evaluations WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Any organization's evaluation (for the runner, which works for the server).
pub async fn get_any(conn: &mut Conn, id: &str) -> Result<EvaluationRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM evaluations WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Newest first; `model` filters by what the evaluations named.
pub async fn list(conn: &mut Conn, org_id: &str, model: Option<&str>, after: Option<&str>, limit: i64) -> Result<Vec<EvaluationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM evaluations WHERE organization_id = $1 AND ($2 = '' OR id < $2) AND ($3 = '' OR model = $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(org_id)
    .bind(after.unwrap_or(""))
    .bind(model.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// The newest evaluations of one kind (in one state, when given), newest first.
pub async fn recent(conn: &mut Conn, org_id: &str, kind: &str, state: Option<&str>, limit: i64) -> Result<Vec<EvaluationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM evaluations WHERE organization_id = $1 AND kind = $2 AND ($3 = '' OR state = $3) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(org_id)
    .bind(kind)
    .bind(state.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Evaluations a runner may take at `now`: queued, or running under an expired lease (oldest
/// first).
pub async fn claimable(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM evaluations WHERE state = 'queued' OR (state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < $1)) \
         ORDER BY created_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Takes evaluation `id` for `instance` until `until` if it is still claimable at `now`: one
/// conditional change, so two runners never take the same one. True when taken.
pub async fn claim(conn: &mut Conn, id: &str, instance: &str, now: i64, until: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE evaluations SET state = 'running', runner_instance = $2, lease_expires_at = $3, started_at = COALESCE(started_at, $4) \
         WHERE id = $1 AND (state = 'queued' OR (state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < $4)))",
    )
    .bind(id)
    .bind(instance)
    .bind(until)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Renews the lease while `instance` still holds the running evaluation; false when it does
/// not (cancelled, or taken over).
pub async fn renew(conn: &mut Conn, id: &str, instance: &str, until: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE evaluations SET lease_expires_at = $3 WHERE id = $1 AND runner_instance = $2 AND state = 'running'")
        .bind(id)
        .bind(instance)
        .bind(until)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn lock(conn: &mut Conn, id: &str) -> Result<()> {
    let done = sqlx::query("UPDATE evaluations SET id = id WHERE id = $1").bind(id).execute(&mut *conn).await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Ends an evaluation in `state` (with results or an error) if `instance` still runs it, or,
/// with `instance` None, from any unfinished state (a cancel). True when changed.
pub async fn finish(
    conn: &mut Conn,
    id: &str,
    instance: Option<&str>,
    state: &str,
    results: Option<&str>,
    error: Option<&str>,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE evaluations SET state = $2, results = $3, error = $4, finished_at = $5, lease_expires_at = NULL \
         WHERE id = $1 AND state IN ('queued', 'running') AND ($6 = '' OR runner_instance = $6)",
    )
    .bind(id)
    .bind(state)
    .bind(results)
    .bind(error)
    .bind(now)
    .bind(instance.unwrap_or(""))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM evaluation_examples WHERE evaluation_id = $1").bind(id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM evaluations WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}

/// Examples from index `from` on, in order.
pub async fn examples(conn: &mut Conn, id: &str, from: i64, limit: i64) -> Result<Vec<ExampleRow>> {
    Ok(sqlx::query_as(
        "SELECT evaluation_id, idx, sealed, answered, scores FROM evaluation_examples WHERE evaluation_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3",
    )
    .bind(id)
    .bind(from)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Indexes of the examples still without a prediction.
pub async fn unanswered(conn: &mut Conn, id: &str) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar("SELECT idx FROM evaluation_examples WHERE evaluation_id = $1 AND answered = 0 ORDER BY idx")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?)
}

/// Stores an example's prediction (sealed with the rest of it) and counts it done.
pub async fn answer(conn: &mut Conn, id: &str, idx: i64, sealed: &str) -> Result<()> {
    let done =
        sqlx::query("UPDATE evaluation_examples SET sealed = $3, answered = 1 WHERE evaluation_id = $1 AND idx = $2 AND answered = 0")
            .bind(id)
            .bind(idx)
            .bind(sealed)
            .execute(&mut *conn)
            .await?;
    if done.rows_affected() == 1 {
        sqlx::query("UPDATE evaluations SET examples_done = examples_done + 1 WHERE id = $1").bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn set_scores(conn: &mut Conn, id: &str, idx: i64, scores: &str) -> Result<()> {
    sqlx::query("UPDATE evaluation_examples SET scores = $3 WHERE evaluation_id = $1 AND idx = $2")
        .bind(id)
        .bind(idx)
        .bind(scores)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Lets other runners take the running evaluations of `instance` (None: of every runner — a
/// SQLite server at start, the only one there is) at once instead of after their lease.
pub async fn release(conn: &mut Conn, instance: Option<&str>) -> Result<u64> {
    let done = sqlx::query("UPDATE evaluations SET lease_expires_at = NULL WHERE state = 'running' AND ($1 = '' OR runner_instance = $1)")
        .bind(instance.unwrap_or(""))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AbTestRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub evaluation_a: String,
    pub evaluation_b: String,
    pub metric: String,
    pub config: String,
    pub results: String,
    pub created_by: String,
    pub created_at: i64,
}

const AB_COLUMNS: &str =
    "id, organization_id, project_id, name, evaluation_a, evaluation_b, metric, config, results, created_by, created_at";

pub async fn insert_ab_test(conn: &mut Conn, t: &AbTestRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO ab_tests ({AB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
        .bind(&t.id)
        .bind(&t.organization_id)
        .bind(&t.project_id)
        .bind(&t.name)
        .bind(&t.evaluation_a)
        .bind(&t.evaluation_b)
        .bind(&t.metric)
        .bind(&t.config)
        .bind(&t.results)
        .bind(&t.created_by)
        .bind(t.created_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn get_ab_test(conn: &mut Conn, org_id: &str, id: &str) -> Result<AbTestRow> {
    sqlx::query_as(&format!("SELECT {AB_COLUMNS} FROM ab_tests WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn list_ab_tests(conn: &mut Conn, org_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<AbTestRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {AB_COLUMNS} FROM ab_tests WHERE organization_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(org_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// The A/B tests that compare evaluation `id` (an evaluation they use is kept).
pub async fn ab_tests_of(conn: &mut Conn, id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM ab_tests WHERE evaluation_a = $1 OR evaluation_b = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn delete_ab_test(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM ab_tests WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}
