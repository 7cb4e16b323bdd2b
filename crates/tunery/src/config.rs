//! Server configuration: flags, each also an environment variable (`TUNERY_*`), over an
//! optional TOML file, over built-in defaults. Unknown keys in the file are an error.

use crate::telemetry::LogFormat;
use anyhow::Context;
use domain::rate_limit::BucketLimit;
use domain::Role;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TUNERY_LISTEN")]
    pub listen: Option<String>,
    /// Directory for the embedded database and local data (default ./.tunery).
    #[arg(long, env = "TUNERY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH (default: DATA_DIR/tunery.db) or postgres://USER@HOST:PORT/DB.
    #[arg(long, env = "TUNERY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// A TOML configuration file.
    #[arg(long, env = "TUNERY_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "TUNERY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "TUNERY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Database connections in the pool.
    #[arg(long, env = "TUNERY_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,
    /// Requests per second allowed per caller, for every role (the TOML file sets them per role).
    #[arg(long, env = "TUNERY_RATE_LIMIT_PER_SECOND")]
    pub rate_limit_per_second: Option<f64>,
    /// Burst allowed per caller, for every role.
    #[arg(long, env = "TUNERY_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<f64>,
    /// Behind a reverse proxy: take the client address from the last X-Forwarded-For entry.
    #[arg(long, env = "TUNERY_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// The master key that wraps every blob's data key (created, mode 0600, if missing;
    /// default DATA_DIR/master.key). `TUNERY_MASTER_KEY` may hold the key itself instead.
    #[arg(long, env = "TUNERY_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Where blobs live: `local` (DATA_DIR/blobs, default) or `s3://BUCKET[/PREFIX]` (a build
    /// with the `s3` feature; credentials from TUNERY_S3_ACCESS_KEY_ID and
    /// TUNERY_S3_SECRET_ACCESS_KEY).
    #[arg(long, env = "TUNERY_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// The S3-compatible endpoint, e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000.
    #[arg(long, env = "TUNERY_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "TUNERY_S3_REGION")]
    pub s3_region: Option<String>,
    /// Allow a plain-HTTP S3 endpoint (a server on loopback or a private network).
    #[arg(long, env = "TUNERY_S3_ALLOW_HTTP")]
    pub s3_allow_http: bool,
    /// Earlier master keys still accepted for reading (during a rotation).
    #[arg(long)]
    pub previous_master_key_file: Vec<PathBuf>,
    /// Storage per organization in bytes, unless set on the organization.
    #[arg(long, env = "TUNERY_STORAGE_QUOTA_BYTES")]
    pub storage_quota_bytes: Option<i64>,
    /// The largest file one upload may hold, in bytes.
    #[arg(long, env = "TUNERY_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<i64>,
    /// The tokenizer.json used to count tokens in dataset statistics (scripts/run.sh passes the
    /// built-in SmolLM2 tokenizer); without one, statistics have no token counts.
    #[arg(long, env = "TUNERY_TOKENIZER_FILE")]
    pub tokenizer_file: Option<PathBuf>,
    /// The web UI's built files (web/dist, which scripts/run.sh builds); served at / from disk.
    /// Without it the server answers the API only.
    #[arg(long, env = "TUNERY_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Records longer than this many tokens are reported as truncated in statistics.
    #[arg(long, env = "TUNERY_MAX_TOKENS_PER_RECORD")]
    pub max_tokens_per_record: Option<usize>,
    /// An OpenAI-compatible endpoint (URL prefix, e.g. http://127.0.0.1:8000/v1) that dataset
    /// recipes may call to augment records; repeat for several. None: augmentation is refused.
    #[arg(long = "augment-endpoint", value_name = "URL")]
    pub augment_endpoints: Vec<String>,
    /// Lifetime of access tokens in seconds.
    #[arg(long, env = "TUNERY_ACCESS_TOKEN_TTL_S")]
    pub access_token_ttl_s: Option<i64>,
    /// The Python interpreter of the training runtime's environment (scripts/runtime-env.sh
    /// prints it); without one, training jobs and imports are refused with a hint.
    #[arg(long, env = "TUNERY_RUNTIME_PYTHON")]
    pub runtime_python: Option<PathBuf>,
    /// The folder holding the `tunery_runtime` package (default: ./runtime).
    #[arg(long, env = "TUNERY_RUNTIME_DIR")]
    pub runtime_dir: Option<PathBuf>,
    /// A GGUF file imported at start as the instance-wide built-in model (SmolLM2-135M-Instruct).
    #[arg(long, env = "TUNERY_BUILTIN_MODEL_GGUF")]
    pub builtin_model_gguf: Option<PathBuf>,
    /// Training jobs running at once; more wait in the queue (FIFO).
    #[arg(long, env = "TUNERY_MAX_CONCURRENT_JOBS")]
    pub max_concurrent_jobs: Option<usize>,
    /// Seconds a server's lease on a running job lasts (renewed every third); with several
    /// servers on one PostgreSQL, another takes the job over once it expired.
    #[arg(long, env = "TUNERY_JOB_LEASE_S")]
    pub job_lease_s: Option<u64>,
    /// The runtime's device: auto, cpu, cuda or mps.
    #[arg(long, env = "TUNERY_TRAINING_DEVICE")]
    pub training_device: Option<String>,
    /// The device type estimates assume (cpu, T4, L4, A100-80GB, H100-80GB, …).
    #[arg(long, env = "TUNERY_DEVICE_TYPE")]
    pub device_type: Option<String>,
    /// CPU threads per training process.
    #[arg(long, env = "TUNERY_TRAINING_THREADS")]
    pub training_threads: Option<u32>,
    /// Devices per job: more than one runs data-parallel ranks (DDP) on this machine.
    #[arg(long, env = "TUNERY_DEVICES_PER_JOB")]
    pub devices_per_job: Option<u32>,
    /// Price per device-hour for cost estimates (default: the device type's list price).
    #[arg(long, env = "TUNERY_PRICE_PER_DEVICE_HOUR")]
    pub price_per_device_hour: Option<f64>,
    /// The Hugging Face Hub (or a mirror with its layout) that model imports download from.
    #[arg(long, env = "TUNERY_HUB_URL")]
    pub hub_url: Option<String>,
    /// An OpenAI-compatible URL prefix (e.g. http://vllm:8000/v1) that external deployments may
    /// point at; repeat for several. None: external deployments are refused.
    #[arg(long = "external-endpoint", value_name = "URL")]
    pub external_endpoints: Vec<String>,
    /// Rows (requests × n) the local serving backend decodes together.
    #[arg(long, env = "TUNERY_SERVE_MAX_BATCH_SIZE")]
    pub serve_max_batch_size: Option<u32>,
    /// Milliseconds a lone request waits for others to batch with.
    #[arg(long, env = "TUNERY_SERVE_BATCH_WAIT_MS")]
    pub serve_batch_wait_ms: Option<u32>,
    /// The `vllm` executable of a vLLM installation (its own environment, on a machine with a
    /// GPU): deployments with backend `vllm` run `vllm serve` with multi-LoRA through it.
    #[arg(long, env = "TUNERY_VLLM_COMMAND", value_name = "PATH")]
    pub vllm_command: Option<PathBuf>,
    /// An argument added to every `vllm serve` (after Tunery's own, so it wins), e.g.
    /// `--vllm-arg=--gpu-memory-utilization=0.85`; repeat for several.
    #[arg(long = "vllm-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub vllm_args: Vec<String>,
    /// WordNet 3.0 (a folder with index.*, data.* and *.exc; scripts/fetch-wordnet.sh fetches
    /// it): METEOR then matches WordNet synonyms too, as NLTK's does.
    #[arg(long, env = "TUNERY_WORDNET_DIR", value_name = "DIR")]
    pub wordnet_dir: Option<PathBuf>,
    /// BERTScore's encoder, a transformers folder (scripts/fetch-bertscore-encoder.sh fetches
    /// all-MiniLM-L6-v2); without one, the metric `bertscore` is refused.
    #[arg(long, env = "TUNERY_BERTSCORE_MODEL", value_name = "DIR")]
    pub bertscore_model: Option<PathBuf>,
    /// The encoder layer BERTScore embeds with (0 is the embeddings; default: the last).
    #[arg(long, env = "TUNERY_BERTSCORE_LAYER")]
    pub bertscore_layer: Option<u32>,
    /// A BLEURT checkpoint ported to PyTorch (a transformers sequence-classification folder with
    /// one output); without one, the metric `bleurt` is refused.
    #[arg(long, env = "TUNERY_BLEURT_CHECKPOINT", value_name = "DIR")]
    pub bleurt_checkpoint: Option<PathBuf>,
    /// Redis (redis://host:6379/0) for inference rate-limit counters shared by every replica;
    /// without it they are counted in this process's memory.
    #[arg(long, env = "TUNERY_REDIS_URL")]
    pub redis_url: Option<String>,
    /// The queue's policy: tunery (priority, fair share, backfill, preemption), backfill or fifo.
    #[arg(long, env = "TUNERY_SCHEDULING_POLICY")]
    pub scheduling_policy: Option<String>,
    /// What this server does: `all` (the API and the training scheduler), `api` (the API; jobs
    /// wait for a scheduler server on the same database) or `scheduler` (the scheduler and the
    /// runs; only /healthz, /readyz and /metrics over HTTP).
    #[arg(long, env = "TUNERY_ROLE", value_enum, default_value_t = ServerRole::All)]
    pub role: ServerRole,
}

