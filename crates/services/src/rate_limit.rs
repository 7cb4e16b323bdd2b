//! In-process token buckets keyed by caller. One process holds its own counters; several
//! replicas behind a balancer each enforce the limit separately (shared counters in Redis are
//! the planned next step, see ARCHITECTURE.md).

use crate::{now_ms, Error, Principal, Result, Services};
use domain::rate_limit::{BucketLimit, TokenBucket};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct KeyedBuckets {
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl KeyedBuckets {
    /// Takes a token for `key`; on refusal, the milliseconds until one is available.
    pub fn take(&self, key: &str, limit: BucketLimit, now_ms: i64) -> std::result::Result<(), i64> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Full buckets carry no state worth keeping; drop them to bound memory.
            map.retain(|_, b| b.clone().take(limit, now_ms).map(|left| left + 1.0 < limit.burst).unwrap_or(true));
        }
        let bucket = map.entry(key.to_string()).or_insert_with(|| TokenBucket::full(limit, now_ms));
        bucket.take(limit, now_ms).map(|_| ())
    }
}

impl Services {
    /// Charges one request to the caller (the API key if one was used, else the user).
    pub fn charge_request(&self, principal: &Principal) -> Result<()> {
        let limit = self.settings().rate_limit(principal.org_role);
        let key = match &principal.credential {
            crate::Credential::ApiKey { key_id, .. } => format!("key:{key_id}"),
            crate::Credential::Session { .. } => format!("user:{}", principal.user_id),
        };
        self.inner
            .request_limits
            .take(&key, limit, now_ms())
            .map_err(|retry_after_ms| Error::RateLimited { retry_after_ms, limit_per_second: limit.per_second })
    }

    /// Charges one failed authentication (a wrong password, a request with bad or missing
    /// credentials) to a client address; Err(seconds to wait) when over the limit.
    pub fn charge_auth_failure(&self, ip: &str) -> std::result::Result<(), i64> {
        let s = self.settings();
        let limit = BucketLimit { per_second: s.ip_failure_burst / s.ip_failure_window_s, burst: s.ip_failure_burst };
        self.inner.login_throttle.take(ip, limit, now_ms()).map_err(|ms| (ms + 999) / 1000)
    }

    /// Whether a client address is currently throttled, without charging it.
    pub fn login_throttled(&self, ip: &str) -> Option<i64> {
        let s = self.settings();
        let limit = BucketLimit { per_second: s.ip_failure_burst / s.ip_failure_window_s, burst: s.ip_failure_burst };
        let map = self.inner.login_throttle.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut probe = map.get(ip)?.clone();
        probe.take(limit, now_ms()).err().map(|ms| (ms + 999) / 1000)
    }
}
