//! The platform's use cases, one module per service. Rules and orchestration over the database;
//! no HTTP. Every mutation is one write transaction that also appends its audit record, so a
//! change and its audit entry commit or vanish together.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod blob_holds;
mod crypto;
pub mod datasets;
pub mod deployments;
pub mod error;
pub mod evaluations;
pub mod identity;
mod keys;
mod lru;
pub mod models;
pub mod openai;
pub mod organizations;
pub mod projects;
pub mod rate_limit;
pub mod settings;
mod tokens;
pub mod training;
pub mod users;

pub use auth::{Credential, Principal};
pub use error::{AuthFailure, Error, Refusal, Result};
pub use settings::Settings;

use database::Db;
use std::sync::Arc;

/// Where a request came from, for the audit log and throttling.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The wired services; cheap to clone.
#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    blobs: Arc<blob_store::BlobStore>,
    /// Counts tokens for dataset statistics (the built-in model's tokenizer, when configured).
    token_counter: std::sync::OnceLock<Arc<dyn ::datasets::TokenCounter>>,
    /// Base models' tokenizers, by the blob id of their `tokenizer.json`.
    tokenizers: lru::SmallLru<Arc<dyn ::datasets::TokenCounter>>,
    /// Statistics recounted with another tokenizer or limit, by version, tokenizer and limit.
    recounts: lru::SmallLru<serde_json::Value>,
    /// How far each running preprocess operation has read, by operation id.
    progress: std::sync::Mutex<std::collections::HashMap<String, Arc<datasets::OperationProgress>>>,
    settings: Settings,
    /// Blob ids held by writers until their rows commit, and deletions in progress.
    blob_holds: Arc<blob_holds::BlobHolds>,
    /// One lock per directory being materialized from the blob store (model cache, checkpoints).
    materialize_locks: std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    /// The token-signing and audit keys, derived from the master keys (never stored).
    keys: keys::DerivedKeys,
    login_throttle: rate_limit::KeyedBuckets,
    request_limits: rate_limit::KeyedBuckets,
    queue: training::Queue,
    /// The Ray executor, when `[scheduling.ray]` is configured.
    ray: Option<training::RayExecutor>,
    /// The Kubernetes executor, when `[scheduling.kubernetes]` is configured.
    kubernetes: Option<training::KubeExecutor>,
    evaluations: evaluations::Runner,
    /// The id of each job whose events changed, sent after the commit (SSE streams wake on it).
    job_signal: tokio::sync::broadcast::Sender<String>,
    /// The local serving processes (one per base model).
    backends: deployments::LocalBackends,
    usage: deployments::UsageRecorder,
    /// Inference rate-limit counters: in memory, or in Redis (`use_counter_store`).
    counters: std::sync::OnceLock<deployments::CounterStore>,
    /// Organizations' inference limits as last read (time, requests and tokens per minute).
    org_limits: deployments::OrgLimitsCache,
    /// Organizations' content policies as last read.
    policies: deployments::content_policy::PolicyCache,
    /// The gateway's client for every backend (pooled connections).
    http: reqwest::Client,
}

