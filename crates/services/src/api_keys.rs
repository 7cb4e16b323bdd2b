//! API keys: created by a user, shown once, stored hashed, scoped, optionally tied to a project.

use crate::audit::{append, AuditEvent};
use crate::auth::API_KEY_PREFIX;
use crate::crypto::{new_id, random_token, sha256_hex};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::api_keys::ApiKeyRow;
use domain::ids::IdKind;
use domain::{validate, Permission, ValidationError};

#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub name: String,
    /// Permission names; `None` takes every permission the caller holds.
    pub scopes: Option<Vec<String>>,
    pub project_id: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub limits: KeyLimits,
}

/// What a key may use of the inference gateway; absent: no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    /// Requests per minute (429 beyond, with `Retry-After`).
    #[schema(minimum = 1, maximum = 1000000000)]
    pub requests_per_minute: Option<u32>,
    /// Prompt + completion tokens per minute.
    #[schema(minimum = 1, maximum = 1000000000000u64)]
    pub tokens_per_minute: Option<u64>,
    /// Prompt + completion tokens per calendar month (UTC); 429 `insufficient_quota` beyond.
    #[schema(minimum = 1, maximum = 1000000000000000u64)]
    pub monthly_tokens: Option<u64>,
    /// The only deployments the key may call (`dep_…`); absent: every one it may see.
    #[schema(min_items = 1, max_items = 100)]
    pub deployment_ids: Option<Vec<String>>,
}

impl KeyLimits {
    /// The limits stored on a key's row; a list that does not parse is an error naming the key.
    pub fn of(row: &ApiKeyRow) -> Result<KeyLimits> {
        let deployment_ids = match &row.deployment_ids {
            None => None,
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| Error::Internal(format!("API key {}: the stored deployment list does not parse: {e}", row.id)))?,
            ),
        };
        let count = |v: Option<i64>| v.map(|n| n.max(0) as u64);
        Ok(KeyLimits {
            requests_per_minute: row.requests_per_minute.map(|n| n.clamp(0, i64::from(u32::MAX)) as u32),
            tokens_per_minute: count(row.tokens_per_minute),
            monthly_tokens: count(row.monthly_tokens),
            deployment_ids,
        })
    }

    fn check(&self) -> Result<()> {
        let positive = |field: &str, v: Option<u64>, max: u64| match v {
            Some(n) if n == 0 || n > max => Err(ValidationError::new(field, format!("must be 1 to {max} (got {n})"))),
            _ => Ok(()),
        };
        positive("limits.requests_per_minute", self.requests_per_minute.map(u64::from), 1_000_000_000)?;
        positive("limits.tokens_per_minute", self.tokens_per_minute, 1_000_000_000_000)?;
        positive("limits.monthly_tokens", self.monthly_tokens, 1_000_000_000_000_000)?;
        if let Some(ids) = &self.deployment_ids {
            if ids.is_empty() || ids.len() > 100 {
                return Err(ValidationError::new("limits.deployment_ids", "give 1 to 100 deployment ids").into());
            }
        }
        Ok(())
    }
}

impl Services {
    /// Creates a key; returns it with the secret, which is never shown again. Only a logged-in
    /// user may create keys (a key cannot mint another). The scopes are a subset of what the
    /// caller holds: in the project, for a key restricted to one; else in the organization.
    pub async fn create_api_key(&self, principal: &Principal, n: NewApiKey, ctx: &RequestContext) -> Result<(ApiKeyRow, String)> {
        if principal.api_key_id().is_some() {
            return Err(Error::Forbidden("API keys cannot create API keys; log in to create one".into()));
        }
        let name = validate::name("name", &n.name)?;
        let now = now_ms();
        if n.expires_at.is_some_and(|e| e <= now / 1000) {
            return Err(ValidationError::unprocessable("expires_at", "must be in the future").into());
        }
        let project_id = n.project_id.clone();
        let held = match &project_id {
            Some(p) => self.visible_project(principal, p).await?.my_permissions,
            None => principal.org_permissions(),
        };
        let scopes = match &n.scopes {
            Some(s) => validate::scopes("scopes", s, &held)?,
            None => held,
        };
        n.limits.check()?;
        if let Some(ids) = &n.limits.deployment_ids {
            for id in ids {
                // 404 for a deployment the caller cannot see; a key reaches nothing its owner cannot.
                self.get_deployment(principal, id).await?;
            }
        }
        let prefix = hex_prefix();
        let secret = format!("{API_KEY_PREFIX}{prefix}_{}", random_token(32));
        let row = ApiKeyRow {
            id: new_id(IdKind::ApiKey),
            organization_id: principal.organization_id.clone(),
            user_id: principal.user_id.clone(),
            name,
            prefix,
            key_hash: sha256_hex(&secret),
            scopes: scopes.to_strings().join(" "),
            project_id,
            expires_at: n.expires_at.map(|s| s * 1000),
            last_used_at: None,
            revoked_at: None,
            created_at: now,
            requests_per_minute: n.limits.requests_per_minute.map(i64::from),
            tokens_per_minute: n.limits.tokens_per_minute.map(|t| t as i64),
            monthly_tokens: n.limits.monthly_tokens.map(|t| t as i64),
            deployment_ids: n.limits.deployment_ids.as_ref().map(|ids| serde_json::json!(ids).to_string()),
        };
        let mut tx = self.db().begin_write().await?;
        database::api_keys::insert(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "api_key.create").target("api_key", &row.id).details(serde_json::json!({
            "name": row.name, "prefix": row.prefix, "scopes": row.scopes, "project_id": row.project_id
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok((row, secret))
    }

    /// The caller's own keys; with `manage_users`, any user's (`user_id`) keys of the organization.
    pub async fn list_api_keys(
        &self,
        principal: &Principal,
        user_id: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<ApiKeyRow>> {
        let limit = validate::page_limit(limit)?;
        let owner = match user_id {
            Some(u) if u != principal.user_id => {
                principal.require(Permission::ManageUsers)?;
                Some(u)
            }
            _ => Some(principal.user_id.as_str()),
        };
        let rows = database::api_keys::list(&mut *self.db().read().await?, &principal.organization_id, owner, after, limit + 1).await?;
        Ok(Page::from_rows(rows, limit))
    }

    /// One key: its owner's, or anyone's with `manage_users`.
    pub async fn get_api_key(&self, principal: &Principal, id: &str) -> Result<ApiKeyRow> {
        let key = database::api_keys::get(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("api key")?;
        if key.user_id != principal.user_id {
            principal.require(Permission::ManageUsers)?;
        }
        Ok(key)
    }

    pub async fn revoke_api_key(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<ApiKeyRow> {
        let key = self.get_api_key(principal, id).await?;
        let mut tx = self.db().begin_write().await?;
        let now = now_ms();
        database::api_keys::revoke(tx.conn(), &principal.organization_id, id, now).await.or_not_found("api key")?;
        let event = AuditEvent::by(principal, "api_key.revoke").target("api_key", id).details(serde_json::json!({"prefix": key.prefix}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(ApiKeyRow { revoked_at: key.revoked_at.or(Some(now)), ..key })
    }
}

fn hex_prefix() -> String {
    let mut s = sha256_hex(&random_token(16));
    s.truncate(10);
    s
}
