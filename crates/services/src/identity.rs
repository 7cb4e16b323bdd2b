//! Joining the platform: the first user's bootstrap, registration by invitation or open policy.

use crate::audit::{append, AuditEvent};
use crate::crypto::{hash_password, new_id, sha256_hex};
use crate::error::OrNotFound;
use crate::{now_ms, Error, RequestContext, Result, Services};
use database::organizations::OrganizationRow;
use database::users::UserRow;
use domain::ids::IdKind;
use domain::{validate, Role};

pub const DEFAULT_ORGANIZATION_NAME: &str = "Default";

/// A registration request.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: String,
    pub name: String,
    pub password: String,
    pub invitation_token: Option<String>,
}

/// Builds a new user row (the password is hashed here).
pub(crate) async fn new_user(org_id: &str, email: &str, name: &str, password: &str, role: Role, instance_admin: bool) -> Result<UserRow> {
    let email = validate::email("email", email)?;
    let name = validate::name("name", name)?;
    let password = validate::password("password", password)?;
    let now = now_ms();
    Ok(UserRow {
        id: new_id(IdKind::User),
        organization_id: org_id.to_string(),
        email,
        name,
        password_hash: hash_password(password).await?,
        role: role.as_str().to_string(),
        is_instance_admin: i64::from(instance_admin),
        disabled: 0,
        failed_logins: 0,
        locked_until: None,
        created_at: now,
        updated_at: now,
    })
}

pub(crate) fn new_organization(name: &str) -> Result<OrganizationRow> {
    let now = now_ms();
    Ok(OrganizationRow {
        id: new_id(IdKind::Organization),
        name: validate::name("name", name)?,
        open_registration: 0,
        default_role: Role::Viewer.as_str().to_string(),
        created_at: now,
        updated_at: now,
    })
}

impl Services {
    /// Registers a user. The first user of a fresh install becomes instance admin and admin of
    /// the default organization; later users need an invitation or an organization whose
    /// admins turned on open registration.
    pub async fn register(&self, r: Registration, ctx: &RequestContext) -> Result<UserRow> {
        let mut tx = self.db().begin_write().await?;
        let (user, how) = if database::instance::claim_bootstrap(tx.conn()).await? {
            let org = new_organization(DEFAULT_ORGANIZATION_NAME)?;
            database::organizations::insert(tx.conn(), &org).await?;
            database::instance::set_default_organization(tx.conn(), &org.id).await?;
            let user = new_user(&org.id, &r.email, &r.name, &r.password, Role::Admin, true).await?;
            (user, "bootstrap")
        } else if let Some(token) = &r.invitation_token {
            let invitation = database::invitations::by_token_hash(tx.conn(), &sha256_hex(token))
                .await?
                .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now_ms())
                .ok_or_else(|| Error::Forbidden("the invitation is not valid: unknown, used, revoked or expired".into()))?;
            let email = validate::email("email", &r.email)?;
            if email != invitation.email {
                return Err(Error::Forbidden(format!("the invitation was issued to another email address, not '{email}'")));
            }
            if !database::invitations::accept(tx.conn(), &invitation.id, now_ms()).await? {
                return Err(Error::Conflict("the invitation was used meanwhile".into()));
            }
            let role = crate::auth::stored_role(&invitation.role)?;
            let user = new_user(&invitation.organization_id, &r.email, &r.name, &r.password, role, false).await?;
            (user, "invitation")
        } else {
            let org_id = database::instance::default_organization(tx.conn())
                .await?
                .ok_or_else(|| Error::Forbidden("registration is closed".into()))?;
            let org = database::organizations::get(tx.conn(), &org_id).await.or_not_found("organization")?;
            if !org.open_registration() {
                return Err(Error::Forbidden("registration is closed: ask an administrator for an invitation".into()));
            }
            let role = crate::auth::stored_role(&org.default_role)?;
            let user = new_user(&org.id, &r.email, &r.name, &r.password, role, false).await?;
            (user, "open_registration")
        };
        database::users::insert(tx.conn(), &user).await?;
        let event = AuditEvent {
            actor_id: Some(user.id.clone()),
            actor_kind: "user",
            ..AuditEvent::anonymous(Some(&user.organization_id), "auth.register")
        }
        .target("user", &user.id)
        .details(serde_json::json!({"via": how, "role": user.role}));
        append(tx.conn(), event, ctx).await?;
        tx.commit().await?;
        Ok(user)
    }
}
