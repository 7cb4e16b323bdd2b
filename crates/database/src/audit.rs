//! The append-only audit log and its chain head.

use crate::{Conn, Result};
use domain::audit::AuditRecord;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub id: String,
    pub occurred_at: i64,
    pub organization_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_kind: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
    pub key_id: Option<String>,
}

impl AuditRow {
    pub fn record(&self) -> AuditRecord {
        AuditRecord {
            seq: self.seq,
            id: self.id.clone(),
            occurred_at_ms: self.occurred_at,
            organization_id: self.organization_id.clone(),
            actor_id: self.actor_id.clone(),
            actor_kind: self.actor_kind.clone(),
            action: self.action.clone(),
            target_kind: self.target_kind.clone(),
            target_id: self.target_id.clone(),
            outcome: self.outcome.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            details: self.details.clone(),
            key_id: self.key_id.clone(),
        }
    }
}

const COLUMNS: &str = "seq, id, occurred_at, organization_id, actor_id, actor_kind, action, target_kind, target_id, outcome, ip, user_agent, details, prev_hash, hash, key_id";

/// Takes the next sequence number and the previous hash, locking the chain head until the
/// transaction ends (a row lock on PostgreSQL; the single writer on SQLite).
pub async fn lock_head(conn: &mut Conn) -> Result<(i64, String)> {
    let (seq, hash): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash").fetch_one(&mut *conn).await?;
    Ok((seq, hash))
}

/// Appends a record (whose seq came from [`lock_head`]) and moves the head to its hash.
pub async fn append(conn: &mut Conn, record: &AuditRecord, prev_hash: &str, hash: &str) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    ))
    .bind(record.seq)
    .bind(&record.id)
    .bind(record.occurred_at_ms)
    .bind(&record.organization_id)
    .bind(&record.actor_id)
    .bind(&record.actor_kind)
    .bind(&record.action)
    .bind(&record.target_kind)
    .bind(&record.target_id)
    .bind(&record.outcome)
    .bind(&record.ip)
    .bind(&record.user_agent)
    .bind(&record.details)
    .bind(prev_hash)
    .bind(hash)
    .bind(&record.key_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1").bind(hash).execute(&mut *conn).await?;
    Ok(())
}

pub async fn head(conn: &mut Conn) -> Result<(i64, String)> {
    Ok(sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut *conn).await?)
}

/// Filters for reading the log. Empty strings and `None` mean "any".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub organization_id: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// Newest first; `before` is a sequence number cursor.
pub async fn list(conn: &mut Conn, f: &AuditFilter, before: Option<i64>, limit: i64) -> Result<Vec<AuditRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events
         WHERE ($1 = '' OR organization_id = $1) AND ($2 = '' OR actor_id = $2)
           AND ($3 = '' OR action = $3 OR action LIKE $4) AND ($5 = '' OR target_id = $5)
           AND ($6 = '' OR outcome = $6) AND occurred_at >= $7 AND occurred_at <= $8 AND seq < $9
         ORDER BY seq DESC LIMIT $10"
    ))
    .bind(f.organization_id.as_deref().unwrap_or(""))
    .bind(f.actor_id.as_deref().unwrap_or(""))
    .bind(f.action.as_deref().unwrap_or(""))
    .bind(format!("{}.%", f.action.as_deref().unwrap_or("")))
    .bind(f.target_id.as_deref().unwrap_or(""))
    .bind(f.outcome.as_deref().unwrap_or(""))
    .bind(f.since_ms.unwrap_or(i64::MIN))
    .bind(f.until_ms.unwrap_or(i64::MAX))
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Records in chain order from `after_seq`, a batch at a time (for verification).
pub async fn chain_batch(conn: &mut Conn, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

/// Whether the newest record was written before the chain was keyed (false for an empty log).
pub async fn newest_is_unkeyed(conn: &mut Conn) -> Result<bool> {
    let newest: Option<Option<String>> =
        sqlx::query_scalar("SELECT key_id FROM audit_events ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *conn).await?;
    Ok(matches!(newest, Some(None)))
}

/// How many records were written before the chain was keyed.
pub async fn unkeyed_records(conn: &mut Conn) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE key_id IS NULL").fetch_one(&mut *conn).await?)
}

/// Whether any record is keyed.
pub async fn any_keyed(conn: &mut Conn) -> Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_events WHERE key_id IS NOT NULL LIMIT 1").fetch_optional(&mut *conn).await?;
    Ok(found.is_some())
}
