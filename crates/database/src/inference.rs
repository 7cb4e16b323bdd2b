//! One row per inference request through the gateway, and its aggregates (usage).

use crate::{Conn, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InferenceRow {
    pub id: String,
    pub organization_id: String,
    pub deployment_id: Option<String>,
    pub api_key_id: Option<String>,
    pub user_id: Option<String>,
    pub model: String,
    pub endpoint: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub time_to_first_token_ms: Option<i64>,
    pub latency_ms: i64,
    pub status: i64,
    pub error_code: Option<String>,
    pub created_at: i64,
    /// The traffic split (A/B test) that chose the deployment, if any.
    pub split_id: Option<String>,
}

/// Inserts a batch of rows (one statement each, in the caller's transaction).
pub async fn insert_all(conn: &mut Conn, rows: &[InferenceRow]) -> Result<()> {
    for r in rows {
        sqlx::query(
            "INSERT INTO inference_requests (id, organization_id, deployment_id, api_key_id, user_id, model, endpoint, prompt_tokens, completion_tokens, time_to_first_token_ms, latency_ms, status, error_code, created_at, split_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&r.id)
        .bind(&r.organization_id)
        .bind(&r.deployment_id)
        .bind(&r.api_key_id)
        .bind(&r.user_id)
        .bind(&r.model)
        .bind(&r.endpoint)
        .bind(r.prompt_tokens)
        .bind(r.completion_tokens)
        .bind(r.time_to_first_token_ms)
        .bind(r.latency_ms)
        .bind(r.status)
        .bind(&r.error_code)
        .bind(r.created_at)
        .bind(&r.split_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Which requests a usage query covers.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub deployment_id: Option<String>,
    pub api_key_id: Option<String>,
    /// Unix milliseconds, inclusive start and exclusive end.
    pub from: i64,
    pub to: i64,
}

/// Requests aggregated per time bucket (`bucket_ms` wide, aligned to the epoch), oldest first.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UsageBucket {
    pub bucket_start: i64,
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub latency_ms_sum: i64,
    pub latency_ms_max: i64,
    pub time_to_first_token_ms_sum: i64,
    pub time_to_first_token_count: i64,
}

/// The filter every usage query shares, on the table aliased `r`: $1 the organization, $2 and
/// $3 the period, $4 a deployment and $5 an API key ('' for any); bound by [`bind_usage_filter`].
const USAGE_FILTER: &str = "r.organization_id = $1 AND r.created_at >= $2 AND r.created_at < $3 \
     AND ($4 = '' OR r.deployment_id = $4) AND ($5 = '' OR r.api_key_id = $5)";

type AnyQueryAs<'q, O> = sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>;

fn bind_usage_filter<'q, O>(query: AnyQueryAs<'q, O>, org_id: &'q str, filter: &'q UsageFilter) -> AnyQueryAs<'q, O> {
    query
        .bind(org_id)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.deployment_id.as_deref().unwrap_or(""))
        .bind(filter.api_key_id.as_deref().unwrap_or(""))
}

