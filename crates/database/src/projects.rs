//! Projects and their members.

use crate::{conflict_on_unique, Conn, Error, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    pub visibility: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub project_id: String,
    pub user_id: String,
    pub organization_id: String,
    pub role: String,
    pub added_at: i64,
}

const COLUMNS: &str = "id, organization_id, name, description, visibility, created_by, created_at, updated_at";

pub async fn insert(conn: &mut Conn, p: &ProjectRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO projects ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
        .bind(&p.id)
        .bind(&p.organization_id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(&p.visibility)
        .bind(&p.created_by)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_on_unique(e, "a project with this name exists in the organization"))?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: &str, id: &str) -> Result<ProjectRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM projects WHERE organization_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)
}

/// Projects of the organization, in id order after the cursor. Visibility is filtered by the caller.
pub async fn list(conn: &mut Conn, org_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<ProjectRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM projects WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
        .bind(org_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn update(conn: &mut Conn, p: &ProjectRow) -> Result<()> {
    let done = sqlx::query(
        "UPDATE projects SET name = $3, description = $4, visibility = $5, updated_at = $6 WHERE organization_id = $1 AND id = $2",
    )
    .bind(&p.organization_id)
    .bind(&p.id)
    .bind(&p.name)
    .bind(&p.description)
    .bind(&p.visibility)
    .bind(p.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict_on_unique(e, "a project with this name exists in the organization"))?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

pub async fn delete(conn: &mut Conn, org_id: &str, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND organization_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM projects WHERE organization_id = $1 AND id = $2").bind(org_id).bind(id).execute(&mut *conn).await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

pub async fn member(conn: &mut Conn, project_id: &str, user_id: &str) -> Result<Option<MemberRow>> {
    Ok(sqlx::query_as(
        "SELECT project_id, user_id, organization_id, role, added_at FROM project_members WHERE project_id = $1 AND user_id = $2",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The projects a user belongs to, with the role held in each.
pub async fn memberships(conn: &mut Conn, user_id: &str) -> Result<Vec<MemberRow>> {
    Ok(sqlx::query_as("SELECT project_id, user_id, organization_id, role, added_at FROM project_members WHERE user_id = $1")
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?)
}

/// A member with the name and email of the user they are.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NamedMemberRow {
    #[sqlx(flatten)]
    pub member: MemberRow,
    pub name: String,
    pub email: String,
}

/// A project's members with their names, in the order they were added.
pub async fn members(conn: &mut Conn, project_id: &str) -> Result<Vec<NamedMemberRow>> {
    Ok(sqlx::query_as(
        "SELECT m.project_id, m.user_id, m.organization_id, m.role, m.added_at, u.name, u.email FROM project_members m \
         JOIN users u ON u.id = m.user_id AND u.organization_id = m.organization_id \
         WHERE m.project_id = $1 ORDER BY m.added_at, m.user_id",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Adds a member or changes their role.
pub async fn upsert_member(conn: &mut Conn, m: &MemberRow) -> Result<()> {
    sqlx::query("INSERT INTO project_members (project_id, user_id, organization_id, role, added_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role")
        .bind(&m.project_id)
        .bind(&m.user_id)
        .bind(&m.organization_id)
        .bind(&m.role)
        .bind(m.added_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn remove_member(conn: &mut Conn, project_id: &str, user_id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
        .bind(project_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
