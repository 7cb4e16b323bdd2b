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

/// A new user's validated email and name and hashed password, prepared before any
/// transaction opens (hashing is slow; it never runs while holding the writer).
pub(crate) struct NewCredentials {
    email: String,
    name: String,
    password_hash: String,
}

impl NewCredentials {
    pub(crate) async fn prepare(email: &str, name: &str, password: &str) -> Result<NewCredentials> {
        let email = validate::email("email", email)?;
        let name = validate::name("name", name)?;
        let password = validate::password("password", password)?;
        Ok(NewCredentials { email, name, password_hash: hash_password(password).await? })
    }

    /// The user row, in `org_id` with `role`.
    pub(crate) fn user(self, org_id: &str, role: Role, instance_admin: bool) -> UserRow {
        let now = now_ms();
        UserRow {
            id: new_id(IdKind::User),
            organization_id: org_id.to_string(),
            email: self.email,
            name: self.name,
            password_hash: self.password_hash,
            role: role.as_str().to_string(),
            is_instance_admin: i64::from(instance_admin),
            disabled: 0,
            failed_logins: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Builds a new user row (the password is hashed here).
pub(crate) async fn new_user(org_id: &str, email: &str, name: &str, password: &str, role: Role, instance_admin: bool) -> Result<UserRow> {
    Ok(NewCredentials::prepare(email, name, password).await?.user(org_id, role, instance_admin))
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
        inference_requests_per_minute: None,
        inference_tokens_per_minute: None,
    })
}

/// Who may register now, for the sign-up page: nobody needs to sign in to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationStatus {
    /// A fresh install: the next account becomes the administrator.
    pub first_run: bool,
    /// Anyone may register into the default organization without an invitation.
    pub open_registration: bool,
}

impl Services {
    /// Whether this is a fresh install and whether registration without an invitation is open.
    pub async fn registration_status(&self) -> Result<RegistrationStatus> {
        let mut conn = self.db().read().await?;
        if !database::instance::bootstrapped(&mut conn).await? {
            return Ok(RegistrationStatus { first_run: true, open_registration: true });
        }
        let open = match database::instance::default_organization(&mut conn).await? {
            Some(org_id) => database::organizations::get(&mut conn, &org_id).await.or_not_found("organization")?.open_registration(),
            None => false,
        };
        Ok(RegistrationStatus { first_run: false, open_registration: open })
    }

    /// Registers a user. The first user of a fresh install becomes instance admin and admin of
    /// the default organization; later users need an invitation or an organization whose
    /// admins turned on open registration.
    pub async fn register(&self, r: Registration, ctx: &RequestContext) -> Result<UserRow> {
        let credentials = NewCredentials::prepare(&r.email, &r.name, &r.password).await?;
        let mut tx = self.db().begin_write().await?;
        let (user, how) = if database::instance::claim_bootstrap(tx.conn()).await? {
            let org = new_organization(DEFAULT_ORGANIZATION_NAME)?;
            database::organizations::insert(tx.conn(), &org).await?;
            database::instance::set_default_organization(tx.conn(), &org.id).await?;
            (credentials.user(&org.id, Role::Admin, true), "bootstrap")
        } else if let Some(token) = &r.invitation_token {
            let invitation = database::invitations::by_token_hash(tx.conn(), &sha256_hex(token))
                .await?
                .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now_ms())
                .ok_or_else(|| Error::Forbidden("the invitation is not valid: unknown, used, revoked or expired".into()))?;
            if credentials.email != invitation.email {
                return Err(Error::Forbidden(format!("the invitation was issued to another email address, not '{}'", credentials.email)));
            }
            if !database::invitations::accept(tx.conn(), &invitation.id, now_ms()).await? {
                return Err(Error::Conflict("the invitation was used meanwhile".into()));
            }
            let role = crate::auth::stored_role(&invitation.role)?;
            (credentials.user(&invitation.organization_id, role, false), "invitation")
        } else {
            let org_id = database::instance::default_organization(tx.conn())
                .await?
                .ok_or_else(|| Error::Forbidden("registration is closed".into()))?;
            let org = database::organizations::get(tx.conn(), &org_id).await.or_not_found("organization")?;
            if !org.open_registration() {
                return Err(Error::Forbidden("registration is closed: ask an administrator for an invitation".into()));
            }
            let role = crate::auth::stored_role(&org.default_role)?;
            (credentials.user(&org.id, role, false), "open_registration")
        };
        database::users::insert(tx.conn(), &user).await?;
        let event = AuditEvent {
            actor_id: Some(user.id.clone()),
            actor_kind: "user",
            ..AuditEvent::anonymous(Some(&user.organization_id), "auth.register")
        }
        .target("user", &user.id)
        .details(serde_json::json!({"via": how, "role": user.role}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(user)
    }
}
