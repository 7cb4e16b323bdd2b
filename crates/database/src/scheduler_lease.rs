//! The scheduler's lease: which server process runs the dispatcher.

use crate::{Conn, Result};

/// Takes or renews the lease for `holder` until `until` when it is free, expired or already
/// `holder`'s; true when `holder` holds it now.
pub async fn try_hold(conn: &mut Conn, holder: &str, now: i64, until: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE scheduler_lease SET holder = $1, expires_at = $2 WHERE name = 'scheduler' AND (holder = $1 OR expires_at < $3)",
    )
    .bind(holder)
    .bind(until)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the lease up (a stopping server), so that a standby need not wait for it to expire.
pub async fn release(conn: &mut Conn, holder: &str) -> Result<()> {
    sqlx::query("UPDATE scheduler_lease SET expires_at = 0 WHERE name = 'scheduler' AND holder = $1")
        .bind(holder)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The server process holding an unexpired lease.
pub async fn holder(conn: &mut Conn, now: i64) -> Result<Option<String>> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT holder, expires_at FROM scheduler_lease WHERE name = 'scheduler'").fetch_optional(&mut *conn).await?;
    Ok(row.filter(|(h, until)| !h.is_empty() && *until >= now).map(|(h, _)| h))
}
