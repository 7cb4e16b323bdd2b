//! Human evaluations, the evaluations they rate and their raters' ratings.

use crate::{Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HumanEvalRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub mode: String,
    pub state: String,
    pub config: String,
    pub items: i64,
    pub created_by: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

const COLUMNS: &str = "id, organization_id, project_id, name, mode, state, config, items, created_by, created_at, closed_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RatingRow {
    pub human_eval_id: String,
    pub rater_id: String,
    pub item: i64,
    pub status: String,
    pub verdict: Option<String>,
    pub flagged: i64,
    pub notes: Option<String>,
    pub updated_at: i64,
}

const RATING_COLUMNS: &str = "human_eval_id, rater_id, item, status, verdict, flagged, notes, updated_at";

/// Inserts a human evaluation and the evaluations it rates (position = index in `sources`).
pub async fn insert(conn: &mut Conn, h: &HumanEvalRow, sources: &[String]) -> Result<()> {
    sqlx::query(&format!("INSERT INTO human_evals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
        .bind(&h.id)
        .bind(&h.organization_id)
        .bind(&h.project_id)
        .bind(&h.name)
        .bind(&h.mode)
        .bind(&h.state)
        .bind(&h.config)
        .bind(h.items)
        .bind(&h.created_by)
        .bind(h.created_at)
        .bind(h.closed_at)
        .execute(&mut *conn)
        .await?;
    for (position, evaluation) in sources.iter().enumerate() {
        sqlx::query("INSERT INTO human_eval_sources (human_eval_id, position, evaluation_id) VALUES ($1, $2, $3)")
            .bind(&h.id)
            .bind(position as i64)
            .bind(evaluation)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<HumanEvalRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM human_evals WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn list(conn: &mut Conn, org_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<HumanEvalRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM human_evals WHERE organization_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(org_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// The evaluations a human evaluation rates, by position.
pub async fn sources(conn: &mut Conn, id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT evaluation_id FROM human_eval_sources WHERE human_eval_id = $1 ORDER BY position")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?)
}

/// The human evaluations that rate evaluation `id` (an evaluation they use is kept).
pub async fn of_evaluation(conn: &mut Conn, id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT DISTINCT human_eval_id FROM human_eval_sources WHERE evaluation_id = $1 ORDER BY human_eval_id")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?)
}

/// Takes the row's write lock for the rest of the transaction; its state as it is then.
pub async fn lock(conn: &mut Conn, id: &str) -> Result<String> {
    sqlx::query("UPDATE human_evals SET id = id WHERE id = $1").bind(id).execute(&mut *conn).await?;
    sqlx::query_scalar("SELECT state FROM human_evals WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?.ok_or(Error::NotFound)
}

/// Sets the state (open or closed); `closed_at` is the time it closed, or null.
pub async fn set_state(conn: &mut Conn, id: &str, state: &str, closed_at: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE human_evals SET state = $2, closed_at = $3 WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(closed_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM human_ratings WHERE human_eval_id = $1").bind(id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM human_eval_sources WHERE human_eval_id = $1").bind(id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM human_evals WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}

/// Stores a rater's verdict on an item, replacing an earlier one.
pub async fn put_rating(conn: &mut Conn, r: &RatingRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO human_ratings ({RATING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (human_eval_id, rater_id, item) DO UPDATE SET status = excluded.status, verdict = excluded.verdict, \
         flagged = excluded.flagged, notes = excluded.notes, updated_at = excluded.updated_at"
    ))
    .bind(&r.human_eval_id)
    .bind(&r.rater_id)
    .bind(r.item)
    .bind(&r.status)
    .bind(&r.verdict)
    .bind(r.flagged)
    .bind(&r.notes)
    .bind(r.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One rater's ratings (all, or of one item), in item order.
pub async fn ratings_of(conn: &mut Conn, id: &str, rater_id: &str, item: Option<i64>) -> Result<Vec<RatingRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {RATING_COLUMNS} FROM human_ratings WHERE human_eval_id = $1 AND rater_id = $2 AND ($3 < 0 OR item = $3) ORDER BY item"
    ))
    .bind(id)
    .bind(rater_id)
    .bind(item.unwrap_or(-1))
    .fetch_all(&mut *conn)
    .await?)
}

/// Every rating of a human evaluation, by rater and item.
pub async fn ratings(conn: &mut Conn, id: &str) -> Result<Vec<RatingRow>> {
    Ok(sqlx::query_as(&format!("SELECT {RATING_COLUMNS} FROM human_ratings WHERE human_eval_id = $1 ORDER BY rater_id, item"))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?)
}