/// A server's part when several share one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerRole {
    All,
    Api,
    Scheduler,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    log_format: Option<LogFormat>,
    max_body_bytes: Option<usize>,
    db_max_connections: Option<u32>,
    trust_forwarded_for: Option<bool>,
    master_key_file: Option<PathBuf>,
    blob_store: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_allow_http: Option<bool>,
    tokenizer_file: Option<PathBuf>,
    web_dir: Option<PathBuf>,
    max_tokens_per_record: Option<usize>,
    augment_endpoints: Option<Vec<String>>,
    external_endpoints: Option<Vec<String>>,
    serve_max_batch_size: Option<u32>,
    serve_batch_wait_ms: Option<u32>,
    vllm_command: Option<PathBuf>,
    vllm_args: Option<Vec<String>>,
    redis_url: Option<String>,
    wordnet_dir: Option<PathBuf>,
    bertscore_model: Option<PathBuf>,
    bertscore_layer: Option<u32>,
    bleurt_checkpoint: Option<PathBuf>,
    storage_quota_bytes: Option<i64>,
    max_upload_bytes: Option<i64>,
    runtime_python: Option<PathBuf>,
    runtime_dir: Option<PathBuf>,
    builtin_model_gguf: Option<PathBuf>,
    max_concurrent_jobs: Option<usize>,
    job_lease_s: Option<u64>,
    training_device: Option<String>,
    device_type: Option<String>,
    training_threads: Option<u32>,
    devices_per_job: Option<u32>,
    price_per_device_hour: Option<f64>,
    hub_url: Option<String>,
    #[serde(default)]
    auth: AuthFile,
    #[serde(default)]
    scheduling: crate::scheduling_config::SchedulingFile,
    /// Per role (`admin`, `researcher`, `developer`, `viewer`) or `default`.
    #[serde(default)]
    rate_limits: HashMap<String, LimitFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    access_token_ttl_s: Option<i64>,
    refresh_token_ttl_s: Option<i64>,
    refresh_reuse_grace_s: Option<i64>,
    lockout_threshold: Option<i64>,
    lockout_duration_s: Option<i64>,
    login_failures_per_ip: Option<f64>,
    login_failure_window_s: Option<f64>,
    invitation_ttl_s: Option<i64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitFile {
    per_second: f64,
    burst: f64,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub role: ServerRole,
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub log_format: LogFormat,
    pub db_max_connections: u32,
    pub http: http_api::HttpSettings,
    pub services: services::Settings,
    pub master_key_file: PathBuf,
    pub previous_master_key_files: Vec<PathBuf>,
    pub tokenizer_file: Option<PathBuf>,
    pub blob_store: BlobStoreConfig,
    pub builtin_model_gguf: Option<PathBuf>,
    /// Redis for shared inference rate-limit counters (None: in memory).
    pub redis_url: Option<String>,
}

