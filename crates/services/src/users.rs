//! Users of an organization and invitations to join it.

use crate::audit::{append, AuditEvent};
use crate::crypto::{hash_password, new_id, random_token, sha256_hex, verify_password};
use crate::error::OrNotFound;
use crate::identity::new_user;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::invitations::InvitationRow;
use database::users::UserRow;
use domain::ids::IdKind;
use domain::{validate, Permission, Role, ValidationError};

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: String,
    pub role: String,
}

/// Changes to a user; `None` keeps the value. Role and disabled need `manage_users`; a user
/// may change their own name and password (with the current password).
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub role: Option<String>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
    pub current_password: Option<String>,
}

impl Services {
    pub async fn create_user(&self, principal: &Principal, n: NewUser, ctx: &RequestContext) -> Result<UserRow> {
        principal.require(Permission::ManageUsers)?;
        let role = validate::role("role", &n.role)?;
        let user = new_user(&principal.organization_id, &n.email, &n.name, &n.password, role, false).await?;
        let mut tx = self.db().begin_write().await?;
        database::users::insert(tx.conn(), &user).await?;
        let event = AuditEvent::by(principal, "user.create")
            .target("user", &user.id)
            .details(serde_json::json!({"email": user.email, "role": user.role}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn list_users(&self, principal: &Principal, after: Option<&str>, limit: Option<i64>) -> Result<Page<UserRow>> {
        principal.require(Permission::ManageUsers)?;
        let limit = validate::page_limit(limit)?;
        let rows = database::users::list(&mut *self.db().read().await?, &principal.organization_id, after, limit + 1).await?;
        Ok(Page::from_rows(rows, limit))
    }

    /// A user of the caller's organization: oneself, or anyone with `manage_users`.
    pub async fn get_user(&self, principal: &Principal, id: &str) -> Result<UserRow> {
        let user = database::users::get(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("user")?;
        if user.id != principal.user_id {
            principal.require(Permission::ManageUsers)?;
        }
        Ok(user)
    }

    /// Applies `c` to a user. The row is re-read under its row lock inside the write
    /// transaction and only the fields named in `c` change, so concurrent updates (an admin
    /// disabling the user while they rename themselves) cannot undo each other. Passwords are
    /// verified and hashed before the transaction.
    pub async fn update_user(&self, principal: &Principal, id: &str, c: UserChanges, ctx: &RequestContext) -> Result<UserRow> {
        let seen = self.get_user(principal, id).await?;
        let is_self = seen.id == principal.user_id;
        if c.role.is_some() || c.disabled.is_some() || (c.password.is_some() && !is_self) {
            principal.require(Permission::ManageUsers)?;
        }
        let name = c.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
        let role = c.role.as_deref().map(|r| validate::role("role", r)).transpose()?;
        if c.disabled == Some(true) && is_self {
            return Err(Error::Conflict("you cannot disable your own account".into()));
        }
        let password_hash = match &c.password {
            Some(password) => {
                let password = validate::password("password", password)?;
                if is_self {
                    let current = c
                        .current_password
                        .clone()
                        .ok_or_else(|| ValidationError::unprocessable("current_password", "is required to change your own password"))?;
                    if !verify_password(current, seen.password_hash.clone()).await? {
                        return Err(ValidationError::unprocessable("current_password", "does not match").into());
                    }
                }
                Some(hash_password(password).await?)
            }
            None => None,
        };
        let org = principal.organization_id.as_str();
        let mut tx = self.db().begin_write().await?;
        // Lock order: the organization's admins first (a role or disabled change may remove an
        // admin), then the user; every transaction takes them in this order.
        let admin_change = c.role.is_some() || c.disabled.is_some();
        if admin_change {
            database::users::lock_admins(tx.conn(), org).await?;
        }
        database::users::lock(tx.conn(), org, id).await.or_not_found("user")?;
        let mut user = database::users::get(tx.conn(), org, id).await.or_not_found("user")?;
        if is_self && password_hash.is_some() && user.password_hash != seen.password_hash {
            return Err(Error::Conflict("the password was changed meanwhile; try again with the current one".into()));
        }
        let old_role = user.role.clone();
        let was_admin = user.role == Role::Admin.as_str() && !user.disabled();
        if let Some(name) = name {
            user.name = name;
        }
        if let Some(role) = role {
            user.role = role.as_str().to_string();
        }
        if let Some(disabled) = c.disabled {
            user.disabled = i64::from(disabled);
        }
        if let Some(hash) = password_hash {
            user.password_hash = hash;
        }
        let now = now_ms();
        user.updated_at = now;
        let stays_admin = user.role == Role::Admin.as_str() && !user.disabled();
        // The admins' rows are locked: no other demotion can interleave with this count.
        if admin_change && was_admin && !stays_admin && database::users::count_admins(tx.conn(), org).await? <= 1 {
            return Err(Error::Conflict("the organization must keep at least one active admin".into()));
        }
        database::users::update(tx.conn(), &user).await.or_not_found("user")?;
        if c.disabled == Some(true) {
            database::sessions::revoke_all_for_user(tx.conn(), &user.id, "user_disabled", now).await?;
            database::api_keys::revoke_all_for_user(tx.conn(), &user.id, now).await?;
        } else if c.password.is_some() {
            database::sessions::revoke_all_for_user(tx.conn(), &user.id, "password_changed", now).await?;
        }
        let mut changed = serde_json::Map::new();
        if c.name.is_some() {
            changed.insert("name".into(), user.name.clone().into());
        }
        if let Some(d) = c.disabled {
            changed.insert("disabled".into(), d.into());
        }
        if c.password.is_some() {
            changed.insert("password".into(), "changed".into());
        }
        if user.role != old_role {
            let event = AuditEvent::by(principal, "user.role_change")
                .target("user", &user.id)
                .details(serde_json::json!({"from": old_role, "to": user.role}));
            append(tx.conn(), self.derived_keys(), event, ctx).await?;
        }
        let event = AuditEvent::by(principal, "user.update").target("user", &user.id).details(changed.into());
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Invites an email address into the caller's organization; returns the one-time token.
    pub async fn create_invitation(
        &self,
        principal: &Principal,
        email: &str,
        role: &str,
        ctx: &RequestContext,
    ) -> Result<(InvitationRow, String)> {
        principal.require(Permission::ManageUsers)?;
        let email = validate::email("email", email)?;
        let role = validate::role("role", role)?;
        let token = format!("inv_{}", random_token(32));
        let now = now_ms();
        let row = InvitationRow {
            id: new_id(IdKind::Invitation),
            organization_id: principal.organization_id.clone(),
            email,
            role: role.as_str().to_string(),
            token_hash: sha256_hex(&token),
            created_by: principal.user_id.clone(),
            created_at: now,
            expires_at: now + self.settings().invitation_ttl_s * 1000,
            accepted_at: None,
            revoked_at: None,
        };
        let mut tx = self.db().begin_write().await?;
        database::invitations::insert(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "invitation.create")
            .target("invitation", &row.id)
            .details(serde_json::json!({"email": row.email, "role": row.role}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok((row, token))
    }

    pub async fn list_invitations(&self, principal: &Principal, after: Option<&str>, limit: Option<i64>) -> Result<Page<InvitationRow>> {
        principal.require(Permission::ManageUsers)?;
        let limit = validate::page_limit(limit)?;
        let rows = database::invitations::list(&mut *self.db().read().await?, &principal.organization_id, after, limit + 1).await?;
        Ok(Page::from_rows(rows, limit))
    }

    pub async fn revoke_invitation(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        principal.require(Permission::ManageUsers)?;
        let mut tx = self.db().begin_write().await?;
        database::invitations::revoke(tx.conn(), &principal.organization_id, id, now_ms()).await.or_not_found("invitation")?;
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "invitation.revoke").target("invitation", id), ctx).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Services {
    /// The caller's own user, organization and project memberships.
    pub async fn me(
        &self,
        principal: &Principal,
    ) -> Result<(UserRow, database::organizations::OrganizationRow, Vec<database::projects::MemberRow>)> {
        let mut conn = self.db().read().await?;
        let user = database::users::get(&mut conn, &principal.organization_id, &principal.user_id).await.or_not_found("user")?;
        let org = database::organizations::get(&mut conn, &principal.organization_id).await.or_not_found("organization")?;
        let mut memberships = database::projects::memberships(&mut conn, &principal.user_id).await?;
        if let Some(p) = principal.project_restriction() {
            memberships.retain(|m| m.project_id == p);
        }
        Ok((user, org, memberships))
    }
}
