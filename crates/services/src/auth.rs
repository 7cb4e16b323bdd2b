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
    ApiKey { key_id: String, scopes: PermissionSet, project_id: Option<String>, limits: Box<crate::api_keys::KeyLimits> },
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

    /// Permissions held inside one project, given the caller's role there and whether the
    /// caller owns (created) it.
    pub fn project_permissions(&self, project_role: Option<Role>, is_owner: bool) -> PermissionSet {
        self.scope_limit(project_permissions(self.org_role, project_role, is_owner))
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

    /// The inference limits of the key in use (none for a session).
    pub fn key_limits(&self) -> Option<&crate::api_keys::KeyLimits> {
        match &self.credential {
            Credential::ApiKey { limits, .. } => Some(limits),
            Credential::Session { .. } => None,
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
/// How stale an API key's recorded last use may get before a request records it again.
const API_KEY_TOUCH_MS: i64 = 60_000;
const GENERIC_ROLE_ERROR: &str = "stored role is not valid";

pub(crate) fn stored_role(value: &str) -> Result<Role> {
    Role::parse(value).ok_or_else(|| Error::Internal(format!("{GENERIC_ROLE_ERROR}: '{value}'")))
}

/// A visibility as stored: one that does not parse is an error naming the row, never private
/// (or anything else) by default.
pub(crate) fn stored_visibility(value: &str, row_id: &str) -> Result<domain::Visibility> {
    domain::Visibility::parse(value).ok_or_else(|| Error::Internal(format!("{row_id}: stored visibility '{value}' is not one")))
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

/// A user as a signed-in session of theirs would act (their roles, no key's narrowing), to ask
/// what they may see on their behalf — e.g. whether someone named as an annotator can see the
/// dataset. No session is involved: its id is empty, and it authenticates nothing.
pub(crate) fn acting_as(user: UserRow) -> Result<Principal> {
    principal_of(user, Credential::Session { session_id: String::new() })
}

/// The user a token names; one that no longer exists makes the token invalid (401, not 404).
async fn token_user(conn: &mut database::Conn, id: &str) -> Result<UserRow> {
    match database::users::by_id_unscoped(conn, id).await {
        Ok(user) => Ok(user),
        Err(database::Error::NotFound) => Err(Error::Unauthenticated(AuthFailure::InvalidToken)),
        Err(e) => Err(e.into()),
    }
}

fn lockout_event(user: &UserRow, threshold: i64, duration_s: i64) -> AuditEvent {
    AuditEvent::anonymous(Some(&user.organization_id), "auth.lockout")
        .target("user", &user.id)
        .outcome(Outcome::Denied)
        .details(serde_json::json!({"failed_logins": threshold, "locked_for_s": duration_s}))
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
            let user = token_user(&mut conn, &key.user_id).await?;
            if user.disabled() {
                return unauthenticated(AuthFailure::AccountDisabled);
            }
            drop(conn);
            // Last-used time is coarse (one write a minute at most) so hot keys stay reads: the
            // write transaction is opened only when the recorded time is stale.
            if key.last_used_at.is_none_or(|t| t < now - API_KEY_TOUCH_MS) {
                let mut tx = self.db().begin_write().await?;
                database::api_keys::touch(tx.conn(), &key.id, now, API_KEY_TOUCH_MS).await?;
                tx.commit().await?;
            }
            let scopes = PermissionSet::from_slice(&key.scopes.split_whitespace().filter_map(Permission::parse).collect::<Vec<_>>());
            let limits = Box::new(crate::api_keys::KeyLimits::of(&key)?);
            return principal_of(user, Credential::ApiKey { key_id: key.id, scopes, project_id: key.project_id, limits });
        }
        let claims = match tokens::verify(bearer, |kid| self.inner.keys.token_key(kid), now / 1000) {
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
        if session.expires_at <= now {
            return unauthenticated(AuthFailure::SessionExpired);
        }
        let user = token_user(&mut conn, &claims.sub).await?;
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
        let (kid, key) = self.inner.keys.signing();
        tokens::sign(&claims, kid, key)
    }

    /// Issues a fresh refresh token in `session_id` (inside the caller's transaction); it
    /// expires with its session at the latest, so rotation never extends a session.
    async fn issue_refresh(&self, conn: &mut database::Conn, session_id: &str, session_expires_at: i64, now: i64) -> Result<String> {
        let refresh = format!("rt_{}", random_token(32));
        database::sessions::insert_refresh(
            conn,
            &RefreshTokenRow {
                token_hash: sha256_hex(&refresh),
                session_id: session_id.to_string(),
                created_at: now,
                expires_at: (now + self.settings().refresh_token_ttl_s * 1000).min(session_expires_at),
                used_at: None,
            },
        )
        .await?;
        Ok(refresh)
    }

    /// Password login. Every attempt is paid for before the password is looked at, so that
    /// parallel guesses cannot outrun the limits: a token of the client address (given back
    /// when the login succeeds) and one count of the account's failed logins (restarted on
    /// success). Failures are audited.
    pub async fn login(&self, email: &str, password: &str, ctx: &RequestContext) -> Result<TokenPair> {
        let ip = ctx.ip.clone().unwrap_or_default();
        if let Err(retry_after_s) = self.charge_auth_failure(&ip) {
            return Err(Error::LoginThrottled { retry_after_s });
        }
        let result = self.attempt_login(email, password, ctx).await;
        if result.is_ok() {
            self.refund_auth_attempt(&ip);
        }
        result
    }

    async fn attempt_login(&self, email: &str, password: &str, ctx: &RequestContext) -> Result<TokenPair> {
        let email_norm = email.trim().to_lowercase();
        let user = database::users::by_email(&mut *self.db().read().await?, &email_norm).await?;
        let now = now_ms();
        let s = self.settings();
        let mut attempt = 0;
        if let Some(u) = &user {
            // One short write counts the attempt; a locked account, or more attempts in flight
            // than the threshold allows, is refused without verifying anything.
            let mut tx = self.db().begin_write().await?;
            let (count, locked_until) = database::users::count_login_attempt(tx.conn(), &u.id, now).await?;
            let locked_until = match locked_until.filter(|t| *t > now) {
                Some(until) => Some(until),
                None if count > s.lockout_threshold => {
                    let until = now + s.lockout_duration_s * 1000;
                    if database::users::lock_account(tx.conn(), &u.id, until, now).await? {
                        append(tx.conn(), self.derived_keys(), lockout_event(u, s.lockout_threshold, s.lockout_duration_s), ctx).await?;
                    }
                    Some(until)
                }
                None => None,
            };
            if let Some(until) = locked_until {
                let event = AuditEvent::anonymous(Some(&u.organization_id), "auth.login")
                    .target("user", &u.id)
                    .outcome(Outcome::Denied)
                    .details(serde_json::json!({"reason": "account_locked"}));
                append(tx.conn(), self.derived_keys(), event, ctx).await?;
                tx.commit().await?;
                return Err(Error::AccountLocked { retry_after_s: (until - now + 999) / 1000 });
            }
            tx.commit().await?;
            attempt = count;
        }
        let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| crypto::DECOY_HASH.to_string());
        let ok = crypto::verify_password(password.to_string(), hash).await?;
        let user = match user {
            Some(u) if ok => u,
            other => return Err(self.failed_login(other, attempt, &email_norm, ctx).await?),
        };
        let now = now_ms();
        let mut tx = self.db().begin_write().await?;
        database::users::record_successful_login(tx.conn(), &user.id).await?;
        if user.disabled() {
            let event = AuditEvent::anonymous(Some(&user.organization_id), "auth.login")
                .target("user", &user.id)
                .outcome(Outcome::Denied)
                .details(serde_json::json!({"reason": "account_disabled"}));
            append(tx.conn(), self.derived_keys(), event, ctx).await?;
            tx.commit().await?;
            return Err(Error::Unauthenticated(AuthFailure::AccountDisabled));
        }
        let session_id = new_id(IdKind::Session);
        let session_expires_at = now + self.settings().refresh_token_ttl_s * 1000;
        database::sessions::insert(
            tx.conn(),
            &SessionRow {
                id: session_id.clone(),
                user_id: user.id.clone(),
                organization_id: user.organization_id.clone(),
                created_at: now,
                expires_at: session_expires_at,
                revoked_at: None,
                revoked_reason: None,
                ip: ctx.ip.clone(),
                user_agent: ctx.user_agent.clone(),
            },
        )
        .await?;
        let refresh_token = self.issue_refresh(tx.conn(), &session_id, session_expires_at, now).await?;
        let event = AuditEvent {
            actor_id: Some(user.id.clone()),
            actor_kind: "user",
            ..AuditEvent::anonymous(Some(&user.organization_id), "auth.login")
        }
        .target("session", &session_id);
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(TokenPair {
            access_token: self.access_token(&user, &session_id, now),
            refresh_token,
            expires_in: self.settings().access_token_ttl_s,
            user_id: user.id,
        })
    }

    /// Records a wrong password (the attempt was counted already, as number `attempt` of the
    /// account); the attempt that reaches the threshold locks the account. Returns the error to answer.
    async fn failed_login(&self, user: Option<UserRow>, attempt: i64, email: &str, ctx: &RequestContext) -> Result<Error> {
        let now = now_ms();
        let s = self.settings();
        let mut tx = self.db().begin_write().await?;
        let org = user.as_ref().map(|u| u.organization_id.clone());
        let mut event = AuditEvent::anonymous(org.as_deref(), "auth.login")
            .outcome(Outcome::Failure)
            .details(serde_json::json!({"email": email, "reason": "invalid_credentials"}));
        if let Some(u) = &user {
            event = event.target("user", &u.id);
        }
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        let mut locked = false;
        if let Some(u) = user.as_ref().filter(|_| attempt >= s.lockout_threshold) {
            locked = true;
            if database::users::lock_account(tx.conn(), &u.id, now + s.lockout_duration_s * 1000, now).await? {
                append(tx.conn(), self.derived_keys(), lockout_event(u, s.lockout_threshold, s.lockout_duration_s), ctx).await?;
            }
        }
        tx.commit().await?;
        Ok(if locked {
            Error::AccountLocked { retry_after_s: s.lockout_duration_s }
        } else {
            Error::Unauthenticated(AuthFailure::InvalidCredentials)
        })
    }

    /// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a
    /// used one revokes its whole session (someone else holds a copy) — except within
    /// `refresh_reuse_grace_s` of its first use, when it is taken for a retry whose first answer
    /// was lost and gets another pair (audited as `auth.refresh_retry`). Rotation never extends
    /// the session: it ends at the time set at login.
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
        if session.expires_at <= now {
            return Err(Error::Unauthenticated(AuthFailure::SessionExpired));
        }
        let user = token_user(tx.conn(), &session.user_id).await?;
        let first_use = row.used_at.is_none() && database::sessions::mark_refresh_used(tx.conn(), &hash, now).await?;
        // Presented again soon after its first use: the answer to that use was most likely lost
        // (a reload mid-refresh), so it gets a fresh pair instead of ending the session. A use
        // that raced this one (no `used_at` read yet) counts as just now.
        let grace_ms = self.settings().refresh_reuse_grace_s * 1000;
        let retry = !first_use && grace_ms > 0 && now - row.used_at.unwrap_or(now) <= grace_ms;
        if retry {
            let event = AuditEvent {
                actor_id: Some(user.id.clone()),
                actor_kind: "user",
                details: serde_json::json!({"seconds_since_first_use": (now - row.used_at.unwrap_or(now)) as f64 / 1000.0}),
                ..AuditEvent::anonymous(Some(&user.organization_id), "auth.refresh_retry")
            }
            .target("session", &session.id);
            append(tx.conn(), self.derived_keys(), event, ctx).await?;
        }
        if !first_use && !retry {
            database::sessions::revoke(tx.conn(), &session.id, "refresh_token_reused", now).await?;
            let event = AuditEvent {
                actor_id: Some(user.id.clone()),
                actor_kind: "user",
                ..AuditEvent::anonymous(Some(&user.organization_id), "auth.refresh_reuse")
            }
            .target("session", &session.id)
            .outcome(Outcome::Denied);
            append(tx.conn(), self.derived_keys(), event, ctx).await?;
            tx.commit().await?;
            return Err(Error::Unauthenticated(AuthFailure::RefreshTokenReused));
        }
        if row.expires_at <= now {
            return Err(Error::Unauthenticated(AuthFailure::TokenExpired));
        }
        if user.disabled() {
            return Err(Error::Unauthenticated(AuthFailure::AccountDisabled));
        }
        let refresh_token = self.issue_refresh(tx.conn(), &session.id, session.expires_at, now).await?;
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
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "auth.logout").target("session", session_id), ctx).await?;
        tx.commit().await?;
        Ok(())
    }
}
