//! In-process token buckets keyed by caller. One process holds its own counters; several
//! replicas behind a balancer each enforce the limit separately (shared counters in Redis are
//! the planned next step, see ARCHITECTURE.md).

use crate::audit::AuditEvent;
use crate::{now_ms, Error, Principal, RequestContext, Result, Services};
use domain::audit::Outcome;
use domain::rate_limit::{address_key, BucketLimit, TokenBucket};
use std::collections::HashMap;
use std::sync::Mutex;

/// How often idle buckets are swept out.
const CLEANUP_EVERY_MS: i64 = 60_000;
/// Most buckets one map holds; past it the map is cleared (failing open beats running out of memory).
const DEFAULT_HARD_CAP: usize = 200_000;

struct Entry {
    bucket: TokenBucket,
    /// The limit the bucket was last charged under (tells when it has refilled completely).
    limit: BucketLimit,
    /// The key was refused and that was reported; cleared when a token is taken again.
    announced: bool,
}

struct Buckets {
    map: HashMap<String, Entry>,
    last_cleanup_ms: i64,
}

pub struct KeyedBuckets {
    inner: Mutex<Buckets>,
    hard_cap: usize,
}

impl Default for KeyedBuckets {
    fn default() -> Self {
        KeyedBuckets::with_hard_cap(DEFAULT_HARD_CAP)
    }
}

