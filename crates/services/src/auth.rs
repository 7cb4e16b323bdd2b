//! Who is calling: access tokens, API keys, login, refresh-token rotation and logout.

use crate::audit::{append, AuditEvent};
use crate::crypto::{self, new_id, random_token, sha256_hex};
use crate::tokens::{self, AccessClaims, VerifyError};
use crate::{now_ms, AuthFailure, Error, RequestContext, Result, Services};
use database::sessions::{RefreshTokenRow, SessionRow};
use database::users::UserRow;
use domain::audit::Outcome;
use domain::ids::IdKind;
use domain::permissions::{project_permissions, PermissionSet};
use domain::visibility::Viewer;
use domain::{Permission, Role};

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    Session { session_id: String },
    ApiKey { key_id: String, scopes: PermissionSet, project_id: Option<String> },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub organization_id: String,
    pub email: String,
    pub name: String,
    pub org_role: Role,
    pub is_instance_admin: bool,
    pub credential: Credential,
}

impl Principal {
    fn scope_limit(&self, perms: PermissionSet) -> PermissionSet {
        match &self.credential {
            Credential::ApiKey { scopes, .. } => perms.intersect(scopes),
            Credential::Session { .. } => perms,
        }
    }

    /// Permissions held across the organization.
    pub fn org_permissions(&self) -> PermissionSet {
        self.scope_limit(PermissionSet::of_role(self.org_role))
    }

    /// Permissions held inside one project, given the caller's role there.
    pub fn project_permissions(&self, project_role: Option<Role>) -> PermissionSet {
        self.scope_limit(project_permissions(self.org_role, project_role))
    }

    /// Requires an organization-wide permission.
    pub fn require(&self, permission: Permission) -> Result<()> {
        if !self.org_permissions().contains(permission) {
            return Err(Error::PermissionDenied(permission));
        }
        if let Credential::ApiKey { project_id: Some(project), .. } = &self.credential {
            if matches!(permission, Permission::ManageUsers | Permission::ManageResources) {
                return Err(Error::Forbidden(format!(
                    "this API key is restricted to project {project} and cannot manage the organization"
                )));
            }
        }
        Ok(())
    }

    /// The project an API key is restricted to, if any.
    pub fn project_restriction(&self) -> Option<&str> {
        match &self.credential {
            Credential::ApiKey { project_id, .. } => project_id.as_deref(),
            Credential::Session { .. } => None,
        }
    }

    pub fn is_org_admin(&self) -> bool {
        self.org_role == Role::Admin
    }

    pub fn viewer(&self) -> Viewer<'_> {
        Viewer { user_id: &self.user_id, organization_id: &self.organization_id, is_org_admin: self.is_org_admin() }
    }

    pub fn actor_kind(&self) -> &'static str {
        match self.credential {
            Credential::Session { .. } => "user",
            Credential::ApiKey { .. } => "api_key",
        }
    }

    pub fn api_key_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::ApiKey { key_id, .. } => Some(key_id),
            Credential::Session { .. } => None,
        }
    }
}

/// What a successful login or refresh returns.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user_id: String,
}

pub const API_KEY_PREFIX: &str = "tk_";
const GENERIC_ROLE_ERROR: &str = "stored role is not valid";

pub(crate) fn stored_role(value: &str) -> Result<Role> {
    Role::parse(value).ok_or_else(|| Error::Internal(format!("{GENERIC_ROLE_ERROR}: '{value}'")))
}

fn principal_of(user: UserRow, credential: Credential) -> Result<Principal> {
    Ok(Principal {
        org_role: stored_role(&user.role)?,
        is_instance_admin: user.is_instance_admin(),
        user_id: user.id,
        organization_id: user.organization_id,
        email: user.email,
        name: user.name,
        credential,
    })
}