pub async fn usage(conn: &mut Conn, org_id: &str, filter: &UsageFilter, bucket_ms: i64) -> Result<Vec<UsageBucket>> {
    let sql = format!(
        "SELECT (r.created_at / $6) * $6 AS bucket_start, COUNT(*) AS requests, \
         CAST(SUM(CASE WHEN r.status >= 400 THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
         CAST(SUM(r.prompt_tokens) AS BIGINT) AS prompt_tokens, CAST(SUM(r.completion_tokens) AS BIGINT) AS completion_tokens, \
         CAST(SUM(r.latency_ms) AS BIGINT) AS latency_ms_sum, MAX(r.latency_ms) AS latency_ms_max, \
         CAST(SUM(COALESCE(r.time_to_first_token_ms, 0)) AS BIGINT) AS time_to_first_token_ms_sum, \
         CAST(SUM(CASE WHEN r.time_to_first_token_ms IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS time_to_first_token_count \
         FROM inference_requests r WHERE {USAGE_FILTER} \
         GROUP BY (r.created_at / $6) * $6 ORDER BY bucket_start"
    );
    Ok(bind_usage_filter(sqlx::query_as(&sql), org_id, filter).bind(bucket_ms).fetch_all(&mut *conn).await?)
}

/// Each request's latency in the period with its bucket start and key, for percentiles (read
/// whole: a day of minute buckets at 10 requests a second is 864,000 small rows).
pub async fn latencies(conn: &mut Conn, org_id: &str, filter: &UsageFilter, bucket_ms: i64) -> Result<Vec<(i64, Option<String>, i64)>> {
    let sql = format!("SELECT (r.created_at / $6) * $6, r.api_key_id, r.latency_ms FROM inference_requests r WHERE {USAGE_FILTER}");
    Ok(bind_usage_filter(sqlx::query_as(&sql), org_id, filter).bind(bucket_ms).fetch_all(&mut *conn).await?)
}

/// Requests of one API key in a period (`api_key_id` None: requests made in a signed-in
/// session, such as the playground's), with the key's name and visible prefix.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyUsage {
    pub api_key_id: Option<String>,
    pub name: Option<String>,
    pub prefix: Option<String>,
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub latency_ms_sum: i64,
}

/// Usage per API key, most requests first.
pub async fn usage_by_key(conn: &mut Conn, org_id: &str, filter: &UsageFilter) -> Result<Vec<KeyUsage>> {
    let sql = format!(
        "SELECT r.api_key_id, MAX(k.name) AS name, MAX(k.prefix) AS prefix, COUNT(*) AS requests, \
         CAST(SUM(CASE WHEN r.status >= 400 THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
         CAST(SUM(r.prompt_tokens) AS BIGINT) AS prompt_tokens, CAST(SUM(r.completion_tokens) AS BIGINT) AS completion_tokens, \
         CAST(SUM(r.latency_ms) AS BIGINT) AS latency_ms_sum \
         FROM inference_requests r LEFT JOIN api_keys k ON k.id = r.api_key_id AND k.organization_id = r.organization_id \
         WHERE {USAGE_FILTER} \
         GROUP BY r.api_key_id ORDER BY requests DESC, r.api_key_id"
    );
    Ok(bind_usage_filter(sqlx::query_as(&sql), org_id, filter).fetch_all(&mut *conn).await?)
}

/// Tokens (prompt + completion) a key used since `from` (its monthly quota).
pub async fn key_tokens_since(conn: &mut Conn, api_key_id: &str, from: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) FROM inference_requests WHERE api_key_id = $1 AND created_at >= $2",
    )
    .bind(api_key_id)
    .bind(from)
    .fetch_one(&mut *conn)
    .await?)
}

/// One request's row, for feedback (in the organization).
pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<Option<InferenceRow>> {
    Ok(sqlx::query_as(
        "SELECT id, organization_id, deployment_id, api_key_id, user_id, model, endpoint, prompt_tokens, completion_tokens, time_to_first_token_ms, latency_ms, status, error_code, created_at, split_id FROM inference_requests WHERE organization_id = $1 AND id = $2",
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedbackRow {
    pub response_id: String,
    pub organization_id: String,
    pub score: f64,
    pub kind: String,
    pub comment: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

/// Records feedback on an answer, replacing an earlier one.
pub async fn put_feedback(conn: &mut Conn, f: &FeedbackRow) -> Result<()> {
    sqlx::query("DELETE FROM inference_feedback WHERE response_id = $1").bind(&f.response_id).execute(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO inference_feedback (response_id, organization_id, score, kind, comment, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&f.response_id)
    .bind(&f.organization_id)
    .bind(f.score)
    .bind(&f.kind)
    .bind(&f.comment)
    .bind(&f.created_by)
    .bind(f.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Per deployment of a traffic split: requests, errors, latency, and the feedback received.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VariantFigures {
    pub deployment_id: String,
    pub requests: i64,
    pub errors: i64,
    pub latency_ms_sum: i64,
    pub ratings: i64,
    pub score_sum: f64,
    pub score_square_sum: f64,
}

pub async fn split_figures(conn: &mut Conn, org_id: &str, split_id: &str) -> Result<Vec<VariantFigures>> {
    Ok(sqlx::query_as(
        "SELECT r.deployment_id AS deployment_id, COUNT(*) AS requests, \
         CAST(SUM(CASE WHEN r.status >= 400 THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
         CAST(SUM(r.latency_ms) AS BIGINT) AS latency_ms_sum, \
         COUNT(f.response_id) AS ratings, \
         CAST(COALESCE(SUM(f.score), 0) AS DOUBLE PRECISION) AS score_sum, \
         CAST(COALESCE(SUM(f.score * f.score), 0) AS DOUBLE PRECISION) AS score_square_sum \
         FROM inference_requests r LEFT JOIN inference_feedback f ON f.response_id = r.id \
         WHERE r.organization_id = $1 AND r.split_id = $2 AND r.deployment_id IS NOT NULL \
         GROUP BY r.deployment_id ORDER BY r.deployment_id",
    )
    .bind(org_id)
    .bind(split_id)
    .fetch_all(&mut *conn)
    .await?)
}