impl KeyedBuckets {
    pub fn with_hard_cap(hard_cap: usize) -> Self {
        KeyedBuckets { inner: Mutex::new(Buckets { map: HashMap::new(), last_cleanup_ms: 0 }), hard_cap }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a token for `key`; on refusal, the milliseconds until one is available.
    pub fn take(&self, key: &str, limit: BucketLimit, now_ms: i64) -> std::result::Result<(), i64> {
        let mut b = self.lock();
        if !b.map.contains_key(key) {
            self.make_room(&mut b, now_ms);
        }
        let entry =
            b.map.entry(key.to_string()).or_insert_with(|| Entry { bucket: TokenBucket::full(limit, now_ms), limit, announced: false });
        entry.limit = limit;
        let taken = entry.bucket.take(limit, now_ms).map(|_| ());
        if taken.is_ok() {
            entry.announced = false;
        }
        taken
    }

    /// Gives back a token taken for `key` (the attempt it paid for succeeded); never above the burst.
    pub fn refund(&self, key: &str, limit: BucketLimit, now_ms: i64) {
        if let Some(entry) = self.lock().map.get_mut(key) {
            entry.bucket.refund(limit, now_ms);
        }
    }

    /// Whether `key` would be refused now, without charging it: the milliseconds to wait.
    pub fn probe(&self, key: &str, limit: BucketLimit, now_ms: i64) -> Option<i64> {
        let b = self.lock();
        let mut probe = b.map.get(key)?.bucket.clone();
        probe.take(limit, now_ms).err()
    }

    /// Marks a refused key as reported: true the first time after it last took a token, so
    /// that each crossing into the refused state is reported once.
    pub fn announce(&self, key: &str) -> bool {
        match self.lock().map.get_mut(key) {
            Some(entry) if !entry.announced => {
                entry.announced = true;
                true
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Before a new key goes in: at most once a minute, drops the buckets that have refilled
    /// completely (a fresh bucket is the same); if the map is at its hard cap even so, clears it.
    fn make_room(&self, b: &mut Buckets, now_ms: i64) {
        if now_ms - b.last_cleanup_ms >= CLEANUP_EVERY_MS {
            b.last_cleanup_ms = now_ms;
            b.map.retain(|_, e| !e.bucket.is_full(e.limit, now_ms));
        }
        if b.map.len() >= self.hard_cap {
            tracing::warn!(
                buckets = b.map.len(),
                hard_cap = self.hard_cap,
                "too many active rate-limit buckets: clearing them all (limits restart from full)"
            );
            b.map.clear();
        }
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

    fn address_limit(&self) -> BucketLimit {
        let s = self.settings();
        BucketLimit { per_second: s.ip_failure_burst / s.ip_failure_window_s, burst: s.ip_failure_burst }
    }

    /// Charges one anonymous attempt (a login, or a request with bad or missing credentials)
    /// to a client address (IPv6 by /64); Err(seconds to wait) when over the limit.
    pub fn charge_auth_failure(&self, ip: &str) -> std::result::Result<(), i64> {
        self.inner.login_throttle.take(&address_key(ip), self.address_limit(), now_ms()).map_err(|ms| (ms + 999) / 1000)
    }

    /// Gives back the token an attempt was charged, once it succeeded.
    pub fn refund_auth_attempt(&self, ip: &str) {
        self.inner.login_throttle.refund(&address_key(ip), self.address_limit(), now_ms());
    }

    /// Whether a client address is currently throttled, without charging it.
    pub fn login_throttled(&self, ip: &str) -> Option<i64> {
        self.inner.login_throttle.probe(&address_key(ip), self.address_limit(), now_ms()).map(|ms| (ms + 999) / 1000)
    }

    /// Records that a throttled address was refused: once per crossing into the throttled
    /// state (`auth.throttled`), never per request, so that floods cannot fill the log.
    pub async fn record_throttled(&self, ctx: &RequestContext, details: serde_json::Value) -> Result<()> {
        let ip = ctx.ip.clone().unwrap_or_default();
        if !self.inner.login_throttle.announce(&address_key(&ip)) {
            return Ok(());
        }
        let event = AuditEvent::anonymous(None, "auth.throttled").outcome(Outcome::Denied).details(details);
        self.record_event(event, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: BucketLimit = BucketLimit { per_second: 1.0, burst: 2.0 };

    #[test]
    fn idle_buckets_are_swept_at_most_once_a_minute() {
        let buckets = KeyedBuckets::default();
        let t0 = 1_000_000;
        buckets.take("a", LIMIT, t0).unwrap();
        buckets.take("b", LIMIT, t0).unwrap();
        buckets.take("b", LIMIT, t0).unwrap();
        // The first insert swept (nothing to drop); "a" refills after 1 s, "b" after 2 s, but
        // no sweep runs until a minute has passed.
        buckets.take("c", LIMIT, t0 + 30_000).unwrap();
        assert_eq!(buckets.len(), 3);
        // A minute on, a new key triggers the sweep: every bucket had refilled.
        buckets.take("d", LIMIT, t0 + 60_000).unwrap();
        assert_eq!(buckets.len(), 1, "only the new bucket is left");
        // A bucket that is still refilling survives the sweep.
        buckets.take("d", LIMIT, t0 + 120_000).unwrap();
        buckets.take("d", LIMIT, t0 + 120_000).unwrap();
        buckets.take("e", LIMIT, t0 + 120_500).unwrap();
        assert_eq!(buckets.len(), 2);
        assert!(buckets.take("d", LIMIT, t0 + 120_500).is_err(), "the sweep kept d's state");
    }

    #[test]
    fn over_the_hard_cap_the_map_is_cleared() {
        let buckets = KeyedBuckets::with_hard_cap(10);
        let t0 = 1_000_000;
        for i in 0..10 {
            buckets.take(&format!("k{i}"), LIMIT, t0).unwrap();
            buckets.take(&format!("k{i}"), LIMIT, t0).unwrap();
        }
        assert_eq!(buckets.len(), 10);
        assert!(buckets.take("k0", LIMIT, t0).is_err());
        // An existing key never triggers the cap; a new one does, and everything restarts.
        buckets.take("new", LIMIT, t0).unwrap();
        assert_eq!(buckets.len(), 1);
        buckets.take("k0", LIMIT, t0).unwrap();
    }

    #[test]
    fn refunds_and_announcements() {
        let buckets = KeyedBuckets::default();
        buckets.take("a", LIMIT, 0).unwrap();
        buckets.take("a", LIMIT, 0).unwrap();
        assert_eq!(buckets.probe("a", LIMIT, 0), Some(1000));
        assert!(!buckets.announce("unknown"));
        assert!(buckets.announce("a"), "the first refusal is reported");
        assert!(!buckets.announce("a"), "…once");
        buckets.refund("a", LIMIT, 0);
        buckets.refund("a", LIMIT, 0);
        buckets.refund("a", LIMIT, 0);
        assert_eq!(buckets.probe("a", LIMIT, 0), None);
        buckets.take("a", LIMIT, 0).unwrap();
        buckets.take("a", LIMIT, 0).unwrap();
        assert!(buckets.take("a", LIMIT, 0).is_err(), "refunds stop at the burst");
        assert!(buckets.announce("a"), "taking a token again re-arms the report");
    }
}
