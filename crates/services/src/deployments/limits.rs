//! Inference limits: per API key (requests and tokens per minute, tokens per calendar month)
//! and per organization (requests and tokens per minute), counted in fixed one-minute windows.
//! The counters live in this process's memory, or in Redis when the server has `--redis-url`,
//! so that every replica counts against the same limit. A request is admitted by incrementing
//! its request counters atomically (INCR in Redis): never more requests are admitted in a window
//! than the limit, whatever the concurrency. Tokens are charged when the answer ends; a window
//! whose tokens are used up refuses new requests until the next one.

use crate::{now_ms, Error, Principal, Result, Services};
use std::collections::HashMap;
use std::sync::Mutex;

const WINDOW_MS: i64 = 60_000;
/// Counters outlive their window a little (clock skew between replicas).
const WINDOW_TTL_MS: i64 = 2 * WINDOW_MS;
const MONTH_TTL_MS: i64 = 32 * 86_400_000;
/// Past this many counters in memory, expired ones are dropped.
const SWEEP_AT: usize = 10_000;

/// Organizations' inference limits as last read (requests and tokens per minute).
pub type OrgLimitsCache = super::org_cache::OrgCache<(Option<i64>, Option<i64>)>;

/// Where the counters live.
pub enum CounterStore {
    Memory(Mutex<HashMap<String, (i64, i64)>>),
    Redis(redis::aio::ConnectionManager),
}

impl Default for CounterStore {
    fn default() -> Self {
        CounterStore::Memory(Mutex::default())
    }
}

fn redis_error(e: redis::RedisError) -> Error {
    Error::Unavailable(format!("the rate-limit store (Redis) failed: {e}"))
}

/// Adds `by` and sets the expiry if the key has none, atomically; the new value.
const ADD_SCRIPT: &str = "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) \
    if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return v";

impl CounterStore {
    /// Connects to Redis (`redis://[:password@]host:port/db`), checking that it answers. The URL
    /// may hold a password: no message quotes it.
    pub async fn redis(url: &str) -> Result<CounterStore> {
        let client = redis::Client::open(url).map_err(|e| Error::Unavailable(format!("--redis-url is not a Redis URL: {e}")))?;
        let mut manager =
            client.get_connection_manager().await.map_err(|e| Error::Unavailable(format!("cannot reach Redis (--redis-url): {e}")))?;
        let _: String = redis::cmd("PING").query_async(&mut manager).await.map_err(redis_error)?;
        Ok(CounterStore::Redis(manager))
    }

