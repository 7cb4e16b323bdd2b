//! The single instance row: bootstrap state. It holds no key: signing and audit keys are
//! derived from the master key, which never enters the database.

use crate::{Conn, Result};

/// Creates the instance row if missing.
pub async fn ensure(conn: &mut Conn, now_ms: i64) -> Result<()> {
    sqlx::query("INSERT INTO instance (id, bootstrapped, created_at) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING")
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Claims the bootstrap: true for exactly one caller, the first user of a fresh install.
pub async fn claim_bootstrap(conn: &mut Conn) -> Result<bool> {
    let done = sqlx::query("UPDATE instance SET bootstrapped = 1 WHERE id = 1 AND bootstrapped = 0").execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the first user has registered (a fresh install answers false).
pub async fn bootstrapped(conn: &mut Conn) -> Result<bool> {
    let done: Option<i64> = sqlx::query_scalar("SELECT bootstrapped FROM instance WHERE id = 1").fetch_optional(&mut *conn).await?;
    Ok(done == Some(1))
}

pub async fn set_default_organization(conn: &mut Conn, org_id: &str) -> Result<()> {
    sqlx::query("UPDATE instance SET default_organization_id = $1 WHERE id = 1").bind(org_id).execute(&mut *conn).await?;
    Ok(())
}

pub async fn default_organization(conn: &mut Conn) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT default_organization_id FROM instance WHERE id = 1").fetch_optional(&mut *conn).await?.flatten())
}
