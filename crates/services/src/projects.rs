//! Projects: a team's workspace inside an organization, with members and per-project roles.

use crate::audit::{append, AuditEvent};
use crate::crypto::new_id;
use crate::error::OrNotFound;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::projects::{MemberRow, NamedMemberRow, ProjectRow};
use domain::ids::IdKind;
use domain::permissions::PermissionSet;
use domain::visibility::{can_view, ResourceAccess};
use domain::{validate, Permission, Role, ValidationError, Visibility};

#[derive(Debug, Clone, Default)]
pub struct NewProject {
    pub name: String,
    pub description: Option<String>,
    pub visibility: Option<String>,
}

/// Who to add to a project: a user of the organization by id or by email.
#[derive(Debug, Clone, Copy)]
pub enum MemberRef<'a> {
    Id(&'a str),
    Email(&'a str),
}

#[derive(Debug, Clone, Default)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
}

/// A project as the caller sees it.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    pub project: ProjectRow,
    pub my_role: Option<Role>,
    pub my_permissions: PermissionSet,
}

fn project_visibility(value: &str) -> Result<Visibility> {
    let v = validate::visibility("visibility", value)?;
    if v == Visibility::Users {
        return Err(domain::ValidationError::new("visibility", "projects are visible to their members ('project'), the organization ('organization') or their owner ('private'); 'users' applies to resources inside a project").into());
    }
    Ok(v)
}

impl Services {
    /// A project the caller may see, with the caller's role and permissions in it; 404 otherwise.
    pub async fn visible_project(&self, principal: &Principal, id: &str) -> Result<ProjectAccess> {
        if principal.project_restriction().is_some_and(|p| p != id) {
            return Err(Error::NotFound("project"));
        }
        let mut conn = self.db().read().await?;
        let project = database::projects::get(&mut conn, &principal.organization_id, id).await.or_not_found("project")?;
        let member = database::projects::member(&mut conn, id, &principal.user_id).await?;
        self.project_access(principal, project, member.as_ref())
    }

    fn project_access(&self, principal: &Principal, project: ProjectRow, member: Option<&MemberRow>) -> Result<ProjectAccess> {
        let my_role = member.map(|m| crate::auth::stored_role(&m.role)).transpose()?;
        let visibility = crate::auth::stored_visibility(&project.visibility, &project.id)?;
        let access = ResourceAccess {
            organization_id: &project.organization_id,
            owner_id: &project.created_by,
            visibility,
            viewer_is_project_member: my_role.is_some(),
            shared_with: &[],
        };
        if !can_view(&access, &principal.viewer()) {
            return Err(Error::NotFound("project"));
        }
        let my_permissions = principal.project_permissions(my_role, project.created_by == principal.user_id);
        Ok(ProjectAccess { project, my_role, my_permissions })
    }

    /// A visible project where the caller holds `permission`.
    async fn project_with(&self, principal: &Principal, id: &str, permission: Permission) -> Result<ProjectAccess> {
        let access = self.visible_project(principal, id).await?;
        if !access.my_permissions.contains(permission) {
            return Err(Error::PermissionDenied(permission));
        }
        Ok(access)
    }