    async fn add(&self, key: &str, by: i64, ttl_ms: i64) -> Result<i64> {
        match self {
            CounterStore::Memory(map) => {
                let now = now_ms();
                let mut map = map.lock().expect("counters lock");
                if map.len() > SWEEP_AT {
                    map.retain(|_, (expires, _)| *expires > now);
                }
                let entry = map.entry(key.to_string()).or_insert((now + ttl_ms, 0));
                if entry.0 <= now {
                    *entry = (now + ttl_ms, 0);
                }
                entry.1 += by;
                Ok(entry.1)
            }
            CounterStore::Redis(manager) => {
                let mut c = manager.clone();
                redis::cmd("EVAL").arg(ADD_SCRIPT).arg(1).arg(key).arg(by).arg(ttl_ms).query_async(&mut c).await.map_err(redis_error)
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<i64>> {
        match self {
            CounterStore::Memory(map) => {
                let now = now_ms();
                Ok(map.lock().expect("counters lock").get(key).filter(|(expires, _)| *expires > now).map(|(_, v)| *v))
            }
            CounterStore::Redis(manager) => {
                let mut c = manager.clone();
                redis::cmd("GET").arg(key).query_async(&mut c).await.map_err(redis_error)
            }
        }
    }

    /// Sets the value unless the key exists (the first replica to look initializes it).
    async fn init(&self, key: &str, value: i64, ttl_ms: i64) -> Result<()> {
        match self {
            CounterStore::Memory(map) => {
                let now = now_ms();
                let mut map = map.lock().expect("counters lock");
                let entry = map.entry(key.to_string()).or_insert((now + ttl_ms, value));
                if entry.0 <= now {
                    *entry = (now + ttl_ms, value);
                }
                Ok(())
            }
            CounterStore::Redis(manager) => {
                let mut c = manager.clone();
                let _: Option<String> =
                    redis::cmd("SET").arg(key).arg(value).arg("NX").arg("PX").arg(ttl_ms).query_async(&mut c).await.map_err(redis_error)?;
                Ok(())
            }
        }
    }
}

/// A limit a request counts against: whose, and how much per window.
#[derive(Debug, Clone)]
struct Limit {
    /// `key:<id>` or `org:<id>`.
    scope: String,
    requests_per_minute: Option<i64>,
    tokens_per_minute: Option<i64>,
}

/// An admitted request: what to charge when it ends, and the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    token_counters: Vec<String>,
    month_counter: Option<String>,
    pub headers: Vec<(&'static str, String)>,
}

/// The first millisecond of the UTC calendar month holding `now_ms`, and of the next one.
pub fn month_bounds(now_ms: i64) -> (i64, i64) {
    let days = now_ms.div_euclid(86_400_000);
    let (year, month, _) = domain::calendar::civil_from_days(days);
    let start = domain::calendar::days_from_civil(year, month, 1);
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    (start * 86_400_000, domain::calendar::days_from_civil(ny, nm, 1) * 86_400_000)
}

fn limited(message: String, retry_after_ms: i64) -> Error {
    Error::InferenceLimited { message, retry_after_ms, quota: false }
}

impl Services {
    /// Admits an inference request against the caller's key and organization limits, or
    /// refuses it (429 with `Retry-After`; `insufficient_quota` when the month's tokens are used).
    pub async fn admit_inference(&self, p: &Principal) -> Result<Admission> {
        let org = self.organization_limits(&p.organization_id).await?;
        let mut limits = Vec::new();
        let key = p.api_key_id().zip(p.key_limits());
        if let Some((id, l)) = key {
            let tpm = l.tokens_per_minute.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
            limits.push(Limit {
                scope: format!("key:{id}"),
                requests_per_minute: l.requests_per_minute.map(i64::from),
                tokens_per_minute: tpm,
            });
        }
        limits.push(Limit { scope: format!("org:{}", p.organization_id), requests_per_minute: org.0, tokens_per_minute: org.1 });
        let now = now_ms();
        let window = now / WINDOW_MS;
        let reset_ms = (window + 1) * WINDOW_MS - now;
        let reset_s = (reset_ms + 999) / 1000;
        let store = self.counters();
        let mut admission = Admission::default();
        let mut counted: Vec<String> = Vec::new();
        let outcome = async {
            for limit in &limits {
                let what = if limit.scope.starts_with("key:") { "this API key" } else { "the organization" };
                if let Some(rpm) = limit.requests_per_minute {
                    let counter = format!("tunery:rpm:{}:{window}", limit.scope);
                    let n = store.add(&counter, 1, WINDOW_TTL_MS).await?;
                    counted.push(counter);
                    if n > rpm {
                        return Err(limited(format!("{what} may make {rpm} requests per minute; retry in {} s", reset_s), reset_ms));
                    }
                    if admission.headers.is_empty() {
                        admission.headers.push(("x-ratelimit-limit-requests", rpm.to_string()));
                        admission.headers.push(("x-ratelimit-remaining-requests", (rpm - n).to_string()));
                        admission.headers.push(("x-ratelimit-reset-requests", format!("{}s", reset_s)));
                    }
                }
                if let Some(tpm) = limit.tokens_per_minute {
                    let counter = format!("tunery:tpm:{}:{window}", limit.scope);
                    let used = store.get(&counter).await?.unwrap_or(0);
                    if used >= tpm {
                        return Err(limited(format!("{what} may use {tpm} tokens per minute; retry in {} s", reset_s), reset_ms));
                    }
                    if !admission.headers.iter().any(|(h, _)| *h == "x-ratelimit-limit-tokens") {
                        admission.headers.push(("x-ratelimit-limit-tokens", tpm.to_string()));
                        admission.headers.push(("x-ratelimit-remaining-tokens", (tpm - used).to_string()));
                        admission.headers.push(("x-ratelimit-reset-tokens", format!("{}s", reset_s)));
                    }
                    admission.token_counters.push(counter);
                }
            }
            if let Some((id, l)) = key {
                if let Some(quota) = l.monthly_tokens {
                    let quota = i64::try_from(quota).unwrap_or(i64::MAX);
                    let (start, next) = month_bounds(now);
                    let counter = format!("tunery:month:{id}:{start}");
                    let used = match store.get(&counter).await? {
                        Some(v) => v,
                        None => {
                            let spent = database::inference::key_tokens_since(&mut *self.db().read().await?, id, start).await?;
                            store.init(&counter, spent, MONTH_TTL_MS).await?;
                            store.get(&counter).await?.unwrap_or(spent)
                        }
                    };
                    if used >= quota {
                        let message = format!(
                            "this API key's {quota} tokens for this month are used; the quota renews at the start of next month (UTC)"
                        );
                        return Err(Error::InferenceLimited { message, retry_after_ms: next - now, quota: true });
                    }
                    admission.month_counter = Some(counter);
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            // A refused request takes no request from the windows it was counted in.
            for counter in counted {
                let _ = store.add(&counter, -1, WINDOW_TTL_MS).await;
            }
            return Err(e);
        }
        Ok(admission)
    }

    /// An organization's (requests, tokens) per minute, read at most once a second per
    /// organization (a change takes effect within a second).
    async fn organization_limits(&self, org_id: &str) -> Result<(Option<i64>, Option<i64>)> {
        let now = now_ms();
        if let Some(limits) = self.org_limits_cache().fresh(org_id, now) {
            return Ok(limits);
        }
        let org = database::organizations::get(&mut *self.db().read().await?, org_id).await?;
        let limits = (org.inference_requests_per_minute, org.inference_tokens_per_minute);
        self.org_limits_cache().put(org_id, now, limits);
        Ok(limits)
    }

    /// Charges an admitted request's tokens (in the background: the answer is already out).
    pub fn charge_inference(&self, admission: &Admission, tokens: i64) {
        if tokens <= 0 || (admission.token_counters.is_empty() && admission.month_counter.is_none()) {
            return;
        }
        let services = self.clone();
        let admission = admission.clone();
        tokio::spawn(async move {
            let store = services.counters();
            for counter in &admission.token_counters {
                if let Err(e) = store.add(counter, tokens, WINDOW_TTL_MS).await {
                    tracing::warn!("could not charge {tokens} tokens: {e}");
                }
            }
            if let Some(counter) = &admission.month_counter {
                if let Err(e) = store.add(counter, tokens, MONTH_TTL_MS).await {
                    tracing::warn!("could not charge {tokens} tokens to the month: {e}");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::month_bounds;

    #[test]
    fn months_start_on_their_first_day_utc() {
        // 2026-12-05T12:00:00Z → December 2026 and January 2027.
        let (start, next) = month_bounds(1_796_472_000_000);
        assert_eq!(start, 1_796_083_200_000); // 2026-12-01T00:00:00Z
        assert_eq!(next, 1_798_761_600_000); // 2027-01-01T00:00:00Z
        assert_eq!(month_bounds(start), (start, next));
        assert_eq!(month_bounds(next - 1), (start, next));
    }
}