impl Services {
    /// Authenticates a bearer token: an access token (JWT) or an API key (`tk_…`).
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal> {
        let unauthenticated = |f| Err(Error::Unauthenticated(f));
        let now = now_ms();
        let mut conn = self.db().read().await?;
        if let Some(rest) = bearer.strip_prefix(API_KEY_PREFIX) {
            let Some((prefix, _)) = rest.split_once('_') else { return unauthenticated(AuthFailure::InvalidToken) };
            let Some(key) = database::api_keys::by_prefix(&mut conn, prefix).await? else {
                return unauthenticated(AuthFailure::InvalidToken);
            };
            if !crypto::same(&sha256_hex(bearer), &key.key_hash) {
                return unauthenticated(AuthFailure::InvalidToken);
            }
            if key.revoked_at.is_some() {
                return unauthenticated(AuthFailure::ApiKeyRevoked);
            }
            if key.expires_at.is_some_and(|e| e <= now) {
                return unauthenticated(AuthFailure::ApiKeyExpired);
            }
            let user = database::users::by_id_unscoped(&mut conn, &key.user_id).await?;
            if user.disabled() {
                return unauthenticated(AuthFailure::AccountDisabled);
            }
            drop(conn);
            // Last-used time is coarse (one write a minute at most) so hot keys stay reads.
            let mut tx = self.db().begin_write().await?;
            database::api_keys::touch(tx.conn(), &key.id, now, 60_000).await?;
            tx.commit().await?;
            let scopes = PermissionSet::from_slice(&key.scopes.split_whitespace().filter_map(Permission::parse).collect::<Vec<_>>());
            return principal_of(user, Credential::ApiKey { key_id: key.id, scopes, project_id: key.project_id });
        }
        let claims = match tokens::verify(bearer, &self.inner.token_secret, now / 1000) {
            Ok(c) => c,
            Err(VerifyError::Expired) => return unauthenticated(AuthFailure::TokenExpired),
            Err(VerifyError::Malformed) => return unauthenticated(AuthFailure::InvalidToken),
        };
        let session = match database::sessions::get(&mut conn, &claims.sid).await {
            Ok(s) => s,
            Err(database::Error::NotFound) => return unauthenticated(AuthFailure::InvalidToken),
            Err(e) => return Err(e.into()),
        };
        if session.revoked_at.is_some() {
            return unauthenticated(AuthFailure::SessionRevoked);
        }
        let user = database::users::by_id_unscoped(&mut conn, &claims.sub).await?;
        if session.user_id != user.id || user.organization_id != claims.org {
            return unauthenticated(AuthFailure::InvalidToken);
        }
        if user.disabled() {
            return unauthenticated(AuthFailure::AccountDisabled);
        }
        principal_of(user, Credential::Session { session_id: session.id })
    }

    fn access_token(&self, user: &UserRow, session_id: &str, now: i64) -> String {
        let claims = AccessClaims {
            sub: user.id.clone(),
            org: user.organization_id.clone(),
            sid: session_id.to_string(),
            iat: now / 1000,
            exp: now / 1000 + self.settings().access_token_ttl_s,
            typ: "access".into(),
        };
        tokens::sign(&claims, &self.inner.token_secret)
    }

    /// Issues a fresh refresh token in `session_id` (inside the caller's transaction).
    async fn issue_refresh(&self, conn: &mut database::Conn, session_id: &str, now: i64) -> Result<String> {
        let refresh = format!("rt_{}", random_token(32));
        database::sessions::insert_refresh(
            conn,
            &RefreshTokenRow {
                token_hash: sha256_hex(&refresh),
                session_id: session_id.to_string(),
                created_at: now,
                expires_at: now + self.settings().refresh_token_ttl_s * 1000,
                used_at: None,
            },
        )
        .await?;
        Ok(refresh)
    }

