//! Organizations (tenants): created by instance admins, configured by their own admins.

use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::identity::{new_organization, new_user};
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::organizations::OrganizationRow;
use database::users::UserRow;
use domain::{validate, Permission, Role};

/// The first admin of a new organization.
#[derive(Debug, Clone)]
pub struct NewAdmin {
    pub email: String,
    pub name: String,
    pub password: String,
}

/// Changes to an organization; `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub open_registration: Option<bool>,
    pub default_role: Option<String>,
    /// Inference requests per minute across the organization (0: no limit).
    pub inference_requests_per_minute: Option<u64>,
    /// Inference tokens per minute across the organization (0: no limit).
    pub inference_tokens_per_minute: Option<u64>,
}

impl Services {
    pub async fn create_organization(
        &self,
        principal: &Principal,
        name: &str,
        admin: Option<NewAdmin>,
        ctx: &RequestContext,
    ) -> Result<(OrganizationRow, Option<UserRow>)> {
        if !principal.is_instance_admin {
            return Err(Error::Forbidden("only an instance administrator may create organizations".into()));
        }
        // Instance powers go through the credential too: a narrowly scoped or project-restricted
        // API key of an instance admin cannot create organizations.
        principal.require(Permission::ManageUsers)?;
        principal.require(Permission::ManageResources)?;
        if let Some(project) = principal.project_restriction() {
            return Err(Error::Forbidden(format!("this API key is restricted to project {project} and cannot create organizations")));
        }
        let org = new_organization(name)?;
        let admin = match admin {
            Some(a) => Some(new_user(&org.id, &a.email, &a.name, &a.password, Role::Admin, false).await?),
            None => None,
        };
        let mut tx = self.db().begin_write().await?;
        database::organizations::insert(tx.conn(), &org).await?;
        if let Some(a) = &admin {
            database::users::insert(tx.conn(), a).await?;
        }
        let event = AuditEvent::by(principal, "organization.create")
            .target("organization", &org.id)
            .details(serde_json::json!({"name": org.name, "admin": admin.as_ref().map(|a| &a.id)}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok((org, admin))
    }

    /// Instance admins see every organization; everyone else sees their own.
    pub async fn list_organizations(
        &self,
        principal: &Principal,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<OrganizationRow>> {
        let limit = validate::page_limit(limit)?;
        let mut conn = self.db().read().await?;
        if principal.is_instance_admin {
            let rows = database::organizations::list(&mut conn, after, limit + 1).await?;
            return Ok(Page::from_rows(rows, limit));
        }
        let own = database::organizations::get(&mut conn, &principal.organization_id).await?;
        let items = if after.is_some_and(|a| a >= own.id.as_str()) { vec![] } else { vec![own] };
        Ok(Page { items, has_more: false })
    }

    pub async fn get_organization(&self, principal: &Principal, id: &str) -> Result<OrganizationRow> {
        if id != principal.organization_id && !principal.is_instance_admin {
            return Err(Error::NotFound("organization"));
        }
        database::organizations::get(&mut *self.db().read().await?, id).await.or_not_found("organization")
    }

    pub async fn update_organization(
        &self,
        principal: &Principal,
        id: &str,
        c: OrganizationChanges,
        ctx: &RequestContext,
    ) -> Result<OrganizationRow> {
        let mut org = self.get_organization(principal, id).await?;
        // Instance admins too: their credential's scopes apply like everyone's.
        principal.require(Permission::ManageUsers)?;
        if let Some(name) = &c.name {
            org.name = validate::name("name", name)?;
        }
        if let Some(open) = c.open_registration {
            org.open_registration = i64::from(open);
        }
        if let Some(role) = &c.default_role {
            let role = validate::role("default_role", role)?;
            if role == Role::Admin {
                return Err(domain::ValidationError::unprocessable("default_role", "open registration cannot grant the admin role").into());
            }
            org.default_role = role.as_str().to_string();
        }
        let limit = |v: u64| (v > 0).then(|| i64::try_from(v).unwrap_or(i64::MAX));
        for (field, value, max) in [
            ("inference_requests_per_minute", c.inference_requests_per_minute, 1_000_000_000u64),
            ("inference_tokens_per_minute", c.inference_tokens_per_minute, 1_000_000_000_000),
        ] {
            if value.is_some_and(|v| v > max) {
                return Err(domain::ValidationError::new(field, format!("must be 0 (no limit) to {max}")).into());
            }
        }
        if let Some(v) = c.inference_requests_per_minute {
            org.inference_requests_per_minute = limit(v);
        }
        if let Some(v) = c.inference_tokens_per_minute {
            org.inference_tokens_per_minute = limit(v);
        }
        org.updated_at = now_ms();
        let mut tx = self.db().begin_write().await?;
        database::organizations::update(tx.conn(), &org).await.or_not_found("organization")?;
        let event = AuditEvent::by(principal, "organization.update").target("organization", &org.id).details(serde_json::json!({
            "name": c.name, "open_registration": c.open_registration, "default_role": c.default_role,
            "inference_requests_per_minute": c.inference_requests_per_minute, "inference_tokens_per_minute": c.inference_tokens_per_minute,
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(org)
    }
}
