//! Typed settings of the services (the binary fills them from flags, environment and TOML).

use domain::rate_limit::BucketLimit;
use domain::Role;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Settings {
    pub access_token_ttl_s: i64,
    pub refresh_token_ttl_s: i64,
    /// Failed logins in a row that lock an account.
    pub lockout_threshold: i64,
    pub lockout_duration_s: i64,
    /// Failed logins allowed per client address: a burst, refilled over `ip_failure_window_s`.
    pub ip_failure_burst: f64,
    pub ip_failure_window_s: f64,
    /// Request rate limit per caller (user or API key), by organization role.
    pub rate_limits: HashMap<Role, BucketLimit>,
    pub invitation_ttl_s: i64,
    /// Storage per organization unless set on the organization, in bytes.
    pub storage_quota_bytes: i64,
    /// The largest file one upload may hold, in bytes.
    pub max_upload_bytes: i64,
    /// Training sequence length assumed by dataset statistics: records longer than this many
    /// tokens are reported as truncated.
    pub max_tokens_per_record: usize,
}

impl Default for Settings {
    fn default() -> Self {
        let limit = |per_second, burst| BucketLimit { per_second, burst };
        Settings {
            access_token_ttl_s: 15 * 60,
            refresh_token_ttl_s: 30 * 24 * 3600,
            lockout_threshold: 5,
            lockout_duration_s: 15 * 60,
            ip_failure_burst: 20.0,
            ip_failure_window_s: 600.0,
            rate_limits: HashMap::from([
                (Role::Admin, limit(50.0, 200.0)),
                (Role::Researcher, limit(50.0, 200.0)),
                (Role::Developer, limit(50.0, 200.0)),
                (Role::Viewer, limit(20.0, 100.0)),
            ]),
            invitation_ttl_s: 7 * 24 * 3600,
            storage_quota_bytes: 100 * (1 << 30),
            max_upload_bytes: 20 * (1 << 30),
            max_tokens_per_record: 2048,
        }
    }
}

impl Settings {
    pub fn rate_limit(&self, role: Role) -> BucketLimit {
        self.rate_limits.get(&role).copied().unwrap_or(BucketLimit { per_second: 20.0, burst: 100.0 })
    }
}