    /// Password login. Failures are throttled per address and per account, and audited.
    pub async fn login(&self, email: &str, password: &str, ctx: &RequestContext) -> Result<TokenPair> {
        let ip = ctx.ip.clone().unwrap_or_default();
        if let Some(retry_after_s) = self.login_throttled(&ip) {
            self.record_event(
                AuditEvent::anonymous(None, "auth.login")
                    .outcome(Outcome::Denied)
                    .details(serde_json::json!({"email": email, "reason": "address_throttled"})),
                ctx,
            )
            .await?;
            return Err(Error::LoginThrottled { retry_after_s });
        }
        let email_norm = email.trim().to_lowercase();
        let user = database::users::by_email(&mut *self.db().read().await?, &email_norm).await?;
        let now = now_ms();
        if let Some(u) = &user {
            if let Some(until) = u.locked_until.filter(|t| *t > now) {
                self.record_event(
                    AuditEvent::anonymous(Some(&u.organization_id), "auth.login")
                        .target("user", &u.id)
                        .outcome(Outcome::Denied)
                        .details(serde_json::json!({"reason": "account_locked"})),
                    ctx,
                )
                .await?;
                return Err(Error::AccountLocked { retry_after_s: (until - now + 999) / 1000 });
            }
        }
        let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| crypto::DECOY_HASH.to_string());
        let ok = crypto::verify_password(password.to_string(), hash).await?;
        let user = match user {
            Some(u) if ok => u,
            other => return Err(self.failed_login(other, &email_norm, ctx).await?),
        };
        if user.disabled() {
            self.record_event(
                AuditEvent::anonymous(Some(&user.organization_id), "auth.login")
                    .target("user", &user.id)
                    .outcome(Outcome::Denied)
                    .details(serde_json::json!({"reason": "account_disabled"})),
                ctx,
            )
            .await?;
            return Err(Error::Unauthenticated(AuthFailure::AccountDisabled));
        }
        let mut tx = self.db().begin_write().await?;
        database::users::record_successful_login(tx.conn(), &user.id).await?;
        let session_id = new_id(IdKind::Session);
        database::sessions::insert(
            tx.conn(),
            &SessionRow {
                id: session_id.clone(),
                user_id: user.id.clone(),
                organization_id: user.organization_id.clone(),
                created_at: now,
                expires_at: now + self.settings().refresh_token_ttl_s * 1000,
                revoked_at: None,
                revoked_reason: None,
                ip: ctx.ip.clone(),
                user_agent: ctx.user_agent.clone(),
            },
        )
        .await?;
        let refresh_token = self.issue_refresh(tx.conn(), &session_id, now).await?;
        let event = AuditEvent {
            actor_id: Some(user.id.clone()),
            actor_kind: "user",
            ..AuditEvent::anonymous(Some(&user.organization_id), "auth.login")
        }
        .target("session", &session_id);
        append(tx.conn(), event, ctx).await?;
        tx.commit().await?;
        Ok(TokenPair {
            access_token: self.access_token(&user, &session_id, now),
            refresh_token,
            expires_in: self.settings().access_token_ttl_s,
            user_id: user.id,
        })
    }

    /// Counts a failed login against the account and the address; returns the error to answer.
    async fn failed_login(&self, user: Option<UserRow>, email: &str, ctx: &RequestContext) -> Result<Error> {
        let ip = ctx.ip.clone().unwrap_or_default();
        let address_throttled = self.charge_auth_failure(&ip).err();
        let now = now_ms();
        let s = self.settings();
        let mut tx = self.db().begin_write().await?;
        let mut locked = false;
        let org = user.as_ref().map(|u| u.organization_id.clone());
        if let Some(u) = &user {
            let lock_until = now + s.lockout_duration_s * 1000;
            let count = database::users::record_failed_login(tx.conn(), &u.id, Some(lock_until), s.lockout_threshold).await?;
            locked = count >= s.lockout_threshold;
        }
        let mut event = AuditEvent::anonymous(org.as_deref(), "auth.login")
            .outcome(Outcome::Failure)
            .details(serde_json::json!({"email": email, "reason": "invalid_credentials"}));
        if let Some(u) = &user {
            event = event.target("user", &u.id);
        }
        append(tx.conn(), event, ctx).await?;
        if locked {
            let u = user.as_ref().map(|u| u.id.as_str()).unwrap_or_default();
            let lockout = AuditEvent::anonymous(org.as_deref(), "auth.lockout")
                .target("user", u)
                .outcome(Outcome::Denied)
                .details(serde_json::json!({"failed_logins": s.lockout_threshold, "locked_for_s": s.lockout_duration_s}));
            append(tx.conn(), lockout, ctx).await?;
        }
        tx.commit().await?;
        Ok(if locked {
            Error::AccountLocked { retry_after_s: s.lockout_duration_s }
        } else if let Some(retry_after_s) = address_throttled {
            Error::LoginThrottled { retry_after_s }
        } else {
            Error::Unauthenticated(AuthFailure::InvalidCredentials)
        })
    }

    /// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a
    /// used one revokes its whole session (someone else holds a copy).
    pub async fn refresh(&self, refresh_token: &str, ctx: &RequestContext) -> Result<TokenPair> {
        let now = now_ms();
        let hash = sha256_hex(refresh_token);
        let mut tx = self.db().begin_write().await?;
        let Some(row) = database::sessions::refresh_by_hash(tx.conn(), &hash).await? else {
            return Err(Error::Unauthenticated(AuthFailure::InvalidToken));
        };
        let session = database::sessions::get(tx.conn(), &row.session_id).await?;
        if session.revoked_at.is_some() {
            return Err(Error::Unauthenticated(AuthFailure::SessionRevoked));
        }
        let user = database::users::by_id_unscoped(tx.conn(), &session.user_id).await?;
        let first_use = row.used_at.is_none() && database::sessions::mark_refresh_used(tx.conn(), &hash, now).await?;
        if !first_use {
            database::sessions::revoke(tx.conn(), &session.id, "refresh_token_reused", now).await?;
            let event = AuditEvent {
                actor_id: Some(user.id.clone()),
                actor_kind: "user",
                ..AuditEvent::anonymous(Some(&user.organization_id), "auth.refresh_reuse")
            }
            .target("session", &session.id)
            .outcome(Outcome::Denied);
            append(tx.conn(), event, ctx).await?;
            tx.commit().await?;
            return Err(Error::Unauthenticated(AuthFailure::RefreshTokenReused));
        }
        if row.expires_at <= now {
            return Err(Error::Unauthenticated(AuthFailure::TokenExpired));
        }
        if user.disabled() {
            return Err(Error::Unauthenticated(AuthFailure::AccountDisabled));
        }
        let refresh_token = self.issue_refresh(tx.conn(), &session.id, now).await?;
        tx.commit().await?;
        Ok(TokenPair {
            access_token: self.access_token(&user, &session.id, now),
            refresh_token,
            expires_in: self.settings().access_token_ttl_s,
            user_id: user.id,
        })
    }

    /// Ends the caller's session: its access and refresh tokens stop working at once.
    pub async fn logout(&self, principal: &Principal, ctx: &RequestContext) -> Result<()> {
        let Credential::Session { session_id } = &principal.credential else {
            return Err(Error::Forbidden("an API key has no session to sign out of; revoke the key instead".into()));
        };
        let mut tx = self.db().begin_write().await?;
        database::sessions::revoke(tx.conn(), session_id, "logout", now_ms()).await?;
        append(tx.conn(), AuditEvent::by(principal, "auth.logout").target("session", session_id), ctx).await?;
        tx.commit().await?;
        Ok(())
    }
}