impl Services {
    /// Wires the services over a migrated database and a blob store; creates the instance row
    /// on first start.
    pub async fn new(db: Db, blobs: blob_store::BlobStore, settings: Settings) -> Result<Services> {
        let mut tx = db.begin_write().await?;
        database::instance::ensure(tx.conn(), now_ms()).await?;
        tx.commit().await?;
        let keys = keys::DerivedKeys::from_keyring(&blobs.keyring());
        let usage = deployments::UsageRecorder::start(db.clone());
        let ray = settings.scheduling.ray.clone().map(training::RayExecutor::new).transpose()?;
        let kubernetes = settings.scheduling.kubernetes.as_ref().map(|k| training::KubeExecutor::new(k, &settings.training)).transpose()?;
        let services = Services {
            inner: Arc::new(Inner {
                db,
                blobs: Arc::new(blobs),
                token_counter: std::sync::OnceLock::new(),
                tokenizers: lru::SmallLru::new(models::tokenizers::KEPT_TOKENIZERS),
                recounts: lru::SmallLru::new(datasets::RECOUNTS_KEPT),
                progress: std::sync::Mutex::default(),
                settings,
                keys,
                materialize_locks: std::sync::Mutex::default(),
                blob_holds: Arc::default(),
                login_throttle: rate_limit::KeyedBuckets::default(),
                request_limits: rate_limit::KeyedBuckets::default(),
                queue: training::Queue::default(),
                ray,
                kubernetes,
                evaluations: evaluations::Runner::default(),
                job_signal: tokio::sync::broadcast::channel(1024).0,
                backends: deployments::LocalBackends::default(),
                usage,
                counters: std::sync::OnceLock::new(),
                org_limits: deployments::OrgLimitsCache::default(),
                policies: deployments::content_policy::PolicyCache::default(),
                http: reqwest::Client::builder()
                    .user_agent(concat!("tunery/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .pool_max_idle_per_host(256)
                    .build()
                    .map_err(|e| Error::Internal(format!("cannot set up the HTTP client: {e}")))?,
            }),
        };
        services.seal_unkeyed_audit_records().await?;
        Ok(services)
    }

    pub(crate) fn inner_materialize_locks(
        &self,
    ) -> &std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>> {
        &self.inner.materialize_locks
    }

    pub(crate) fn blob_holds(&self) -> Arc<blob_holds::BlobHolds> {
        self.inner.blob_holds.clone()
    }

    pub(crate) fn derived_keys(&self) -> &keys::DerivedKeys {
        &self.inner.keys
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Job ids as their events change in this process (after the commit). A receiver that
    /// lags is told so; it should then simply look again.
    pub fn job_signals(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.inner.job_signal.subscribe()
    }

    pub(crate) fn signal_job(&self, id: &str) {
        let _ = self.inner.job_signal.send(id.to_string());
    }

    pub(crate) fn inner_queue(&self) -> &training::Queue {
        &self.inner.queue
    }

    pub(crate) fn inner_ray(&self) -> Option<&training::RayExecutor> {
        self.inner.ray.as_ref()
    }

    pub(crate) fn kubernetes(&self) -> Option<&training::KubeExecutor> {
        self.inner.kubernetes.as_ref()
    }

    pub(crate) fn evaluation_runner(&self) -> &evaluations::Runner {
        &self.inner.evaluations
    }

    pub fn local_backends(&self) -> &deployments::LocalBackends {
        &self.inner.backends
    }

    /// Counts inference limits in `store` (Redis, shared by replicas) instead of in memory;
    /// once, before the first request.
    pub fn use_counter_store(&self, store: deployments::CounterStore) -> Result<()> {
        self.inner.counters.set(store).map_err(|_| Error::Internal("the rate-limit counters are already in use".into()))
    }

    pub(crate) fn org_limits_cache(&self) -> &deployments::OrgLimitsCache {
        &self.inner.org_limits
    }

    pub(crate) fn counters(&self) -> &deployments::CounterStore {
        self.inner.counters.get_or_init(deployments::CounterStore::default)
    }

    pub(crate) fn usage_recorder(&self) -> &deployments::UsageRecorder {
        &self.inner.usage
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Seals a secret for storage in the row `bound_to` names (see `keys.rs`).
    pub(crate) fn seal_secret(&self, plaintext: &str, bound_to: &str) -> String {
        self.inner.keys.seal_secret(plaintext, bound_to)
    }

    /// Opens a secret sealed for the row `bound_to`; one that does not open is an internal
    /// error saying why.
    pub(crate) fn open_secret(&self, sealed: &str, bound_to: &str) -> Result<String> {
        self.inner.keys.open_secret(sealed, bound_to).map_err(|e| Error::Internal(format!("a stored secret: {e}")))
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Sets the tokenizer used to count tokens in dataset statistics (once, at start).
    pub fn set_token_counter(&self, counter: Arc<dyn ::datasets::TokenCounter>) {
        let _ = self.inner.token_counter.set(counter);
    }

    pub(crate) fn token_counter(&self) -> Option<Arc<dyn ::datasets::TokenCounter>> {
        self.inner.token_counter.get().cloned()
    }

    pub(crate) fn inner_tokenizers(&self) -> &lru::SmallLru<Arc<dyn ::datasets::TokenCounter>> {
        &self.inner.tokenizers
    }

    pub(crate) fn inner_recounts(&self) -> &lru::SmallLru<serde_json::Value> {
        &self.inner.recounts
    }

    pub(crate) fn inner_progress(&self) -> &std::sync::Mutex<std::collections::HashMap<String, Arc<datasets::OperationProgress>>> {
        &self.inner.progress
    }

    /// The blob store. Every call into it runs on a blocking thread: it does file (or S3) I/O.
    pub(crate) fn blobs_handle(&self) -> Arc<blob_store::BlobStore> {
        self.inner.blobs.clone()
    }
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A random id for response ids (`chatcmpl-…`): 18 random bytes, URL-safe.
pub fn random_id() -> String {
    crypto::random_token(18)
}

/// A page of a list: the items and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows.
    pub fn from_rows(mut rows: Vec<T>, limit: i64) -> Page<T> {
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        Page { items: rows, has_more }
    }
}