    /// Creates a project. Needs `upload_dataset` (anyone who may bring work into the platform).
    /// The creator becomes a member with their organization role, and as the project's owner
    /// also holds `manage_resources` in it; nothing else is gained by creating a project.
    pub async fn create_project(&self, principal: &Principal, n: NewProject, ctx: &RequestContext) -> Result<ProjectAccess> {
        principal.require(Permission::UploadDataset)?;
        if principal.project_restriction().is_some() {
            return Err(Error::Forbidden("an API key restricted to a project cannot create projects".into()));
        }
        let now = now_ms();
        let project = ProjectRow {
            id: new_id(IdKind::Project),
            organization_id: principal.organization_id.clone(),
            name: validate::name("name", &n.name)?,
            description: validate::description("description", n.description.as_deref().unwrap_or(""))?,
            visibility: project_visibility(n.visibility.as_deref().unwrap_or("project"))?.as_str().to_string(),
            created_by: principal.user_id.clone(),
            created_at: now,
            updated_at: now,
        };
        let member = MemberRow {
            project_id: project.id.clone(),
            user_id: principal.user_id.clone(),
            organization_id: principal.organization_id.clone(),
            role: principal.org_role.as_str().to_string(),
            added_at: now,
        };
        let mut tx = self.db().begin_write().await?;
        database::projects::insert(tx.conn(), &project).await?;
        database::projects::upsert_member(tx.conn(), &member).await?;
        let event = AuditEvent::by(principal, "project.create")
            .target("project", &project.id)
            .details(serde_json::json!({"name": project.name, "visibility": project.visibility}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        self.project_access(principal, project, Some(&member))
    }

    /// Projects visible to the caller, in creation order after the cursor.
    pub async fn list_projects(&self, principal: &Principal, after: Option<&str>, limit: Option<i64>) -> Result<Page<ProjectAccess>> {
        let limit = validate::page_limit(limit)?;
        let mut conn = self.db().read().await?;
        let memberships = database::projects::memberships(&mut conn, &principal.user_id).await?;
        let mut items = Vec::new();
        let mut cursor = after.map(str::to_string);
        // Scan forward in batches until a page of visible projects is filled.
        loop {
            let batch = database::projects::list(&mut conn, &principal.organization_id, cursor.as_deref(), 200).await?;
            let exhausted = batch.len() < 200;
            for project in batch {
                cursor = Some(project.id.clone());
                if principal.project_restriction().is_some_and(|p| p != project.id) {
                    continue;
                }
                let member = memberships.iter().find(|m| m.project_id == project.id);
                if let Ok(access) = self.project_access(principal, project, member) {
                    if items.len() as i64 == limit {
                        return Ok(Page { items, has_more: true });
                    }
                    items.push(access);
                }
            }
            if exhausted {
                return Ok(Page { items, has_more: false });
            }
        }
    }

    pub async fn update_project(&self, principal: &Principal, id: &str, c: ProjectChanges, ctx: &RequestContext) -> Result<ProjectAccess> {
        let mut access = self.project_with(principal, id, Permission::ManageResources).await?;
        let p = &mut access.project;
        if let Some(name) = &c.name {
            p.name = validate::name("name", name)?;
        }
        if let Some(d) = &c.description {
            p.description = validate::description("description", d)?;
        }
        if let Some(v) = &c.visibility {
            p.visibility = project_visibility(v)?.as_str().to_string();
        }
        p.updated_at = now_ms();
        let mut tx = self.db().begin_write().await?;
        database::projects::update(tx.conn(), p).await.or_not_found("project")?;
        let event = AuditEvent::by(principal, "project.update").target("project", id).details(serde_json::json!({
            "name": c.name, "description_changed": c.description.is_some(), "visibility": c.visibility
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(access)
    }

    pub async fn delete_project(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        let access = self.project_with(principal, id, Permission::ManageResources).await?;
        let mut tx = self.db().begin_write().await?;
        // Data is never deleted as a side effect: the project must be emptied first.
        let datasets = database::datasets::count_in_project(tx.conn(), &principal.organization_id, id).await?;
        if datasets > 0 {
            return Err(Error::Conflict(format!("the project still holds {datasets} dataset(s); delete or move them first")));
        }
        // The project's API keys go with it (the foreign key cascades): each one still in force
        // gets its revocation record.
        let keys = database::api_keys::for_project(tx.conn(), &principal.organization_id, id).await?;
        database::projects::delete(tx.conn(), &principal.organization_id, id).await.or_not_found("project")?;
        for key in keys.iter().filter(|k| k.revoked_at.is_none()) {
            let event = AuditEvent::by(principal, "api_key.revoke")
                .target("api_key", &key.id)
                .details(serde_json::json!({"prefix": key.prefix, "reason": "project_deleted", "project_id": id}));
            append(tx.conn(), self.derived_keys(), event, ctx).await?;
        }
        let event =
            AuditEvent::by(principal, "project.delete").target("project", id).details(serde_json::json!({"name": access.project.name}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_members(&self, principal: &Principal, id: &str) -> Result<Vec<NamedMemberRow>> {
        self.visible_project(principal, id).await?;
        Ok(database::projects::members(&mut *self.db().read().await?, id).await?)
    }

    /// Adds a member of the organization to the project, or changes their project role
    /// (`existing_only`: only change the role of someone already a member). Nobody grants more
    /// than they hold: the role's permissions must all be the caller's in this project.
    pub async fn set_member(
        &self,
        principal: &Principal,
        id: &str,
        who: MemberRef<'_>,
        role: &str,
        existing_only: bool,
        ctx: &RequestContext,
    ) -> Result<NamedMemberRow> {
        let access = self.project_with(principal, id, Permission::ManageResources).await?;
        let role = validate::role("role", role)?;
        if let Some(missing) = PermissionSet::of_role(role).iter().find(|p| !access.my_permissions.contains(*p)) {
            return Err(Error::PermissionDenied(missing));
        }
        let mut tx = self.db().begin_write().await?;
        let user = match who {
            MemberRef::Id(user_id) => database::users::get(tx.conn(), &principal.organization_id, user_id).await.or_not_found("user")?,
            MemberRef::Email(email) => {
                // Well formed by the schema (a string); an address that is not one is a 422.
                let email = validate::email("email", email).map_err(|e| ValidationError::unprocessable("email", e.message))?;
                // Login looks emails up across organizations; another organization's user is
                // not found here.
                database::users::by_email(tx.conn(), &email)
                    .await?
                    .filter(|u| u.organization_id == principal.organization_id)
                    .ok_or(Error::NotFound("user"))?
            }
        };
        let previous = database::projects::member(tx.conn(), id, &user.id).await?;
        if existing_only && previous.is_none() {
            return Err(Error::NotFound("member"));
        }
        let member = MemberRow {
            project_id: id.to_string(),
            user_id: user.id.clone(),
            organization_id: principal.organization_id.clone(),
            role: role.as_str().to_string(),
            added_at: previous.as_ref().map(|m| m.added_at).unwrap_or_else(now_ms),
        };
        database::projects::upsert_member(tx.conn(), &member).await?;
        let action = if previous.is_some() { "project.member_role_change" } else { "project.member_add" };
        let event = AuditEvent::by(principal, action).target("project", id).details(serde_json::json!({
            "user_id": user.id, "role": member.role, "previous_role": previous.map(|m| m.role)
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(NamedMemberRow { member, name: user.name, email: user.email })
    }

    pub async fn remove_member(&self, principal: &Principal, id: &str, user_id: &str, ctx: &RequestContext) -> Result<()> {
        self.project_with(principal, id, Permission::ManageResources).await?;
        let mut tx = self.db().begin_write().await?;
        database::projects::remove_member(tx.conn(), id, user_id).await.or_not_found("member")?;
        let event =
            AuditEvent::by(principal, "project.member_remove").target("project", id).details(serde_json::json!({"user_id": user_id}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(())
    }
}