/// Where blobs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStoreConfig {
    /// DATA_DIR/blobs.
    Local,
    S3 {
        bucket: String,
        prefix: String,
        endpoint: String,
        region: String,
        allow_http: bool,
    },
}

fn blob_store_config(
    url: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    allow_http: bool,
) -> anyhow::Result<BlobStoreConfig> {
    let Some(url) = url.filter(|u| u != "local") else { return Ok(BlobStoreConfig::Local) };
    let Some(rest) = url.strip_prefix("s3://") else {
        anyhow::bail!("--blob-store: expected `local` or `s3://BUCKET[/PREFIX]`, got '{url}'");
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        anyhow::bail!("--blob-store: the bucket is missing in '{url}'");
    }
    let endpoint = endpoint.context("--blob-store s3://… needs --s3-endpoint")?;
    Ok(BlobStoreConfig::S3 {
        bucket: bucket.to_string(),
        prefix: prefix.trim_end_matches('/').to_string(),
        endpoint,
        region: region.unwrap_or_else(|| "us-east-1".into()),
        allow_http,
    })
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<ServerConfig> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        // Made absolute once, here: every path derived from it (database, blobs, work and model
        // cache, master key) is absolute too, so a child process started in another directory
        // reads the same files.
        let data_dir = self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from(".tunery"));
        let data_dir = absolute(&data_dir, "--data-dir")?;
        let database_url =
            self.database_url.or(file.database_url).unwrap_or_else(|| format!("sqlite://{}", data_dir.join("tunery.db").display()));
        let mut s = services::Settings::default();
        let a = &file.auth;
        if let Some(v) = self.access_token_ttl_s.or(a.access_token_ttl_s) {
            s.access_token_ttl_s = v;
        }
        if let Some(v) = a.refresh_token_ttl_s {
            s.refresh_token_ttl_s = v;
        }
        if let Some(v) = a.refresh_reuse_grace_s {
            anyhow::ensure!((0..=300).contains(&v), "auth.refresh_reuse_grace_s: {v} seconds; use 0 to 300");
            s.refresh_reuse_grace_s = v;
        }
        if let Some(v) = a.lockout_threshold {
            s.lockout_threshold = v;
        }
        if let Some(v) = a.lockout_duration_s {
            s.lockout_duration_s = v;
        }
        if let Some(v) = a.login_failures_per_ip {
            s.ip_failure_burst = v;
        }
        if let Some(v) = a.login_failure_window_s {
            s.ip_failure_window_s = v;
        }
        if let Some(v) = a.invitation_ttl_s {
            s.invitation_ttl_s = v;
        }
        for (name, l) in &file.rate_limits {
            let limit = BucketLimit { per_second: l.per_second, burst: l.burst };
            if name == "default" {
                for role in Role::ALL {
                    s.rate_limits.insert(role, limit);
                }
            }
        }
        for (name, l) in &file.rate_limits {
            if name == "default" {
                continue;
            }
            let role = Role::parse(name)
                .with_context(|| format!("rate_limits.{name}: not a role (admin, researcher, developer, viewer or default)"))?;
            s.rate_limits.insert(role, BucketLimit { per_second: l.per_second, burst: l.burst });
        }
        if self.rate_limit_per_second.is_some() || self.rate_limit_burst.is_some() {
            for role in Role::ALL {
                let current = s.rate_limit(role);
                let per_second = self.rate_limit_per_second.unwrap_or(current.per_second);
                let burst = self.rate_limit_burst.unwrap_or(current.burst.max(per_second));
                s.rate_limits.insert(role, BucketLimit { per_second, burst });
            }
        }
        let mut http = http_api::HttpSettings::default();
        if let Some(v) = self.max_body_bytes.or(file.max_body_bytes) {
            http.max_body_bytes = v;
        }
        http.trust_forwarded_for = self.trust_forwarded_for || file.trust_forwarded_for.unwrap_or(false);
        if let Some(dir) = self.web_dir.or(file.web_dir) {
            let dir = absolute(&dir, "--web-dir")?;
            http.web_ui = Some(http_api::web_ui::WebUi::open(&dir).map_err(|m| anyhow::anyhow!("--web-dir: {m}"))?);
        }
        if let Some(v) = self.storage_quota_bytes.or(file.storage_quota_bytes) {
            s.storage_quota_bytes = v;
        }
        if let Some(v) = self.max_upload_bytes.or(file.max_upload_bytes) {
            s.max_upload_bytes = v;
        }
        if let Some(v) = self.max_tokens_per_record.or(file.max_tokens_per_record) {
            s.max_tokens_per_record = v;
        }
        s.augment_endpoints =
            if self.augment_endpoints.is_empty() { file.augment_endpoints.unwrap_or_default() } else { self.augment_endpoints };
        s.serving.external_endpoints =
            if self.external_endpoints.is_empty() { file.external_endpoints.unwrap_or_default() } else { self.external_endpoints };
        if let Some(v) = self.serve_max_batch_size.or(file.serve_max_batch_size) {
            anyhow::ensure!((1..=256).contains(&v), "--serve-max-batch-size must be 1 to 256 (got {v})");
            s.serving.max_batch_size = v;
        }
        if let Some(v) = self.serve_batch_wait_ms.or(file.serve_batch_wait_ms) {
            anyhow::ensure!(v <= 1000, "--serve-batch-wait-ms must be 0 to 1000 (got {v})");
            s.serving.batch_wait_ms = v;
        }
        s.serving.vllm_command = self.vllm_command.or(file.vllm_command).map(|p| absolute(&p, "--vllm-command")).transpose()?;
        s.serving.vllm_args = if self.vllm_args.is_empty() { file.vllm_args.unwrap_or_default() } else { self.vllm_args };
        let e = &mut s.evaluation;
        if let Some(dir) = self.wordnet_dir.or(file.wordnet_dir) {
            e.wordnet = Some(metrics::wordnet::load(&dir).map_err(|m| anyhow::anyhow!("--wordnet-dir: {m}"))?);
        }
        if let Some(dir) = self.bertscore_model.or(file.bertscore_model) {
            let dir = absolute(&dir, "--bertscore-model")?;
            e.bertscore_model = Some(services::settings::MetricModel::open(&dir).map_err(|m| anyhow::anyhow!("--bertscore-model: {m}"))?);
        }
        e.bertscore_layer = self.bertscore_layer.or(file.bertscore_layer);
        if let Some(dir) = self.bleurt_checkpoint.or(file.bleurt_checkpoint) {
            let dir = absolute(&dir, "--bleurt-checkpoint")?;
            e.bleurt_checkpoint =
                Some(services::settings::MetricModel::open(&dir).map_err(|m| anyhow::anyhow!("--bleurt-checkpoint: {m}"))?);
        }
        let tokenizer_file = self.tokenizer_file.or(file.tokenizer_file).map(|p| absolute(&p, "--tokenizer-file")).transpose()?;
        let blob_store = blob_store_config(
            self.blob_store.or(file.blob_store),
            self.s3_endpoint.or(file.s3_endpoint),
            self.s3_region.or(file.s3_region),
            self.s3_allow_http || file.s3_allow_http.unwrap_or(false),
        )?;
        let master_key_file = match self.master_key_file.or(file.master_key_file) {
            Some(path) => absolute(&path, "--master-key-file")?,
            None => data_dir.join("master.key"),
        };
        let t = &mut s.training;
        t.work_dir = data_dir.join("work");
        t.model_cache_dir = data_dir.join("model-cache");
        let runtime_dir = absolute(&self.runtime_dir.or(file.runtime_dir).unwrap_or_else(|| PathBuf::from("runtime")), "--runtime-dir")?;
        t.runtime = match self.runtime_python.or(file.runtime_python) {
            Some(python) => Some(executors::RuntimeCommand {
                python: absolute(&python, "--runtime-python")?,
                runtime_dir,
                // The runtime sets its own defaults per mode (OpenMP's wait policy among them).
                env: Vec::new(),
            }),
            None => None,
        };
        if let Some(v) = self.max_concurrent_jobs.or(file.max_concurrent_jobs) {
            anyhow::ensure!(v >= 1, "--max-concurrent-jobs must be at least 1");
            t.max_concurrent_jobs = v;
        }
        if let Some(v) = self.job_lease_s.or(file.job_lease_s) {
            anyhow::ensure!((3..=3600).contains(&v), "--job-lease-s must be between 3 and 3600 (got {v})");
            t.job_lease_s = v;
        }
        t.device = self.training_device.or(file.training_device).unwrap_or_else(|| "auto".into());
        anyhow::ensure!(
            ["auto", "cpu", "cuda", "mps"].contains(&t.device.as_str()),
            "--training-device must be auto, cpu, cuda or mps (got {})",
            t.device
        );
        let device_type = self.device_type.or(file.device_type).unwrap_or_else(|| "cpu".into());
        let known = domain::estimate::device_type(&device_type).with_context(|| {
            format!("--device-type {device_type}: unknown (cpu, T4, L4, A10, A100-40GB, A100-80GB, L40S, H100-80GB, H200, …)")
        })?;
        t.device_type = known.name.to_string();
        t.device_memory_bytes =
            if known.name == "cpu" { machine_memory_bytes().unwrap_or(16 << 30) } else { (known.memory_gib * (1u64 << 30) as f64) as u64 };
        t.cpu_native_bf16 = cpu_has_native_bf16();
        t.threads = self.training_threads.or(file.training_threads);
        if let Some(d) = self.devices_per_job.or(file.devices_per_job) {
            anyhow::ensure!((1..=64).contains(&d), "--devices-per-job must be between 1 and 64 (got {d})");
            t.devices = d;
        }
        t.price_per_device_hour = self.price_per_device_hour.or(file.price_per_device_hour);
        if let Some(p) = t.price_per_device_hour {
            anyhow::ensure!(p >= 0.0 && p.is_finite(), "--price-per-device-hour must be 0 or more (got {p})");
        }
        if let Some(url) = self.hub_url.or(file.hub_url) {
            anyhow::ensure!(url.starts_with("http://") || url.starts_with("https://"), "--hub-url must be an http(s) URL (got {url})");
            t.hub_base_url = url;
        }
        // A token for gated or private Hub repositories: from the environment only, never a flag.
        t.hub_token = std::env::var("TUNERY_HUB_TOKEN").ok().or_else(|| std::env::var("HF_TOKEN").ok()).filter(|t| !t.is_empty());
        crate::scheduling_config::apply(file.scheduling, self.scheduling_policy, &t.device, &mut s.scheduling)?;
        let builtin_model_gguf =
            self.builtin_model_gguf.or(file.builtin_model_gguf).map(|p| absolute(&p, "--builtin-model-gguf")).transpose()?;
        Ok(ServerConfig {
            role: self.role,
            listen: self.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir,
            database_url,
            log_format: self.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            db_max_connections: self.db_max_connections.or(file.db_max_connections).unwrap_or(16),
            http,
            services: s,
            master_key_file,
            previous_master_key_files: self
                .previous_master_key_file
                .iter()
                .map(|p| absolute(p, "--previous-master-key-file"))
                .collect::<anyhow::Result<_>>()?,
            tokenizer_file,
            blob_store,
            builtin_model_gguf,
            redis_url: self.redis_url.or(file.redis_url),
        })
    }
}

/// `path` made absolute against the current directory (without resolving links), or an error
/// naming the flag.
fn absolute(path: &std::path::Path, flag: &str) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{flag} {}: cannot make the path absolute", path.display()))
}

/// Whether this CPU multiplies bfloat16 in hardware, as the runtime asks it (`cpu_has_native_bf16`
/// in `runtime/tunery_runtime/model.py`): AVX512-BF16, which CPUs with AMX also have.
fn cpu_has_native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The machine's memory from /proc/meminfo (Linux), for the CPU fit check.
fn machine_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
