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

/// Records a failed login; returns the new failure count.
pub async fn record_failed_login(conn: &mut Conn, id: &str, lock_until: Option<i64>, lock_after: i64) -> Result<i64> {
    let count: i64 = sqlx::query_scalar("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    if count >= lock_after {
        sqlx::query("UPDATE users SET locked_until = $2, failed_logins = 0 WHERE id = $1")
            .bind(id)
            .bind(lock_until)
            .execute(&mut *conn)
            .await?;
    }
    Ok(count)
}

pub async fn record_successful_login(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}
