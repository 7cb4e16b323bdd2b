//! Users. Every query but login-by-email filters by organization.

use crate::{conflict_on_unique, flag, Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: String,
    pub is_instance_admin: i64,
    pub disabled: i64,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    pub fn is_instance_admin(&self) -> bool {
        flag(self.is_instance_admin)
    }
    pub fn disabled(&self) -> bool {
        flag(self.disabled)
    }
}

const COLUMNS: &str = "id, organization_id, email, name, password_hash, role, is_instance_admin, disabled, failed_logins, locked_until, created_at, updated_at";

pub async fn insert(conn: &mut Conn, u: &UserRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO users ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
        .bind(&u.id)
        .bind(&u.organization_id)
        .bind(&u.email)
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(&u.role)
        .bind(u.is_instance_admin)
        .bind(u.disabled)
        .bind(u.failed_logins)
        .bind(u.locked_until)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_on_unique(e, "a user with this email exists"))?;
    Ok(())
}

pub async fn by_email(conn: &mut Conn, email: &str) -> Result<Option<UserRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email = $1")).bind(email).fetch_optional(&mut *conn).await?)
}

/// A user by id, whatever the organization: only for authenticating a token that names it.
pub async fn by_id_unscoped(conn: &mut Conn, id: &str) -> Result<UserRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(&mut *conn).await?.ok_or(Error::NotFound)
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<UserRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn list(conn: &mut Conn, org_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<UserRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
        .bind(org_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn count_admins(conn: &mut Conn, org_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE organization_id = $1 AND role = 'admin' AND disabled = 0")
        .bind(org_id)
        .fetch_one(&mut *conn)
        .await?)
}

/// Writes the editable profile fields (name, role, disabled, password hash).
pub async fn update(conn: &mut Conn, u: &UserRow) -> Result<()> {
    let done = sqlx::query(
        "UPDATE users SET name = $3, role = $4, disabled = $5, password_hash = $6, updated_at = $7 WHERE organization_id = $1 AND id = $2",
    )
    .bind(&u.organization_id)
    .bind(&u.id)
    .bind(&u.name)
    .bind(&u.role)
    .bind(u.disabled)
    .bind(&u.password_hash)
    .bind(u.updated_at)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Takes the row lock of a user inside a write transaction (a no-op update; portable where
/// `SELECT … FOR UPDATE` is not), so that a read after it sees the latest committed row and no
/// other writer changes it before this transaction ends.
pub async fn lock(conn: &mut Conn, org_id: &str, id: &str) -> Result<()> {
    let done = sqlx::query("UPDATE users SET updated_at = updated_at WHERE organization_id = $1 AND id = $2")
        .bind(org_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Takes the row locks of the organization's admins (see [`lock`]), so that counting them and
/// demoting one cannot interleave with another demotion.
pub async fn lock_admins(conn: &mut Conn, org_id: &str) -> Result<()> {
    sqlx::query("UPDATE users SET updated_at = updated_at WHERE organization_id = $1 AND role = 'admin'")
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Counts a login attempt before its password is verified: adds one to `failed_logins` unless
/// the account is locked at `now_ms`. Returns the count and the lock time.
pub async fn count_login_attempt(conn: &mut Conn, id: &str, now_ms: i64) -> Result<(i64, Option<i64>)> {
    sqlx::query_as(
        "UPDATE users SET failed_logins = CASE WHEN locked_until > $2 THEN failed_logins ELSE failed_logins + 1 END WHERE id = $1 RETURNING failed_logins, locked_until",
    )
    .bind(id)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound)
}

/// Locks an account until `until` and restarts its count, unless it is locked at `now_ms`
/// already. Returns whether this call locked it.
pub async fn lock_account(conn: &mut Conn, id: &str, until: i64, now_ms: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE users SET locked_until = $2, failed_logins = 0 WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $3)")
            .bind(id)
            .bind(until)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// A successful login (or a right password for a disabled account): the count restarts.
pub async fn record_successful_login(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}
